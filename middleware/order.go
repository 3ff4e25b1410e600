package middleware

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/labstack/echo/v4"
	"go.uber.org/fx"
)

// Positions of the built-in middleware. Lower runs first (outermost). A
// user's middleware picks a number between two of them, e.g.
// OrderSignature+10 to run after the signature check, just before the dispatcher.
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

// Ordered is a middleware with its position in the chain.
type Ordered struct {
	// Name identifies the middleware in errors and logs.
	Name string
	// Order is the position; lower runs first. Two middleware may not share one.
	Order int
	// Func is the middleware.
	Func echo.MiddlewareFunc
}

// AsMiddleware annotates a constructor returning an Ordered so that fx adds
// its result to the middleware group:
//
//	fx.Provide(middleware.AsMiddleware(NewAudit))
func AsMiddleware(f any) any {
	return fx.Annotate(f, fx.ResultTags(Group))
}

// Chain is the sorted middleware, split where the callback route begins.
type Chain struct {
	// Server middleware (Order < OrderBodyLimit) wrap every request on the
	// public listener, including 404 and 405 answers.
	Server []echo.MiddlewareFunc
	// Route middleware (Order >= OrderBodyLimit) wrap only the callback
	// route, so a wrong method is answered 405 before any verification.
	Route []echo.MiddlewareFunc
	// Names lists every middleware in the order it runs.
	Names []string
}

// NewChain sorts list by Order. Two entries with the same Order, a nil Func
// or an empty name are errors, found at start.
func NewChain(list []Ordered) (Chain, error) {
	sorted := slices.Clone(list)
	slices.SortStableFunc(sorted, func(a, b Ordered) int { return cmp.Compare(a.Order, b.Order) })
	var ch Chain
	for i, m := range sorted {
		if m.Name == "" || m.Func == nil {
			return Chain{}, fmt.Errorf("middleware: entry at order %d needs a name and a func", m.Order)
		}
		if i > 0 && sorted[i-1].Order == m.Order {
			return Chain{}, fmt.Errorf("middleware: %s and %s share order %d; give each its own position",
				sorted[i-1].Name, m.Name, m.Order)
		}
		ch.Names = append(ch.Names, m.Name)
		if m.Order < OrderBodyLimit {
			ch.Server = append(ch.Server, m.Func)
		} else {
			ch.Route = append(ch.Route, m.Func)
		}
	}
	return ch, nil
}
