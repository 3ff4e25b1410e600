package delivery_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

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

// TestASecondPauseWaitsForTheFirstsHandlers: a pause that comes while an
// earlier one is still waiting for its handlers (a double click, a retried
// request, two operators) answers once those have finished too, as the
// first does, not at once while they still run against what is being
// fixed.
func TestASecondPauseWaitsForTheFirstsHandlers(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		o := options(t, b)
		rec := newRecorder()
		s, paused := pauseWhileBusy(t, o, rec, 500*time.Millisecond, "s", o.Workers)
		if err := s.Pause(context.Background()); err != nil {
			t.Fatalf("second pause: %v", err)
		}
		if n := rec.runningCount(); n != 0 {
			t.Errorf("the second pause returned with %d handlers of the first still running", n)
		}
		if err := <-paused; err != nil {
			t.Fatalf("first pause: %v", err)
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

// TestAPauseWhoseCallerLeftStillWaitsForItsHandlers: POST
// /v1/delivery/pause waits for the running handlers as a shutdown does,
// for up to the shutdown timeout, also when its caller goes away meanwhile
// (the CLI interrupted or past its own timeout, the admin listener's read
// timeout). Before, the request's end cancelled the running handlers: their
// runs were cut short and their events ran again after the resume.
func TestAPauseWhoseCallerLeftStillWaitsForItsHandlers(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		o := options(t, b)
		rec := newRecorder()
		s, e := busyAdmin(t, o, rec, time.Second, "c")
		gone, cancel := context.WithCancel(context.Background())
		cancel() // the caller went away
		w := httptest.NewRecorder()
		e.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/v1/delivery/pause", nil).WithContext(gone))
		if !s.Paused() {
			t.Fatalf("POST /v1/delivery/pause: %d %s, and delivery is not paused", w.Code, w.Body)
		}
		for i := range o.Workers {
			if id := fmt.Sprintf("c%02d", i); rec.appliedCount(id) != 1 {
				t.Errorf("%s applied %d times when the pause returned, want 1: its run was cut short", id, rec.appliedCount(id))
			}
		}
		if n := metric(t, s.reg, "imcallback_delivery_processed_total", "outcome", "interrupted"); n != 0 {
			t.Errorf("%v runs counted as interrupted, want 0", n)
		}
	})
}

// TestAPauseEndedByTheStopIsNotAnsweredAsDone: a stop of the service
// while POST /v1/delivery/pause waited for the running handlers ended the
// pause (StopWorkers), and the pause was answered 200 with the state
// "running", which `delivery pause` printed and exited 0 on. It is a 503
// saying delivery is not paused.
func TestAPauseEndedByTheStopIsNotAnsweredAsDone(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s, e := busyAdmin(t, options(t, b), newRecorder(), 500*time.Millisecond, "e")
		answered := make(chan *httptest.ResponseRecorder, 1)
		go func() {
			w := httptest.NewRecorder()
			e.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/v1/delivery/pause", nil))
			answered <- w
		}()
		eventually(t, 5*time.Second, "the pause to take the workers", s.Paused)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.StopWorkers(ctx); err != nil {
			t.Fatalf("stop workers: %v", err)
		}
		w := <-answered
		if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), "delivery is not paused") {
			t.Errorf("POST /v1/delivery/pause ended by the stop: %d %s, want a 503 saying delivery is not paused", w.Code, w.Body)
		}
	})
}

// busyAdmin starts a service whose handlers take delay, accepts one event
// per worker (prefix00, prefix01, …), waits until every worker runs one,
// and returns the service with an echo serving its admin routes.
func busyAdmin(t *testing.T, o delivery.Options, rec *recorder, delay time.Duration, prefix string) (started, *echo.Echo) {
	t.Helper()
	rec.set(delay, nil)
	s := start(t, o, dispatcherFor(t, rec))
	for i := range o.Workers {
		accept(t, s, request(testCommand, fmt.Sprintf("%s%02d", prefix, i)))
	}
	for range o.Workers { // every worker busy
		<-rec.started
	}
	e := echo.New()
	for _, r := range delivery.AdminRoutes(s.Service) {
		e.Add(r.Method, r.Path, r.Handler)
	}
	return s, e
}

// TestStartWorkersWhilePausedIsRefused: the workers a Pause stopped are
// still started (Resume starts them again), so a second StartWorkers is
// refused as it is while they run, and changes nothing: before, it started
// workers that ran every event while Paused still said true, and the
// Resume that followed failed with "workers already started".
func TestStartWorkersWhilePausedIsRefused(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		o := options(t, b)
		rec := newRecorder()
		s := start(t, o, dispatcherFor(t, rec))
		if err := s.Pause(context.Background()); err != nil {
			t.Fatalf("pause: %v", err)
		}
		if err := s.StartWorkers(dispatcherFor(t, rec)); err == nil {
			t.Error("StartWorkers while paused: no error")
		}
		if !s.Paused() {
			t.Error("StartWorkers while paused ended the pause")
		}
		accept(t, s, request(testCommand, "held"))
		if err := s.Resume(); err != nil {
			t.Fatalf("resume: %v", err)
		}
		eventually(t, 20*time.Second, "the event applied after the resume", func() bool { return rec.appliedCount("held") == 1 })
	})
}
