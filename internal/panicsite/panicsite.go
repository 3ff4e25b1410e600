// Package panicsite tells where a recovered panic was raised: the recover
// loses the stack that would say it, and "runtime error: invalid memory
// address or nil pointer dereference" alone does not tell a program's
// author where in a handler to look.
package panicsite

import (
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
)

// Describe is " (at function, file.go:line)" of the frame that raised the
// panic being recovered: the first one below the deepest runtime.gopanic
// on the stack (an encoder's recover that panics again sits above the
// original one) that is not the runtime's own (a nil pointer's
// dereference, a nil map's write or an index out of range is raised inside
// it), or "" when the stack does not tell. Call it from the deferred
// function that recovered the panic, while the panic's frames are still on
// the stack.
func Describe() string {
	pcs := make([]uintptr, 64)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(2, pcs)])
	site, raised := "", false
	for {
		f, more := frames.Next()
		switch {
		case f.Function == "runtime.gopanic":
			raised = true
		case raised && !strings.HasPrefix(f.Function, "runtime.") && !strings.HasPrefix(f.Function, "internal/runtime/"):
			site, raised = fmt.Sprintf(" (at %s, %s:%d)", f.Function, filepath.Base(f.File), f.Line), false
		}
		if !more {
			return site
		}
	}
}

// Error is the error of a recovered panic's value v: it wraps sentinel and
// ends with where the panic was raised (Describe). Call it, like Describe,
// from the deferred function that recovered v.
func Error(sentinel error, v any) error {
	return fmt.Errorf("%w: %v%s", sentinel, v, Describe())
}
