package middleware

import (
	"sync"
	"time"

	"github.com/labstack/echo/v4"
)

// RequestState is the public listener's outermost middleware. It hands the
// chain a context that keeps the values the chain shares per request (the
// parsed callback parameters, the outcome, a rejection's reason, the
// command routed on the body) in fields
// of its own, where echo's store would allocate a map for every request
// and take a lock and hash the key at every access. The chain works
// without it, keeping those values in echo's store; it is only slower.
//
// It also notes when the request arrived (ArrivedAt), so that the
// dispatcher counts a handler's deadline from there: the time the chain
// and the reading of the body take is spent of IM's budget too.
//
// Extending echo.Context by embedding it is echo's documented way to give
// a context more state; echo's router, which needs its own type, runs
// before any middleware.
func RequestState(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error { return next(&stateContext{Context: c, arrived: time.Now()}) }
}

// arrivedKey is the key under which RequestState's context answers Get
// with the request's arrival, for a context of the user's that embeds it.
const arrivedKey = "imcallback.arrived"

// ArrivedAt returns when the request reached RequestState, the public
// listener's first middleware, also through a context of the user's that
// embeds RequestState's (echo's documented way to extend a context), or
// the zero time when RequestState did not run.
func ArrivedAt(c echo.Context) time.Time {
	if s, ok := c.(*stateContext); ok {
		return s.arrived
	}
	t, _ := c.Get(arrivedKey).(time.Time) // through a wrapper: its Get reaches RequestState's
	return t
}

// stateContext is the context RequestState hands down.
type stateContext struct {
	echo.Context
	arrived time.Time // when RequestState ran; set once, before the chain
	mu      sync.Mutex
	params  any // ParamsOf's *protocol.Params
	outcome any // SetOutcome's string
	reason  any // the access log's rejection reason, for the span
	command any // SetCommand's string
}

// Get returns the value stored for key: the chain's own keys from the
// fields (and the arrival, for ArrivedAt), any other from echo's store.
func (c *stateContext) Get(key string) any {
	if key == arrivedKey {
		return c.arrived // set once, before the chain: no lock
	}
	f := c.field(key)
	if f == nil {
		return c.Context.Get(key)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return *f
}

// Set stores val for key: the chain's own keys in the fields, any other
// in echo's store.
func (c *stateContext) Set(key string, val any) {
	f := c.field(key)
	if f == nil {
		c.Context.Set(key, val)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	*f = val
}

// Error hands err to echo's error handler with this context, so the
// handler sees the chain's values. The embedded context's Error would
// pass echo's own context, where ParamsOf would parse the query again.
func (c *stateContext) Error(err error) { c.Echo().HTTPErrorHandler(err, c) }

// field is where key is kept, or nil for a key that is not the chain's.
func (c *stateContext) field(key string) *any {
	switch key {
	case paramsKey:
		return &c.params
	case outcomeKey:
		return &c.outcome
	case reasonKey:
		return &c.reason
	case commandKey:
		return &c.command
	}
	return nil
}
