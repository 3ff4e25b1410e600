package delivery_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/imcallback/imcallback/delivery"
	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/imtest"
	"github.com/imcallback/imcallback/protocol"
)

// TestUndecodableEventIsDeadLetteredAtOnce stores a body that is valid
// JSON but does not fit the payload type: retrying cannot help, so the
// first failure dead-letters it with the decode error, counted apart and
// logged as dead-lettered at once, not after its last delivery.
func TestUndecodableEventIsDeadLetteredAtOnce(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		o := options(t, b)
		o.MaxDeliveries = 10
		rec := newRecorder()
		core, logs := observer.New(zapcore.InfoLevel)
		s := startLogged(t, o, zap.New(core), dispatcherFor(t, rec))
		r := request(testCommand, "never")
		r.Body = fmt.Appendf(nil, `{"CallbackCommand":%q,"Id":42}`, testCommand) // Id is a string
		accept(t, s, r)
		accept(t, s, request(testCommand, "fine"))

		e := events(t, s)
		var dead []delivery.DeadLetter
		eventually(t, 10*time.Second, "the undecodable event dead-lettered", func() bool {
			dead = deadLetters(t, e)
			return len(dead) == 1
		})
		if d := dead[0]; d.Deliveries != 1 || !strings.Contains(d.Error, "does not decode") || d.RequestID != "req-never" {
			t.Fatalf("dead letter %+v: want one delivery and the decode error", d)
		}
		// Both settled: the worker logs the dead-lettering once the
		// letter's acknowledgement is back, after the letter can be read,
		// and terminates the event after that.
		eventually(t, 10*time.Second, "the good event applied and both settled", func() bool {
			return rec.appliedCount("fine") == 1 && pending(t, s) == 0
		})
		if n := metric(t, s.reg, "imcallback_delivery_processed_total", "command", testCommand, "outcome", "undecodable"); n != 1 {
			t.Errorf("processed_total{outcome=undecodable} = %v, want 1", n)
		}
		if n := metric(t, s.reg, "imcallback_delivery_retries_total", "command", testCommand); n != 0 {
			t.Errorf("retries_total = %v, want 0", n)
		}
		if calls := rec.callTimes("never"); len(calls) != 0 {
			t.Errorf("the handler saw the undecodable event %d times", len(calls))
		}
		if n := logs.FilterMessage("event dead-lettered at once: retrying cannot help").Len(); n != 1 {
			t.Errorf("%d log lines say the undecodable event was dead-lettered at once, want 1", n)
		}
	})
}

// TestAMessageThatIsNoEventIsDeadLetteredAtOnce: a work-stream message
// without the headers of a stored event (something else publishing on the
// stream's subjects) cannot decode on any attempt, so it is logged as
// dead-lettered at once, not as an event whose last delivery failed.
func TestAMessageThatIsNoEventIsDeadLetteredAtOnce(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		o := options(t, b)
		o.MaxDeliveries = 10
		core, logs := observer.New(zapcore.InfoLevel)
		s := startLogged(t, o, zap.New(core), dispatcherFor(t, newRecorder()))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if _, err := s.Conn().JS.Publish(ctx, o.SubjectPrefix+".1400000000."+testCommand, []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
		eventually(t, 10*time.Second, "the message dead-lettered", func() bool {
			return logs.FilterMessageSnippet("event dead-lettered").Len() > 0
		})
		if n := logs.FilterMessage("event dead-lettered at once: retrying cannot help").Len(); n != 1 {
			t.Errorf("%d log lines say the message was dead-lettered at once, want 1", n)
		}
		if n := logs.FilterMessage("event dead-lettered after its last delivery").Len(); n != 0 {
			t.Errorf("%d log lines call the message's one delivery its last", n)
		}
	})
}

