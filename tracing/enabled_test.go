package tracing_test

import (
	"strings"
	"testing"

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
		{"own http/json", "", "http/json", false, "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL=http/json"},
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
