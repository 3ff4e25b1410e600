package tracing

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"

	"github.com/imcallback/imcallback/config"
)

// exporterScopes are the prefixes of the variables the OTLP/HTTP exporter
// reads: the general ones, then the traces' own, which override them.
var exporterScopes = []string{"OTEL_EXPORTER_OTLP_", "OTEL_EXPORTER_OTLP_TRACES_"}

// checkExporterEnv checks the OTEL_EXPORTER_OTLP_* settings the OTLP/HTTP
// exporter reads (besides the protocol, which Enabled checks). The
// exporter skips a value it cannot read and keeps its default, printing a
// plain line on standard error that quotes the value, a header's
// credentials included: a mistyped endpoint, timeout, header, compression,
// insecure flag or certificate would be accepted and ignored. Each problem
// names its variable; none quotes an endpoint, header or timeout value,
// which may hold a credential (a certificate's problem names its file).
// An insecure flag contradicting the endpoint's scheme is one too
// (insecureProblem), and so are TLS settings beside plain HTTP, which the
// exporter refuses as it starts (tlsOnPlainHTTPProblem), and an endpoint
// whose path no collector serves (endpointPathProblem). A general
// endpoint the traces one overrides is not used: it is refused only when
// it is no URL at all, which the exporter reports as it reads it.
func checkExporterEnv(getenv func(string) string) error {
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("tracing: %s %s", name, fmt.Sprintf(format, args...)))
	}
	var loaded []string // the TLS settings whose files the exporter loads
	for _, scope := range exporterScopes {
		get := func(key string) (string, string) {
			return scope + key, strings.TrimSpace(getenv(scope + key))
		}
		// The traces endpoint, when set, overrides the general one's
		// scheme, host and path: the general one is not used for the
		// spans, and may be another signal's (a gRPC exporter's target,
		// collector:4317, which has no scheme).
		// The exporter still parses it, and reports one that is no URL
		// (10.0.0.1:4317) on a plain line on standard error at every
		// start, quoting it.
		overridden := scope == exporterScopes[0] && strings.TrimSpace(getenv(exporterScopes[1]+"ENDPOINT")) != ""
		if name, v := get("ENDPOINT"); v != "" {
			if _, err := url.Parse(v); overridden && err != nil {
				bad(name, "is not a URL, which the exporter reports on a plain line on standard error though %sENDPOINT replaces it: "+
					"write it with its scheme, e.g. http://collector:4317, or leave it unset", exporterScopes[1])
			} else if msg := endpointProblem(v); msg != "" && !overridden {
				bad(name, "%s", msg)
			}
		}
		if name, v := get("TIMEOUT"); v != "" {
			if ms, err := strconv.Atoi(v); err != nil || ms < 0 {
				bad(name, "must be a whole number of milliseconds, e.g. 10000 (not 10s)")
			}
		}
		if name, v := get("HEADERS"); v != "" {
			if msg := headersProblem(v); msg != "" {
				bad(name, "%s", msg)
			}
		}
		if name, v := get("COMPRESSION"); v != "" && v != "gzip" && v != "none" {
			bad(name, "must be gzip or none")
		}
		if name, v := get("INSECURE"); v != "" && !strings.EqualFold(v, "true") && !strings.EqualFold(v, "false") {
			bad(name, "must be true or false")
		}
		if name, v := get("CERTIFICATE"); v != "" {
			if config.PEMText(v) {
				bad(name, "%s", config.PEMTextProblem)
			} else if pem, err := os.ReadFile(v); err != nil {
				bad(name, "cannot be read: %v", err)
			} else if !x509.NewCertPool().AppendCertsFromPEM(pem) {
				bad(name, "(%s) holds no PEM certificate", v)
			} else {
				loaded = append(loaded, name)
			}
		}
		certName, cert := get("CLIENT_CERTIFICATE")
		keyName, key := get("CLIENT_KEY")
		for _, f := range [][2]string{{certName, cert}, {keyName, key}} {
			if config.PEMText(f[1]) {
				bad(f[0], "%s", config.PEMTextProblem)
			}
		}
		switch {
		case cert == "" && key == "":
		case config.PEMText(cert) || config.PEMText(key): // said above
		case cert == "" || key == "":
			bad(certName, "and %s go together: the exporter ignores one without the other", keyName)
		default:
			if err := clientPairProblem(cert, key); err != nil {
				bad(certName, "and %s: %v", keyName, err)
			} else {
				loaded = append(loaded, certName)
			}
		}
	}
	if err := insecureProblem(getenv); err != nil {
		errs = append(errs, err)
	}
	if err := tlsOnPlainHTTPProblem(getenv, loaded); err != nil {
		errs = append(errs, err)
	}
	if err := endpointPathProblem(getenv); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// tracesPath is the path the exporter appends to the general endpoint's.
