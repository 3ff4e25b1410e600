package delivery_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/imcallback/imcallback/delivery"
)

// cancelAfterPublish cancels the replay's context as soon as a copy is
// stored: its caller went away right then (a client that gave up on the
// answer, an interrupted events replay --dead --offline).
type cancelAfterPublish struct {
	jetstream.JetStream
	cancel context.CancelFunc
}

func (j cancelAfterPublish) PublishMsg(ctx context.Context, msg *nats.Msg, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	ack, err := j.JetStream.PublishMsg(ctx, msg, opts...)
	j.cancel()
	return ack, err
}

// TestAnInterruptedDeadLetterReplayDoesNotReplayTheLetterTwice: a replay of
// the dead letters whose caller went away once a letter's copy was stored
// left the letter in the dead-letter stream (its removal ran on the
// cancelled context). Replayed again after the dedup window, as the
// answer invites, its copy was no duplicate any more and the event ran
// twice. A letter whose copy is stored is now removed whatever the
// caller does.
func TestAnInterruptedDeadLetterReplayDoesNotReplayTheLetterTwice(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		o := options(t, b)
		o.DedupWindow = time.Second
		s, e, _ := pausedWithADeadLetter(t, o, zap.NewNop(), "cut")

		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		e.SetJetStream(cancelAfterPublish{JetStream: s.Conn().JS, cancel: cancel})
		_, _ = e.ReplayDead(ctx, nil) // cut short, or done: either way the copy is stored

		time.Sleep(o.DedupWindow + 500*time.Millisecond) // the copy's id has left the window
		res, err := events(t, s).ReplayDead(context.Background(), nil)
		if err != nil {
			t.Fatal(err)
		}
		copies := 0
		for _, ev := range listEvents(t, events(t, s), delivery.Filter{}) {
			if ev.ReplayOf != "" {
				copies++
			}
		}
		if res.Replayed != 0 || copies != 1 {
			t.Errorf("the replay after the dedup window replayed %d letters, and the work stream holds %d copies; "+
				"want 0 and 1: the letter of the interrupted replay runs twice", res.Replayed, copies)
		}
	})
}

// failingRemoval is a JetStream whose deletions from the dead-letter
// stream fail as a NATS timeout does, after the letter's copy is stored.
type failingRemoval struct {
	jetstream.JetStream
	dead string
}

func (j failingRemoval) Stream(ctx context.Context, name string) (jetstream.Stream, error) {
	st, err := j.JetStream.Stream(ctx, name)
	if err != nil || name != j.dead {
		return st, err
	}
	return failingDelete{st}, nil
}

type failingDelete struct{ jetstream.Stream }

func (failingDelete) DeleteMsg(context.Context, uint64) error { return nats.ErrTimeout }

// TestADeadLetterWhoseRemovalFailsIsCountedReplayed: a replay whose letter's
// removal failed after its copy was stored returned the error with that
// copy counted nowhere: Replayed said 0, and the admin API answered "not
// reachable now, try again" as if nothing had been republished. The copy
// is stored, and the handler runs it: it counts as replayed (and, when the
// copy was a duplicate of one stored already, as already replayed).
func TestADeadLetterWhoseRemovalFailsIsCountedReplayed(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		o := options(t, b)
		s, e, d := pausedWithADeadLetter(t, o, zap.NewNop(), "unremoved")
		e.SetJetStream(failingRemoval{JetStream: s.Conn().JS, dead: o.DeadStream()})
		for _, tc := range []struct {
			name          string
			replay        func() (delivery.ReplayResult, error)
			replayed      int
			alreadyLetter bool
		}{
			{"every letter", func() (delivery.ReplayResult, error) { return e.ReplayDead(context.Background(), nil) }, 1, false},
			// The letter is still there, and its copy within the dedup window.
			{"the letter again", func() (delivery.ReplayResult, error) {
				return e.ReplayDeadOf(context.Background(), []uint64{d.OriginalSeq}, nil)
			}, 0, true},
		} {
			res, err := tc.replay()
			if err == nil {
				t.Fatalf("%s: the replay whose removal failed returned no error", tc.name)
			}
			already := slices.Equal(res.AlreadyReplayed, []uint64{d.OriginalSeq})
			if res.Replayed != tc.replayed || already != tc.alreadyLetter {
				t.Errorf("%s: the replay counted %d replayed, already replayed %v; want %d and the letter's event listed: %v",
					tc.name, res.Replayed, res.AlreadyReplayed, tc.replayed, tc.alreadyLetter)
			}
		}
	})
}

// TestADeadLetterStreamThatDeniesDeletesIsNotReplayed: a dead-letter stream
// set to deny message deletes (deny_delete, which NATS cannot lift) let a
// replay store each letter's copy and then fail to remove the letter,
// every time: each replay after the dedup window ran the letters again. A
// replay of dead letters is refused before any copy, saying why, and
// changes nothing.
func TestADeadLetterStreamThatDeniesDeletesIsNotReplayed(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		o := options(t, b)
		s, e, d := pausedWithADeadLetter(t, o, zap.NewNop(), "kept")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		js := s.Conn().JS
		dead, err := js.Stream(ctx, o.DeadStream())
		if err != nil {
			t.Fatal(err)
		}
		cfg := dead.CachedInfo().Config
		cfg.DenyDelete = true
		if _, err := js.UpdateStream(ctx, cfg); err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name   string
			replay func() (delivery.ReplayResult, error)
		}{
			{"every letter", func() (delivery.ReplayResult, error) { return e.ReplayDead(ctx, nil) }},
			{"a letter", func() (delivery.ReplayResult, error) { return e.ReplayDeadOf(ctx, []uint64{d.OriginalSeq}, nil) }},
		} {
			res, err := tc.replay()
			if !errors.Is(err, delivery.ErrDeadLettersKept) || !strings.Contains(err.Error(), "deny") {
				t.Errorf("%s: the replay returned %v, want ErrDeadLettersKept saying the stream denies deletes", tc.name, err)
			}
			if res.Replayed != 0 || len(res.AlreadyReplayed) != 0 {
				t.Errorf("%s: the refused replay counted %+v", tc.name, res)
			}
		}
		for _, ev := range listEvents(t, e, delivery.Filter{}) {
			if ev.ReplayOf != "" {
				t.Errorf("the refused replays stored a copy: %+v", ev)
			}
		}
		if letters := deadLetters(t, e); len(letters) != 1 {
			t.Errorf("the dead-letter stream holds %d letters after the refused replays, want 1", len(letters))
		}
	})
}
