package dispatcher

import (
	"context"
	"encoding"
	"encoding/json"
	"reflect"

	"github.com/imcallback/imcallback/internal/tooling"
)

// Descriptor describes one callback command: its CallbackCommand and how
// the dispatcher treats it. BeforeCommand and AfterCommand implement it; the
// command catalogue and its generated reference are built from descriptors.
type Descriptor interface {
	// Name is the CallbackCommand, e.g. "C2C.CallbackBeforeSendMsg".
	Name() string
	// Kind is KindBefore or KindAfter.
	Kind() Kind
	// Tooling opens the descriptor's types to this module's catalogue,
	// generator and tests; only they can make the key.
	Tooling(tooling.Key) Tooling
}

// Tooling is what the catalogue and the documentation generator read of a
// descriptor, reached through Descriptor.Tooling.
type Tooling interface {
	// PayloadType is the type a request body decodes into.
	PayloadType() reflect.Type
	// ReplyType is the struct of extra answer fields the command accepts,
	// or nil when it accepts none.
	ReplyType() reflect.Type
	// Decode decodes body into a new payload, exactly as a handler would
	// receive it, and returns a pointer to it.
	Decode(body []byte) (any, error)
	// HandleAny builds a command whose handler receives the decoded
	// *Event[T] as any, for tooling that handles every command alike
	// (recorders, tests). After-commands ignore the returned Decision.
	HandleAny(fn AnyFunc, opts ...Option) Command
}

// AnyFunc is the untyped handler of Tooling.HandleAny; ev is a
// *Event[T] of the descriptor's payload type.
type AnyFunc func(ctx context.Context, ev any) (Decision, error)

// NoReply is the reply type of before-commands that accept no extra answer
// fields: their handlers can allow, deny or drop, never modify.
type NoReply struct{}

// Reply is a before-handler's typed answer: a decision whose extra answer
// fields, if any, are of type R, the reply struct of its command. The zero
// value allows the action unchanged. Build one with the methods of the
// command's BeforeCommand (Allow, Deny, DenyWithCode, Drop, Modify).
type Reply[R any] struct {
	code   int
	info   string
	fields *R
	deny   bool // built by DenyWithCode: a refusal, whatever the code
}

// Decision converts the reply to the untyped Decision the dispatcher checks
// against the command's rule.
func (r Reply[R]) Decision() Decision {
	d := Decision{Code: r.code, Info: r.info, refusal: r.deny}
	if r.fields != nil {
		if _, none := any(*r.fields).(NoReply); !none {
			d.Reply = *r.fields
		}
	}
	return d
}

// Fields returns the reply fields and whether any were set.
func (r Reply[R]) Fields() (R, bool) {
	if r.fields == nil {
		var zero R
		return zero, false
	}
	return *r.fields, true
}

// objectType reports whether a value of type t can encode as a JSON
// object, which a before-command's reply fields must: a struct, a map, a
// pointer to one, an interface (its value decides), or a type with its own
// MarshalJSON (what it writes decides). A string, a number or a slice
// never can, nor a type with a MarshalText and no MarshalJSON, which
// encodes as a JSON string (the fields are sent as a value of t, so a
// MarshalText of *t counts only when t is that pointer).
func objectType(t reflect.Type) bool {
	marshaler := reflect.TypeFor[json.Marshaler]()
	if t.Implements(marshaler) || reflect.PointerTo(t).Implements(marshaler) {
		return true
	}
	if t.Implements(reflect.TypeFor[encoding.TextMarshaler]()) {
		return false
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct, reflect.Map, reflect.Interface:
		return true
	}
	return false
}

// ReplyFunc handles a before-callback of payload T and answers with the
// reply fields R its command supports.
type ReplyFunc[T, R any] func(ctx context.Context, ev *Event[T]) (Reply[R], error)

// BeforeCommand is the typed descriptor of a before-command (or a
// request-response command answered like one) whose payload is T and
// whose extra answer fields are R (NoReply when it accepts none). Its
// Handle method builds the Command, so a handler can return only the reply
// fields its command supports. Values are immutable; the command packages
// declare one per command.
type BeforeCommand[T, R any] struct{ name string }

// NewBeforeCommand returns the descriptor of before-command name. For a
// command the catalogue lacks, which has no rule there, DenyWithCode and
// Drop are sent as a plain deny: it takes no custom deny code and no drop.
func NewBeforeCommand[T, R any](name string) BeforeCommand[T, R] {
	return BeforeCommand[T, R]{name: name}
}

// Name implements Descriptor.
func (c BeforeCommand[T, R]) Name() string { return c.name }

// Kind implements Descriptor: KindBefore.
func (c BeforeCommand[T, R]) Kind() Kind { return KindBefore }

// Tooling implements Descriptor.
func (c BeforeCommand[T, R]) Tooling(tooling.Key) Tooling { return beforeTooling[T, R](c) }

