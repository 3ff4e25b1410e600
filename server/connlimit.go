package server

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
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
	max     int
	rewrite bool
	// answerFor, when set, is what is sent instead of an answer net/http
	// wrote itself (netHTTPAnswer): given its status and its text, it
	// returns the whole answer. A rewriting listener's is the FAIL
	// envelope (newConnLimit); the admin listener's is its JSON error with
	// its security headers.
	answerFor func(status int, text []byte, remote net.Addr) []byte
	// headerTimeout is the server's ReadHeaderTimeout, which the next
	// request of a keep-alive connection gets from its first byte.
	headerTimeout time.Duration
	// onReject is told of every connection refused beyond the bound and
	// every answer of net/http's rewritten, with the peer's address. It is
	// called from the accept loop and, for the rewritten answers, from the
	// connections' goroutines, so on a rewriting listener it must be safe
	// for concurrent use.
	onReject func(pe *protocol.Error, remote net.Addr)
	// admit, when set, tells the peers whose requests could be accepted;
	// a connection from another peer is refused as it arrives (answered
	// 403 ip_not_allowed on a plain listener) and never holds a place.
	admit func(netip.Addr) bool
	// refuseGrace is how long refuseSource and refuse read and answer each.
	refuseGrace time.Duration

	open  atomic.Int64
	mu    sync.Mutex
	conns map[*limitedConn]struct{} // open connections; each keeps its own idle time
	// refused are the connections refuseSource and refuse are answering
	// (at most maxRefusing), under mu: the server does not know them, so the stop
	// closes them itself (stopRefusing) and waits for refusers. Once
	// stopped, a connection accepted late is closed unanswered.
	refused  map[net.Conn]struct{}
	refusers sync.WaitGroup
	stopped  bool
	// served counts the connections net/http serves, each on a goroutine
	// of its own: from its StateNew to its StateClosed (or StateHijacked),
	// the goroutine's last act. The stop waits for it.
	served sync.WaitGroup
}

// pressureIdle is how long a connection may stay idle while the limit is near.
const pressureIdle = 2 * time.Second

func newConnLimit(max int, rewrite bool, headerTimeout time.Duration, onReject func(*protocol.Error, net.Addr)) *connLimit {
	l := &connLimit{max: max, rewrite: rewrite, headerTimeout: headerTimeout, onReject: onReject,
		conns: map[*limitedConn]struct{}{}, refused: map[net.Conn]struct{}{}, refuseGrace: refuseGrace}
	if rewrite {
		l.answerFor = l.envelopeFor
	}
	return l
}

// envelopeFor is a rewriting listener's answer instead of net/http's own
// of status: the FAIL envelope of the rejection it maps to, counted.
func (l *connLimit) envelopeFor(status int, _ []byte, remote net.Addr) []byte {
	pe := protocolErrorFor(status)
	l.onReject(pe, remote)
	return errorResponse(pe)
}

// wrap returns ln limited.
func (l *connLimit) wrap(ln net.Listener) net.Listener { return &limitedListener{Listener: ln, l: l} }

// connState is the http.Server's ConnState hook: it marks a connection
// idle or busy, and counts the connections served (served). It runs twice
// per request, so it takes no lock: the mark is the connection's own. Under
// TLS net/http reports the *tls.Conn; the mark is on the limitedConn
// beneath it.
func (l *connLimit) connState(c net.Conn, st http.ConnState) {
	switch st {
	case http.StateNew: // reported by Serve before it starts the connection's goroutine
		l.served.Add(1)
	case http.StateClosed, http.StateHijacked: // reported once, by the connection's goroutine as it ends
		l.served.Done()
	}
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	lc, ok := c.(*limitedConn)
	if !ok {
		return
	}
	lc.active.Store(st == http.StateActive)
	lc.refusedUnread.Store(false) // a new request, or none
	lc.answering.Store(false)     // its handler has not started yet, or has answered
	if st == http.StateIdle {
		lc.idleSince.Store(time.Now().UnixNano())
	} else {
		lc.idleSince.Store(0)
	}
}

// serving counts the open connections whose request is being answered:
// its headers arrived (net/http's StateActive), its handler is not
// waiting for the rest of its body, and it was not refused before its body
// was read (markRefusedUnread). The others (new ones whose request has
// not all its headers yet, idle ones, those whose body is still arriving,
// and those refused, whose rest net/http reads for a grace after the
// answer) carry nothing the service acted on.
func (l *connLimit) serving() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for c := range l.conns {
		if c.active.Load() && c.bodyReads.Load() == 0 && !c.refusedUnread.Load() {
			n++
		}
	}
	return n
}

