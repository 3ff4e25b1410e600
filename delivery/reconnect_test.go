package delivery_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/imcallback/imcallback/delivery"
	"github.com/imcallback/imcallback/imtest"
	"github.com/imcallback/imcallback/internal/natstest"
	"github.com/labstack/echo/v4"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"
)

// TestRefusedCredentialsOnReconnectDoNotEndTheConnection restarts the
// external NATS server with other credentials for a while (an operator's
// mistake, an account resolver not ready yet after a restart): the client
// is refused on every reconnect. nats.go gives a connection up for good
// after the same authorization error twice, which left the service 503 and
// its workers idle until the process restarted; it must keep reconnecting
// and recover once the server takes its credentials again.
func TestRefusedCredentialsOnReconnectDoNotEndTheConnection(t *testing.T) {
	p := natstest.Start(t, "--user", "imcb", "--pass", "right")
	o := options(t, backend{name: "embedded"})
	o.StoreDir = ""
	o.URL = "nats://imcb:right@" + p.Addr()
	core, logs := observer.New(zapcore.DebugLevel)
	rec := newRecorder()
	s := startLogged(t, o, zap.New(zapcore.NewTee(core, testLogger(t).Core())), dispatcherFor(t, rec))
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	eventually(t, 30*time.Second, "ready", func() bool { return s.Check(ctx) == nil })
	accept(t, s, request(testCommand, "before"))
	eventually(t, 30*time.Second, "the first event applied", func() bool { return rec.appliedCount("before") == 1 })

	p.Kill()
	p.Restart("--user", "imcb", "--pass", "wrong")
	refused := func() int {
		n := 0
		for _, e := range logs.FilterMessageSnippet("NATS asynchronous error").All() {
			if strings.Contains(strings.ToLower(fmt.Sprint(e.ContextMap()["error"])), "authorization violation") {
				n++
			}
		}
		return n
	}
	// Twice is when nats.go gives up unless told not to.
	eventually(t, 30*time.Second, "the reconnects refused twice", func() bool { return refused() >= 2 })
	if err := s.Check(ctx); err == nil {
		t.Fatal("ready while the server refuses the credentials")
	}
	if n := len(logs.FilterMessage("NATS asynchronous error").All()); n != 1 {
		t.Errorf("the refused reconnects logged %d warnings, want 1 (the repeats at debug level)", n)
	}

	p.Kill()
	p.Restart("--user", "imcb", "--pass", "right")
	eventually(t, 60*time.Second, "ready again once the server takes the credentials", func() bool { return s.Check(ctx) == nil })
	accept(t, s, request(testCommand, "after"))
	eventually(t, 30*time.Second, "the event accepted after the outage applied", func() bool { return rec.appliedCount("after") == 1 })
}