// TestAMessageWithNATSPublishConditionsIsDeadLettered: a message that
// something else published on the stream's subjects with NATS's publish
// conditions (Nats-Expected-Last-Sequence and the like, which the server
// stores with it) is no event and is dead-lettered like any other. Its
// dead letter does not carry them over: they held for the work stream
// when the message was published, and the dead-letter stream would refuse
// the letter on every retry, the message left in the work stream until
// its retention dropped it.
func TestAMessageWithNATSPublishConditionsIsDeadLettered(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		o := options(t, b)
		rec := newRecorder()
		s := start(t, o, dispatcherFor(t, rec))
		// Five events first: every condition below names a sequence the
		// dead-letter stream, with at most three letters, never reaches.
		for i := range 5 {
			accept(t, s, request(testCommand, strconv.Itoa(i)))
		}
		subject := o.SubjectPrefix + ".1400000000." + testCommand
		conditions := []struct{ header, value string }{
			{"Nats-Expected-Last-Sequence", "5"},
			{"Nats-Expected-Last-Subject-Sequence", "6"},
			{"Nats-Expected-Last-Msg-Id", "foreign-7"},
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for i, c := range conditions {
			m := nats.NewMsg(subject)
			m.Data = []byte(`{}`)
			m.Header.Set(c.header, c.value)
			m.Header.Set(jetstream.MsgIDHeader, fmt.Sprintf("foreign-%d", 6+i)) // its sequence
			if _, err := s.Conn().JS.PublishMsg(ctx, m); err != nil {
				t.Fatalf("publish with %s: %v", c.header, err)
			}
		}
		eventually(t, 15*time.Second, "the three messages dead-lettered", func() bool {
			return len(deadLetters(t, events(t, s))) == len(conditions)
		})
		if n := metric(t, s.reg, "imcallback_delivery_dead_letter_failures_total", "command", ""); n != 0 {
			t.Errorf("dead_letter_failures_total{command=\"\"} = %v, want 0", n)
		}
		eventually(t, 10*time.Second, "the work stream's messages all settled", func() bool { return pending(t, s) == 0 })
	})
}

// TestPermanentFailureIsDeadLetteredAtOnce: a handler whose error wraps
// dispatcher.ErrPermanent (a forward destination's 410, say) says every
// attempt fails alike, so its first failure dead-letters the event with
// that error, logged apart from a last attempt, while an ordinary failure
// is still retried.
func TestPermanentFailureIsDeadLetteredAtOnce(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		o := options(t, b)
		o.MaxDeliveries = 10
		rec := newRecorder()
		rec.set(0, func(id string, call int) error {
			switch {
			case id == "refused":
				return fmt.Errorf("destination answered HTTP 410: %w", dispatcher.ErrPermanent)
			case id == "flaky" && call == 1:
				return errors.New("flaky")
			}
			return nil
		})
		core, logs := observer.New(zapcore.InfoLevel)
		s := startLogged(t, o, zap.New(core), dispatcherFor(t, rec))
		accept(t, s, request(testCommand, "refused"))
		accept(t, s, request(testCommand, "flaky"))

		var dead []delivery.DeadLetter
		eventually(t, 10*time.Second, "the refused event dead-lettered", func() bool {
			dead = deadLetters(t, events(t, s))
			return len(dead) == 1
		})
		if d := dead[0]; d.Deliveries != 1 || !strings.Contains(d.Error, "HTTP 410") || d.RequestID != "req-refused" {
			t.Errorf("dead letter %+v: want the refused event after one delivery, with its error", d)
		}
		// Both settled: the worker counts and logs the dead-lettering once
		// the letter's acknowledgement is back, after the letter can be
		// read, and terminates the event after that.
		eventually(t, 10*time.Second, "the flaky event applied on its retry and both settled", func() bool {
			return rec.appliedCount("flaky") == 1 && pending(t, s) == 0
		})
		if n := len(rec.callTimes("refused")); n != 1 {
			t.Errorf("the refused event ran %d times, want 1", n)
		}
		if n := metric(t, s.reg, "imcallback_delivery_retries_total", "command", testCommand); n != 1 {
			t.Errorf("retries_total = %v, want 1 (the flaky event's)", n)
		}
		if n := metric(t, s.reg, "imcallback_delivery_dead_letters_total", "command", testCommand); n != 1 {
			t.Errorf("dead_letters_total = %v, want 1", n)
		}
		if n := logs.FilterMessageSnippet("dead-lettered at once").Len(); n != 1 {
			t.Errorf("%d log lines say the event was dead-lettered at once, want 1", n)
		}
		if n := logs.FilterMessage("event dead-lettered after its last delivery").Len(); n != 0 {
			t.Errorf("%d log lines call the refused event's one delivery its last", n)
		}
	})
}

