package server

import (
	"errors"
	"net/http"
	"testing"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/imcallback/imcallback/middleware"
	"github.com/imcallback/imcallback/protocol"
)

// TestAMiddlewaresMistakeIsAnsweredWithTheEnvelope: two mistakes of a
// middleware of the user's still get IM the 500 internal envelope. A typed
// nil error (a nil *protocol.Error or *echo.HTTPError returned as an
// error) panicked in the error handler, outside recover, so a middleware
// outside the access log dropped the connection with no answer. A chain
// that returned nil without answering (a middleware that neither called
// next nor answered) was net/http's empty 200, logged as a 200.
func TestAMiddlewaresMistakeIsAnsweredWithTheEnvelope(t *testing.T) {
	mistakes := map[string]error{
		"typed-nil-protocol": (*protocol.Error)(nil),
		"typed-nil-echo":     (*echo.HTTPError)(nil),
		"no-answer":          nil,
	}
	mistake := func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if err, ok := mistakes[c.Request().Header.Get("X-Mistake")]; ok {
				return err
			}
			return next(c)
		}
	}
	tests := []struct {
		name     string
		order    int  // where the mistaken middleware runs
		inside   bool // inside the access log, which then logs the 500
		mistake  string
		wantLine bool
	}{
		{"typed nil *protocol.Error outside the access log", middleware.OrderRecover + 10, false, "typed-nil-protocol", false},
		{"typed nil *echo.HTTPError outside the access log", middleware.OrderRecover + 10, false, "typed-nil-echo", false},
		{"typed nil *protocol.Error inside the access log", middleware.OrderSignature + 10, true, "typed-nil-protocol", true},
		{"typed nil *echo.HTTPError inside the access log", middleware.OrderSignature + 10, true, "typed-nil-echo", true},
		{"no answer outside the access log", middleware.OrderRecover + 10, false, "no-answer", false},
		{"no answer inside the access log", middleware.OrderSignature + 10, true, "no-answer", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			core, logs := observer.New(zapcore.InfoLevel)
			log := zap.New(core)
			addr := startPublicWith(t, []middleware.Ordered{
				middleware.NewRecover(log),
				middleware.NewAccessLog(log, nil),
				{Name: "mistake", Order: tt.order, Func: mistake},
			}, log)
			status, env := refusedWith(t, addr, "POST /im/callback?SdkAppid=1&CallbackCommand=C2C.CallbackBeforeSendMsg HTTP/1.1\r\n"+
				"Host: x\r\nX-Mistake: "+tt.mistake+"\r\nContent-Length: 2\r\n\r\n{}")
			if status != http.StatusInternalServerError || env.ErrorCode != protocol.ErrInternal.Code {
				t.Fatalf("answer %d %+v, want the 500 internal envelope", status, env)
			}
			lines := logs.FilterMessage("request").All()
			if tt.wantLine != (len(lines) == 1) {
				t.Fatalf("%d access lines, want a line %v", len(lines), tt.wantLine)
			}
			if tt.wantLine && lines[0].ContextMap()["status"] != int64(http.StatusInternalServerError) {
				t.Errorf("access line %v, want status 500", lines[0].ContextMap())
			}
			if tt.mistake == "no-answer" && !tt.inside && logs.FilterMessage("a middleware returned without answering the request").Len() != 1 {
				t.Errorf("logged %v, want the middleware's mistake", logs.All())
			}
			if logs.FilterMessage("panic recovered").Len() != 0 {
				t.Errorf("a panic was recovered: %v", logs.All())
			}
		})
	}
	if !errors.Is(middleware.AsProtocolError((*protocol.Error)(nil)), protocol.ErrInternal) {
		t.Error("a typed nil is not mapped to internal")
	}
}
