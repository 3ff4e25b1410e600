package delivery

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
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
// stream out of its lookups before it moves its files away, so one created
// under its name while the deletion is still under way loses its files
// with the old one's. The supervisor created a missing dead-letter stream
// in the check that found it gone, and a missing work stream at once when
// its setup was failing already (the stream then found missing by the
// setup itself). Each is now created at the check after the one that found
// it missing, which the supervisor asks for itself.
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
