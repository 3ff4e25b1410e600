package delivery

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"

	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/protocol"
)

// lostTermJS hands the workers messages whose first termination is lost:
// the server is not told, and delivers the message again (as after a
// connection cut, or a restart of the embedded server that rolled the
// consumer's state back). It counts the terminations and acks sent. With
// failSecondDead, the second dead letter published (the redelivery's) is
// not stored: the dead-letter stream down for a moment.
type lostTermJS struct {
	jetstream.JetStream
	failSecondDead bool
	mu             sync.Mutex
	lost           bool
	terms, acks    int
	deadPublishes  int
}

func (j *lostTermJS) PublishMsg(ctx context.Context, msg *nats.Msg, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	if msg.Header.Get(HeaderDeadSeq) != "" {
		j.mu.Lock()
		j.deadPublishes++
		fail := j.failSecondDead && j.deadPublishes == 2
		j.mu.Unlock()
		if fail {
			return nil, errors.New("dead-letter stream unavailable")
		}
	}
	return j.JetStream.PublishMsg(ctx, msg, opts...)
}

func (j *lostTermJS) Consumer(ctx context.Context, stream, name string) (jetstream.Consumer, error) {
	c, err := j.JetStream.Consumer(ctx, stream, name)
	if err != nil {
		return nil, err
	}
	return lostTermConsumer{Consumer: c, js: j}, nil
}

func (j *lostTermJS) settled() (terms, acks int) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.terms, j.acks
}

type lostTermConsumer struct {
	jetstream.Consumer
	js *lostTermJS
}

func (c lostTermConsumer) Fetch(n int, opts ...jetstream.FetchOpt) (jetstream.MessageBatch, error) {
	b, err := c.Consumer.Fetch(n, opts...)
	if err != nil {
		return nil, err
	}
	out := make(chan jetstream.Msg)
	go func() {
		defer close(out)
		for m := range b.Messages() {
			out <- lostTermMsg{Msg: m, js: c.js}
		}
	}()
	return lostTermBatch{MessageBatch: b, msgs: out}, nil
}

type lostTermBatch struct {
	jetstream.MessageBatch
	msgs chan jetstream.Msg
}

func (b lostTermBatch) Messages() <-chan jetstream.Msg { return b.msgs }

type lostTermMsg struct {
	jetstream.Msg
	js *lostTermJS
}

func (m lostTermMsg) Term() error {
	m.js.mu.Lock()
	lose := !m.js.lost
	m.js.lost = true
	m.js.terms++
	m.js.mu.Unlock()
	if lose {
		return m.NakWithDelay(time.Millisecond) // the server never learns of the termination
	}
	return m.Msg.Term()
}

func (m lostTermMsg) Ack() error {
	m.js.mu.Lock()
	m.js.acks++
	m.js.mu.Unlock()
	return m.Msg.Ack()
}

// onceFailing fails its first call with err and succeeds after it.
type onceFailing struct {
	mu    sync.Mutex
	calls int
	err   error
}

func (p *onceFailing) Process(context.Context, *dispatcher.Request) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls++
	if p.calls == 1 {
		return p.err
	}
	return nil
}

func (p *onceFailing) called() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls
}

