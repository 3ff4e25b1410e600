package delivery_test

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imcallback/imcallback/delivery"
	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/imtest"
)

func TestAcceptStoresBeforeAnswering(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		o := options(t, b)
		s := start(t, o, nil) // no workers: the event must stay as stored
		r := request(testCommand, "a1")
		accept(t, s, r)

		// Accept has returned: the PubAck came, so the event is readable now.
		evs := listEvents(t, events(t, s), delivery.Filter{})
		if len(evs) != 1 {
			t.Fatalf("stream holds %d events, want 1", len(evs))
		}
		ev := evs[0]
		prefix := s.Options().SubjectPrefix
		want := delivery.Event{
			Stream: s.Options().Stream, Seq: 1, Time: ev.Time,
			Subject: prefix + ".1400000000." + testCommand, Command: testCommand, AppID: "1400000000",
			Size: len(r.Body), ReceivedAt: ev.ReceivedAt, RequestID: "req-a1",
			MsgID: delivery.RequestMsgID(r),
		}
		if ev != want {
			t.Errorf("event\n got %+v\nwant %+v", ev, want)
		}
		if !ev.ReceivedAt.Equal(r.ReceivedAt) {
			t.Errorf("received_at %v, want %v", ev.ReceivedAt, r.ReceivedAt)
		}

		st, err := s.Conn().JS.Stream(context.Background(), s.Options().Stream)
		if err != nil {
			t.Fatal(err)
		}
		raw, err := st.GetMsg(context.Background(), 1)
		if err != nil {
			t.Fatal(err)
		}
		got, err := delivery.Decode(raw.Header, raw.Data)
		if err != nil {
			t.Fatal(err)
		}
		wantParams := r.Params
		wantParams.Sign = "" // never stored
		switch {
		case string(got.Body) != string(r.Body):
			t.Errorf("body %s, want %s", got.Body, r.Body)
		case got.Params != wantParams:
			t.Errorf("params %+v, want %+v", got.Params, wantParams)
		case !got.ReceivedAt.Equal(r.ReceivedAt):
			t.Errorf("received at %v, want %v", got.ReceivedAt, r.ReceivedAt)
		case got.Command != r.Command || got.RequestID != r.RequestID:
			t.Errorf("command %q request id %q", got.Command, got.RequestID)
		}
		if n := metric(t, s.reg, "imcallback_delivery_appended_total", "command", testCommand); n != 1 {
			t.Errorf("appended_total = %v, want 1", n)
		}
		if n := metric(t, s.reg, "imcallback_delivery_publish_seconds"); n != 1 {
			t.Errorf("publish_seconds count = %v, want 1", n)
		}
		// Polled: the server answers the append before it tells the
		// consumer of the event, and one read of the gauge (bounded at
		// 500 ms) can find the consumer counting nothing yet, or the shared
		// server too slow to answer (NaN).
		eventually(t, 10*time.Second, "the pending gauge at 1 (no workers run)", func() bool {
			return metric(t, s.reg, "imcallback_delivery_pending") == 1
		})
	})
}

func TestDuplicateInsideWindowIsProcessedOnce(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		rec := newRecorder()
		s := start(t, options(t, b), dispatcherFor(t, rec))
		first := request(testCommand, "dup")
		accept(t, s, first)
		retry := request(testCommand, "dup") // Tencent's retry: same body, later
		accept(t, s, retry)
		eventually(t, 10*time.Second, "the event applied", func() bool { return rec.appliedCount("dup") == 1 })
		eventually(t, 10*time.Second, "nothing pending", func() bool { return pending(t, s) == 0 })
		if n := len(rec.callTimes("dup")); n != 1 {
			t.Errorf("handler ran %d times, want 1", n)
		}
		if n := metric(t, s.reg, "imcallback_delivery_duplicates_total", "command", testCommand); n != 1 {
			t.Errorf("duplicates_total = %v, want 1", n)
		}
		if n := metric(t, s.reg, "imcallback_delivery_appended_total", "command", testCommand); n != 1 {
			t.Errorf("appended_total = %v, want 1", n)
		}
	})
}

