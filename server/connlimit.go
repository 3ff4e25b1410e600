package server

import (
	"bytes"
	"crypto/tls"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/imcallback/imcallback/protocol"
)

// connLimit bounds the open connections of a listener. A connection
// beyond the bound is answered 503 with the protocol's FAIL envelope (on a
// plain listener; a TLS one is closed at once) and closed. While more than
// three quarters of the bound are open, idle keep-alive connections are
// closed after pressureIdle instead of the configured idle timeout, so idle
// clients give way to busy ones.
//
// On a plain listener it also rewrites the plain-text answers net/http
// writes itself, before any handler runs (431 for headers over the limit,
// 400 for a malformed request line), into FAIL envelopes with the same
// status, so every answer of the public listener is JSON.
type connLimit struct {
	max      int
	rewrite  bool
	onReject func(*protocol.Error)

	open atomic.Int64
	mu   sync.Mutex
	idle map[net.Conn]time.Time // connections idle since
}

// pressureIdle is how long a connection may stay idle while the limit is near.
const pressureIdle = 2 * time.Second

func newConnLimit(max int, rewrite bool, onReject func(*protocol.Error)) *connLimit {
	return &connLimit{max: max, rewrite: rewrite, onReject: onReject, idle: map[net.Conn]time.Time{}}
}

// wrap returns ln limited.
func (l *connLimit) wrap(ln net.Listener) net.Listener { return &limitedListener{Listener: ln, l: l} }

// connState is the http.Server's ConnState hook: it keeps the idle set.
// Under TLS net/http reports the *tls.Conn; the set holds the limitedConn
// beneath it.
func (l *connLimit) connState(c net.Conn, st http.ConnState) {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	switch st {
	case http.StateIdle:
		l.idle[c] = time.Now()
	default:
		delete(l.idle, c)
	}
}

// reap closes connections idle longer than pressureIdle while the limit
// is near; it returns how many it closed.
func (l *connLimit) reap(now time.Time) int {
	if l.open.Load() <= int64(l.max)*3/4 {
		return 0
	}
	l.mu.Lock()
	var stale []net.Conn
	for c, since := range l.idle {
		if lc, ok := c.(*limitedConn); ok && lc.lastRead.Load() >= since.UnixNano() {
			continue // its next request is arriving: net/http reports it active only once the header is read
		}
		if now.Sub(since) >= pressureIdle {
			stale = append(stale, c)
			delete(l.idle, c)
		}
	}
	l.mu.Unlock()
	for _, c := range stale {
		_ = c.Close() // net/http sees the read fail and forgets the connection
	}
	return len(stale)
}

// run reaps every second until stop is closed.
func (l *connLimit) run(stop <-chan struct{}) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			l.reap(now)
		}
	}
}

type limitedListener struct {
	net.Listener
	l *connLimit
}

func (ll *limitedListener) Accept() (net.Conn, error) {
	for {
		c, err := ll.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if ll.l.open.Add(1) > int64(ll.l.max) {
			ll.l.open.Add(-1)
			ll.refuse(c)
			continue
		}
		return &limitedConn{Conn: c, l: ll.l}, nil
	}
}

// refuse answers a connection over the limit and closes it.
func (ll *limitedListener) refuse(c net.Conn) {
	ll.l.onReject(protocol.ErrTooManyConns) // counted before the client can read the answer
	if ll.l.rewrite {
		_ = c.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = c.Write(errorResponse(protocol.ErrTooManyConns))
	}
	_ = c.Close()
}

type limitedConn struct {
	net.Conn
	l        *connLimit
	closed   atomic.Bool
	lastRead atomic.Int64 // unix nanoseconds of the last read that got bytes
}

func (c *limitedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.lastRead.Store(time.Now().UnixNano())
	}
	return n, err
}

// CloseWrite half-closes the connection when the one beneath can, as
// net/http does after an early error answer.
func (c *limitedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

func (c *limitedConn) Close() error {
	if c.closed.CompareAndSwap(false, true) {
		c.l.open.Add(-1)
		c.l.connState(c, http.StateClosed)
	}
	return c.Conn.Close()
}

// plainErrorHeaders mark the answers net/http writes itself on a bad
// request; the service's own answers are always JSON.
var plainErrorHeaders = []byte("\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n")

func (c *limitedConn) Write(p []byte) (int, error) {
	if !c.l.rewrite || len(p) < 12 || string(p[:9]) != "HTTP/1.1 " || p[9] < '4' || !bytes.Contains(p, plainErrorHeaders) {
		return c.Conn.Write(p)
	}
	status, _ := strconv.Atoi(string(p[9:12]))
	pe := protocolErrorFor(status)
	c.l.onReject(pe)
	if _, err := c.Conn.Write(errorResponse(pe)); err != nil {
		return 0, err
	}
	return len(p), nil
}

// protocolErrorFor maps the status net/http chose to the rejection sent.
func protocolErrorFor(status int) *protocol.Error {
	switch status {
	case http.StatusRequestHeaderFieldsTooLarge:
		return protocol.ErrHeaderTooLarge
	case http.StatusNotImplemented:
		return protocol.ErrNotImplemented
	}
	return protocol.ErrBadRequest
}

// errorResponse is a whole HTTP/1.1 answer carrying pe's FAIL envelope.
func errorResponse(pe *protocol.Error) []byte {
	body, _ := protocol.AppendEnvelope(nil, protocol.StatusFail, pe.Code, pe.Info, nil)
	b := make([]byte, 0, 160+len(body))
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(pe.Status), 10)
	b = append(b, ' ')
	b = append(b, http.StatusText(pe.Status)...)
	b = append(b, "\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(body)), 10)
	b = append(b, "\r\n\r\n"...)
	return append(b, body...)
}
