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
	return annotate[Route](f, RouteGroup, groupHelper{name: "AsRoute", what: "route",
		wrap: "func() admin.Route { return r }", tags: "fx.ResultTags(admin.RouteGroup)",
		lost: "its route would never be served", other: reflect.TypeFor[[]Route](), otherHint: "register it with admin.AsRoutes"})
}

// AsRoutes annotates a constructor returning []Route. One returning
// anything else fails the start with an error that names it.
func AsRoutes(f any) any {
	return annotate[[]Route](f, `group:"admin_routes,flatten"`, groupHelper{name: "AsRoutes", what: "routes",
		wrap: "func() []admin.Route { return rs }", tags: "fx.ResultTags(`group:\"admin_routes,flatten\"`)",
		lost: "its routes would never be served", other: reflect.TypeFor[Route](), otherHint: "register it with admin.AsRoute"})
}

// AsCheck annotates a constructor returning a Check. One returning
// anything else ([]Check: give each check its own AsCheck) fails the
// start with an error that names it: in a group nobody reads, the check
// would never run, and /readyz would not see its dependency down.
func AsCheck(f any) any {
	return annotate[Check](f, CheckGroup, groupHelper{name: "AsCheck", what: "check",
		wrap: "func() admin.Check { return c }", tags: "fx.ResultTags(admin.CheckGroup)",
		lost:  "its check would never run, and /readyz would not see its dependency down",
		other: reflect.TypeFor[[]Check](), otherHint: "give each check a constructor of its own, registered with admin.AsCheck"})
}

// groupHelper describes AsRoute, AsRoutes or AsCheck for the errors of a
// constructor it refuses.
type groupHelper struct {
	name, what, wrap, tags string // as fxresult.Constructor takes them
	lost                   string // what a result of another type would miss
	other                  reflect.Type
	otherHint              string // what to do when the result is other
}

// annotate annotates f with the result tag, or, when the helper h refuses
// f, gives a constructor that fails the start with h's error instead: fx
// puts a result into the group of its own type, so one of another type
// than T would land, silently, in a group the admin listener never reads.
func annotate[T any](f any, tag string, h groupHelper) any {
	if err := h.check(f, reflect.TypeFor[T]()); err != nil {
		return fx.Annotate(func() (T, error) {
			var none T
			return none, err
		}, fx.ResultTags(tag))
	}
	return fx.Annotate(f, fx.ResultTags(tag))
}

// check refuses f, given to h, unless it is a constructor whose first
// result is want.
func (h groupHelper) check(f any, want reflect.Type) error {
	if err := fxresult.Constructor(h.name, f, h.what, h.wrap, h.tags); err != nil {
		return fmt.Errorf("admin: %w", err)
	}
	if err := fxresult.First(f, want); err != nil {
		hint := "return " + want.String()
		if _, out, _ := fxresult.Describe(f); out == h.other {
			hint = h.otherHint
		}
		return fmt.Errorf("admin: %s(%w): the admin listener's group takes %v values only, so %s; %s", h.name, err, want, h.lost, hint)
	}
	return nil
}
