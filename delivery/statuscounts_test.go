package delivery_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/imcallback/imcallback/delivery"
)

// TestDeliveryStatusGoesOnFromTheLastRead: GET /v1/delivery reads a
// waiting backlog once, then only what changed: nothing when nothing did,
// the events stored since, the events the ack floor passed, a dead letter
// added since with its event. It reads the backlog whole again once every
// fullCountEvery. At every step the counts are those a read of the whole
// backlog gives.
func TestDeliveryStatusGoesOnFromTheLastRead(t *testing.T) {
	o := options(t, backend{name: "embedded"})
	s, rec := startFailingIDs(t, o)
	var clockMu sync.Mutex
	now := time.Now()
	s.SetStatusClock(func() time.Time {
		clockMu.Lock()
		defer clockMu.Unlock()
		return now
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	floor := func() uint64 {
		c, err := s.Conn().JS.Consumer(ctx, s.Options().Stream, s.Options().Consumer)
		if err != nil {
			return 0
		}
		return c.CachedInfo().AckFloor.Stream
	}
	type counts struct{ pending, dead map[string]int }
	status := func(t *testing.T) (counts, uint64) {
		t.Helper()
		var st struct {
			Commands []delivery.CommandState `json:"commands"`
		}
		read := adminGet(t, s)("/v1/delivery", &st)
		c := counts{pending: map[string]int{}, dead: map[string]int{}}
		for _, l := range st.Commands {
			c.pending[l.Command], c.dead[l.Command] = l.Pending, l.DeadLetters
		}
		return c, read
	}

	tests := []struct {
		name string
		do   func(t *testing.T)
		// pending and dead of testCommand, then of otherCommand
		test, other [2]int
		reads       uint64 // message headers read: events, and dead letters new to the admin API
	}{
		{
			name: "a paused backlog is read whole",
			do: func(t *testing.T) {
				if err := s.Pause(ctx); err != nil {
					t.Fatal(err)
				}
				for i := range 30 { // sequences 1 to 30, the 4th of the other command
					command := testCommand
					if i == 3 {
						command = otherCommand
					}
					accept(t, s, request(command, fmt.Sprint("a", i)))
				}
			},
			test: [2]int{29, 0}, other: [2]int{1, 0}, reads: 30,
		},
		{
			name: "nothing new reads nothing",
			do:   func(*testing.T) {},
			test: [2]int{29, 0}, other: [2]int{1, 0}, reads: 0,
		},
		{
			name: "the events stored since are read",
			do: func(t *testing.T) {
				for i := range 5 { // 31 to 35
					accept(t, s, request(testCommand, fmt.Sprint("b", i)))
				}
			},
			test: [2]int{34, 0}, other: [2]int{1, 0}, reads: 5,
		},
		{
			name: "the events the floor passed are read",
			do: func(t *testing.T) {
				// The other command's event (4) is held: the floor stops
				// below it, and the events above it count as pending
				// though processed.
				if err := s.PauseCommand(otherCommand); err != nil {
					t.Fatal(err)
				}
				if err := s.Resume(); err != nil {
					t.Fatal(err)
				}
				eventually(t, 30*time.Second, "the test command's events processed", func() bool { return rec.storedCount() == 34 })
				eventually(t, 30*time.Second, "the floor below the held event", func() bool { return floor() == 3 })
			},
			test: [2]int{31, 0}, other: [2]int{1, 0}, reads: 3,
		},
		{
			name: "a dead letter of a counted event is read with its event",
			do: func(t *testing.T) {
				// Held, the event is counted pending; then it fails.
				if err := s.PauseCommand(testCommand); err != nil {
					t.Fatal(err)
				}
				accept(t, s, request(testCommand, "fail")) // 36
				if c, _ := status(t); c.pending[testCommand] != 32 {
					t.Fatalf("the held event not counted: %+v", c)
				}
				if err := s.ResumeCommand(testCommand); err != nil {
					t.Fatal(err)
				}
				ev := events(t, s)
				eventually(t, 30*time.Second, "the event dead-lettered", func() bool { return len(deadLetters(t, ev)) == 1 })
			},
			test: [2]int{31, 1}, other: [2]int{1, 0}, reads: 1 + 1, // the letter, and its event (36)
		},
		{
			name: "a minute later the backlog is read whole",
			do: func(*testing.T) {
				clockMu.Lock()
				defer clockMu.Unlock()
				now = now.Add(delivery.FullCountEvery)
			},
			test: [2]int{31, 1}, other: [2]int{1, 0}, reads: 33,
		},
		{
			name: "and then nothing again",
			do:   func(*testing.T) {},
			test: [2]int{31, 1}, other: [2]int{1, 0}, reads: 0,
		},
		{
			name: "the whole backlog purged by hand",
			do:   func(t *testing.T) { purge(t, s) },
			test: [2]int{0, 1}, other: [2]int{0, 0}, reads: 0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.do(t)
			got, read := status(t)
			want := counts{
				pending: map[string]int{testCommand: tt.test[0], otherCommand: tt.other[0]},
				dead:    map[string]int{testCommand: tt.test[1], otherCommand: tt.other[1]},
			}
			if !maps.Equal(got.pending, want.pending) || !maps.Equal(got.dead, want.dead) {
				t.Errorf("counts %+v, want %+v", got, want)
			}
			if read != tt.reads {
				t.Errorf("read %d message headers, want %d", read, tt.reads)
			}
			s.ForgetPendingBase()
			whole, _ := status(t)
			if !maps.Equal(got.pending, whole.pending) || !maps.Equal(got.dead, whole.dead) {
				t.Errorf("counts %+v, but a read of the whole backlog counts %+v", got, whole)
			}
		})
	}
}

// TestDeliveryStatusGoesOnWhileDeadLettersArrive: while a failing handler
// keeps adding dead letters, each GET /v1/delivery reads the letters added
// since and their events, not the held backlog again, nor the dead-letter
// stream's letters that the cache no longer holds (a read of the whole
// backlog looks those up again); and its counts are a whole read's.
func TestDeliveryStatusGoesOnWhileDeadLettersArrive(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		o := options(t, b)
		s, _ := startFailingIDs(t, o)
		s.SetDeadCacheLetters(4) // most letters are no longer held: the index finds them
		// The other command's event, held, keeps the ack floor at 0: every
		// event counts, pending unless dead.
		if err := s.PauseCommand(otherCommand); err != nil {
			t.Fatal(err)
		}
		accept(t, s, request(otherCommand, "held")) // 1
		for i := range 20 {                         // 2 to 21
			accept(t, s, request(testCommand, fmt.Sprint("ok", i)))
		}
		ev := events(t, s)
		dead, sent := 0, 0
		fail := func(t *testing.T, n int) {
			for range n {
				accept(t, s, request(testCommand, fmt.Sprint("fail", sent)))
				sent++
			}
		}
		waitDead := func(t *testing.T, n int) {
			dead += n
			eventually(t, 30*time.Second, fmt.Sprint(dead, " dead letters"), func() bool { return len(deadLetters(t, ev)) == dead })
		}
		status := func(t *testing.T) (pending, deadCount map[string]int, read uint64) {
			t.Helper()
			var st struct {
				Commands []delivery.CommandState `json:"commands"`
			}
			read = adminGet(t, s)("/v1/delivery", &st)
			pending, deadCount = map[string]int{}, map[string]int{}
			for _, l := range st.Commands {
				pending[l.Command], deadCount[l.Command] = l.Pending, l.DeadLetters
			}
			return pending, deadCount, read
		}
		const wholeRead = math.MaxUint64
		tests := []struct {
			name        string
			do          func(t *testing.T)
			pending     int    // of testCommand; the other command's held event is 1
			reads       uint64 // message headers read; wholeRead: not checked (the backlog read whole)
			wantDeadNow int
		}{
			{"the backlog read whole", func(t *testing.T) { fail(t, 10); waitDead(t, 10) }, 20, wholeRead, 10},
			{"letters of new events: the letters and their events", func(t *testing.T) { fail(t, 3); waitDead(t, 3) }, 20, 3 + 3, 13},
			{"and again", func(t *testing.T) { fail(t, 3); waitDead(t, 3) }, 20, 3 + 3, 16},
			{"more letters than the cache holds: the backlog read whole", func(t *testing.T) { fail(t, 6); waitDead(t, 6) }, 20, wholeRead, 22},
			{"letters of counted events: the letters and their events", func(t *testing.T) {
				if err := s.PauseCommand(testCommand); err != nil {
					t.Fatal(err)
				}
				fail(t, 3) // held: counted pending
				if p, _, read := status(t); p[testCommand] != 23 || read != 3 {
					t.Fatalf("the held events: %d pending after reading %d, want 23 after 3", p[testCommand], read)
				}
				if err := s.ResumeCommand(testCommand); err != nil {
					t.Fatal(err)
				}
				waitDead(t, 3)
			}, 20, 3 + 3, 25},
			{"nothing new reads nothing", func(*testing.T) {}, 20, 0, 25},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				tt.do(t)
				pending, deadCount, read := status(t)
				wantPending := map[string]int{testCommand: tt.pending, otherCommand: 1}
				wantDead := map[string]int{testCommand: tt.wantDeadNow, otherCommand: 0}
				if !maps.Equal(pending, wantPending) || !maps.Equal(deadCount, wantDead) {
					t.Errorf("pending %v, dead letters %v; want %v and %v", pending, deadCount, wantPending, wantDead)
				}
				if tt.reads != wholeRead && read != tt.reads {
					t.Errorf("read %d message headers, want %d", read, tt.reads)
				}
				s.ForgetPendingBase()
				wholePending, wholeDead, _ := status(t)
				if !maps.Equal(pending, wholePending) || !maps.Equal(deadCount, wholeDead) {
					t.Errorf("pending %v, dead letters %v, but a read of the whole backlog counts %v and %v", pending, deadCount, wholePending, wholeDead)
				}
			})
		}
	})
}