// connKey is the context key of the *limitedConn a request came on.
type connKey struct{}

// withConn is the http.Server's ConnContext hook: it keeps the
// *limitedConn beneath c (under TLS, beneath the *tls.Conn) in the
// context of its requests, for markHandling.
func withConn(ctx context.Context, c net.Conn) context.Context {
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	if lc, ok := c.(*limitedConn); ok {
		return context.WithValue(ctx, connKey{}, lc)
	}
	return ctx
}

// markHandling marks, on the connection a request came on (withConn),
// that its handler runs: what is written from then on is the service's
// answer, which Write never takes for one of net/http's own. It wraps the
// request's body (markedBody): it marks each read of the body while it
// waits, since at the end of the drain a handler waiting for a body still
// arriving is no request being answered (serving); and it gives the
// answer to a body still arriving at the read deadline time to be written
// (lateBodyAnswer).
func markHandling(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lc, _ := r.Context().Value(connKey{}).(*limitedConn)
		if lc != nil {
			lc.answering.Store(true)
		}
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = &markedBody{ReadCloser: r.Body, c: lc, w: w}
		}
		next.ServeHTTP(w, r)
	})
}

// markRefusedUnread marks the connection r came on as refused before its
// body was read (closeUnreadBody): its answer closes it, and net/http reads
// what is left of the body for a grace first, which holds nothing the
// service acted on (serving).
func markRefusedUnread(r *http.Request) {
	if lc, ok := r.Context().Value(connKey{}).(*limitedConn); ok {
		lc.refusedUnread.Store(true)
	}
}

// lateBodyAnswer is how long the answer to a request whose body was still
// arriving at the listener's read deadline has to be written.
const lateBodyAnswer = time.Second

// markedBody is a request's body whose reads are counted on its connection
// (c; nil: on a listener without the connection limit), and whose read
// timing out moves the answer's write deadline on by lateBodyAnswer. The
// listener's ReadTimeout counts from the request's start and its
// WriteTimeout, the same span, from the end of the headers: both pass at
// about the same moment, and the answer (40004 unreadable_body on the
// public listener) was logged and never sent.
type markedBody struct {
	io.ReadCloser
	c     *limitedConn
	w     http.ResponseWriter // the answer's, for its write deadline
	moved bool                // the write deadline was moved on
}

func (b *markedBody) Read(p []byte) (int, error) {
	if b.c != nil {
		b.c.bodyReads.Add(1)
		defer b.c.bodyReads.Add(-1)
	}
	n, err := b.ReadCloser.Read(p)
	if err != nil && !b.moved && errors.Is(err, os.ErrDeadlineExceeded) {
		b.moved = true
		// Not supported: no connection's deadline to move (a recorder).
		_ = http.NewResponseController(b.w).SetWriteDeadline(time.Now().Add(lateBodyAnswer))
	}
	return n, err
}

// reap closes connections idle longer than pressureIdle while the limit
// is near; it returns how many it closed.
func (l *connLimit) reap(now time.Time) int { return l.closeStale(l.stale(now)) }

// staleConn is a connection found idle, with the idle mark it had.
type staleConn struct {
	c     *limitedConn
	since int64
}

// nearLimit is three quarters of max, rounded down, past which the limit
// is near: computed without max*3, which overflows for a max above a
// third of the largest int64 (IMCALLBACK_MAX_CONNS is lowered to the
// open-file limit only where there is one) and made the limit near with
// any connection open.
func nearLimit(max int) int64 { return int64(max)/4*3 + int64(max)%4*3/4 }

// stale lists the connections idle longer than pressureIdle while the
// limit is near.
func (l *connLimit) stale(now time.Time) []staleConn {
	if l.open.Load() <= nearLimit(l.max) {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []staleConn
	for c := range l.conns {
		if since := c.idleSince.Load(); since != 0 && now.Sub(time.Unix(0, since)) >= pressureIdle {
			out = append(out, staleConn{c, since})
		}
	}
	return out
}

// closeStale closes each connection that is still idle since the mark it
// was found with: one whose next request began to arrive meanwhile (Read
// cleared the mark, or net/http marked it busy and idle again) is spared.
// Taking the mark first means a Read that comes after this check finds it
// cleared and the connection closing, as with any idle timeout.
func (l *connLimit) closeStale(stale []staleConn) int {
	n := 0
	for _, s := range stale {
		if s.c.idleSince.CompareAndSwap(s.since, 0) {
			_ = s.c.Close() // net/http sees the read fail and forgets the connection
			n++
		}
	}
	return n
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
		if !ll.l.admits(c.RemoteAddr()) {
			ll.refuseSource(c)
			continue
		}
		if ll.l.open.Add(1) > int64(ll.l.max) {
			ll.l.open.Add(-1)
			ll.refuse(c)
			continue
		}
		lc := &limitedConn{Conn: c, l: ll.l}
		ll.l.mu.Lock()
		ll.l.conns[lc] = struct{}{}
		ll.l.mu.Unlock()
		return lc, nil
	}
}

