package delivery_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/imcallback/imcallback/delivery"
)

// TestStopDuringAPauseWaitsForItsHandlers: a stop that comes while a
// pause is still waiting for its handlers waits for them too, so the
// connection is not closed under them (their acks would fail and the
// events run again).
func TestStopDuringAPauseWaitsForItsHandlers(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		o := options(t, b)
		rec := newRecorder()
		s, paused := pauseWhileBusy(t, o, rec, 500*time.Millisecond, "p", o.Workers)

		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.StopWorkers(ctx); err != nil {
			t.Fatalf("stop workers: %v", err)
		}
		if n := rec.runningCount(); n != 0 {
			t.Fatalf("StopWorkers returned with %d handlers of the paused workers still running", n)
		}
		if err := <-paused; err != nil {
			t.Fatalf("pause: %v", err)
		}
		for i := range o.Workers {
			if id := fmt.Sprintf("p%02d", i); rec.appliedCount(id) != 1 {
				t.Errorf("%s applied %d times, want 1", id, rec.appliedCount(id))
			}
		}
	})
}

// TestResumeWaitsForThePausedHandlers: a resume while the pause is still
// waiting for its handlers starts the new workers only after those have
// finished, so no more than Workers handlers ever run at once.
func TestResumeWaitsForThePausedHandlers(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		o := options(t, b)
		rec := newRecorder()
		n := 3 * o.Workers
		s, paused := pauseWhileBusy(t, o, rec, 300*time.Millisecond, "r", n)
		if err := s.Resume(); err != nil {
			t.Fatalf("resume: %v", err)
		}
		if err := <-paused; err != nil {
			t.Fatalf("pause: %v", err)
		}
		eventually(t, 20*time.Second, "every event applied", func() bool { return rec.storedCount() == n })
		if m := rec.maxRunningCount(); m > o.Workers {
			t.Errorf("%d handlers ran at once, more than the %d workers", m, o.Workers)
		}
	})
}

// pauseWhileBusy starts a service whose handlers take delay, accepts n
// events (prefix00, prefix01, …), waits until every worker runs one, and
// pauses in the background. It returns once the pause has taken the
// workers and is waiting for their handlers; the pause's result arrives
// on paused.
func pauseWhileBusy(t *testing.T, o delivery.Options, rec *recorder, delay time.Duration, prefix string, n int) (s started, paused <-chan error) {
	t.Helper()
	rec.set(delay, nil)
	s = start(t, o, dispatcherFor(t, rec))
	for i := range n {
		accept(t, s, request(testCommand, fmt.Sprintf("%s%02d", prefix, i)))
	}
	for range o.Workers { // every worker busy
		<-rec.started
	}
	result := make(chan error, 1)
	go func() { result <- s.Pause(context.Background()) }()
	eventually(t, 5*time.Second, "the pause to take the workers", s.Paused)
	return s, result
}
