package dispatcher_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/middleware"
)

// slowReader returns its body once wait has run: a client that sends the
// body slowly.
type slowReader struct {
	r    io.Reader
	wait func()
	once bool
}

func (s *slowReader) Read(p []byte) (int, error) {
	if !s.once {
		s.once = true
		s.wait()
	}
	return s.r.Read(p)
}

// TestBudgetCountsFromTheRequestsArrival: the handler's deadline counts
// from the request's arrival (RequestState, the public listener's first
// middleware), or at least from the dispatcher's start on it, not from
// once the body is read: time spent in the middleware chain or reading a
// slow body is spent of IM's 2 s too. A callback whose budget is used up
// before its handler can run gets the fallback (a before-command) or 503
// (an after-command run inline) without the handler being run, however
// quickly it would answer.
func TestBudgetCountsFromTheRequestsArrival(t *testing.T) {
	const budget = 20 * time.Millisecond
	spend := func() { time.Sleep(3 * budget) } // the whole budget, and more
	tests := []struct {
		name    string
		command string
		slow    string // "middleware" or "body"
		state   bool   // RequestState runs first, as on the public listener
		want    int    // HTTP status
		code    float64
	}{
		{"before, slow middleware", "C2C.CallbackBeforeSendMsg", "middleware", true, http.StatusOK, 0},
		{"before, slow body", "C2C.CallbackBeforeSendMsg", "body", false, http.StatusOK, 0},
		{"before, slow body after RequestState", "C2C.CallbackBeforeSendMsg", "body", true, http.StatusOK, 0},
		{"after inline, slow middleware", "Group.CallbackAfterNewMemberJoin", "middleware", true, http.StatusServiceUnavailable, 50302},
		{"after inline, slow body", "Group.CallbackAfterNewMemberJoin", "body", false, http.StatusServiceUnavailable, 50302},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ran := make(chan struct{}, 1)
			h := newHarness(t, dispatcher.Options{BeforeTimeout: budget, InlineTimeout: budget, Fallback: allow()},
				rawBefore("C2C.CallbackBeforeSendMsg", func(context.Context, *dispatcher.Event[sendMsg]) (dispatcher.Decision, error) {
					ran <- struct{}{}
					return deny("answered at once"), nil
				}),
				dispatcher.After("Group.CallbackAfterNewMemberJoin", func(context.Context, *dispatcher.Event[struct{}]) error {
					ran <- struct{}{}
					return nil
				}))
			e := echo.New()
			e.HTTPErrorHandler = h.e.HTTPErrorHandler
			if tt.state {
				e.Use(middleware.RequestState)
			}
			if tt.slow == "middleware" {
				e.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
					return func(c echo.Context) error { spend(); return next(c) }
				})
			}
			e.POST("/im/callback", h.d.Serve)
			var body io.Reader = strings.NewReader(`{}`)
			if tt.slow == "body" {
				body = &slowReader{r: body, wait: spend}
			}
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/im/callback?SdkAppid="+testApp+"&CallbackCommand="+tt.command, body))
			var out map[string]any
			_ = json.Unmarshal(rec.Body.Bytes(), &out)
			if rec.Code != tt.want || out["ErrorCode"] != tt.code {
				t.Fatalf("answer %d %v, want %d with ErrorCode %v: the budget was spent before the handler ran", rec.Code, out, tt.want, tt.code)
			}
			select {
			case <-ran:
				t.Fatal("the handler ran with its budget spent")
			default:
			}
		})
	}
}
