package middleware

import (
	"cmp"
	"fmt"
	"reflect"
	"slices"

	"github.com/labstack/echo/v4"
	"go.uber.org/fx"

	"github.com/imcallback/imcallback/internal/fxresult"
)

// Positions of the built-in middleware. Lower runs first (outermost). A
// user's middleware picks a number between two of them, e.g.
// OrderSignature+10 to run after the signature check, just before the dispatcher.
// Nothing that wraps every request may be ordered below OrderRecover: a
// panic there would drop the connection with no envelope, so the chain
// refuses it at start.
const (
	OrderRecover   = 100
	OrderRequestID = 200
	OrderAccessLog = 300
	OrderBodyLimit = 400
	OrderIPAllow   = 500
	OrderAppID     = 600
	OrderSignature = 700
)

// Group is the fx value group middleware is collected from.
const Group = `group:"middleware"`

// OrderCallbackRoute is where the callback route begins: a middleware
// with ScopeByOrder and an Order below it wraps every request, from it on
// only the callback route. It equals OrderBodyLimit.
const OrderCallbackRoute = OrderBodyLimit

// Scope says which requests a middleware wraps.
type Scope int

const (
	// ScopeByOrder (the zero value) places the middleware by its Order:
	// below OrderCallbackRoute it wraps every request, from it on only
	// the callback route.
	ScopeByOrder Scope = iota
	// ScopeEveryRequest wraps every request on the public listener,
	// including the 404 and 405 answers for other paths and methods.
	ScopeEveryRequest
	// ScopeCallbackRoute wraps only POSTs to the callback path, after the
	// route matched: a wrong method is answered 405 before it runs.
	ScopeCallbackRoute
)

// Ordered is a middleware with its position in the chain. Every-request
// middleware run first, by Order; then the callback route's, by Order.
type Ordered struct {
	// Name identifies the middleware in errors and logs. Two middleware
	// may not share one.
	Name string
	// Order is the position; lower runs first. Two middleware may not share one.
	Order int
	// Scope is which requests it wraps; see Scope.
	Scope Scope
	// Func is the middleware.
	Func echo.MiddlewareFunc
}

// everyRequest reports whether m wraps every request.
func (m Ordered) everyRequest() bool {
	switch m.Scope {
	case ScopeEveryRequest:
		return true
	case ScopeCallbackRoute:
		return false
	}
	return m.Order < OrderCallbackRoute
}

// AsMiddleware annotates a constructor returning an Ordered so that fx adds
// its result to the middleware group:
//
//	fx.Provide(middleware.AsMiddleware(NewAudit))
//
// A constructor returning anything else (an echo.MiddlewareFunc, a
// *Ordered) fails the start: the group collects Ordered values only, so
// its middleware would never run. So does an Ordered given instead of its
// constructor, with an error saying to wrap it in one, a nil
// constructor (on which fx itself would panic), and one already annotated
// with fx.Annotate, which fx cannot annotate again: add
// fx.ResultTags(middleware.Group) to that fx.Annotate instead.
func AsMiddleware(f any) any {
	err := fxresult.Constructor("AsMiddleware", f, "middleware", "func() middleware.Ordered { return m }", "fx.ResultTags(middleware.Group)")
	if err == nil {
		if first := fxresult.First(f, reflect.TypeFor[Ordered]()); first != nil {
			err = fmt.Errorf("AsMiddleware(%w): the middleware group collects middleware.Ordered values only, so it would never run; return Ordered{Name, Order, Func}", first)
		}
	}
	if err != nil {
		return fx.Annotate(func() (Ordered, error) { return Ordered{}, fmt.Errorf("middleware: %w", err) }, fx.ResultTags(Group))
	}
	return fx.Annotate(f, fx.ResultTags(Group))
}

// Chain is the sorted middleware, split where the callback route begins.
type Chain struct {
	// Server middleware (ScopeEveryRequest) wrap every request on the
	// public listener, including 404 and 405 answers.
	Server []echo.MiddlewareFunc
	// Route middleware (ScopeCallbackRoute) wrap only the callback route,
	// so a wrong method is answered 405 before any verification.
	Route []echo.MiddlewareFunc
	// Names lists every middleware in the order it runs.
	Names []string
}

// NewChain sorts list by Order. Two entries with the same Order or the
// same Name, a nil Func, an empty name, an unknown Scope or an
// every-request entry ordered below OrderRecover are errors, found at
// start.
func NewChain(list []Ordered) (Chain, error) {
	sorted := slices.Clone(list)
	slices.SortStableFunc(sorted, func(a, b Ordered) int { return cmp.Compare(a.Order, b.Order) })
	var ch Chain
	var serverNames, routeNames []string
	orderOf := make(map[string]int, len(sorted))
	for i, m := range sorted {
		if m.Name == "" {
			return Chain{}, fmt.Errorf("middleware: the entry at order %d has no name", m.Order)
		}
		if m.Func == nil {
			return Chain{}, fmt.Errorf("middleware: %s (order %d) has a nil Func", m.Name, m.Order)
		}
		if m.Scope < ScopeByOrder || m.Scope > ScopeCallbackRoute {
			return Chain{}, fmt.Errorf("middleware: %s (order %d) has an unknown Scope %d", m.Name, m.Order, int(m.Scope))
		}
		if prev, dup := orderOf[m.Name]; dup {
			// Registered twice (two modules, or one module wired twice):
			// it would run twice, and logs and errors could not tell the
			// two apart.
			return Chain{}, fmt.Errorf("middleware: two entries are named %s (orders %d and %d); give each its own name, or register it once",
				m.Name, prev, m.Order)
		}
		orderOf[m.Name] = m.Order
		if i > 0 && sorted[i-1].Order == m.Order {
			return Chain{}, fmt.Errorf("middleware: %s and %s share order %d; give each its own position",
				sorted[i-1].Name, m.Name, m.Order)
		}
		if m.everyRequest() {
			ch.Server = append(ch.Server, m.Func)
			serverNames = append(serverNames, m.Name)
		} else {
			ch.Route = append(ch.Route, m.Func)
			routeNames = append(routeNames, m.Name)
		}
	}
	for _, m := range sorted {
		if m.Order < OrderRecover && m.everyRequest() {
			// Outside recover, its panic (or a later one it lets through)
			// would drop the connection with no answer at all.
			return Chain{}, fmt.Errorf("middleware: %s (order %d) would run before recover (order %d), so a panic in it would drop the connection with no envelope; give it an order above middleware.OrderRecover",
				m.Name, m.Order, OrderRecover)
		}
	}
	ch.Names = append(serverNames, routeNames...)
	return ch, nil
}
