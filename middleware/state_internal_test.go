package middleware

import (
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/imcallback/imcallback/protocol"
)

// TestRequestStateLeavesEchosStoreEmpty: with RequestState outermost, the
// values the chain shares per request (the parameters, the outcome, the
// command, a rejection's reason) are kept in its context's fields, so
// echo's own context never stores them and never allocates its store's map
// for the request: what RequestState saves at every request
// (BenchmarkRequestState measures the bytes). Without RequestState the
// same chain fills echo's store, which shows the check sees it.
func TestRequestStateLeavesEchosStoreEmpty(t *testing.T) {
	chainKeys := []string{paramsKey, outcomeKey, commandKey, reasonKey}
	for _, tt := range []struct {
		name      string
		wrap      echo.MiddlewareFunc
		wantStore bool
	}{
		{"echo's store", nil, true},
		{"RequestState", RequestState, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			type seen struct {
				keys  []string // the chain's keys echo's own context holds
				store bool     // echo's store map was allocated
			}
			var got []seen
			e := echo.New()
			e.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
				return func(c echo.Context) error { // echo's own context, outside RequestState
					err := next(c)
					var s seen
					for _, k := range chainKeys {
						if c.Get(k) != nil {
							s.keys = append(s.keys, k)
						}
					}
					s.store = storeAllocated(t, c)
					got = append(got, s)
					return err
				}
			})
			if tt.wrap != nil {
				e.Use(tt.wrap)
			}
			e.Use(AccessLogWithConfig(AccessLogConfig{Recent: NewRecent()}))
			e.POST("/im/callback", func(c echo.Context) error {
				if ParamsOf(c).SdkAppid != "1400000001" {
					return protocol.ErrAppIDNotAllowed // the access log keeps the reason
				}
				SetCommand(c, "Group.CallbackAfterCreateTopic")
				SetOutcome(c, "allow")
				return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, protocol.OKBody)
			})
			for _, app := range []string{"1400000001", "1400000002"} { // accepted, rejected
				rec := httptest.NewRecorder()
				e.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/im/callback?SdkAppid="+app, nil))
			}
			if len(got) != 2 {
				t.Fatalf("the outer middleware saw %d requests, want 2", len(got))
			}
			if tt.wantStore {
				held := map[string]bool{}
				for _, k := range append(got[0].keys, got[1].keys...) {
					held[k] = true
				}
				if len(held) != len(chainKeys) || !got[0].store || !got[1].store {
					t.Fatalf("echo's store held %q and %q (allocated: %v, %v), want each of %q: the check would not see them",
						got[0].keys, got[1].keys, got[0].store, got[1].store, chainKeys)
				}
			} else {
				for i, s := range got {
					if len(s.keys) > 0 || s.store {
						t.Errorf("request %d: echo's store holds %q (allocated: %v), want the chain's values in RequestState's fields and no map",
							i+1, s.keys, s.store)
					}
				}
			}
		})
	}
}

// storeAllocated reports whether echo's context c has allocated the map of
// its store (echo's unexported field store, set by the first Set of a
// request). A context without that field fails the test: echo changed,
// and the check would otherwise see nothing.
func storeAllocated(t *testing.T, c echo.Context) bool {
	t.Helper()
	v := reflect.ValueOf(c)
	if v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	store := v.FieldByName("store")
	if !store.IsValid() || store.Kind() != reflect.Map {
		t.Fatalf("echo's context %T has no map field store: the test must learn where echo keeps Set's values", c)
	}
	return !store.IsNil()
}
