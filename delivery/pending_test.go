package delivery_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/imcallback/imcallback/delivery"
)

// TestLostAcknowledgementsDoNotStallAppends removes the stream and puts a
// plain subscriber on its subjects, so appends are received but never
// acknowledged. Each append fails within PublishTimeout, its entry leaves
// the publisher's table, and once the stream is back appends succeed and
// the service is ready again.
func TestLostAcknowledgementsDoNotStallAppends(t *testing.T) {
	o := options(t, backend{name: "embedded"})
	o.PublishTimeout = 200 * time.Millisecond
	o.Stream, o.SubjectPrefix = "LOSTACK", "lostack"
	s := start(t, o, nil)
	conn := s.Conn()
	ctx := context.Background()
	if err := conn.JS.DeleteStream(ctx, o.Stream); err != nil {
		t.Fatal(err)
	}
	sink, err := conn.NC.Subscribe(o.SubjectPrefix+".>", func(*nats.Msg) {}) // takes appends, never acknowledges
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if err := s.Accept(ctx, request(testCommand, "lost-"+string(rune('a'+i)))); err == nil {
			t.Fatal("an append nobody acknowledged was reported as stored")
		}
	}
	eventually(t, 5*time.Second, "lost appends leave the publisher's table", func() bool {
		return conn.JS.PublishAsyncPending() == 0
	})
	if err := sink.Unsubscribe(); err != nil {
		t.Fatal(err)
	}
	// The service sets the missing stream up again by itself. On a loaded
	// machine a probe can outlast the 200 ms PublishTimeout once more, and
	// the embedded server is restarted after two failed checks: an append
	// succeeds once that is over.
	eventually(t, 30*time.Second, "the stream set up again and taking appends", func() bool {
		return s.Check(ctx) == nil && s.Accept(ctx, request(testCommand, "after")) == nil
	})
}

// TestDeadLettersHaveNoAgeLimit checks the dead-letter stream keeps its
// messages until they are replayed, also when it existed with an age limit.
func TestDeadLettersHaveNoAgeLimit(t *testing.T) {
	o := options(t, backend{name: "embedded"})
	o.Stream, o.SubjectPrefix = "AGED", "aged"
	first := start(t, o, nil)
	ctx := context.Background()
	js := first.Conn().JS
	dead, err := js.Stream(ctx, o.DeadStream())
	if err != nil {
		t.Fatal(err)
	}
	if age := dead.CachedInfo().Config.MaxAge; age != 0 {
		t.Fatalf("new dead-letter stream MaxAge %v, want none", age)
	}
	cfg := dead.CachedInfo().Config
	cfg.MaxAge = 7 * 24 * time.Hour // as an older version created it
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if err := first.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	again := start(t, o, nil)
	dead, err = again.Conn().JS.Stream(ctx, o.DeadStream())
	if err != nil {
		t.Fatal(err)
	}
	if age := dead.CachedInfo().Config.MaxAge; age != 0 {
		t.Fatalf("existing dead-letter stream kept MaxAge %v", age)
	}
}

// TestPendingAppendsAreBounded: the appends waiting for their
// acknowledgement are bounded by MaxPendingAppends. Through a proxy that
// holds back everything the server sends, the service reports not ready
// once 90 % of the bound wait, refuses an append beyond the bound (the
// dispatcher answers it 503) instead of queueing it, and once the
// acknowledgements come every waiting append is answered as stored and is
// in the stream, the refused one is not, and the service is ready again.
// Nothing here is timed: the waits are bounds only broken code runs into.
func TestPendingAppendsAreBounded(t *testing.T) {
	// External, on a port of its own choosing: a failing server is not
	// restarted under the test.
	ns := natsServer(t, "127.0.0.1:-1", 0)
	p := startLaggyProxy(t, strings.TrimPrefix(ns.ClientURL(), "nats://"))
	o := options(t, backend{name: "embedded"})
	o.StoreDir = ""
	o.URL = "nats://" + p.addr
	o.PublishTimeout = 2 * time.Minute // longer than ctx below: no held append times out before the test's own bound
	s := start(t, o, nil)
	t.Cleanup(p.release) // before the service stops, which waits for its appends
	js := s.Conn().JS
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	// The probe of a check, held back like everything else, is bounded:
	// a check that gets that far fails instead of waiting for the release.
	check := func() error {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		return s.Check(ctx)
	}
	if err := check(); err != nil {
		t.Fatalf("not ready before the test: %v", err)
	}

	p.stall()
	notReadyFrom := delivery.MaxPendingAppends * 9 / 10
	answers := make(chan error, delivery.MaxPendingAppends)
	send := func(from, to int) {
		for i := from; i < to; i++ {
			go func() { answers <- s.Accept(ctx, request(testCommand, "held-"+strconv.Itoa(i))) }()
		}
	}
	send(0, notReadyFrom-1)
	eventually(t, 30*time.Second, "the appends below 90 % waiting", func() bool {
		return js.PublishAsyncPending() == notReadyFrom-1
	})
	// Below 90 % the pending count does not fail the check (its held-back
	// probe does).
	if err := check(); err != nil && strings.Contains(err.Error(), "appends are waiting") {
		t.Errorf("not ready with %d of %d appends waiting: %v", notReadyFrom-1, delivery.MaxPendingAppends, err)
	}
	send(notReadyFrom-1, notReadyFrom)
	eventually(t, 30*time.Second, "90 % of the appends waiting", func() bool {
		return js.PublishAsyncPending() == notReadyFrom
	})
	if err := check(); err == nil || !strings.Contains(err.Error(), "appends are waiting") {
		t.Errorf("with %d of %d appends waiting the readiness check says %v, want not ready", notReadyFrom,
			delivery.MaxPendingAppends, err)
	}
	send(notReadyFrom, delivery.MaxPendingAppends)
	eventually(t, 30*time.Second, "every append the bound allows waiting", func() bool {
		return js.PublishAsyncPending() == delivery.MaxPendingAppends
	})
	err := awaitAnswer(t, acceptAsync(ctx, s, request(testCommand, "beyond")))
	if !errors.Is(err, jetstream.ErrTooManyStalledMsgs) {
		t.Errorf("an append beyond the bound answered %v, want it refused as %v", err, jetstream.ErrTooManyStalledMsgs)
	}
	if n := js.PublishAsyncPending(); n != delivery.MaxPendingAppends {
		t.Errorf("%d appends waiting after the refusal, want the bound %d", n, delivery.MaxPendingAppends)
	}

	p.release()
	for range delivery.MaxPendingAppends {
		if err := awaitAnswer(t, answers); err != nil {
			t.Fatalf("an append held back and then acknowledged answered %v, want stored", err)
		}
	}
	if n := streamMsgs(t, js, o); n != delivery.MaxPendingAppends {
		t.Errorf("the stream holds %d events, want the %d acknowledged ones (not the refused one)", n, delivery.MaxPendingAppends)
	}
	eventually(t, 15*time.Second, "ready again", func() bool { return check() == nil })
}
