package delivery_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/imcallback/imcallback/delivery"
	"github.com/imcallback/imcallback/dispatcher"
)

// Gateway mode: one after-callback stored as several copies (one for the
// Go handler, one per forward destination) is answered within one
// PublishTimeout, not one per copy, which could take it past IM's 2 s.

// copies is r stored for the Go handler and for the destination "backend".
func copies(r *dispatcher.Request) *dispatcher.Request {
	r.Targets = []string{"", "backend"}
	return r
}

// streamMsgs is how many events the work stream holds: the messages of
// its event subjects, without a readiness probe the supervisor may have
// written and not yet purged (it writes one after a failed append).
func streamMsgs(t *testing.T, js jetstream.JetStream, o delivery.Options) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, o.Stream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter(o.SubjectPrefix+".>"))
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	for _, msgs := range info.State.Subjects {
		n += msgs
	}
	return n
}

// TestCopiesShareOnePublishTimeout runs the service through a proxy that
// holds back what the NATS server sends, acknowledgements included: first
// each for a while (a slow stream), then all of them (a stalled stream).
// The copies of an event are published at once and awaited together: a
// slow stream answers within one round trip, not one per copy (copy after
// copy, each with its own PublishTimeout, the answer could take two), and
// a stalled one fails the event within the one PublishTimeout. A caller
// that goes away says nothing about the stream; a stalled stream does.
func TestCopiesShareOnePublishTimeout(t *testing.T) {
	upstream := freeAddr(t)
	natsServer(t, upstream, 0)
	p := startLaggyProxy(t, upstream)
	o := options(t, backend{name: "embedded"})
	o.StoreDir = ""
	o.URL = "nats://" + p.addr
	o.PublishTimeout = 2 * time.Second
	s := start(t, o, nil)
	t.Cleanup(p.release) // before the service stops, which waits for its appends
	js := s.Conn().JS

	// Slow: each acknowledgement arrives a second late. Copy after copy
	// would take two seconds; together they take one, inside PublishTimeout.
	const lag = time.Second
	p.setLag(lag)
	began := time.Now()
	if err := s.Accept(context.Background(), copies(request(testCommand, "slow"))); err != nil {
		t.Fatalf("both copies stored through a slow stream, answered %v", err)
	}
	if took := time.Since(began); took >= 2*lag {
		t.Errorf("two copies through a stream %v slow took %v: acknowledged one after the other", lag, took)
	}
	p.setLag(0)

	// Stalled, and the caller goes away: a failure, not the stream's.
	p.stall()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	err := s.Accept(ctx, copies(request(testCommand, "gone")))
	cancel()
	if err == nil {
		t.Fatal("copies nobody acknowledged were reported as stored")
	}
	if s.AppendFailed() {
		t.Errorf("a caller that went away (%v) counted as a failing stream", err)
	}

	// Stalled while the caller waits: a failure within one PublishTimeout,
	// and the stream's.
	began = time.Now()
	err = s.Accept(context.Background(), copies(request(testCommand, "stalled")))
	took := time.Since(began)
	if err == nil {
		t.Fatal("copies nobody acknowledged were reported as stored")
	}
	if took >= 2*o.PublishTimeout {
		t.Errorf("two copies through a stalled stream were answered after %v: a PublishTimeout (%v) per copy", took, o.PublishTimeout)
	}
	if !s.AppendFailed() {
		t.Errorf("a stalled stream (%v) did not count as failing", err)
	}

	// The stream catches up: it stored the copies after all, and IM's
	// retry is acknowledged as their duplicate.
	p.release()
	accept(t, s, copies(request(testCommand, "stalled")))
	if n := metric(t, s.reg, "imcallback_delivery_duplicates_total", "command", testCommand); n != 2 {
		t.Errorf("duplicates_total = %v after the retry, want 2 (both copies stored already)", n)
	}
	if n := streamMsgs(t, js, o); n != 6 {
		t.Errorf("the stream holds %d messages, want 6: two copies of each of three events", n)
	}
	ctx, cancel = context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	eventually(t, 15*time.Second, "ready again", func() bool { return s.Check(ctx) == nil })
}

