package dispatcher

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"time"

	gojson "github.com/goccy/go-json"

	"github.com/imcallback/imcallback/internal/lenient"
	"github.com/imcallback/imcallback/internal/tooling"
	"github.com/imcallback/imcallback/protocol"
)

// Kind says how IM treats a command's answer.
type Kind int

const (
	// KindBefore commands decide: the answer allows, denies or modifies the action.
	KindBefore Kind = iota + 1
	// KindAfter commands notify: IM ignores the answer.
	KindAfter
)

// String implements fmt.Stringer.
func (k Kind) String() string {
	switch k {
	case KindBefore:
		return "before"
	case KindAfter:
		return "after"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Request is one verified callback as received: what a durable sink stores
// and what Process runs.
type Request struct {
	// Command is the CallbackCommand the request was routed on.
	Command string `json:"command"`
	// Params are the query parameters IM appended to the URL.
	Params protocol.Params `json:"params"`
	// Body is the raw JSON body.
	Body json.RawMessage `json:"body"`
	// ReceivedAt is when the service read the request.
	ReceivedAt time.Time `json:"received_at"`
	// RequestID is the X-Request-Id of the HTTP request.
	RequestID string `json:"request_id,omitempty"`
	// Target is the destination a stored copy is for (gateway mode), ""
	// for the Go handler.
	Target string `json:"target,omitempty"`
	// Targets are set by the dispatcher before a durable sink stores a
	// forwarded after-callback: the sink stores one copy per target,
	// each with its Target. Empty, one copy for the Go handler.
	Targets []string `json:"-"`
}

// Event is what a handler receives: the request's metadata and its body
// decoded into T.
type Event[T any] struct {
	// Command is the CallbackCommand.
	Command string
	// AppID is the SdkAppid the request was verified for.
	AppID string
	// ClientIP is the address of the end user's client, as IM reports it.
	ClientIP string
	// OptPlatform is the platform as sent; Platform is its normalised form.
	OptPlatform string
	Platform    string // protocol.NormalizePlatform(OptPlatform): IOS becomes iOS, macOS Mac
	// RequestID identifies the HTTP request in logs.
	RequestID string
	// ReceivedAt is when the service read the request.
	ReceivedAt time.Time
	// Payload is the body decoded into T; unknown fields are ignored.
	Payload T
	// Raw is the body as received.
	Raw json.RawMessage
}

// Command is a handler registered for one CallbackCommand. Build one with
// its command's descriptor, c2c.BeforeSendMsgCommand.Handle(fn) say, or,
// for a command the catalogue lacks, with Before or After.
type Command interface {
	// Name is the CallbackCommand handled, e.g. "Group.CallbackAfterCreateTopic".
	Name() string
	// Kind is KindBefore or KindAfter.
	Kind() Kind
	// Handle decodes the request and runs the handler. After-commands
	// return the zero Decision.
	Handle(ctx context.Context, r *Request) (Decision, error)
}

// ErrDecode wraps a body that is valid JSON but does not fit the payload type.
var ErrDecode = errors.New("dispatcher: payload does not decode")

// Option tunes a command built by a descriptor's Handle (or by Before or After).
type Option func(*options)

type options struct {
	fallback *Decision
	// fallbackReply is the type of the fallback's reply fields; nil without.
	fallbackReply reflect.Type
	apps          []string
	limited       bool // ForApps was given, even with no app: then no app is served
}

// ForApps limits a command to the callbacks of some apps (SdkAppids): for
// any other app the command is treated as unknown (answered OK, counted in
// imcallback_unknown_commands_total; with durable delivery, acknowledged
// as having no handler). The dispatcher module logs a warning at start for
// an app that is not configured (IMCALLBACK_SDKAPPID), whose callbacks
// are never accepted, and for ForApps without any app.
func ForApps(ids ...string) Option {
	return func(o *options) { o.apps, o.limited = append(o.apps, ids...), true }
}

// appLimited is implemented by commands registered with ForApps.
type appLimited interface {
	servesApp(id string) bool
}

// appListed is implemented by commands that can name the apps ForApps
// gave them.
type appListed interface {
	// limitedTo returns the apps ForApps named, and whether it was given.
	limitedTo() (apps []string, limited bool)
}

// WithFallback sets the answer sent when this before-handler fails, panics
// or misses its deadline, overriding the configured default. Build it with
// the command's own verbs, e.g. WithFallback(c2c.BeforeSendMsgCommand.Deny("try later")).
// New refuses it on an after-command, whose answer IM ignores.
func WithFallback[R any](r Reply[R]) Option {
	d := r.Decision()
	return func(o *options) {
		o.fallback, o.fallbackReply = &d, nil
		if d.Reply != nil {
			o.fallbackReply = reflect.TypeFor[R]() // the command's R, even when it is an interface
		}
	}
}

// Fallbacker is implemented by commands that carry their own fallback decision.
type Fallbacker interface {
	Fallback() (Decision, bool)
}

// beforeFunc is the untyped form every before-handler is run as.
type beforeFunc[T any] func(ctx context.Context, ev *Event[T]) (Decision, error)

// AfterFunc handles an after-callback; an error means the event was not applied.
type AfterFunc[T any] func(ctx context.Context, ev *Event[T]) error

// Before builds a before-command for a CallbackCommand the catalogue lacks,
// whose payload is T and whose extra answer fields are R (NoReply for
// none). It is NewBeforeCommand[T, R](name).Handle(fn, opts...): declare
// the descriptor once and answer with its verbs.
func Before[T, R any](name string, fn ReplyFunc[T, R], opts ...Option) Command {
	return NewBeforeCommand[T, R](name).Handle(fn, opts...)
}

// After builds an after-command for a CallbackCommand the catalogue lacks,
// whose handler receives payloads of type T.
func After[T any](name string, fn AfterFunc[T], opts ...Option) Command {
	return newTyped[T](name, KindAfter, nil, fn, opts) // a nil fn leaves no handler: hasHandler reports it
}

// newTyped builds the Command of a handler.
func newTyped[T any](name string, kind Kind, before beforeFunc[T], after AfterFunc[T], opts []Option) *typed[T] {
	c := &typed[T]{name: name, kind: kind, before: before, after: after}
	for _, o := range opts {
		o(&c.opts)
	}
	return c
}

// typed adapts a generic handler to Command.
type typed[T any] struct {
	name   string
	kind   Kind
	before beforeFunc[T]
	after  AfterFunc[T]
	opts   options
	reply  reflect.Type // the reply fields' type of a typed before-command; nil when not known
	// noHandler is set when the handler func given was nil: New refuses
	// the command rather than let every callback of it panic.
	noHandler bool
}

// handlerSet is implemented by commands that can tell New their handler
// func is missing.
type handlerSet interface {
	hasHandler() bool
}

// hasHandler implements handlerSet.
func (c *typed[T]) hasHandler() bool { return !c.noHandler && (c.before != nil || c.after != nil) }

// replyTypes implements replyTyped.
func (c *typed[T]) replyTypes() (command, fallback reflect.Type) {
	return c.reply, c.opts.fallbackReply
}

// ReplyType opens the reply type a typed before-command was built with to
// this module's catalogue, which refuses at start a catalogued command
// registered with reply fields other than its own; only the module's
// packages can make the key. It is nil when not known: an after-command,
// or one built by a descriptor's Tooling.HandleAny.
func (c *typed[T]) ReplyType(tooling.Key) reflect.Type { return c.reply }

// replyTyped is implemented by commands that know their reply type and
// their fallback's, so New can refuse a fallback built with another
// command's verbs.
type replyTyped interface {
	replyTypes() (command, fallback reflect.Type)
}

func (c *typed[T]) Name() string { return c.name }
func (c *typed[T]) Kind() Kind   { return c.kind }

// limitedTo implements appListed.
func (c *typed[T]) limitedTo() ([]string, bool) { return c.opts.apps, c.opts.limited }

// servesApp implements appLimited.
func (c *typed[T]) servesApp(id string) bool {
	return !c.opts.limited || slices.Contains(c.opts.apps, id) // ForApps() with an empty list serves nobody: fail closed
}

// Fallback implements Fallbacker.
func (c *typed[T]) Fallback() (Decision, bool) {
	if c.opts.fallback == nil {
		return Decision{}, false
	}
	return *c.opts.fallback, true
}

func (c *typed[T]) Handle(ctx context.Context, r *Request) (Decision, error) {
	ev, err := NewEvent[T](r)
	if err != nil {
		return Decision{}, err
	}
	if c.kind == KindBefore {
		return c.before(ctx, ev)
	}
	return Decision{}, c.after(ctx, ev)
}

// NewEvent decodes r's body into an Event[T].
func NewEvent[T any](r *Request) (*Event[T], error) {
	ev := &Event[T]{
		Command:     r.Command,
		AppID:       r.Params.SdkAppid,
		ClientIP:    r.Params.ClientIP,
		OptPlatform: r.Params.OptPlatform,
		Platform:    protocol.NormalizePlatform(r.Params.OptPlatform),
		RequestID:   r.RequestID,
		ReceivedAt:  r.ReceivedAt,
		Raw:         r.Body,
	}
	// goccy/go-json is encoding/json-compatible and decodes Tencent's
	// AfterCreateTopic sample about six times faster; decoding is the largest
	// per-request cost.
	if err := gojson.Unmarshal(r.Body, &ev.Payload); err != nil {
		// A scalar of the wrong JSON type that still means a value of the
		// field's type (a quoted number, 1.0 for 1, …) gets a second
		// chance rather than making the whole callback undecodable.
		rewritten, ok := lenient.Body(reflect.TypeFor[T](), r.Body)
		if !ok {
			return nil, fmt.Errorf("%w: %s: %w", ErrDecode, r.Command, err)
		}
		var retry T
		if err := gojson.Unmarshal(rewritten, &retry); err != nil {
			// This error names the field the second chance could not read
			// either; the first one's may name a quoted number it read.
			return nil, fmt.Errorf("%w: %s: %w", ErrDecode, r.Command, err)
		}
		ev.Payload = retry
	}
	return ev, nil
}
