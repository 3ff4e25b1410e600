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

// TestHandlerIsNotRedeliveredUnderAShorterAckWaitOfAnotherReplica: the
// consumer is shared, and its ack wait is the one the replica that set it
// up last asked for (HandlerTimeout + 5 s): in a rolling update that lowers
// IMCALLBACK_HANDLER_TIMEOUT, the replicas still on the old value run
// handlers longer than the new ack wait. Such a handler, running within its
// own deadline, must not have its event delivered again while it runs.
func TestHandlerIsNotRedeliveredUnderAShorterAckWaitOfAnotherReplica(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		o := options(t, b)
		o.HandlerTimeout = 20 * time.Second // ack wait 25 s
		p := &deafProcessor{run: 15 * time.Second}
		s := start(t, o, p)

		// A replica with a HandlerTimeout of 7 s sets the ack wait to 12 s:
		// the notices come every 4 s, and one late by up to 8 s (a loaded
		// machine) still keeps the event.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		js := s.Conn().JS
		c, err := js.Consumer(ctx, o.Stream, s.Options().Consumer)
		if err != nil {
			t.Fatal(err)
		}
		cfg := c.CachedInfo().Config
		cfg.AckWait = 12 * time.Second
		if _, err := js.UpdateConsumer(ctx, o.Stream, cfg); err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, "the workers read the shorter ack wait", func() bool {
			return s.ConsumerAckWait() == cfg.AckWait
		})

		accept(t, s, request(testCommand, "slow"))
		eventually(t, 45*time.Second, "the handler's run ended", func() bool {
			_, _, done := p.counts()
			return done >= 1
		})
		eventually(t, 10*time.Second, "nothing pending", func() bool { return pending(t, s) == 0 })
		if calls, most, _ := p.counts(); calls != 1 || most != 1 {
			t.Errorf("the handler ran %d times, %d at once; want once: the event was redelivered while its handler ran", calls, most)
		}
	})
}