func TestFailingHandlerIsRetriedWithBackoff(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		o := options(t, b)
		o.Backoff = []time.Duration{150 * time.Millisecond, 300 * time.Millisecond}
		o.MaxDeliveries = 5
		rec := newRecorder()
		rec.set(0, func(_ string, call int) error {
			if call <= 2 {
				return fmt.Errorf("transient failure %d", call)
			}
			return nil
		})
		s := start(t, o, dispatcherFor(t, rec))
		accept(t, s, request(testCommand, "r1"))
		eventually(t, 10*time.Second, "the event applied", func() bool { return rec.appliedCount("r1") == 1 })
		eventually(t, 10*time.Second, "nothing pending", func() bool { return pending(t, s) == 0 })
		calls := rec.callTimes("r1")
		if len(calls) != 3 {
			t.Fatalf("handler ran %d times, want 3", len(calls))
		}
		for i, want := range o.Backoff {
			if gap := calls[i+1].Sub(calls[i]); gap < want {
				t.Errorf("redelivery %d came after %v, want at least %v", i+1, gap, want)
			}
		}
		if n := rec.appliedCount("r1"); n != 1 {
			t.Errorf("applied %d times, want 1", n)
		}
		for _, c := range []struct {
			name   string
			labels []string
			want   float64
		}{
			{"imcallback_delivery_retries_total", []string{"command", testCommand}, 2},
			{"imcallback_delivery_processed_total", []string{"command", testCommand, "outcome", "error"}, 2},
			{"imcallback_delivery_processed_total", []string{"command", testCommand, "outcome", "ok"}, 1},
			{"imcallback_delivery_dead_letters_total", []string{"command", testCommand}, 0},
		} {
			if got := metric(t, s.reg, c.name, c.labels...); got != c.want {
				t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
			}
		}
	})
}

func TestAlwaysFailingHandlerIsDeadLetteredAndReplayedAfterTheFix(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		o := options(t, b)
		rec := newRecorder()
		var fixed atomic.Bool
		rec.set(0, func(string, int) error {
			if fixed.Load() {
				return nil
			}
			return errors.New("boom: the store is down")
		})
		s := start(t, o, dispatcherFor(t, rec))
		accept(t, s, request(testCommand, "d1"))
		e := events(t, s)
		var dead []delivery.DeadLetter
		eventually(t, 10*time.Second, "a dead letter", func() bool {
			dead = deadLetters(t, e)
			return len(dead) == 1
		})
		d := dead[0]
		switch {
		case !strings.Contains(d.Error, "boom: the store is down"):
			t.Errorf("dead letter error %q", d.Error)
		case d.Deliveries != uint64(o.MaxDeliveries):
			t.Errorf("dead letter deliveries %d, want %d", d.Deliveries, o.MaxDeliveries)
		case d.OriginalSeq != 1 || d.OriginalStream != s.Options().Stream:
			t.Errorf("dead letter original %s #%d", d.OriginalStream, d.OriginalSeq)
		case d.Command != testCommand || d.AppID != "1400000000" || d.RequestID != "req-d1":
			t.Errorf("dead letter %+v", d)
		case d.Subject != s.Options().DeadPrefix()+".1400000000."+testCommand:
			t.Errorf("dead letter subject %q", d.Subject)
		}
		eventually(t, 10*time.Second, "the work consumer empty", func() bool { return pending(t, s) == 0 })
		if n := len(rec.callTimes("d1")); n != o.MaxDeliveries {
			t.Errorf("handler ran %d times, want %d", n, o.MaxDeliveries)
		}
		if n := metric(t, s.reg, "imcallback_delivery_dead_letters_total", "command", testCommand); n != 1 {
			t.Errorf("dead_letters_total = %v, want 1", n)
		}

		fixed.Store(true)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var progress []int
		res, err := e.ReplayDead(ctx, func(done, total int) { progress = append(progress, done, total) })
		if err != nil {
			t.Fatal(err)
		}
		if res.Replayed != 1 || len(res.Missing) != 0 || fmt.Sprint(progress) != "[1 1]" {
			t.Fatalf("replay = %+v, progress %v", res, progress)
		}
		eventually(t, 10*time.Second, "the replayed event applied", func() bool { return rec.appliedCount("d1") == 1 })
		if left := deadLetters(t, e); len(left) != 0 {
			t.Errorf("%d dead letters left after the replay", len(left))
		}
		evs := listEvents(t, e, delivery.Filter{Command: testCommand})
		if len(evs) != 2 || evs[1].ReplayOf != fmt.Sprintf("%s:1", s.Options().Stream) {
			t.Errorf("work stream after replay: %+v", evs)
		}
	})
}

