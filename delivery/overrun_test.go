package delivery_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/imcallback/imcallback/dispatcher"
)

// deafProcessor ignores its context: each call takes run, whatever the
// deadline. It records how many calls run at once.
type deafProcessor struct {
	run time.Duration

	mu                   sync.Mutex
	calls, running, most int
	done                 int
}

func (p *deafProcessor) Process(context.Context, *dispatcher.Request) error {
	p.mu.Lock()
	p.calls++
	p.running++
	p.most = max(p.most, p.running)
	p.mu.Unlock()
	time.Sleep(p.run)
	p.mu.Lock()
	p.running--
	p.done++
	p.mu.Unlock()
	return nil
}

func (p *deafProcessor) counts() (calls, most, done int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls, p.most, p.done
}

// TestHandlerPastItsDeadlineIsNotRedeliveredWhileItRuns: a handler that
// ignores its context runs past the ack wait (HandlerTimeout + 5 s). Its
// event must not be delivered again while it still runs: a second run at
// the same time (here, or on another replica) would apply it twice at once
// and count an attempt that never ended as spent.
func TestHandlerPastItsDeadlineIsNotRedeliveredWhileItRuns(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		o := options(t, b)
		o.HandlerTimeout = 500 * time.Millisecond // ack wait 5.5 s
		p := &deafProcessor{run: 8 * time.Second}
		s := start(t, o, p)
		accept(t, s, request(testCommand, "slow"))
		eventually(t, 20*time.Second, "the handler's run ended", func() bool {
			_, _, done := p.counts()
			return done >= 1
		})
		eventually(t, 10*time.Second, "nothing pending", func() bool { return pending(t, s) == 0 })
		if calls, most, _ := p.counts(); calls != 1 || most != 1 {
			t.Errorf("the handler ran %d times, %d at once; want once: the event was redelivered while its handler ran", calls, most)
		}
	})
}
