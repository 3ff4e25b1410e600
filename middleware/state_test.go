package middleware_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	echomw "github.com/labstack/echo/v4/middleware"

	"github.com/imcallback/imcallback/middleware"
	"github.com/imcallback/imcallback/protocol"
)

// stateServer is an echo server whose every-request chain is wrap (nil:
// none), then the access log into recent, and whose callback route checks
// the SdkAppid and sets the outcome; with ownKey its handler also stores
// a key of its own.
func stateServer(wrap echo.MiddlewareFunc, recent *middleware.Recent, ownKey bool, seen func(c echo.Context)) *echo.Echo {
	e := echo.New()
	if wrap != nil {
		e.Use(wrap)
	}
	e.Use(middleware.AccessLogWithConfig(middleware.AccessLogConfig{Recent: recent}))
	e.POST("/im/callback", func(c echo.Context) error {
		middleware.SetOutcome(c, "allow")
		if ownKey {
			c.Set("user.key", 42)
		}
		seen(c)
		return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, protocol.OKBody)
	}, func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if middleware.ParamsOf(c).SdkAppid == "" {
				return protocol.ErrAppIDNotAllowed
			}
			return next(c)
		}
	})
	return e
}

// TestRequestState serves the same request with and without RequestState:
// the parameters are parsed once per request and the outcome reaches the
// access log either way, and a key that is not the chain's goes to echo's
// store.
func TestRequestState(t *testing.T) {
	for _, tt := range []struct {
		name string
		wrap echo.MiddlewareFunc
	}{
		{"echo's store", nil},
		{"RequestState", middleware.RequestState},
	} {
		t.Run(tt.name, func(t *testing.T) {
			recent := middleware.NewRecent()
			var userKey any
			var same bool
			e := stateServer(tt.wrap, recent, true, func(c echo.Context) {
				userKey = c.Get("user.key")
				same = middleware.ParamsOf(c) == middleware.ParamsOf(c)
			})
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, httptest.NewRequest(http.MethodPost,
				"/im/callback?SdkAppid=1400000001&CallbackCommand=Group.CallbackAfterCreateTopic", nil))
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d", rec.Code)
			}
			last := recent.Last(1)
			if len(last) != 1 || last[0].Outcome != "allow" || last[0].App != "1400000001" ||
				last[0].Command != "Group.CallbackAfterCreateTopic" {
				t.Fatalf("recent = %+v", last)
			}
			if userKey != 42 || !same {
				t.Fatalf("user key %v, params parsed once %v", userKey, same)
			}
		})
	}
}

// BenchmarkRequestState serves one callback request through the chain with
// echo's store and with RequestState, whose context keeps the chain's
// values without the map echo's store allocates for every request (its
// header and first group: close to half the bytes the request allocates
// without it). The bytes are a figure for make bench, not a test's
// ceiling; TestRequestStateLeavesEchosStoreEmpty checks the map is gone.
func BenchmarkRequestState(b *testing.B) {
	for _, bc := range []struct {
		name string
		wrap echo.MiddlewareFunc
	}{
		{"echo's store", nil},
		{"RequestState", middleware.RequestState},
	} {
		b.Run(bc.name, func(b *testing.B) {
			e := stateServer(bc.wrap, middleware.NewRecent(), false, func(echo.Context) {})
			req := httptest.NewRequest(http.MethodPost, "/im/callback?SdkAppid=1400000001", nil)
			w := httptest.NewRecorder()
			b.ReportAllocs()
			for b.Loop() {
				w.Body.Reset()
				e.ServeHTTP(w, req)
			}
			if w.Code != http.StatusOK {
				b.Fatalf("status %d: %s", w.Code, w.Body)
			}
		})
	}
}

// TestRequestStateReachesTheErrorHandler: a rejection and a recovered
// panic reach echo's error handler with the request-state context, so the
// handler reads the parameters the chain parsed instead of parsing again.
func TestRequestStateReachesTheErrorHandler(t *testing.T) {
	for _, tt := range []struct {
		name   string
		fail   func() error
		status int
	}{
		{"rejection", func() error { return protocol.ErrAppIDNotAllowed }, http.StatusForbidden},
		{"panic", func() error { panic("handler bug") }, http.StatusInternalServerError},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var chain, handler *protocol.Params
			e := echo.New()
			e.HTTPErrorHandler = func(err error, c echo.Context) {
				handler = middleware.ParamsOf(c)
				c.Response().WriteHeader(middleware.AsProtocolError(err).Status)
			}
			quiet := echomw.RecoverConfig{LogErrorFunc: func(_ echo.Context, err error, _ []byte) error { return err }}
			e.Use(middleware.RequestState, echomw.RecoverWithConfig(quiet),
				middleware.AccessLogWithConfig(middleware.AccessLogConfig{}))
			e.POST("/im/callback", func(c echo.Context) error {
				chain = middleware.ParamsOf(c)
				return tt.fail()
			})
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/im/callback?SdkAppid=1400000001", nil))
			if rec.Code != tt.status {
				t.Fatalf("status %d, want %d", rec.Code, tt.status)
			}
			if chain == nil || handler != chain {
				t.Fatalf("the error handler parsed the query again (chain %p, handler %p)", chain, handler)
			}
		})
	}
}

// userContext is a middleware of the user's own context type, embedding
// the one it was handed, as echo documents for extending a context.
type userContext struct{ echo.Context }

// TestArrivedAt: the arrival RequestState notes reaches the handler, also
// through a context of the user's wrapped around RequestState's (whose
// handler would otherwise count its deadline from a later start), and is
// zero without RequestState.
func TestArrivedAt(t *testing.T) {
	wrapContext := func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error { return next(&userContext{c}) }
	}
	for _, tt := range []struct {
		name  string
		chain []echo.MiddlewareFunc
		want  bool // a non-zero arrival
	}{
		{"RequestState", []echo.MiddlewareFunc{middleware.RequestState}, true},
		{"a context of the user's around RequestState's", []echo.MiddlewareFunc{middleware.RequestState, wrapContext}, true},
		{"without RequestState", nil, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var arrived time.Time
			before := time.Now()
			e := echo.New()
			e.Use(tt.chain...)
			e.POST("/im/callback", func(c echo.Context) error {
				arrived = middleware.ArrivedAt(c)
				return c.NoContent(http.StatusOK)
			})
			e.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/im/callback", nil))
			switch {
			case !tt.want && !arrived.IsZero():
				t.Fatalf("arrival %v without RequestState", arrived)
			case tt.want && (arrived.IsZero() || arrived.Before(before)):
				t.Fatalf("arrival %v, want the request's (after %v)", arrived, before)
			}
		})
	}
}
