package delivery

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/imcallback/imcallback/config"
)

// prefixChangeProblem refuses a new subject prefix while events under the
// old one are not processed yet: ensure would move the stream's subjects
// and the consumer's filter to the new prefix, and the consumer would
// never deliver the events still pending under the old one. It returns
// nil when the consumer does not exist, already filters on the prefix, or
// has nothing left under the old one; an error reading it is left to
// ensure, which reads the same.
func prefixChangeProblem(ctx context.Context, js jetstream.JetStream, o Options) error {
	cons, err := js.Consumer(ctx, o.Stream, o.Consumer)
	if err != nil {
		return nil
	}
	info := cons.CachedInfo()
	old, want := info.Config.FilterSubject, o.SubjectPrefix+".>"
	if old == "" || old == want {
		return nil
	}
	pending := info.NumPending + uint64(info.NumAckPending)
	if pending == 0 {
		return nil
	}
	return fmt.Errorf("delivery: %s changed: the consumer %s of stream %s filters on %s, where %d events are not processed yet; "+
		"moving it to %s would leave them unprocessed for good: run with the old prefix until they are processed "+
		"(imcallback_delivery_pending 0), or give the new prefix its own %s",
		config.EnvName("subject_prefix"), o.Consumer, o.Stream, old, pending, want, config.EnvName("stream"))
}