const tracesPath = "/v1/traces"

// endpointPathProblem reports an endpoint in effect whose path no OTLP
// receiver serves, for which every export would get a 404: the exporter
// posts the spans to OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as written, to /
// when it has no path (a base URL such as http://collector:4318), and to
// the path of OTEL_EXPORTER_OTLP_ENDPOINT with /v1/traces appended (so a
// general endpoint written as the traces URL is posted to
// .../v1/traces/v1/traces). An explicit / is taken as meant. The general
// endpoint is not used when the traces one is set. The error names the
// variable, quoting no value.
func endpointPathProblem(getenv func(string) string) error {
	if v := strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")); v != "" {
		if u, err := url.Parse(v); err == nil && endpointProblem(v) == "" && u.Path == "" {
			return fmt.Errorf("tracing: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT has no path: the exporter posts the spans to it as "+
				"written, to /, where a collector answers 404; write the whole URL, e.g. http://collector:4318%s "+
				"(or set OTEL_EXPORTER_OTLP_ENDPOINT to the base URL instead)", tracesPath)
		}
		return nil
	}
	if v := strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_ENDPOINT")); v != "" {
		if u, err := url.Parse(v); err == nil && endpointProblem(v) == "" &&
			strings.HasSuffix(strings.TrimRight(u.Path, "/"), tracesPath) {
			return fmt.Errorf("tracing: OTEL_EXPORTER_OTLP_ENDPOINT ends with %s, which the exporter appends to it: write the "+
				"base URL, e.g. http://collector:4318 (or set OTEL_EXPORTER_OTLP_TRACES_ENDPOINT to the whole URL instead)", tracesPath)
		}
	}
	return nil
}

// insecureProblem reports an OTEL_EXPORTER_OTLP_INSECURE (or _TRACES_INSECURE,
// which wins) that contradicts the scheme of the endpoint in effect
// (_TRACES_ENDPOINT, else the general one). The OTLP/HTTP exporter applies
// the flag after the endpoint and lets it override the scheme: with an
// https:// endpoint, INSECURE=true (a host-wide setting meant for gRPC
// exporters, say) would send the spans and the headers, credentials
// included, in clear text; with an http:// one, INSECURE=false would speak
// TLS to a plain HTTP port and fail every export. Without an endpoint, or
// with a flag that is no boolean (reported on its own), there is nothing
// to contradict. The error names both variables, quoting neither value.
func insecureProblem(getenv func(string) string) error {
	endpointName, endpoint := "", ""
	for _, scope := range exporterScopes { // the traces' own scope comes last and wins
		if v := strings.TrimSpace(getenv(scope + "ENDPOINT")); v != "" {
			endpointName, endpoint = scope+"ENDPOINT", v
		}
	}
	insecureName, insecure := "", ""
	for _, scope := range exporterScopes {
		if v := strings.TrimSpace(getenv(scope + "INSECURE")); v != "" {
			insecureName, insecure = scope+"INSECURE", v
		}
	}
	if endpoint == "" || insecure == "" || endpointProblem(endpoint) != "" {
		return nil
	}
	u, _ := url.Parse(endpoint) // endpointProblem parsed it
	https := strings.EqualFold(u.Scheme, "https")
	switch {
	case https && strings.EqualFold(insecure, "true"):
		return fmt.Errorf("tracing: %s=true contradicts the https:// of %s: the exporter would send the spans and the headers "+
			"(credentials included) over plain HTTP; for OTLP/HTTP the endpoint's scheme says whether to use TLS, so unset %s",
			insecureName, endpointName, insecureName)
	case !https && strings.EqualFold(insecure, "false"):
		return fmt.Errorf("tracing: %s=false contradicts the http:// of %s: the exporter would speak TLS to it and every export "+
			"would fail; for OTLP/HTTP the endpoint's scheme says whether to use TLS, so unset %s (or write https://)",
			insecureName, endpointName, insecureName)
	}
	return nil
}

