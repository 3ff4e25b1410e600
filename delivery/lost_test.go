package delivery_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/imcallback/imcallback/delivery"
	"github.com/imcallback/imcallback/protocol"
)

// Faults in which an acknowledged event was never processed or never
// dead-lettered.

// TestConsumerDeletedWhileEveryWorkerIsBusy: with no fetch waiting when the
// consumer is deleted, the next fetch fails with "no responders" rather than
// "consumer deleted"; the workers reopen (and recreate) it all the same,
// instead of retrying the dead handle for good.
func TestConsumerDeletedWhileEveryWorkerIsBusy(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		o := options(t, b)
		o.Workers = 1
		rec := newRecorder()
		rec.set(1500*time.Millisecond, nil)
		s := start(t, o, dispatcherFor(t, rec))
		accept(t, s, request(testCommand, "busy"))
		select {
		case <-rec.started:
		case <-time.After(10 * time.Second):
			t.Fatal("the handler did not start")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.Conn().JS.DeleteConsumer(ctx, s.Options().Stream, s.Options().Consumer); err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, "the busy event applied", func() bool { return rec.appliedCount("busy") == 1 })
		rec.set(0, nil)
		accept(t, s, request(testCommand, "after"))
		eventually(t, 20*time.Second, "the event after the deletion applied", func() bool { return rec.appliedCount("after") == 1 })
	})
}

// TestRecreatedConsumerDoesNotRunProcessedEventsAgain: a consumer deleted
// while the service runs is recreated after the acknowledgement floor the
// workers last read, not from the stream's start, which would run every
// stored event again. A work stream deleted and created again is read from
// its start: its events are numbered from 1 again.
func TestRecreatedConsumerDoesNotRunProcessedEventsAgain(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		o := options(t, b)
		rec := newRecorder()
		s := start(t, o, dispatcherFor(t, rec))
		for i := range 5 {
			accept(t, s, request(testCommand, fmt.Sprint("old", i)))
		}
		eventually(t, 10*time.Second, "the old events applied", func() bool { return rec.storedCount() == 5 })
		eventually(t, 10*time.Second, "their floor read", func() bool { return s.ResumeFloor() == 5 })
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if err := s.Conn().JS.DeleteConsumer(ctx, s.Options().Stream, s.Options().Consumer); err != nil {
			t.Fatal(err)
		}
		accept(t, s, request(testCommand, "after"))
		eventually(t, 20*time.Second, "the event after the deletion applied", func() bool { return rec.appliedCount("after") == 1 })
		for i := range 5 {
			if n := len(rec.callTimes(fmt.Sprint("old", i))); n != 1 {
				t.Errorf("old%d ran %d times, want once", i, n)
			}
		}

		if err := s.Conn().JS.DeleteStream(ctx, s.Options().Stream); err != nil {
			t.Fatal(err)
		}
		waitStreamSetUpAgain(ctx, t, s)
		accept(t, s, request(testCommand, "new stream")) // sequence 1 again, below the old floor
		eventually(t, 20*time.Second, "the first event of the new stream applied", func() bool { return rec.appliedCount("new stream") == 1 })
	})
}

// TestDeletedDeadLetterStreamIsSetUpAgain: the service probes the work
// stream only, so a dead-letter stream deleted while it runs went unnoticed:
// no event could be dead-lettered again, and a failing one cycled in the
// work stream until it expired. The failed dead-lettering now has the
// stream set up again, and the dead letter carries the handler's error,
// not the interrupted-attempt reason of the delivery after it.
func TestDeletedDeadLetterStreamIsSetUpAgain(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		o := options(t, b)
		o.MaxDeliveries = 1
		rec, letters, _ := deadLetteredWithoutItsStream(t, o)
		if d := letters[0]; d.Error != "members table missing" {
			t.Errorf("the dead letter's error is %q, want the handler's", d.Error)
		}
		if n := len(rec.callTimes("fails")); n != 1 {
			t.Errorf("the handler ran %d times, want MaxDeliveries = 1", n)
		}
	})
}

