// Package fxresult checks the constructors that the group helpers
// (dispatcher.AsCommands, middleware.AsMiddleware) annotate: fx puts a
// constructor's result into the group of the result's own type, so one of
// another type than the group's lands in a group nobody reads, silently.
package fxresult

import (
	"fmt"
	"reflect"
	"runtime"
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
