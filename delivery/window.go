package delivery

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// The consumer's window (Options.Window, its MaxAckPending) is shared by
// every command, destination and replica: an event waiting for its retry
// holds a place of it for the whole backoff. One destination that keeps
// failing would fill it, and then nothing more is delivered to anyone
// until its copies are dead-lettered, up to an hour later with the default
// backoff. So once three quarters of the window are held, an event whose attempt
// fails is dead-lettered at once (replayable like any other) instead of
// waiting: the failing destination or handler gives up its places, and the
// rest of the window keeps every other command moving. Below that mark a
// failure waits for its retry as always, so a short outage still heals by
// itself.

// shedNumerator / shedDenominator is the share of the window past which a
// failed attempt is dead-lettered at once: three quarters.
const (
	shedNumerator   = 3
	shedDenominator = 4
)

// windowReadTimeout bounds one read of the consumer's information on the
// failure path; a read that fails or times out leaves the event to its retry.
const windowReadTimeout = 2 * time.Second

// windowState is a reading of the consumer's window.
type windowState struct {
	held  int // delivered and not yet acknowledged, across every replica
	limit int // the consumer's MaxAckPending
}

// shed reports whether a failed attempt is dead-lettered at once.
func (s windowState) shed() bool {
	return s.limit > 0 && s.held*shedDenominator >= s.limit*shedNumerator
}

// errWindowFull is the dead-letter reason of an event shed from a window
// three quarters full: the attempt's own error, and why it did not
// wait for its retry.
type errWindowFull struct {
	err   error
	state windowState
}

func (e *errWindowFull) Error() string {
	return fmt.Sprintf("%v (dead-lettered without waiting for its retry: %d of the %d events the consumer may hold "+
		"unacknowledged were held, and waiting for its retry would keep its place for the whole backoff; replay it once the cause is fixed)",
		e.err, e.state.held, e.state.limit)
}

func (e *errWindowFull) Unwrap() error { return e.err }

// windowReader reads the consumer's window on the failure path. Reads do
// not overlap: a failure that comes while one is in flight takes that
// read's answer, so a burst of failures costs one request at a time.
type windowReader struct {
	mu      sync.Mutex
	current jetstream.Consumer // the consumer the workers fetch from
	flight  *windowRead        // the read in flight, if any
}

// windowRead is one read of the consumer's information.
type windowRead struct {
	done  chan struct{}
	state windowState
	ok    bool
}

// use makes c the consumer later reads ask.
func (r *windowReader) use(c jetstream.Consumer) {
	r.mu.Lock()
	r.current = c
	r.mu.Unlock()
}

// read returns the window's state as the server reports it now, or false
// when it cannot be read (no consumer yet, a NATS error, ctx done). The
// first caller makes the read; those that come while it is in flight wait
// for its answer.
func (r *windowReader) read(ctx context.Context) (windowState, bool) {
	r.mu.Lock()
	if f := r.flight; f != nil {
		r.mu.Unlock()
		select {
		case <-f.done:
			return f.state, f.ok
		case <-ctx.Done():
			return windowState{}, false
		}
	}
	c := r.current
	if c == nil {
		r.mu.Unlock()
		return windowState{}, false
	}
	f := &windowRead{done: make(chan struct{})}
	r.flight = f
	r.mu.Unlock()

	ctx, cancel := context.WithTimeout(ctx, windowReadTimeout)
	info, err := c.Info(ctx)
	cancel()
	if err == nil {
		f.state, f.ok = windowState{held: info.NumAckPending, limit: info.Config.MaxAckPending}, true
	}
	r.mu.Lock()
	r.flight = nil
	r.mu.Unlock()
	close(f.done)
	return f.state, f.ok
}
