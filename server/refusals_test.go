package server

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/imcallback/imcallback/protocol"
)

// TestAdminRefusalsAreLoggedOnceAMinute: a burst of refused admin
// connections gives one warning, with the count, not one line each.
func TestAdminRefusalsAreLoggedOnceAMinute(t *testing.T) {
	core, logs := observer.New(zap.WarnLevel)
	refuse := logRefusals(zap.New(core))
	for range 3 {
		refuse(protocol.ErrTooManyConns, nil)
	}
	lines := logs.All()
	if len(lines) != 1 {
		t.Fatalf("%d lines for a burst of 3 refusals, want 1: %v", len(lines), lines)
	}
	if got := lines[0].ContextMap()["refused_total"]; got != int64(1) {
		t.Errorf("refused_total = %v, want 1 (the first refusal)", got)
	}
}

// fakeClock is the refusal log's clock in the tests: it moves only when
// the test moves it.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// observedRefusals is a public refusal log written to an observer, on a
// clock the test moves.
func observedRefusals() (*refusalLog, *observer.ObservedLogs, *fakeClock) {
	core, logs := observer.New(zap.WarnLevel)
	clock := &fakeClock{t: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
	rl := newRefusalLog(zap.New(core))
	rl.now = clock.now
	return rl, logs, clock
}

// refusedWith opens a connection to addr, sends request and reads the
// FAIL envelope it is answered with.
func refusedWith(t *testing.T, addr, request string) (int, protocol.Envelope) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(15 * time.Second))
	if _, err := io.WriteString(c, request); err != nil {
		t.Fatal(err)
	}
	return readEnvelope(t, bufio.NewReader(c))
}

// TestPublicRefusalsAreLoggedOnceAMinutePerReason: the answers net/http
// writes itself and the connections refused beyond the bound reach no
// handler, so no access-log line; each reason gets one warning a minute,
// with its code, status and peer, and the refusals held back are counted
// in the next line.
func TestPublicRefusalsAreLoggedOnceAMinutePerReason(t *testing.T) {
	type refusal struct {
		name    string
		full    bool   // the listener is at its bound: the connection itself is refused
		request string // sent on the refused connection
		want    *protocol.Error
	}
	var tests []refusal
	for _, r := range netHTTPRefusals {
		tests = append(tests, refusal{r.name, false, r.request, r.want})
	}
	tests = append(tests, refusal{"too many connections", true, "POST /im HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}", protocol.ErrTooManyConns})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rl, logs, clock := observedRefusals()
			max := 16
			if tt.full {
				max = 1
			}
			ls := startLimitedWith(t, max, rl.note)
			if tt.full {
				keepAlive(t, ls.addr)
			}
			refuse := func() {
				t.Helper()
				status, env := refusedWith(t, ls.addr, tt.request)
				if status != tt.want.Status || env.ErrorCode != tt.want.Code {
					t.Fatalf("answered %d %+v, want %d code %d", status, env, tt.want.Status, tt.want.Code)
				}
			}
			check := func(want int) {
				t.Helper()
				lines := logs.FilterLevelExact(zapcore.WarnLevel).All()
				if len(lines) != want {
					t.Fatalf("%d warn lines, want %d: %v", len(lines), want, lines)
				}
			}
			refuse()
			check(1)
			refuse() // within the minute: held back, counted
			refuse()
			check(1)
			clock.advance(refusalLogEvery)
			refuse()
			check(2)
			for i, wantCount := range []int64{1, 3} {
				line := logs.All()[i]
				got := line.ContextMap()
				if !strings.Contains(line.Message, "refused") || got["reason"] != tt.want.Reason ||
					got["error_code"] != int64(tt.want.Code) || got["status"] != int64(tt.want.Status) ||
					got["remote_ip"] != "127.0.0.1" || got["count_since_last_line"] != wantCount {
					t.Errorf("line %d: %q %v, want reason %s, error_code %d, status %d, remote_ip 127.0.0.1, count_since_last_line %d",
						i, line.Message, got, tt.want.Reason, tt.want.Code, tt.want.Status, wantCount)
				}
			}
		})
	}
}