// TestCopyRefusedFailsTheEvent: a stream that takes one more message
// stores the first copy and refuses the second. The event is answered as
// a failure naming the destination, the stream as failing; IM's retry
// once there is room stores the other copy and is answered OK.
func TestCopyRefusedFailsTheEvent(t *testing.T) {
	addr := freeAddr(t)
	natsServer(t, addr, 0) // an external server: a failing one is not restarted under the test
	o := options(t, backend{name: "embedded"})
	o.StoreDir = ""
	o.URL = "nats://" + addr
	s := start(t, o, nil)
	js := s.Conn().JS
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	limit := func(n int64) {
		t.Helper()
		st, err := js.Stream(ctx, o.Stream)
		if err != nil {
			t.Fatal(err)
		}
		cfg := st.CachedInfo().Config
		cfg.MaxMsgs, cfg.Discard = n, jetstream.DiscardNew
		if _, err := js.UpdateStream(ctx, cfg); err != nil {
			t.Fatal(err)
		}
	}
	limit(1)
	err := s.Accept(ctx, copies(request(testCommand, "full")))
	if err == nil {
		t.Fatal("an event whose second copy the stream refused was reported as stored")
	}
	if !strings.Contains(err.Error(), "destination backend") {
		t.Errorf("the error %q does not name the copy that failed", err)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("the refusal was not reported at once: %v", err)
	}
	if !s.AppendFailed() {
		t.Error("a refused copy did not count as a failing stream")
	}
	if n := streamMsgs(t, js, o); n != 1 {
		t.Fatalf("the stream holds %d messages, want the first copy", n)
	}
	limit(-1)
	accept(t, s, copies(request(testCommand, "full")))
	if n := streamMsgs(t, js, o); n != 2 {
		t.Errorf("the stream holds %d messages after the retry, want both copies", n)
	}
	if n := metric(t, s.reg, "imcallback_delivery_duplicates_total", "command", testCommand); n != 1 {
		t.Errorf("duplicates_total = %v, want 1: the first copy's retry", n)
	}
	eventually(t, 15*time.Second, "ready again", func() bool { return s.Check(ctx) == nil })
}

// laggyProxy forwards TCP connections to a NATS server. What the server
// sends is held back: each chunk for the lag set when it arrived, and all
// of it while stalled, until released. What the client sends passes at once.
type laggyProxy struct {
	addr, target string
	ln           net.Listener
	done         chan struct{}
	wg           sync.WaitGroup

	mu    sync.Mutex
	lag   time.Duration
	open  chan struct{} // closed unless stalled
	conns []net.Conn
}

func startLaggyProxy(t *testing.T, target string) *laggyProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &laggyProxy{addr: ln.Addr().String(), target: target, ln: ln, done: make(chan struct{}), open: make(chan struct{})}
	close(p.open)
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.serve(c)
		}
	})
	t.Cleanup(p.close)
	return p
}

func (p *laggyProxy) setLag(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lag = d
}

// stall holds everything the server sends from now on until release.
func (p *laggyProxy) stall() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.open:
		p.open = make(chan struct{})
	default:
	}
}

func (p *laggyProxy) release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.open:
	default:
		close(p.open)
	}
}

func (p *laggyProxy) close() {
	close(p.done)
	p.ln.Close()
	p.mu.Lock()
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// chunk is what the server sent in one read, and when it may go on.
type chunk struct {
	data []byte
	due  time.Time
}

func (p *laggyProxy) serve(client net.Conn) {
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		client.Close()
		return
	}
	p.mu.Lock()
	p.conns = append(p.conns, client, server)
	p.mu.Unlock()
	p.wg.Go(func() { // client to server, at once
		buf := make([]byte, 32<<10)
		for {
			n, err := client.Read(buf)
			if n > 0 {
				if _, err := server.Write(buf[:n]); err != nil {
					return
				}
			}
			if err != nil {
				server.Close()
				return
			}
		}
	})
	chunks := make(chan chunk, 4096)
	p.wg.Go(func() { // server to the queue
		defer close(chunks)
		for {
			buf := make([]byte, 32<<10)
			n, err := server.Read(buf)
			if n > 0 {
				p.mu.Lock()
				due := time.Now().Add(p.lag)
				p.mu.Unlock()
				select {
				case chunks <- chunk{buf[:n], due}:
				case <-p.done:
					return
				}
			}
			if err != nil {
				return
			}
		}
	})
	p.wg.Go(func() { // the queue to the client, held back
		defer client.Close()
		for c := range chunks {
			p.mu.Lock()
			open := p.open
			p.mu.Unlock()
			select {
			case <-open:
			case <-p.done:
				return
			}
			select {
			case <-time.After(time.Until(c.due)):
			case <-p.done:
				return
			}
			if _, err := client.Write(c.data); err != nil {
				return
			}
		}
	})
}
