package server

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx/fxtest"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/imcallback/imcallback/admin"
	"github.com/imcallback/imcallback/config"
)

// TestAdminAnswersAPanicWithAJSONError: the admin listener had no
// recovery, so a plugin route that panicked (a nil store, say) had
// net/http close the connection with no answer: the CLI and the console
// (which then says "the admin API does not answer") saw a dropped
// connection instead of the listener's 500 {"error":"internal error"},
// and the panic went to the server's error log without the route. It is
// now a 500 JSON error with the admin headers, logged with its stack.
func TestAdminAnswersAPanicWithAJSONError(t *testing.T) {
	cfg := config.Default()
	cfg.AdminToken = "s3cret"
	core, logs := observer.New(zap.ErrorLevel)
	a, err := newAdmin(adminIn{Lifecycle: fxtest.NewLifecycle(t), Config: &cfg, Log: zap.New(core),
		Registry: prometheus.NewRegistry(), Routes: []admin.Route{
			{Method: http.MethodGet, Path: "/v1/boom", Handler: func(echo.Context) error { panic("nil store") }},
			{Method: http.MethodPost, Path: "/v1/boom-error", Handler: func(echo.Context) error {
				var m map[string]int
				m["x"]++ // a runtime error
				return nil
			}},
		}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.echo)
	defer srv.Close()
	tests := []struct{ method, path, logged string }{
		{http.MethodGet, "/v1/boom", "nil store"},
		{http.MethodPost, "/v1/boom-error", "assignment to entry in nil map"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			logs.TakeAll()
			req, err := http.NewRequest(tt.method, srv.URL+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set(echo.HeaderAuthorization, "Bearer s3cret")
			res, err := srv.Client().Do(req)
			if err != nil {
				t.Fatalf("%s %s: no answer: %v", tt.method, tt.path, err)
			}
			defer res.Body.Close()
			var body ErrorBody
			if err := json.NewDecoder(res.Body).Decode(&body); err != nil || res.StatusCode != http.StatusInternalServerError || body.Error != "internal error" {
				t.Fatalf("%s %s answered %d %+v (%v); want 500 {\"error\":\"internal error\"}", tt.method, tt.path, res.StatusCode, body, err)
			}
			if got := res.Header.Get(echo.HeaderCacheControl); got != "no-store" {
				t.Errorf("Cache-Control %q; want no-store", got)
			}
			entries := logs.TakeAll()
			if len(entries) != 1 || !strings.Contains(entries[0].ContextMap()["error"].(string), tt.logged) {
				t.Errorf("logged %+v; want one error naming %q", entries, tt.logged)
			}
		})
	}
}
