package delivery_test

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestStopDuringAPauseWaitsForItsHandlers: a stop that comes while a
// pause is still waiting for its handlers waits for them too, so the
// connection is not closed under them (their acks would fail and the
// events run again).
func TestStopDuringAPauseWaitsForItsHandlers(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		o := options(t, b)
		rec := newRecorder()
		rec.set(500*time.Millisecond, nil)
		s := start(t, o, dispatcherFor(t, rec))
		for i := range o.Workers {
			accept(t, s, request(testCommand, fmt.Sprintf("p%02d", i)))
		}
		for range o.Workers { // every worker busy
			<-rec.started
		}
		paused := make(chan error, 1)
		go func() { paused <- s.Pause(context.Background()) }()
		eventually(t, 5*time.Second, "the pause to take the workers", s.Paused)

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
		rec.set(300*time.Millisecond, nil)
		s := start(t, o, dispatcherFor(t, rec))
		n := 3 * o.Workers
		for i := range n {
			accept(t, s, request(testCommand, fmt.Sprintf("r%02d", i)))
		}
		for range o.Workers {
			<-rec.started
		}
		paused := make(chan error, 1)
		go func() { paused <- s.Pause(context.Background()) }()
		eventually(t, 5*time.Second, "the pause to take the workers", s.Paused)
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