func TestReplayBySequenceAndSelection(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		rec := newRecorder()
		s := start(t, options(t, b), dispatcherFor(t, rec))
		for _, id := range []string{"s1", "s2", "s3"} {
			accept(t, s, request(testCommand, id))
		}
		accept(t, s, request("Test.CallbackAfterOther", "o1"))
		eventually(t, 10*time.Second, "all processed", func() bool { return rec.storedCount() == 3 && pending(t, s) == 0 })
		e := events(t, s)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		seqs, err := e.Select(ctx, delivery.Filter{Command: testCommand, Since: time.Now().Add(-time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(seqs) != "[1 2 3]" {
			t.Fatalf("selected %v, want [1 2 3]", seqs)
		}
		if future, _ := e.Select(ctx, delivery.Filter{Since: time.Now().Add(time.Hour)}); len(future) != 0 {
			t.Errorf("events since an hour from now: %v", future)
		}
		res, err := e.Replay(ctx, []uint64{2, 99}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if res.Replayed != 1 || fmt.Sprint(res.Missing) != "[99]" {
			t.Errorf("replay = %+v", res)
		}
		eventually(t, 10*time.Second, "s2 applied again", func() bool { return rec.appliedCount("s2") == 2 })
		if rec.appliedCount("s1") != 1 || rec.appliedCount("s3") != 1 {
			t.Errorf("events not selected were replayed")
		}
		var progress []int
		res, err = e.Replay(ctx, []uint64{98}, func(done, total int) { progress = append(progress, done, total) })
		if err != nil || res.Replayed != 0 || fmt.Sprint(res.Missing) != "[98]" || fmt.Sprint(progress) != "[1 1]" {
			t.Errorf("replay of a missing event = %+v, %v, progress %v", res, err, progress)
		}
	})
}

func TestCommandWithoutHandlerIsAcknowledgedAndCounted(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		rec := newRecorder()
		s := start(t, options(t, b), dispatcherFor(t, rec))
		const unknown = "Test.CallbackAfterNobodyListens"
		accept(t, s, request(unknown, "u1"))
		eventually(t, 10*time.Second, "the event counted", func() bool {
			return metric(t, s.reg, "imcallback_delivery_processed_total", "command", unknown, "outcome", "no_handler") == 1
		})
		eventually(t, 10*time.Second, "nothing pending", func() bool { return pending(t, s) == 0 })
		if n := metric(t, s.reg, "imcallback_delivery_retries_total", "command", unknown); n != 0 {
			t.Errorf("retries_total = %v, want 0", n)
		}
	})
}

func TestStopWithWorkInFlightLosesNothing(t *testing.T) {
	for _, c := range []struct {
		name     string
		shutdown time.Duration
		handler  time.Duration // or until its context ends
	}{
		{"in-flight handlers finish", 5 * time.Second, 300 * time.Millisecond},
		// A second, not less: the timeout also bounds the NATS drain of
		// the stop, which must succeed on a busy machine.
		{"in-flight handlers cut short", time.Second, time.Minute},
	} {
		t.Run(c.name, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, b backend) {
				o := options(t, b)
				o.ShutdownTimeout = c.shutdown
				rec := newRecorder()
				rec.set(c.handler, nil)
				first := start(t, o, dispatcherFor(t, rec))
				const n = 40
				for i := range n {
					accept(t, first, request(testCommand, fmt.Sprintf("e%02d", i)))
				}
				for range o.Workers { // every worker busy
					<-rec.started
				}
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				if err := first.Stop(ctx); err != nil {
					t.Fatalf("stop: %v", err)
				}
				before := rec.storedCount()
				if before == n {
					t.Fatalf("all %d events done before the stop; the test proves nothing", n)
				}

				rec.set(0, nil)
				second := start(t, o, dispatcherFor(t, rec)) // same directory or stream
				eventually(t, 20*time.Second, "every event applied", func() bool { return rec.storedCount() == n })
				eventually(t, 10*time.Second, "nothing pending", func() bool { return pending(t, second) == 0 })
				for i := range n {
					if id := fmt.Sprintf("e%02d", i); rec.appliedCount(id) < 1 {
						t.Errorf("%s never applied", id)
					}
				}
				t.Logf("stored before the stop %d, after the restart %d of %d", before, rec.storedCount(), n)
			})
		})
	}
}

