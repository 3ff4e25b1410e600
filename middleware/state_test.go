package middleware_test

import (
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"

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

// TestRequestStateAllocatesLess: the chain's values are kept without the
// map echo's store allocates for every request (its header and first
// group: 240 of the 512 bytes this request allocates without it).
func TestRequestStateAllocatesLess(t *testing.T) {
	bytesPerRequest := func(wrap echo.MiddlewareFunc) uint64 {
		e := stateServer(wrap, middleware.NewRecent(), false, func(echo.Context) {})
		req := httptest.NewRequest(http.MethodPost, "/im/callback?SdkAppid=1400000001", nil)
		w := httptest.NewRecorder()
		e.ServeHTTP(w, req) // warm up echo's pools
		const n = 1000
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range n {
			w.Body.Reset()
			e.ServeHTTP(w, req)
		}
		runtime.ReadMemStats(&after)
		return (after.TotalAlloc - before.TotalAlloc) / n
	}
	plain, state := bytesPerRequest(nil), bytesPerRequest(middleware.RequestState)
	if state+128 > plain {
		t.Fatalf("bytes allocated per request: %d with RequestState, %d without", state, plain)
	}
	t.Logf("bytes allocated per request: %d with RequestState, %d without", state, plain)
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
