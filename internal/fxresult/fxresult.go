// Package fxresult checks the constructors that the group helpers
// (dispatcher.AsCommands, middleware.AsMiddleware, admin.AsRoute, AsRoutes
// and AsCheck) annotate: fx puts a constructor's result into the group of
// the result's own type, so one of another type than the group's lands in
// a group nobody reads, silently.
// It also reads the build errors of an app that a user causes most often,
// a module wired twice (ProvidedTwice; OutsideGroup when the type is a
// command's or a middleware's, provided without its group helper) and a
// type nothing provides (MissingType), and refuses a nil option, on which
// fx panics (NilOption).
package fxresult

import (
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"strings"

	"go.uber.org/dig"
	"go.uber.org/fx"
)

// First returns an error naming f and its first result when f is a
// function whose first result is not of type want. Anything else (not a
// function, or a nil one) is left to fx, which reports it.
func First(f any, want reflect.Type) error {
	name, out, ok := Describe(f)
	if !ok || out == want {
		return nil
	}
	got := "nothing"
	if out != nil {
		got = out.String()
	}
	return fmt.Errorf("%s returns %s, not %v", name, got, want)
}

// Describe returns the name of f and the type of its first result (nil
// when it returns nothing) when f is a function that is not nil; ok is
// false for anything else.
func Describe(f any) (name string, first reflect.Type, ok bool) {
	v := reflect.ValueOf(f)
	if v.Kind() != reflect.Func || v.IsNil() {
		return "", nil, false
	}
	t := v.Type()
	name = t.String()
	if fn := runtime.FuncForPC(v.Pointer()); fn != nil {
		name = fn.Name()
	}
	if t.NumOut() > 0 {
		first = t.Out(0)
	}
	return name, first, true
}

// NilOption returns an error naming helper when an option of opts is nil
// (an fx.Option variable left unset, passed among the modules): fx itself
// panics on one inside fx.New, a nil pointer dereference that names
// neither the helper nor the option. fx.Options() is the option of none.
func NilOption(helper string, opts []fx.Option) error {
	for i, o := range opts {
		if o == nil {
			return fmt.Errorf("%s: option #%d of %d is nil (an fx.Option variable left unset?): "+
				"pass fx.Options() for no option, or leave it out", helper, i+1, len(opts))
		}
	}
	return nil
}

// Constructor returns the first of NilConstructor's, Annotated's and
// NotAFunction's errors for f given to helper: what every group helper
// refuses before it reads f's result. what names what f builds, wrap is
// the constructor to write instead, tags the annotations helper adds.
func Constructor(helper string, f any, what, wrap, tags string) error {
	if err := NilConstructor(helper, f, wrap); err != nil {
		return err
	}
	if err := Annotated(helper, f, tags); err != nil {
		return err
	}
	return NotAFunction(helper, f, what, wrap)
}

// NilConstructor returns an error naming helper when f is nil or a nil
// function (an unset variable of a function type, say), with wrap, the
// constructor to write instead: fx itself panics on either inside fx.New,
// a nil pointer dereference that names neither the helper nor the module.
func NilConstructor(helper string, f any, wrap string) error {
	if f == nil {
		return fmt.Errorf("%s(nil): it takes a constructor, fx.Provide(%s(%s))", helper, helper, wrap)
	}
	if v := reflect.ValueOf(f); v.Kind() == reflect.Func && v.IsNil() {
		return fmt.Errorf("%s(nil %T): the constructor is a nil function; set it before the app is built, fx.Provide(%s(%s))",
			helper, f, helper, wrap)
	}
	return nil
}

// NotAFunction returns an error naming helper and the type of f when f is
// a value that is not a function (a command or a middleware given where
// its constructor belongs), with wrap, the constructor to write instead:
// fx's own error prints the value's fields. A nil f or a function, nil or
// not, is left to the caller and fx.
func NotAFunction(helper string, f any, what, wrap string) error {
	if f == nil || reflect.ValueOf(f).Kind() == reflect.Func {
		return nil
	}
	return fmt.Errorf("%s(%T): it takes a constructor, a function returning the %s, not the %s itself: "+
		"wrap it in one, fx.Provide(%s(%s))", helper, f, what, what, helper, wrap)
}