// tlsOnPlainHTTPProblem reports the TLS settings in tlsNames, those
// whose files the exporter loads (a _CERTIFICATE, a _CLIENT_CERTIFICATE
// with its _CLIENT_KEY; checkExporterEnv read them), beside a plain HTTP
// connection: the http:// of the endpoint in effect, or an INSECURE flag
// of true (which the exporter applies after the endpoint). The OTLP/HTTP
// exporter refuses the two together as it starts ("insecure HTTP
// endpoint cannot use TLS client configuration"), so serve stopped with
// an error naming no variable, while config check called the settings
// valid. A file the exporter cannot load is reported on its own and left
// out of tlsNames, as the exporter leaves it out; so is an endpoint it
// cannot use. The error names the variables, quoting no value.
func tlsOnPlainHTTPProblem(getenv func(string) string, tlsNames []string) error {
	if len(tlsNames) == 0 {
		return nil
	}
	// Whether the exporter speaks plain HTTP, read in its order: each
	// endpoint's scheme, then each insecure flag, the traces' own after
	// the general one, each one set deciding over those before it.
	plain, why, fix := false, "", ""
	for _, scope := range exporterScopes {
		name := scope + "ENDPOINT"
		if v := strings.TrimSpace(getenv(name)); v != "" && endpointProblem(v) == "" {
			u, _ := url.Parse(v) // endpointProblem parsed it
			plain = strings.EqualFold(u.Scheme, "http")
			why, fix = "the endpoint in effect is the http:// of "+name, "write https:// in "+name
		}
	}
	for _, scope := range exporterScopes {
		name := scope + "INSECURE"
		if v := strings.TrimSpace(getenv(name)); v != "" {
			plain = strings.EqualFold(v, "true")
			why, fix = name+"=true asks for plain HTTP", "unset "+name
		}
	}
	if !plain {
		return nil
	}
	verb := "is"
	if len(tlsNames) > 1 {
		verb = "are"
	}
	return fmt.Errorf("tracing: %s %s set, but %s: the exporter refuses TLS settings for plain HTTP, so the start would fail; "+
		"%s, or leave the certificate settings out", strings.Join(tlsNames, " and "), verb, why, fix)
}

// endpointProblem says what keeps v from being an endpoint the exporter
// sends to as written; "" when nothing does. The exporter takes the
// scheme, host and path of the URL and drops the rest.
func endpointProblem(v string) string {
	u, err := url.Parse(v)
	switch {
	case err != nil:
		return "is not a URL; write it as http://collector:4318"
	case !strings.EqualFold(u.Scheme, "http") && !strings.EqualFold(u.Scheme, "https"):
		return "must start with http:// or https://, e.g. http://collector:4318"
	case u.Host == "":
		return "has no host, e.g. http://collector:4318"
	case u.User != nil:
		return "has user info, which the exporter does not send: give the credentials in OTEL_EXPORTER_OTLP_HEADERS (Authorization=...)"
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return "has a query or a fragment, which the exporter does not send"
	}
	return ""
}

// headersProblem says what is wrong with a headers setting (comma-separated
// key=value, each value percent-encoded); "" when nothing is. It names an
// entry by its position and its key, never by its value. A blank entry
// (a doubled, leading or trailing comma) is one too: the exporter skips it,
// but reports it as it starts on OpenTelemetry's global logger, a plain
// line on standard error beside the service's JSON, which `config check`
// did not see; and it is what a template leaves of an unset variable
// (${AUTH},${TENANT}), a header missing. That logger is the process's,
// which a program may have set, and cannot be read back, so the service
// does not take it over for the exporter's start.
func headersProblem(v string) string {
	for i, entry := range strings.Split(v, ",") {
		if strings.TrimSpace(entry) == "" {
			return fmt.Sprintf("entry #%d is empty (a doubled, leading or trailing comma): the exporter would skip it with a plain "+
				"line on standard error, and it is what a template leaves of an unset variable, a header missing; remove the comma", i+1)
		}
		key, value, ok := strings.Cut(entry, "=")
		key = strings.TrimSpace(key)
		switch {
		case !ok:
			return fmt.Sprintf("entry #%d has no '=': write key=value pairs separated by commas, e.g. Authorization=Bearer%%20…", i+1)
		case !validHeaderKey(key):
			return fmt.Sprintf("entry #%d: the key is not an HTTP header name", i+1)
		}
		decoded, err := url.PathUnescape(value)
		if err != nil {
			return fmt.Sprintf("entry #%d (%s): the value is not percent-encoded correctly", i+1, key)
		}
		// The exporter trims the decoded value; a control byte left inside
		// it (%0A, %00) makes Go's HTTP client refuse every export.
		if strings.ContainsFunc(strings.TrimSpace(decoded), isHeaderCTL) {
			return fmt.Sprintf("entry #%d (%s): the value decodes to a control character (a line break, say), "+
				"which no HTTP header may hold", i+1, key)
		}
	}
	return ""
}