// admits reports whether a connection from remote may be served: always
// without an admit check, and for a peer whose address cannot be read.
func (l *connLimit) admits(remote net.Addr) bool {
	if l.admit == nil {
		return true
	}
	var peer netip.Addr
	switch a := remote.(type) {
	case *net.TCPAddr:
		peer = a.AddrPort().Addr()
	default:
		ap, err := netip.ParseAddrPort(remote.String())
		if err != nil {
			return true // not an IP peer: the request's own check decides
		}
		peer = ap.Addr()
	}
	return l.admit(peer)
}

// refuse answers a connection over the limit and closes it. On a plain
// listener a goroutine of its own (one of refuseSource's maxRefusing, for
// refuseGrace) reads its request's header, as refuseSource does, before
// it writes the 503 envelope (answered as it was accepted, before its
// request, it was an answer Go's client drops, failing the request with
// no status), then reads what the client sends until it closes: closed
// with its request unread, the connection was reset, and a client still
// sending, or whose stack drops at a reset what it has not read, lost the
// answer. Beyond maxRefusing and once the stop has begun, the answer is
// written and the connection closed at once; on a TLS listener it is
// closed unanswered.
func (ll *limitedListener) refuse(c net.Conn) {
	ll.l.onReject(protocol.ErrTooManyConns, c.RemoteAddr()) // counted before the client can read the answer
	if !ll.l.rewrite {
		_ = c.Close()
		return
	}
	if !ll.answerLater(c, protocol.ErrTooManyConns) {
		_ = c.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = c.Write(errorResponse(protocol.ErrTooManyConns))
		_ = c.Close()
	}
}

// answerLater answers c with pe's envelope on a goroutine of its own, one
// of maxRefusing, within refuseGrace: it reads the request's header first
// (a client expects the answer after its request), writes the answer,
// then reads what the client sends until it closes (lingerRead). It
// reports false, having done nothing, when maxRefusing are answering
// already or the stop has begun.
func (ll *limitedListener) answerLater(c net.Conn, pe *protocol.Error) bool {
	if !ll.l.track(c) {
		return false
	}
	go func() {
		defer ll.l.refusers.Done()
		defer ll.l.untrack(c)
		_ = c.SetDeadline(time.Now().Add(ll.l.refuseGrace))
		if _, err := http.ReadRequest(bufio.NewReader(io.LimitReader(c, refuseRead))); err != nil {
			return // no whole header within the bounds
		}
		if _, err := c.Write(errorResponse(pe)); err != nil {
			return
		}
		lingerRead(c)
	}()
	return true
}

// lingerRead half-closes c, answered, and reads what the client sends
// until it closes (at most refuseRead, within c's deadline), so that
// closing c then sends no reset.
func lingerRead(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_, _ = io.CopyN(io.Discard, c, refuseRead)
}

// refuseSource refuses a connection from a peer no allowlist admits,
// outside the bound. On a plain listener a goroutine of its own (at most
// maxRefusing at once, for refuseGrace each) reads its request's header
// before it writes the 403 envelope, as a client expects the answer after
// its request (Go's closes a new connection that speaks first), then
// reads what follows until the client closes: closed with its request
// unread, the connection is reset, and the client may lose the answer.
// Beyond maxRefusing, on a TLS listener and once the stop has begun
// (stopRefusing, which also ends those still answering), it is closed at
// once.
func (ll *limitedListener) refuseSource(c net.Conn) {
	ll.l.onReject(protocol.ErrIPNotAllowed, c.RemoteAddr())
	if !ll.l.rewrite {
		_ = c.Close()
		return
	}
	if !ll.answerLater(c, protocol.ErrIPNotAllowed) {
		_ = c.Close()
	}
}

// track records c as answered by refuseSource or refuse, unless
// maxRefusing are or the stop has begun.
func (l *connLimit) track(c net.Conn) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped || len(l.refused) >= maxRefusing {
		return false
	}
	l.refused[c] = struct{}{}
	l.refusers.Add(1)
	return true
}

