package imcallback_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/imcallback/imcallback"
	"github.com/imcallback/imcallback/admin"
	"github.com/imcallback/imcallback/commands/c2c"
	"github.com/imcallback/imcallback/config"
	"github.com/imcallback/imcallback/delivery"
	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/examples/moderation"
	"github.com/imcallback/imcallback/imtest"
	"github.com/imcallback/imcallback/internal/leakwait"
	"github.com/imcallback/imcallback/metrics"
	"github.com/imcallback/imcallback/middleware"
	"github.com/imcallback/imcallback/protocol"
	"github.com/imcallback/imcallback/server"
)

func TestMain(m *testing.M) { leakwait.VerifyTestMain(m) }

const (
	appID    = imtest.AppID
	oldToken = "old-token"
	newToken = "new-token"
)

// start runs imcallback.Module with both tokens configured (rotation)
// and a small body limit. The before-deadline is the longest IM's budget
// allows, not a short one: it runs from the request's arrival, through
// the middleware chain and the handler's goroutine, and a busy machine
// (the race detector, CI's two cores) can take over 100 ms before a
// handler that answers at once has answered, which then got the fallback
// instead of its decision.
func start(t *testing.T, extraEnv []string, opts ...fx.Option) *imtest.Service {
	t.Helper()
	env := append([]string{
		"IMCALLBACK_TOKENS=" + oldToken + "," + newToken,
		"IMCALLBACK_BEFORE_TIMEOUT=1900ms",
		"IMCALLBACK_BODY_LIMIT=1024",
		"IMCALLBACK_SHUTDOWN_TIMEOUT=5s",
	}, extraEnv...)
	return imtest.Start(t, env, opts...)
}

// call is one request to the callback endpoint.
type call struct {
	command string
	token   string // signs with this token instead of the service's first
	body    string
	opts    []imtest.Option
}

func do(t *testing.T, s *imtest.Service, c call) *imtest.Result {
	t.Helper()
	sender := *s.Sender
	if c.token != "" {
		sender.Token = c.token
	}
	res, err := sender.Send(context.Background(), c.command, []byte(c.body), c.opts...)
	if err != nil && res == nil {
		t.Fatal(err)
	}
	if ct := res.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type = %q (body %s)", ct, res.Body)
	}
	return res
}

const sampleBody = `{"CallbackCommand":"Group.CallbackAfterCreateTopic","GroupId":"@TGS#2J4SZEAEL","TopicId":"@TGS#_@TGS#cQVLVHIM62CJ@TOPIC#_@TOPIC#cRTE3HIM62C5","Operator_Account":"group_root","Owner_Account":"leckie","Type":"Community","Name":"MyFirstTopic","UserDefinedDataList":[{"Key":"UserDefined1","Value":"hello"},{"Key":"UserDefined2","Value":"world"}]}`

type topicPayload struct {
	GroupID string `json:"GroupId"`
	TopicID string `json:"TopicId"`
}

type msgPayload struct {
	From string `json:"From_Account"`
	Text string `json:"Text"`
}

// testCommands registers one handler of each kind with observable behaviour.
func testCommands(seen chan<- topicPayload) fx.Option {
	return fx.Provide(
		dispatcher.AsCommand(func() dispatcher.Command {
			return dispatcher.After("Group.CallbackAfterCreateTopic", func(_ context.Context, ev *dispatcher.Event[topicPayload]) error {
				seen <- ev.Payload
				return nil
			})
		}),
		dispatcher.AsCommand(func() dispatcher.Command {
			c := dispatcher.NewBeforeCommand[msgPayload, c2c.SendMsgReply]("C2C.CallbackBeforeSendMsg")
			return c.Handle(func(ctx context.Context, ev *dispatcher.Event[msgPayload]) (dispatcher.Reply[c2c.SendMsgReply], error) {
				switch ev.Payload.Text {
				case "slow":
					<-ctx.Done()
					return c.Allow(), nil
				case "panic":
					panic("handler bug")
				case "spam":
					return c.DenyWithCode(120001, "spam"), nil
				case "rewrite":
					return c.Modify(c2c.SendMsgReply{CloudCustomData: new("rewritten")}), nil
				}
				return c.Allow(), nil
			}, dispatcher.WithFallback(c.Deny("fallback")))
		}),
	)
}

func envelope(status string, code int, info string) map[string]any {
	return map[string]any{"ActionStatus": status, "ErrorCode": float64(code), "ErrorInfo": info}
}

func rejection(e *protocol.Error) map[string]any { return envelope("FAIL", e.Code, e.Info) }

func TestEndToEnd(t *testing.T) {
	seen := make(chan topicPayload, 16)
	s := start(t, nil, testCommands(seen))
	now := time.Now()
	unsigned, at := imtest.Unsigned(), imtest.At
	method := func(m string) []imtest.Option { return []imtest.Option{imtest.WithMethod(m)} }
	big := `{"CallbackCommand":"Group.CallbackAfterCreateTopic","Name":"` + strings.Repeat("x", 2048) + `"}`
	tests := []struct {
		name       string
		call       call
		wantStatus int
		want       map[string]any
		wantSeen   bool
	}{
		{"Tencent's sample, signed with the new token", call{command: "Group.CallbackAfterCreateTopic", token: newToken, body: sampleBody}, 200, envelope("OK", 0, ""), true},
		{"token rotation: old token still accepted", call{command: "Group.CallbackAfterCreateTopic", token: oldToken, body: sampleBody}, 200, envelope("OK", 0, ""), true},
		{"before allow", call{command: "C2C.CallbackBeforeSendMsg", body: `{"Text":"hello"}`}, 200, envelope("OK", 0, ""), false},
		{"before custom deny", call{command: "C2C.CallbackBeforeSendMsg", body: `{"Text":"spam"}`}, 200, envelope("OK", 120001, "spam"), false},
		{"before modify", call{command: "C2C.CallbackBeforeSendMsg", body: `{"Text":"rewrite"}`}, 200,
			map[string]any{"ActionStatus": "OK", "ErrorCode": float64(0), "ErrorInfo": "", "CloudCustomData": "rewritten"}, false},
		{"before deadline sends the fallback", call{command: "C2C.CallbackBeforeSendMsg", body: `{"Text":"slow"}`}, 200, envelope("OK", 1, "fallback"), false},
		{"before panic sends the fallback", call{command: "C2C.CallbackBeforeSendMsg", body: `{"Text":"panic"}`}, 200, envelope("OK", 1, "fallback"), false},
		{"unknown command", call{command: "Group.CallbackAfterBrandNew", body: `{}`}, 200, envelope("OK", 0, ""), false},
		{"malformed JSON", call{command: "Group.CallbackAfterCreateTopic", body: `{"GroupId":`}, 400, rejection(protocol.ErrMalformedJSON), false},
		{"missing command", call{token: newToken, body: `{"GroupId":"g"}`}, 400, rejection(protocol.ErrMissingCommand), false},
		{"command mismatch", call{command: "Group.CallbackAfterCreateTopic", body: `{"CallbackCommand":"C2C.CallbackBeforeSendMsg"}`}, 400, rejection(protocol.ErrCommandMismatch), false},
		{"unsigned", call{command: "Group.CallbackAfterCreateTopic", body: sampleBody, opts: []imtest.Option{unsigned}}, 401, rejection(protocol.ErrMissingSign), false},
		{"wrong token", call{command: "Group.CallbackAfterCreateTopic", token: "guess", body: sampleBody}, 401, rejection(protocol.ErrBadSign), false},
		{"stale RequestTime", call{command: "Group.CallbackAfterCreateTopic", body: sampleBody, opts: []imtest.Option{at(now.Add(-2 * time.Minute))}}, 401, rejection(protocol.ErrStaleRequest), false},
		{"future RequestTime", call{command: "Group.CallbackAfterCreateTopic", body: sampleBody, opts: []imtest.Option{at(now.Add(2 * time.Minute))}}, 401, rejection(protocol.ErrStaleRequest), false},
		{"wrong SdkAppid", call{command: "Group.CallbackAfterCreateTopic", body: sampleBody, opts: []imtest.Option{imtest.WithAppID("1400000001")}}, 403, rejection(protocol.ErrAppIDNotAllowed), false},
		{"missing SdkAppid", call{command: "Group.CallbackAfterCreateTopic", body: sampleBody, opts: []imtest.Option{imtest.WithAppID("")}}, 403, rejection(protocol.ErrAppIDNotAllowed), false},
		{"wrong method", call{command: "Group.CallbackAfterCreateTopic", opts: method(http.MethodGet)}, 405, rejection(protocol.ErrMethodNotAllowed), false},
		{"OPTIONS is another method", call{command: "Group.CallbackAfterCreateTopic", opts: method(http.MethodOptions)}, 405, rejection(protocol.ErrMethodNotAllowed), false},
		{"wrong method, unsigned", call{command: "Group.CallbackAfterCreateTopic", body: sampleBody, opts: append(method(http.MethodPut), unsigned)}, 405, rejection(protocol.ErrMethodNotAllowed), false},
		{"body over the limit", call{command: "Group.CallbackAfterCreateTopic", body: big}, 413, rejection(protocol.ErrBodyTooLarge), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := do(t, s, tt.call)
			var got map[string]any
			if err := json.Unmarshal(res.Body, &got); err != nil || res.Status != tt.wantStatus {
				t.Fatalf("status = %d, want %d (%s)", res.Status, tt.wantStatus, res.Body)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("answer = %v, want %v", got, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Fatalf("answer = %v, want %v", got, tt.want)
				}
			}
			select {
			case p := <-seen:
				if !tt.wantSeen {
					t.Fatalf("handler ran for a rejected request: %+v", p)
				}
				if p.TopicID != "@TGS#_@TGS#cQVLVHIM62CJ@TOPIC#_@TOPIC#cRTE3HIM62C5" || p.GroupID != "@TGS#2J4SZEAEL" {
					t.Fatalf("payload %+v", p)
				}
			default:
				if tt.wantSeen {
					t.Fatal("handler did not run")
				}
			}
		})
	}

	t.Run("body over the limit without Content-Length is not truncated", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, s.PublicURL+"/im/callback?"+signedQuery("Group.CallbackAfterCreateTopic"),
			io.MultiReader(strings.NewReader(big))) // a plain io.Reader: sent chunked
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge || req.ContentLength != 0 {
			t.Fatalf("status %d, content length %d", resp.StatusCode, req.ContentLength)
		}
		if len(seen) != 0 {
			t.Fatal("a truncated body reached the handler")
		}
	})

	t.Run("metrics", func(t *testing.T) {
		body := get(t, s.AdminURL+"/metrics", 200)
		for _, want := range []string{
			`imcallback_callbacks_total{app="1400000000",command="Group.CallbackAfterCreateTopic",outcome="ok"} 2`,
			`imcallback_callbacks_total{app="1400000000",command="C2C.CallbackBeforeSendMsg",outcome="fallback"} 2`,
			`imcallback_rejections_total{app="1400000000",reason="stale_request"} 2`,
			`imcallback_rejections_total{app="1400000000",reason="method_not_allowed"} 3`,
			`imcallback_rejections_total{app="other",reason="appid_not_allowed"} 2`, // a foreign and a missing SdkAppid
			`imcallback_unknown_commands_total{command="Group.CallbackAfterBrandNew"} 1`,
			`imcallback_callback_duration_seconds_bucket{command="C2C.CallbackBeforeSendMsg",kind="before",le="2"}`,
		} {
			if !strings.Contains(body, want) {
				t.Errorf("metrics lack %s", want)
			}
		}
	})
	t.Run("health and readiness on the admin listener only", func(t *testing.T) {
		if !strings.Contains(get(t, s.AdminURL+"/healthz", 200), "ok") {
			t.Fatal("healthz")
		}
		if !strings.Contains(get(t, s.AdminURL+"/readyz", 200), `"ready"`) {
			t.Fatal("readyz")
		}
		get(t, s.AdminURL+"/debug/pprof/", 200)
		for _, path := range []string{"/healthz", "/readyz", "/metrics", "/debug/pprof/", "/v1/topics"} {
			get(t, s.PublicURL+path, 404)
		}
	})
}

