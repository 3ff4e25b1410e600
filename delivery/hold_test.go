package delivery_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/imcallback/imcallback/delivery"
	"github.com/imcallback/imcallback/dispatcher"
	"github.com/prometheus/client_golang/prometheus"
)

// otherCommand is a second after-command, which keeps running while
// testCommand is paused.
const otherCommand = "Test.CallbackAfterOther"

// TestNoAfterCommandsPausesNone: a service whose workers handle no
// after-command refuses to pause or resume any command, as one with
// after-commands refuses another; it took every name it was sent (POST
// /v1/delivery/pause), each kept and listed as paused.
func TestNoAfterCommandsPausesNone(t *testing.T) {
	for _, commands := range [][]string{nil, {}} {
		s, err := delivery.New(delivery.DefaultOptions(), zap.NewNop(), prometheus.NewRegistry())
		if err != nil {
			t.Fatal(err)
		}
		s.SetCommands(commands)
		if err := s.PauseCommand(testCommand); !errors.Is(err, delivery.ErrUnknownCommand) {
			t.Errorf("SetCommands(%#v): pausing %s: %v, want ErrUnknownCommand", commands, testCommand, err)
		}
		if err := s.ResumeCommand(testCommand); !errors.Is(err, delivery.ErrUnknownCommand) {
			t.Errorf("SetCommands(%#v): resuming %s: %v, want ErrUnknownCommand", commands, testCommand, err)
		}
		if got := s.PausedCommands(); len(got) != 0 {
			t.Errorf("SetCommands(%#v): paused %v, want none", commands, got)
		}
	}
}

// TestPausedCommandIsHeldWhileOthersRun: PauseCommand holds one command's
// events back (stored, not processed) while another command's run; the
// deliveries spent holding them back are no attempts, so with a single
// allowed attempt a held event still runs once resumed instead of being
// dead-lettered.
func TestPausedCommandIsHeldWhileOthersRun(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		o := options(t, b)
		o.MaxDeliveries = 1
		o.HoldRecheck = 100 * time.Millisecond
		rec := newRecorder()
		d := dispatcherFor(t, rec, otherCommand)
		s := start(t, o, d)
		s.SetCommands(d.AfterCommands())

		if err := s.PauseCommand("Test.CallbackAfterNobody"); !errors.Is(err, delivery.ErrUnknownCommand) {
			t.Fatalf("pausing an unknown command: %v, want ErrUnknownCommand", err)
		}
		if got := s.PausedCommands(); len(got) != 0 {
			t.Fatalf("a refused pause left %v paused", got)
		}
		if err := s.PauseCommand(testCommand); err != nil {
			t.Fatal(err)
		}
		if err := s.PauseCommand(testCommand); err != nil { // twice is no error
			t.Fatal(err)
		}
		if got := s.PausedCommands(); !slices.Equal(got, []string{testCommand}) {
			t.Fatalf("paused %v, want [%s]", got, testCommand)
		}

		accept(t, s, request(testCommand, "held"))
		accept(t, s, request(otherCommand, "runs"))
		eventually(t, 10*time.Second, "the other command's event applied", func() bool { return rec.appliedCount("runs") == 1 })
		time.Sleep(20 * o.HoldRecheck) // the held event is offered and given back many times
		if n := len(rec.callTimes("held")); n != 0 {
			t.Fatalf("the paused command's handler ran %d times", n)
		}
		if n := pending(t, s); n != 1 {
			t.Fatalf("pending %d, want the held event", n)
		}

		if err := s.ResumeCommand(testCommand); err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, "the held event applied", func() bool { return rec.appliedCount("held") == 1 })
		eventually(t, 10*time.Second, "nothing pending", func() bool { return pending(t, s) == 0 })
		if n := len(rec.callTimes("held")); n != 1 {
			t.Errorf("the held event ran %d times, want 1", n)
		}
		if n := metric(t, s.reg, "imcallback_delivery_dead_letters_total", "command", testCommand); n != 0 {
			t.Errorf("dead_letters_total = %v, want 0: the deliveries given back counted as attempts", n)
		}
		if got := s.PausedCommands(); len(got) != 0 {
			t.Errorf("still paused: %v", got)
		}
	})
}

// TestReplicasNeedACluster: the embedded server is one node, so streams
// of several replicas are refused before anything starts.
func TestReplicasNeedACluster(t *testing.T) {
	o := delivery.DefaultOptions()
	o.StoreDir = t.TempDir()
	o.Replicas = 3
	if _, err := delivery.New(o, zap.NewNop(), prometheus.NewRegistry()); err == nil || !strings.Contains(err.Error(), "needs a NATS cluster") {
		t.Errorf("embedded with 3 replicas: %v", err)
	}
}

// unroutable is a processor whose every copy has lost its destination.
type unroutable struct{}

func (unroutable) Process(context.Context, *dispatcher.Request) error {
	return fmt.Errorf("forward: %w: %q", dispatcher.ErrUnroutable, "gone")
}

// TestUnroutableCopyIsDeadLetteredAtOnce: retrying cannot bring a removed
// destination back, so its copy is dead-lettered on its first delivery.
func TestUnroutableCopyIsDeadLetteredAtOnce(t *testing.T) {
	o := options(t, backend{name: "embedded"})
	o.MaxDeliveries = 5
	s := start(t, o, unroutable{})
	accept(t, s, request(testCommand, "u1"))
	var dead []delivery.DeadLetter
	eventually(t, 10*time.Second, "the dead letter", func() bool {
		dead = deadLetters(t, events(t, s))
		return len(dead) == 1
	})
	if dead[0].Deliveries != 1 || !strings.Contains(dead[0].Error, "not configured") {
		t.Errorf("dead letter after %d deliveries: %q", dead[0].Deliveries, dead[0].Error)
	}
}

