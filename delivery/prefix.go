package delivery

import (
	"context"
	"errors"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/imcallback/imcallback/config"
)

// prefixChangeProblem refuses a new subject prefix while events under the
// old one are not processed yet: ensure would move the stream's subjects
// and the consumer's filter to the new prefix, and the consumer would
// never deliver the events still pending under the old one. It returns
// nil when the stream or the consumer does not exist, the consumer already
// filters on the prefix, or has nothing left under the old one. Another
// error reading the consumer (a timeout) is returned: without the check,
// ensure could move the filter.
func prefixChangeProblem(ctx context.Context, js jetstream.JetStream, o Options) error {
	cons, err := js.Consumer(ctx, o.Stream, o.Consumer)
	if errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delivery: reading consumer %s of stream %s: %w", o.Consumer, o.Stream, err)
	}
	info := cons.CachedInfo()
	old, want := info.Config.FilterSubject, o.eventsSubject()
	if old == "" || old == want {
		return nil
	}
	pending := info.NumPending + uint64(info.NumAckPending)
	if pending == 0 {
		return nil
	}
	events := "events are"
	if pending == 1 {
		events = "event is"
	}
	return fmt.Errorf("delivery: %s changed: the consumer %s of stream %s filters on %s, where %d %s not processed yet; "+
		"moving it to %s would leave them unprocessed for good: run with the old prefix until they are processed "+
		"(imcallback_delivery_pending 0), or give the new prefix its own %s",
		config.EnvName("subject_prefix"), o.Consumer, o.Stream, old, pending, events, want, config.EnvName("stream"))
}
