package delivery_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/imcallback/imcallback/dispatcher"
)

// failOnce is a Processor of its own (not a dispatcher, which recovers its
// handlers' panics) whose first run of each event calls fail instead of
// returning: a panic, or runtime.Goexit.
type failOnce struct {
	fail func()
	mu   sync.Mutex
	runs map[string]int
	ok   map[string]bool
}

func (p *failOnce) Process(_ context.Context, r *dispatcher.Request) error {
	p.mu.Lock()
	p.runs[r.RequestID]++
	first := p.runs[r.RequestID] == 1
	p.mu.Unlock()
	if first {
		p.fail()
	}
	p.mu.Lock()
	p.ok[r.RequestID] = true
	p.mu.Unlock()
	return nil
}

func (p *failOnce) done(id string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ok[id]
}

// testFailedAttempt checks that a first run of an event that calls fail
// instead of returning is one failed attempt, counted and retried with the
// backoff like an error, and that the retry processes the event. o's
// HandlerTimeout is handlerTimeout unless that is 0.
func testFailedAttempt(t *testing.T, fail func(), handlerTimeout time.Duration) {
	forEachBackend(t, func(t *testing.T, b backend) {
		o := options(t, b)
		if handlerTimeout > 0 {
			o.HandlerTimeout = handlerTimeout
		}
		p := &failOnce{fail: fail, runs: map[string]int{}, ok: map[string]bool{}}
		s := start(t, o, p)
		accept(t, s, request(testCommand, "fail"))
		eventually(t, 20*time.Second, "the event processed on its retry", func() bool { return p.done("req-fail") })
		eventually(t, 5*time.Second, "the outcomes counted", func() bool {
			return metric(t, s.reg, "imcallback_delivery_processed_total", "outcome", "ok") == 1
		})
		if n := metric(t, s.reg, "imcallback_delivery_processed_total", "outcome", "error"); n != 1 {
			t.Errorf("%v runs counted as errors, want 1 (the failed first run)", n)
		}
		if n := metric(t, s.reg, "imcallback_delivery_retries_total"); n != 1 {
			t.Errorf("%v retries counted, want 1", n)
		}
	})
}

// TestAProcessorPanicIsAFailedAttempt: a Processor that panics (one of the
// program's own: the dispatcher recovers its handlers') fails that attempt,
// which is counted and retried with the backoff like an error, as the
// README promises of a panic. Before, the panic ended the whole process,
// every other running handler cut short with it, and on every replica the
// event was delivered to in turn.
func TestAProcessorPanicIsAFailedAttempt(t *testing.T) {
	testFailedAttempt(t, func() { panic("processor bug") }, 0)
}
