package imcallback_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/fx"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/imcallback/imcallback"
	"github.com/imcallback/imcallback/config"
	"github.com/imcallback/imcallback/delivery"
	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/imtest"
	"github.com/imcallback/imcallback/internal/leakwait"
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
			if err := leakwait.Find(ignore); err != nil {
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
	app := startTracingWithASpanQueued(t, collector.URL)
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

// startTracingWithASpanQueued starts the tracing module exporting to
// collector, with timeouts of minutes for the export (without the stop's
// bound, the stop would wait that long) and a stop budget of 100 ms, and
// ends one span, which waits in the batcher for the next export.
func startTracingWithASpanQueued(t *testing.T, collector string) *fx.App {
	t.Helper()
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector)
	t.Setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "600000") // ms
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
	return app
}

// TestAStopThatGivesUpOnTheCollectorLeavesNothingRunning: once the
// tracer's stop has given up on the last export (a collector that never
// answers), the export in flight is cut off, not left running after the
// stop for the exporter's own timeout (OTEL_EXPORTER_OTLP_TIMEOUT, minutes
// here) with its goroutines and its connection.
func TestAStopThatGivesUpOnTheCollectorLeavesNothingRunning(t *testing.T) {
	hang := make(chan struct{})
	collector := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) // read: the server then sees the client hang up
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(collector.Close)
	t.Cleanup(func() { close(hang) }) // runs first
	ignore := goleak.IgnoreCurrent()  // the collector's
	app := startTracingWithASpanQueued(t, collector.URL)
	if err := app.Stop(t.Context()); err == nil {
		t.Fatal("the stop gave up on the queued spans and reported nothing")
	}
	if err := leakwait.Find(ignore); err != nil {
		t.Errorf("the export outlives the stop: %v", err)
	}
}

// lateCommand is a handler that ignores its context: it runs until
// released, past its deadline, and reports whether the resource it uses
// was closed by then.
type lateCommand struct {
	kind              dispatcher.Kind
	res               *closable
	started, released chan struct{}
	finished          chan struct{}
	sawClosed         atomic.Bool
}

func (c *lateCommand) Name() string {
	if c.kind == dispatcher.KindBefore {
		return "Group.CallbackBeforeCreateGroup"
	}
	return "Group.CallbackAfterCreateGroup"
}
func (c *lateCommand) Kind() dispatcher.Kind { return c.kind }
func (c *lateCommand) Handle(context.Context, *dispatcher.Request) (dispatcher.Decision, error) {
	close(c.started)
	<-c.released
	c.sawClosed.Store(c.res.closed.Load())
	close(c.finished)
	return dispatcher.Decision{}, nil
}

// closable is a handler's resource (a store, a client) closed by its stop
// hook, as a plugin's store is.
type closable struct {
	closed atomic.Bool
	done   chan struct{}
}

// TestStopWaitsForHandlersPastTheirDeadline: a before-handler or an inline
// after-handler still running past its deadline (its callback long
// answered with the fallback, or failed) is waited for by the stop, within
// IMCALLBACK_SHUTDOWN_TIMEOUT, before the resources it uses are closed.
func TestStopWaitsForHandlersPastTheirDeadline(t *testing.T) {
	for _, kind := range []dispatcher.Kind{dispatcher.KindBefore, dispatcher.KindAfter} {
		t.Run(kind.String(), func(t *testing.T) {
			res := &closable{done: make(chan struct{})}
			cmd := &lateCommand{kind: kind, res: res, started: make(chan struct{}),
				released: make(chan struct{}), finished: make(chan struct{})}
			waiting := make(chan struct{})
			var once sync.Once
			environ := []string{"IMCALLBACK_SDKAPPID=" + appID, "IMCALLBACK_TOKENS=" + newToken,
				"IMCALLBACK_LISTEN=127.0.0.1:0", "IMCALLBACK_ADMIN_LISTEN=127.0.0.1:0",
				"IMCALLBACK_DATA_DIR=" + t.TempDir(), "IMCALLBACK_LOG_LEVEL=warn",
				// A deadline the handler surely starts within: one already
				// past when it would start (50 ms spent by a busy machine
				// before it) answers the fallback without running it, and
				// the test waited for its start until go test's timeout.
				"IMCALLBACK_BEFORE_TIMEOUT=1s", "IMCALLBACK_INLINE_TIMEOUT=1s", "IMCALLBACK_SHUTDOWN_TIMEOUT=1m"}
			var pub *server.Public
			var cfg *config.Config
			app := fx.New(fx.NopLogger,
				fx.Supply(config.Source{Environ: func() []string { return environ }}),
				// Provided before the command that uses it, so closed after it,
				// as a plugin's store is.
				fx.Provide(func(lc fx.Lifecycle) *closable {
					lc.Append(fx.StopHook(func() { res.closed.Store(true); close(res.done) }))
					return res
				}),
				fx.Provide(dispatcher.AsCommand(func(*closable) dispatcher.Command { return cmd })),
				imcallback.Module,
				fx.Decorate(func(l *zap.Logger) *zap.Logger {
					return l.WithOptions(zap.Hooks(func(e zapcore.Entry) error {
						if strings.Contains(e.Message, "handlers still running past their deadline") {
							once.Do(func() { close(waiting) })
						}
						return nil
					}))
				}),
				fx.Populate(&pub, &cfg))
			if err := app.Start(t.Context()); err != nil {
				t.Fatal(err)
			}
			sender := &imtest.Sender{URL: "http://" + pub.Addr().String() + cfg.Path, AppID: appID, Token: newToken}
			if _, err := sender.Send(t.Context(), cmd.Name(), []byte(`{}`)); err != nil {
				t.Fatal(err)
			}
			select { // answered at its deadline, and still running
			case <-cmd.started:
			case <-time.After(30 * time.Second): // a guard against a hang, not a time limit
				t.Fatal("the handler never started: its deadline passed before it could")
			}
			stopped := make(chan error, 1)
			go func() { stopped <- app.Stop(context.Background()) }()
			select {
			case <-res.done:
				t.Error("the handler's resource was closed while the handler still ran")
			case <-waiting:
			}
			close(cmd.released)
			if err := <-stopped; err != nil {
				t.Errorf("stop: %v", err)
			}
			<-cmd.finished
			if cmd.sawClosed.Load() {
				t.Error("the handler found its resource closed")
			}
		})
	}
}
