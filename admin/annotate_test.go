package admin_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"
	"go.uber.org/fx"

	"github.com/imcallback/imcallback/admin"
)

func newRoute() admin.Route {
	return admin.Route{Method: http.MethodGet, Path: "/v1/x", Handler: func(echo.Context) error { return nil }}
}

func newRoutes() []admin.Route { return []admin.Route{newRoute()} }

func newCheck() admin.Check {
	return admin.Check{Name: "x", Check: func(context.Context) error { return nil }}
}

func newChecks() []admin.Check { return []admin.Check{newCheck()} }

// buildAdmin builds an app providing provide and returns the routes and
// checks the admin listener would read, and the build error.
func buildAdmin(provide any) (routes []admin.Route, checks []admin.Check, err error) {
	app := fx.New(fx.NopLogger, fx.Provide(provide),
		fx.Invoke(fx.Annotate(func(rs []admin.Route, cs []admin.Check) { routes, checks = rs, cs },
			fx.ParamTags(admin.RouteGroup, admin.CheckGroup))))
	return routes, checks, app.Err()
}

// TestAnnotationOfAnotherResultFailsTheStart: a constructor given to
// AsRoute, AsRoutes or AsCheck whose result is not what the helper's group
// collects ([]Route under AsRoute, the mistake AsRoute's doc warned of,
// []Check under AsCheck, a *Route) joined a group of its own type that the
// admin listener never reads: the service started with the routes
// answering 404, or without the readiness check, so /readyz answered 200
// with the dependency down, and nothing said why. Such a constructor, and
// a nil one, on which fx panicked, now fail the start naming the helper
// and what to do.
func TestAnnotationOfAnotherResultFailsTheStart(t *testing.T) {
	for _, tc := range []struct {
		name    string
		provide any
		want    string
	}{
		{"routes under AsRoute", admin.AsRoute(newRoutes), "register it with admin.AsRoutes"},
		{"a route under AsRoutes", admin.AsRoutes(newRoute), "register it with admin.AsRoute"},
		{"a route pointer", admin.AsRoute(func() *admin.Route { r := newRoute(); return &r }), "return admin.Route"},
		{"checks under AsCheck", admin.AsCheck(newChecks), "give each check a constructor of its own"},
		{"nothing", admin.AsCheck(func() {}), "returns nothing"},
		{"nil", admin.AsRoute(nil), "AsRoute(nil)"},
		{"nil func", admin.AsCheck((func() admin.Check)(nil)), "nil function"},
		{"a value", admin.AsCheck(newCheck()), "it takes a constructor"},
		{"annotated", admin.AsRoutes(fx.Annotate(newRoutes)), "already annotated"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			routes, checks, err := buildAdmin(tc.provide)
			if err == nil {
				t.Fatalf("the build succeeded with %d routes and %d checks; want it refused", len(routes), len(checks))
			}
			if !strings.Contains(err.Error(), "admin: ") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

// TestAnnotationsCollect: each helper adds its constructor's result to the
// group the admin listener reads.
func TestAnnotationsCollect(t *testing.T) {
	routes, checks, err := buildAdmin(admin.AsRoute(newRoute))
	if err != nil || len(routes) != 1 || len(checks) != 0 {
		t.Fatalf("AsRoute: %d routes, %d checks, error %v", len(routes), len(checks), err)
	}
	routes, _, err = buildAdmin(admin.AsRoutes(newRoutes))
	if err != nil || len(routes) != 1 {
		t.Fatalf("AsRoutes: %d routes, error %v", len(routes), err)
	}
	_, checks, err = buildAdmin(admin.AsCheck(func() (admin.Check, error) { return newCheck(), nil }))
	if err != nil || len(checks) != 1 || checks[0].Name != "x" {
		t.Fatalf("AsCheck: checks %v, error %v", checks, err)
	}
}