// TestPublicRefusalLogHoldsNoRequestBytes: a refused request's query may
// hold a Sign and its headers a secret; the warning names the reason and
// the peer, never anything the request carried.
func TestPublicRefusalLogHoldsNoRequestBytes(t *testing.T) {
	const sign, secret = "5f4dcc3b5aa765d61d8327deb882cf99aa11bb22cc33dd44ee55ff6677889900", "hunter2-secret"
	query := "/im?SdkAppid=1400000000&CallbackCommand=C2C.CallbackBeforeSendMsg&RequestTime=1700000000&Sign=" + sign
	tests := []struct {
		name    string
		request string
	}{
		{"unsupported HTTP version", "POST " + query + " HTTP/3.0\r\nHost: x\r\nX-Secret: " + secret + "\r\n\r\n"},
		{"malformed request line", "POST " + query + " " + secret + " HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"header too large", "POST " + query + " HTTP/1.1\r\nHost: x\r\nX-Secret: " + secret +
			"\r\nX-Big: " + strings.Repeat("a", 8<<10) + "\r\n\r\n"},
		{"unsupported Expect header", "POST " + query + " HTTP/1.1\r\nHost: x\r\nExpect: " + secret + "\r\nContent-Length: 2\r\n\r\n{}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rl, logs, _ := observedRefusals()
			ls := startLimitedWith(t, 16, rl.note)
			refusedWith(t, ls.addr, tt.request)
			lines := logs.All()
			if len(lines) != 1 {
				t.Fatalf("%d lines for the refusal, want 1: %v", len(lines), lines)
			}
			text := fmt.Sprint(lines[0].Message, lines[0].ContextMap())
			for _, leak := range []string{sign, secret, "SdkAppid", "/im"} {
				if strings.Contains(text, leak) {
					t.Errorf("the warning holds %q from the request: %s", leak, text)
				}
			}
		})
	}
}

// TestPublicRefusalLogIsSafeForConcurrentUse: the connections' goroutines
// report their refusals at once; none is lost from the count, and the race
// detector (go test -race) sees the log's state guarded. (Refusals sent
// over real connections would not show a missing lock: the detector takes
// each socket write and read as ordering the goroutines.)
func TestPublicRefusalLogIsSafeForConcurrentUse(t *testing.T) {
	rl, logs, clock := observedRefusals()
	peer := &net.TCPAddr{IP: net.IPv4(192, 0, 2, 7), Port: 40000}
	const n = 32
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rl.note(protocol.ErrBadRequest, peer)
		}()
	}
	wg.Wait()
	clock.advance(refusalLogEvery)
	rl.note(protocol.ErrBadRequest, peer)
	lines := logs.All()
	if len(lines) != 2 {
		t.Fatalf("%d lines for %d refusals and one a minute later, want 2: %v", len(lines), n+1, lines)
	}
	first, next := lines[0].ContextMap(), lines[1].ContextMap()
	if first["count_since_last_line"] != int64(1) || next["count_since_last_line"] != int64(n) || next["remote_ip"] != "192.0.2.7" {
		t.Fatalf("lines %v and %v, want counts 1 and %d, remote_ip 192.0.2.7", first, next, n)
	}
}

// TestThePublicListenerLogsWhatNetHTTPRefuses: the public listener itself
// (not only its refusal log) warns of a request net/http refused, which
// reaches no handler and so has no access-log line.
func TestThePublicListenerLogsWhatNetHTTPRefuses(t *testing.T) {
	core, logs := observer.New(zap.WarnLevel)
	addr := startPublicWith(t, nil, zap.New(core))
	status, env := refusedWith(t, addr, "POST /im HTTP/3.0\r\nHost: x\r\n\r\n")
	if status != http.StatusHTTPVersionNotSupported || env.ErrorCode != protocol.ErrHTTPVersion.Code {
		t.Fatalf("answered %d %+v, want 505 code %d", status, env, protocol.ErrHTTPVersion.Code)
	}
	lines := logs.FilterField(zap.String("reason", protocol.ErrHTTPVersion.Reason)).All()
	if len(lines) != 1 || lines[0].ContextMap()["remote_ip"] != "127.0.0.1" {
		t.Fatalf("%d warnings of the refusal, want 1 naming 127.0.0.1: %v", len(lines), logs.All())
	}
}
