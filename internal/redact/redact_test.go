package redact_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/imcallback/imcallback/internal/redact"
)

func TestError(t *testing.T) {
	cause := fmt.Errorf(`malformed HTTP status code "/hooks/k3y?token=t0k": %w`, context.DeadlineExceeded)
	tests := []struct {
		name    string
		err     error
		secrets []string
		want    string
		same    bool
	}{
		{"nil stays nil", nil, []string{"x"}, "", true},
		{"no secret in the text", cause, []string{"other"}, cause.Error(), true},
		{"empty secrets are ignored", cause, []string{"", ""}, cause.Error(), true},
		{"each secret is replaced", cause, []string{"k3y", "t0k"},
			`malformed HTTP status code "/hooks/[redacted]?token=[redacted]": context deadline exceeded`, false},
		{"the first listed wins where two overlap", cause, []string{"/hooks/k3y?token=t0k", "/hooks/k3y"},
			`malformed HTTP status code "[redacted]": context deadline exceeded`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := redact.Error(tt.err, tt.secrets...)
			if tt.err == nil {
				if got != nil {
					t.Fatalf("got %v, want nil", got)
				}
				return
			}
			if got.Error() != tt.want {
				t.Errorf("text %q, want %q", got.Error(), tt.want)
			}
			if (got == tt.err) != tt.same {
				t.Errorf("returned the same error: %v, want %v", got == tt.err, tt.same)
			}
			if !errors.Is(got, context.DeadlineExceeded) || !errors.Is(got, tt.err) {
				t.Errorf("%v no longer unwraps to its cause", got)
			}
		})
	}
}
