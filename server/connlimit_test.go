package server

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/imcallback/imcallback/admin"
	"github.com/imcallback/imcallback/protocol"
)

// limitedServer serves an OK answer on a loopback listener limited to max
// connections, and records the rejections by reason.
type limitedServer struct {
	addr     string
	limit    *connLimit
	mu       sync.Mutex
	rejected map[string]int
}

// testHeaderTimeout is the limited server's ReadHeaderTimeout: far below
// its idle timeout (a minute), so a test can tell which of the two closed
// a connection, and far above the time a busy machine may take between a
// test's writes of one request's header (TestReapSparesAConnectionWhoseRequestIsArriving
// writes half of one, then reaps, then the rest): the header must not
// time out in between.
const testHeaderTimeout = 5 * time.Second

func startLimited(t *testing.T, max int) *limitedServer { return startLimitedWith(t, max, nil) }

// startLimitedWith is startLimited whose rejections also go to onReject,
// when it is not nil.
func startLimitedWith(t *testing.T, max int, onReject func(*protocol.Error, net.Addr)) *limitedServer {
	t.Helper()
	ls := &limitedServer{rejected: map[string]int{}}
	ls.limit = newConnLimit(max, true, testHeaderTimeout, func(pe *protocol.Error, remote net.Addr) {
		ls.mu.Lock()
		ls.rejected[pe.Reason]++
		ls.mu.Unlock()
		if onReject != nil {
			onReject(pe, remote)
		}
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ls.addr = ln.Addr().String()
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, `{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}`)
		}),
		ConnState:         ls.limit.connState,
		MaxHeaderBytes:    4 << 10,
		ReadHeaderTimeout: testHeaderTimeout,
		IdleTimeout:       time.Minute,
	}
	go func() { _ = srv.Serve(ls.limit.wrap(ln)) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ls
}

func (ls *limitedServer) rejections(reason string) int {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return ls.rejected[reason]
}

// keepAlive opens a connection and completes one request on it, leaving
// it open and idle.
func keepAlive(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, r := dialGuarded(t, addr)
	if res := roundTrip(t, c, r, "POST /im HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"); res.StatusCode != http.StatusOK {
		t.Fatalf("status %d", res.StatusCode)
	}
	return c, r
}

