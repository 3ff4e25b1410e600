package delivery

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/imcallback/imcallback/dispatcher"
)

// ackLostJS stores the first dead letter published but answers as a
// publish that timed out (its acknowledgement lost), then refuses every
// dead letter until more than window has passed since: the dead-letter
// stream unwritable for longer than its duplicate window.
type ackLostJS struct {
	jetstream.JetStream
	window  time.Duration
	mu      sync.Mutex
	stored  time.Time // when the first letter was stored; zero before
	refused int
}

func (j *ackLostJS) PublishMsg(ctx context.Context, msg *nats.Msg, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	if msg.Header.Get(HeaderDeadSeq) == "" {
		return j.JetStream.PublishMsg(ctx, msg, opts...)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	switch {
	case j.stored.IsZero():
		if _, err := j.JetStream.PublishMsg(ctx, msg, opts...); err != nil {
			return nil, err
		}
		j.stored = time.Now()
		return nil, nats.ErrTimeout
	case time.Since(j.stored) < j.window+time.Second:
		j.refused++
		return nil, errors.New("dead-letter stream unavailable")
	}
	return j.JetStream.PublishMsg(ctx, msg, opts...)
}

func (j *ackLostJS) refusals() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.refused
}

// TestDeadLetterStoredWhenItsAckWasLostIsNotStoredTwice: a dead letter
// stored whose acknowledgement was lost (the publish timed out) is retried
// under the same Nats-Msg-Id, which the duplicate window catches. With the
// dead-letter stream unwritable for longer than the window, the retry that
// got through stored a second letter of the event, which a replay of the
// dead letters applied twice. The retry now finds the first letter and
// terminates the event, counted once.
func TestDeadLetterStoredWhenItsAckWasLostIsNotStoredTwice(t *testing.T) {
	o := DefaultOptions()
	o.StoreDir = t.TempDir()
	o.DedupWindow = time.Second
	o.MaxDeliveries = 5
	o.Backoff = []time.Duration{50 * time.Millisecond}
	js := &ackLostJS{window: o.DedupWindow}
	s := startThrough(t, o, func(real jetstream.JetStream) jetstream.JetStream { js.JetStream = real; return js })

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	acceptGroupCreated(ctx, t, s)
	p := &onceFailing{err: fmt.Errorf("destination refused it: %w", dispatcher.ErrPermanent)}
	if err := s.StartWorkers(p); err != nil {
		t.Fatal(err)
	}
	// Settled: the event terminated, its acknowledgement floor past it.
	for {
		c, err := js.JetStream.Consumer(ctx, s.opts.Stream, s.opts.Consumer)
		if err == nil && c.CachedInfo().AckFloor.Stream >= 1 {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("the event was not terminated")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if js.refusals() == 0 {
		t.Fatal("no dead letter was refused: the test did not keep the stream unwritable")
	}
	wantOneDeadLetter(ctx, t, s)
	if n := p.called(); n != 1 {
		t.Errorf("the handler ran %d times, want once", n)
	}
	if n := testutil.ToFloat64(s.metrics.dead.WithLabelValues(groupCreated)); n != 1 {
		t.Errorf("dead_letters_total = %v, want 1", n)
	}
}

// deadUnreadJS is an ackLostJS that cannot read the dead-letter stream.
type deadUnreadJS struct {
	*ackLostJS
	dead string
}

func (j deadUnreadJS) CreateConsumer(ctx context.Context, stream string, cfg jetstream.ConsumerConfig) (jetstream.Consumer, error) {
	if stream == j.dead {
		return nil, errors.New("dead-letter stream unreadable")
	}
	return j.ackLostJS.CreateConsumer(ctx, stream, cfg)
}

// TestDeadLetterStoredBeforeARestartIsNotStoredTwice: a dead letter stored
// whose acknowledgement was lost (the publish timed out) is kept in the
// memory of the process that wrote it only. Restarted later than the
// duplicate window, the service found the event past its last attempt,
// knew of no failed write, and stored a second letter of it, which a replay
// of the dead letters applied twice. It now finds the first letter and
// terminates the event without running its handler.
func TestDeadLetterStoredBeforeARestartIsNotStoredTwice(t *testing.T) {
	o := DefaultOptions()
	o.StoreDir = t.TempDir()
	o.DedupWindow = time.Second
	o.MaxDeliveries = 1
	o.Backoff = []time.Duration{50 * time.Millisecond}
	// The first letter stored, its acknowledgement lost; every later one
	// refused while this process runs, which never finds the first.
	lost := &ackLostJS{window: time.Hour}
	first := startThrough(t, o, func(real jetstream.JetStream) jetstream.JetStream {
		lost.JetStream = real
		return deadUnreadJS{ackLostJS: lost, dead: o.DeadStream()}
	})

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	acceptGroupCreated(ctx, t, first)
	failing := &onceFailing{err: errors.New("destination unavailable")}
	if err := first.StartWorkers(failing); err != nil {
		t.Fatal(err)
	}
	for testutil.ToFloat64(first.metrics.deadFailed.WithLabelValues(groupCreated)) == 0 {
		if ctx.Err() != nil {
			t.Fatal("the dead letter was never written")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := first.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	lost.mu.Lock()
	stored := lost.stored
	lost.mu.Unlock()
	if stored.IsZero() {
		t.Fatal("no dead letter was stored before the restart")
	}
	// Restarted once the duplicate window no longer catches a repeat.
	time.Sleep(time.Until(stored.Add(o.DedupWindow + time.Second)))

	var js jetstream.JetStream
	second := startThrough(t, o, func(real jetstream.JetStream) jetstream.JetStream { js = real; return real })
	p := &onceFailing{err: errors.New("destination unavailable")}
	if err := second.StartWorkers(p); err != nil {
		t.Fatal(err)
	}
	// Settled: the event terminated, its acknowledgement floor past it.
	for {
		c, err := js.Consumer(ctx, second.opts.Stream, second.opts.Consumer)
		if err == nil && c.CachedInfo().AckFloor.Stream >= 1 {
			break
		}
		if ctx.Err() != nil {
			t.Fatal("the event was not terminated after the restart")
		}
		time.Sleep(20 * time.Millisecond)
	}
	wantOneDeadLetter(ctx, t, second)
	if n := p.called(); n != 0 {
		t.Errorf("the handler ran %d times after the restart, want never: its last attempt was made", n)
	}
}

// wantOneDeadLetter fails the test unless s's dead-letter stream holds
// exactly one letter: a second letter of the event would make a replay
// apply it twice.
func wantOneDeadLetter(ctx context.Context, t *testing.T, s *Service) {
	t.Helper()
	dead, err := s.DeadLetters(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if dead != 1 {
		t.Errorf("%d dead letters, want 1: a replay would apply the event %d times", dead, dead)
	}
}

// TestAFailedLookForAnEarlierLetterIsNotLoggedAsAFailedWrite: a dead letter
// retried once the duplicate window has passed since its write failed is
// first looked for in the dead-letter stream. When that read failed, the
// line said the dead letter could not be stored, as for a write the stream
// refused, though none was tried: an operator went looking for a full disk
// or a sealed stream. The line now says the stream could not be read and
// nothing was written (it still begins as a failed write's does, which the
// alert on imcallback_delivery_dead_letter_failures_total names, and is
// counted there: the event stays in the work stream all the same), and no
// second letter is written while the read keeps failing.
func TestAFailedLookForAnEarlierLetterIsNotLoggedAsAFailedWrite(t *testing.T) {
	o := DefaultOptions()
	o.StoreDir = t.TempDir()
	o.DedupWindow = time.Second
	o.MaxDeliveries = 1
	o.Backoff = []time.Duration{50 * time.Millisecond}
	core, logs := observer.New(zap.InfoLevel)
	// The first letter stored, its acknowledgement lost; the next refused
	// until the window has passed; the dead-letter stream never read.
	lost := &ackLostJS{window: o.DedupWindow}
	s := startThroughLogged(t, o, zap.New(core), func(real jetstream.JetStream) jetstream.JetStream {
		lost.JetStream = real
		return deadUnreadJS{ackLostJS: lost, dead: o.DeadStream()}
	})

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	acceptGroupCreated(ctx, t, s)
	if err := s.StartWorkers(&onceFailing{err: errors.New("destination unavailable")}); err != nil {
		t.Fatal(err)
	}
	const cannot = "cannot store the dead letter"
	failedLookups := func() []observer.LoggedEntry {
		var out []observer.LoggedEntry
		for _, e := range logs.FilterMessageSnippet(cannot).All() {
			if err, _ := e.ContextMap()["error"].(string); strings.Contains(err, "dead-letter stream unreadable") {
				out = append(out, e)
			}
		}
		return out
	}
	for len(failedLookups()) < 2 {
		if ctx.Err() != nil {
			t.Fatal("the dead-letter stream was never looked in")
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, e := range failedLookups() {
		if !strings.Contains(e.Message, "could not be read") || !strings.Contains(e.Message, "none was written") {
			t.Errorf("a failed look for the earlier letter is logged as %q, want it to say the stream could not be read and nothing was written", e.Message)
		}
	}
	if lost.refusals() == 0 {
		t.Fatal("no dead letter was refused: the test did not keep the stream unwritable")
	}
	for _, e := range logs.FilterMessageSnippet(cannot).All() {
		if err, _ := e.ContextMap()["error"].(string); strings.Contains(err, "dead-letter stream unavailable") && strings.Contains(e.Message, "could not be read") {
			t.Errorf("a refused write is logged as a failed read: %q", e.Message)
		}
	}
	// Each of those counted: the event is stuck in the work stream meanwhile.
	if err := s.StopWorkers(ctx); err != nil {
		t.Fatal(err)
	}
	logged := len(logs.FilterMessageSnippet(cannot).All())
	if n := testutil.ToFloat64(s.metrics.deadFailed.WithLabelValues(groupCreated)); n != float64(logged) {
		t.Errorf("dead_letter_failures_total = %v, want each of the %d failures logged", n, logged)
	}
	wantOneDeadLetter(ctx, t, s)
}