// TestDeadLetterStreamThatLostItsSubjectsIsSetUpAgain: the supervisor set
// up again a work stream whose subjects an older replica or an operator
// changed, but not the dead-letter stream: with its subjects changed no
// dead letter was stored ("no response from stream"), and every failing
// event cycled in the work stream until the retention dropped it, until a
// restart of the service. The supervisor's check (at once after the failed
// dead-lettering) now sets its subjects again, and the dead letter is stored.
func TestDeadLetterStreamThatLostItsSubjectsIsSetUpAgain(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		o := options(t, b)
		o.MaxDeliveries = 1
		rec := newRecorder()
		rec.set(0, func(id string, _ int) error {
			if id == "fails" {
				return errors.New("members table missing")
			}
			return nil
		})
		core, logs := observer.New(zapcore.InfoLevel)
		s := startLogged(t, o, zap.New(core), dispatcherFor(t, rec))
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		js := s.Conn().JS
		st, err := js.Stream(ctx, o.DeadStream())
		if err != nil {
			t.Fatal(err)
		}
		cfg := st.CachedInfo().Config
		cfg.Subjects = []string{"elsewhere_" + o.SubjectPrefix + ".>"}
		if _, err := js.UpdateStream(ctx, cfg); err != nil {
			t.Fatal(err)
		}
		accept(t, s, request(testCommand, "fails"))
		e := events(t, s)
		// Callbacks are stored all along: only dead letters need the stream.
		during := 0
		eventually(t, 20*time.Second, "the dead letter stored", func() bool {
			during++
			accept(t, s, request(testCommand, fmt.Sprintf("during-%d", during)))
			return len(deadLetters(t, e)) == 1
		})
		if d := deadLetters(t, e)[0]; d.Error != "members table missing" {
			t.Errorf("the dead letter's error is %q, want the handler's", d.Error)
		}
		st, err = js.Stream(ctx, o.DeadStream())
		if err != nil {
			t.Fatal(err)
		}
		if got, want := st.CachedInfo().Config.Subjects, []string{o.DeadPrefix() + ".>"}; !slices.Equal(got, want) {
			t.Errorf("the dead-letter stream's subjects are %q, want %q", got, want)
		}
		// The supervisor warns after its update of the stream returned: the
		// event's redelivery (a backoff of 20 ms) can store its letter first.
		eventually(t, 10*time.Second, "a warning that names the dead-letter stream's changed subjects", func() bool {
			return logs.FilterMessageSnippet("they are set again").Len() > 0
		})
		if n := len(rec.callTimes("fails")); n != 1 {
			t.Errorf("the handler ran %d times, want MaxDeliveries = 1", n)
		}
	})
}

// TestEventLogIsUnavailableWhileTheDeadLetterStreamIsGone: with the
// dead-letter stream deleted the admin API's event log answers 503 (the
// state of an event cannot be told without its dead letters), not a list
// that silently lacks them, while callbacks are still stored; once the
// supervisor sets the stream up again it answers 200. The supervisor may
// set it up again during a request: such a round is tried again.
func TestEventLogIsUnavailableWhileTheDeadLetterStreamIsGone(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		o := options(t, b)
		s := start(t, o, nil)
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		js := s.Conn().JS
		e := echo.New()
		for _, r := range delivery.AdminRoutes(s.Service) {
			e.Add(r.Method, r.Path, r.Handler)
		}
		get := func(path string) *httptest.ResponseRecorder {
			w := httptest.NewRecorder()
			e.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil).WithContext(ctx))
			return w
		}
		paths := []string{"/v1/events?limit=10", "/v1/events/1", "/v1/dead-letters?limit=10", "/v1/delivery"}
		accept(t, s, request(testCommand, "before"))
		for _, path := range paths {
			if w := get(path); w.Code != http.StatusOK {
				t.Fatalf("GET %s before the deletion: %d %s", path, w.Code, w.Body)
			}
		}
		gone := func() bool {
			_, err := js.Stream(ctx, o.DeadStream())
			return errors.Is(err, jetstream.ErrStreamNotFound)
		}
		for _, path := range paths {
			for round := 0; ; round++ {
				if round == 10 {
					t.Fatalf("GET %s: the dead-letter stream was set up again during every one of 10 requests", path)
				}
				if !gone() {
					if err := js.DeleteStream(ctx, o.DeadStream()); err != nil {
						t.Fatal(err)
					}
				}
				accept(t, s, request(testCommand, "while-gone")) // still stored (a duplicate after the first)
				w := get(path)
				if w.Code == http.StatusServiceUnavailable {
					break
				}
				if gone() { // missing before and after the request, and answered anyway
					t.Fatalf("GET %s without the dead-letter stream: %d %s, want 503", path, w.Code, w.Body)
				}
			}
		}
		eventually(t, 20*time.Second, "the dead-letter stream set up again", func() bool { return !gone() })
		for _, path := range paths {
			if w := get(path); w.Code != http.StatusOK {
				t.Errorf("GET %s once the dead-letter stream is back: %d %s", path, w.Code, w.Body)
			}
		}
	})
}

