package admin

import (
	"context"
	"errors"
)

// ErrStopping is the cause (context.Cause) of an admin request's context
// that the service's stop ended. A context its caller ended (the client
// closed the connection: Ctrl-C on a replay, a --timeout, the console
// giving up) has context.Canceled as its cause instead.
var ErrStopping = errors.New("the service is stopping")

// CutShort says why the request whose context is ctx was cut short: by
// the service's stop ("the request was cut short (the service is
// stopping)"), by its caller, who left ("the request was cut short (its
// caller left)"), or, its context not ended, by something else it waited
// for ("the request was cut short"). A route answering an error that
// wraps context.Canceled starts its message with it, so that the log does
// not say the service is stopping when an operator interrupted a command.
func CutShort(ctx context.Context) string {
	switch {
	case Stopping(ctx):
		return "the request was cut short (the service is stopping)"
	case CallerLeft(ctx):
		return "the request was cut short (its caller left)"
	}
	return "the request was cut short"
}

// Stopping reports whether the service's stop ended ctx, an admin
// request's context.
func Stopping(ctx context.Context) bool {
	return errors.Is(context.Cause(ctx), ErrStopping)
}

// CallerLeft reports whether the caller of the admin request whose
// context is ctx left before it was answered: net/http ends a request's
// context when its client closes the connection.
func CallerLeft(ctx context.Context) bool {
	return errors.Is(context.Cause(ctx), context.Canceled)
}
