package tracing

import (
	"log"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/go-logr/logr/funcr"
	"github.com/go-logr/stdr"
	"go.opentelemetry.io/otel"
	"go.uber.org/fx/fxtest"
	"go.uber.org/zap"
)

// TestAcceptedHeadersLeaveNoPlainLine: an OTEL_EXPORTER_OTLP_HEADERS with
// a blank entry (a trailing comma) was taken, as the exporter skips the
// entry, but the exporter reports it as it starts on OpenTelemetry's
// global logger: a plain line on standard error beside the service's JSON,
// which config check did not show. Every headers setting the service takes
// is read by the exporter without a line; one it would report is refused,
// naming the variable.
func TestAcceptedHeadersLeaveNoPlainLine(t *testing.T) {
	var mu sync.Mutex
	var lines []string
	otel.SetLogger(funcr.New(func(prefix, args string) {
		mu.Lock()
		defer mu.Unlock()
		lines = append(lines, args)
	}, funcr.Options{}))
	// OpenTelemetry's own logger, which cannot be read back to be restored.
	t.Cleanup(func() { otel.SetLogger(stdr.New(log.New(os.Stderr, "", log.LstdFlags|log.Lshortfile))) })
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1") // nothing is exported: no hook runs
	for _, headers := range []string{"x-a=1", " x-a = 1 , x-b=2 ", "x-a=1,", "x-a=1, ", ",x-a=1", "x-a=1,,x-b=2", "x-a=1, ,x-b=2"} {
		t.Run(headers, func(t *testing.T) {
			t.Setenv("OTEL_EXPORTER_OTLP_HEADERS", headers)
			mu.Lock()
			lines = nil
			mu.Unlock()
			tr, err := newFromEnv(envIn{Lifecycle: fxtest.NewLifecycle(t), Log: zap.NewNop()})
			mu.Lock()
			got := lines
			mu.Unlock()
			switch {
			case err != nil:
				if !strings.Contains(err.Error(), "OTEL_EXPORTER_OTLP_HEADERS ") {
					t.Errorf("refused for another reason: %v", err)
				}
			case tr == nil:
				t.Fatal("tracing is off")
			case len(got) > 0:
				t.Errorf("taken, and the exporter logged %q on OpenTelemetry's global logger (a plain line on standard error)", got)
			}
		})
	}
}