func signedQuery(command string) string {
	p := protocol.Params{SdkAppid: appID, CallbackCommand: command}
	p.Sign, p.RequestTime = protocol.SignAt(newToken, time.Now())
	return p.Encode()
}

func get(t *testing.T, url string, wantStatus int) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != wantStatus {
		t.Fatalf("GET %s = %d, want %d: %s", url, resp.StatusCode, wantStatus, body)
	}
	return string(body)
}

func TestIPAllowlistOverTheWire(t *testing.T) {
	seen := make(chan topicPayload, 4)
	tests := []struct {
		name    string
		env     []string
		headers map[string]string
		want    int
	}{
		{"loopback outside the allowlist", []string{"IMCALLBACK_ALLOW_CIDRS=203.0.113.0/24"}, nil, 403},
		{"spoofed X-Forwarded-For from an untrusted peer", []string{"IMCALLBACK_ALLOW_CIDRS=203.0.113.0/24", "IMCALLBACK_TRUSTED_PROXIES=10.0.0.1"},
			map[string]string{"X-Forwarded-For": "203.0.113.9"}, 403},
		{"X-Forwarded-For from a trusted proxy", []string{"IMCALLBACK_ALLOW_CIDRS=203.0.113.0/24", "IMCALLBACK_TRUSTED_PROXIES=127.0.0.1"},
			map[string]string{"X-Forwarded-For": "203.0.113.9"}, 200},
		{"loopback inside the allowlist", []string{"IMCALLBACK_ALLOW_CIDRS=127.0.0.0/8"}, nil, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := start(t, tt.env, testCommands(seen))
			var opts []imtest.Option
			for k, v := range tt.headers {
				opts = append(opts, imtest.WithHeader(k, v))
			}
			res := do(t, s, call{command: "Group.CallbackAfterCreateTopic", body: sampleBody, opts: opts})
			if res.Status != tt.want || tt.want == 403 && !res.Is(protocol.ErrIPNotAllowed) {
				t.Fatalf("status %d, want %d: %s", res.Status, tt.want, res.Body)
			}
			if tt.want == 200 {
				<-seen
			}
		})
	}
}

// TestUserMiddlewareOrder proves that user middleware from the fx group run
// at the position their Order gives, whatever the provide order.
func TestUserMiddlewareOrder(t *testing.T) {
	var mu sync.Mutex
	var order []string
	mark := func(name string, at int) any {
		return middleware.AsMiddleware(func() middleware.Ordered {
			return middleware.Ordered{Name: name, Order: at, Func: func(next echo.HandlerFunc) echo.HandlerFunc {
				return func(c echo.Context) error {
					mu.Lock()
					order = append(order, name)
					mu.Unlock()
					return next(c)
				}
			}}
		})
	}
	seen := make(chan topicPayload, 4)
	s := start(t, nil, testCommands(seen),
		fx.Provide(mark("after-signature", middleware.OrderSignature+1)),
		fx.Provide(mark("first", middleware.OrderRecover+1)),
		fx.Provide(mark("between-log-and-limit", middleware.OrderAccessLog+50)),
		fx.Provide(mark("before-appid", middleware.OrderAppID-1)),
	)
	if res := do(t, s, call{command: "Group.CallbackAfterCreateTopic", body: sampleBody}); res.Status != 200 {
		t.Fatalf("status %d", res.Status)
	}
	<-seen
	want := "first,between-log-and-limit,before-appid,after-signature"
	if got := strings.Join(order, ","); got != want {
		t.Fatalf("order %s, want %s", got, want)
	}

	// A rejection by the signature check stops the chain before later middleware.
	order = nil
	if res := do(t, s, call{command: "Group.CallbackAfterCreateTopic", body: sampleBody, opts: []imtest.Option{imtest.Unsigned()}}); res.Status != 401 {
		t.Fatalf("status %d", res.Status)
	}
	if got := strings.Join(order, ","); got != "first,between-log-and-limit,before-appid" {
		t.Fatalf("order on rejection %s", got)
	}
}

