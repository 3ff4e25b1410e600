package delivery

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// resume remembers where a consumer deleted while the service runs (by an
// operator, or lost with a server's state) starts again: just after the
// acknowledgement floor the workers last read. A consumer created with the
// default, every message of the stream, would run every stored event again:
// the whole retention, dead-lettered ones included. The floor is kept with
// its work stream's creation time, so that a stream deleted and created
// again, which numbers its messages from 1, is read from its start.
type resume struct {
	mu      sync.Mutex
	created time.Time // the work stream's creation time when floor was read
	floor   uint64    // every message up to it was acknowledged or terminated
}

// note records the floor read from the consumer of the stream created at created.
func (r *resume) note(created time.Time, floor uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.created.Equal(created) || floor > r.floor {
		r.created, r.floor = created, floor
	}
}

// startAfter is the floor recorded for the stream created at created, or 0
// (read from the start) when none was.
func (r *resume) startAfter(created time.Time) uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.created.Equal(created) {
		return 0
	}
	return r.floor
}

// floorEvery is how often the workers read their consumer's acknowledgement
// floor while they fetch: what a recreated consumer may run again is at most
// about this long of processing.
const floorEvery = time.Second

// ensureConsumer creates the shared consumer, or brings an existing one's
// settings in line. An existing consumer keeps where it started and its
// max_waiting (the server refuses to change them); a missing one starts
// after the floor r recorded for this stream, or at its start. A missing consumer is created only when
// g allows (sightings; nil: at once), else the error wraps errSetUpLater.
func ensureConsumer(ctx context.Context, js jetstream.JetStream, o Options, r *resume, g *sightings) error {
	want := consumerConfig(o)
	cons, err := js.Consumer(ctx, o.Stream, o.Consumer)
	switch {
	case err == nil:
		// What NATS refuses to change is kept: where it started, and how
		// many pulls may wait (the workers have one waiting at a time).
		// Refused, a consumer set up by hand or by a tool left the service
		// never ready, and the way out, deleting the consumer, ran every
		// event of the retention again.
		have := cons.CachedInfo().Config
		want.DeliverPolicy, want.OptStartSeq, want.OptStartTime = have.DeliverPolicy, have.OptStartSeq, have.OptStartTime
		want.MaxWaiting = have.MaxWaiting
	case errors.Is(err, jetstream.ErrConsumerNotFound):
		if !g.missing(consumerKey(o.Stream, o.Consumer)) {
			return fmt.Errorf("delivery: consumer %s on %s: %w", o.Consumer, o.Stream, errSetUpLater)
		}
		if r == nil {
			break
		}
		st, err := js.Stream(ctx, o.Stream)
		if err != nil {
			return fmt.Errorf("delivery: stream %s: %w", o.Stream, err)
		}
		if floor := r.startAfter(st.CachedInfo().Created); floor > 0 {
			want.DeliverPolicy, want.OptStartSeq = jetstream.DeliverByStartSequencePolicy, floor+1
		}
	default:
		return fmt.Errorf("delivery: consumer %s on %s: %w", o.Consumer, o.Stream, err)
	}
	if _, err := js.CreateOrUpdateConsumer(ctx, o.Stream, want); err != nil {
		return fmt.Errorf("delivery: consumer %s on %s: %w", o.Consumer, o.Stream, err)
	}
	return nil
}
