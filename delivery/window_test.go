package delivery_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

// A handler or destination that keeps failing must not take the consumer's
// whole window, which every command shares: once three quarters of it are
// held, a failed attempt is dead-lettered at once instead of waiting for
// its retry, and another command's events keep being delivered.
func TestFailuresPastThreeQuartersOfTheWindowAreDeadLetteredAtOnce(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		o := options(t, b)
		o.Workers = 1
		o.Window = 8 // shed from 6 held on
		o.Backoff = []time.Duration{time.Hour}
		o.MaxDeliveries = 10
		rec := newRecorder()
		rec.set(0, func(id string, _ int) error {
			if strings.HasPrefix(id, "bad") {
				return errors.New("destination down")
			}
			return nil
		})
		const other = "Test.CallbackAfterOther"
		s := start(t, o, dispatcherFor(t, rec, other))
		for i := range o.Window {
			id := fmt.Sprintf("bad%d", i)
			accept(t, s, request(testCommand, id))
			eventually(t, 10*time.Second, id+" attempted", func() bool { return len(rec.callTimes(id)) == 1 })
		}
		accept(t, s, request(other, "good"))
		eventually(t, 10*time.Second, "the other command's event applied", func() bool { return rec.appliedCount("good") == 1 })

		e := events(t, s)
		var shed []string
		eventually(t, 10*time.Second, "three dead letters", func() bool {
			shed = shed[:0]
			for _, d := range deadLetters(t, e) {
				shed = append(shed, strings.TrimPrefix(d.RequestID, "req-"))
				if !strings.Contains(d.Error, "destination down") || !strings.Contains(d.Error, "without waiting for its retry") ||
					!strings.Contains(d.Error, "of the 8 events") || d.Deliveries != 1 {
					t.Errorf("dead letter %s: deliveries %d, error %q", d.RequestID, d.Deliveries, d.Error)
				}
			}
			return len(shed) == 3
		})
		slices.Sort(shed)
		// The first five failures, under the mark, wait for their retries
		// as always: a short outage still heals by itself.
		if want := []string{"bad5", "bad6", "bad7"}; !slices.Equal(shed, want) {
			t.Errorf("dead-lettered %v, want %v", shed, want)
		}
		if n := metric(t, s.reg, "imcallback_delivery_retries_total", "command", testCommand); n != 5 {
			t.Errorf("retries_total = %v, want 5 (the failures under the mark)", n)
		}
		if n := metric(t, s.reg, "imcallback_delivery_dead_letters_total", "command", testCommand); n != 3 {
			t.Errorf("dead_letters_total = %v, want 3", n)
		}
	})
}
