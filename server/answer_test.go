package server

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/imcallback/imcallback/middleware"
	"github.com/imcallback/imcallback/protocol"
)

// TestAnAnswerOfTheServiceIsNeverTakenForNetHTTPs: the plain listener
// rewrites the plain-text answers net/http writes itself (a malformed
// request, headers over the limit) into FAIL envelopes, and it told them
// by their bytes: a status of 400 or more, then Content-Type text/plain
// and Connection: close. A middleware of one's own that wrote its answer
// itself (a load shedder's 503 with a text body, whose type net/http
// sniffs) wrote just those bytes whenever its connection was closing:
// when the request said Connection: close, and from the stop signal on,
// when every answer closes its connection. Its answer was replaced by 400
// malformed_request, counted and logged as a request net/http refused.
// The answer written while a handler runs is now sent as written, and
// net/http's own answer to the next request of the connection is still
// rewritten.
func TestAnAnswerOfTheServiceIsNeverTakenForNetHTTPs(t *testing.T) {
	const body = "busy, try later"
	shed := []middleware.Ordered{{Name: "shed", Order: middleware.OrderSignature + 1,
		Func: func(echo.HandlerFunc) echo.HandlerFunc {
			return func(c echo.Context) error {
				c.Response().WriteHeader(http.StatusServiceUnavailable)
				_, err := io.WriteString(c.Response(), body) // no Content-Type: net/http sniffs text/plain
				return err
			}
		}}}
	tests := []struct {
		name     string
		header   string // of the request
		stopping bool   // the stop signal has come: keep-alives are off
	}{
		{"keep-alive", "", false},
		{"the request says Connection: close", "Connection: close\r\n", false},
		{"from the stop signal on", "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lc, drain, addr := startPublicDrained(t, shed)
			defer lc.RequireStop()
			if tt.stopping {
				drain.Stopping()
			}
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			// A guard against a hang, not a time limit on the answer.
			if err := c.SetDeadline(time.Now().Add(15 * time.Second)); err != nil {
				t.Fatal(err)
			}
			if _, err := io.WriteString(c, "POST /im/callback?SdkAppid=1400000000 HTTP/1.1\r\nHost: x\r\n"+
				tt.header+"Content-Length: 2\r\n\r\n{}"); err != nil {
				t.Fatal(err)
			}
			r := bufio.NewReader(c)
			res, err := http.ReadResponse(r, nil)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(res.Body)
			res.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != http.StatusServiceUnavailable || string(got) != body {
				t.Fatalf("answer %d %q, want the middleware's %d %q", res.StatusCode, got, http.StatusServiceUnavailable, body)
			}
			if res.Close {
				return
			}
			if _, err := io.WriteString(c, "NOT HTTP\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			if status, env := readEnvelope(t, r); status != http.StatusBadRequest || env.ErrorCode != protocol.ErrBadRequest.Code {
				t.Errorf("net/http's answer to the next request: %d %+v, want %d with %d", status, env, http.StatusBadRequest, protocol.ErrBadRequest.Code)
			}
		})
	}
}
