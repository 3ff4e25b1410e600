package server

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/imcallback/imcallback/protocol"
)

// TestARefusalBeyondTheLimitReachesAClientThatSpokeFirst: a connection
// beyond IMCALLBACK_MAX_CONNS whose request was sent at once (as every
// client does) gets its 503 envelope and a clean close. The listener
// wrote the answer and closed the connection with the request unread,
// which resets it (a TCP RST instead of a FIN): a client still sending its
// body, or whose stack drops what it has not read at a reset, saw
// "connection reset by peer" instead of the 503.
func TestARefusalBeyondTheLimitReachesAClientThatSpokeFirst(t *testing.T) {
	// The accept loop waits in the refusal of each odd connection until
	// its request was sent, so the request is there, unread, when the
	// listener answers and closes.
	entered, sent := make(chan struct{}), make(chan struct{})
	var n int
	ls := startLimitedWith(t, 1, func(*protocol.Error, net.Addr) {
		if n++; n%2 == 1 {
			entered <- struct{}{}
			<-sent
		}
	})
	keepAlive(t, ls.addr) // the one place, taken
	const req = "POST /im HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"
	for i := range 3 {
		c, err := net.Dial("tcp", ls.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(time.Minute)) // a guard, not a time limit
		<-entered
		if _, err := io.WriteString(c, req); err != nil {
			t.Fatal(err)
		}
		sent <- struct{}{}
		// The refusal of a later connection comes once this one's ended:
		// its answer, and whatever its close sent, are on their way.
		later, _ := dialGuarded(t, ls.addr)
		waitRejections(t, ls, protocol.ErrTooManyConns.Reason, 2*i+2)
		later.Close()
		r := bufio.NewReader(c)
		res, err := http.ReadResponse(r, nil)
		if err != nil {
			t.Fatalf("refused connection #%d: %v, want the 503 envelope", i+1, err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("refused connection #%d: %d, want 503", i+1, res.StatusCode)
		}
		if _, err := r.ReadByte(); !errors.Is(err, io.EOF) {
			t.Fatalf("refused connection #%d after its answer: %v, want a clean close (EOF), not a reset", i+1, err)
		}
	}
}

// waitRejections waits until ls has counted n rejections of reason.
func waitRejections(t *testing.T, ls *limitedServer, reason string, n int) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); ls.rejections(reason) < n; {
		if time.Now().After(deadline) { // a guard against a hang, not a time limit
			t.Fatalf("%d rejections, want %d", ls.rejections(reason), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// pipeListener hands the connections sent on conns to Accept, until closed.
type pipeListener struct {
	conns chan net.Conn
	done  chan struct{}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error   { close(l.done); return nil }
func (l *pipeListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }

// TestARefusalBeyondTheLimitComesAfterTheRequest: a connection beyond
// IMCALLBACK_MAX_CONNS is answered 503 once its request's header was
// read, as a peer refused for its source is. It was answered as soon as
// it was accepted, before the client had sent anything, and Go's client
// drops an answer that comes before its request ("Unsolicited response
// received on idle HTTP channel") and fails the request with no status:
// about one in 200 over loopback. The client here is a synchronous pipe,
// which takes no byte before the other end reads: answered first, its
// request could not be sent.
func TestARefusalBeyondTheLimitComesAfterTheRequest(t *testing.T) {
	l := newConnLimit(1, true, time.Second, func(*protocol.Error, net.Addr) {})
	pl := &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
	ln := l.wrap(pl)
	taken, takenServer := net.Pipe() // the one place
	defer taken.Close()
	go func() { pl.conns <- takenServer }()
	first, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	accepting := make(chan struct{})
	go func() {
		defer close(accepting)
		_, _ = ln.Accept() // refuses the next connection, then ends at the close
	}()
	defer func() {
		pl.Close()
		<-accepting
		l.stopRefusing()
	}()
	client, server := net.Pipe()
	defer client.Close()
	pl.conns <- server
	_ = client.SetDeadline(time.Now().Add(time.Minute)) // a guard, not a time limit
	if _, err := io.WriteString(client, "POST /im HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"); err != nil {
		t.Fatalf("the request could not be sent (%v): the refused connection was answered before its request was read", err)
	}
	res, err := http.ReadResponse(bufio.NewReader(client), nil)
	if err != nil {
		t.Fatalf("no answer after the request: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("answered %d, want 503", res.StatusCode)
	}
}
