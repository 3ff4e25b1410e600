package delivery_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/imcallback/imcallback/delivery"
	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/imtest"
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
// holds back what the NATS server sends, acknowledgements included, and
// sees what the service publishes. The copies of an event are published at
// once and awaited together: with every acknowledgement held back, both
// copies reach the server (copy after copy, the second would wait for the
// first's acknowledgement, each with its own PublishTimeout, and the answer
// to IM could take a PublishTimeout per copy). A stream that answers late
// stores both; a stalled one fails the event when the one shared deadline
// passes. A caller that goes away says nothing about the stream; a stalled
// stream does. Nothing here is timed: the waits are bounds only broken code
// runs into.
func TestCopiesShareOnePublishTimeout(t *testing.T) {
	upstream := imtest.FreeAddr(t)
	natsServer(t, upstream, 0)
	p := startLaggyProxy(t, upstream)
	o := options(t, backend{name: "embedded"})
	o.StoreDir = ""
	o.URL = "nats://" + p.addr
	// Long enough that the slow stream's acknowledgements, released once
	// both copies reached the server, arrive within it on a loaded machine.
	o.PublishTimeout = 5 * time.Second
	s := start(t, o, nil)
	t.Cleanup(p.release) // before the service stops, which waits for its appends
	js := s.Conn().JS

	// Slow: the acknowledgements are held until both copies reached the
	// server, then let through. Copy after copy, the second would never be
	// sent while the first's acknowledgement is held.
	p.stall()
	slow := copies(request(testCommand, "slow"))
	answer := acceptAsync(context.Background(), s, slow)
	p.awaitPublished(t, o.SubjectPrefix, copyIDs(slow), "while the stream held its acknowledgements")
	p.release()
	if err := awaitAnswer(t, answer); err != nil {
		t.Fatalf("both copies stored through a slow stream, answered %v", err)
	}

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

	// Stalled while the caller waits: both copies are published, and the
	// event fails when the one deadline they share passes, as the stream's
	// failure.
	stalled := copies(request(testCommand, "stalled"))
	answer = acceptAsync(context.Background(), s, stalled)
	p.awaitPublished(t, o.SubjectPrefix, copyIDs(stalled), "while the stream was stalled")
	err = awaitAnswer(t, answer)
	if err == nil {
		t.Fatal("copies nobody acknowledged were reported as stored")
	}
	// The shared deadline, or the publisher's own PublishTimeout on the
	// copies' acknowledgements, whichever fires first.
	if !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, jetstream.ErrAsyncPublishTimeout) {
		t.Errorf("two copies through a stalled stream failed with %v, want the publish timing out", err)
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

// copyIDs is the Nats-Msg-Id of each copy of r.
func copyIDs(r *dispatcher.Request) []string {
	id := delivery.RequestMsgID(r)
	ids := make([]string, 0, len(r.Targets))
	for _, target := range r.Targets {
		if target == "" {
			ids = append(ids, id)
		} else {
			ids = append(ids, id+":"+target)
		}
	}
	return ids
}

// acceptAsync calls s.Accept in a goroutine; its answer arrives on the
// channel returned.
func acceptAsync(ctx context.Context, s started, r *dispatcher.Request) <-chan error {
	answer := make(chan error, 1)
	go func() { answer <- s.Accept(ctx, r) }()
	return answer
}

// awaitAnswer waits for an Accept's answer. The bound is no expectation of
// speed: only an Accept that never answers runs into it.
func awaitAnswer(t *testing.T, answer <-chan error) error {
	t.Helper()
	select {
	case err := <-answer:
		return err
	case <-time.After(30 * time.Second):
		t.Fatal("Accept never answered")
		return nil
	}
}

// TestCopyRefusedFailsTheEvent: a stream that takes one more message
// stores the first copy and refuses the second. The event is answered as
// a failure naming the destination, the stream as failing; IM's retry
// once there is room stores the other copy and is answered OK.
func TestCopyRefusedFailsTheEvent(t *testing.T) {
	addr := imtest.FreeAddr(t)
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
// sends is held back while stalled, until released. What the client sends
// passes at once, and the proxy notes the messages it publishes.
type laggyProxy struct {
	addr, target string
	ln           net.Listener
	done         chan struct{}
	wg           sync.WaitGroup

	mu        sync.Mutex
	open      chan struct{} // closed unless stalled
	conns     []net.Conn
	published []published   // what the clients published, in order
	more      chan struct{} // closed and replaced when published grows
}

// published is one message a client sent: its subject and Nats-Msg-Id
// (empty without one).
type published struct {
	subject, msgID string
}

func startLaggyProxy(t *testing.T, target string) *laggyProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &laggyProxy{addr: ln.Addr().String(), target: target, ln: ln, done: make(chan struct{}),
		open: make(chan struct{}), more: make(chan struct{})}
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

// note records a message a client published.
func (p *laggyProxy) note(m published) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.published = append(p.published, m)
	close(p.more)
	p.more = make(chan struct{})
}

// awaitPublished waits until a message with each of ids (Nats-Msg-Id) was
// published to an event subject of prefix, what the service does with the
// copies of one event. The bound is no expectation of speed: only a message
// that is never published runs into it.
func (p *laggyProxy) awaitPublished(t *testing.T, prefix string, ids []string, when string) {
	t.Helper()
	timeout := time.After(15 * time.Second)
	for {
		p.mu.Lock()
		var seen, missing []string
		for _, m := range p.published {
			if strings.HasPrefix(m.subject, prefix+".") {
				seen = append(seen, m.msgID)
			}
		}
		for _, id := range ids {
			if !slices.Contains(seen, id) {
				missing = append(missing, id)
			}
		}
		more := p.more
		p.mu.Unlock()
		if len(missing) == 0 {
			return
		}
		select {
		case <-more:
		case <-timeout:
			t.Fatalf("the copies %q were never published %s (events published: %q): one copy waits for another's acknowledgement",
				missing, when, seen)
		}
	}
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
		var pubs pubReader
		buf := make([]byte, 32<<10)
		for {
			n, err := client.Read(buf)
			if n > 0 {
				pubs.read(buf[:n], p.note)
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
	chunks := make(chan []byte, 4096)
	p.wg.Go(func() { // server to the queue
		defer close(chunks)
		for {
			buf := make([]byte, 32<<10)
			n, err := server.Read(buf)
			if n > 0 {
				select {
				case chunks <- buf[:n]:
				case <-p.done:
					return
				}
			}
			if err != nil {
				return
			}
		}
	})
	p.wg.Go(func() { // the queue to the client, held back while stalled
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
			if _, err := client.Write(c); err != nil {
				return
			}
		}
	})
}

// pubReader follows the NATS protocol a client sends and reports each
// message it publishes (PUB and HPUB), with its Nats-Msg-Id header.
type pubReader struct {
	buf  []byte
	op   published // the message whose payload is awaited
	hdr  int       // its header bytes
	size int       // its header and payload bytes; -1 between messages
}

func (r *pubReader) read(data []byte, note func(published)) {
	if r.buf == nil {
		r.size = -1
	}
	r.buf = append(r.buf, data...)
	for {
		if r.size >= 0 { // the payload and its CRLF
			if len(r.buf) < r.size+2 {
				return
			}
			if r.hdr > 0 {
				r.op.msgID = msgIDHeader(r.buf[:r.hdr])
			}
			note(r.op)
			r.buf, r.size = r.buf[r.size+2:], -1
			continue
		}
		i := bytes.Index(r.buf, []byte("\r\n"))
		if i < 0 {
			return
		}
		f := strings.Fields(string(r.buf[:i]))
		r.buf = r.buf[i+2:]
		if len(f) == 0 {
			continue
		}
		switch op := strings.ToUpper(f[0]); {
		case op == "PUB" && (len(f) == 3 || len(f) == 4):
			r.op, r.hdr = published{subject: f[1]}, 0
			r.size, _ = strconv.Atoi(f[len(f)-1])
		case op == "HPUB" && (len(f) == 4 || len(f) == 5):
			r.op = published{subject: f[1]}
			r.hdr, _ = strconv.Atoi(f[len(f)-2])
			r.size, _ = strconv.Atoi(f[len(f)-1])
		}
	}
}

// msgIDHeader is the Nats-Msg-Id in a message's header block
// ("NATS/1.0\r\nName: value\r\n...\r\n\r\n").
func msgIDHeader(block []byte) string {
	for line := range strings.SplitSeq(string(block), "\r\n") {
		if name, value, ok := strings.Cut(line, ":"); ok && strings.EqualFold(name, jetstream.MsgIDHeader) {
			return strings.TrimSpace(value)
		}
	}
	return ""
}
