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

	"github.com/imcallback/imcallback/admin"
	"github.com/imcallback/imcallback/config"
)

// TestAdminRefusesAMalformedQuery: Go reads a query string leniently, a
// pair it cannot decode (a bad %-escape, an unescaped ';') being left out
// without a word, so GET /v1/topics?sdk_app_id=%zz listed every app's
// topics, a cursor with a bad escape read as the first page and
// /v1/events?command=… with one as every command's: a 200 for more than
// was asked. The admin listener now answers such a query 400 with a JSON
// error, before any handler reads it, and still 401 without the token.
func TestAdminRefusesAMalformedQuery(t *testing.T) {
	cfg := config.Default()
	cfg.AdminToken = "s3cret-admin-token" // config.MinAdminToken or more: httptest's Host is example.com
	var served []string
	a, err := newAdmin(adminIn{Lifecycle: fxtest.NewLifecycle(t), Config: &cfg, Log: zap.NewNop(),
		Registry: prometheus.NewRegistry(), Routes: []admin.Route{{Method: http.MethodGet, Path: "/v1/things",
			Handler: func(c echo.Context) error {
				served = append(served, c.Request().URL.RawQuery)
				return c.JSON(http.StatusOK, map[string]string{"app": c.QueryParam("sdk_app_id")})
			}}}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, query string
		token       bool
		status      int
	}{
		{"a well-formed query", "sdk_app_id=1400000001&cursor=YXwx", true, http.StatusOK},
		{"escaped characters", "sdk_app_id=%31&group_id=%40TGS%23a%3Bb", true, http.StatusOK},
		{"no query", "", true, http.StatusOK},
		{"a bad escape in a value", "sdk_app_id=%zz", true, http.StatusBadRequest},
		{"a bad escape in a name", "cursor=abc&%zz=1", true, http.StatusBadRequest},
		{"a cut escape", "cursor=abc%2", true, http.StatusBadRequest},
		{"an unescaped semicolon", "group_id=a;b", true, http.StatusBadRequest},
		{"a malformed query without the token", "sdk_app_id=%zz", false, http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			served = nil
			req := httptest.NewRequest(http.MethodGet, "/v1/things", nil)
			req.URL.RawQuery = tt.query
			if tt.token {
				req.Header.Set(echo.HeaderAuthorization, "Bearer s3cret-admin-token")
			}
			rec := httptest.NewRecorder()
			a.echo.ServeHTTP(rec, req)
			if rec.Code != tt.status {
				t.Fatalf("GET /v1/things?%s answered %d %s; want %d", tt.query, rec.Code, rec.Body, tt.status)
			}
			var body ErrorBody
			if tt.status != http.StatusOK {
				if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.Error == "" {
					t.Fatalf("GET /v1/things?%s answered %q, not a JSON error: %v", tt.query, rec.Body, err)
				}
				if len(served) != 0 {
					t.Errorf("the handler read the query %q", served)
				}
			}
			if tt.status == http.StatusBadRequest && !strings.Contains(body.Error, "query") {
				t.Errorf("error %q does not say the query is at fault", body.Error)
			}
		})
	}
}
