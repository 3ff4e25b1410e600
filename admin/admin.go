// Package admin holds what a plugin gives the admin listener: routes (a
// read API) and readiness checks, with the fx annotations that collect
// them. It is a leaf, so plugins and delivery add to the admin listener
// without importing the server that runs it.
package admin

import (
	"context"
	"fmt"
	"reflect"

	"github.com/labstack/echo/v4"
	"go.uber.org/fx"

	"github.com/imcallback/imcallback/internal/fxresult"
)

// Route is an admin endpoint a plugin adds, e.g. a read API. Method (in
// upper case, as clients send it: http.MethodGet), Path and Handler are
// required, and no two routes (a built-in one included)
// may share a method and path, paths that differ in a parameter's name
// only (/v1/x/:id, /v1/x/:name) being one path to the router: the admin
// listener refuses to start otherwise, naming the route.
type Route struct {
	// Method is the HTTP method the route answers, in upper case. A GET
	// route must only read: a link on another site's page can make a
	// browser send it (a state change needs POST, which such a page
	// cannot make a browser send to the admin listener).
	Method string
	// Path is the echo route path on the admin listener, e.g.
	// "/v1/events/:seq"; echo adds a missing leading "/".
	Path string
	// Handler serves the route, behind IMCALLBACK_ADMIN_TOKEN when one is
	// set and the route is not Open. Its request's context ends at the
	// service's stop: an error it returns wrapping context.Canceled is
	// answered 503, the request cut short, as an error of no
	// echo.HTTPError is otherwise answered 500 "internal error".
	Handler echo.HandlerFunc
	// Open serves the route without IMCALLBACK_ADMIN_TOKEN. Only for what
	// reveals nothing of the service, such as the console's page and
	// assets, which are the same in every binary and ask for the token
	// before they read anything. It opens this Method on this Path only:
	// a route of another method on the same path still needs the token.
	Open bool
}

// Check is a dependency's health check. /readyz says whether a callback
// would be accepted now: it is 200 only when every check that affects
// acceptance returns nil. /v1/status shows every check. Name and Check are
// required and names are unique: the admin listener refuses to start
// otherwise. Checks run concurrently, each under its own deadline.
type Check struct {
	// Name identifies the dependency in /readyz and /v1/status.
	Name string
	// Check reports whether the dependency is ready.
	Check func(ctx context.Context) error
	// Handler marks a dependency of the after-handlers (a handler's
	// database): with durable delivery callbacks are still stored while it
	// is down, and retried once it is back, so it does not make the
	// service unready; with inline delivery it does.
	Handler bool
	// Informational marks a check that never decides /readyz: it shows in
	// /v1/status and imcallback_dependency_up only, for a fault that
	// leaves the service able to accept callbacks (one app of several
	// refused, say), where taking the replica out of its load balancer
	// would refuse every app.
	Informational bool
}

// DecidesReadiness reports whether c decides /readyz, given whether
// delivery is durable.
func (c Check) DecidesReadiness(durable bool) bool {
	return !c.Informational && (!c.Handler || !durable)
}

// Value groups plugins add admin routes and readiness checks to.
const (
	RouteGroup = `group:"admin_routes"`
	CheckGroup = `group:"readiness"`
)

// AsRoute annotates a constructor returning one Route for the admin
// listener. A constructor returning []Route needs AsRoutes: under AsRoute
// its slice would join a group of []Route that the listener never reads,
// so AsRoute refuses it, as it refuses any constructor whose first result
// is no Route, failing the start with an error that names it.
func AsRoute(f any) any {
	if err := constructor("AsRoute", f, reflect.TypeFor[Route](), "func() admin.Route { return r }",
		"fx.ResultTags(admin.RouteGroup)", "its route would never be served"); err != nil {
		return fx.Annotate(func() (Route, error) { return Route{}, err }, fx.ResultTags(RouteGroup))
	}
	return fx.Annotate(f, fx.ResultTags(RouteGroup))
}

// AsRoutes annotates a constructor returning []Route. One returning
// anything else fails the start with an error that names it.
func AsRoutes(f any) any {
	if err := constructor("AsRoutes", f, reflect.TypeFor[[]Route](), "func() []admin.Route { return rs }",
		"fx.ResultTags(`group:\"admin_routes,flatten\"`)", "its routes would never be served"); err != nil {
		return fx.Annotate(func() ([]Route, error) { return nil, err }, fx.ResultTags(`group:"admin_routes,flatten"`))
	}
	return fx.Annotate(f, fx.ResultTags(`group:"admin_routes,flatten"`))
}

// AsCheck annotates a constructor returning a Check. One returning
// anything else ([]Check: give each check its own AsCheck) fails the
// start with an error that names it: in a group nobody reads, the check
// would never run, and /readyz would not see its dependency down.
func AsCheck(f any) any {
	if err := constructor("AsCheck", f, reflect.TypeFor[Check](), "func() admin.Check { return c }",
		"fx.ResultTags(admin.CheckGroup)", "its check would never run, and /readyz would not see its dependency down"); err != nil {
		return fx.Annotate(func() (Check, error) { return Check{}, err }, fx.ResultTags(CheckGroup))
	}
	return fx.Annotate(f, fx.ResultTags(CheckGroup))
}

// constructor checks f, given to helper: a function, not nil nor already
// annotated with fx.Annotate, whose first result is want (fx puts a
// result into the group of its own type, so one of another type lands,
// silently, in a group the admin listener never reads). wrap is the
// constructor to write instead of a nil one or a value, tags the
// annotations to give in one fx.Annotate with another's, lost what a
// result of another type would miss.
func constructor(helper string, f any, want reflect.Type, wrap, tags, lost string) error {
	if err := fxresult.NilConstructor(helper, f, wrap); err != nil {
		return fmt.Errorf("admin: %w", err)
	}
	if err := fxresult.Annotated(helper, f, tags); err != nil {
		return fmt.Errorf("admin: %w", err)
	}
	if err := fxresult.NotAFunction(helper, f, map[string]string{"AsRoute": "route", "AsRoutes": "routes", "AsCheck": "check"}[helper], wrap); err != nil {
		return fmt.Errorf("admin: %w", err)
	}
	if err := fxresult.First(f, want); err != nil {
		hint := "return " + want.String()
		_, out, _ := fxresult.Describe(f)
		switch {
		case helper == "AsRoute" && out == reflect.TypeFor[[]Route]():
			hint = "register it with admin.AsRoutes"
		case helper == "AsRoutes" && out == reflect.TypeFor[Route]():
			hint = "register it with admin.AsRoute"
		case helper == "AsCheck" && out == reflect.TypeFor[[]Check]():
			hint = "give each check a constructor of its own, registered with admin.AsCheck"
		}
		return fmt.Errorf("admin: %s(%w): the admin listener's group takes %v values only, so %s; %s", helper, err, want, lost, hint)
	}
	return nil
}
