package server

import (
	"context"
	"net/http"
	"runtime/trace"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx/fxtest"
	"go.uber.org/zap"

	"github.com/imcallback/imcallback/config"
)

// TestAProfileInFlightEndsAtTheStop: Go's profiler collects a CPU
// profile, an execution trace or a delta profile for the seconds its
// request asks (30 by default), waiting on nothing but the request's
// context, which the graceful stop does not cancel. A profile asked for
// just before a stop held the admin listener's drain until
// IMCALLBACK_SHUTDOWN_TIMEOUT ran out, and the process exited 1 with
// "admin listener drain: context deadline exceeded". Now the stop ends the
// profiles in flight: the client gets what was collected so far, and the
// drain succeeds.
func TestAProfileInFlightEndsAtTheStop(t *testing.T) {
	if trace.IsEnabled() {
		t.Skip("an execution trace already runs (go test -trace)")
	}
	cfg := config.Default()
	cfg.AdminListen = "127.0.0.1:0"
	cfg.ShutdownTimeout = 10 * time.Second // far below the profile's 10 minutes: the drain would run out first
	lc := fxtest.NewLifecycle(t)
	a, err := newAdmin(adminIn{Lifecycle: lc, Config: &cfg, Log: zap.NewNop(), Registry: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	lc.RequireStart()
	done := getInBackground("http://" + a.Addr().String() + "/debug/pprof/trace?seconds=600")
	for !trace.IsEnabled() { // the handler runs: the trace has started
		select {
		case a := <-done:
			t.Fatalf("the trace request ended before it started tracing: %d %v", a.status, a.err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := lc.Stop(ctx); err != nil {
		t.Fatalf("the stop with a trace in flight failed: %v; want the trace ended and the drain done", err)
	}
	if a := <-done; a.err != nil || a.status != http.StatusOK {
		t.Fatalf("the trace request ended with %d %v; want 200 with what was collected", a.status, a.err)
	}
}
