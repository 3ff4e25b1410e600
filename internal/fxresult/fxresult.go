// Package fxresult checks the constructors that the group helpers
// (dispatcher.AsCommands, middleware.AsMiddleware) annotate: fx puts a
// constructor's result into the group of the result's own type, so one of
// another type than the group's lands in a group nobody reads, silently.
// It also reads the one build error of an app that a user causes most
// often, a module wired twice (ProvidedTwice).
package fxresult

import (
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"strings"

	"go.uber.org/dig"
)

// First returns an error naming f and its first result when f is a
// function whose first result is not of type want. Anything else (not a
// function, or a nil one) is left to fx, which reports it.
func First(f any, want reflect.Type) error {
	v := reflect.ValueOf(f)
	if v.Kind() != reflect.Func || v.IsNil() {
		return nil
	}
	t := v.Type()
	if t.NumOut() > 0 && t.Out(0) == want {
		return nil
	}
	got := "nothing"
	if t.NumOut() > 0 {
		got = t.Out(0).String()
	}
	name := t.String()
	if fn := runtime.FuncForPC(v.Pointer()); fn != nil {
		name = fn.Name()
	}
	return fmt.Errorf("%s returns %s, not %v", name, got, want)
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
