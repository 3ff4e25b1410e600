package delivery_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/imcallback/imcallback/delivery"
	"github.com/imcallback/imcallback/imtest"
	"github.com/imcallback/imcallback/internal/natstest"
)

// natsCluster starts three nats-server processes of the test's own,
// routed to each other, with JetStream.
func natsCluster(t *testing.T) []*natstest.Server {
	t.Helper()
	routes := make([]string, 3)
	for i := range routes {
		routes[i] = "nats://" + imtest.FreeAddr(t)
	}
	nodes := make([]*natstest.Server, 3)
	for i := range nodes {
		nodes[i] = natstest.Start(t, "-n", fmt.Sprintf("n%d", i+1), "--cluster_name", "imcbtest",
			"--cluster", routes[i], "--routes", strings.Join(routes, ","))
	}
	return nodes
}

// TestAHungNodeOfTheClusterIsLeft: a node of the cluster that hangs (a
// SIGSTOP, a network that drops every packet) keeps the TCP connection
// open and answers nothing. The service stayed on it, every callback
// answered 503, until nats.go's stale-connection check (two pings of two
// minutes out) gave it up, while the two other nodes served the stream.
func TestAHungNodeOfTheClusterIsLeft(t *testing.T) {
	nodes := natsCluster(t)
	var urls []string
	for _, n := range nodes {
		urls = append(urls, n.URL())
	}
	o := options(t, backend{name: "embedded"})
	o.StoreDir = ""
	o.URL = strings.Join(urls, ",")
	o.Replicas = 3
	rec := newRecorder()
	s := start(t, o, dispatcherFor(t, rec))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	eventually(t, 60*time.Second, "ready on the cluster", func() bool { return s.Check(ctx) == nil })
	accept(t, s, request(testCommand, "before"))
	eventually(t, 30*time.Second, "the first event applied", func() bool { return rec.appliedCount("before") == 1 })

	var hung *natstest.Server
	for _, n := range nodes {
		if n.URL() == s.Conn().NC.ConnectedUrl() {
			hung = n
		}
	}
	if hung == nil {
		t.Fatalf("connected to %s, none of the nodes", s.Conn().NC.ConnectedUrl())
	}
	hung.Freeze()
	defer hung.Thaw()
	frozen := time.Now()
	i := 0
	eventually(t, 90*time.Second, "an event taken while the node stays hung", func() bool {
		i++
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		return s.Accept(actx, request(testCommand, fmt.Sprint("during", i))) == nil
	})
	t.Logf("taken again %.1fs after the node hung, connected to %s", time.Since(frozen).Seconds(), s.Conn().NC.ConnectedUrl())
	eventually(t, 60*time.Second, "the event applied", func() bool { return rec.appliedCount(fmt.Sprint("during", i)) == 1 })
}

// TestAFrozenServerUnderLoadIsGivenUp: with the server frozen (SIGSTOP)
// under a load that fills the socket's buffers, nats.go's write to it
// blocked for its flusher timeout, a minute, holding the connection's
// lock: every callback's append waited that minute, not its
// PublishTimeout, and the service stayed on the dead connection. A write
// the server takes nothing of for a PublishTimeout now gives the
// connection up: the appends are refused at once until the server
// answers again, and none is acknowledged meanwhile.
func TestAFrozenServerUnderLoadIsGivenUp(t *testing.T) {
	p, o := onExternalNATS(t)
	rec := newRecorder()
	s := start(t, o, dispatcherFor(t, rec))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	eventually(t, 30*time.Second, "ready", func() bool { return s.Check(ctx) == nil })
	conn := s.Conn()
	p.Freeze()
	defer p.Thaw()
	var mu sync.Mutex
	var accepted []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	pad := strings.Repeat("x", 60<<10)
	for g := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("g%d-%d", g, i)
				r := request(testCommand, id)
				r.Body = fmt.Appendf(nil, `{"CallbackCommand":%q,"Id":%q,"Pad":%q}`, testCommand, id, pad)
				if s.Accept(context.Background(), r) == nil {
					mu.Lock()
					accepted = append(accepted, id)
					mu.Unlock()
				}
			}
		})
	}
	eventually(t, 30*time.Second, "the connection to the frozen server given up", func() bool {
		return conn.NC.Status() != nats.CONNECTED
	})
	close(stop)
	wg.Wait()
	if len(accepted) > 0 {
		// Freeze returns once the server answers nothing, and nothing was
		// awaiting an acknowledgement before it: none can be a late one.
		t.Errorf("%d appends acknowledged while the server was frozen: %v", len(accepted), accepted)
	}
	p.Thaw()
	eventually(t, 60*time.Second, "ready once the server answers again", func() bool { return s.Check(ctx) == nil })
	accept(t, s, request(testCommand, "after"))
	eventually(t, 30*time.Second, "the event after the freeze applied", func() bool { return rec.appliedCount("after") == 1 })
}

