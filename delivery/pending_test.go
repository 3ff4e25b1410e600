package delivery_test

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
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
	// The service sets the missing stream up again by itself.
	eventually(t, 10*time.Second, "the stream set up again and ready", func() bool { return s.Check(ctx) == nil })
	accept(t, s, request(testCommand, "after"))
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