// TestFailedDeadLetteringIsRetriedAfterTheFirstDelay: an event whose dead
// letter could not be stored (the dead-letter stream deleted) waited out the
// backoff of its last delivery, the longest (10 minutes by default), before
// the dead-lettering was tried again. It is retried after the first delay.
// Each refused write is counted in
// imcallback_delivery_dead_letter_failures_total (it was only logged), the
// stored one in imcallback_delivery_dead_letters_total.
func TestFailedDeadLetteringIsRetriedAfterTheFirstDelay(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		o := options(t, b)
		o.MaxDeliveries = 2
		o.Backoff = []time.Duration{20 * time.Millisecond, time.Hour}
		rec, _, s := deadLetteredWithoutItsStream(t, o)
		if n := len(rec.callTimes("fails")); n != 2 {
			t.Errorf("the handler ran %d times, want MaxDeliveries = 2", n)
		}
		if n := metric(t, s.reg, "imcallback_delivery_dead_letter_failures_total", "command", testCommand); n < 1 {
			t.Errorf("dead_letter_failures_total = %v, want at least the write refused while the stream was gone", n)
		}
		if n := metric(t, s.reg, "imcallback_delivery_dead_letters_total", "command", testCommand); n != 1 {
			t.Errorf("dead_letters_total = %v, want 1", n)
		}
	})
}

// deadLetteredWithoutItsStream starts a service with o whose handler always
// fails, deletes its dead-letter stream, accepts one event and waits until
// the event's dead letter is stored in the stream set up again and the
// event terminated. It returns the handler's calls, the dead letters and
// the service.
func deadLetteredWithoutItsStream(t *testing.T, o delivery.Options) (*recorder, []delivery.DeadLetter, started) {
	t.Helper()
	rec := newRecorder()
	rec.set(0, func(string, int) error { return errors.New("members table missing") })
	s := start(t, o, dispatcherFor(t, rec))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := s.Conn().JS.DeleteStream(ctx, s.Options().DeadStream()); err != nil {
		t.Fatal(err)
	}
	accept(t, s, request(testCommand, "fails"))
	e := events(t, s)
	// The termination too: the worker counts the dead letter once the
	// stream's acknowledgement of it comes back, after the letter can be
	// read, and terminates the event after counting it.
	eventually(t, 20*time.Second, "the dead letter stored and the event terminated", func() bool {
		_, err := s.Conn().JS.Stream(ctx, s.Options().DeadStream())
		return err == nil && len(deadLetters(t, e)) == 1 && pending(t, s) == 0
	})
	return rec, deadLetters(t, e), s
}