// TestDeliveryStatusCountsWhatWasPurged: events removed from the work
// stream above the ack floor (purged by hand) are no longer counted: the
// backlog is read whole again.
func TestDeliveryStatusCountsWhatWasPurged(t *testing.T) {
	o := options(t, backend{name: "embedded"})
	s := start(t, o, nil) // no workers: every event waits
	for i := range 40 {
		accept(t, s, request(testCommand, fmt.Sprint("e", i)))
	}
	pendingNow := func(t *testing.T) (int, uint64) {
		var st struct {
			Commands []delivery.CommandState `json:"commands"`
		}
		read := adminGet(t, s)("/v1/delivery", &st)
		n := 0
		for _, c := range st.Commands {
			n += c.Pending
		}
		return n, read
	}
	if n, read := pendingNow(t); n != 40 || read != 40 {
		t.Fatalf("%d pending after reading %d events, want 40 of 40", n, read)
	}
	purge(t, s, jetstream.WithPurgeSequence(3)) // 1 and 2
	if n, read := pendingNow(t); n != 38 || read != 38 {
		t.Errorf("after a purge of 2 events, %d pending after reading %d events, want 38 of 38", n, read)
	}
	purge(t, s)
	if n, _ := pendingNow(t); n != 0 {
		t.Errorf("after a purge of every event, %d pending", n)
	}
}

