package delivery_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/imcallback/imcallback/delivery"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// A handler or destination that keeps failing must not take the consumer's
// whole window, which every command shares: once three quarters of it are
// held, a failed attempt is dead-lettered at once instead of waiting for
// its retry, and another command's events keep being delivered.
func TestFailuresPastThreeQuartersOfTheWindowAreDeadLetteredAtOnce(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		o := shedOptions(t, b)
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

// shedOptions are the options of a service that sheds from a window of 8
// (from 6 events held on), one worker, whose retries wait an hour.
func shedOptions(t *testing.T, b backend) delivery.Options {
	o := options(t, b)
	o.Workers = 1
	o.Window = 8 // shed from 6 held on
	o.Backoff = []time.Duration{time.Hour}
	o.MaxDeliveries = 10
	return o
}

// TestShedEventWhoseDeadLetterIsRefusedIsSaidToBeAttemptedAgain: an event
// shed from a full window whose dead letter the dead-letter stream refuses
// is not owed its dead-lettering: its next delivery runs the handler again
// (doc.go). Its error line said its dead-lettering was retried, as for an
// event whose last attempt failed.
func TestShedEventWhoseDeadLetterIsRefusedIsSaidToBeAttemptedAgain(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		o := shedOptions(t, b)
		rec := newRecorder()
		rec.set(0, func(string, int) error { return errors.New("destination down") })
		core, logs := observer.New(zapcore.InfoLevel)
		s := startLogged(t, o, zap.New(zapcore.NewTee(core, testLogger(t).Core())), dispatcherFor(t, rec))
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		refuseDeadLetters(ctx, t, s)
		for i := range 6 {
			id := fmt.Sprintf("bad%d", i)
			accept(t, s, request(testCommand, id))
			eventually(t, 10*time.Second, id+" attempted", func() bool { return len(rec.callTimes(id)) == 1 })
		}
		eventually(t, 10*time.Second, "the shed event's dead letter refused", func() bool {
			return logs.FilterMessageSnippet("cannot store the dead letter").Len() > 0
		})
		for _, l := range logs.FilterMessageSnippet("cannot store the dead letter").All() {
			if !strings.Contains(l.Message, "it is attempted again") || strings.Contains(l.Message, "dead-lettering is retried") {
				t.Errorf("the refused dead letter's line %q, want it to say the event is attempted again", l.Message)
			}
		}
	})
}
