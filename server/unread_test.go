package server

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx/fxtest"
	"go.uber.org/zap"

	"github.com/imcallback/imcallback/config"
	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/metrics"
	"github.com/imcallback/imcallback/middleware"
	"github.com/imcallback/imcallback/protocol"
)

// startPublic starts the public listener on a loopback port with chain,
// no commands and a read timeout (60 s + 30 s) far beyond the tests' guard.
func startPublic(t *testing.T, chain []middleware.Ordered) string {
	t.Helper()
	return startPublicWith(t, chain, zap.NewNop())
}

// startPublicWith is startPublic logging to log.
func startPublicWith(t *testing.T, chain []middleware.Ordered, log *zap.Logger) string {
	t.Helper()
	return startPublicAt(t, config.Default().Path, chain, log)
}

// startPublicAt is startPublicWith serving the callback on path.
func startPublicAt(t *testing.T, path string, chain []middleware.Ordered, log *zap.Logger) string {
	t.Helper()
	lc, addr := startPublicListener(t, path, chain, log, nil)
	t.Cleanup(lc.RequireStop)
	return addr
}

// startPublicListener starts the public listener on a loopback port,
// serving the callback on path with chain, no commands, a read timeout
// (60 s + 30 s) far beyond the tests' guard and drain (nil: none). The
// caller stops it.
func startPublicListener(t *testing.T, path string, chain []middleware.Ordered, log *zap.Logger, drain *Drain) (*fxtest.Lifecycle, string) {
	t.Helper()
	cfg := config.Default()
	cfg.Path = path
	cfg.ReadHeaderTimeout = time.Minute
	ch, err := middleware.NewChain(chain)
	if err != nil {
		t.Fatal(err)
	}
	lc, p := newPublicListener(t, cfg, ch, log, drain)
	lc.RequireStart()
	return lc, p.Addr().String()
}

// newPublicListener builds, without starting it, the public listener of
// cfg on a loopback port, with chain, no commands and drain (nil: none),
// its hooks on the lifecycle returned.
func newPublicListener(t *testing.T, cfg config.Config, chain middleware.Chain, log *zap.Logger, drain *Drain) (*fxtest.Lifecycle, *Public) {
	t.Helper()
	cfg.Listen = "127.0.0.1:0"
	m := metrics.NewCallbacks(prometheus.NewRegistry())
	d, err := dispatcher.New(nil, dispatcher.Options{BeforeTimeout: time.Second}, zap.NewNop(), m)
	if err != nil {
		t.Fatal(err)
	}
	lc := fxtest.NewLifecycle(t)
	p, err := newPublic(publicIn{Lifecycle: lc, Config: &cfg, Log: log, Metrics: m, Chain: chain, Dispatcher: d, Drain: drain})
	if err != nil {
		t.Fatal(err)
	}
	return lc, p
}

// TestUserRefusalIsAnsweredWithoutWaitingForTheBody: a middleware of the
// user's that refuses a request before its body is read (key auth, a rate
// limiter) is answered at once, with Connection: close, like the built-in
// checks. Its 400, 401, 403 or 429 used to wait until net/http had read the
// rest of the body, so a client that sent part of it held its connection,
// and a place under IMCALLBACK_MAX_CONNS, until the read timeout.
func TestUserRefusalIsAnsweredWithoutWaitingForTheBody(t *testing.T) {
	refusals := map[string]error{
		"400": echo.NewHTTPError(http.StatusBadRequest, "missing key in request header"), // echo's key auth
		"401": echo.ErrUnauthorized,
		"403": echo.ErrForbidden,
		"429": echo.ErrTooManyRequests,
		"503": echo.ErrServiceUnavailable, // a load shedder
	}
	addr := startPublic(t, []middleware.Ordered{{Name: "refuse", Order: middleware.OrderSignature + 1,
		Func: func(next echo.HandlerFunc) echo.HandlerFunc {
			return func(c echo.Context) error {
				if err := refusals[c.Request().Header.Get("X-Refuse")]; err != nil {
					return err
				}
				return next(c)
			}
		}}})
	tests := []struct {
		refuse string
		want   *protocol.Error
	}{
		{"400", protocol.ErrBadRequest},
		{"401", protocol.ErrUnauthorized},
		{"403", protocol.ErrForbidden},
		{"429", protocol.ErrTooManyRequests},
		{"503", protocol.ErrServiceUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.want.Reason, func(t *testing.T) {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			// A guard against a hang, not a time limit on the answer.
			if err := conn.SetDeadline(time.Now().Add(15 * time.Second)); err != nil {
				t.Fatal(err)
			}
			req := "POST /im/callback?SdkAppid=1 HTTP/1.1\r\nHost: x\r\nX-Refuse: " + tt.refuse +
				"\r\nContent-Length: " + strconv.Itoa(1000) + "\r\n\r\n" + `{"Te`
			if _, err := io.WriteString(conn, req); err != nil {
				t.Fatal(err)
			}
			r := bufio.NewReader(conn)
			resp, err := http.ReadResponse(r, nil)
			if err != nil {
				t.Fatalf("no answer while the body is incomplete: %v", err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tt.want.Status || !resp.Close {
				t.Fatalf("answer %d, Connection: close %v; want %d and close", resp.StatusCode, resp.Close, tt.want.Status)
			}
		})
	}
}
