package server

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx/fxtest"
	"go.uber.org/zap"

	"github.com/imcallback/imcallback/config"
)

// TestEventRoutesWithoutDurableDeliveryNameTheSetting: without durable
// delivery the event log's routes answer 409 "durable delivery is off",
// which did not say how to turn it on. The answer now names the setting
// (IMCALLBACK_DELIVERY=durable) when the service runs inline, and the
// missing delivery.Module when the setting is durable but the binary
// does not wire it.
func TestEventRoutesWithoutDurableDeliveryNameTheSetting(t *testing.T) {
	for _, tt := range []struct {
		delivery string
		want     []string
	}{
		{config.DeliveryInline, []string{"durable delivery is off", "IMCALLBACK_DELIVERY=inline", "IMCALLBACK_DELIVERY=durable", "restart"}},
		{config.DeliveryDurable, []string{"durable delivery is off", "IMCALLBACK_DELIVERY is durable", "delivery.Module"}},
	} {
		t.Run(tt.delivery, func(t *testing.T) {
			cfg := config.Default()
			cfg.Delivery = tt.delivery
			a, err := newAdmin(adminIn{Lifecycle: fxtest.NewLifecycle(t), Config: &cfg, Log: zap.NewNop(), Registry: prometheus.NewRegistry()})
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range []struct{ method, path string }{
				{http.MethodGet, "/v1/events"}, {http.MethodGet, "/v1/events/"}, {http.MethodPost, "/v1/events/replay"}, {http.MethodPost, "/v1/delivery/pause"},
			} {
				req := httptest.NewRequest(r.method, r.path, strings.NewReader("{}"))
				req.Host = "127.0.0.1" // the listener has no token: loopback only
				req.Header.Set("Content-Type", "application/json")
				rec := httptest.NewRecorder()
				a.echo.ServeHTTP(rec, req)
				if rec.Code != http.StatusConflict {
					t.Errorf("%s %s: HTTP %d, want 409: %s", r.method, r.path, rec.Code, rec.Body)
				}
				for _, w := range tt.want {
					if !strings.Contains(rec.Body.String(), w) {
						t.Errorf("%s %s: %s\ndoes not say %q", r.method, r.path, rec.Body, w)
					}
				}
			}
			// Another method on those paths is a 405, as with durable
			// delivery: it was answered 409 too, as if it were a route.
			for _, r := range []struct{ method, path string }{
				{http.MethodDelete, "/v1/delivery"}, {http.MethodGet, "/v1/delivery/pause"}, {http.MethodPut, "/v1/events/7"},
			} {
				req := httptest.NewRequest(r.method, r.path, nil)
				req.Host = "127.0.0.1"
				rec := httptest.NewRecorder()
				a.echo.ServeHTTP(rec, req)
				if rec.Code != http.StatusMethodNotAllowed {
					t.Errorf("%s %s: HTTP %d, want 405: %s", r.method, r.path, rec.Code, rec.Body)
				}
			}
		})
	}
}
