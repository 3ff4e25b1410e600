package topicsync

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/zap"
)

// TestSQLitePingWritesAtMostOnceAWindow: /readyz needs no token and, with
// inline delivery, ran the SQLite check at each request, each rewriting
// its 64 KiB probe row: a prober or a flood of the admin port wrote to the
// disk at its own rate. A successful write (a probe, a topic write) now
// stands for the probe for a second, as the stream's check does; a topic
// write that failed since does not let it stand.
func TestSQLitePingWritesAtMostOnceAWindow(t *testing.T) {
	fail := errors.New("the topic write failed")
	tests := []struct {
		name       string
		before     func(*sqliteBackend) error // a topic write before the checks; nil: none
		wantProbes int
	}{
		{"checks in a row", nil, 1},
		{"a topic write committed", func(b *sqliteBackend) error {
			return b.topicWrite(context.Background(), func(*writeTx) error { return nil })
		}, 0},
		{"a topic write failed", func(b *sqliteBackend) error {
			if err := b.ping(context.Background()); err != nil { // a success the failure comes after
				return err
			}
			if err := b.topicWrite(context.Background(), func(*writeTx) error { return fail }); !errors.Is(err, fail) {
				return err
			}
			return nil
		}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := OpenSQLite(t.Context(), filepath.Join(t.TempDir(), "topics.db"), zap.NewNop())
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			b := s.(*store).b.(*sqliteBackend)
			b.proof.SetWindow(time.Hour) // however slow the machine, the checks fall within it
			if tt.before != nil {
				b.onProbe = func() {}
				if err := tt.before(b); err != nil {
					t.Fatal(err)
				}
			}
			probes := 0
			b.onProbe = func() { probes++ }
			for k := range 5 {
				if err := s.Ping(t.Context()); err != nil {
					t.Fatalf("check %d: %v", k, err)
				}
			}
			if probes != tt.wantProbes {
				t.Errorf("5 checks wrote %d probes, want %d", probes, tt.wantProbes)
			}
		})
	}
}
