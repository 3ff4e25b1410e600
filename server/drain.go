package server

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/imcallback/imcallback/admin"
	"github.com/imcallback/imcallback/config"
)

// Drain is the pause between a stop signal and the stop: for
// IMCALLBACK_SHUTDOWN_DELAY the listeners keep serving while /readyz
// answers 503, so that a load balancer (Kubernetes' endpoints) stops
// sending callbacks before the public listener closes, and the public
// listener keeps no connection alive (closeConnections), which a balancer
// would not move. IM does not resend an after-callback whose connection
// was refused.
//
// It also carries a fault the service cannot serve past (Fail): a
// listener that stopped serving on its own.
type Drain struct {
	delay    time.Duration
	log      *zap.Logger
	draining atomic.Bool
	// listening is set once the public listener listens (publicListening):
	// /readyz fails before, when a callback's connection would be refused.
	listening atomic.Bool
	// shutdown, when set, is the app's: Fail shuts the app down through it,
	// for a program that fx's Run (or Wait) runs rather than the command
	// line, which watches Failed.
	shutdown fx.Shutdowner

	mu      sync.Mutex
	servers []*http.Server // to keep no connection alive from Stopping on (closeConnections)

	failOnce sync.Once
	failed   chan struct{} // closed by Fail
	fault    error         // set once, before failed is closed
}

// errStopping is the readiness check's answer while the service drains.
var errStopping = errors.New("stopping: the service drains before it stops")

// errStarting is the readiness check's answer until the public listener
// listens: the admin listener starts first, and its /readyz answered
// ready while a callback's connection was still refused.
var errStarting = errors.New("starting: the public listener does not listen yet")

func newDrain(cfg *config.Config, log *zap.Logger, shutdown fx.Shutdowner) *Drain {
	return &Drain{delay: cfg.ShutdownDelay, log: log, shutdown: shutdown, failed: make(chan struct{})}
}

// Fail records a fault the service cannot serve past, such as a listener
// whose Serve returned while nobody stopped it: /readyz fails with err
// from now on, and Failed is closed so that the command running the
// service stops it and exits non-zero, for its supervisor to start it
// again. The app is also shut down with exit code 1 (fx.Shutdowner), which
// stops a program of one's own that fx's Run or Wait runs the same way;
// the command line, which waits on neither, is not affected. Only the
// first fault is kept.
func (d *Drain) Fail(err error) {
	if d == nil {
		return
	}
	d.failOnce.Do(func() {
		d.fault = err
		close(d.failed)
		if d.shutdown == nil {
			return
		}
		if serr := d.shutdown.Shutdown(fx.ExitCode(1)); serr != nil {
			d.log.Warn("cannot ask the app to shut down after the fault", zap.Error(serr))
		}
	})
}

// Failed is closed once Fail has been called; nil (never closed) on a nil
// Drain.
func (d *Drain) Failed() <-chan struct{} {
	if d == nil {
		return nil
	}
	return d.failed
}

// Fault is the error Fail recorded, nil before.
func (d *Drain) Fault() error {
	if d == nil {
		return nil
	}
	select {
	case <-d.failed:
		return d.fault
	default:
		return nil
	}
}

// Stopping makes /readyz answer 503 from now on, its check shutdown
// saying "stopping": the stop signal has come, and whatever the delay, the
// stop follows. It returns at once.
func (d *Drain) Stopping() {
	if d == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.draining.Store(true)
	for _, s := range d.servers {
		s.SetKeepAlivesEnabled(false)
	}
}

// closeConnections has s keep no connection alive from the stop signal
// (Stopping) on, net/http's way for a server that shuts down: its idle
// connections are closed at once, and every answer says Connection: close
// and closes its connection. A Kubernetes Service, or any layer-4
// balancer, keeps an established connection on the replica it chose:
// without this, IM's keep-alive connections kept bringing callbacks to a
// stopping replica through the whole IMCALLBACK_SHUTDOWN_DELAY. Its next
// callback now opens a new connection, which the balancer sends to
// another replica. A nil d does nothing.
func (d *Drain) closeConnections(s *http.Server) {
	if d == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.servers = append(d.servers, s)
	if d.draining.Load() {
		s.SetKeepAlivesEnabled(false)
	}
}

// Begin makes /readyz answer 503 (as Stopping does) and waits the delay;
// it returns at once when the delay is 0, and as soon as a fault is
// recorded (Fail): a listener that stopped serving serves nothing more
// through the rest of the delay.
func (d *Drain) Begin() {
	if d == nil {
		return
	}
	d.Stopping()
	if d.delay <= 0 {
		return
	}
	d.log.Info("shutdown delay: the listeners keep serving while /readyz answers 503; the stop begins after it",
		zap.Duration("shutdown_delay", d.delay))
	t := time.NewTimer(d.delay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-d.failed:
	}
}

// shutdownCheck names the readiness check of the drain (Drain.check).
const shutdownCheck = "shutdown"

// ending reports whether the drain's check fails now: the stop has begun
// (Stopping) or a fault was recorded (Fail). False on a nil Drain.
func (d *Drain) ending() bool {
	return d != nil && (d.draining.Load() || d.Fault() != nil)
}

// publicListening records that the public listener listens: from now on
// a callback's connection is taken, and the drain's check passes until
// the stop. A nil Drain does nothing.
func (d *Drain) publicListening() {
	if d != nil {
		d.listening.Store(true)
	}
}

// passes reports whether the drain's check passes now: the public
// listener listens, and the stop has not begun (nor a fault); false on a
// nil Drain.
func (d *Drain) passes() bool {
	return d != nil && d.listening.Load() && !d.ending()
}

// check is the readiness check that fails until the public listener
// listens and while the service drains.
func (d *Drain) check() admin.Check {
	return admin.Check{Name: shutdownCheck, Check: func(context.Context) error {
		if err := d.Fault(); err != nil {
			return err
		}
		if d.draining.Load() {
			return errStopping
		}
		if !d.listening.Load() {
			return errStarting
		}
		return nil
	}}
}
