package tracing

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// TestAGeneralEndpointTheTracesOneOverridesIsNotRefused: the exporter
// reads OTEL_EXPORTER_OTLP_TRACES_ENDPOINT after OTEL_EXPORTER_OTLP_ENDPOINT
// and takes its scheme, host and path, so the general endpoint is not used
// for the spans; by the OpenTelemetry specification it serves the other
// signals too, whose exporters (gRPC) take targets without a scheme. One
// without http:// or https:// (collector:4317, a host-wide setting for
// another process) stopped the start though the traces one was good; it is
// refused only when it is the endpoint in effect.
func TestAGeneralEndpointTheTracesOneOverridesIsNotRefused(t *testing.T) {
	var posts atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/v1/traces" {
			posts.Add(1)
		}
	}))
	t.Cleanup(srv.Close)
	for _, general := range []string{"collector:4317", "grpc://collector:4317", "https://user:pw@collector:4318?x=1"} {
		t.Run(general, func(t *testing.T) {
			env := map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": general}
			if _, err := Enabled(func(k string) string { return env[k] }); err == nil {
				t.Fatalf("Enabled took %q as the endpoint in effect", general)
			}
			env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] = srv.URL + "/v1/traces"
			if on, err := Enabled(func(k string) string { return env[k] }); !on || err != nil {
				t.Fatalf("with a traces endpoint: on %v, err %v; want on without an error", on, err)
			}
		})
	}
	// One that is no URL at all the exporter still parses, and reports on
	// a plain line on standard error, quoting it: it is refused, naming the
	// variable and not its value.
	env := map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "10.0.0.1:4317", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": srv.URL + "/v1/traces"}
	_, err := Enabled(func(k string) string { return env[k] })
	if err == nil || !strings.Contains(err.Error(), "OTEL_EXPORTER_OTLP_ENDPOINT is not a URL") || strings.Contains(err.Error(), "10.0.0.1") {
		t.Errorf("a general endpoint that is no URL beside a traces endpoint: %v; want it refused, naming the variable alone", err)
	}
	// And the spans go to the traces endpoint.
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", srv.URL+"/v1/traces")
	exportOnce(t)
	if posts.Load() == 0 {
		t.Errorf("the traces endpoint got no export")
	}
}