// purge purges s's work stream with opts.
func purge(t *testing.T, s started, opts ...jetstream.StreamPurgeOpt) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := s.Conn().JS.Stream(ctx, s.Options().Stream)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Purge(ctx, opts...); err != nil {
		t.Fatal(err)
	}
}

// TestDeliveryStatusRequestsShareARead: requests that come while the
// counts are being read wait for that read instead of reading the backlog
// again each, and all answer its counts.
func TestDeliveryStatusRequestsShareARead(t *testing.T) {
	o := options(t, backend{name: "embedded"})
	s := start(t, o, nil) // no workers: every event waits
	const backlog, requests = 40, 8
	for i := range backlog {
		accept(t, s, request(testCommand, fmt.Sprint("e", i)))
	}
	release := make(chan struct{})
	s.SetStatusReading(func() { <-release })
	e := echo.New()
	for _, r := range delivery.AdminRoutes(s.Service) {
		e.Add(r.Method, r.Path, r.Handler)
	}
	before := s.EventsRead()
	answers := make(chan string, requests)
	for range requests {
		go func() {
			w := httptest.NewRecorder()
			e.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/v1/delivery", nil))
			answers <- fmt.Sprint(w.Code, " ", w.Body)
		}()
	}
	eventually(t, 30*time.Second, "every request waiting for the read", func() bool { return s.StatusCallers() == requests })
	close(release)
	for range requests {
		a := <-answers
		var st struct {
			Commands []delivery.CommandState `json:"commands"`
		}
		code, body, _ := strings.Cut(a, " ")
		if err := json.Unmarshal([]byte(body), &st); code != "200" || err != nil || len(st.Commands) != 1 || st.Commands[0].Pending != backlog {
			t.Errorf("answer %s (%v), want %d pending", a, err, backlog)
		}
	}
	if read := s.EventsRead() - before; read != backlog {
		t.Errorf("%d requests read %d events, want the backlog of %d once", requests, read, backlog)
	}
}

// startFailingIDs starts a service on o, with one delivery per event,
// whose handler fails the events whose id starts with "fail", serving
// testCommand and otherCommand; rec records the handler's calls.
func startFailingIDs(t *testing.T, o delivery.Options) (s started, rec *recorder) {
	t.Helper()
	o.MaxDeliveries = 1
	rec = newRecorder()
	rec.set(0, func(id string, _ int) error {
		if strings.HasPrefix(id, "fail") {
			return errors.New("down")
		}
		return nil
	})
	d := dispatcherFor(t, rec, otherCommand)
	s = start(t, o, d)
	s.SetCommands(d.AfterCommands())
	return s, rec
}
