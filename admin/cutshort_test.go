package admin

import (
	"context"
	"errors"
	"testing"
)

// TestCutShortSaysWhoCutTheRequest: the stop's cause is told from a caller
// that left, and both from a request whose context has not ended.
func TestCutShortSaysWhoCutTheRequest(t *testing.T) {
	stopped, stop := context.WithCancelCause(context.Background())
	stop(ErrStopping)
	child, cancel := context.WithTimeout(stopped, 0) // a route's own bound on the request's context
	defer cancel()
	left, leave := context.WithCancel(context.Background())
	leave()
	served, serve := context.WithCancelCause(context.Background())
	serve(errors.New("served")) // as the admin listener ends a request's context once it is answered
	tests := []struct {
		name             string
		ctx              context.Context
		stopping, caller bool
		want             string
	}{
		{"the stop", stopped, true, false, "the request was cut short (the service is stopping)"},
		{"a route's context under the stop's", child, true, false, "the request was cut short (the service is stopping)"},
		{"the caller left", left, false, true, "the request was cut short (its caller left)"},
		{"not ended", context.Background(), false, false, "the request was cut short"},
		{"ended once answered", served, false, false, "the request was cut short"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Stopping(tt.ctx); got != tt.stopping {
				t.Errorf("Stopping = %v, want %v", got, tt.stopping)
			}
			if got := CallerLeft(tt.ctx); got != tt.caller {
				t.Errorf("CallerLeft = %v, want %v", got, tt.caller)
			}
			if got := CutShort(tt.ctx); got != tt.want {
				t.Errorf("CutShort = %q, want %q", got, tt.want)
			}
		})
	}
}