func TestUnavailableStreamAnswersErrorAndRecovers(t *testing.T) {
	t.Run("server down", func(t *testing.T) {
		// An embedded server with a listener stands in for a NATS server
		// that goes away and comes back on the same address and store: an
		// address of imtest.FreeAddr, as a port of the ephemeral range left
		// unused during the outage may be taken by another package's test.
		dir := t.TempDir()
		emb, err := delivery.StartEmbedded(delivery.EmbeddedOptions{StoreDir: dir, Listen: imtest.FreeAddr(t)}, testLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		url := emb.ClientURL()
		o := options(t, backend{name: "embedded"})
		o.URL = url
		var restarted *delivery.Embedded
		t.Cleanup(func() { // registered first, so it runs after the service stopped
			if restarted != nil {
				restarted.Shutdown()
			}
		})
		rec := newRecorder()
		s := start(t, o, dispatcherFor(t, rec))
		accept(t, s, request(testCommand, "before"))
		if err := s.Check(context.Background()); err != nil {
			t.Fatalf("check before the outage: %v", err)
		}

		emb.Shutdown()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Accept(ctx, request(testCommand, "during")); err == nil {
			t.Fatal("accept succeeded with the server down")
		}
		if err := s.Check(ctx); err == nil {
			t.Fatal("check passed with the server down")
		}

		host := strings.TrimPrefix(url, "nats://")
		restarted, err = delivery.StartEmbedded(delivery.EmbeddedOptions{StoreDir: dir, Listen: host}, testLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, 15*time.Second, "the check recovered", func() bool { return s.Check(ctx) == nil })
		accept(t, s, request(testCommand, "after"))
		eventually(t, 15*time.Second, "events applied", func() bool {
			return rec.appliedCount("before") == 1 && rec.appliedCount("after") == 1
		})
	})
	t.Run("stream deleted", func(t *testing.T) {
		forEachBackend(t, func(t *testing.T, b backend) {
			o := options(t, b)
			rec := newRecorder()
			s := start(t, o, nil)
			accept(t, s, request(testCommand, "before"))
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := s.Conn().JS.DeleteStream(ctx, s.Options().Stream); err != nil {
				t.Fatal(err)
			}
			if err := s.Accept(ctx, request(testCommand, "during")); err == nil {
				t.Fatal("accept succeeded without the stream")
			}
			if err := s.Check(ctx); err == nil {
				t.Fatal("check passed without the stream")
			}
			// The supervisor sets the stream up again; the workers ask it to.
			if err := s.StartWorkers(dispatcherFor(t, rec)); err != nil {
				t.Fatal(err)
			}
			eventually(t, 15*time.Second, "the check recovered", func() bool { return s.Check(ctx) == nil })
			accept(t, s, request(testCommand, "after"))
			eventually(t, 15*time.Second, "the new event applied", func() bool { return rec.appliedCount("after") == 1 })
		})
	})
}

// TestChecksShareOneProbe: /readyz needs no token and runs Check at each
// request, and a probe is a real write whose Nats-Msg-Id the server keeps
// for its whole dedup window. Checks at once and one after another write
// one probe while a successful write stands for it (an hour here, so the
// test does not depend on the machine's speed), not one each.
func TestChecksShareOneProbe(t *testing.T) {
	s := start(t, options(t, backend{name: "embedded"}), nil)
	s.SetWriteProves(time.Hour)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	lastSeq := func() uint64 {
		t.Helper()
		st, err := s.Conn().JS.Stream(ctx, s.Options().Stream)
		if err != nil {
			t.Fatal(err)
		}
		return st.CachedInfo().State.LastSeq
	}
	before := lastSeq()
	const together, inTurn = 20, 5
	errs := make(chan error, together)
	for range together {
		go func() { errs <- s.Check(ctx) }()
	}
	for range together {
		if err := <-errs; err != nil {
			t.Fatalf("check: %v", err)
		}
	}
	for range inTurn {
		if err := s.Check(ctx); err != nil {
			t.Fatalf("check: %v", err)
		}
	}
	if n := lastSeq() - before; n > 1 {
		t.Errorf("%d checks wrote %d probes to the stream, want at most 1", together+inTurn, n)
	}
}

func TestFailedAppendMakesNotReadyUntilTheStreamTakesEventsAgain(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s := start(t, options(t, b), nil)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		setSubjects(ctx, t, s, s.Options().SubjectPrefix+"_elsewhere.>")
		// The connection is up and the stream readable, but it takes no events.
		if err := s.Accept(ctx, request(testCommand, "x")); err == nil {
			t.Fatal("accept succeeded for a subject the stream does not take")
		}
		// Not ready: either the check itself finds the failed append, or the
		// supervisor (woken by the failure) already saw the drifted stream
		// and is setting it up again.
		if err := s.Check(ctx); err == nil ||
			!strings.Contains(err.Error(), "last append failed") && !strings.Contains(err.Error(), "not set up yet") {
			t.Fatalf("check after a failed append: %v", err)
		}
		// The service sets the stream's subjects back by itself (the
		// operator's or an older replica's change is drift to repair).
		eventually(t, 15*time.Second, "the stream takes events again", func() bool { return s.Check(ctx) == nil })
		accept(t, s, request(testCommand, "x"))
	})
}

