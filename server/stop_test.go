package server

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"go.uber.org/fx/fxtest"
	"go.uber.org/zap"

	"github.com/imcallback/imcallback/config"
	"github.com/imcallback/imcallback/middleware"
)

// TestAStopClosesConnectionsThatSentNoWholeRequest: with an
// IMCALLBACK_SHUTDOWN_TIMEOUT under 5 s, the stop of the public listener
// closes the connections on which no request is being served (one that
// sent nothing, one that sent half its headers, an idle keep-alive one
// that sent the start of its next request) and succeeds. net/http's
// Shutdown waits 5 s before it takes a new connection for idle, so each
// such connection made the drain fail at its bound, and the process exit
// 1, although every request had been answered.
func TestAStopClosesConnectionsThatSentNoWholeRequest(t *testing.T) {
	lc, p := startShortDrain(t, middleware.Chain{})
	addr := p.Addr().String()

	_, silentR := dialGuarded(t, addr)
	half, halfR := dialGuarded(t, addr)
	if _, err := io.WriteString(half, "POST /im/callback HTTP/1.1\r\nHost: x\r\n"); err != nil {
		t.Fatal(err)
	}
	next, nextR := dialGuarded(t, addr)
	if res := roundTrip(t, next, nextR, unknownCommand); res.StatusCode != http.StatusOK {
		t.Fatalf("status %d", res.StatusCode)
	}
	if _, err := io.WriteString(next, "POST"); err != nil {
		t.Fatal(err)
	}
	waitConns(t, p.limit, 3)

	if err := lc.Stop(context.Background()); err != nil {
		t.Fatalf("stop with no request in flight: %v", err)
	}
	for name, r := range map[string]io.Reader{"silent": silentR, "half headers": halfR, "next request begun": nextR} {
		if _, err := r.Read(make([]byte, 1)); !errors.Is(err, io.EOF) && !isReset(err) {
			t.Errorf("%s connection still open after the stop: %v", name, err)
		}
	}
}

// TestAStopClosesARequestWhoseBodyIsStillArriving: a request whose
// handler waits for the rest of its body at the end of the drain has not
// been acted on: its connection is closed and the stop succeeds. It failed
// the drain, and the process exited 1, for a client that stopped sending.
func TestAStopClosesARequestWhoseBodyIsStillArriving(t *testing.T) {
	// The handler of a known command reads the body first.
	read := middleware.Ordered{Name: "read", Order: middleware.OrderSignature + 1,
		Func: func(next echo.HandlerFunc) echo.HandlerFunc {
			return func(c echo.Context) error {
				if _, err := io.ReadAll(c.Request().Body); err != nil {
					return err
				}
				return next(c)
			}
		}}
	chain, err := middleware.NewChain([]middleware.Ordered{read})
	if err != nil {
		t.Fatal(err)
	}
	lc, p := startShortDrain(t, chain)
	c, r := dialGuarded(t, p.Addr().String())
	slow := strings.Replace(unknownCommand, "Content-Length: 2", "Content-Length: 10", 1)
	if _, err := io.WriteString(c, slow); err != nil {
		t.Fatal(err)
	}
	waitBodyRead(t, p.limit)
	if err := lc.Stop(context.Background()); err != nil {
		t.Fatalf("stop with a body still arriving: %v", err)
	}
	if _, err := io.ReadAll(r); err != nil && !isReset(err) {
		t.Errorf("connection after the stop: %v, want it closed", err)
	}
}

// TestAStopClosesARefusedRequestWhoseBodyIsStillArriving: a request
// refused before its body was read (another path, a bad signature …) is
// answered with Connection: close, and net/http then reads what is left of
// its body for up to IMCALLBACK_READ_HEADER_TIMEOUT. Nothing of it was
// acted on, yet with a shutdown timeout below that grace a client that
// stopped sending its body counted as a request in flight: the drain
// waited out its bound and failed the stop (exit 1).
func TestAStopClosesARefusedRequestWhoseBodyIsStillArriving(t *testing.T) {
	lc, p := startShortDrain(t, middleware.Chain{})
	c, r := dialGuarded(t, p.Addr().String())
	req := "POST /another/path HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"Te"
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound || !res.Close {
		t.Fatalf("answer %d, Connection: close %v; want 404 and close", res.StatusCode, res.Close)
	}
	if err := lc.Stop(context.Background()); err != nil {
		t.Fatalf("stop with a refused request's body still arriving: %v", err)
	}
	if _, err := io.ReadAll(r); err != nil && !isReset(err) {
		t.Errorf("connection after the stop: %v, want it closed", err)
	}
}

// waitBodyRead waits until a handler of l's connections waits for its
// request's body.
func waitBodyRead(t *testing.T, l *connLimit) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		l.mu.Lock()
		n := 0
		for c := range l.conns {
			if c.active.Load() && c.bodyReads.Load() > 0 {
				n++
			}
		}
		l.mu.Unlock()
		if n > 0 {
			return
		}
		if time.Now().After(deadline) { // a guard against a hang, not a time limit
			t.Fatal("no handler waits for its body")
		}
	}
}

// TestAStopWithARequestInFlightStillFails: the connections closed at the
// end of the drain include no request being answered: one still in its
// handler then fails the stop, as before.
func TestAStopWithARequestInFlightStillFails(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	hold := holdRequest(entered, release)
	chain, err := middleware.NewChain([]middleware.Ordered{hold})
	if err != nil {
		t.Fatal(err)
	}
	lc, p := startShortDrain(t, chain)
	c, _ := dialGuarded(t, p.Addr().String())
	if _, err := io.WriteString(c, unknownCommand); err != nil {
		t.Fatal(err)
	}
	<-entered
	if err := lc.Stop(context.Background()); err == nil || !strings.Contains(err.Error(), "requests still in flight: 1") {
		t.Fatalf("stop with a request in its handler: %v, want the drain's failure", err)
	}
}

// startShortDrain starts the public listener on a loopback port with
// chain, a drain bound of 300 ms and a header timeout of a minute.
func startShortDrain(t *testing.T, chain middleware.Chain) (*fxtest.Lifecycle, *Public) {
	t.Helper()
	cfg := config.Default()
	cfg.ReadHeaderTimeout = time.Minute
	cfg.ShutdownTimeout = 300 * time.Millisecond
	lc, p := newPublicListener(t, cfg, chain, zap.NewNop(), nil)
	lc.RequireStart()
	return lc, p
}

// waitConns waits until l counts n open connections.
func waitConns(t *testing.T, l *connLimit, n int64) {
	t.Helper()
	for deadline := time.Now().Add(15 * time.Second); l.open.Load() != n; {
		if time.Now().After(deadline) { // a guard against a hang, not a time limit
			t.Fatalf("%d connections open, want %d", l.open.Load(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
