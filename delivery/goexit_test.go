package delivery_test

import (
	"context"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/imcallback/imcallback/dispatcher"
)

// exitOnce is a Processor whose first run of each event ends its
// goroutine with runtime.Goexit instead of returning, as a handler calling
// t.FailNow (t.Fatal) in a program's test does.
type exitOnce struct {
	mu   sync.Mutex
	runs map[string]int
	ok   map[string]bool
}

func (p *exitOnce) Process(_ context.Context, r *dispatcher.Request) error {
	p.mu.Lock()
	p.runs[r.RequestID]++
	first := p.runs[r.RequestID] == 1
	p.mu.Unlock()
	if first {
		runtime.Goexit()
	}
	p.mu.Lock()
	p.ok[r.RequestID] = true
	p.mu.Unlock()
	return nil
}

func (p *exitOnce) done(id string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ok[id]
}

// TestAHandlerThatExitsItsGoroutineIsAFailedAttempt: a handler that ends
// its goroutine with runtime.Goexit rather than returning fails that
// attempt, counted and retried with the backoff, as a panic does. Before,
// its in-progress notices went on for good: the event was never delivered
// again nor dead-lettered, and kept a slot of the consumer's pending
// acknowledgements, after the stop too.
func TestAHandlerThatExitsItsGoroutineIsAFailedAttempt(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		o := options(t, b)
		o.HandlerTimeout = 500 * time.Millisecond // notices every 2.5 s without the fix
		p := &exitOnce{runs: map[string]int{}, ok: map[string]bool{}}
		s := start(t, o, p)
		accept(t, s, request(testCommand, "exit"))
		eventually(t, 20*time.Second, "the event processed on its retry", func() bool { return p.done("req-exit") })
		eventually(t, 5*time.Second, "the outcomes counted", func() bool {
			return metric(t, s.reg, "imcallback_delivery_processed_total", "outcome", "ok") == 1
		})
		if n := metric(t, s.reg, "imcallback_delivery_processed_total", "outcome", "error"); n != 1 {
			t.Errorf("%v runs counted as errors, want 1 (the exit)", n)
		}
		if n := metric(t, s.reg, "imcallback_delivery_retries_total"); n != 1 {
			t.Errorf("%v retries counted, want 1", n)
		}
	})
}