// TestStreamThatKeepsOnlyTheProbeSubjectIsNotReady: a work stream that
// still takes the probe's subject but no longer the events' fails every
// append while the probe succeeds; readiness said ready, and the supervisor,
// whose check passed, never set the subjects back.
func TestStreamThatKeepsOnlyTheProbeSubjectIsNotReady(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		s := start(t, options(t, b), nil)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		setSubjects(ctx, t, s, s.Options().SubjectPrefix+"_probe", s.Options().SubjectPrefix+"_elsewhere.>")
		if err := s.Accept(ctx, request(testCommand, "x")); err == nil {
			t.Fatal("accept succeeded for a subject the stream does not take")
		}
		if err := s.Check(ctx); err == nil {
			t.Fatal("ready while the stream takes the probe but no event")
		}
		eventually(t, 15*time.Second, "the stream takes events again", func() bool { return s.Check(ctx) == nil })
		accept(t, s, request(testCommand, "x"))
	})
}

// setSubjects sets the subjects of the work stream of s, as an operator or
// an older replica may change them under the service.
func setSubjects(ctx context.Context, t *testing.T, s started, subjects ...string) {
	t.Helper()
	js := s.Conn().JS
	st, err := js.Stream(ctx, s.Options().Stream)
	if err != nil {
		t.Fatal(err)
	}
	cfg := st.CachedInfo().Config
	cfg.Subjects = subjects
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
}

func TestTwoInstancesShareOneStream(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		o := options(t, b)
		if b.url == "" { // both instances reach one embedded server over TCP
			emb, err := delivery.StartEmbedded(delivery.EmbeddedOptions{StoreDir: t.TempDir(), Listen: "127.0.0.1:0"}, testLogger(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(emb.Shutdown)
			o.URL = emb.ClientURL()
		}
		rec := newRecorder()
		rec.set(5*time.Millisecond, nil)
		one := start(t, o, dispatcherFor(t, rec))
		two := start(t, o, dispatcherFor(t, rec))
		const n = 100
		for i := range n {
			s := one
			if i%2 == 1 {
				s = two
			}
			accept(t, s, request(testCommand, fmt.Sprintf("t%03d", i)))
		}
		eventually(t, 20*time.Second, "every event applied", func() bool { return rec.storedCount() == n })
		eventually(t, 10*time.Second, "nothing pending", func() bool { return pending(t, one) == 0 })
		for i := range n {
			if id := fmt.Sprintf("t%03d", i); len(rec.callTimes(id)) != 1 {
				t.Errorf("%s processed %d times, want once", id, len(rec.callTimes(id)))
			}
		}
		ok := func(s started) float64 {
			return metric(t, s.reg, "imcallback_delivery_processed_total", "command", testCommand, "outcome", "ok")
		}
		if ok(one)+ok(two) != n || ok(one) == 0 || ok(two) == 0 {
			t.Errorf("processed by instance one %v, two %v; want both, %d in all", ok(one), ok(two), n)
		}
		t.Logf("instance one processed %v, instance two %v", ok(one), ok(two))
	})
}

