package delivery_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imcallback/imcallback/delivery"
)

// TestADeadLetterIsReplayedOnce: two replays of one dead letter (a double
// click in the console, a retried request, a replay whose delete failed)
// store one copy in the work stream, so the handler runs once.
func TestADeadLetterIsReplayedOnce(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		o := options(t, b)
		o.MaxDeliveries = 1
		rec := newRecorder()
		var fixed atomic.Bool
		rec.set(0, func(string, int) error {
			if fixed.Load() {
				return nil
			}
			return errors.New("boom")
		})
		s := start(t, o, dispatcherFor(t, rec))
		accept(t, s, request(testCommand, "once"))
		e := events(t, s)
		eventually(t, 10*time.Second, "a dead letter", func() bool { return len(deadLetters(t, e)) == 1 })
		fixed.Store(true)

		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		js := s.Conn().JS
		dead, err := js.Stream(ctx, o.DeadStream())
		if err != nil {
			t.Fatal(err)
		}
		raw, err := dead.GetMsg(ctx, deadLetters(t, e)[0].Seq)
		if err != nil {
			t.Fatal(err)
		}
		for range 2 { // both replays read the dead letter before either deletes it
			if _, err := js.PublishMsg(ctx, e.Undead(raw)); err != nil {
				t.Fatal(err)
			}
		}
		eventually(t, 10*time.Second, "the replayed event applied", func() bool { return rec.appliedCount("once") == 1 })
		eventually(t, 10*time.Second, "nothing pending", func() bool { return pending(t, s) == 0 })
		copies := 0
		for _, ev := range listEvents(t, e, delivery.Filter{}) {
			if ev.ReplayOf != "" {
				copies++
			}
		}
		if copies != 1 || rec.appliedCount("once") != 1 {
			t.Errorf("%d copies in the work stream, applied %d times; want 1 and 1", copies, rec.appliedCount("once"))
		}
	})
}
