package delivery_test

import (
	"context"
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