func TestSecondEmbeddedServerOnOneDirectoryIsRefused(t *testing.T) {
	o := options(t, backend{name: "embedded"})
	start(t, o, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := delivery.ConnectTool(ctx, o, testLogger(t))
	if !errors.Is(err, delivery.ErrStoreInUse) || !strings.Contains(err.Error(), "IMCALLBACK_NATS_LISTEN") {
		t.Fatalf("tool on a directory in use: %v", err)
	}
}

// TestToolNamesTheListenAddressThatDidNotAnswer: a tool given an
// IMCALLBACK_NATS_LISTEN where the running service's embedded server does
// not listen (another port than the service's, or the service runs
// without one) fell back to the data directory, and the store in use was
// reported as though the variable were unset: "set IMCALLBACK_NATS_LISTEN
// on it". The error now names the address the tool tried and why it
// failed.
func TestToolNamesTheListenAddressThatDidNotAnswer(t *testing.T) {
	o := options(t, backend{name: "embedded"})
	start(t, o, nil)
	tool := o
	tool.Listen = imtest.FreeAddr(t) // nothing listens there
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := delivery.ConnectTool(ctx, tool, testLogger(t))
	if !errors.Is(err, delivery.ErrStoreInUse) {
		t.Fatalf("tool on a directory in use: %v", err)
	}
	for _, want := range []string{"IMCALLBACK_NATS_LISTEN=" + tool.Listen, "did not answer"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error does not say %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "set IMCALLBACK_NATS_LISTEN on it") {
		t.Errorf("the error asks for IMCALLBACK_NATS_LISTEN, which is set:\n%v", err)
	}
}

func TestToolConnectsToTheServiceListener(t *testing.T) {
	o := options(t, backend{name: "embedded"})
	o.Listen = imtest.FreeAddr(t)
	s := start(t, o, nil)
	accept(t, s, request(testCommand, "l1"))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := delivery.ConnectTool(ctx, o, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	e, err := delivery.NewEvents(conn, o)
	if err != nil {
		t.Fatal(err)
	}
	if evs := listEvents(t, e, delivery.Filter{}); len(evs) != 1 {
		t.Errorf("tool sees %d events, want 1", len(evs))
	}
}

// TestEventIDs pins both ids of one event, computed outside Go: the
// stream's Nats-Msg-Id (128 bits of the fingerprint, base64url) and the
// whole fingerprint the forwarded webhook-id is made of.
func TestEventIDs(t *testing.T) {
	body := []byte(`{"a":1}`)
	sum := delivery.Fingerprint("1400000000", "Group.CallbackAfterCreateTopic", body)
	if got, want := hex.EncodeToString(sum[:]), "3929faeeaab088b51720013aa78dd9a0e6a6d20b7780f04741d52adf00033fdc"; got != want {
		t.Errorf("fingerprint %s, want %s", got, want)
	}
	if got, want := delivery.MsgID("1400000000", "Group.CallbackAfterCreateTopic", body), "OSn67qqwiLUXIAE6p43ZoA"; got != want {
		t.Errorf("MsgID %s, want %s", got, want)
	}
}

func TestMsgIDSeparatesFields(t *testing.T) {
	for _, c := range []struct {
		name       string
		a, b       [3]string
		wantSameID bool
	}{
		{"same event", [3]string{"1", "C.X", "{}"}, [3]string{"1", "C.X", "{}"}, true},
		{"fields cannot run together", [3]string{"14", "00C.X", "{}"}, [3]string{"1400", "C.X", "{}"}, false},
		{"body differs", [3]string{"1", "C.X", `{"a":1}`}, [3]string{"1", "C.X", `{"a":2}`}, false},
		{"app differs", [3]string{"1", "C.X", "{}"}, [3]string{"2", "C.X", "{}"}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := delivery.MsgID(c.a[0], c.a[1], []byte(c.a[2]))
			b := delivery.MsgID(c.b[0], c.b[1], []byte(c.b[2]))
			if (a == b) != c.wantSameID || len(a) != 22 {
				t.Errorf("ids %s and %s", a, b)
			}
		})
	}
}

func TestSubject(t *testing.T) {
	for _, c := range []struct{ app, command, want string }{
		{"1400000000", "Group.CallbackAfterCreateTopic", "p.1400000000.Group.CallbackAfterCreateTopic"},
		{"14.00", "A.B", "p.14_00.A.B"},
		{"", "A..B.", "p._.A._B_"},
		{"1", "A*B >C", "p.1.A_B__C"},
	} {
		if got := delivery.Subject("p", c.app, c.command); got != c.want {
			t.Errorf("Subject(%q, %q) = %q, want %q", c.app, c.command, got, c.want)
		}
	}
}

func TestDecodeRejectsForeignMessages(t *testing.T) {
	if _, err := delivery.Decode(nil, []byte("{}")); !errors.Is(err, delivery.ErrUndecodable) {
		t.Errorf("decode without headers: %v", err)
	}
}

// The delivery past MaxDeliveries relies on the delivery
// count of nats-server v2.15 (the embedded engine). The NATS 2.9.10 on the
// test machine reports the redelivery of an event nakked after its pull
// request was cancelled as delivery 1 again, so there the event simply runs
// once more; this test therefore runs on the embedded server only.
func TestInterruptedLastDeliveryIsDeadLetteredWithoutRunningAgain(t *testing.T) {
	o := options(t, backend{name: "embedded"})
	o.MaxDeliveries = 1
	o.ShutdownTimeout = time.Second // also the stop's NATS drain's: not less on a busy machine
	rec := newRecorder()
	rec.set(time.Minute, nil) // outlives the shutdown timeout
	first := start(t, o, dispatcherFor(t, rec))
	accept(t, first, request(testCommand, "i1"))
	<-rec.started
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := first.Stop(ctx); err != nil { // the only allowed attempt is cut short
		t.Fatal(err)
	}

	second := start(t, o, dispatcherFor(t, rec))
	var dead []delivery.DeadLetter
	// Past the ack wait too (7 s here): the event given back by the stop may
	// go to its pull request, still open at the server (the race of the
	// shutdown), and come back only once that has run out.
	eventually(t, 30*time.Second, "a dead letter", func() bool {
		dead = deadLetters(t, events(t, second))
		return len(dead) == 1
	})
	// Deliveries is the server's count: 2 (the interrupted attempt and this
	// one), or more when a redelivery went to the stopped first service's
	// pull request, still open at the server when its handler nakked (the
	// race of its shutdown; the event comes back after the ack wait). Either
	// way the handler did not run again.
	if !strings.Contains(dead[0].Error, "delivery limit reached without a result") || dead[0].Deliveries <= uint64(o.MaxDeliveries) {
		t.Errorf("dead letter %+v", dead[0])
	}
	if n := len(rec.callTimes("i1")); n != 1 {
		t.Errorf("handler ran %d times, want 1 (MaxDeliveries)", n)
	}
	eventually(t, 10*time.Second, "the work consumer empty", func() bool { return pending(t, second) == 0 })
}

// TestAttemptCutShortByTheServiceIsNotCounted: a handler cut short by the
// service's own stop (here a Pause whose shutdown timeout runs out) is
// counted with outcome interrupted, not as a failed attempt or a retry,
// and the same process does not count it toward the dead-letter limit:
// with MaxDeliveries 1 the event runs again once resumed, instead of being
// dead-lettered as past its limit. A handler that fails by its own
// deadline while nothing stops is a failed attempt as before.
func TestAttemptCutShortByTheServiceIsNotCounted(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		o := options(t, b)
		o.Workers = 1 // no pull request waits while the handler runs: the nak comes back to the resumed workers
		o.MaxDeliveries = 1
		o.ShutdownTimeout = time.Second // also the stop's NATS drain's: not less on a busy machine
		rec := newRecorder()
		rec.set(time.Minute, nil) // returns when its context ends: the stop's cancel, long before its deadline
		s := start(t, o, dispatcherFor(t, rec))
		accept(t, s, request(testCommand, "cut"))
		select {
		case <-rec.started:
		case <-time.After(10 * time.Second):
			t.Fatal("the handler never ran")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Pause(ctx); err != nil { // its wait runs out: the handler is cancelled and returns
			t.Fatalf("pause: %v", err)
		}
		processed := func(outcome string) float64 {
			return metric(t, s.reg, "imcallback_delivery_processed_total", "command", testCommand, "outcome", outcome)
		}
		eventually(t, 10*time.Second, "the run counted as interrupted", func() bool { return processed("interrupted") == 1 })
		rec.set(0, nil)
		if err := s.Resume(); err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, "the event applied after the resume", func() bool { return rec.appliedCount("cut") == 1 })
		eventually(t, 10*time.Second, "nothing pending", func() bool { return pending(t, s) == 0 })
		if dead := deadLetters(t, events(t, s)); len(dead) != 0 {
			t.Errorf("dead-lettered: %+v", dead)
		}
		for _, c := range []struct {
			name   string
			labels []string
			want   float64
		}{
			{"imcallback_delivery_processed_total", []string{"command", testCommand, "outcome", "interrupted"}, 1},
			{"imcallback_delivery_processed_total", []string{"command", testCommand, "outcome", "ok"}, 1},
			{"imcallback_delivery_processed_total", []string{"command", testCommand, "outcome", "error"}, 0},
			{"imcallback_delivery_retries_total", []string{"command", testCommand}, 0},
			{"imcallback_delivery_dead_letters_total", []string{"command", testCommand}, 0},
		} {
			if n := metric(t, s.reg, c.name, c.labels...); n != c.want {
				t.Errorf("%s%v = %v, want %v", c.name, c.labels, n, c.want)
			}
		}
		if n := len(rec.callTimes("cut")); n != 2 {
			t.Errorf("handler ran %d times, want 2 (the interrupted run and the attempt)", n)
		}
	})
}