// dialGuarded opens a connection to addr, closed at the test's end, with
// a bound on every read and write of the test: a connection the server
// should close or answer and does not fails the test instead of hanging
// it. It is a guard, not a time limit on the answers.
func dialGuarded(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.SetDeadline(time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	return c, bufio.NewReader(c)
}

// roundTrip sends req on c and reads its answer from r.
func roundTrip(t *testing.T, c net.Conn, r *bufio.Reader, req string) *http.Response {
	t.Helper()
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res
}

// readEnvelope reads one answer from r and decodes its FAIL envelope.
func readEnvelope(t *testing.T, r *bufio.Reader) (int, protocol.Envelope) {
	t.Helper()
	res, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	var env protocol.Envelope
	if err := json.NewDecoder(res.Body).Decode(&env); err != nil {
		t.Fatalf("answer %d is not the JSON envelope: %v", res.StatusCode, err)
	}
	return res.StatusCode, env
}

func TestConnectionsBeyondTheLimitAreRefusedWithTheEnvelope(t *testing.T) {
	ls := startLimited(t, 3)
	var open []net.Conn
	for range 3 {
		c, _ := keepAlive(t, ls.addr)
		open = append(open, c)
	}
	refused := func() (int, protocol.Envelope) {
		c, err := net.Dial("tcp", ls.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(15 * time.Second))
		if _, err := io.WriteString(c, "POST /im HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}"); err != nil {
			t.Fatal(err)
		}
		return readEnvelope(t, bufio.NewReader(c))
	}
	status, env := refused()
	if status != http.StatusServiceUnavailable || env.ActionStatus != protocol.StatusFail ||
		env.ErrorCode != protocol.ErrTooManyConns.Code {
		t.Fatalf("fourth connection answered %d %+v, want 503 code %d", status, env, protocol.ErrTooManyConns.Code)
	}
	if n := ls.rejections(protocol.ErrTooManyConns.Reason); n != 1 {
		t.Errorf("%d rejections counted, want 1", n)
	}
	// A closed connection frees its place.
	open[0].Close()
	deadline := time.Now().Add(15 * time.Second)
	for ls.limit.open.Load() != 2 {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections counted open after one of three closed", ls.limit.open.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
	keepAlive(t, ls.addr)
}

// TestIdleConnectionsAreReapedOnlyNearTheLimit: idle connections are
// reaped once the limit is near, and only those idle for pressureIdle.
// The reap times are taken from the connections' own idle marks, not the
// clock while the test runs: on a busy machine the second pair may become
// idle seconds after the first.
func TestIdleConnectionsAreReapedOnlyNearTheLimit(t *testing.T) {
	ls := startLimited(t, 4)
	var readers []*bufio.Reader
	for range 2 {
		_, r := keepAlive(t, ls.addr)
		readers = append(readers, r)
	}
	waitIdle(t, ls.limit, 2)
	if n := ls.limit.reap(time.Now().Add(pressureIdle + time.Hour)); n != 0 {
		t.Fatalf("reaped %d idle connections at half the limit", n)
	}
	for range 2 {
		_, r := keepAlive(t, ls.addr)
		readers = append(readers, r)
	}
	waitIdle(t, ls.limit, 4)
	oldest, newest := idleMarks(ls.limit)
	if n := ls.limit.reap(oldest.Add(pressureIdle - time.Millisecond)); n != 0 {
		t.Fatalf("reaped %d connections idle for less than %v", n, pressureIdle)
	}
	if n := ls.limit.reap(newest.Add(pressureIdle)); n != 4 {
		t.Fatalf("reaped %d idle connections at the limit, want 4", n)
	}
	for i, r := range readers {
		if _, err := r.ReadByte(); !errors.Is(err, io.EOF) && !isReset(err) {
			t.Errorf("connection %d still open after the reap: %v", i, err)
		}
	}
}

// idleMarks returns the earliest and the latest idle mark of l's idle
// connections.
func idleMarks(l *connLimit) (oldest, newest time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for c := range l.conns {
		since := c.idleSince.Load()
		if since == 0 {
			continue
		}
		at := time.Unix(0, since)
		if oldest.IsZero() || at.Before(oldest) {
			oldest = at
		}
		if at.After(newest) {
			newest = at
		}
	}
	return oldest, newest
}

// waitIdle waits until net/http reported n connections idle: it does so
// just after writing the answer the client has already read.
func waitIdle(t *testing.T, l *connLimit, n int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		idle := l.idle()
		if idle == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d connections idle, want %d", idle, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// isReset reports whether err is the connection closed by the server,
// not the test's read deadline passing on a connection still open.
func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && !op.Timeout()
}

// netHTTPRefusals are requests net/http refuses itself, before any
// handler, each with the FAIL envelope its plain answer is rewritten into.
var netHTTPRefusals = []struct {
	name, request string
	want          *protocol.Error
}{
	{"header too large", "POST /im HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 8<<10) + "\r\n\r\n", protocol.ErrHeaderTooLarge},
	{"malformed request line", "GARBAGE\r\n\r\n", protocol.ErrBadRequest},
	{"unsupported transfer encoding", "POST /im HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", protocol.ErrNotImplemented},
	{"unsupported Expect header", "POST /im HTTP/1.1\r\nHost: x\r\nExpect: foo\r\nContent-Length: 2\r\n\r\n{}", protocol.ErrExpectationFailed},
	{"unsupported HTTP version", "POST /im HTTP/3.0\r\nHost: x\r\n\r\n", protocol.ErrHTTPVersion},
}

// TestIdleConnectionsAreNotReapedFarBelowAHugeLimit: a limit above a
// third of the largest int64 (IMCALLBACK_MAX_CONNS where no open-file
// limit lowers it: outside unix, or with the limit unknown) overflowed
// the limit's three quarters to a negative count, so that the listener
// was always near its limit and closed every idle keep-alive connection
// after pressureIdle, one connection open or many.
func TestIdleConnectionsAreNotReapedFarBelowAHugeLimit(t *testing.T) {
	for max := range 10000 { // where max*3 fits, the three quarters are as before
		if got, want := nearLimit(max), int64(max)*3/4; got != want {
			t.Fatalf("nearLimit(%d) = %d, want %d", max, got, want)
		}
	}
	for _, max := range []int{math.MaxInt/3 + 1, math.MaxInt / 2, math.MaxInt} {
		ls := startLimited(t, max)
		keepAlive(t, ls.addr)
		waitIdle(t, ls.limit, 1)
		if n := ls.limit.reap(time.Now().Add(pressureIdle + time.Hour)); n != 0 {
			t.Errorf("limit %d: reaped %d idle connections of 1 open", max, n)
		}
	}
}

func TestRejectionsOfNetHTTPAreAnsweredWithTheEnvelope(t *testing.T) {
	ls := startLimited(t, 16)
	statuses := map[*protocol.Error]int{ // as net/http chose them
		protocol.ErrHeaderTooLarge: http.StatusRequestHeaderFieldsTooLarge, protocol.ErrBadRequest: http.StatusBadRequest,
		protocol.ErrNotImplemented: http.StatusNotImplemented, protocol.ErrExpectationFailed: http.StatusExpectationFailed,
		protocol.ErrHTTPVersion: http.StatusHTTPVersionNotSupported,
	}
	for _, tt := range netHTTPRefusals {
		t.Run(tt.name, func(t *testing.T) {
			status, env := refusedWith(t, ls.addr, tt.request)
			if status != statuses[tt.want] || env.ActionStatus != protocol.StatusFail || env.ErrorCode != tt.want.Code {
				t.Fatalf("answered %d %+v, want %d code %d", status, env, statuses[tt.want], tt.want.Code)
			}
			if n := ls.rejections(tt.want.Reason); n != 1 {
				t.Errorf("%d rejections counted as %s, want 1", n, tt.want.Reason)
			}
		})
	}
}

func TestConnBoundFitsTheOpenFileLimit(t *testing.T) {
	tests := []struct {
		configured int
		fileLimit  uint64
		want       int
	}{
		{4096, 0, 4096},     // unknown limit: as configured
		{4096, 20000, 4096}, // fits
		{4096, 4096, 3072},  // lowered to leave the reserve
		{4096, 1000, 16},    // a tiny limit still serves
		{100, 1124, 100},    // exactly fits
	}
	for _, tt := range tests {
		if got := connBound(tt.configured, tt.fileLimit, zap.NewNop()); got != tt.want {
			t.Errorf("connBound(%d, %d) = %d, want %d", tt.configured, tt.fileLimit, got, tt.want)
		}
	}
}

func TestReadinessChecksRunConcurrentlyWithTheirOwnDeadline(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	checks := []admin.Check{
		{Name: "slow", Check: func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }},
		{Name: "fast", Check: func(ctx context.Context) error { time.Sleep(20 * time.Millisecond); return ctx.Err() }},
		{Name: "broken", Check: func(context.Context) error { return errors.New("disk full") }},
		{Name: "stuck", Check: func(context.Context) error { <-release; return nil }}, // ignores its deadline
	}
	// "fast" ends 20 ms after "broken" failed: a deadline far above that,
	// so a loaded machine does not make it late.
	got := runChecks(context.Background(), newCheckRunners(checks), 2*time.Second)
	if got["fast"] != "ok" || got["broken"] != "disk full" ||
		!strings.Contains(got["slow"], "deadline") || !strings.Contains(got["stuck"], "no answer") {
		t.Fatalf("results %v", got)
	}
}

// TestReapSparesAConnectionWhoseRequestIsArriving: a keep-alive connection
// that has sent the first bytes of its next request is no longer idle,
// whether they came before the reaper looked for idle connections or
// between that and its closing them; the others are closed.
func TestReapSparesAConnectionWhoseRequestIsArriving(t *testing.T) {
	for _, tt := range []struct {
		name      string
		scanFirst bool // the reaper finds the connection idle before the bytes arrive
	}{{"before the scan", false}, {"after the scan", true}} {
		t.Run(tt.name, func(t *testing.T) {
			ls := startLimited(t, 4)
			var conns []net.Conn
			for range 4 {
				c, _ := keepAlive(t, ls.addr)
				conns = append(conns, c)
			}
			waitIdle(t, ls.limit, 4)
			later := time.Now().Add(pressureIdle + time.Second)
			var stale []staleConn
			if tt.scanFirst {
				if stale = ls.limit.stale(later); len(stale) != 4 {
					t.Fatalf("%d stale connections, want 4", len(stale))
				}
			}
			if _, err := io.WriteString(conns[0], "POST /im HTTP/1.1\r\nHo"); err != nil { // half a header
				t.Fatal(err)
			}
			waitIdle(t, ls.limit, 3) // the server has read part of the next request
			if !tt.scanFirst {
				stale = ls.limit.stale(later)
			}
			if n := ls.limit.closeStale(stale); n != 3 {
				t.Fatalf("closed %d, want the 3 truly idle connections", n)
			}
			if _, err := io.WriteString(conns[0], "st: x\r\nContent-Length: 2\r\n\r\n{}"); err != nil {
				t.Fatal(err)
			}
			res, err := http.ReadResponse(bufio.NewReader(conns[0]), nil)
			if err != nil || res.StatusCode != http.StatusOK {
				t.Fatalf("the request in progress: %v %v", res, err)
			}
			res.Body.Close()
		})
	}
}

// TestAFewBytesOnAnIdleConnectionGetTheHeaderTimeout: net/http waits for
// the first four bytes of a keep-alive connection's next request under the
// idle timeout, and its ReadHeaderTimeout starts only after them. A client
// that sent one to three bytes was no longer idle for the reaper, and held
// its connection, and a place under the bound, for the whole idle timeout
// (120 s by default) instead of the header timeout (5 s): a few dozen
// connections a second kept the listener full. The next request's header
// now has the header timeout from its first byte.
func TestAFewBytesOnAnIdleConnectionGetTheHeaderTimeout(t *testing.T) {
	for _, sent := range []string{"P", "POS"} {
		t.Run(sent, func(t *testing.T) {
			ls := startLimited(t, 4)
			c, r := keepAlive(t, ls.addr)
			waitIdle(t, ls.limit, 1)
			if _, err := io.WriteString(c, sent); err != nil {
				t.Fatal(err)
			}
			// Far below the idle timeout (a minute), far above the header timeout.
			_ = c.SetReadDeadline(time.Now().Add(20 * time.Second))
			if _, err := r.ReadByte(); !errors.Is(err, io.EOF) && !isReset(err) {
				t.Fatalf("the connection is still open after the header timeout: %v", err)
			}
		})
	}
}

// idle is how many open connections are idle now.
func (l *connLimit) idle() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for c := range l.conns {
		if c.idleSince.Load() != 0 {
			n++
		}
	}
	return n
}
