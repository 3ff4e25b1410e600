package delivery

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

// retryAfterError is a failure that asks for a delay, as a forward
// destination's answer with Retry-After does.
type retryAfterError time.Duration

func (e retryAfterError) Error() string { return fmt.Sprintf("busy, retry after %v", time.Duration(e)) }

func (e retryAfterError) RetryAfter() time.Duration { return time.Duration(e) }

// TestRetryDelay: a failure is redelivered after its backoff, or after
// the delay the failure asks for when that is longer, but never after more
// than the longest backoff: a message waiting for its redelivery holds a
// place of the consumer's window.
func TestRetryDelay(t *testing.T) {
	o := Options{Backoff: []time.Duration{time.Second, 5 * time.Second, 30 * time.Second}}
	tests := []struct {
		name      string
		delivered uint64
		err       error
		want      time.Duration
	}{
		{"a plain failure", 1, errors.New("boom"), time.Second},
		{"a plain failure, later", 3, errors.New("boom"), 30 * time.Second},
		{"asks for less than the backoff", 2, retryAfterError(2 * time.Second), 5 * time.Second},
		{"asks for more than the backoff", 1, retryAfterError(10 * time.Second), 10 * time.Second},
		{"asks for more than the longest backoff", 1, retryAfterError(24 * time.Hour), 30 * time.Second},
		{"wrapped", 1, fmt.Errorf("forward: %w", retryAfterError(10*time.Second)), 10 * time.Second},
		{"asks for a negative delay", 1, retryAfterError(-time.Hour), time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := o.retryDelay(tt.delivered, tt.err); got != tt.want {
				t.Errorf("retryDelay(%d, %v) = %v, want %v", tt.delivered, tt.err, got, tt.want)
			}
		})
	}
}
