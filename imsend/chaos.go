package imsend

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"

	"github.com/imcallback/imcallback/internal/plainjson"
)

// Call is one callback to send.
type Call struct {
	// Command is the CallbackCommand.
	Command string
	// Body is the request body, a JSON object.
	Body []byte
	// Options change this request only (At, WithAppID …).
	Options []Option
}

// SendRetried sends the same callback twice, as IM does when retry on
// timeout is enabled, and returns both answers. Both are signed at one
// RequestTime (taken once, before opts apply), so that the second is the
// very request again whenever the clock ticks between them: for a body
// without an EventTime, RequestTime is part of the event's identity
// (delivery.RequestFingerprint). A retry signed anew is two Sends with At.
// Unsigned (no Token), the second the service received each is part of it
// instead: the two are one event when they arrive in the same second.
// When the first fails, the second is not sent: the error comes with the
// first answer when there was one (an answer that is not the envelope, say),
// as Send returns it.
func (s *Sender) SendRetried(ctx context.Context, command string, body []byte, opts ...Option) (first, second *Result, err error) {
	opts = append([]Option{At(s.now())}, opts...)
	if first, err = s.Send(ctx, command, body, opts...); err != nil {
		return first, nil, err
	}
	second, err = s.Send(ctx, command, body, opts...)
	return first, second, err
}

// SendShuffled sends calls one after another in an order shuffled by seed
// (IM guarantees no ordering) and returns the answers in the calls' order.
// When a call fails, the calls after it in that order are not sent: the
// error names the call (its index in calls) and comes with the answers
// read so far, nil for the calls not answered, the failed call's own
// among them when there was one (an answer that is not the envelope, say),
// as Send returns it.
func (s *Sender) SendShuffled(ctx context.Context, seed uint64, calls ...Call) ([]*Result, error) {
	order := rand.New(rand.NewPCG(seed, seed)).Perm(len(calls))
	results := make([]*Result, len(calls))
	for _, i := range order {
		res, err := s.Send(ctx, calls[i].Command, calls[i].Body, calls[i].Options...)
		results[i] = res
		if err != nil {
			return results, fmt.Errorf("imsend: shuffled call %d (%s): %w", i, calls[i].Command, err)
		}
	}
	return results, nil
}

// MaxBatch is the most events IM puts into one batched push callback.
const MaxBatch = 100

// BatchBody builds the body of a batched callback (Push.OfflinePush,
// Push.AllMemberPush): {"Events":[…]} with 1 to MaxBatch events, each
// written as given (compacted, its characters unescaped).
func BatchBody(events ...json.RawMessage) ([]byte, error) {
	if len(events) < 1 || len(events) > MaxBatch {
		return nil, fmt.Errorf("imsend: a batch holds 1 to %d events, not %d", MaxBatch, len(events))
	}
	// '<', '>' and '&' as given, as IM sends them: json.Marshal would
	// escape them (\u0026) inside the events.
	out, err := plainjson.Marshal(struct {
		Events []json.RawMessage `json:"Events"`
	}{events})
	if err != nil {
		return nil, fmt.Errorf("imsend: batch: %w", err)
	}
	return out, nil
}

// SendBatch sends events as one batched callback.
func (s *Sender) SendBatch(ctx context.Context, command string, events []json.RawMessage, opts ...Option) (*Result, error) {
	body, err := BatchBody(events...)
	if err != nil {
		return nil, err
	}
	return s.Send(ctx, command, body, opts...)
}