// beforeTooling is a BeforeCommand's Tooling.
type beforeTooling[T, R any] BeforeCommand[T, R]

// PayloadType implements Tooling.
func (c beforeTooling[T, R]) PayloadType() reflect.Type { return reflect.TypeFor[T]() }

// ReplyType implements Tooling: nil when R is NoReply.
func (c beforeTooling[T, R]) ReplyType() reflect.Type {
	t := reflect.TypeFor[R]()
	if t == reflect.TypeFor[NoReply]() {
		return nil
	}
	return t
}

// Decode implements Tooling.
func (c beforeTooling[T, R]) Decode(body []byte) (any, error) { return decodePayload[T](c.name, body) }

// Handle builds the command running fn. The dispatcher still checks the
// decision against the command's rule: a deny code outside the allowed
// range, or a drop where the command cannot drop, is sent as a plain deny.
func (c BeforeCommand[T, R]) Handle(fn ReplyFunc[T, R], opts ...Option) Command {
	cmd := newTyped(c.name, KindBefore, func(ctx context.Context, ev *Event[T]) (Decision, error) {
		r, err := fn(ctx, ev)
		if err != nil {
			return Decision{}, err
		}
		return r.Decision(), nil
	}, nil, opts)
	cmd.reply = reflect.TypeFor[R]()
	cmd.noHandler = fn == nil
	return cmd
}

// HandleAny implements Tooling.
func (c beforeTooling[T, R]) HandleAny(fn AnyFunc, opts ...Option) Command {
	cmd := newTyped(c.name, KindBefore, func(ctx context.Context, ev *Event[T]) (Decision, error) { return fn(ctx, ev) }, nil, opts)
	cmd.noHandler = fn == nil
	return cmd
}

// Allow lets the action proceed unchanged.
func (c BeforeCommand[T, R]) Allow() Reply[R] { return Reply[R]{code: CodeAllow} }

// Deny refuses the action; IM returns its fixed error to the caller.
func (c BeforeCommand[T, R]) Deny(info string) Reply[R] { return Reply[R]{code: CodeDeny, info: info} }

// DenyWithCode refuses the action and passes code and info to the client;
// the code must be inside the command's allowed range. Any other code, 0
// and 2 included, is logged and sent as a plain deny: it never allows or
// drops.
func (c BeforeCommand[T, R]) DenyWithCode(code int, info string) Reply[R] {
	return Reply[R]{code: code, info: info, deny: true}
}

// Drop silently discards a message (message commands only: for any other
// command, and one the catalogue lacks, it is sent as a plain deny, code 1,
// and logged as DenyWithCode's code outside the range is).
func (c BeforeCommand[T, R]) Drop() Reply[R] { return Reply[R]{code: CodeDrop} }

// Modify lets the action proceed with the reply fields applied.
func (c BeforeCommand[T, R]) Modify(fields R) Reply[R] {
	return Reply[R]{code: CodeAllow, fields: &fields}
}

// AfterCommand is the typed descriptor of an after-command whose payload is
// T. Values are immutable; the command packages declare one per command.
type AfterCommand[T any] struct{ name string }

// NewAfterCommand returns the descriptor of after-command name.
func NewAfterCommand[T any](name string) AfterCommand[T] { return AfterCommand[T]{name: name} }

// Name implements Descriptor.
func (c AfterCommand[T]) Name() string { return c.name }

// Kind implements Descriptor: KindAfter.
func (c AfterCommand[T]) Kind() Kind { return KindAfter }

// Tooling implements Descriptor.
func (c AfterCommand[T]) Tooling(tooling.Key) Tooling { return afterTooling[T](c) }

// afterTooling is an AfterCommand's Tooling.
type afterTooling[T any] AfterCommand[T]

// PayloadType implements Tooling.
func (c afterTooling[T]) PayloadType() reflect.Type { return reflect.TypeFor[T]() }

// ReplyType implements Tooling: after-commands accept no reply fields.
func (c afterTooling[T]) ReplyType() reflect.Type { return nil }

// Decode implements Tooling.
func (c afterTooling[T]) Decode(body []byte) (any, error) { return decodePayload[T](c.name, body) }

// Handle builds the command running fn.
func (c AfterCommand[T]) Handle(fn AfterFunc[T], opts ...Option) Command {
	return After(c.name, fn, opts...)
}

// HandleAny implements Tooling.
func (c afterTooling[T]) HandleAny(fn AnyFunc, opts ...Option) Command {
	cmd := newTyped(c.name, KindAfter, nil, func(ctx context.Context, ev *Event[T]) error {
		_, err := fn(ctx, ev)
		return err
	}, opts)
	cmd.noHandler = fn == nil
	return cmd
}

// decodePayload decodes body the way NewEvent does and returns *T.
func decodePayload[T any](name string, body []byte) (any, error) {
	ev, err := NewEvent[T](&Request{Command: name, Body: body})
	if err != nil {
		return nil, err
	}
	return &ev.Payload, nil
}
