package delivery

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/labstack/echo/v4"
	"github.com/nats-io/nats.go"
)

// TestAdminErrorsHaveTheirStatus: what a caller can act on is not a 500.
func TestAdminErrorsHaveTheirStatus(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want int // 0: the error passes through unchanged
	}{
		{"not started", ErrNotStarted, http.StatusServiceUnavailable},
		{"restarting", fmt.Errorf("list: %w", errRestarting), http.StatusServiceUnavailable},
		{"streams not set up", errNotEnsured, http.StatusServiceUnavailable},
		{"a NATS timeout", fmt.Errorf("stream: %w", nats.ErrTimeout), http.StatusServiceUnavailable},
		{"a deadline", fmt.Errorf("scan: %w", context.DeadlineExceeded), http.StatusServiceUnavailable},
		{"a body over its limit", fmt.Errorf("decode: %w", &http.MaxBytesError{Limit: 1 << 20}), http.StatusRequestEntityTooLarge},
		{"a bad request stays", echo.NewHTTPError(http.StatusBadRequest, "bad"), http.StatusBadRequest},
		{"anything else stays", errors.New("disk on fire"), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := withStatus(func(echo.Context) error { return tt.err })(nil)
			var he *echo.HTTPError
			switch {
			case tt.want == 0 && got != tt.err:
				t.Fatalf("got %v, want the error unchanged", got)
			case tt.want != 0 && (!errors.As(got, &he) || he.Code != tt.want):
				t.Fatalf("got %v, want status %d", got, tt.want)
			}
		})
	}
	if err := withStatus(func(echo.Context) error { return nil })(nil); err != nil {
		t.Fatalf("a success became %v", err)
	}
}