// isHeaderCTL reports whether r is a byte an HTTP header value may not
// hold: a control character other than a tab.
func isHeaderCTL(r rune) bool { return (r < ' ' && r != '\t') || r == 0x7f }

// validHeaderKey reports whether key is an HTTP token, as the exporter
// requires of a header name.
func validHeaderKey(key string) bool {
	if key == "" {
		return false
	}
	for _, c := range key {
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', strings.ContainsRune("!#$%&'*+-.^_`|~", c):
		default:
			return false
		}
	}
	return true
}

// clientPairProblem reads the client certificate and key files.
func clientPairProblem(certFile, keyFile string) error {
	cert, err := os.ReadFile(certFile)
	if err != nil {
		return err
	}
	key, err := os.ReadFile(keyFile)
	if err != nil {
		return err
	}
	if _, err := tls.X509KeyPair(cert, key); err != nil {
		return fmt.Errorf("not a certificate and its key: %w", err)
	}
	return nil
}

// resourceProblem says what is wrong with OTEL_RESOURCE_ATTRIBUTES
// (comma-separated key=value, each value percent-encoded); "" when nothing
// is. The SDK drops an entry without '=' or without a key (an attribute
// with an empty key is invalid) from the service's resource and
// keeps a value it cannot decode undecoded, so a mistyped attribute would
// be missing from every span, or wrong, without an error. A blank entry (a
// trailing comma) loses nothing and is no problem.
func resourceProblem(v string) string {
	for i, entry := range strings.Split(v, ",") {
		if strings.TrimSpace(entry) == "" {
			continue
		}
		key, value, ok := strings.Cut(entry, "=")
		key = strings.TrimSpace(key)
		if !ok {
			return fmt.Sprintf("entry #%d has no '=': write key=value pairs separated by commas, e.g. deployment.environment.name=prod", i+1)
		}
		if key == "" {
			return fmt.Sprintf("entry #%d has no key before its '=': write key=value pairs, e.g. deployment.environment.name=prod", i+1)
		}
		if _, err := url.PathUnescape(strings.TrimSpace(value)); err != nil {
			return fmt.Sprintf("entry #%d (%s): the value is not percent-encoded correctly", i+1, key)
		}
	}
	return ""
}

// The samplers of OTEL_TRACES_SAMPLER the SDK builds, by the name it reads
// (lower case); true for the ones that read OTEL_TRACES_SAMPLER_ARG as a ratio.
var samplers = map[string]bool{
	"always_on":                false,
	"always_off":               false,
	"traceidratio":             true,
	"parentbased_always_on":    false,
	"parentbased_always_off":   false,
	"parentbased_traceidratio": true,
}

// samplerProblem checks OTEL_TRACES_SAMPLER and, for a ratio sampler,
// OTEL_TRACES_SAMPLER_ARG. The SDK reports a sampler it does not build
// (a typo, or jaeger_remote and xray, which it lacks) only as a warning and
// samples with its default, parent-based always on; a ratio that is no
// number from 0 to 1 it replaces with 1; an argument without a sampler it
// ignores, for its default. Any way, a service meant to keep a few of its
// traces would export every one.
func samplerProblem(getenv func(string) string) error {
	name := strings.ToLower(strings.TrimSpace(getenv("OTEL_TRACES_SAMPLER")))
	arg := strings.TrimSpace(getenv("OTEL_TRACES_SAMPLER_ARG"))
	if name == "" {
		if arg != "" {
			return errors.New("tracing: OTEL_TRACES_SAMPLER_ARG is set without OTEL_TRACES_SAMPLER: the SDK reads it only for " +
				"traceidratio or parentbased_traceidratio, and would sample every trace with its default, parentbased_always_on; " +
				"set OTEL_TRACES_SAMPLER=parentbased_traceidratio (or unset the argument)")
		}
		return nil
	}
	ratio, known := samplers[name]
	if !known {
		return fmt.Errorf("tracing: OTEL_TRACES_SAMPLER %s is not a sampler the SDK builds: always_on, always_off, traceidratio, "+
			"parentbased_always_on, parentbased_always_off or parentbased_traceidratio", name)
	}
	if !ratio || arg == "" {
		return nil // no argument read, or the ratio 1
	}
	if v, err := strconv.ParseFloat(arg, 64); err != nil || !(v >= 0 && v <= 1) {
		return fmt.Errorf("tracing: OTEL_TRACES_SAMPLER_ARG %q must be a ratio from 0 to 1 for %s, e.g. 0.01 for 1 %% of the traces "+
			"(the SDK would sample every trace instead)", arg, name)
	}
	return nil
}

// The batch span processor's settings, read as whole numbers. The SDK
// takes a value only as strconv.Atoi reads it (no spaces, no unit) and
// otherwise uses its default without a word; it checks no bound either: a
// negative queue or batch size panics in the start hook, and a schedule
// delay of zero or less exports on a timer that fires at once, forever,
// which keeps a core busy.
var batchSettings = []struct {
	name, want string
}{
	{"OTEL_BSP_SCHEDULE_DELAY", "a positive number of milliseconds, e.g. 5000"},
	{"OTEL_BSP_EXPORT_TIMEOUT", "a positive number of milliseconds, e.g. 30000"},
	{"OTEL_BSP_MAX_QUEUE_SIZE", "a positive number of spans, e.g. 2048"},
	{"OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "a positive number of spans, e.g. 512"},
}

// The span limits, read as whole numbers like the batch settings; a
// negative one means no limit, as the SDK documents.
var limitSettings = []string{
	"OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT", "OTEL_ATTRIBUTE_COUNT_LIMIT",
	"OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT",
	"OTEL_SPAN_EVENT_COUNT_LIMIT", "OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT",
	"OTEL_SPAN_LINK_COUNT_LIMIT", "OTEL_LINK_ATTRIBUTE_COUNT_LIMIT",
}

// batchProblem checks the OTEL_BSP_* settings and the span limits: each
// one set must be a whole number the SDK reads, and the batch settings
// positive. A value of blanks alone is unset, as the SDK takes it.
func batchProblem(getenv func(string) string) error {
	var errs []error
	for _, s := range batchSettings {
		v := getenv(s.name)
		if strings.TrimSpace(v) == "" {
			continue
		}
		if n, err := strconv.Atoi(v); err != nil || n <= 0 {
			errs = append(errs, fmt.Errorf("tracing: %s %q must be %s, without spaces or a unit", s.name, v, s.want))
		}
	}
	for _, name := range limitSettings {
		v := getenv(name)
		if strings.TrimSpace(v) == "" {
			continue
		}
		if _, err := strconv.Atoi(v); err != nil {
			errs = append(errs, fmt.Errorf("tracing: %s %q must be a whole number, without spaces (negative for no limit): "+
				"the SDK would use its default", name, v))
		}
	}
	return errors.Join(errs...)
}

// defaultPlainHTTP reports whether the exporter is to send to the OTLP
// default endpoint over plain HTTP (http://localhost:4318), as the
// OpenTelemetry specification has it: no endpoint is set (its scheme would
// decide), no insecure flag and no certificate (which asks for TLS). The
// Go exporter's own default is TLS to localhost:4318, which a collector's
// plain OTLP/HTTP receiver refuses, so every export would fail.
func defaultPlainHTTP(getenv func(string) string) bool {
	for _, scope := range exporterScopes {
		for _, key := range []string{"ENDPOINT", "INSECURE", "CERTIFICATE", "CLIENT_CERTIFICATE", "CLIENT_KEY"} {
			if strings.TrimSpace(getenv(scope+key)) != "" {
				return false
			}
		}
	}
	return true
}