// TestAppendsAreRefusedAtOnceWhileReconnecting: while the connection to an
// external server is down, nats.go holds the connection's lock through
// each attempt to reconnect, up to its connect timeout (2 s) against a
// server that takes the TCP connection and answers nothing (a frozen
// process, a hung node). An append made meanwhile waited for that lock,
// past PublishTimeout and IM's 2 s, before it was refused. It is now
// refused at once: the attempt it comes during is still under way when
// it returns, and completes once the server answers.
func TestAppendsAreRefusedAtOnceWhileReconnecting(t *testing.T) {
	h := serveUntilHung(t)
	held := h.hang(t)
	if err := h.s.Accept(h.ctx, request(testCommand, "during")); err == nil {
		t.Fatal("an append was acknowledged while the connection was down")
	}
	// An append that waited for the lock returned only once the attempt
	// had given up, and the client no longer reads this connection.
	attemptGoesOn(t, held, "the append")
}

// TestReadinessAnswersAtOnceWhileReconnecting: /readyz's check asked
// nats.go for the connection's status, which waits for the connection's
// lock, held through each attempt to reconnect, up to its connect timeout
// (2 s) against a server that answers nothing: /readyz took that long, and
// past its own deadline reported the check as timed out rather than the
// connection as reconnecting. It now says so at once, in the same words:
// the attempt it comes during is still under way when it returns.
func TestReadinessAnswersAtOnceWhileReconnecting(t *testing.T) {
	h := serveUntilHung(t)
	held := h.hang(t)
	err := h.s.Check(h.ctx)
	if err == nil || !strings.HasPrefix(err.Error(), "NATS connection is RECONNECTING") {
		t.Fatalf("readiness while the connection is down: %v, want \"NATS connection is RECONNECTING\"", err)
	}
	attemptGoesOn(t, held, "the readiness check")
}

// TestLaterCopiesAreRefusedAtOnceWhileReconnecting: gateway mode stores a
// forwarded callback as one copy per target, published one after the
// other. Accept refuses them all at once while the connection is down,
// but one that went down after it looked (here, once the first copy is
// published) had each copy left wait for the connection's lock through
// nats.go's attempt to reconnect, up to its connect timeout each, past
// PublishTimeout and IM's 2 s. The copies left are now refused at once:
// the attempt the event came during is still under way when it returns.
func TestLaterCopiesAreRefusedAtOnceWhileReconnecting(t *testing.T) {
	h := serveUntilHung(t)
	var held net.Conn
	h.s.WrapJetStream(func(js jetstream.JetStream) jetstream.JetStream {
		return &hangAfterPublish{JetStream: js, hang: func() { held = h.hang(t) }}
	})
	r := request(testCommand, "during")
	r.Targets = []string{"", "backend", "other"}
	if err := h.s.Accept(h.ctx, r); err == nil {
		t.Fatal("an event was acknowledged while the connection was down")
	}
	if held == nil {
		t.Fatal("no copy was published")
	}
	attemptGoesOn(t, held, "the event's copies")
}

// hangAfterPublish is js whose first asynchronous publish, once made,
// calls hang.
type hangAfterPublish struct {
	jetstream.JetStream
	hang func()
	once sync.Once
}

func (j *hangAfterPublish) PublishMsgAsync(m *nats.Msg, opts ...jetstream.PublishOpt) (jetstream.PubAckFuture, error) {
	f, err := j.JetStream.PublishMsgAsync(m, opts...)
	j.once.Do(j.hang)
	return f, err
}

