package server

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"go.uber.org/zap"

	"github.com/imcallback/imcallback/admin"
	"github.com/imcallback/imcallback/config"
)

// Drain is the pause between a stop signal and the stop: for
// IMCALLBACK_SHUTDOWN_DELAY the listeners keep serving while /readyz
// answers 503, so that a load balancer (Kubernetes' endpoints) stops
// sending callbacks before the public listener closes. IM does not resend
// an after-callback whose connection was refused.
type Drain struct {
	delay    time.Duration
	log      *zap.Logger
	draining atomic.Bool
}

// errStopping is the readiness check's answer while the service drains.
var errStopping = errors.New("stopping: the service drains before it stops")

func newDrain(cfg *config.Config, log *zap.Logger) *Drain {
	return &Drain{delay: cfg.ShutdownDelay, log: log}
}

// Stopping makes /readyz answer 503 from now on, its check shutdown
// saying "stopping": the stop signal has come, and whatever the delay, the
// stop follows. It returns at once.
func (d *Drain) Stopping() {
	if d == nil {
		return
	}
	d.draining.Store(true)
}

// Begin makes /readyz answer 503 (as Stopping does) and waits the delay;
// it returns at once when the delay is 0.
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
	time.Sleep(d.delay)
}

// check is the readiness check that fails while the service drains.
func (d *Drain) check() admin.Check {
	return admin.Check{Name: "shutdown", Check: func(context.Context) error {
		if d.draining.Load() {
			return errStopping
		}
		return nil
	}}
}