// TestConnectionRefusedAtStartIsReported starts the service against an
// external NATS server that refuses its connection: credentials it does not
// take (not loaded yet, or mistyped), a certificate the service does not
// trust. The service keeps trying, as it should, but said only "NATS is not
// reachable or not ready yet", and readiness "NATS connection is
// RECONNECTING": nats.go hands a refusal to the error handler only once a
// first connection was made, and the first connect's to a handler the
// service did not set, so the operator never learnt why. The refusal is
// now logged once (at warn, the repeats at debug, the URL's password
// nowhere) and named by readiness, and the service still connects once the
// server takes the connection.
func TestConnectionRefusedAtStartIsReported(t *testing.T) {
	const password = "Pw4imcb-not-logged"
	cert, key, _ := imtest.SelfSigned(t)
	for _, tc := range []struct {
		name, scheme, refusal string
		// taking are the flags of a server that takes the connection (nil: none is tried).
		refusing, taking []string
	}{
		{"credentials", "nats", "authorization violation",
			[]string{"--user", "imcb", "--pass", "other"}, []string{"--user", "imcb", "--pass", password}},
		{"untrusted certificate", "tls", "certificate",
			[]string{"--user", "imcb", "--pass", password, "--tls", "--tlscert", cert, "--tlskey", key}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := natstest.Start(t, tc.refusing...)
			o := options(t, backend{name: "embedded"})
			o.StoreDir = ""
			o.URL = tc.scheme + "://imcb:" + password + "@" + p.Addr()
			core, logs := observer.New(zapcore.DebugLevel)
			s := startLogged(t, o, zap.New(zapcore.NewTee(core, testLogger(t).Core())), nil)
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			defer cancel()
			refused := func(text string) bool { return strings.Contains(strings.ToLower(text), tc.refusal) }
			var err error
			eventually(t, 30*time.Second, "readiness naming the refusal", func() bool {
				err = s.Check(ctx)
				return err != nil && refused(err.Error())
			})
			// Readiness can read the refusal from the connection before its
			// handler has logged it: wait for the line, then count the
			// connection's own lines (the service's "not ready" error after
			// its start wait names the refusal too, once).
			warnings := func() int {
				n := 0
				for _, e := range logs.All() {
					if e.Level >= zapcore.WarnLevel && strings.HasPrefix(e.Message, "NATS ") && refused(e.Message+fmt.Sprint(e.ContextMap())) {
						n++
					}
				}
				return n
			}
			eventually(t, 30*time.Second, "a warning naming the refusal", func() bool { return warnings() > 0 })
			eventually(t, 30*time.Second, "the service tried again", func() bool {
				attempts := 0
				for _, e := range logs.All() {
					if refused(e.Message + fmt.Sprint(e.ContextMap())) {
						attempts++
					}
				}
				return attempts > 1
			})
			if n := warnings(); n != 1 {
				t.Errorf("%d warnings name the refusal, want 1 (the repeats at debug); logged: %v", n, logs.All())
			}
			for _, e := range logs.All() {
				if line := e.Message + fmt.Sprint(e.ContextMap()); strings.Contains(line, password) {
					t.Errorf("a log line shows the URL's password: %s", line)
				}
			}

			if tc.taking == nil {
				return
			}
			p.Kill()
			p.Restart(tc.taking...)
			eventually(t, 60*time.Second, "ready once the server takes the connection", func() bool { return s.Check(ctx) == nil })
		})
	}
}

// TestStopDrainsAFrozenServerWithinTheShutdownTimeout: the NATS connection's
// drain is one of the stop's steps, each bounded by ShutdownTimeout. With
// the server frozen (SIGSTOP: nothing answers, nothing refuses) nats.go's
// drain waits DrainTimeout for the subscriptions and then, whatever that
// says, five seconds more for the flush of what it wrote: the step ran
// past its bound by those five seconds, with the fx stop's own context as
// its only other limit. Cut at ShutdownTimeout, the stop reports the
// drain it gave up on.
func TestStopDrainsAFrozenServerWithinTheShutdownTimeout(t *testing.T) {
	p, o := onExternalNATS(t)
	o.ShutdownTimeout = 200 * time.Millisecond
	s, err := delivery.New(o, testLogger(t), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "ready", func() bool { return s.Check(ctx) == nil })
	p.Freeze()
	defer p.Thaw()
	err = s.Stop(context.Background()) // no deadline of the caller's: ShutdownTimeout alone bounds the drain
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("the stop with the server frozen returned %v, want the drain cut at the shutdown timeout", err)
	}
}