// untrack closes c, answered, and forgets it.
func (l *connLimit) untrack(c net.Conn) {
	l.mu.Lock()
	delete(l.refused, c)
	l.mu.Unlock()
	_ = c.Close()
}

// stopRefusing closes the connections refuseSource and refuse are still answering and
// returns once their goroutines have ended; a connection refused later is
// closed at once. The listener's stop calls it once its server has shut
// down: otherwise each would run on past the stop, with its socket, for
// up to refuseGrace.
func (l *connLimit) stopRefusing() {
	l.mu.Lock()
	l.stopped = true
	for c := range l.refused {
		_ = c.Close()
	}
	l.mu.Unlock()
	l.refusers.Wait()
}

// Bounds of the refused connections of refuseSource.
const (
	// maxRefusing is how many are read and answered at once.
	maxRefusing = 64
	// refuseGrace is how long each is read and answered.
	refuseGrace = time.Second
	// refuseRead is how much of each is read at most: its header, and
	// what follows the answer.
	refuseRead = 64 << 10
)

type limitedConn struct {
	net.Conn
	l      *connLimit
	closed atomic.Bool
	// idleSince is when net/http last reported the connection idle (unix
	// nanoseconds), 0 while a request is arriving or being answered.
	idleSince atomic.Int64
	// active is whether net/http last reported the connection active: a
	// request whose headers arrived is being read or answered.
	active atomic.Bool
	// bodyReads counts the reads of its request's body in progress
	// (markHandling): non-zero while its handler waits for the body.
	bodyReads atomic.Int32
	// refusedUnread is whether its request was refused before its body
	// was read (markRefusedUnread); cleared at each change of state.
	refusedUnread atomic.Bool
	// answering is whether its request's handler runs (markHandling), so
	// that what is written is the service's answer, not net/http's own;
	// cleared at each change of state.
	answering atomic.Bool
}

// Read clears the idle mark as soon as bytes arrive: net/http reports a
// connection active only once the whole header is read, and a request
// that is arriving must not be reaped. The request then has the header
// timeout from its first byte: net/http waits for the first four bytes of
// a keep-alive connection's next request under the idle timeout, and
// starts its ReadHeaderTimeout only after them, so a client sending one
// to three bytes held the connection, unreaped, for the whole idle
// timeout.
func (c *limitedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 && c.idleSince.Load() != 0 && c.idleSince.Swap(0) != 0 && c.l.headerTimeout > 0 {
		_ = c.Conn.SetReadDeadline(time.Now().Add(c.l.headerTimeout))
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
		c.l.mu.Lock()
		delete(c.l.conns, c)
		c.l.mu.Unlock()
	}
	return c.Conn.Close()
}

// plainErrorHeaders mark the answers net/http writes itself on a bad
// request; the service's own answers are always JSON.
var plainErrorHeaders = []byte("\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n")

// netHTTPAnswer reports whether p is an answer net/http wrote itself: a
// plain-text error, or the empty 417 it sends for an unsupported Expect
// header (the service never answers 417).
func netHTTPAnswer(p []byte) bool {
	if len(p) < 13 || string(p[:9]) != "HTTP/1.1 " || p[9] < '4' {
		return false
	}
	return string(p[9:13]) == "417 " || bytes.Contains(p, plainErrorHeaders)
}

// Write rewrites an answer net/http wrote itself (netHTTPAnswer) on a
// listener with answerFor. An answer written while a handler runs is the
// service's, and sent as written: one of a middleware of one's own with a
// text body (whose type net/http sniffs as text/plain) on a connection
// that closes after it (the request's Connection: close, or any once the
// stop signal has turned keep-alives off) has the very bytes netHTTPAnswer
// looks for.
func (c *limitedConn) Write(p []byte) (int, error) {
	if c.l.answerFor == nil || c.answering.Load() || !netHTTPAnswer(p) {
		return c.Conn.Write(p)
	}
	status, _ := strconv.Atoi(string(p[9:12]))
	var text []byte // net/http's body: "400 Bad Request: malformed Host header"
	if _, body, ok := bytes.Cut(p, []byte("\r\n\r\n")); ok {
		text = body
	}
	if _, err := c.Conn.Write(c.l.answerFor(status, text, c.Conn.RemoteAddr())); err != nil {
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
	case http.StatusExpectationFailed:
		return protocol.ErrExpectationFailed
	case http.StatusHTTPVersionNotSupported:
		return protocol.ErrHTTPVersion
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
