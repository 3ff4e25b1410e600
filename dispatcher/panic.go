package dispatcher

import (
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
)

// panicError is the error of a panic recovered from the program's code (a
// handler, its reply fields' MarshalJSON, a Forwarder): it wraps ErrPanic
// and says what was running (what, when not empty), the panic's value and
// where the panic was raised (panicSite), since the recover loses the
// stack that would say it. Call it from the deferred function that
// recovered v, while the panic's frames are still on the stack.
func panicError(what string, v any) error {
	if what != "" {
		return fmt.Errorf("%w: %s: %v%s", ErrPanic, what, v, panicSite())
	}
	return fmt.Errorf("%w: %v%s", ErrPanic, v, panicSite())
}

// panicSite is " (at function, file.go:line)" of the frame that raised the
// panic being recovered: the first one below the deepest runtime.gopanic
// on the stack (an encoder's recover that panics again sits above the
// original one) that is not the runtime's own (a nil pointer's
// dereference, a nil map's write or an index out of range is raised inside
// it), or "" when the stack does not tell.
func panicSite() string {
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
