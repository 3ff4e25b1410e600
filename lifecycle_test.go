package imcallback_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/fx"
	"go.uber.org/goleak"
	"go.uber.org/zap"

	"github.com/imcallback/imcallback"
	"github.com/imcallback/imcallback/config"
	"github.com/imcallback/imcallback/delivery"
	"github.com/imcallback/imcallback/imtest"
	"github.com/imcallback/imcallback/plugins/topicsync"
	"github.com/imcallback/imcallback/server"
	"github.com/imcallback/imcallback/tracing"
)

// TestFailedStartLeavesNothingRunning: a service that fails to build or to
// start, with tracing, durable delivery on the embedded server and the
// topic store, leaves no goroutine and no file of its data directory open.
// fx runs no stop hook of a constructor when a later constructor fails, nor
// of a hook after the start hook that failed, so what a constructor starts
// leaks; the resources are started by start hooks instead.
func TestFailedStartLeavesNothingRunning(t *testing.T) {
	errBoom := errors.New("boom")
	everything := fx.Invoke(func(*server.Public, *server.Admin, *tracing.Tracer, *delivery.Service, topicsync.Store) {})
	failStart := fx.Invoke(func(lc fx.Lifecycle) { lc.Append(fx.StartHook(func() error { return errBoom })) })
	tests := []struct {
		name         string
		first, after []fx.Option // before and after the service's modules
	}{
		{"the last constructor fails", nil, []fx.Option{everything, fx.Invoke(func() error { return errBoom })}},
		{"the first start hook fails", []fx.Option{fx.Module("first", failStart)}, []fx.Option{everything}},
		{"the last start hook fails", nil, []fx.Option{everything, failStart}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1") // tracing on; nothing is exported
			dir := t.TempDir()
			environ := []string{"IMCALLBACK_SDKAPPID=" + appID, "IMCALLBACK_TOKENS=" + newToken,
				"IMCALLBACK_LISTEN=127.0.0.1:0", "IMCALLBACK_ADMIN_LISTEN=127.0.0.1:0",
				"IMCALLBACK_DATA_DIR=" + dir, "IMCALLBACK_LOG_LEVEL=error"}
			ignore := goleak.IgnoreCurrent() // the goroutines from before the app
			opts := append(append(tt.first, fx.NopLogger,
				fx.Supply(config.Source{Environ: func() []string { return environ }}),
				imcallback.Module, delivery.Module, topicsync.Module), tt.after...)
			app := fx.New(opts...)
			err := app.Err()
			if err == nil {
				err = app.Start(t.Context())
			}
			if !errors.Is(err, errBoom) {
				t.Fatalf("the app failed with %v, want %v", err, errBoom)
			}
			if held := imtest.OpenFilesUnder(t, dir); len(held) > 0 {
				t.Errorf("files of the data directory still open: %q", held)
			}
			if err := goleak.Find(ignore); err != nil {
				t.Errorf("goroutines outlive the failed app: %v", err)
			}
		})
	}
}

// TestTracesAreExportedFromTheStart: with an OTLP endpoint in the
// environment, the span of a callback reaches the collector; the exporter's
// batcher is made by the tracer's start hook.
func TestTracesAreExportedFromTheStart(t *testing.T) {
	var posts atomic.Int64
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/traces" {
			posts.Add(1)
		}
		io.Copy(io.Discard, r.Body)
	}))
	defer collector.Close()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.URL)
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "20") // milliseconds
	s := imtest.Start(t, []string{"IMCALLBACK_DELIVERY=inline"})
	if res := s.Send(t, "C2C.CallbackAfterSendMsg", mustSample(t, "C2C.CallbackAfterSendMsg")); !res.OK() {
		t.Fatalf("callback answered %d %s", res.Status, res.Body)
	}
	for deadline := time.Now().Add(10 * time.Second); posts.Load() == 0; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no span reached the collector")
		}
	}
}

// TestAnUnreachableCollectorDoesNotHoldTheStop: the tracer's stop exports
// the spans still queued; a collector that never answers holds it for at
// most IMCALLBACK_SHUTDOWN_TIMEOUT, not the exporter's own timeouts (30 s
// by default, minutes here), which would eat the stop's budget and leave
// later stop hooks unrun.
func TestAnUnreachableCollectorDoesNotHoldTheStop(t *testing.T) {
	hang := make(chan struct{})
	collector := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-hang }))
	t.Cleanup(collector.Close)
	t.Cleanup(func() { close(hang) }) // runs first: the hanging export returns
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.URL)
	t.Setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "600000") // ms: without the bound the stop waits minutes
	t.Setenv("OTEL_BSP_EXPORT_TIMEOUT", "600000")
	cfg := config.Default()
	cfg.ShutdownTimeout = 100 * time.Millisecond
	var tr *tracing.Tracer
	app := fx.New(fx.NopLogger, fx.Supply(&cfg, zap.NewNop()), tracing.Module, fx.Populate(&tr))
	if err := app.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	_, span := tr.Start(t.Context(), "queued")
	span.End()
	stopped := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		stopped <- app.Stop(ctx)
	}()
	select {
	case err := <-stopped:
		if err == nil {
			t.Error("the stop gave up on the queued spans and reported nothing")
		}
	case <-time.After(time.Minute): // a bound only broken code reaches
		t.Fatal("the stop still waits for a collector that never answers")
	}
}
