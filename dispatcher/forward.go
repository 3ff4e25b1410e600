package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Forwarder sends callbacks to HTTP destinations instead of, or besides,
// Go handlers (gateway mode; package forward implements it). The
// dispatcher treats a command a destination takes as registered: a
// before-command is decided by its destination, an after-command is
// delivered to each of its destinations (with durable delivery, one
// stored copy per destination, each retried and dead-lettered on its own).
type Forwarder interface {
	// Commands are the CallbackCommands some destination takes.
	Commands() []string
	// Destinations are the names of the destinations that take command
	// for app, in configuration order.
	Destinations(command, app string) []string
	// Decide posts a before-callback to destination and returns the
	// decision it answered (checked against the command's rule by the
	// dispatcher afterwards).
	Decide(ctx context.Context, destination string, r *Request) (Decision, error)
	// Deliver posts an after-callback to destination; nil means a 2xx.
	Deliver(ctx context.Context, destination string, r *Request) error
}

// RetryAfter is the delay err asks for before the next attempt of a
// stored copy (a forward destination's Retry-After, through an error with
// a RetryAfter() time.Duration method), or 0 when it asks for none.
// Durable delivery waits at least that long, whatever its backoff.
func RetryAfter(err error) time.Duration {
	var ra interface{ RetryAfter() time.Duration }
	if errors.As(err, &ra) {
		return max(ra.RetryAfter(), 0)
	}
	return 0
}

// forwarded is the command of a CallbackCommand that destinations take:
// alone (handler nil), or besides a Go after-handler.
type forwarded struct {
	name    string
	kind    Kind
	handler Command // the Go after-handler, if any
	fwd     Forwarder
}

func (c *forwarded) Name() string { return c.name }
func (c *forwarded) Kind() Kind   { return c.kind }

// servesApp: the Go handler's apps, or any app a destination takes.
func (c *forwarded) servesApp(id string) bool {
	return c.handlerServes(id) || len(c.fwd.Destinations(c.name, id)) > 0
}

// Handle runs the whole command inside a request: a before-command asks
// its destination; an after-command (inline) runs the Go handler and
// delivers to each destination, all at once (a slow one does not use up
// the others' share of the deadline), and fails if any of them does.
func (c *forwarded) Handle(ctx context.Context, r *Request) (Decision, error) {
	dests := c.fwd.Destinations(c.name, r.Params.SdkAppid)
	if c.kind == KindBefore {
		if len(dests) == 0 {
			return Decision{}, fmt.Errorf("%w: %s", ErrNoHandler, c.name)
		}
		return c.fwd.Decide(ctx, dests[0], r)
	}
	errs := make([]error, len(dests)+1)
	var wg sync.WaitGroup
	defer wg.Wait() // also when the Go handler panics: no delivery outlives the request
	for i, d := range dests {
		wg.Go(func() {
			defer func() { // a goroutine of its own: the dispatcher's recover does not reach it
				if v := recover(); v != nil {
					errs[i+1] = fmt.Errorf("destination %s: %w", d, panicError("", v))
				}
			}()
			if err := c.fwd.Deliver(ctx, d, r); err != nil {
				errs[i+1] = fmt.Errorf("destination %s: %w", d, err)
			}
		})
	}
	// The Go handler on this goroutine, whose panic the dispatcher recovers.
	if c.handler != nil && c.handlerServes(r.Params.SdkAppid) {
		_, errs[0] = c.handler.Handle(ctx, r)
	}
	wg.Wait()
	return Decision{}, errors.Join(errs...)
}

func (c *forwarded) handlerServes(app string) bool {
	if c.handler == nil {
		return false
	}
	l, limited := c.handler.(appLimited)
	return !limited || l.servesApp(app)
}

// targets are what a durable sink stores one copy of r for: "" for the
// Go handler, then each destination's name.
func (c *forwarded) targets(app string) []string {
	var t []string
	if c.handlerServes(app) {
		t = append(t, "")
	}
	return append(t, c.fwd.Destinations(c.name, app)...)
}

// addForwarded registers the commands of f: a before-command with a Go
// handler too is an error (which would decide?); an after-command with
// one runs both. A command f lists twice is an error, as is a Go
// handler's name that differs from one of f's only in case (IM sends one
// spelling: the other would never run).
func (d *Dispatcher) addForwarded(f Forwarder) error {
	listed := make(map[string]bool)
	for _, name := range f.Commands() {
		if listed[name] {
			// Registered again, it would wrap the first as its Go handler
			// and deliver each callback twice.
			return fmt.Errorf("dispatcher: the forwarder lists %s twice: a command is forwarded once, to each of its destinations", name)
		}
		listed[name] = true
		for other := range d.commands {
			if other != name && strings.EqualFold(other, name) {
				return caseError(name, other)
			}
		}
		kind := KindAfter
		if _, before := d.opts.Rules[name]; before {
			kind = KindBefore
		}
		c := &forwarded{name: name, kind: kind, fwd: f}
		if h, ok := d.commands[name]; ok {
			if h.Kind() == KindBefore || kind == KindBefore {
				which := ""
				if names := f.Destinations(name, ""); len(names) > 0 {
					which = fmt.Sprintf(" (%q)", strings.Join(names, `", "`))
				}
				return fmt.Errorf("dispatcher: %s has a Go before-handler and a forward destination%s; keep one: "+
					"leave the command out of the destination's match (IMCALLBACK_FORWARD_MATCH for the destination "+
					"named default, or the match of its entry under forward:), or remove the handler", name, which)
			}
			c.handler = h
		}
		d.commands[name] = c
		if d.series[name] == nil {
			d.series[name] = newCommandSeries(d.metrics, name, kind)
		}
	}
	return nil
}