// TestMiddlewareOrderConflictFailsStart: a middleware of the user's
// sharing a built-in's order fails the start, and so does one that would
// run before recover (every-request, below OrderRecover), whose panic
// dropped the connection with no envelope.
func TestMiddlewareOrderConflictFailsStart(t *testing.T) {
	for _, tt := range []struct {
		name string
		mw   middleware.Ordered
		want string
	}{
		{"a built-in's order", middleware.Ordered{Name: "clash", Order: middleware.OrderSignature}, "share order"},
		{"below recover", middleware.Ordered{Name: "outer", Order: 50}, "outer (order 50) would run before recover (order 100)"},
		{"below recover, every request", middleware.Ordered{Name: "outer", Order: 50, Scope: middleware.ScopeEveryRequest}, "outer (order 50) would run before recover"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.mw.Func = func(echo.HandlerFunc) echo.HandlerFunc { return func(echo.Context) error { panic("outside recover") } }
			app := fx.New(fx.NopLogger,
				fx.Supply(config.Source{Environ: func() []string {
					return []string{"IMCALLBACK_SDKAPPID=1", "IMCALLBACK_LISTEN=127.0.0.1:0", "IMCALLBACK_ADMIN_LISTEN=127.0.0.1:0"}
				}}),
				imcallback.Module,
				fx.Provide(middleware.AsMiddleware(func() middleware.Ordered { return tt.mw })),
				fx.Invoke(func(*server.Public) {}),
			)
			if err := app.Err(); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

// TestGracefulShutdown stops the app while a request is in flight: the
// request completes and the listener refuses new connections afterwards.
func TestGracefulShutdown(t *testing.T) {
	entered := make(chan struct{})
	release := make(chan struct{})
	var pub *server.Public
	app := fxtest.New(t, fx.NopLogger,
		fx.Supply(config.Source{Environ: func() []string {
			return []string{"IMCALLBACK_SDKAPPID=" + appID, "IMCALLBACK_LISTEN=127.0.0.1:0", "IMCALLBACK_ADMIN_LISTEN=127.0.0.1:0",
				"IMCALLBACK_LOG_LEVEL=error", "IMCALLBACK_SHUTDOWN_TIMEOUT=5s"}
		}}),
		imcallback.Module,
		fx.Provide(dispatcher.AsCommand(func() dispatcher.Command {
			return dispatcher.After("Group.CallbackAfterCreateTopic", func(context.Context, *dispatcher.Event[topicPayload]) error {
				close(entered)
				<-release
				return nil
			})
		})),
		fx.Populate(&pub),
	)
	app.RequireStart()
	url := "http://" + pub.Addr().String() + "/im/callback?SdkAppid=" + appID + "&CallbackCommand=Group.CallbackAfterCreateTopic"
	done := make(chan int, 1)
	go func() {
		resp, err := http.Post(url, "application/json", bytes.NewBufferString(sampleBody))
		if err != nil {
			done <- -1
			return
		}
		resp.Body.Close()
		done <- resp.StatusCode
	}()
	<-entered
	stopped := make(chan struct{})
	go func() { app.RequireStop(); close(stopped) }()
	time.Sleep(50 * time.Millisecond) // Shutdown is now waiting for the request
	select {
	case <-stopped:
		t.Fatal("stopped before the in-flight request finished")
	default:
	}
	close(release)
	if status := <-done; status != http.StatusOK {
		t.Fatalf("in-flight request got %d", status)
	}
	<-stopped
	if _, err := http.Post(url, "application/json", strings.NewReader(sampleBody)); err == nil {
		t.Fatal("listener still accepts after stop")
	}
}

// TestModuleAloneStartsWithoutWarnings runs imcallback.Module with nothing
// else (no delivery module, no commands): it starts and stops without a
// single warning.
func TestModuleAloneStartsWithoutWarnings(t *testing.T) {
	core, logs := observer.New(zapcore.WarnLevel)
	s := imtest.Start(t, nil, fx.Decorate(func(l *zap.Logger) *zap.Logger {
		return zap.New(zapcore.NewTee(l.Core(), core))
	}))
	for _, e := range logs.All() {
		t.Errorf("warning at start: %s %v", e.Message, e.ContextMap())
	}
	if res := s.Send(t, "C2C.CallbackAfterSendMsg", []byte(`{}`)); !res.OK() {
		t.Fatalf("answer %d %s", res.Status, res.Body)
	}
}

// TestAdminToken: with IMCALLBACK_ADMIN_TOKEN, every admin route but the
// probes and the scrape needs the bearer token; pprof too. The scheme's
// name is matched whatever its case, the token exactly.
func TestAdminToken(t *testing.T) {
	s := start(t, []string{"IMCALLBACK_ADMIN_TOKEN=admin-secret"})
	do := func(path, auth string) int {
		req, _ := http.NewRequest(http.MethodGet, s.AdminURL+path, nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	tests := []struct {
		path, auth string
		want       int
	}{
		{"/healthz", "", 200},
		{"/readyz", "", 200},
		{"/metrics", "", 200},
		{"/debug/pprof/", "", 401},
		{"/debug/pprof/", "Bearer wrong", 401},
		{"/debug/pprof/", "admin-secret", 401},
		{"/debug/pprof/", "Bearer admin-secret", 200},
		// The scheme is case-insensitive (RFC 7235); the token is not.
		{"/debug/pprof/", "bearer admin-secret", 200},
		{"/debug/pprof/", "BEARER admin-secret", 200},
		{"/debug/pprof/", "Bearer   admin-secret", 200},
		{"/debug/pprof/", "bearer wrong", 401},
		{"/debug/pprof/", "Bearer ADMIN-SECRET", 401},
		{"/debug/pprof/", "Bearer", 401},
		{"/debug/pprof/", "Beareradmin-secret", 401},
		{"/debug/pprof/", "Basic admin-secret", 401},
		{"/no/such/path", "", 401},
	}
	for _, tt := range tests {
		if got := do(tt.path, tt.auth); got != tt.want {
			t.Errorf("GET %s with %q: %d, want %d", tt.path, tt.auth, got, tt.want)
		}
	}
}

// TestAdminOpenRouteIsOneMethod: a route marked admin.Route.Open opens its
// own method only: another route on the same path, not marked open, still
// needs the admin token. A path without its leading "/", which echo serves
// with one, is opened too (it needed the token).
func TestAdminOpenRouteIsOneMethod(t *testing.T) {
	ok := func(c echo.Context) error { return c.String(http.StatusOK, "ok") }
	s := start(t, []string{"IMCALLBACK_ADMIN_TOKEN=admin-secret"}, fx.Provide(admin.AsRoutes(func() []admin.Route {
		return []admin.Route{
			{Method: http.MethodGet, Path: "/plugin/page", Open: true, Handler: ok},
			{Method: http.MethodPost, Path: "/plugin/page", Handler: ok},
			{Method: http.MethodDelete, Path: "/healthz", Handler: ok},
			{Method: http.MethodGet, Path: "plugin/bare", Open: true, Handler: ok},
		}
	})))
	for _, tt := range []struct {
		method, path, auth string
		want               int
	}{
		{http.MethodGet, "/plugin/page", "", 200},
		{http.MethodPost, "/plugin/page", "", 401},
		{http.MethodPost, "/plugin/page", "Bearer admin-secret", 200},
		{http.MethodGet, "/healthz", "", 200},
		{http.MethodDelete, "/healthz", "", 401},
		{http.MethodDelete, "/healthz", "Bearer admin-secret", 200},
		{http.MethodGet, "/plugin/bare", "", 200},
	} {
		req, _ := http.NewRequest(tt.method, s.AdminURL+tt.path, nil)
		if tt.auth != "" {
			req.Header.Set("Authorization", tt.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.want {
			t.Errorf("%s %s with %q: %d, want %d", tt.method, tt.path, tt.auth, resp.StatusCode, tt.want)
		}
	}
}

// TestAdminRefusesCrossSiteRequests: a page of another site cannot make a
// browser pause delivery or read the admin API, by a plain cross-site
// request or by DNS rebinding; tools and the console itself are unaffected.
func TestAdminRefusesCrossSiteRequests(t *testing.T) {
	withAndWithoutAdminToken(t, func(t *testing.T, s *imtest.Service, tokenSet bool) {
		host := strings.TrimPrefix(s.AdminURL, "http://")
		tests := []struct {
			name    string
			headers map[string]string
			host    string // the Host header; empty: the listener's address
			want    int
		}{
			{"a tool", nil, "", 200},
			{"the console", map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": "http://" + host}, "", 200},
			{"typed into the address bar", map[string]string{"Sec-Fetch-Site": "none"}, "", 200},
			{"localhost", nil, "localhost:" + host[strings.LastIndex(host, ":")+1:], 200},
			{"another site's page", map[string]string{"Sec-Fetch-Site": "cross-site"}, "", 403},
			{"another port of the same host", map[string]string{"Sec-Fetch-Site": "same-site"}, "", 403},
			// admin-secret is shorter than config.MinAdminToken: a page could
			// guess it (TestAdminShortTokenKeepsRebindingCheck), so these are
			// refused with it as without a token.
			{"another origin, older browser", map[string]string{"Origin": "http://evil.example"}, "", 403},
			{"the console behind a proxy that rewrites Host", map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": "https://admin.example"}, "", 200},
			{"DNS rebinding", nil, "evil.example:9090", 403},
		}
		for _, tt := range tests {
			resp := adminDo(t, http.MethodPost, s.AdminURL+"/v1/delivery/pause", tt.host, tt.headers, tokenSet)
			if resp.StatusCode != tt.want {
				t.Errorf("%s: %d, want %d", tt.name, resp.StatusCode, tt.want)
			}
		}
		// A local checker speaking HTTP/1.0 without a Host header.
		c, err := net.Dial("tcp", host)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		fmt.Fprint(c, "GET /healthz HTTP/1.0\r\n\r\n")
		if line, _ := bufio.NewReader(c).ReadString('\n'); !strings.Contains(line, " 200 ") {
			t.Errorf("an HTTP/1.0 probe without Host: %q", line)
		}
	})
}

// TestAdminShortTokenKeepsRebindingCheck: a DNS-rebinding page is of the
// listener's origin to the browser, so it can send a bearer header of its
// own, guess after guess, with nothing to slow it down. A token shorter
// than config.MinAdminToken (allowed on loopback only) is one it can
// guess: with one, the listener still answers requests addressed to
// loopback only, as without a token. With a longer token, a proxy that
// keeps the Host it was sent still reaches it.
func TestAdminShortTokenKeepsRebindingCheck(t *testing.T) {
	for _, tt := range []struct {
		token string
		want  int
	}{
		{"admin", 403},
		{strings.Repeat("x", config.MinAdminToken-1), 403},
		{strings.Repeat("x", config.MinAdminToken), 200},
	} {
		s := start(t, []string{"IMCALLBACK_ADMIN_TOKEN=" + tt.token}, delivery.Module)
		for _, path := range []string{"/v1/delivery", "/healthz"} {
			req, _ := http.NewRequest(http.MethodGet, s.AdminURL+path, nil)
			req.Host = "evil.example:9090"
			req.Header.Set("Authorization", "Bearer "+tt.token)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tt.want {
				t.Errorf("a token of %d characters, Host evil.example, %s: %d, want %d", len(tt.token), path, resp.StatusCode, tt.want)
			}
		}
	}
}

// TestAdminFollowsLinksFromOtherSites: a link to the console (or to a
// read route) on another site's page is a top-level navigation the
// browser marks cross-site; it is answered, while a request of another
// method, or one the page makes itself (a fetch, a frame, a form's POST),
// is still refused.
func TestAdminFollowsLinksFromOtherSites(t *testing.T) {
	withAndWithoutAdminToken(t, func(t *testing.T, s *imtest.Service, tokenSet bool) {
		link := map[string]string{"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document", "Sec-Fetch-User": "?1"}
		with := func(h map[string]string, k, v string) map[string]string {
			out := maps.Clone(h)
			out[k] = v
			return out
		}
		tests := []struct {
			name         string
			method, path string
			headers      map[string]string
			auth         bool
			want         int
		}{
			{"a link to the console", "GET", "/", link, false, 200},
			{"a link from another port of the same host", "GET", "/", with(link, "Sec-Fetch-Site", "same-site"), false, 200},
			{"a link to a read route", "GET", "/v1/delivery", link, true, 200},
			{"a form's POST to pause", "POST", "/v1/delivery/pause", link, true, 403},
			{"a fetch of the console", "GET", "/", with(with(link, "Sec-Fetch-Mode", "cors"), "Sec-Fetch-Dest", "empty"), false, 403},
			{"a fetch of a read route", "GET", "/v1/delivery", with(with(link, "Sec-Fetch-Mode", "no-cors"), "Sec-Fetch-Dest", "empty"), true, 403},
			{"a frame", "GET", "/", with(link, "Sec-Fetch-Dest", "iframe"), false, 403},
			// pprof's GETs do work (a CPU profile, a trace): another site's
			// link must not start one in the operator's browser.
			{"a link to a CPU profile", "GET", "/debug/pprof/profile?seconds=1", link, true, 403},
			{"a link to pprof's index", "GET", "/debug/pprof/", link, true, 403},
		}
		for _, tt := range tests {
			resp := adminDo(t, tt.method, s.AdminURL+tt.path, "", tt.headers, tokenSet && tt.auth)
			if resp.StatusCode != tt.want {
				t.Errorf("%s (%s %s): %d, want %d", tt.name, tt.method, tt.path, resp.StatusCode, tt.want)
			}
		}
	})
}

// TestAdminAnswersHeaders: every admin answer, errors included, keeps no
// copy in a browser's or proxy's cache (event bodies, dead letters and the
// configuration are in them), is not sniffed, framed or given a Referer;
// the console's files send their own policy and cache rule.
func TestAdminAnswersHeaders(t *testing.T) {
	const api = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
	const pprofPolicy = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
	withAndWithoutAdminToken(t, func(t *testing.T, s *imtest.Service, tokenSet bool) {
		tests := []struct {
			method, path string
			auth         bool
			headers      map[string]string
			status       int
			policy       string
		}{
			{"GET", "/v1/events", true, nil, 200, api},
			{"GET", "/v1/events/999", true, nil, 404, api},
			{"GET", "/v1/events/replay", true, nil, 405, api}, // not taken for the event "replay"
			{"GET", "/v1/delivery/pause", true, nil, 405, api},
			{"GET", "/v1/dead-letters", true, nil, 200, api},
			{"GET", "/v1/recent", true, nil, 200, api},
			{"GET", "/v1/config", true, nil, 200, api},
			{"GET", "/healthz", false, nil, 200, api},
			{"GET", "/metrics", false, nil, 200, api},
			{"GET", "/no/such/path", true, nil, 404, api},
			{"GET", "/debug/pprof/", true, nil, 200, pprofPolicy},
			{"POST", "/v1/delivery/pause", true, map[string]string{"Sec-Fetch-Site": "cross-site"}, 403, api},
		}
		if tokenSet {
			tests = append(tests, struct {
				method, path string
				auth         bool
				headers      map[string]string
				status       int
				policy       string
			}{"GET", "/v1/events", false, nil, 401, api})
		}
		for _, tt := range tests {
			resp := adminDo(t, tt.method, s.AdminURL+tt.path, "", tt.headers, tokenSet && tt.auth)
			what := tt.method + " " + tt.path
			if resp.StatusCode != tt.status {
				t.Errorf("%s: %d, want %d", what, resp.StatusCode, tt.status)
			}
			checkAdminHeaders(t, what, resp.Header, tt.policy)
		}
		// The console's page keeps its own policy and cache rule.
		resp, err := http.Get(s.AdminURL + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("Cache-Control"); got != "no-cache" {
			t.Errorf("GET /: Cache-Control %q, want no-cache", got)
		}
		if got := resp.Header.Get("Content-Security-Policy"); !strings.Contains(got, "script-src 'self'") {
			t.Errorf("GET /: Content-Security-Policy %q, want the console's", got)
		}
		if got := resp.Header.Get("Cross-Origin-Opener-Policy"); got != "same-origin" {
			t.Errorf("GET /: Cross-Origin-Opener-Policy %q, want same-origin", got)
		}
		// The answers net/http writes itself, before any handler runs, carry
		// them too: they were plain text without them, which another site
		// could frame.
		raw := []struct{ name, request string }{
			{"a malformed Host header", "GET /v1/events HTTP/1.1\r\nHost: a b\r\n\r\n"},
			{"headers over the limit", "GET /?x=" + strings.Repeat("a", 70<<10) + " HTTP/1.1\r\nHost: x\r\n\r\n"},
			{"an HTTP version net/http does not serve", "GET / HTTP/9.9\r\nHost: x\r\n\r\n"},
			{"an unsupported transfer encoding", "POST /v1/delivery/pause HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n"},
		}
		for _, tt := range raw {
			resp, body := rawAdminAnswer(t, strings.TrimPrefix(s.AdminURL, "http://"), tt.request)
			if resp.StatusCode < 400 {
				t.Errorf("%s: %d, want net/http's refusal", tt.name, resp.StatusCode)
			}
			checkAdminHeaders(t, tt.name, resp.Header, api)
			if got := resp.Header.Get("Content-Type"); got != "application/json" {
				t.Errorf("%s: Content-Type %q, want application/json", tt.name, got)
			}
			var e struct{ Error string }
			if err := json.Unmarshal(body, &e); err != nil || e.Error == "" {
				t.Errorf("%s: body %q, want the admin error JSON", tt.name, body)
			}
		}
	})
}

// checkAdminHeaders checks that h, of the answer what, holds each header
// every admin answer carries once, with policy as its
// Content-Security-Policy.
func checkAdminHeaders(t *testing.T, what string, h http.Header, policy string) {
	t.Helper()
	for k, want := range map[string]string{
		"Cache-Control":              "no-store",
		"X-Content-Type-Options":     "nosniff",
		"X-Frame-Options":            "DENY",
		"Referrer-Policy":            "no-referrer",
		"Cross-Origin-Opener-Policy": "same-origin",
		"Content-Security-Policy":    policy,
	} {
		if got := h.Values(k); len(got) != 1 || got[0] != want {
			t.Errorf("%s: %s %q, want %q", what, k, got, want)
		}
	}
}

// rawAdminAnswer sends request as written on a connection to addr and
// reads the answer and its body.
func rawAdminAnswer(t *testing.T, addr, request string) (*http.Response, []byte) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(15 * time.Second)) // a guard against a hang, not a time limit
	if _, err := io.WriteString(c, request); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

// TestRecentCallbacks: /v1/recent lists what the public listener answered,
// newest first, with outcome, status and reason, and no query string.
func TestRecentCallbacks(t *testing.T) {
	seen := make(chan topicPayload, 4)
	s := start(t, nil, testCommands(seen))
	do(t, s, call{command: "Group.CallbackAfterCreateTopic", body: sampleBody})
	do(t, s, call{command: "C2C.CallbackBeforeSendMsg", body: `{"Text":"spam"}`})
	do(t, s, call{command: "Group.CallbackAfterCreateTopic", body: sampleBody, token: "guess"})
	do(t, s, call{command: "Group.CallbackAfterBrandNew", body: `{}`})
	var got struct {
		Recent []map[string]any `json:"recent"`
	}
	s.GetJSON(t, "/v1/recent?limit=3", 200, &got)
	if len(got.Recent) != 3 {
		t.Fatalf("%d records, want 3", len(got.Recent))
	}
	want := []string{"unknown 200 ", "rejected 401 bad_signature", "deny 200 "}
	for i, w := range want {
		r := got.Recent[i]
		if g := fmt.Sprintf("%v %v %v", r["outcome"], r["status"], r["reason"]); strings.TrimSuffix(g, "<nil>") != w {
			t.Errorf("record %d: %s, want %s (%v)", i, g, w, r)
		}
		if r["app_id"] != appID || r["request_id"] == "" || r["time"] == nil {
			t.Errorf("record %d: %v", i, r)
		}
	}
	s.GetJSON(t, "/v1/recent?limit=0", 400, nil)
	s.GetJSON(t, "/v1/recent?limit=1&limit=2", 400, nil) // the first was read
	s.GetJSON(t, "/v1/recent?limt=1", 400, nil)          // ignored: the whole list
	got.Recent = nil
	s.GetJSON(t, "/v1/recent?limit=&limit=2", 200, &got) // an empty value is absent: was a 400
	if len(got.Recent) != 2 {
		t.Fatalf("limit=&limit=2: %d records, want 2", len(got.Recent))
	}
	body := get(t, s.AdminURL+"/v1/recent", 200)
	if strings.Contains(body, "Sign") || strings.Contains(body, "MyFirstTopic") {
		t.Errorf("the recent list shows the query or the body: %s", body)
	}
}

// TestRecentNamesTheCommandOfTheBody: a callback whose URL lacks
// CallbackCommand is routed on the body's (docs/protocol.md §7); /v1/recent
// and the access log name that command, as the metrics do, rather than the
// URL's empty one.
func TestRecentNamesTheCommandOfTheBody(t *testing.T) {
	seen := make(chan topicPayload, 1)
	core, logs := observer.New(zapcore.InfoLevel)
	s := start(t, nil, testCommands(seen), fx.Decorate(func(l *zap.Logger) *zap.Logger {
		return zap.New(zapcore.NewTee(l.Core(), core))
	}))
	for _, body := range []string{sampleBody, `{"CallbackCommand":"Group.CallbackAfterBrandNew"}`} {
		resp, err := http.Post(s.PublicURL+"/im/callback?"+signedQuery(""), "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("a command in the body only: %d, want 200", resp.StatusCode)
		}
	}
	var got struct {
		Recent []map[string]any `json:"recent"`
	}
	s.GetJSON(t, "/v1/recent?limit=2", 200, &got)
	want := []string{"Group.CallbackAfterBrandNew unknown", "Group.CallbackAfterCreateTopic ok"}
	if len(got.Recent) != len(want) {
		t.Fatalf("%d records, want %d", len(got.Recent), len(want))
	}
	for i, w := range want {
		if g := fmt.Sprintf("%v %v", got.Recent[i]["command"], got.Recent[i]["outcome"]); g != w {
			t.Errorf("record %d: %q, want %q", i, g, w)
		}
	}
	// The access log names them too.
	var logged []string
	for _, e := range logs.FilterMessage("request").FilterField(zap.String("path", "/im/callback")).All() {
		logged = append(logged, fmt.Sprint(e.ContextMap()["command"]))
	}
	if want := []string{"Group.CallbackAfterCreateTopic", "Group.CallbackAfterBrandNew"}; !slices.Equal(logged, want) {
		t.Errorf("access log lines name the commands %q, want %q", logged, want)
	}
}

// TestEveryAnswerRunsThroughTheChain: a 404, a 405 and a callback all run
// through the every-request middleware, which get the request-state
// context, and each is logged to /v1/recent with its request id.
func TestEveryAnswerRunsThroughTheChain(t *testing.T) {
	var mu sync.Mutex
	var saw []string
	probe := func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			mu.Lock()
			saw = append(saw, fmt.Sprintf("%s %T", c.Request().Method, c))
			mu.Unlock()
			return next(c)
		}
	}
	s := start(t, nil, fx.Provide(middleware.AsMiddleware(func() middleware.Ordered {
		return middleware.Ordered{Name: "probe", Order: middleware.OrderRequestID + 1, Scope: middleware.ScopeEveryRequest, Func: probe}
	})))
	for _, tt := range []struct {
		method, path string
		status       int
	}{
		{http.MethodGet, "/nope", 404},
		{http.MethodGet, "/im/callback", 405},
		{http.MethodPost, "/im/callback?" + signedQuery("Group.CallbackAfterBrandNew"), 200},
	} {
		req, _ := http.NewRequest(tt.method, s.PublicURL+tt.path, strings.NewReader(`{}`))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tt.status || resp.Header.Get(echo.HeaderXRequestID) == "" {
			t.Fatalf("%s %s: status %d, request id %q", tt.method, tt.path, resp.StatusCode, resp.Header.Get(echo.HeaderXRequestID))
		}
	}
	mu.Lock()
	got := strings.Join(saw, ", ")
	mu.Unlock()
	if want := "GET *middleware.stateContext, GET *middleware.stateContext, POST *middleware.stateContext"; got != want {
		t.Fatalf("the probe saw %s, want %s", got, want)
	}
	var recent struct {
		Recent []map[string]any `json:"recent"`
	}
	s.GetJSON(t, "/v1/recent?limit=3", 200, &recent)
	var records []string
	for _, r := range recent.Recent {
		records = append(records, fmt.Sprintf("%v %v %v", r["outcome"], r["status"], r["reason"]))
	}
	if want := "unknown 200 <nil>, rejected 405 method_not_allowed, rejected 404 not_found"; strings.Join(records, ", ") != want {
		t.Fatalf("recent: %s, want %s", strings.Join(records, ", "), want)
	}
}

// TestStatusAndReadiness: a handler's dependency that fails makes the
// service unready with inline delivery only; with durable delivery
// callbacks are still stored, /readyz stays ready and /v1/status shows it.
func TestStatusAndReadiness(t *testing.T) {
	failingStore := fx.Provide(admin.AsCheck(func() admin.Check {
		return admin.Check{Name: "store", Handler: true, Check: func(context.Context) error { return errors.New("connection refused") }}
	}))
	tests := []struct {
		name       string
		opts       []fx.Option
		wantReady  int
		wantMode   string
		wantAffect bool
	}{
		{"inline", []fx.Option{failingStore}, 503, "inline", true},
		{"durable", []fx.Option{failingStore, delivery.Module}, 200, "durable", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := start(t, nil, tt.opts...)
			s.GetJSON(t, "/readyz", tt.wantReady, nil)
			var st struct {
				Delivery     string              `json:"delivery"`
				Dependencies []server.Dependency `json:"dependencies"`
			}
			s.GetJSON(t, "/v1/status", 200, &st)
			var store *server.Dependency
			for i := range st.Dependencies {
				if st.Dependencies[i].Name == "store" {
					store = &st.Dependencies[i]
				}
			}
			if st.Delivery != tt.wantMode || store == nil || store.State != "failing" ||
				store.Error != "connection refused" || store.AffectsReadiness != tt.wantAffect {
				t.Fatalf("status %+v, store %+v", st, store)
			}
		})
	}
}

// TestHistorySamplesBeforeThePublicListenerServes: the callback history's
// first sample, the baseline of the console's Overview, is taken before the
// public listener serves. Taken after, a callback answered in between is in
// every sample and so in no window: the Overview would never count it.
func TestHistorySamplesBeforeThePublicListenerServes(t *testing.T) {
	var pub *server.Public
	serving := make(chan bool, 1)
	start(t, []string{"IMCALLBACK_DELIVERY=inline"}, fx.Populate(&pub),
		fx.Decorate(func(lc fx.Lifecycle, h *metrics.History) *metrics.History {
			// Appended right after the history's own start hook, which
			// takes the first sample: is the public listener serving yet?
			lc.Append(fx.Hook{OnStart: func(context.Context) error {
				serving <- pub.Addr() != nil
				return nil
			}})
			return h
		}))
	var served bool
	select {
	case served = <-serving:
	default: // start returned after every start hook ran
		t.Fatal("the history's start hook did not run: is *metrics.History still built?")
	}
	if served {
		t.Fatal("the public listener served before the history's first sample: callbacks of the first moments are left out of the console's Overview")
	}
}

// TestCountersExistAtZero: right after the start, before any callback, the
// series an alert watches exist at 0 (a rise from nothing is no rise).
func TestCountersExistAtZero(t *testing.T) {
	s := start(t, nil, delivery.Module, fx.Provide(dispatcher.AsCommand(func() dispatcher.Command {
		return dispatcher.After("Group.CallbackAfterCreateTopic", func(context.Context, *dispatcher.Event[struct{}]) error { return nil })
	})))
	body := get(t, s.AdminURL+"/metrics", 200)
	for _, want := range []string{
		`imcallback_delivery_dead_letters 0`,
		`imcallback_delivery_dead_letters_total{command="Group.CallbackAfterCreateTopic"} 0`,
		`imcallback_delivery_retries_total{command="Group.CallbackAfterCreateTopic"} 0`,
		`imcallback_delivery_processed_total{command="Group.CallbackAfterCreateTopic",outcome="error"} 0`,
		`imcallback_delivery_pending 0`,
		`imcallback_callbacks_total{app="1400000000",command="Group.CallbackAfterCreateTopic",outcome="unavailable"} 0`,
		`imcallback_rejections_total{app="1400000000",reason="bad_signature"} 0`,
		`imcallback_rejections_total{app="other",reason="appid_not_allowed"} 0`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestShutdownDelayDrainsBeforeTheStop: during IMCALLBACK_SHUTDOWN_DELAY
// /readyz answers 503 (so a load balancer stops sending) while callbacks
// are still answered; the stop comes after it.
func TestShutdownDelayDrainsBeforeTheStop(t *testing.T) {
	var drain *server.Drain
	s := imtest.Start(t, []string{"IMCALLBACK_DELIVERY=inline", "IMCALLBACK_SHUTDOWN_DELAY=2s"}, fx.Populate(&drain))
	readyz := func() (int, string) {
		resp, err := http.Get(s.AdminURL + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, body := readyz(); code != http.StatusOK {
		t.Fatalf("before the signal: /readyz %d %s", code, body)
	}
	done := make(chan struct{})
	go func() { drain.Begin(); close(done) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, body := readyz()
		if code == http.StatusServiceUnavailable && strings.Contains(body, "stopping") {
			break
		}
		select {
		case <-done:
			t.Fatalf("the delay ended and /readyz never said stopping: %d %s", code, body)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz %d %s, want 503 saying stopping", code, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if res := s.Send(t, "Group.CallbackAfterBrandNew", []byte(`{}`)); !res.OK() {
		t.Errorf("a callback during the delay: %d %s", res.Status, res.Body)
	}
	<-done
}

// adminDo sends a request without a body to url with headers, addressed to
// host when it is not "", with withAndWithoutAdminToken's token when
// token is set, and returns the answer, its body closed.
func adminDo(t *testing.T, method, url, host string, headers map[string]string, token bool) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	if host != "" {
		req.Host = host
	}
	if token {
		req.Header.Set("Authorization", "Bearer admin-secret")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp
}

// withAndWithoutAdminToken runs f on a service with durable delivery,
// started once without an admin token and once with
// IMCALLBACK_ADMIN_TOKEN=admin-secret (tokenSet).
func withAndWithoutAdminToken(t *testing.T, f func(t *testing.T, s *imtest.Service, tokenSet bool)) {
	for _, tokenSet := range []bool{false, true} {
		t.Run(fmt.Sprintf("token %v", tokenSet), func(t *testing.T) {
			var env []string
			if tokenSet {
				env = []string{"IMCALLBACK_ADMIN_TOKEN=admin-secret"}
			}
			f(t, start(t, env, delivery.Module), tokenSet)
		})
	}
}

// TestMisnamedCommandWarns: a handler registered under a name the
// catalogue lacks (a misspelling IM never sends) starts, as Before and
// After allow commands the catalogue lacks, but is logged with the
// catalogue's name of the same spelling; a before-handler registered for
// an after-command, whose deny IM would ignore, is refused at start.
func TestMisnamedCommandWarns(t *testing.T) {
	core, logs := observer.New(zapcore.WarnLevel)
	imtest.Start(t, nil, fx.Decorate(func(l *zap.Logger) *zap.Logger {
		return zap.New(zapcore.NewTee(l.Core(), core))
	}), fx.Provide(dispatcher.AsCommand(func() dispatcher.Command {
		return dispatcher.After("c2c.CallbackAfterSendMsg", func(context.Context, *dispatcher.Event[json.RawMessage]) error { return nil })
	})))
	found := logs.FilterField(zap.String("command", "c2c.CallbackAfterSendMsg")).All()
	if len(found) != 1 || found[0].ContextMap()["did_you_mean"] != "C2C.CallbackAfterSendMsg" {
		t.Fatalf("no warning naming the misspelt command and its catalogue name: %v", logs.All())
	}

	app := fx.New(fx.NopLogger,
		fx.Supply(config.Source{Environ: func() []string {
			return []string{"IMCALLBACK_SDKAPPID=" + appID, "IMCALLBACK_TOKENS=t", "IMCALLBACK_DATA_DIR=" + t.TempDir(),
				"IMCALLBACK_LISTEN=127.0.0.1:0", "IMCALLBACK_ADMIN_LISTEN=127.0.0.1:0"}
		}}),
		imcallback.Module,
		fx.Provide(dispatcher.AsCommand(func() dispatcher.Command {
			return dispatcher.Before("C2C.CallbackAfterSendMsg", func(context.Context, *dispatcher.Event[json.RawMessage]) (dispatcher.Reply[dispatcher.NoReply], error) {
				return dispatcher.Reply[dispatcher.NoReply]{}, nil
			})
		})))
	if err := app.Err(); err == nil || !strings.Contains(err.Error(), "C2C.CallbackAfterSendMsg is an after-command") {
		t.Fatalf("a before-handler on an after-command started: %v", err)
	}
}

// TestForAppsUnconfiguredAppWarns: a command limited by ForApps to an app
// the service does not accept (a mistyped id) never runs; that is logged
// at start, naming the command and the app.
func TestForAppsUnconfiguredAppWarns(t *testing.T) {
	core, logs := observer.New(zapcore.WarnLevel)
	imtest.Start(t, nil, fx.Decorate(func(l *zap.Logger) *zap.Logger {
		return zap.New(zapcore.NewTee(l.Core(), core))
	}), fx.Provide(dispatcher.AsCommand(func() dispatcher.Command {
		return dispatcher.After("C2C.CallbackAfterSendMsg", func(context.Context, *dispatcher.Event[json.RawMessage]) error { return nil },
			dispatcher.ForApps(imtest.AppID, "140000000"))
	})))
	found := logs.FilterField(zap.String("app", "140000000")).FilterField(zap.String("command", "C2C.CallbackAfterSendMsg")).All()
	if len(found) != 1 {
		t.Fatalf("no warning naming the unconfigured app: %v", logs.All())
	}
	if n := logs.FilterField(zap.String("app", imtest.AppID)).Len(); n != 0 {
		t.Fatalf("the configured app was warned about: %v", logs.All())
	}
}

// TestAdminConnectionsAreBounded: the admin listener holds at most
// server.AdminMaxConns connections; one beyond them is closed unanswered,
// and the places freed are taken again.
func TestAdminConnectionsAreBounded(t *testing.T) {
	// Held connections send nothing: the read header timeout must not close them meanwhile.
	s := start(t, []string{"IMCALLBACK_DELIVERY=inline", "IMCALLBACK_READ_HEADER_TIMEOUT=5m"})
	host := strings.TrimPrefix(s.AdminURL, "http://")
	dial := func() net.Conn {
		t.Helper()
		c, err := net.DialTimeout("tcp", host, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		_ = c.SetDeadline(time.Now().Add(time.Minute)) // a bound, not a timing
		return c
	}
	// healthz asks GET /healthz on c and reports whether it was answered.
	healthz := func(c net.Conn) bool {
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: "+host+"\r\n\r\n"); err != nil {
			return false
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}
	held := make([]net.Conn, server.AdminMaxConns)
	for i := range held {
		held[i] = dial()
	}
	// The listener accepts in the order of arrival: this one comes after
	// the bound is taken.
	over := dial()
	defer over.Close()
	if healthz(over) {
		t.Fatalf("a connection beyond the %d held was answered", server.AdminMaxConns)
	}
	for _, c := range held {
		c.Close()
	}
	waitUntil(t, "the freed places taken again", func() bool {
		c := dial()
		defer c.Close()
		return healthz(c)
	})
}

// TestNilCommandFailsStartWithAMessage: a constructor given to AsCommand
// or AsCommands that returns no command fails the start with the
// dispatcher's message naming the mistake, instead of panicking while
// the catalogue checks the registered names.
func TestNilCommandFailsStartWithAMessage(t *testing.T) {
	tests := []struct {
		name string
		opt  fx.Option
	}{
		{"AsCommand", fx.Provide(dispatcher.AsCommand(func() dispatcher.Command { return nil }))},
		{"AsCommands", fx.Provide(dispatcher.AsCommands(func() []dispatcher.Command { return []dispatcher.Command{nil} }))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			func() {
				defer func() {
					if v := recover(); v != nil {
						err = fmt.Errorf("panic: %v", v)
					}
				}()
				err = fx.New(fx.NopLogger,
					fx.Supply(config.Source{Environ: func() []string {
						return []string{"IMCALLBACK_SDKAPPID=" + appID, "IMCALLBACK_TOKENS=t", "IMCALLBACK_DATA_DIR=" + t.TempDir(),
							"IMCALLBACK_LISTEN=127.0.0.1:0", "IMCALLBACK_ADMIN_LISTEN=127.0.0.1:0"}
					}}),
					imcallback.Module, tc.opt).Err()
			}()
			if err == nil || !strings.Contains(err.Error(), "returned no command") {
				t.Fatalf("a nil command: start error %v, want one saying a constructor returned no command", err)
			}
		})
	}
}

// listed is a command type of the user's own, for AsCommands.
type listed struct{}

func (listed) Name() string          { return "C2C.CallbackAfterSendMsg" }
func (listed) Kind() dispatcher.Kind { return dispatcher.KindAfter }
func (listed) Handle(context.Context, *dispatcher.Request) (dispatcher.Decision, error) {
	return dispatcher.Decision{}, nil
}

// listedPtr is a type of the user's own that is no command.
type listedPtr struct{}

// TestConstructorOfTheWrongTypeFailsStart: a constructor given to
// middleware.AsMiddleware or dispatcher.AsCommands whose result is not
// what the group collects (an echo.MiddlewareFunc, a command, a slice of
// the user's own command type) fails the start, naming the helper,
// instead of putting its result into a group nobody reads, so that the
// middleware or the commands silently never run. One given to
// dispatcher.AsCommand whose result is no Command (a descriptor, a slice
// of commands), or a command or middleware given instead of a
// constructor, fails the start naming the helper, the constructor and
// what to do, not with fx's account of its annotation.
func TestConstructorOfTheWrongTypeFailsStart(t *testing.T) {
	pass := func(next echo.HandlerFunc) echo.HandlerFunc { return next }
	tests := []struct {
		name string
		opt  fx.Option
		want string
	}{
		{"AsMiddleware of an echo.MiddlewareFunc", fx.Provide(middleware.AsMiddleware(func() echo.MiddlewareFunc { return pass })), "AsMiddleware"},
		{"AsMiddleware of a *Ordered", fx.Provide(middleware.AsMiddleware(func() (*middleware.Ordered, error) {
			return &middleware.Ordered{Name: "audit", Order: middleware.OrderSignature + 10, Func: pass}, nil
		})), "AsMiddleware"},
		{"AsMiddleware of a command", fx.Provide(middleware.AsMiddleware(func() dispatcher.Command { return listed{} })), "AsMiddleware"},
		{"AsCommands of the user's type", fx.Provide(dispatcher.AsCommands(func() []listed { return []listed{{}} })), "AsCommands"},
		{"AsCommand of a descriptor", fx.Provide(dispatcher.AsCommand(func() dispatcher.BeforeCommand[c2c.BeforeSendMsg, c2c.SendMsgReply] {
			return c2c.BeforeSendMsgCommand
		})), "AsCommand(github.com/imcallback/imcallback_test.TestConstructorOfTheWrongTypeFailsStart.func"},
		{"AsCommand of a descriptor, what to do", fx.Provide(dispatcher.AsCommand(func() dispatcher.AfterCommand[c2c.AfterSendMsg] {
			return c2c.AfterSendMsgCommand
		})), "return the command its Handle builds"},
		{"AsCommand of a slice", fx.Provide(dispatcher.AsCommand(func() []dispatcher.Command { return nil })), "register it with dispatcher.AsCommands"},
		{"AsCommand of a type that is no command", fx.Provide(dispatcher.AsCommand(func() *listedPtr { return nil })),
			"*imcallback_test.listedPtr, which does not implement dispatcher.Command"},
		{"AsCommand of a command, not a constructor", fx.Provide(dispatcher.AsCommand(listed{})),
			"AsCommand(imcallback_test.listed): it takes a constructor, a function returning the command"},
		{"AsMiddleware of an Ordered, not a constructor", fx.Provide(middleware.AsMiddleware(middleware.Ordered{Name: "audit", Order: middleware.OrderSignature + 10, Func: pass})),
			"AsMiddleware(middleware.Ordered): it takes a constructor, a function returning the middleware"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := fx.New(fx.NopLogger,
				fx.Supply(config.Source{Environ: func() []string {
					return []string{"IMCALLBACK_SDKAPPID=" + appID, "IMCALLBACK_TOKENS=t", "IMCALLBACK_DATA_DIR=" + t.TempDir(),
						"IMCALLBACK_LISTEN=127.0.0.1:0", "IMCALLBACK_ADMIN_LISTEN=127.0.0.1:0"}
				}}),
				imcallback.Module, tc.opt).Err()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("start error %v, want one naming %s", err, tc.want)
			}
		})
	}
}

// TestProvidedOutsideItsGroupWarns: a command or a middleware provided
// with a plain fx.Provide, without dispatcher.AsCommand or
// middleware.AsMiddleware, is in no group, so it never runs; the start
// logs a warning naming it and the helper. So does each command of a
// []dispatcher.Command provided without dispatcher.AsCommands (a plugin's
// Commands method), which was in no group either, and not warned about.
// One that is also in its group under the same name (added by hand) is
// not warned about.
func TestProvidedOutsideItsGroupWarns(t *testing.T) {
	pass := func(next echo.HandlerFunc) echo.HandlerFunc { return next }
	audit := func() middleware.Ordered {
		return middleware.Ordered{Name: "audit", Order: middleware.OrderSignature + 10, Func: pass}
	}
	tests := []struct {
		name  string
		opt   fx.Option
		field zap.Field // of the warning; zero: no warning
	}{
		{"command", fx.Provide(func() dispatcher.Command { return listed{} }), zap.String("command", listed{}.Name())},
		{"list of commands", fx.Provide(func() []dispatcher.Command { return []dispatcher.Command{listed{}} }),
			zap.String("command", listed{}.Name())},
		{"list of commands also in the group", fx.Provide(func() []dispatcher.Command { return []dispatcher.Command{listed{}} },
			fx.Annotate(func() dispatcher.Command { return listed{} }, fx.ResultTags(dispatcher.CommandGroup))), zap.Field{}},
		{"middleware", fx.Provide(audit), zap.String("middleware", "audit")},
		{"command also in the group", fx.Provide(func() dispatcher.Command { return listed{} },
			fx.Annotate(func(c dispatcher.Command) dispatcher.Command { return c }, fx.ResultTags(dispatcher.CommandGroup))), zap.Field{}},
		{"middleware also in the group", fx.Provide(audit,
			fx.Annotate(func(m middleware.Ordered) middleware.Ordered { return m }, fx.ResultTags(middleware.Group))), zap.Field{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			core, logs := observer.New(zapcore.WarnLevel)
			imtest.Start(t, nil, fx.Decorate(func(l *zap.Logger) *zap.Logger {
				return zap.New(zapcore.NewTee(l.Core(), core))
			}), tc.opt)
			warned := logs.FilterMessageSnippet("outside its group").All()
			if tc.field == (zap.Field{}) {
				if len(warned) != 0 {
					t.Fatalf("warned about one in its group: %v", warned)
				}
				return
			}
			if len(logs.FilterMessageSnippet("outside its group").FilterField(tc.field).All()) != 1 {
				t.Fatalf("no warning naming %v: %v", tc.field, logs.All())
			}
		})
	}
}

// TestMisnamedCommandNamesTheCatalogueName: the warning about a name the
// catalogue lacks names the catalogue's command it differs from only in
// case or in spaces around it (a name read from a file, say).
func TestMisnamedCommandNamesTheCatalogueName(t *testing.T) {
	for _, name := range []string{"c2c.callbackAfterSendMsg", " C2C.CallbackAfterSendMsg", "C2C.CallbackAfterSendMsg\n"} {
		t.Run(name, func(t *testing.T) {
			core, logs := observer.New(zapcore.WarnLevel)
			imtest.Start(t, nil, fx.Decorate(func(l *zap.Logger) *zap.Logger {
				return zap.New(zapcore.NewTee(l.Core(), core))
			}), fx.Provide(dispatcher.AsCommand(func() dispatcher.Command {
				return dispatcher.After(name, func(context.Context, *dispatcher.Event[json.RawMessage]) error { return nil })
			})))
			found := logs.FilterField(zap.String("command", name)).All()
			if len(found) != 1 || found[0].ContextMap()["did_you_mean"] != "C2C.CallbackAfterSendMsg" {
				t.Fatalf("no warning naming %q and its catalogue name: %v", name, logs.All())
			}
		})
	}
}

// TestDeliveryWiringThatDisagreesWarns: IMCALLBACK_DELIVERY is read by
// cli.Main alone, which wires delivery.Module for durable and leaves it out
// for inline; a program of its own (fx.New(imcallback.Module, …), as the
// package's doc shows) that wires the other one ran its after-callbacks
// inline, unstored, while the configuration, `config check` and
// /v1/config said durable, or durably while they said inline, with
// nothing logged. The start now warns, naming both; without an
// after-callback to run (no after-command, nothing forwarded) there is
// nothing to warn about.
func TestDeliveryWiringThatDisagreesWarns(t *testing.T) {
	after := fx.Provide(dispatcher.AsCommand(func() dispatcher.Command {
		return dispatcher.After("C2C.CallbackAfterSendMsg", func(context.Context, *dispatcher.Event[json.RawMessage]) error { return nil })
	}))
	before := fx.Provide(dispatcher.AsCommand(func() dispatcher.Command {
		return dispatcher.Before("C2C.CallbackBeforeSendMsg", func(context.Context, *dispatcher.Event[json.RawMessage]) (dispatcher.Reply[dispatcher.NoReply], error) {
			return dispatcher.Reply[dispatcher.NoReply]{}, nil
		})
	}))
	forwarded := []string{"IMCALLBACK_FORWARD_URL=http://127.0.0.1:1/events", "IMCALLBACK_FORWARD_SECRET=whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ=", "IMCALLBACK_FORWARD_MATCH=Group.CallbackAfter*"}
	for _, tt := range []struct {
		name string
		env  []string
		opts []fx.Option
		want string // in the warning; "" for none
	}{
		{"durable without delivery.Module", nil, []fx.Option{after},
			"IMCALLBACK_DELIVERY is durable but no delivery module is wired"},
		{"durable, forwarded, without delivery.Module", forwarded, nil,
			"IMCALLBACK_DELIVERY is durable but no delivery module is wired"},
		{"inline with delivery.Module", []string{"IMCALLBACK_DELIVERY=inline"}, []fx.Option{after, delivery.Module},
			"IMCALLBACK_DELIVERY is inline but a delivery module is wired"},
		{"inline without delivery.Module", []string{"IMCALLBACK_DELIVERY=inline"}, []fx.Option{after}, ""},
		{"durable with delivery.Module", nil, []fx.Option{after, delivery.Module}, ""},
		{"durable without delivery.Module, before-commands only", nil, []fx.Option{before}, ""},
		{"durable without delivery.Module, before-commands forwarded only", []string{"IMCALLBACK_FORWARD_URL=http://127.0.0.1:1/events",
			"IMCALLBACK_FORWARD_SECRET=whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ=", "IMCALLBACK_FORWARD_MATCH=C2C.CallbackBeforeSendMsg"}, nil, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			core, logs := observer.New(zapcore.WarnLevel)
			env := append([]string{"IMCALLBACK_SDKAPPID=" + appID, "IMCALLBACK_TOKENS=t", "IMCALLBACK_DATA_DIR=" + t.TempDir(),
				"IMCALLBACK_LISTEN=127.0.0.1:0", "IMCALLBACK_ADMIN_LISTEN=127.0.0.1:0", "IMCALLBACK_LOG_LEVEL=error"}, tt.env...)
			app := fx.New(fx.NopLogger,
				fx.Supply(config.Source{Environ: func() []string { return env }}),
				imcallback.Module,
				fx.Decorate(func(l *zap.Logger) *zap.Logger { return zap.New(zapcore.NewTee(l.Core(), core)) }),
				fx.Options(tt.opts...))
			if err := app.Err(); err != nil {
				t.Fatal(err)
			}
			warned := logs.FilterMessageSnippet("IMCALLBACK_DELIVERY").All()
			if tt.want == "" {
				if len(warned) != 0 {
					t.Fatalf("warned: %v", warned)
				}
				return
			}
			if len(warned) != 1 || !strings.Contains(warned[0].Message, tt.want) {
				t.Fatalf("warnings %v, want one saying %q", logs.All(), tt.want)
			}
		})
	}
}

// TestTimeoutsBoundTheAppAsServeDoes: a program of its own,
// fx.New(imcallback.Module, …) as the package's doc shows it, ran with
// fx's 15 s start and stop timeouts: IMCALLBACK_START_TIMEOUT was ignored,
// and a stop draining within IMCALLBACK_SHUTDOWN_TIMEOUT (four hooks one
// after the other) was cut short, the stream and the stores left unclosed.
// imcallback.Timeouts bounds them as `serve` does; a configuration that
// does not load keeps fx's, for the service's own load to fail the start.
func TestTimeoutsBoundTheAppAsServeDoes(t *testing.T) {
	for _, tt := range []struct {
		name        string
		env         []string
		start, stop time.Duration
	}{
		{"defaults", []string{"IMCALLBACK_SDKAPPID=1400000000"}, 2 * time.Minute, 4*10*time.Second + 15*time.Second},
		{"set", []string{"IMCALLBACK_SDKAPPID=1400000000", "IMCALLBACK_SHUTDOWN_TIMEOUT=20s", "IMCALLBACK_START_TIMEOUT=3m"},
			3 * time.Minute, 4*20*time.Second + 15*time.Second},
		{"a configuration that does not load", []string{"IMCALLBACK_SDKAPPID=1400000000", "IMCALLBACK_SHUTDOWN_TIMEOUT=soon"},
			fx.DefaultTimeout, fx.DefaultTimeout},
		// The file holds a module's section: its key is no unknown one.
		{"a file with a module's section", []string{"IMCALLBACK_SHUTDOWN_TIMEOUT=20s"}, 2 * time.Minute, 4*20*time.Second + 15*time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			src := config.Source{Environ: func() []string { return tt.env }}
			if tt.name == "a file with a module's section" {
				src.File = filepath.Join(t.TempDir(), "c.yaml")
				if err := os.WriteFile(src.File, []byte("sdkappid: [\"1400000000\"]\nmoderation: {words: [spam]}\n"), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			ran := false // an invoke of the program's, which Timeouts must not run
			app := fx.New(fx.NopLogger, imcallback.Timeouts(src, delivery.Module, moderation.Module, fx.Invoke(func() { ran = true })))
			if ran {
				t.Error("Timeouts ran an invoke of the modules it lists")
			}
			if err := app.Err(); err != nil {
				t.Fatal(err)
			}
			if got := app.StartTimeout(); got != tt.start {
				t.Errorf("start bounded by %v, want %v", got, tt.start)
			}
			if got := app.StopTimeout(); got != tt.stop {
				t.Errorf("stop bounded by %v, want %v", got, tt.stop)
			}
		})
	}
}
