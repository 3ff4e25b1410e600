package delivery

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/imcallback/imcallback/dispatcher"
)

// unansweredJS is a JetStream that takes requests and never answers one
// (a frozen server, a network partition the client has not noticed yet):
// the request named hang waits until its context ends, which it reports.
// Fetches deliver nothing.
type unansweredJS struct {
	jetstream.JetStream
	hang   string        // "lookup": opening the consumer; "info": reading its information
	called chan struct{} // closed when the hanging request is made
	ended  chan error    // why the hanging request's context ended
	cons   *unansweredConsumer
}

func (j *unansweredJS) wait(ctx context.Context) error {
	close(j.called)
	<-ctx.Done()
	j.ended <- ctx.Err()
	return ctx.Err()
}

func (j *unansweredJS) Consumer(ctx context.Context, _, _ string) (jetstream.Consumer, error) {
	if j.hang == "lookup" {
		return nil, j.wait(ctx)
	}
	return j.cons, nil
}

func (j *unansweredJS) Stream(context.Context, string) (jetstream.Stream, error) {
	return unansweredStream{}, nil
}

type unansweredStream struct{ jetstream.Stream }

func (unansweredStream) CachedInfo() *jetstream.StreamInfo { return &jetstream.StreamInfo{} }

type unansweredConsumer struct {
	jetstream.Consumer
	js *unansweredJS
}

func (c *unansweredConsumer) CachedInfo() *jetstream.ConsumerInfo { return &jetstream.ConsumerInfo{} }

func (c *unansweredConsumer) Info(ctx context.Context) (*jetstream.ConsumerInfo, error) {
	return nil, c.js.wait(ctx)
}

func (c *unansweredConsumer) Fetch(int, ...jetstream.FetchOpt) (jetstream.MessageBatch, error) {
	return emptyBatch{}, nil
}

type emptyBatch struct{}

func (emptyBatch) Messages() <-chan jetstream.Msg {
	ch := make(chan jetstream.Msg)
	close(ch)
	return ch
}

func (emptyBatch) Error() error { return nil }

// TestStopEndsTheWorkersRequestsAtOnce: a stop (or a pause) while JetStream
// takes requests and answers none ends the workers' own request at once:
// opening the consumer, reading its floor. Before, the stop waited for
// that request's own timeout (10 s, 5 s), or for the shutdown timeout when
// shorter, which it then took for handlers still running, cancelled them
// and logged so.
func TestStopEndsTheWorkersRequestsAtOnce(t *testing.T) {
	for _, hang := range []string{"lookup", "info"} {
		t.Run(hang, func(t *testing.T) {
			js := &unansweredJS{hang: hang, called: make(chan struct{}), ended: make(chan error, 1)}
			js.cons = &unansweredConsumer{js: js}
			o := DefaultOptions()
			o.URL = "nats://127.0.0.1:1"
			o.ShutdownTimeout = time.Hour // the stop must not need it
			s, err := New(o, zap.NewNop(), prometheus.NewRegistry())
			if err != nil {
				t.Fatal(err)
			}
			s.conn = &Conn{JS: js}
			if err := s.StartWorkers(processorFunc(func(context.Context, *dispatcher.Request) error { return nil })); err != nil {
				t.Fatal(err)
			}
			<-js.called
			stopped := make(chan error, 1)
			go func() { stopped <- s.StopWorkers(context.Background()) }()
			if err := <-js.ended; !errors.Is(err, context.Canceled) {
				t.Errorf("the %s ended with %v, not with the stop", hang, err)
			}
			if err := <-stopped; err != nil {
				t.Fatalf("stop workers: %v", err)
			}
		})
	}
}