// TestAdminAPIWhileNATSIsDownIs503: while the external NATS server is down
// the connection refuses every request at once (it keeps no buffer while
// reconnecting, so that callbacks are answered at once): nats.go's
// "outbound buffer limit exceeded". The admin API answered that with a
// 500, as if the service were broken, where an outage of the event log is
// a 503 "try again"; the workers logged it as the cause of their outage.
func TestAdminAPIWhileNATSIsDownIs503(t *testing.T) {
	p, o := onExternalNATS(t)
	s := start(t, o, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	eventually(t, 30*time.Second, "ready", func() bool { return s.Check(ctx) == nil })
	accept(t, s, request(testCommand, "before"))
	e := echo.New()
	for _, r := range delivery.AdminRoutes(s.Service) {
		e.Add(r.Method, r.Path, r.Handler)
	}
	get := func(path string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		e.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		return w
	}
	if w := get("/v1/events"); w.Code != http.StatusOK {
		t.Fatalf("GET /v1/events with NATS up: %d %s", w.Code, w.Body)
	}

	p.Kill()
	eventually(t, 30*time.Second, "not ready once NATS is down", func() bool { return s.Check(ctx) != nil })
	for _, path := range []string{"/v1/events", "/v1/events/1", "/v1/dead-letters", "/v1/delivery"} {
		if w := get(path); w.Code != http.StatusServiceUnavailable && w.Code != http.StatusOK {
			t.Errorf("GET %s with NATS down: %d %s, want 503 (or what the service still knows)", path, w.Code, w.Body)
		}
	}
	p.Restart()
	eventually(t, 60*time.Second, "ready once NATS is back", func() bool { return s.Check(ctx) == nil })
	if w := get("/v1/events"); w.Code != http.StatusOK {
		t.Fatalf("GET /v1/events with NATS back: %d %s", w.Code, w.Body)
	}
}

// TestOutagesLeaveNoSubscriptionsBehind takes the external NATS server away
// a few times while the workers fetch. nats.go's Fetch subscribes its reply
// inbox before it sends the pull request, and before v1.56.0 returned the
// send's error (the connection down: no reconnect buffer) without
// unsubscribing: every outage left one more subscription on the connection
// for good, which the client subscribed again at each reconnect.
func TestOutagesLeaveNoSubscriptionsBehind(t *testing.T) {
	p, o := onExternalNATS(t)
	rec := newRecorder()
	s := start(t, o, dispatcherFor(t, rec))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// The workers' fetch under way holds one subscription most of the
	// time: the most seen over a second counts it every time.
	subscriptions := func() int {
		most := 0
		for range 10 {
			most = max(most, s.Conn().NC.NumSubscriptions())
			time.Sleep(100 * time.Millisecond)
		}
		return most
	}
	eventually(t, 30*time.Second, "ready", func() bool { return s.Check(ctx) == nil })
	accept(t, s, request(testCommand, "before"))
	eventually(t, 30*time.Second, "the first event applied", func() bool { return rec.appliedCount("before") == 1 })
	before := subscriptions()

	const outages = 3
	for i := range outages {
		p.Kill()
		time.Sleep(3 * time.Second) // the workers try to fetch meanwhile
		p.Restart()
		eventually(t, 60*time.Second, "ready again", func() bool { return s.Check(ctx) == nil })
		id := fmt.Sprintf("after-%d", i)
		accept(t, s, request(testCommand, id))
		eventually(t, 30*time.Second, "the event accepted after the outage applied", func() bool { return rec.appliedCount(id) == 1 })
	}
	if after := subscriptions(); after != before {
		t.Errorf("%d subscriptions after %d outages, %d before: the workers' fetches left some behind", after, outages, before)
	}
}

// TestAppendWhileNATSIsDownSaysTheConnectionIsDown: while the external NATS
// server is down, a callback's append is refused at once with nats.go's
// "outbound buffer limit exceeded" (the connection keeps no buffer while it
// reconnects). That error, in the access log line of every refused callback
// and in /readyz's "the last append failed (…)", reads as an overload; it
// must name the cause, as the workers' errors do.
func TestAppendWhileNATSIsDownSaysTheConnectionIsDown(t *testing.T) {
	p, o := onExternalNATS(t)
	s := start(t, o, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	eventually(t, 30*time.Second, "ready", func() bool { return s.Check(ctx) == nil })
	accept(t, s, request(testCommand, "before"))

	p.Kill()
	var err error
	eventually(t, 30*time.Second, "an append refused once NATS is down", func() bool {
		err = s.Accept(ctx, request(testCommand, fmt.Sprintf("down-%d", time.Now().UnixNano())))
		return err != nil && !errors.Is(err, context.DeadlineExceeded) && s.Check(ctx) != nil
	})
	if !strings.Contains(err.Error(), "the connection to NATS is down") {
		t.Errorf("append while NATS is down: %v; want the error to name the connection being down", err)
	}
	if !errors.Is(err, nats.ErrReconnectBufExceeded) && !errors.Is(err, nats.ErrConnectionReconnecting) &&
		!errors.Is(err, nats.ErrDisconnected) && !errors.Is(err, nats.ErrConnectionClosed) {
		t.Errorf("append while NATS is down: %v; want nats.go's error kept", err)
	}
}

// onExternalNATS starts a nats-server of the test's own, one it can stop
// and start, and returns it with the options of a service that uses it
// rather than an embedded server.
func onExternalNATS(t *testing.T) (*natstest.Server, delivery.Options) {
	t.Helper()
	p := natstest.Start(t)
	o := options(t, backend{name: "embedded"})
	o.StoreDir = ""
	o.URL = p.URL()
	return p, o
}