// TestHeldCountsOfAnotherReplicasEventsAreDropped: replicas share one
// consumer, so an event one replica held back while its command was
// paused there may be processed by another. The first replica never sees
// it again; its count of given-back deliveries is dropped once the
// consumer's acknowledgement floor has passed the event.
func TestHeldCountsOfAnotherReplicasEventsAreDropped(t *testing.T) {
	url := os.Getenv(natsURLEnv)
	if url == "" {
		t.Skipf("set %s (e.g. nats://127.0.0.1:4222): replicas share a stream on a real NATS server", natsURLEnv)
	}
	o := options(t, backend{name: "nats", url: url})
	o.HoldRecheck = 50 * time.Millisecond
	// The deliveries the first replica gives back count on the second as
	// delivered (the count of given-back deliveries is per process; see
	// docs/delivery.md): with the usual 3 the second replica would
	// dead-letter the event if it started after three give-backs, 150 ms.
	// A limit far above the test's timeouts keeps this test on the count
	// it is about.
	o.MaxDeliveries = 1000
	rec := newRecorder()
	d := dispatcherFor(t, rec)

	a := start(t, o, d)
	if err := a.PauseCommand(testCommand); err != nil {
		t.Fatal(err)
	}
	accept(t, a, request(testCommand, "elsewhere"))
	eventually(t, 10*time.Second, "the event held back on the first replica", func() bool { return a.HeldCounts() == 1 })

	start(t, o, d) // a second replica, where the command is not paused
	eventually(t, 10*time.Second, "the event applied by the second replica", func() bool { return rec.appliedCount("elsewhere") == 1 })
	eventually(t, 10*time.Second, "the first replica's count dropped", func() bool { return a.HeldCounts() == 0 })
	if n := len(rec.callTimes("elsewhere")); n != 1 {
		t.Errorf("the event ran %d times, want 1", n)
	}
}

// TestHeldCountsEndWithTheConsumer: the consumer deleted while a command is
// paused is created again by the workers, and the server counts each
// event's deliveries from 1 anew; the deliveries given back to the old
// consumer are dropped, so they are not taken off the new count (which
// would give the event more attempts than MaxDeliveries). The held event
// still runs once when resumed.
func TestHeldCountsEndWithTheConsumer(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		o := options(t, b)
		o.HoldRecheck = 50 * time.Millisecond
		o.MaxDeliveries = 1000 // the test is about the count, not the limit
		rec := newRecorder()
		d := dispatcherFor(t, rec)
		s := start(t, o, d)
		if err := s.PauseCommand(testCommand); err != nil {
			t.Fatal(err)
		}
		accept(t, s, request(testCommand, "held"))
		eventually(t, 15*time.Second, "the event given back 20 times", func() bool { return s.MostHeld() >= 20 })

		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		js := s.Conn().JS
		if err := js.DeleteConsumer(ctx, s.Options().Stream, s.Options().Consumer); err != nil {
			t.Fatal(err)
		}
		// Every delivery counted as given back from now on was made by the
		// new consumer, which says how many it made.
		eventually(t, 15*time.Second, "the given-back count within the new consumer's deliveries", func() bool {
			c, err := js.Consumer(ctx, s.Options().Stream, s.Options().Consumer)
			if err != nil {
				return false // not created again yet
			}
			held := s.MostHeld()
			info, err := c.Info(ctx)
			return err == nil && info.Delivered.Consumer >= 1 && held <= info.Delivered.Consumer
		})

		if err := s.ResumeCommand(testCommand); err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, "the held event applied", func() bool { return rec.appliedCount("held") == 1 })
		if n := len(rec.callTimes("held")); n != 1 {
			t.Errorf("the held event ran %d times, want 1", n)
		}
	})
}

// TestDeliveryStatusMarksTheAfterCommands: GET /v1/delivery lists, beside
// the after-commands, any other command with events, such as one whose
// handler a later version left out, seen in its dead letters. Its line
// looked like an after-command's, and the console offered to pause it,
// which the service refuses; after_command now tells the two apart.
func TestDeliveryStatusMarksTheAfterCommands(t *testing.T) {
	o := options(t, backend{name: "embedded"})
	rec := newRecorder()
	rec.set(0, func(string, int) error { return fmt.Errorf("handler failed: %w", dispatcher.ErrPermanent) })
	s := start(t, o, dispatcherFor(t, rec))
	accept(t, s, request(testCommand, "handler gone"))
	eventually(t, 30*time.Second, "the event dead-lettered", func() bool {
		return len(deadLetters(t, events(t, s))) == 1 && pending(t, s) == 0
	})
	s.SetCommands([]string{otherCommand}) // as a later version that handles otherCommand only
	var st struct {
		Commands []delivery.CommandState `json:"commands"`
	}
	adminGet(t, s)("/v1/delivery", &st)
	want := []delivery.CommandState{
		{Command: otherCommand, State: "running", AfterCommand: true},
		{Command: testCommand, State: "running", DeadLetters: 1},
	}
	if !slices.Equal(st.Commands, want) {
		t.Errorf("GET /v1/delivery commands %+v, want %+v", st.Commands, want)
	}
	if err := s.PauseCommand(testCommand); !errors.Is(err, delivery.ErrUnknownCommand) {
		t.Errorf("pausing %s: %v, want ErrUnknownCommand", testCommand, err)
	}
}