// TestScrapesAndTheEventLogAnswerAtOnceWhileReconnecting: the gauges of
// the pending events and the dead letters (a /metrics scrape, each lookup
// bounded by 500 ms) and the admin API's event log ask JetStream, whose
// requests wait for the connection's lock, held through each attempt to
// reconnect up to its connect timeout (2 s) against a server that answers
// nothing: the scrape ran past its bound, and each admin request waited
// that long for its 503. They now answer at once: NaN, and 503.
func TestScrapesAndTheEventLogAnswerAtOnceWhileReconnecting(t *testing.T) {
	h := serveUntilHung(t)
	e := echo.New()
	for _, r := range delivery.AdminRoutes(h.s.Service) {
		e.Add(r.Method, r.Path, r.Handler)
	}
	held := h.hang(t)
	for _, name := range []string{"imcallback_delivery_pending", "imcallback_delivery_dead_letters"} {
		if v := metric(t, h.s.reg, name); !math.IsNaN(v) {
			t.Errorf("%s = %v while the connection is down, want NaN", name, v)
		}
	}
	for _, path := range []string{"/v1/events", "/v1/events/1", "/v1/dead-letters", "/v1/delivery"} {
		w := httptest.NewRecorder()
		e.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		if w.Code != http.StatusServiceUnavailable {
			t.Errorf("GET %s while the connection is down: %d %s, want 503", path, w.Code, w.Body)
		}
	}
	attemptGoesOn(t, held, "the scrape and the event log's answers")
}

// hungServer is a service on an external server of the test's own, ready
// and with an event taken, whose server hang replaces with one that takes
// connections and answers nothing until told to.
type hungServer struct {
	s    started
	ctx  context.Context
	addr string
	ns   *server.Server
}

// serveUntilHung starts a service on an external server of its own, and
// waits until it is ready and has taken an event.
func serveUntilHung(t *testing.T) *hungServer {
	t.Helper()
	addr := imtest.FreeAddr(t)
	ns := startNATSServer(t, addr, t.TempDir(), 0)
	o := options(t, backend{name: "embedded"})
	o.StoreDir = ""
	o.URL = "nats://" + addr
	s := start(t, o, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	eventually(t, 15*time.Second, "ready", func() bool { return s.Check(ctx) == nil })
	accept(t, s, request(testCommand, "before"))
	return &hungServer{s: s, ctx: ctx, addr: addr, ns: ns}
}

// hang stops the server and puts in its place one that takes connections
// and answers nothing: it returns the connection of nats.go's attempt to
// reconnect under way, which holds the connection's lock while it waits
// for the server's INFO, once the service's connection knows it is down.
func (h *hungServer) hang(t *testing.T) net.Conn {
	t.Helper()
	h.ns.Shutdown()
	h.ns.WaitForShutdown()
	ln, err := net.Listen("tcp", h.addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	attempts := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			attempts <- c
		}
	}()
	next := func() net.Conn {
		t.Helper()
		select {
		case c := <-attempts:
			t.Cleanup(func() { c.Close() })
			return c
		case <-h.ctx.Done():
			t.Fatal("no attempt to reconnect")
			return nil
		}
	}
	// The first attempt is refused at once; the second waits, the
	// connection's lock held, for the server's INFO.
	next().Close()
	held := next()
	conn := h.s.Conn()
	eventually(t, 15*time.Second, "the connection known to be down", conn.Down)
	return held
}

// attemptGoesOn answers the attempt to reconnect held with the server's
// INFO and fails the test unless the client goes on with its CONNECT: what
// returned before (what) did not wait for the attempt, which gives up
// after the connect timeout and no longer reads held.
func attemptGoesOn(t *testing.T, held net.Conn, what string) {
	t.Helper()
	if _, err := held.Write([]byte("INFO {\"server_id\":\"hung\",\"version\":\"2.10.0\",\"proto\":1,\"max_payload\":1048576}\r\n")); err != nil {
		t.Fatal(err)
	}
	_ = held.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := bufio.NewReader(held).ReadString(' ')
	if err != nil || line != "CONNECT " {
		t.Fatalf("%s returned only after the attempt to reconnect during which it came had ended (%q, %v)", what, line, err)
	}
}

