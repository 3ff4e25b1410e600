package delivery

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/imcallback/imcallback/dispatcher"
)

// TestSightingsAllowACreationAtTheCheckAfter: something found missing may
// be created at the check after the one that found it missing, and only
// if that one did; nil sightings (a start) allow it at once.
func TestSightingsAllowACreationAtTheCheckAfter(t *testing.T) {
	tests := []struct {
		name   string
		checks [][]string // what each check finds missing, in turn
		want   []bool     // whether the last check may create each of its names
	}{
		{"first sighting", [][]string{{"a"}}, []bool{false}},
		{"the check after", [][]string{{"a"}, {"a"}}, []bool{true}},
		{"found twice in one check", [][]string{{"a", "a"}}, []bool{false, false}},
		{"found by another check than the one before", [][]string{{"a"}, {}, {"a"}}, []bool{false}},
		{"another name", [][]string{{"a"}, {"b", "a"}}, []bool{false, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var g sightings
			var got []bool
			for _, names := range tt.checks {
				g.nextCheck()
				got = got[:0]
				for _, n := range names {
					got = append(got, g.missing(n))
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("may create %v, want %v", got, tt.want)
			}
			if left := g.leftForNext(); left != slices.Contains(tt.want, false) {
				t.Errorf("left for the next check: %v, want %v", left, !left)
			}
		})
	}
	var none *sightings
	if !none.missing("a") {
		t.Error("nil sightings refused a creation")
	}
}

// defaultsFilled is DefaultOptions with delivery's own defaults filled
// in, the consumer's name among them.
func defaultsFilled(t *testing.T) Options {
	t.Helper()
	o, err := DefaultOptions().withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// kicksOnly is a supervisor timer under which only a kick runs a check:
// the gap before each check passes at once, the wait for a kick never.
func kicksOnly(d time.Duration) <-chan time.Time {
	if d == kickGap {
		return noWait(d)
	}
	return nil
}

// supervisedEmbedded starts a service on an embedded server whose
// supervisor checks only when kicked, each check after hold (if not nil)
// returns, and sends after each check what look finds then. It stops at
// the end of the test.
func supervisedEmbedded(t *testing.T, o Options, hold func(context.Context),
	look func(context.Context, jetstream.JetStream) error) (*Service, <-chan error) {
	t.Helper()
	o.StoreDir = t.TempDir()
	s, err := New(o, zap.NewNop(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	s.after = kicksOnly
	found := make(chan error, 64)
	s.check = func(ctx context.Context) error {
		if hold != nil {
			hold(ctx)
		}
		err := s.repairAndCheck(ctx)
		select {
		case found <- look(ctx, s.Conn().JS):
		default:
		}
		return err
	}
	startSupervised(t, s)
	t.Cleanup(func() {
		if err := s.Stop(context.Background()); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	return s, found
}

// nextFound is what the supervisor's next check left, as its look found it.
func nextFound(ctx context.Context, t *testing.T, found <-chan error) error {
	t.Helper()
	select {
	case err := <-found:
		return err
	case <-ctx.Done():
		t.Fatal("the supervisor did not check again")
		return nil
	}
}

// TestSupervisorSetsUpWhatIsMissingAtTheCheckAfter: NATS takes a deleted
// stream or consumer out of its lookups before it removes its files, so
// one created under its name while the deletion is still under way loses
// its files with the old one's. The supervisor created a missing
// dead-letter stream in the check that found it gone, and a missing work
// stream at once when its setup was failing already (the stream then found
// missing by the setup itself); it left a missing consumer to the workers,
// which created it at once. Each is now created at the check after the one
// that found it missing, which the supervisor asks for itself.
func TestSupervisorSetsUpWhatIsMissingAtTheCheckAfter(t *testing.T) {
	o := defaultsFilled(t)
	stream := func(name string) func(context.Context, jetstream.JetStream) error {
		return func(ctx context.Context, js jetstream.JetStream) error {
			_, err := js.Stream(ctx, name)
			return err
		}
	}
	tests := []struct {
		name    string
		setupOK bool // false: the supervisor's setup is failing already
		look    func(context.Context, jetstream.JetStream) error
		gone    error
		remove  func(context.Context, jetstream.JetStream) error
	}{
		{"dead-letter stream", true, stream(o.DeadStream()), jetstream.ErrStreamNotFound,
			func(ctx context.Context, js jetstream.JetStream) error { return js.DeleteStream(ctx, o.DeadStream()) }},
		{"work stream", true, stream(o.Stream), jetstream.ErrStreamNotFound,
			func(ctx context.Context, js jetstream.JetStream) error { return js.DeleteStream(ctx, o.Stream) }},
		{"work stream, its setup failing already", false, stream(o.Stream), jetstream.ErrStreamNotFound,
			func(ctx context.Context, js jetstream.JetStream) error { return js.DeleteStream(ctx, o.Stream) }},
		{"consumer", true,
			func(ctx context.Context, js jetstream.JetStream) error {
				_, err := js.Consumer(ctx, o.Stream, o.Consumer)
				return err
			}, jetstream.ErrConsumerNotFound,
			func(ctx context.Context, js jetstream.JetStream) error {
				return js.DeleteConsumer(ctx, o.Stream, o.Consumer)
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			s, found := supervisedEmbedded(t, o, nil, tt.look)
			if err := tt.remove(ctx, s.Conn().JS); err != nil {
				t.Fatal(err)
			}
			if !tt.setupOK {
				s.ensured.Store(false)
			}
			s.kickSupervisor()
			if err := nextFound(ctx, t, found); !errors.Is(err, tt.gone) {
				t.Fatalf("the check that found it missing left %v, want it still missing", err)
			}
			if err := nextFound(ctx, t, found); err != nil {
				t.Fatalf("the check after it left %v, want it set up again", err)
			}
			if err := s.Check(ctx); err != nil {
				t.Errorf("not ready once set up again: %v", err)
			}
		})
	}
}

// TestWorkersLeaveAMissingConsumerToTheSupervisor: workers that found
// their consumer missing created it again at once. NATS takes a deleted
// consumer out of its lookups before it removes its directory, so one
// created meanwhile lost its directory with the old one's: it refused every
// update of its settings ("no such file or directory") and kept no state
// across a restart of the server, which then lost it, acknowledgement
// floor and all. The workers now ask the supervisor, which creates it at
// the check after the one that found it missing; the events stored
// meanwhile are processed once it is back.
func TestWorkersLeaveAMissingConsumerToTheSupervisor(t *testing.T) {
	o := defaultsFilled(t)
	o.RetryWait = 50 * time.Millisecond
	// The first check, the one the workers ask for, waits for the test.
	asked, answer := make(chan struct{}), make(chan struct{})
	var first sync.Once
	hold := func(ctx context.Context) {
		first.Do(func() {
			close(asked)
			select {
			case <-answer:
			case <-ctx.Done():
			}
		})
	}
	s, found := supervisedEmbedded(t, o, hold, func(ctx context.Context, js jetstream.JetStream) error {
		_, err := js.Consumer(ctx, o.Stream, o.Consumer)
		return err
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	var mu sync.Mutex
	processed := map[string]int{}
	if err := s.StartWorkers(processorFunc(func(_ context.Context, r *dispatcher.Request) error {
		mu.Lock()
		defer mu.Unlock()
		processed[r.RequestID]++
		return nil
	})); err != nil {
		t.Fatal(err)
	}
	var ids []string
	accept := func(id string) {
		t.Helper()
		r := &dispatcher.Request{Command: "Test.CallbackAfterThing", ReceivedAt: time.Now(), RequestID: id,
			Body: fmt.Appendf(nil, `{"CallbackCommand":"Test.CallbackAfterThing","Id":%q}`, id)} // one event each, not a repeat
		if err := s.Accept(ctx, r); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	allProcessed := func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, id := range ids {
			if processed[id] == 0 {
				return false
			}
		}
		return true
	}
	waitUntil := func(what string, cond func() bool) {
		t.Helper()
		for !cond() {
			select {
			case <-ctx.Done():
				t.Fatalf("%s: not before the test's deadline", what)
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	for i := range 3 {
		accept(fmt.Sprint("before-", i))
	}
	waitUntil("the events before the deletion processed", allProcessed)

	js := s.Conn().JS
	if err := js.DeleteConsumer(ctx, o.Stream, o.Consumer); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		accept(fmt.Sprint("while-missing-", i)) // stored all the same
	}
	for waiting := true; waiting; {
		select {
		case <-asked:
			waiting = false
		case <-ctx.Done():
			t.Fatal("the workers did not ask the supervisor to set the consumer up")
		case <-time.After(20 * time.Millisecond):
			if _, err := js.Consumer(ctx, o.Stream, o.Consumer); err == nil {
				t.Fatal("the workers set the consumer up again themselves")
			}
		}
	}
	if _, err := js.Consumer(ctx, o.Stream, o.Consumer); !errors.Is(err, jetstream.ErrConsumerNotFound) {
		t.Fatalf("the consumer was set up again before the supervisor's check: %v", err)
	}
	close(answer)

	if err := nextFound(ctx, t, found); !errors.Is(err, jetstream.ErrConsumerNotFound) {
		t.Fatalf("the check that found the consumer missing left %v, want it still missing", err)
	}
	if err := nextFound(ctx, t, found); err != nil {
		t.Fatalf("the check after it left %v, want the consumer set up again", err)
	}
	accept("after")
	waitUntil("every event processed", allProcessed)
}