// TestDeadLetteredEventWhoseTerminationIsLostDoesNotRunAgain: an event
// dead-lettered before its last attempt (a permanent error here; a full
// window does the same) whose termination is lost is delivered again with
// attempts to spare. Its handler ran again then, and its success acked an
// event that stayed listed as dead (counted, alerted on) and that a replay
// of the dead letters applied once more. The event is now terminated
// without running again, its dead letter a duplicate, counted once.
func TestDeadLetteredEventWhoseTerminationIsLostDoesNotRunAgain(t *testing.T) {
	tests := []struct {
		name string
		err  error
		// failSecondDead: the redelivery's dead letter (the duplicate) is
		// not stored at first, and stored at the delivery after.
		failSecondDead bool
	}{
		{"permanent error", fmt.Errorf("destination refused it: %w", dispatcher.ErrPermanent), false},
		{"undecodable body", fmt.Errorf("bad payload: %w", dispatcher.ErrDecode), false},
		{"duplicate not stored at first", fmt.Errorf("destination refused it: %w", dispatcher.ErrPermanent), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := DefaultOptions()
			o.StoreDir = t.TempDir()
			o.MaxDeliveries = 5
			o.Backoff = []time.Duration{10 * time.Millisecond}
			js := &lostTermJS{failSecondDead: tt.failSecondDead}
			s := startThrough(t, o, func(real jetstream.JetStream) jetstream.JetStream { js.JetStream = real; return js })

			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			acceptGroupCreated(ctx, t, s)
			p := &onceFailing{err: tt.err}
			if err := s.StartWorkers(p); err != nil {
				t.Fatal(err)
			}
			// Settled twice: the lost termination, then the next delivery's ack or termination.
			for terms, acks := js.settled(); terms+acks < 2; terms, acks = js.settled() {
				if ctx.Err() != nil {
					t.Fatalf("the event was not delivered again: %d terminations, %d acks", terms, acks)
				}
				time.Sleep(10 * time.Millisecond)
			}
			if n := p.called(); n != 1 {
				t.Errorf("the handler ran %d times, want once: its event was dead-lettered", n)
			}
			if terms, acks := js.settled(); terms != 2 || acks != 0 {
				t.Errorf("%d terminations and %d acks, want 2 terminations (the lost one and the next) and no ack", terms, acks)
			}
			dead, err := s.DeadLetters(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if dead != 1 {
				t.Errorf("%d dead letters, want 1", dead)
			}
			if n := testutil.ToFloat64(s.metrics.dead.WithLabelValues(groupCreated)); n != 1 {
				t.Errorf("dead_letters_total = %v, want 1", n)
			}
			wantFailed := 0.0
			if tt.failSecondDead {
				wantFailed = 1
			}
			if n := testutil.ToFloat64(s.metrics.deadFailed.WithLabelValues(groupCreated)); n != wantFailed {
				t.Errorf("dead_letter_failures_total = %v, want %v", n, wantFailed)
			}
		})
	}
}

// TestDeadMarksAreTheEventsAndEndWithTheFloor: a mark names the event
// stored at its sequence at its time (not another event at the sequence of
// a work stream created again), and ends once the acknowledgement floor
// passes it.
func TestDeadMarksAreTheEventsAndEndWithTheFloor(t *testing.T) {
	var h holds
	at := time.Unix(1_800_000_000, 0)
	h.markDead(7, at)
	h.markDead(9, at)
	tests := []struct {
		name   string
		seq    uint64
		stored time.Time
		want   bool
	}{
		{"the event marked", 7, at, true},
		{"another event at its sequence", 7, at.Add(time.Second), false},
		{"an event not marked", 8, at, false},
	}
	for _, tt := range tests {
		if got := h.deadLettered(tt.seq, tt.stored); got != tt.want {
			t.Errorf("%s: deadLettered = %v, want %v", tt.name, got, tt.want)
		}
	}
	h.prune(8)
	if h.deadLettered(7, at) || !h.deadLettered(9, at) {
		t.Errorf("after the floor passed 7 (not 9): marked 7 %v, 9 %v; want false, true", h.deadLettered(7, at), h.deadLettered(9, at))
	}
}

// groupCreated is the command of the event acceptGroupCreated stores.
const groupCreated = "Group.CallbackAfterCreateGroup"

// startThrough starts a supervised service of o whose JetStream calls go
// through the one wrap returns, given the service's own; it is stopped at
// the test's end.
func startThrough(t *testing.T, o Options, wrap func(jetstream.JetStream) jetstream.JetStream) *Service {
	t.Helper()
	return startThroughLogged(t, o, zap.NewNop(), wrap)
}

// startThroughLogged is startThrough with the service logging to log.
func startThroughLogged(t *testing.T, o Options, log *zap.Logger, wrap func(jetstream.JetStream) jetstream.JetStream) *Service {
	t.Helper()
	s, err := New(o, log, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	startSupervised(t, s)
	t.Cleanup(func() {
		if err := s.Stop(context.Background()); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	s.mu.Lock()
	s.conn.JS = wrap(s.conn.JS)
	s.mu.Unlock()
	return s
}

// acceptGroupCreated stores one groupCreated event in s.
func acceptGroupCreated(ctx context.Context, t *testing.T, s *Service) {
	t.Helper()
	r := &dispatcher.Request{Command: groupCreated, Params: protocol.Params{SdkAppid: "1400000000"},
		Body: []byte(`{"CallbackCommand":"` + groupCreated + `","GroupId":"g1","EventTime":1700000000000}`), ReceivedAt: time.Now()}
	if err := s.Accept(ctx, r); err != nil {
		t.Fatal(err)
	}
}