// natsServer runs a JetStream server in the test process on addr, stopped
// when the test ends.
func natsServer(t *testing.T, addr string, maxPayload int32) *server.Server {
	t.Helper()
	ns := startNATSServer(t, addr, t.TempDir(), maxPayload)
	t.Cleanup(func() {
		ns.Shutdown()
		ns.WaitForShutdown()
	})
	return ns
}

// startNATSServer starts a JetStream server in the test process on addr
// with its store in dir; the caller stops it.
func startNATSServer(t *testing.T, addr, dir string, maxPayload int32) *server.Server {
	t.Helper()
	ns, err := server.NewServer(natsServerOptions(t, addr, dir, maxPayload))
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("test NATS server not ready")
	}
	return ns
}

// natsServerOptions are startNATSServer's options, for a reload too.
func natsServerOptions(t *testing.T, addr, dir string, maxPayload int32) *server.Options {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := strconv.Atoi(port)
	return &server.Options{Host: host, Port: p, JetStream: true, StoreDir: dir, MaxPayload: maxPayload, NoSigs: true, NoLog: true}
}

// TestStartsWhileNATSIsUnreachable starts against an external server that
// is not there yet: the service starts, reports not ready and refuses
// appends, then becomes ready by itself once the server is up.
func TestStartsWhileNATSIsUnreachable(t *testing.T) {
	addr := imtest.FreeAddr(t)
	o := options(t, backend{name: "embedded"})
	o.StoreDir = ""
	o.URL = "nats://" + addr
	s := start(t, o, dispatcherFor(t, newRecorder()))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.Check(ctx); err == nil {
		t.Fatal("ready without a NATS server")
	}
	if err := s.Accept(ctx, request(testCommand, "early")); err == nil {
		t.Fatal("an append was acknowledged without a NATS server")
	}
	natsServer(t, addr, 0)
	eventually(t, 15*time.Second, "ready once NATS is up", func() bool { return s.Check(ctx) == nil })
	accept(t, s, request(testCommand, "late"))
}

