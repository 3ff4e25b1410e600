package tracing

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/imcallback/imcallback/internal/leakwait"
	"go.opentelemetry.io/otel"
	"go.uber.org/fx/fxtest"
	"go.uber.org/goleak"
	"go.uber.org/zap"
)

// TestSpansAreExportedAfterARestart: fx starts a stopped app again (the
// logger's buffer and the metrics' history start again too). The stop
// shut the provider down for good, so the second start registered its
// batcher with a provider that drops it: no span of the second run was
// exported, nor one of a program's own tracers taken from the provider
// (registered with otel.SetTracerProvider, as the README has it), and the
// batcher's goroutine ran on after the second stop, which had nothing
// left to stop. Each start now exports through a batcher of its own,
// which its stop flushes and ends.
func TestSpansAreExportedAfterARestart(t *testing.T) {
	var mu sync.Mutex
	var bodies strings.Builder
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies.Write(b)
		mu.Unlock()
	}))
	t.Cleanup(collector.Close)
	exported := func(name string) bool {
		mu.Lock()
		defer mu.Unlock()
		return strings.Contains(bodies.String(), `"`+name+`"`)
	}
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.URL)
	t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json") // the span names are in the bodies as written
	prev := otel.GetErrorHandler()
	t.Cleanup(func() { otel.SetErrorHandler(prev) })
	ignore := goleak.IgnoreCurrent() // the collector's

	lc := fxtest.NewLifecycle(t)
	tr, err := newFromEnv(envIn{Lifecycle: lc, Log: zap.NewNop()})
	if err != nil || tr == nil {
		t.Fatalf("newFromEnv: %v, %v", tr, err)
	}
	own := tr.TracerProvider().Tracer("program") // taken once, as otel.Tracer's users do
	for _, run := range []string{"first", "second"} {
		lc.RequireStart()
		_, span := tr.Start(context.Background(), "service."+run)
		span.End()
		_, span = own.Start(context.Background(), "program."+run)
		span.End()
		lc.RequireStop() // exports the spans
		for _, name := range []string{"service." + run, "program." + run} {
			if !exported(name) {
				t.Errorf("the %s run's span %s was not exported by its stop", run, name)
			}
		}
	}
	// Each stop closes its exporter's connection to the collector, and the
	// collector's end with it.
	if err := leakwait.Find(ignore); err != nil {
		t.Errorf("the tracing of a restarted app outlives its stop: %v", err)
	}
}
