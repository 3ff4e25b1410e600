package delivery

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// createdJS is a JetStream whose consumer has the creation time created.
type createdJS struct {
	jetstream.JetStream
	created time.Time
}

func (j *createdJS) Consumer(context.Context, string, string) (jetstream.Consumer, error) {
	return createdConsumer{created: j.created}, nil
}

func (j *createdJS) Stream(context.Context, string) (jetstream.Stream, error) {
	return unansweredStream{}, nil
}

type createdConsumer struct {
	jetstream.Consumer
	created time.Time
}

func (c createdConsumer) CachedInfo() *jetstream.ConsumerInfo {
	return &jetstream.ConsumerInfo{Created: c.created}
}

// TestGivenBackCountsEndWithTheirConsumer: the deliveries given back to a
// consumer no longer come off an event's count once the consumer is
// created again, also when the workers that open the new one are not the
// ones that opened the old one (a pause, or a restart of the embedded
// server, starts new workers, and the consumer can be created again while
// none run). Before, each set of workers compared with the consumer it had
// opened itself, so new workers kept the old counts and an event got up to
// MaxDeliveries − 1 attempts more.
func TestGivenBackCountsEndWithTheirConsumer(t *testing.T) {
	first := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		created time.Time // the consumer the second workers open
		want    uint64    // deliveries of the event still counted as given back
	}{
		{"the same consumer", first, 3},
		{"a consumer created again", first.Add(time.Minute), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &Service{opts: DefaultOptions()}
			open := func(js *createdJS) {
				t.Helper()
				w := &workers{s: s, js: js, opts: s.opts, lookupCtx: context.Background()}
				if _, err := w.consumer(); err != nil {
					t.Fatal(err)
				}
			}
			open(&createdJS{created: first})
			for range 3 {
				s.holds.giveBack(7)
			}
			open(&createdJS{created: tt.created}) // new workers, after a pause
			if got := s.holds.spent(7); got != tt.want {
				t.Errorf("deliveries given back = %d, want %d", got, tt.want)
			}
		})
	}
}