// TestBodyLargerThanTheServersMaxPayloadIsTooLarge runs against a server
// whose max_payload is below the body limit: such bodies are refused as too
// large (413 to IM), smaller ones are stored, and readiness is unaffected.
func TestBodyLargerThanTheServersMaxPayloadIsTooLarge(t *testing.T) {
	addr := imtest.FreeAddr(t)
	natsServer(t, addr, 8<<10)
	o := options(t, backend{name: "embedded"})
	o.StoreDir = ""
	o.URL = "nats://" + addr
	o.BodyLimit = 1 << 20
	s := start(t, o, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	big := request(testCommand, strings.Repeat("x", 16<<10))
	if err := s.Accept(ctx, big); !errors.Is(err, protocol.ErrBodyTooLarge) {
		t.Fatalf("accept of a body above max_payload: %v, want ErrBodyTooLarge", err)
	}
	accept(t, s, request(testCommand, "small"))
	if err := s.Check(ctx); err != nil {
		t.Fatalf("not ready after a refused large body: %v", err)
	}
}

// TestBodyLargerThanTheFileStoreKeepsIsTooLarge runs with the largest
// max_payload NATS takes (64 MiB, the embedded server's for the largest
// IMCALLBACK_BODY_LIMIT) and that body limit: JetStream's file store keeps
// no message over 32 MiB, so a body above what it keeps is refused as too
// large (413 to IM), smaller ones are stored, and readiness is unaffected.
// Such a body was published, refused by the stream ("message too large"),
// answered 503, and the readiness probe, padded to its size, was refused in
// turn: the service stayed not ready and restarted its embedded server
// again and again.
func TestBodyLargerThanTheFileStoreKeepsIsTooLarge(t *testing.T) {
	o := options(t, backend{name: "embedded"})
	o.MaxPayload = 64 << 20
	o.BodyLimit = 64 << 20
	s := start(t, o, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	big := request(testCommand, "big")
	big.Body = []byte(`{"CallbackCommand":"` + testCommand + `","Id":"big","Pad":"` + strings.Repeat("x", 33<<20) + `"}`)
	if err := s.Accept(ctx, big); !errors.Is(err, protocol.ErrBodyTooLarge) {
		t.Fatalf("accept of a body above what the file store keeps: %v, want ErrBodyTooLarge", err)
	}
	accept(t, s, request(testCommand, "small"))
	if err := s.Check(ctx); err != nil {
		t.Fatalf("not ready after a refused large body: %v", err)
	}
}

// TestAMaxPayloadLoweredWhileConnectedIsTooLarge restarts the NATS server
// with a lower max_payload (its store kept) while the service is
// connected: a body above the new limit is refused as too large (413 to
// IM), not as the stream unavailable (503, which IM retries, each retry
// refused again), and readiness is unaffected.
func TestAMaxPayloadLoweredWhileConnectedIsTooLarge(t *testing.T) {
	addr := imtest.FreeAddr(t)
	store := t.TempDir()
	first := startNATSServer(t, addr, store, 1<<20)
	o := options(t, backend{name: "embedded"})
	o.StoreDir = ""
	o.URL = "nats://" + addr
	o.BodyLimit = 1 << 20
	s := start(t, o, nil)
	accept(t, s, request(testCommand, "before"))
	first.Shutdown()
	first.WaitForShutdown()
	second := startNATSServer(t, addr, store, 8<<10)
	t.Cleanup(func() {
		second.Shutdown()
		second.WaitForShutdown()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	eventually(t, 15*time.Second, "reconnected to the restarted server", func() bool {
		return s.Conn().NC.MaxPayload() == 8<<10 && s.Check(ctx) == nil
	})
	big := request(testCommand, strings.Repeat("x", 16<<10))
	if err := s.Accept(ctx, big); !errors.Is(err, protocol.ErrBodyTooLarge) {
		t.Fatalf("accept of a body above the lowered max_payload: %v, want ErrBodyTooLarge", err)
	}
	accept(t, s, request(testCommand, "small"))
	if err := s.Check(ctx); err != nil {
		t.Fatalf("not ready after a refused large body: %v", err)
	}
}

// TestAConnectionClosedForGoodIsOpenedAgain: nats.go closes a connection
// for good, without reconnecting, on a server's -ERR it does not know as
// transient: "Maximum Payload Violation" for a message over a max_payload
// that a reload of the server's configuration lowered, which the server
// tells no client already connected (the service still checked bodies
// against the old one). On an external server every callback was then
// answered 503, readiness failed and the workers processed nothing until
// the process was restarted; the supervisor now opens a new connection,
// which knows the lowered limit (413), and the workers start on it. When
// the new connection failed to open, the supervisor said it would try
// again and never did, having no connection left to find closed: it now
// opens one until one opens.
func TestAConnectionClosedForGoodIsOpenedAgain(t *testing.T) {
	for _, c := range []struct {
		name        string
		failedOpens int
	}{
		{"at once", 0},
		{"after new connections failed to open", 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			addr := imtest.FreeAddr(t)
			store := t.TempDir()
			ns := startNATSServer(t, addr, store, 1<<20)
			t.Cleanup(func() {
				ns.Shutdown()
				ns.WaitForShutdown()
			})
			o := options(t, backend{name: "embedded"})
			o.StoreDir = ""
			o.URL = "nats://" + addr
			o.BodyLimit = 1 << 20
			rec := newRecorder()
			s := startTuned(t, o, testLogger(t), dispatcherFor(t, rec), func(s *delivery.Service) {
				s.SetRestartPause(100 * time.Millisecond)
				s.FailOpens(c.failedOpens, errors.New("connection refused"))
			})
			accept(t, s, request(testCommand, "before"))
			eventually(t, 10*time.Second, "the event before processed", func() bool { return rec.appliedCount("before") == 1 })
			if err := ns.ReloadOptions(natsServerOptions(t, addr, store, 8<<10)); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			old := s.Conn()
			big := request(testCommand, strings.Repeat("x", 16<<10))
			if err := s.Accept(ctx, big); err == nil {
				t.Fatal("a body over the reloaded max_payload was stored")
			}
			eventually(t, 15*time.Second, "the connection closed", old.NC.IsClosed)
			eventually(t, 30*time.Second, "ready again on a new connection", func() bool {
				c := s.Conn()
				return c != nil && c != old && s.Check(ctx) == nil
			})
			if err := s.Accept(ctx, big); !errors.Is(err, protocol.ErrBodyTooLarge) {
				t.Errorf("accept of a body over the reloaded max_payload on the new connection: %v, want ErrBodyTooLarge", err)
			}
			accept(t, s, request(testCommand, "after"))
			eventually(t, 10*time.Second, "the event after processed", func() bool { return rec.appliedCount("after") == 1 })
		})
	}
}