// TestHandlerDeadlineIsAFailedAttempt: a handler whose own deadline passed
// fails an attempt (outcome error) even when the service's stop comes
// before it returns: only a run the stop cut short is interrupted.
func TestHandlerDeadlineIsAFailedAttempt(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		o := options(t, b)
		o.MaxDeliveries = 1
		o.HandlerTimeout = 100 * time.Millisecond
		o.ShutdownTimeout = time.Second // also the stop's NATS drain's: not less on a busy machine
		late := make(chan struct{}, 1)
		release := make(chan struct{})
		s := start(t, o, dispatcherOf(t, func(ctx context.Context, _ *dispatcher.Event[thing]) error {
			<-ctx.Done() // its deadline
			late <- struct{}{}
			<-release // then the stop comes, before it returns
			return ctx.Err()
		}))
		accept(t, s, request(testCommand, "late"))
		select {
		case <-late:
		case <-time.After(10 * time.Second):
			t.Fatal("the handler never reached its deadline")
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = s.Pause(ctx) // gives up on the handler, which ignores its context: its workers' context is cancelled by now
		close(release)
		eventually(t, 10*time.Second, "a dead letter", func() bool { return len(deadLetters(t, events(t, s))) == 1 })
		for outcome, want := range map[string]float64{"error": 1, "interrupted": 0} {
			if n := metric(t, s.reg, "imcallback_delivery_processed_total", "command", testCommand, "outcome", outcome); n != want {
				t.Errorf("processed_total{outcome=%q} = %v, want %v", outcome, n, want)
			}
		}
	})
}
