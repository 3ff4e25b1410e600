package tracing

import (
	"context"
	"net"
	"net/http"
	"sync/atomic"
	"testing"

	"go.uber.org/fx/fxtest"
	"go.uber.org/zap"
)

// TestDefaultEndpointIsPlainHTTP: with OTEL_TRACES_EXPORTER=otlp and no
// endpoint, the README's way to export to a collector beside the service,
// spans go to the OTLP default, http://localhost:4318. The Go exporter's
// own default is TLS to that port, which a collector's plain OTLP/HTTP
// receiver refuses: every export failed.
func TestDefaultEndpointIsPlainHTTP(t *testing.T) {
	ln, err := net.Listen("tcp", "localhost:4318")
	if err != nil {
		t.Skipf("the OTLP default port is taken: %v", err)
	}
	var posts atomic.Int32
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && r.URL.Path == "/v1/traces" {
			posts.Add(1)
		}
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	for _, k := range []string{"ENDPOINT", "INSECURE", "CERTIFICATE", "CLIENT_CERTIFICATE", "CLIENT_KEY"} {
		t.Setenv("OTEL_EXPORTER_OTLP_"+k, "")
		t.Setenv("OTEL_EXPORTER_OTLP_TRACES_"+k, "")
	}
	t.Setenv("OTEL_TRACES_EXPORTER", "otlp")

	lc := fxtest.NewLifecycle(t)
	tr, err := newFromEnv(envIn{Lifecycle: lc, Log: zap.NewNop()})
	if err != nil || tr == nil {
		t.Fatalf("newFromEnv: %v, %v", tr, err)
	}
	lc.RequireStart()
	_, span := tr.Start(context.Background(), "test.span")
	span.End()
	_ = lc.Stop(context.Background()) // exports the span, or fails to
	if n := posts.Load(); n == 0 {
		t.Errorf("the collector at http://localhost:4318 got no export")
	}
}

// TestDefaultPlainHTTP: the OTLP default, plain HTTP, applies only when
// nothing else says how to reach the collector: no endpoint (whose scheme
// decides), no insecure flag, no certificate (which asks for TLS).
func TestDefaultPlainHTTP(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want bool
	}{
		{"nothing set", nil, true},
		{"blank endpoint", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": " "}, true},
		{"endpoint", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://collector:4318"}, false},
		{"traces endpoint", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://collector:4318/v1/traces"}, false},
		{"insecure false", map[string]string{"OTEL_EXPORTER_OTLP_INSECURE": "false"}, false},
		{"traces insecure true", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_INSECURE": "true"}, false},
		{"certificate", map[string]string{"OTEL_EXPORTER_OTLP_CERTIFICATE": "/etc/ca.pem"}, false},
		{"traces client certificate", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE": "/etc/c.pem",
			"OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY": "/etc/c.key"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := defaultPlainHTTP(func(k string) string { return tc.env[k] }); got != tc.want {
				t.Errorf("defaultPlainHTTP = %v, want %v", got, tc.want)
			}
		})
	}
}