// TestDeadLetterOfARecreatedStream: a recreated work stream numbers from 1
// again; its failing event at a sequence already dead-lettered is
// dead-lettered too, not taken for the stored dead letter and terminated.
func TestDeadLetterOfARecreatedStream(t *testing.T) {
	o := options(t, backend{name: "embedded"})
	rec := newRecorder()
	rec.set(0, func(string, int) error { return errors.New("members table missing") })
	s := start(t, o, dispatcherFor(t, rec))
	s.SetWriteProves(time.Hour) // no probe takes the new stream's sequence 1
	e := events(t, s)
	accept(t, s, request(testCommand, "first"))
	eventually(t, 10*time.Second, "the first dead letter", func() bool { return len(deadLetters(t, e)) == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	recreateWorkStream(ctx, t, s)
	accept(t, s, request(testCommand, "second")) // sequence 1 again
	eventually(t, 20*time.Second, "the second dead letter", func() bool { return len(deadLetters(t, e)) == 2 })
	for _, d := range deadLetters(t, e) {
		if d.OriginalSeq != 1 {
			t.Errorf("a dead letter of sequence %d, want both of sequence 1", d.OriginalSeq)
		}
	}
}

// recreateWorkStream deletes s's work stream and creates it again with
// its settings, empty: its events are numbered from 1 again. The test sets
// it up itself, for the supervisor's setup is followed by a probe, which
// takes sequence 1; s's probes must be held off too (SetWriteProves).
func recreateWorkStream(ctx context.Context, t *testing.T, s started) {
	t.Helper()
	js := s.Conn().JS
	st, err := js.Stream(ctx, s.Options().Stream)
	if err != nil {
		t.Fatal(err)
	}
	if err := js.DeleteStream(ctx, s.Options().Stream); err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateOrUpdateStream(ctx, st.CachedInfo().Config); err != nil {
		t.Fatal(err)
	}
}

// TestDeadLettersOfARecreatedStreamStayWithTheirEvents: dead letters name
// their event by work-stream sequence, which a recreated stream uses again.
// The event log does not show a new event as dead with an older event's
// error, and replaying the dead letter of a sequence replays the current
// stream's event, not the older one.
func TestDeadLettersOfARecreatedStreamStayWithTheirEvents(t *testing.T) {
	o := options(t, backend{name: "embedded"})
	o.MaxDeliveries = 1
	rec := newRecorder()
	failing := map[string]bool{"first": true, "third": true}
	var mu sync.Mutex
	rec.set(0, func(id string, _ int) error {
		mu.Lock()
		defer mu.Unlock()
		if failing[id] {
			return errors.New(id + " failed")
		}
		return nil
	})
	s := start(t, o, dispatcherFor(t, rec))
	s.SetWriteProves(time.Hour) // no probe takes the new stream's sequence 1
	e := events(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	recreate := func() {
		t.Helper()
		recreateWorkStream(ctx, t, s)
	}
	admin := echo.New()
	for _, r := range delivery.AdminRoutes(s.Service) {
		admin.Add(r.Method, r.Path, r.Handler)
	}

	accept(t, s, request(testCommand, "first")) // sequence 1
	eventually(t, 10*time.Second, "the first dead letter", func() bool { return len(deadLetters(t, e)) == 1 })
	recreate()
	accept(t, s, request(testCommand, "second")) // sequence 1 again, processed
	eventually(t, 20*time.Second, "the second event applied and acknowledged", func() bool {
		return rec.appliedCount("second") == 1 && pending(t, s) == 0
	})
	w := httptest.NewRecorder()
	admin.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/v1/events", nil))
	var page struct {
		Events []delivery.EventInfo `json:"events"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &page); err != nil || len(page.Events) != 1 {
		t.Fatalf("GET /v1/events: %d %s", w.Code, w.Body)
	}
	if ev := page.Events[0]; ev.State != delivery.StateProcessed || ev.LastError != "" {
		t.Errorf("the second event is %q with error %q, want processed", ev.State, ev.LastError)
	}

	recreate()
	accept(t, s, request(testCommand, "third")) // sequence 1 once more, dead-lettered
	eventually(t, 10*time.Second, "the third dead letter", func() bool { return len(deadLetters(t, e)) == 2 })
	mu.Lock()
	failing = map[string]bool{}
	mu.Unlock()
	res, err := e.ReplayDeadOf(ctx, []uint64{1}, nil)
	if err != nil || res.Replayed != 1 {
		t.Fatalf("ReplayDeadOf(1) = %+v, %v", res, err)
	}
	eventually(t, 20*time.Second, "the third event replayed", func() bool { return rec.appliedCount("third") == 1 })
	if n := len(rec.callTimes("first")); n != 1 {
		t.Errorf("the first event ran %d times, want once: the older dead letter was replayed", n)
	}
}

// TestEveryAcceptedEventCanBeDeadLettered: an event is accepted only with
// room under max_payload for what its dead letter adds, so even the
// largest accepted one is dead-lettered instead of failing to be, again
// and again, until it expires.
func TestEveryAcceptedEventCanBeDeadLettered(t *testing.T) {
	o := options(t, backend{name: "embedded"})
	o.MaxPayload = 8192
	s := start(t, o, nil)
	accepted := 0
	for n := 1000; n < 8192; n += 64 {
		r := request(testCommand, "big")
		r.Body = []byte(`{"CallbackCommand":"` + testCommand + `","Id":"big","Pad":"` + strings.Repeat("x", n) + `"}`)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := s.Accept(ctx, r)
		cancel()
		if errors.Is(err, protocol.ErrBodyTooLarge) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		accepted++
	}
	requireEveryAcceptedDeadLettered(t, s, accepted)
}

// TestEveryAcceptedEventsHeadersLeaveRoomForItsDeadLetter: the query
// parameters are stored in the event's headers, which NATS bounds at 64 KiB
// whatever max_payload says. An event whose query (a ClientIP of 60 KiB:
// the public listener takes a request line up to 64 KiB) leaves no room
// there for what its dead letter adds is refused as its headers too large
// (431 to IM); before, it was accepted and its dead letter refused again
// and again until the retention dropped it, and one over the bound was
// refused by the stream and answered 503, which IM retries.
func TestEveryAcceptedEventsHeadersLeaveRoomForItsDeadLetter(t *testing.T) {
	o := options(t, backend{name: "embedded"})
	s := start(t, o, nil)
	accepted := 0
	for n := 60 << 10; n < 64<<10; n += 256 {
		r := request(testCommand, fmt.Sprint("long-query-", n))
		r.Params.ClientIP = strings.Repeat("1", n)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := s.Accept(ctx, r)
		cancel()
		if errors.Is(err, protocol.ErrHeaderTooLarge) {
			break
		}
		if err != nil {
			t.Fatalf("a ClientIP of %d bytes: %v, want the event stored or refused with ErrHeaderTooLarge", n, err)
		}
		accepted++
	}
	requireEveryAcceptedDeadLettered(t, s, accepted)
}

// waitStreamSetUpAgain waits until s's deleted work stream exists again
// and s is ready. Readiness alone is no sign: an append made just before
// the deletion stands for its probe for a second (writeproof.Window).
func waitStreamSetUpAgain(ctx context.Context, t *testing.T, s started) {
	t.Helper()
	eventually(t, 20*time.Second, "the stream set up again", func() bool {
		_, err := s.Conn().JS.Stream(ctx, s.Options().Stream)
		return err == nil && s.Check(ctx) == nil
	})
}

// TestStreamRecreatedWhileEveryWorkerIsBusy: a work stream deleted while
// no fetch waits (every worker busy) and set up again by the supervisor
// before the workers fetch again leaves their consumer handle working (it
// names the consumer), but what they knew of the old stream no longer
// holds: the floors they read from the new consumer were kept as the old
// stream's, so a later loss of the consumer recreated it at the new
// stream's start and ran its processed events again. The workers now
// reopen the consumer when it is not the one they opened.
func TestStreamRecreatedWhileEveryWorkerIsBusy(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		o := options(t, b)
		o.Workers = 1
		o.HandlerTimeout = time.Minute
		rec := newRecorder()
		release := make(chan struct{})
		rec.set(0, func(id string, _ int) error {
			if id == "busy" {
				<-release
			}
			return nil
		})
		s := start(t, o, dispatcherFor(t, rec))
		accept(t, s, request(testCommand, "busy"))
		select {
		case <-rec.started:
		case <-time.After(20 * time.Second):
			t.Fatal("the handler did not start")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
		defer cancel()
		js := s.Conn().JS
		if err := js.DeleteStream(ctx, s.Options().Stream); err != nil {
			close(release)
			t.Fatal(err)
		}
		eventually(t, 30*time.Second, "the stream set up again", func() bool {
			_, err := js.Consumer(ctx, s.Options().Stream, s.Options().Consumer)
			return err == nil && s.Check(ctx) == nil
		})
		close(release)
		for i := range 5 {
			accept(t, s, request(testCommand, fmt.Sprint("new", i)))
		}
		eventually(t, 30*time.Second, "the new stream's events applied", func() bool {
			for i := range 5 {
				if rec.appliedCount(fmt.Sprint("new", i)) != 1 {
					return false
				}
			}
			return true
		})
		eventually(t, 30*time.Second, "the new stream's floor read", func() bool {
			c, err := js.Consumer(ctx, s.Options().Stream, s.Options().Consumer)
			if err != nil {
				return false
			}
			info := c.CachedInfo()
			return info.NumPending == 0 && info.NumAckPending == 0 && s.ResumeFloor() == info.AckFloor.Stream
		})
		if err := js.DeleteConsumer(ctx, s.Options().Stream, s.Options().Consumer); err != nil {
			t.Fatal(err)
		}
		accept(t, s, request(testCommand, "after"))
		eventually(t, 30*time.Second, "the event after the deletion applied", func() bool { return rec.appliedCount("after") == 1 })
		for i := range 5 {
			if n := len(rec.callTimes(fmt.Sprint("new", i))); n != 1 {
				t.Errorf("new%d ran %d times, want once", i, n)
			}
		}
	})
}

// TestOwedDeadLetterIsNotRunAgainByANewConsumer: an event whose last
// attempt failed and whose dead letter could not be stored is owed its
// dead-lettering, not more attempts. The delivery count told that apart,
// but a consumer created again (deleted by an operator; or its state
// rolled back when the embedded server is restarted after a full disk)
// counts from 1 again, and the handler ran MaxDeliveries more times. The
// kept reason now says so, whatever the count.
func TestOwedDeadLetterIsNotRunAgainByANewConsumer(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		o := options(t, b)
		o.MaxDeliveries = 2
		rec := newRecorder()
		rec.set(0, func(string, int) error { return errors.New("members table missing") })
		core, logs := observer.New(zapcore.InfoLevel)
		s := startLogged(t, o, zap.New(zapcore.NewTee(core, testLogger(t).Core())), dispatcherFor(t, rec))
		ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
		defer cancel()
		js := s.Conn().JS
		o = s.Options()
		reopen := refuseDeadLetters(ctx, t, s)

		accept(t, s, request(testCommand, "fails"))
		eventually(t, 30*time.Second, "the last attempt's dead letter refused", func() bool {
			return len(rec.callTimes("fails")) == 2 && logs.FilterMessageSnippet("cannot store the dead letter").Len() > 0
		})
		if msg := logs.FilterMessageSnippet("cannot store the dead letter").All()[0].Message; !strings.Contains(msg, "its dead-lettering is retried") {
			t.Errorf("the refused dead letter's line %q does not say its dead-lettering is retried", msg)
		}
		if err := js.DeleteConsumer(ctx, o.Stream, o.Consumer); err != nil {
			t.Fatal(err)
		}
		eventually(t, 30*time.Second, "the new consumer to deliver the event twice", func() bool {
			c, err := js.Consumer(ctx, o.Stream, o.Consumer)
			return err == nil && c.CachedInfo().Delivered.Consumer >= 2
		})

		reopen()
		e := events(t, s)
		eventually(t, 30*time.Second, "the dead letter stored", func() bool { return len(deadLetters(t, e)) == 1 })
		if d := deadLetters(t, e)[0]; d.Error != "members table missing" {
			t.Errorf("the dead letter's error is %q, want the handler's", d.Error)
		}
		if n := len(rec.callTimes("fails")); n != 2 {
			t.Errorf("the handler ran %d times, want MaxDeliveries = 2", n)
		}
	})
}

// refuseDeadLetters makes the dead-letter stream of s refuse every letter
// (it holds one, a filler, and may hold no more) until the function it
// returns opens it again.
func refuseDeadLetters(ctx context.Context, t *testing.T, s started) (reopen func()) {
	t.Helper()
	js, o := s.Conn().JS, s.Options()
	dead, err := js.Stream(ctx, o.DeadStream())
	if err != nil {
		t.Fatal(err)
	}
	open := dead.CachedInfo().Config
	full := open
	full.MaxMsgs, full.Discard = 1, jetstream.DiscardNew
	if _, err := js.UpdateStream(ctx, full); err != nil {
		t.Fatal(err)
	}
	filler := o.DeadPrefix() + ".filler"
	if _, err := js.Publish(ctx, filler, nil); err != nil {
		t.Fatal(err)
	}
	return func() {
		t.Helper()
		if _, err := js.UpdateStream(ctx, open); err != nil {
			t.Fatal(err)
		}
		if err := dead.Purge(ctx, jetstream.WithPurgeSubject(filler)); err != nil {
			t.Fatal(err)
		}
	}
}

// TestDeadLetterStoredBeforeIsNotCountedAgain: an event whose dead letter
// is already stored (its termination was lost with the connection, or the
// write's acknowledgement timed out after it was stored) is dead-lettered
// again at its next delivery, which the dead-letter stream takes as a
// duplicate: that is no new dead letter, and was counted in
// imcallback_delivery_dead_letters_total (and logged at error level) once
// more. The event is terminated all the same.
func TestDeadLetterStoredBeforeIsNotCountedAgain(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		o := options(t, b)
		o.MaxDeliveries = 1
		rec := newRecorder()
		rec.set(0, func(string, int) error { return errors.New("members table missing") })
		s := start(t, o, nil)
		o = s.Options()
		accept(t, s, request(testCommand, "fails"))
		e := events(t, s)
		evs := listEvents(t, e, delivery.Filter{})
		if len(evs) != 1 {
			t.Fatalf("%d events, want 1", len(evs))
		}
		ev := evs[0]
		// The dead letter as a delivery before stored it.
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		js := s.Conn().JS
		before := nats.NewMsg(o.DeadPrefix() + strings.TrimPrefix(ev.Subject, o.SubjectPrefix))
		before.Header.Set(jetstream.MsgIDHeader, fmt.Sprintf("%s:%d:%d:dead", o.Stream, ev.Seq, ev.Time.UnixNano()))
		before.Header.Set(delivery.HeaderDeadSeq, fmt.Sprint(ev.Seq))
		before.Header.Set(delivery.HeaderDeadError, "members table missing")
		if _, err := js.PublishMsg(ctx, before); err != nil {
			t.Fatal(err)
		}

		if err := s.StartWorkers(dispatcherFor(t, rec)); err != nil {
			t.Fatal(err)
		}
		eventually(t, 30*time.Second, "the event terminated", func() bool {
			return len(rec.callTimes("fails")) == 1 && pending(t, s) == 0
		})
		if n := len(deadLetters(t, e)); n != 1 {
			t.Errorf("%d dead letters, want the one stored before", n)
		}
		if n := metric(t, s.reg, "imcallback_delivery_dead_letters_total", "command", testCommand); n != 0 {
			t.Errorf("dead_letters_total = %v, want 0: the dead letter was stored before", n)
		}
	})
}

// requireEveryAcceptedDeadLettered runs s's workers with a handler that
// always fails with a long error (kept up to its bound in the dead letter)
// and waits until each of the accepted events, at least one, is
// dead-lettered, none left in the work stream.
func requireEveryAcceptedDeadLettered(t *testing.T, s started, accepted int) {
	t.Helper()
	if accepted == 0 {
		t.Fatal("no event was accepted")
	}
	rec := newRecorder()
	long := errors.New(strings.Repeat("a long error ", 400))
	rec.set(0, func(string, int) error { return long })
	if err := s.StartWorkers(dispatcherFor(t, rec)); err != nil {
		t.Fatal(err)
	}
	e := events(t, s)
	eventually(t, 20*time.Second, "every accepted event dead-lettered", func() bool {
		return len(deadLetters(t, e)) == accepted && len(listEvents(t, e, delivery.Filter{})) == accepted
	})
}