// Annotated returns an error naming helper when f is the result of
// fx.Annotate (a constructor annotated with fx.ParamTags for a named
// dependency, say), which fx cannot annotate again, so helper cannot add
// its result to the group; group is the annotations helper adds, to give
// in the same fx.Annotate instead. fx's own error would say the helper was
// given no function, or (helper's check) a value instead of its
// constructor. Anything else is left to the other checks.
func Annotated(helper string, f any, group string) error {
	t := reflect.TypeOf(f)
	if t == nil || t.PkgPath() != "go.uber.org/fx" || t.Name() != "annotated" {
		return nil
	}
	return fmt.Errorf("%s(fx.Annotate(…)): the constructor is already annotated, and fx cannot annotate it again to add it to the group: "+
		"give the group's annotations in the same fx.Annotate instead of %s, fx.Provide(fx.Annotate(constructor, <its annotations>, %s))",
		helper, helper, group)
}

// ProvidedTwice reports whether err, an app's build error, comes of a type
// provided twice (a module wired twice), and then what dig says of it with
// the type named: "cannot provide *T from …: already provided by …". dig's
// root cause names only the first provider, not the type.
func ProvidedTwice(err error) (string, bool) {
	if err == nil {
		return "", false
	}
	root := dig.RootCause(err)
	if !strings.HasPrefix(root.Error(), "already provided by") {
		return "", false
	}
	for e := err; e != nil; e = errors.Unwrap(e) {
		if next := errors.Unwrap(e); next != nil && next.Error() == root.Error() {
			return e.Error(), true
		}
	}
	return root.Error(), true
}

// groupElems are the types the group helpers put into their value
// groups, as dig names them in its errors, with the helper and the group.
var groupElems = []struct{ typ, helper, group string }{
	{"dispatcher.Command", "dispatcher.AsCommand", "commands"},
	{"[]dispatcher.Command", "dispatcher.AsCommands", "commands"},
	{"middleware.Ordered", "middleware.AsMiddleware", "middleware"},
}

// OutsideGroup reports whether what, as ProvidedTwice says it, names a
// type a group helper (dispatcher.AsCommand, AsCommands,
// middleware.AsMiddleware) puts into its group, and then why it was
// provided twice and what to do: constructors of commands or middleware
// given to fx.Provide without the helper, the easiest mistake to make
// with them, are each a provider of that type, and fx takes one; a
// module wired twice, which it looks like, is not the cause.
func OutsideGroup(what string) (string, bool) {
	for _, g := range groupElems {
		if strings.HasPrefix(what, "cannot provide "+g.typ+" ") {
			return fmt.Sprintf("%s: constructors given to fx.Provide without %s provide %s outside the %s group, "+
				"where it would never run: register each with fx.Provide(%s(constructor))",
				what, g.helper, g.typ, g.group, g.helper), true
		}
	}
	return "", false
}

// MissingType reports whether err, an app's build error, comes of a type
// nothing provides, and then says which type and who needs it: the
// constructor as dig names it (its package, name, file and line), or,
// for one fx.Annotate wrapped (dispatcher.AsCommand, AsCommands,
// middleware.AsMiddleware), which dig names "reflect".makeFuncStub, the
// value group it was given to. dig's root cause, "missing type: T",
// names no constructor.
func MissingType(err error) (string, bool) {
	if err == nil {
		return "", false
	}
	root := dig.RootCause(err)
	if !strings.HasPrefix(root.Error(), "missing type") {
		return "", false
	}
	const (
		deps  = "missing dependencies for function "
		group = "could not build value group "
	)
	who, inGroup := "", ""
	for e := err; e != nil; e = errors.Unwrap(e) {
		msg := e.Error()
		if g, ok := strings.CutPrefix(msg, group); ok {
			inGroup, _, _ = strings.Cut(g, ": ")
		}
		if f, ok := strings.CutPrefix(msg, deps); ok {
			if f, ok = strings.CutSuffix(f, ": "+root.Error()); ok {
				who = f
			}
		}
	}
	switch {
	case who != "" && !strings.HasPrefix(who, `"reflect".makeFuncStub`):
		who = "needed by " + who
	case inGroup != "":
		who = "needed by a constructor of the value group " + inGroup +
			" (one given to dispatcher.AsCommand, dispatcher.AsCommands or middleware.AsMiddleware, which fx does not name)"
	default:
		who = "needed by a constructor given to fx.Annotate, which fx does not name"
	}
	return fmt.Sprintf("%s, %s", root.Error(), who), true
}
