package server

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/imcallback/imcallback/config"
)

// failingListener is a listener whose Accept fails with err, an error
// net/http does not retry.
type failingListener struct {
	net.Listener
	err error
}

func (l failingListener) Accept() (net.Conn, error) { return nil, l.err }

// TestAListenerThatStopsServingStopsTheService: when Serve returns while
// nobody stopped the listener, the fault is logged and reported to the
// drain, whose readiness check then fails with it and whose Failed channel
// closes (the command running the service stops it); a listener stopped by
// the stop reports nothing.
func TestAListenerThatStopsServingStopsTheService(t *testing.T) {
	accept := &net.OpError{Op: "accept", Net: "tcp", Err: syscall.ENOMEM}
	core, logs := observer.New(zap.ErrorLevel)
	d := &Drain{log: zap.NewNop(), failed: make(chan struct{})}
	l := &Listener{name: "public", server: &http.Server{}, log: zap.New(core), fault: d.Fail}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l.serve(failingListener{Listener: ln, err: accept}) // Serve closes ln

	select {
	case <-d.Failed():
	default:
		t.Fatal("Failed is not closed after the listener stopped serving")
	}
	if err := d.Fault(); !errors.Is(err, syscall.ENOMEM) || !strings.Contains(err.Error(), "public listener") {
		t.Errorf("Fault() = %v, want the listener's accept error, naming the listener", err)
	}
	if err := d.check().Check(context.Background()); !errors.Is(err, syscall.ENOMEM) {
		t.Errorf("readiness check: %v, want the fault", err)
	}
	if logs.FilterMessage("listener stopped serving; the service stops").Len() != 1 {
		t.Errorf("log: %v, want one error line", logs.All())
	}

	// Closed by the stop: Serve returns http.ErrServerClosed, no fault.
	stopped := &Drain{log: zap.NewNop(), failed: make(chan struct{})}
	srv := &http.Server{}
	ln, err = net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		(&Listener{name: "public", server: srv, log: zap.NewNop(), fault: stopped.Fail}).serve(ln)
		close(done)
	}()
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	<-done
	if err := stopped.Fault(); err != nil {
		t.Errorf("a listener stopped by the stop reported %v", err)
	}
}

// TestDrainKeepsTheFirstFault: a second Fail neither panics nor replaces
// the first fault; a nil Drain ignores Fail and never fails.
func TestDrainKeepsTheFirstFault(t *testing.T) {
	d := &Drain{log: zap.NewNop(), failed: make(chan struct{})}
	if d.Fault() != nil {
		t.Fatal("a new drain has a fault")
	}
	first, second := errors.New("first"), errors.New("second")
	d.Fail(first)
	d.Fail(second)
	if d.Fault() != first {
		t.Errorf("Fault() = %v, want the first", d.Fault())
	}
	var none *Drain
	none.Fail(first)
	if none.Failed() != nil || none.Fault() != nil {
		t.Error("a nil drain reports a fault")
	}
}

// TestAFaultEndsTheShutdownDelay: Begin returns once a fault is recorded
// (Fail) during IMCALLBACK_SHUTDOWN_DELAY: the listener no longer serves,
// so waiting out the rest of the delay only delays the stop.
func TestAFaultEndsTheShutdownDelay(t *testing.T) {
	d := &Drain{delay: time.Hour, log: zap.NewNop(), failed: make(chan struct{})}
	done := make(chan struct{})
	go func() {
		d.Begin()
		close(done)
	}()
	d.Fail(errors.New("server: the public listener stopped serving"))
	select {
	case <-done:
	case <-time.After(30 * time.Second): // a guard against a hang, not a time limit
		t.Fatal("the shutdown delay goes on after a fault")
	}
	if !d.ending() {
		t.Error("the drain's check passes after the fault")
	}
}

// TestAFaultStopsAProgramThatFxRuns: in a program of one's own that fx's
// Run (or Wait) runs, without the command line's run, a listener that
// stops serving on its own (Drain.Fail) shuts the app down with exit code
// 1, as the command line does. It only logged "the service stops" and
// failed /readyz: the process ran on without answering callbacks, and its
// supervisor saw nothing to restart.
func TestAFaultStopsAProgramThatFxRuns(t *testing.T) {
	cfg := config.Default()
	var d *Drain
	app := fxtest.New(t, fx.Supply(&cfg, zap.NewNop()), fx.Provide(newDrain), fx.Populate(&d))
	app.RequireStart()
	defer app.RequireStop()
	wait := app.Wait()
	d.Fail(errors.New("server: the public listener stopped serving: accept: cannot allocate memory"))
	select {
	case sig := <-wait:
		if sig.ExitCode != 1 {
			t.Errorf("shutdown signal %+v, want exit code 1", sig)
		}
	case <-time.After(30 * time.Second): // a guard against a hang, not a time limit
		t.Fatal("the app was not shut down after the listener's fault")
	}
}
