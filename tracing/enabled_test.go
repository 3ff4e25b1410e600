package tracing_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imcallback/imcallback/imtest"
	"github.com/imcallback/imcallback/tracing"
)

// TestEnabledProtocolPrecedence: the traces' own protocol variable wins
// over the general one, as the OTLP exporter reads them: a general
// OTEL_EXPORTER_OTLP_PROTOCOL=grpc meant for other signals does not stop a
// service whose traces are set to http/protobuf, and a traces protocol of
// grpc is refused whatever the general one says.
func TestEnabledProtocolPrecedence(t *testing.T) {
	for _, tc := range []struct {
		name          string
		general, own  string
		on            bool
		errorContains string
	}{
		{"neither", "", "", true, ""},
		{"general http", "http/protobuf", "", true, ""},
		{"general grpc", "grpc", "", false, "OTEL_EXPORTER_OTLP_PROTOCOL=grpc"},
		{"own http over general grpc", "grpc", "http/protobuf", true, ""},
		{"own grpc over general http", "http/protobuf", "grpc", false, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=grpc"},
		{"own http/json", "", "http/json", true, ""},
		{"general HTTP/JSON", "HTTP/JSON", "", true, ""},
		{"own http/json over general grpc", "grpc", "http/json", true, ""},
		{"general http/json under own grpc", "http/json", "grpc", false, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=grpc"},
		{"unknown", "", "http", false, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=http"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{
				"OTEL_EXPORTER_OTLP_ENDPOINT":        "http://collector:4318",
				"OTEL_EXPORTER_OTLP_PROTOCOL":        tc.general,
				"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": tc.own,
			}
			on, err := tracing.Enabled(func(k string) string { return env[k] })
			if tc.errorContains == "" {
				if err != nil || !on {
					t.Fatalf("on %v, err %v; want on without an error", on, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.errorContains) || on {
				t.Fatalf("on %v, err %v; want off with an error naming %q", on, err, tc.errorContains)
			}
		})
	}
}

// TestEnabledRefusesSettingsTheExporterWouldIgnore: the OTLP exporter
// skips a setting it cannot read, keeps its default and prints the value
// in a plain line on standard error (a header's credentials included), so
// a mistyped endpoint, timeout, header, compression, insecure flag or
// certificate would start a service that exports nowhere, or without its
// credentials, with no error. Each is refused, naming the variable and
// never quoting the value.
func TestEnabledRefusesSettingsTheExporterWouldIgnore(t *testing.T) {
	certFile, keyFile, _ := imtest.SelfSigned(t)
	notPEM := filepath.Join(t.TempDir(), "not.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	const secret = "sk-do-not-print"
	for _, tc := range []struct {
		name string
		env  map[string]string
		// fail is the variable the error names; "" when the settings are good.
		fail string
	}{
		{"good settings", map[string]string{
			"OTEL_EXPORTER_OTLP_ENDPOINT":           "https://collector:4318/base",
			"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT":    "https://collector:4318/v1/traces",
			"OTEL_EXPORTER_OTLP_TIMEOUT":            "10000",
			"OTEL_EXPORTER_OTLP_TRACES_TIMEOUT":     "0",
			"OTEL_EXPORTER_OTLP_HEADERS":            "Authorization=Bearer%20" + secret + ", x-tenant = a%0A ",
			"OTEL_EXPORTER_OTLP_COMPRESSION":        "gzip",
			"OTEL_EXPORTER_OTLP_TRACES_COMPRESSION": "none",
			"OTEL_EXPORTER_OTLP_INSECURE":           "False",
			"OTEL_EXPORTER_OTLP_CERTIFICATE":        certFile,
			"OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE": certFile,
			"OTEL_EXPORTER_OTLP_CLIENT_KEY":         keyFile,
		}, ""},
		{"endpoint without a scheme", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"}, "OTEL_EXPORTER_OTLP_ENDPOINT"},
		{"endpoint of another scheme", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "grpc://collector:4317"}, "OTEL_EXPORTER_OTLP_ENDPOINT"},
		{"endpoint without a host", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http:///v1/traces"}, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"},
		{"endpoint that is no URL", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:43 18"}, "OTEL_EXPORTER_OTLP_ENDPOINT"},
		{"endpoint with user info", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://user:" + secret + "@collector:4318"}, "OTEL_EXPORTER_OTLP_ENDPOINT"},
		{"endpoint with a query", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://collector/v1/traces?api-key=" + secret}, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"},
		{"timeout with a unit", map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_TIMEOUT": "10s"}, "OTEL_EXPORTER_OTLP_TIMEOUT"},
		{"negative timeout", map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "-1"}, "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT"},
		{"header with a colon", map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_HEADERS": "Authorization: Bearer " + secret}, "OTEL_EXPORTER_OTLP_HEADERS"},
		{"header with a bad key", map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "x-a=1,Auth orization=" + secret}, "OTEL_EXPORTER_OTLP_TRACES_HEADERS"},
		{"header with a trailing comma", map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_HEADERS": "Authorization=Bearer%20" + secret + ","}, "OTEL_EXPORTER_OTLP_HEADERS"},
		{"header with a trailing comma and a blank", map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "Authorization=" + secret + ", "}, "OTEL_EXPORTER_OTLP_TRACES_HEADERS"},
		{"header with a doubled comma", map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_HEADERS": "x-a=1,,Authorization=" + secret}, "OTEL_EXPORTER_OTLP_HEADERS"},
		{"header with a leading comma", map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_HEADERS": ",Authorization=" + secret}, "OTEL_EXPORTER_OTLP_HEADERS"},
		{"header with a bad escape", map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_HEADERS": "Authorization=Bearer%zz" + secret}, "OTEL_EXPORTER_OTLP_HEADERS"},
		{"header value with a newline", map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_HEADERS": "Authorization=Bearer%0A" + secret + ", x-b=%0A1%0A"}, "OTEL_EXPORTER_OTLP_HEADERS"},
		{"header value with a control byte", map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_TRACES_HEADERS": "x-a=1,Authorization=" + secret + "%00"}, "OTEL_EXPORTER_OTLP_TRACES_HEADERS"},
		{"unknown compression", map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_COMPRESSION": "GZIP"}, "OTEL_EXPORTER_OTLP_COMPRESSION"},
		{"insecure not a bool", map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_TRACES_INSECURE": "yes"}, "OTEL_EXPORTER_OTLP_TRACES_INSECURE"},
		{"missing certificate", map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_CERTIFICATE": notPEM + ".missing"}, "OTEL_EXPORTER_OTLP_CERTIFICATE"},
		{"certificate that is no PEM", map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE": notPEM}, "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE"},
		{"client certificate without its key", map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE": certFile}, "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE"},
		{"client key that is no key", map[string]string{"OTEL_TRACES_EXPORTER": "otlp",
			"OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE": certFile, "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY": notPEM}, "OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := enabled(t, tc.env, tc.fail)
			if err == nil {
				return
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("the error quotes the secret: %v", err)
			}
		})
	}
}

// TestEnabledRefusesResourceAttributesItWouldDrop: the SDK drops an
// OTEL_RESOURCE_ATTRIBUTES entry without '=' or without a key from every
// span's resource, and keeps a value it cannot decode as written, without
// an error; each is refused, naming the entry.
func TestEnabledRefusesResourceAttributesItWouldDrop(t *testing.T) {
	for _, tc := range []struct {
		attrs string
		fail  string // "" when good
	}{
		{"deployment.environment.name=prod,service.namespace=im%20callbacks", ""},
		{"deployment.environment.name=prod,", ""},
		{"deployment.environment.name=prod,service.namespace", "entry #2 has no '='"},
		{"deployment.environment.name:prod", "entry #1 has no '='"},
		{"service.namespace=im%zzcallbacks", "entry #1 (service.namespace)"},
		{"deployment.environment.name=prod, =im", "entry #2 has no key"},
		{"=prod", "entry #1 has no key"},
	} {
		env := map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_RESOURCE_ATTRIBUTES": tc.attrs}
		on, err := tracing.Enabled(func(k string) string { return env[k] })
		if tc.fail == "" {
			if err != nil || !on {
				t.Errorf("%q: on %v, err %v; want on without an error", tc.attrs, on, err)
			}
			continue
		}
		if err == nil || on || !strings.Contains(err.Error(), "OTEL_RESOURCE_ATTRIBUTES") || !strings.Contains(err.Error(), tc.fail) {
			t.Errorf("%q: on %v, err %v; want off with an error naming OTEL_RESOURCE_ATTRIBUTES and %q", tc.attrs, on, err, tc.fail)
		}
	}
}

// TestEnabledRefusesSamplerSettingsTheSDKWouldReplace: the SDK replaces an
// OTEL_TRACES_SAMPLER it does not know with its default (parent-based,
// always on), and a ratio sampler whose OTEL_TRACES_SAMPLER_ARG is no
// number from 0 to 1 with a ratio of 1, reporting it only as a warning: a
// service meant to keep 1 % of its traces would export every one. So
// would one that sets the ratio without a sampler, which the SDK ignores
// for its default. Each is refused, naming the variable.
func TestEnabledRefusesSamplerSettingsTheSDKWouldReplace(t *testing.T) {
	for _, tc := range []struct {
		name         string
		sampler, arg string
		// fail is the variable the error names; "" when the settings are good.
		fail string
	}{
		{"no sampler", "", "", ""},
		{"always on", "always_on", "", ""},
		{"parent-based always off, any case", " ParentBased_Always_Off ", "", ""},
		{"ratio", "traceidratio", "0.01", ""},
		{"parent-based ratio", "parentbased_traceidratio", " 0.5 ", ""},
		{"ratio without an argument", "traceidratio", "", ""},
		{"argument of a sampler that takes none", "always_off", "whatever", ""},
		{"blank argument without a sampler", "", " ", ""},
		{"ratio without a sampler", "", "0.01", "OTEL_TRACES_SAMPLER_ARG"},
		{"unknown sampler", "ratio", "0.01", "OTEL_TRACES_SAMPLER"},
		{"sampler the SDK lacks", "jaeger_remote", "", "OTEL_TRACES_SAMPLER"},
		{"ratio as a percentage", "traceidratio", "1%", "OTEL_TRACES_SAMPLER_ARG"},
		{"ratio with a decimal comma", "parentbased_traceidratio", "0,01", "OTEL_TRACES_SAMPLER_ARG"},
		{"ratio above 1", "traceidratio", "5", "OTEL_TRACES_SAMPLER_ARG"},
		{"negative ratio", "parentbased_traceidratio", "-0.1", "OTEL_TRACES_SAMPLER_ARG"},
		{"ratio that is no number", "traceidratio", "NaN", "OTEL_TRACES_SAMPLER_ARG"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318",
				"OTEL_TRACES_SAMPLER": tc.sampler, "OTEL_TRACES_SAMPLER_ARG": tc.arg}
			enabled(t, env, naming(tc.fail))
		})
	}
}

// TestEnabledTakesABlankEndpointAsUnset: the OTLP exporter trims its
// variables and takes one of blanks alone as unset, so a blank endpoint
// (a template that left a space) configures no exporter and leaves tracing
// off, instead of turning it on to export to the exporter's default,
// localhost:4318, where nothing listens.
func TestEnabledTakesABlankEndpointAsUnset(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		on   bool
	}{
		{"blank endpoint", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": " "}, false},
		{"blank traces endpoint", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "\t"}, false},
		{"blank endpoint beside a set one", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": " ",
			"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, true},
		{"endpoint with spaces around", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": " http://collector:4318 "}, true},
		{"blank endpoint with the exporter named", map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_ENDPOINT": " "}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			on, err := tracing.Enabled(func(k string) string { return tc.env[k] })
			if err != nil || on != tc.on {
				t.Fatalf("on %v, err %v; want on %v without an error", on, err, tc.on)
			}
		})
	}
}

// TestEnabledRefusesBatchAndLimitSettingsTheSDKWouldMisuse: the SDK reads
// the OTEL_BSP_* settings and the span limits with strconv.Atoi and keeps
// its default for a value it cannot read, silently; it checks no bound, so
// a negative queue or batch size panicked in the start hook, and a schedule
// delay of zero exported on a timer firing at once, forever, keeping a core
// busy. Each is refused, naming the variable; a negative span limit (no
// limit) and blanks alone (unset) are not.
func TestEnabledRefusesBatchAndLimitSettingsTheSDKWouldMisuse(t *testing.T) {
	for _, tc := range []struct {
		name, key, value string
		bad              bool
	}{
		{"schedule delay", "OTEL_BSP_SCHEDULE_DELAY", "5000", false},
		{"blank schedule delay", "OTEL_BSP_SCHEDULE_DELAY", "  ", false},
		{"schedule delay of zero", "OTEL_BSP_SCHEDULE_DELAY", "0", true},
		{"schedule delay with a unit", "OTEL_BSP_SCHEDULE_DELAY", "5s", true},
		{"export timeout with spaces", "OTEL_BSP_EXPORT_TIMEOUT", " 30000", true},
		{"negative export timeout", "OTEL_BSP_EXPORT_TIMEOUT", "-1", true},
		{"queue size", "OTEL_BSP_MAX_QUEUE_SIZE", "4096", false},
		{"negative queue size", "OTEL_BSP_MAX_QUEUE_SIZE", "-1", true},
		{"queue size in thousands", "OTEL_BSP_MAX_QUEUE_SIZE", "2k", true},
		{"batch size of zero", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "0", true},
		{"negative batch size", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "-512", true},
		{"attribute count limit", "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "64", false},
		{"no value length limit", "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "-1", false},
		{"event count limit that is no number", "OTEL_SPAN_EVENT_COUNT_LIMIT", "many", true},
		{"link attribute limit with a decimal", "OTEL_LINK_ATTRIBUTE_COUNT_LIMIT", "1.5", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", tc.key: tc.value}
			want := ""
			if tc.bad {
				want = tc.key
			}
			enabled(t, env, naming(want))
		})
	}
}

// TestEnabledProtocolAloneIsNoExporter: a protocol variable names how an
// exporter would talk, not that there is one. Without an endpoint or
// OTEL_TRACES_EXPORTER=otlp tracing is off, as the README says, so an
// OTEL_EXPORTER_OTLP_PROTOCOL=grpc set for every process of a host (meant
// for other services) does not stop the start; with an exporter it still
// does.
func TestEnabledProtocolAloneIsNoExporter(t *testing.T) {
	for _, tc := range []struct {
		name          string
		env           map[string]string
		on            bool
		errorContains string
	}{
		{"general grpc alone", map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, false, ""},
		{"traces grpc alone", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc"}, false, ""},
		{"blank endpoint", map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_ENDPOINT": "  "}, false, ""},
		{"grpc with otlp exporter", map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_TRACES_EXPORTER": "otlp"},
			false, "OTEL_EXPORTER_OTLP_PROTOCOL=grpc"},
		{"grpc with traces endpoint", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc",
			"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, false, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=grpc"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			on, err := tracing.Enabled(func(k string) string { return tc.env[k] })
			if tc.errorContains == "" {
				if err != nil || on != tc.on {
					t.Fatalf("on %v, err %v; want on %v without an error", on, err, tc.on)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.errorContains) || on {
				t.Fatalf("on %v, err %v; want off with an error naming %q", on, err, tc.errorContains)
			}
		})
	}
}

// TestEnabledRefusesInsecureContradictingTheEndpoint: the OTLP/HTTP
// exporter applies OTEL_EXPORTER_OTLP_INSECURE (or _TRACES_INSECURE) after
// the endpoint and lets it override the endpoint's scheme, so an https://
// endpoint with INSECURE=true (a host-wide setting meant for gRPC
// exporters, say) sent the spans and the headers, credentials included, in
// clear text over plain HTTP; an http:// endpoint with INSECURE=false
// spoke TLS to a plain HTTP port, failing every export. Either is refused,
// naming both variables and quoting no value; a flag that agrees with the
// endpoint in effect, or one without an endpoint, is not.
func TestEnabledRefusesInsecureContradictingTheEndpoint(t *testing.T) {
	const secret = "sk-do-not-print"
	for _, tc := range []struct {
		name string
		env  map[string]string
		// fail are the variables the error names; none when the settings are good.
		fail []string
	}{
		{"https with insecure false", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://collector:4318", "OTEL_EXPORTER_OTLP_INSECURE": "false"}, nil},
		{"http with insecure true", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_EXPORTER_OTLP_INSECURE": "TRUE"}, nil},
		{"insecure without an endpoint", map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_INSECURE": "true"}, nil},
		{"traces endpoint decides over the general one", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://collector:4318",
			"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces", "OTEL_EXPORTER_OTLP_TRACES_INSECURE": "true"}, nil},
		{"traces flag decides over the general one", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://collector:4318",
			"OTEL_EXPORTER_OTLP_INSECURE": "true", "OTEL_EXPORTER_OTLP_TRACES_INSECURE": "false"}, nil},
		{"https with insecure true", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://collector:4318",
			"OTEL_EXPORTER_OTLP_HEADERS": "Authorization=Bearer%20" + secret, "OTEL_EXPORTER_OTLP_INSECURE": "true"},
			[]string{"OTEL_EXPORTER_OTLP_INSECURE", "OTEL_EXPORTER_OTLP_ENDPOINT", "plain HTTP"}},
		{"https traces endpoint with insecure true", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318",
			"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://collector:4318/v1/traces", "OTEL_EXPORTER_OTLP_INSECURE": " True "},
			[]string{"OTEL_EXPORTER_OTLP_INSECURE", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "plain HTTP"}},
		{"https with traces insecure true", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://collector:4318",
			"OTEL_EXPORTER_OTLP_INSECURE": "false", "OTEL_EXPORTER_OTLP_TRACES_INSECURE": "true"},
			[]string{"OTEL_EXPORTER_OTLP_TRACES_INSECURE", "OTEL_EXPORTER_OTLP_ENDPOINT", "plain HTTP"}},
		{"http with insecure false", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces",
			"OTEL_EXPORTER_OTLP_TRACES_INSECURE": "false"},
			[]string{"OTEL_EXPORTER_OTLP_TRACES_INSECURE", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "TLS"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			on, err := tracing.Enabled(func(k string) string { return tc.env[k] })
			if len(tc.fail) == 0 {
				if err != nil || !on {
					t.Fatalf("on %v, err %v; want on without an error", on, err)
				}
				return
			}
			if err == nil || on {
				t.Fatalf("on %v, err %v; want off with an error naming %v", on, err, tc.fail)
			}
			for _, s := range tc.fail {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("err %v; want it to name %s", err, s)
				}
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "collector") {
				t.Errorf("the error quotes a value: %v", err)
			}
		})
	}
}

// TestEnabledReadsExporterAndProtocolInAnyCase: the OpenTelemetry
// specification has SDKs read enumerated values such as
// OTEL_TRACES_EXPORTER and the OTLP protocol in any case, so a host-wide
// OTEL_TRACES_EXPORTER=NONE set for every process (to turn tracing off)
// stopped the service's start, and an Otlp or HTTP/PROTOBUF was refused as
// another exporter or protocol.
func TestEnabledReadsExporterAndProtocolInAnyCase(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		on   bool
	}{
		{"NONE turns it off", map[string]string{"OTEL_TRACES_EXPORTER": "NONE", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, false},
		{"None turns it off", map[string]string{"OTEL_TRACES_EXPORTER": "None"}, false},
		{"OTLP alone turns it on", map[string]string{"OTEL_TRACES_EXPORTER": "OTLP"}, true},
		{"Otlp with an endpoint", map[string]string{"OTEL_TRACES_EXPORTER": "Otlp", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, true},
		{"HTTP/PROTOBUF", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_EXPORTER_OTLP_PROTOCOL": "HTTP/PROTOBUF"}, true},
		{"traces Http/Protobuf", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318",
			"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "Http/Protobuf", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			on, err := tracing.Enabled(func(k string) string { return tc.env[k] })
			if err != nil || on != tc.on {
				t.Fatalf("on %v, err %v; want on %v without an error", on, err, tc.on)
			}
		})
	}
	// Another exporter is still refused, named as written.
	env := map[string]string{"OTEL_TRACES_EXPORTER": "Zipkin"}
	if on, err := tracing.Enabled(func(k string) string { return env[k] }); on || err == nil || !strings.Contains(err.Error(), "OTEL_TRACES_EXPORTER=Zipkin") {
		t.Errorf("Zipkin: on %v, err %v; want off with an error naming it", on, err)
	}
}

// TestEnabledRefusesAnEndpointPathNoCollectorServes: the exporter posts
// the spans to OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as written, to / when it
// has no path, and appends /v1/traces to the path of
// OTEL_EXPORTER_OTLP_ENDPOINT. A traces endpoint written as the base
// (http://collector:4318), or a general one written as the traces URL
// (…/v1/traces, posted to …/v1/traces/v1/traces), gets a 404 from a
// collector for every batch: no span is ever exported. Both are refused,
// naming the variable; an explicit root path, a base path of the general
// endpoint, and a general endpoint the traces one overrides are not.
func TestEnabledRefusesAnEndpointPathNoCollectorServes(t *testing.T) {
	const (
		general = "OTEL_EXPORTER_OTLP_ENDPOINT"
		traces  = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
	)
	for _, tc := range []struct {
		name string
		env  map[string]string
		fail string // the variable the error names; "" when good
	}{
		{"traces endpoint without a path", map[string]string{traces: "http://tracegw:4318"}, traces},
		{"traces endpoint without a path, spaces around", map[string]string{traces: " https://tracegw:4318 "}, traces},
		{"traces endpoint with the root path", map[string]string{traces: "http://tracegw:4318/"}, ""},
		{"traces endpoint with its path", map[string]string{traces: "http://tracegw:4318/v1/traces"}, ""},
		{"traces endpoint of a vendor", map[string]string{traces: "https://otlp.example.com/otlp/v1/traces"}, ""},
		{"general endpoint with the traces path", map[string]string{general: "http://tracegw:4318/v1/traces"}, general},
		{"general endpoint with the traces path and a slash", map[string]string{general: "https://tracegw/otlp/v1/traces/"}, general},
		{"general endpoint with a base path", map[string]string{general: "https://tracegw/otlp"}, ""},
		{"general endpoint without a path", map[string]string{general: "http://tracegw:4318"}, ""},
		{"general endpoint overridden", map[string]string{general: "http://tracegw:4318/v1/traces",
			traces: "http://tracegw:4318/v1/traces"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := enabled(t, tc.env, naming(tc.fail))
			if err == nil {
				return
			}
			if strings.Contains(err.Error(), "tracegw") {
				t.Errorf("the error quotes the endpoint: %v", err)
			}
		})
	}
}

// enabled runs tracing.Enabled on env and checks its answer: tracing on
// without an error when want is empty, else off with an error whose text
// holds want. It returns the error, for a case's further checks.
func enabled(t *testing.T, env map[string]string, want string) error {
	t.Helper()
	on, err := tracing.Enabled(func(k string) string { return env[k] })
	if want == "" {
		if err != nil || !on {
			t.Fatalf("on %v, err %v; want on without an error", on, err)
		}
		return nil
	}
	if err == nil || on || !strings.Contains(err.Error(), want) {
		t.Fatalf("on %v, err %v; want off with an error naming %s", on, err, strings.TrimSpace(want))
	}
	return err
}

// naming is the text an error names the variable key by: the name and a
// space, so that a name is not found in a longer one; empty for no error.
func naming(key string) string {
	if key == "" {
		return ""
	}
	return key + " "
}
