package server

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
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

// startPublicDrained starts the public listener on a loopback port with
// chain and no commands, as serve wires it: with a Drain (no delay).
func startPublicDrained(t *testing.T, chain []middleware.Ordered) (*fxtest.Lifecycle, *Drain, string) {
	t.Helper()
	cfg := config.Default()
	cfg.ShutdownDelay = 0
	drain := newDrain(&cfg, zap.NewNop(), nil)
	lc, addr := startPublicListener(t, cfg.Path, chain, zap.NewNop(), drain)
	return lc, drain, addr
}

// unknownCommand is a callback the public listener without commands
// answers 200 (an unknown command), keeping the connection.
const unknownCommand = "POST /im/callback?SdkAppid=1400000000&CallbackCommand=X.Unknown HTTP/1.1\r\n" +
	"Host: x\r\nContent-Length: 2\r\n\r\n{}"

// TestKeepAliveConnectionsCloseOnceStopping: from the stop signal on (and
// through IMCALLBACK_SHUTDOWN_DELAY) the public listener keeps no
// connection alive: an idle one is closed at once, and the answer to a
// request in flight says Connection: close and its connection is closed
// after it. A Kubernetes Service (or any layer-4 balancer) keeps an
// established connection on the pod it chose: IM's keep-alive connections
// kept bringing callbacks to the stopping replica through the whole delay,
// and the one sent as the drain closed its idle connection was lost.
func TestKeepAliveConnectionsCloseOnceStopping(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	hold := middleware.Ordered{Name: "hold", Order: middleware.OrderSignature + 1,
		Func: func(next echo.HandlerFunc) echo.HandlerFunc {
			return func(c echo.Context) error {
				if c.Request().Header.Get("X-Hold") != "" {
					close(entered)
					<-release
				}
				return next(c)
			}
		}}
	lc, drain, addr := startPublicDrained(t, []middleware.Ordered{hold})
	t.Cleanup(lc.RequireStop)
	idle, idleR := dialGuarded(t, addr)
	busy, busyR := dialGuarded(t, addr)
	for _, c := range []struct {
		conn net.Conn
		r    *bufio.Reader
	}{{idle, idleR}, {busy, busyR}} {
		if res := roundTrip(t, c.conn, c.r, unknownCommand); res.StatusCode != http.StatusOK || res.Close {
			t.Fatalf("before the stop signal: %d, Connection: close %v; want 200 and keep-alive", res.StatusCode, res.Close)
		}
	}
	held := strings.Replace(unknownCommand, "Host: x\r\n", "Host: x\r\nX-Hold: 1\r\n", 1)
	if _, err := io.WriteString(busy, held); err != nil {
		t.Fatal(err)
	}
	<-entered // a request in flight at the stop signal
	drain.Stopping()
	if _, err := idleR.ReadByte(); !errors.Is(err, io.EOF) && !isReset(err) {
		t.Fatalf("an idle connection is still open after the stop signal: %v", err)
	}
	close(release)
	res, err := http.ReadResponse(busyR, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !res.Close {
		t.Fatalf("after the stop signal: %d, Connection: close %v; want 200 and close", res.StatusCode, res.Close)
	}
	if _, err := busyR.ReadByte(); !errors.Is(err, io.EOF) && !isReset(err) {
		t.Fatalf("the connection is still open after an answer saying close: %v", err)
	}
}

// TestReadinessWaitsForThePublicListener: /readyz (the check shutdown)
// fails until the public listener listens. The admin listener starts
// first, and its /readyz said ready while a callback's connection was
// still refused.
func TestReadinessWaitsForThePublicListener(t *testing.T) {
	cfg := config.Default()
	drain := newDrain(&cfg, zap.NewNop(), nil)
	check := drain.check().Check
	if err := check(context.Background()); !errors.Is(err, errStarting) {
		t.Fatalf("ready check before the public listener is built: %v, want %v", err, errStarting)
	}
	lc, p := newPublicListener(t, cfg, middleware.Chain{}, zap.NewNop(), drain)
	if err := check(context.Background()); !errors.Is(err, errStarting) {
		t.Fatalf("ready check before the public listener starts: %v, want %v", err, errStarting)
	}
	lc.RequireStart()
	t.Cleanup(lc.RequireStop)
	if err := check(context.Background()); err != nil {
		t.Fatalf("ready check once the public listener listens: %v", err)
	}
	c, err := net.Dial("tcp", p.Addr().String())
	if err != nil {
		t.Fatalf("the public listener refuses a connection while ready: %v", err)
	}
	c.Close()
}

// TestReadinessFailsOnceThePublicListenerStops: the public listener's
// stop makes /readyz fail (the check shutdown) before it stops accepting,
// also when nobody called Stopping: fx's own Run, as the package's
// documentation shows it, stops the app without it, and /readyz, which
// the admin listener answers until the public one has drained, said
// ready while the port was closed.
func TestReadinessFailsOnceThePublicListenerStops(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	hold := holdRequest(entered, release)
	lc, drain, addr := startPublicDrained(t, []middleware.Ordered{hold})
	check := drain.check().Check
	if err := check(context.Background()); err != nil {
		t.Fatalf("ready check before the stop: %v", err)
	}
	c, _ := dialGuarded(t, addr)
	if _, err := io.WriteString(c, unknownCommand); err != nil {
		t.Fatal(err)
	}
	<-entered // a request in flight: the drain waits for it
	stopped := make(chan error, 1)
	go func() { stopped <- lc.Stop(context.Background()) }()
	// A guard against a hang, not a time limit.
	for deadline := time.Now().Add(15 * time.Second); !errors.Is(check(context.Background()), errStopping); {
		if time.Now().After(deadline) {
			close(release)
			t.Fatal("the readiness check still passes while the public listener drains")
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(release)
	if res, err := http.ReadResponse(bufio.NewReader(c), nil); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("the request in flight during the drain: %v %v", res, err)
	}
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
}

// holdRequest is a middleware after the signature check that closes entered
// when a request reaches it and holds that request until release closes
// (one request: a second would close entered again).
func holdRequest(entered, release chan struct{}) middleware.Ordered {
	return middleware.Ordered{Name: "hold", Order: middleware.OrderSignature + 1,
		Func: func(next echo.HandlerFunc) echo.HandlerFunc {
			return func(c echo.Context) error {
				close(entered)
				<-release
				return next(c)
			}
		}}
}
