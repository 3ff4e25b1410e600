package tracing

import (
	"bytes"
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.uber.org/fx/fxtest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/imcallback/imcallback/config"
)

// lockedBuffer is the standard logger's output in the test.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestExportErrorsGoToTheServiceLog: a failed export (the collector
// refuses the batch) is a warning of the service's logger, in its format
// and level, not a plain line of the standard library's logger on standard
// error beside the JSON lines. (A sampler setting the SDK cannot read,
// which it reported the same way, is refused by Enabled.)
func TestExportErrorsGoToTheServiceLog(t *testing.T) {
	prev := otel.GetErrorHandler()
	t.Cleanup(func() { otel.SetErrorHandler(prev) })
	var std lockedBuffer
	log.SetOutput(&std)
	t.Cleanup(func() { log.SetOutput(os.Stderr) })

	exported := make(chan struct{}, 1)
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case exported <- struct{}{}:
		default:
		}
		http.Error(w, "the test's collector refuses every batch", http.StatusBadRequest) // not retried
	}))
	defer collector.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.URL)

	core, logs := observer.New(zapcore.DebugLevel)
	lc := fxtest.NewLifecycle(t)
	tr, err := newFromEnv(envIn{Lifecycle: lc, Log: zap.New(core)})
	if err != nil || tr == nil {
		t.Fatalf("newFromEnv: %v, %v", tr, err)
	}
	lc.RequireStart()
	_, span := tr.Start(context.Background(), "test.span")
	span.End()
	lc.RequireStop() // the last export fails
	<-exported

	if s := std.String(); s != "" {
		t.Errorf("the standard logger wrote %q", s)
	}
	var warned []string
	for _, e := range logs.FilterLevelExact(zapcore.WarnLevel).FilterMessageSnippet("tracing").All() {
		if s, ok := e.ContextMap()["error"].(string); ok {
			warned = append(warned, s)
		}
	}
	for _, want := range []string{"400 Bad Request"} {
		if !slices.ContainsFunc(warned, func(s string) bool { return strings.Contains(s, want) }) {
			t.Errorf("no warning with %q; the warnings' errors are %q", want, warned)
		}
	}
}

// TestACutOffLastExportIsLoggedByTheService: a collector that does not
// answer holds the last export past LastExportTimeout, and the stop cuts
// it off. The batcher reports that export's error once it returns, which
// was after the stop had ended the routing of OpenTelemetry's errors to
// the service's logger: the error was a plain line of the standard
// library's logger on standard error. The stop now waits for it, so it
// is a warning of the service's log by the time the stop returns.
func TestACutOffLastExportIsLoggedByTheService(t *testing.T) {
	prev := otel.GetErrorHandler()
	t.Cleanup(func() { otel.SetErrorHandler(prev) })
	var std lockedBuffer
	log.SetOutput(&std)
	t.Cleanup(func() { log.SetOutput(os.Stderr) })

	hang := make(chan struct{})
	collector := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) // read: the server then sees the client hang up
		select {                    // never answers
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(collector.Close)
	t.Cleanup(func() { close(hang) }) // runs first
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.URL)

	cfg := config.Default()
	cfg.ShutdownTimeout = time.Second // the last export's bound
	core, logs := observer.New(zapcore.DebugLevel)
	lc := fxtest.NewLifecycle(t)
	tr, err := newFromEnv(envIn{Lifecycle: lc, Log: zap.New(core), Config: &cfg})
	if err != nil || tr == nil {
		t.Fatalf("newFromEnv: %v, %v", tr, err)
	}
	lc.RequireStart()
	_, span := tr.Start(context.Background(), "test.span")
	span.End()
	if err := lc.Stop(context.Background()); err == nil || !strings.Contains(err.Error(), "exporting the last spans") {
		t.Fatalf("stop: %v; want the last export cut off", err)
	}

	if s := std.String(); s != "" {
		t.Errorf("the standard logger wrote %q", s)
	}
	if n := logs.FilterLevelExact(zapcore.WarnLevel).FilterMessageSnippet("tracing").Len(); n == 0 {
		t.Error("the cut-off export is no warning of the service's log")
	}
}
