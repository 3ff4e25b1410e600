package dispatcher_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/imcallback/imcallback/dispatcher"
)

// BenchmarkServeBefore is the dispatcher's before path in memory: route,
// scan, run the handler under its deadline, encode the envelope.
func BenchmarkServeBefore(b *testing.B) {
	for _, bc := range []struct {
		name string
		dec  dispatcher.Decision
	}{
		{"allow", allow()},
		{"modify", modify(struct {
			CloudCustomData string `json:"CloudCustomData"`
		}{"x"})},
	} {
		b.Run(bc.name, func(b *testing.B) {
			h := newHarness(b, dispatcher.Options{Fallback: allow()}, before(func(*dispatcher.Event[sendMsg]) (dispatcher.Decision, error) {
				return bc.dec, nil
			}))
			const body = `{"CallbackCommand":"C2C.CallbackBeforeSendMsg","Text":"hi"}`
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.e.ServeHTTP(rec, httptest.NewRequest(http.MethodPost,
					"/im/callback?SdkAppid=1400000000&CallbackCommand=C2C.CallbackBeforeSendMsg", strings.NewReader(body)))
				if rec.Code != http.StatusOK {
					b.Fatal(rec.Code)
				}
			}
		})
	}
}
