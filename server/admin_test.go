package server

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx/fxtest"
	"go.uber.org/zap"

	"github.com/imcallback/imcallback/admin"
	"github.com/imcallback/imcallback/config"
)

// TestAdminRefusesBadPluginRoutesAndChecks: a plugin's route or readiness
// check that echo or /readyz would take silently and then serve wrongly
// (a nil func that crashed the process at the first /readyz, two checks
// of one name whose results shared one entry, a route that replaced a
// built-in one or another plugin's) stops the start with an error naming it.
func TestAdminRefusesBadPluginRoutesAndChecks(t *testing.T) {
	ok := func(context.Context) error { return nil }
	handler := func(c echo.Context) error { return c.NoContent(http.StatusOK) }
	tests := []struct {
		name   string
		routes []admin.Route
		checks []admin.Check
		want   string // in the error; "" when the start succeeds
	}{
		{name: "distinct routes and checks", routes: []admin.Route{{Method: http.MethodGet, Path: "/v1/a", Handler: handler},
			{Method: http.MethodPost, Path: "/v1/a", Handler: handler}},
			checks: []admin.Check{{Name: "a", Check: ok}, {Name: "b", Check: ok}}},
		{name: "a check without a func", checks: []admin.Check{{Name: "store"}}, want: "readiness check store has a nil Check func"},
		{name: "a check without a name", checks: []admin.Check{{Name: "a", Check: ok}, {Check: ok}}, want: "readiness check #2 of 2 has no name"},
		{name: "two checks of one name", checks: []admin.Check{{Name: "store", Check: ok}, {Name: "store", Check: ok, Handler: true}},
			want: "two readiness checks are named store"},
		{name: "a route without a handler", routes: []admin.Route{{Method: http.MethodGet, Path: "/v1/a"}}, want: "route GET /v1/a has a nil Handler"},
		{name: "a route without a method", routes: []admin.Route{{Path: "/v1/a", Handler: handler}}, want: "route #1 of 1"},
		{name: "a route over a built-in one", routes: []admin.Route{{Method: http.MethodGet, Path: "/v1/config", Handler: handler}},
			want: "route GET /v1/config is registered twice (the other is a built-in route)"},
		{name: "two plugins' routes on one method and path", routes: []admin.Route{{Method: http.MethodGet, Path: "/v1/a", Handler: handler},
			{Method: http.MethodGet, Path: "/v1/a", Handler: handler}}, want: "route GET /v1/a is registered twice (the other is plugin route #1)"},
		{name: "a route over a built-in one under another parameter name", routes: []admin.Route{
			{Method: http.MethodGet, Path: "/v1/events/:id", Handler: handler}},
			want: "route GET /v1/events/:id is registered twice (the other is a built-in route, GET /v1/events/:seq"},
		{name: "two plugins' routes differing in a parameter's name", routes: []admin.Route{
			{Method: http.MethodGet, Path: "/v1/a/:x/b", Handler: handler}, {Method: http.MethodGet, Path: "/v1/a/:y/b", Handler: handler}},
			want: "route GET /v1/a/:y/b is registered twice (the other is plugin route #1, GET /v1/a/:x/b"},
		{name: "two plugins' routes, one without the leading slash", routes: []admin.Route{
			{Method: http.MethodGet, Path: "/v1/a", Handler: handler}, {Method: http.MethodGet, Path: "v1/a", Handler: handler}},
			want: "route GET v1/a is registered twice (the other is plugin route #1, GET /v1/a"},
		{name: "a method in lower case", routes: []admin.Route{{Method: "get", Path: "/v1/a", Handler: handler}},
			want: `route get /v1/a: method "get" must be written in upper-case letters only (GET)`},
		{name: "a method that is no HTTP token", routes: []admin.Route{{Method: "GET ", Path: "/v1/a", Handler: handler}},
			want: `route GET  /v1/a: method "GET " must be written in upper-case letters only (GET)`},
		{name: "a method of its own in upper case", routes: []admin.Route{{Method: "PURGE", Path: "/v1/a", Handler: handler}}},
		{name: "a parameter, a longer path and a literal colon", routes: []admin.Route{
			{Method: http.MethodGet, Path: "/v1/a/:x", Handler: handler}, {Method: http.MethodGet, Path: "/v1/a/:x/b", Handler: handler},
			{Method: http.MethodGet, Path: `/v1/a/\:x`, Handler: handler}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config.Default()
			_, err := newAdmin(adminIn{Lifecycle: fxtest.NewLifecycle(t), Config: &cfg, Log: zap.NewNop(),
				Registry: prometheus.NewRegistry(), Routes: tt.routes, Checks: tt.checks})
			switch {
			case tt.want == "" && err != nil:
				t.Fatal(err)
			case tt.want == "":
			case err == nil:
				t.Fatalf("accepted; want an error saying %q", tt.want)
			case !strings.Contains(err.Error(), tt.want):
				t.Fatalf("error %q does not say %q", err, tt.want)
			}
		})
	}
}
