// Package writeproof is the one reuse of a readiness check's test write,
// for delivery's stream check and the SQLite topic store's: a write that
// succeeded within the window (Window, a second) stands for the check's
// probe, and one probe runs at a time, the checks that come while it runs
// taking its success. /readyz needs no token and runs its checks at each
// request, and each probe is a real write: however many requests come, a
// store is probed at most once a window. A failed probe is not reused:
// the next check probes again.
package writeproof

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"
)

// Window is how long a successful write stands for a probe.
const Window = time.Second

// Proof remembers the last successful write of a store and runs its
// probes one at a time. Use New: the zero value has no window and no
// probe slot.
type Proof struct {
	window  atomic.Int64  // how long a successful write stands for a probe, in nanoseconds
	last    atomic.Int64  // unix nanoseconds of the last successful write; 0: none
	probing chan struct{} // held by the one probe under way
}

// New returns a Proof with no write yet and the window Window.
func New() *Proof {
	p := &Proof{probing: make(chan struct{}, 1)}
	p.window.Store(int64(Window))
	return p
}

// SetWindow sets how long a successful write stands for a probe (tests
// lengthen it).
func (p *Proof) SetWindow(d time.Duration) { p.window.Store(int64(d)) }

// Wrote notes a write that succeeded now: an append, a probe.
func (p *Proof) Wrote() { p.last.Store(time.Now().UnixNano()) }

// Recent reports whether a write succeeded within the window and stale
// (nil: never) reports false: stale tells of a failure since that the
// last success does not answer for (a write failed after it).
func (p *Proof) Recent(stale func() bool) bool {
	last := p.last.Load()
	return last != 0 && (stale == nil || !stale()) && time.Since(time.Unix(0, last)) < time.Duration(p.window.Load())
}

// Check returns nil when a write succeeded recently (Recent), and runs
// probe otherwise, one at a time: a check that comes while another's probe
// runs waits for it (until ctx ends), and takes its success. A probe that
// succeeds counts as a write (Wrote); one that fails is returned and not
// reused, so the next check probes again.
func (p *Proof) Check(ctx context.Context, stale func() bool, probe func(context.Context) error) error {
	if p.Recent(stale) {
		return nil
	}
	select {
	case p.probing <- struct{}{}:
		defer func() { <-p.probing }()
	case <-ctx.Done():
		return fmt.Errorf("waiting for the probe under way: %w", ctx.Err())
	}
	if p.Recent(stale) { // the probe waited for succeeded
		return nil
	}
	if err := probe(ctx); err != nil {
		return err
	}
	p.Wrote()
	return nil
}