// TestTheAdminAPIsScansLeaveNoSubscriptionWhileTheConnectionIsDown:
// nats.go's Fetch subscribes its reply inbox before it sends the pull
// request, and before v1.56.0 returned the send's error (refused at once
// while the connection is down) without unsubscribing. The command line's
// scans and the workers' fetches make none then, but the admin API's (GET
// /v1/events, /v1/dead-letters, a replay's pages) did not know their
// connection: one whose connection dropped after its consumer was made
// left a subscription on the service's connection for good, subscribed
// again at every reconnect.
func TestTheAdminAPIsScansLeaveNoSubscriptionWhileTheConnectionIsDown(t *testing.T) {
	h := serveUntilHung(t)
	conn := h.s.Conn()
	o := h.s.Options()
	// Taken while the connection is up, as a request does before its scans.
	e, err := h.s.Events()
	if err != nil {
		t.Fatal(err)
	}
	cons, err := conn.JS.CreateConsumer(h.ctx, o.Stream, jetstream.ConsumerConfig{AckPolicy: jetstream.AckNonePolicy,
		HeadersOnly: true, InactiveThreshold: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	before := conn.NC.NumSubscriptions()
	h.ns.Shutdown()
	h.ns.WaitForShutdown()
	eventually(t, 15*time.Second, "the connection known to be down", conn.Down)
	for range 3 {
		if _, err := e.ReadScan(h.ctx, cons, 1<<20); err == nil {
			t.Fatal("a scan while the connection is down succeeded")
		}
	}
	if after := conn.NC.NumSubscriptions(); after != before {
		t.Errorf("%d subscriptions after three scans while the connection was down, %d before: the scans left some behind", after, before)
	}
}

// TestAReplayStopsAtOnceWhileReconnecting: a replay asked while the
// connection is up read and republished its events one after the other;
// once the connection went down (here, once the first copy is stored)
// the next event's read waited for nats.go's attempt to reconnect, which
// holds the connection's lock up to its connect timeout (2 s) against a
// server that answers nothing, before it failed all the same, where the
// rest of the event log answers at once. The replay now stops at once,
// saying how many it replayed and that the connection is down: the
// attempt it came during is still under way when it answers.
func TestAReplayStopsAtOnceWhileReconnecting(t *testing.T) {
	for _, tc := range []struct {
		name string
		body func(seqs []uint64) string
	}{
		{"seqs", func(seqs []uint64) string { b, _ := json.Marshal(map[string]any{"seqs": seqs}); return string(b) }},
		{"since", func([]uint64) string { return `{"since":"1h"}` }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := serveUntilHung(t)
			accept(t, h.s, request(testCommand, "after"))
			seqs, err := events(t, h.s).Select(h.ctx, delivery.Filter{})
			if err != nil || len(seqs) != 2 {
				t.Fatalf("selected %v (%v), want the two events", seqs, err)
			}
			var held net.Conn
			h.s.WrapJetStream(func(js jetstream.JetStream) jetstream.JetStream {
				return &hangAfterReplay{JetStream: js, hang: func() { held = h.hang(t) }}
			})
			e := echo.New()
			for _, r := range delivery.AdminRoutes(h.s.Service) {
				e.Add(r.Method, r.Path, r.Handler)
			}
			w := httptest.NewRecorder()
			req := httptest.NewRequest(http.MethodPost, "/v1/events/replay", strings.NewReader(tc.body(seqs)))
			req.Header.Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
			e.ServeHTTP(w, req)
			if held == nil {
				t.Fatalf("no copy was stored: %d %s", w.Code, w.Body)
			}
			if w.Code != http.StatusInternalServerError || !strings.Contains(w.Body.String(), "stopped after 1 events") ||
				!strings.Contains(w.Body.String(), "the connection to NATS is down") {
				t.Errorf("the replay whose connection went down after its first copy: %d %s, want a 500 saying it stopped "+
					"after 1 event because the connection to NATS is down", w.Code, w.Body)
			}
			attemptGoesOn(t, held, "the replay")
		})
	}
}

// hangAfterReplay is js whose first synchronous publish (a replay's
// copy), once stored, calls hang.
type hangAfterReplay struct {
	jetstream.JetStream
	hang func()
	once sync.Once
}

func (j *hangAfterReplay) PublishMsg(ctx context.Context, m *nats.Msg, opts ...jetstream.PublishOpt) (*jetstream.PubAck, error) {
	ack, err := j.JetStream.PublishMsg(ctx, m, opts...)
	j.once.Do(j.hang)
	return ack, err
}
