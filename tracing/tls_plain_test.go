package tracing_test

import (
	"context"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"

	"github.com/imcallback/imcallback/imtest"
	"github.com/imcallback/imcallback/tracing"
)

// TestEnabledRefusesTLSSettingsForPlainHTTP: the OTLP/HTTP exporter
// refuses a certificate or a client certificate beside a plain HTTP
// connection (an http:// endpoint in effect, or INSECURE=true) as it
// starts, so serve stopped with "insecure HTTP endpoint cannot use TLS
// client configuration", naming no variable, while config check (Enabled)
// called the settings valid. Enabled now refuses exactly what the exporter
// refuses, naming the variables and quoting no value; each case is also
// given to the exporter itself, so the two cannot drift apart.
func TestEnabledRefusesTLSSettingsForPlainHTTP(t *testing.T) {
	certFile, keyFile, _ := imtest.SelfSigned(t)
	for _, tc := range []struct {
		name string
		env  map[string]string
		// fail are the variables the error names; none when the settings are good.
		fail []string
	}{
		{"certificate for an https endpoint", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://collector:4318",
			"OTEL_EXPORTER_OTLP_CERTIFICATE": certFile}, nil},
		{"certificate without an endpoint", map[string]string{"OTEL_TRACES_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_CERTIFICATE": certFile}, nil},
		{"https traces endpoint over an http general one", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318",
			"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://collector:4318/v1/traces", "OTEL_EXPORTER_OTLP_CERTIFICATE": certFile}, nil},
		{"http endpoint without TLS settings", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318",
			"OTEL_EXPORTER_OTLP_INSECURE": "true"}, nil},
		{"certificate for an http endpoint", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318",
			"OTEL_EXPORTER_OTLP_CERTIFICATE": certFile},
			[]string{"OTEL_EXPORTER_OTLP_CERTIFICATE", "http:// of OTEL_EXPORTER_OTLP_ENDPOINT"}},
		{"traces certificate for an http traces endpoint", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://collector:4318",
			"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "HTTP://collector:4318/v1/traces", "OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE": certFile},
			[]string{"OTEL_EXPORTER_OTLP_TRACES_CERTIFICATE", "http:// of OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"}},
		{"client certificate with insecure true and no endpoint", map[string]string{"OTEL_TRACES_EXPORTER": "otlp",
			"OTEL_EXPORTER_OTLP_TRACES_INSECURE": "true", "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE": certFile, "OTEL_EXPORTER_OTLP_CLIENT_KEY": keyFile},
			[]string{"OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", "OTEL_EXPORTER_OTLP_TRACES_INSECURE=true"}},
		{"both for an http endpoint with insecure true", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318",
			"OTEL_EXPORTER_OTLP_INSECURE": "true", "OTEL_EXPORTER_OTLP_CERTIFICATE": certFile,
			"OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE": certFile, "OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY": keyFile},
			[]string{"OTEL_EXPORTER_OTLP_CERTIFICATE and OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE", "OTEL_EXPORTER_OTLP_INSECURE=true"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			on, err := tracing.Enabled(func(k string) string { return tc.env[k] })
			if len(tc.fail) == 0 {
				if err != nil || !on {
					t.Fatalf("on %v, err %v; want on without an error", on, err)
				}
			} else {
				if err == nil || on {
					t.Fatalf("on %v, err %v; want off with an error naming %v", on, err, tc.fail)
				}
				for _, s := range tc.fail {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("err %v; want it to name %s", err, s)
					}
				}
				if strings.Contains(err.Error(), certFile) || strings.Contains(err.Error(), "collector") {
					t.Errorf("the error quotes a value: %v", err)
				}
			}
			// The exporter, given the same environment, starts exactly
			// when Enabled accepts it.
			for _, scope := range []string{"OTEL_EXPORTER_OTLP_", "OTEL_EXPORTER_OTLP_TRACES_"} {
				for _, key := range []string{"ENDPOINT", "INSECURE", "CERTIFICATE", "CLIENT_CERTIFICATE", "CLIENT_KEY"} {
					t.Setenv(scope+key, tc.env[scope+key])
				}
			}
			exp, expErr := otlptracehttp.New(context.Background())
			if expErr == nil {
				_ = exp.Shutdown(context.Background())
			}
			if (expErr != nil) != (len(tc.fail) > 0) {
				t.Errorf("the exporter's start: %v; Enabled: %v", expErr, err)
			}
		})
	}
}
