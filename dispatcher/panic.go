package dispatcher

import (
	"fmt"

	"github.com/imcallback/imcallback/internal/panicsite"
)

// panicError is the error of a panic recovered from the program's code (a
// handler, its reply fields' MarshalJSON, a Forwarder): it wraps ErrPanic
// and says what was running (what, when not empty), the panic's value and
// where the panic was raised (panicsite.Describe), since the recover loses the
// stack that would say it. Call it from the deferred function that
// recovered v, while the panic's frames are still on the stack.
func panicError(what string, v any) error {
	if what != "" {
		return fmt.Errorf("%w: %s: %v%s", ErrPanic, what, v, panicsite.Describe())
	}
	return panicsite.Error(ErrPanic, v)
}
