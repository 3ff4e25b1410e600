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

func TestStandaloneText(t *testing.T) {
	const long = "tok_5b8d3a91"
	tests := []struct {
		name    string
		s       string
		secrets []string
		want    string
	}{
		{"no secret", "net/http: timeout", []string{"zz"}, "net/http: timeout"},
		{"a short one inside a word stays", "net/http: HTTP/1.x", []string{"/h", "/1"}, "net/http: HTTP/1.x"},
		{"a short one standing alone goes", `status code "/h" for /h`, []string{"/h"}, `status code "[redacted]" for [redacted]`},
		{"at the edges", "ab and ab", []string{"ab"}, "[redacted] and [redacted]"},
		{"a short one in a word and alone", "unavailable: Bearer ab", []string{"ab"}, "unavailable: Bearer [redacted]"},
		{"letters beyond ASCII touch it too", "éab ab", []string{"ab"}, "éab [redacted]"},
		{"so do '_' and '-'", "sdk_app_id read-only: id", []string{"id", "only"}, "sdk_app_id read-only: [redacted]"},
		{"a long one goes wherever it is", "Bearer%20" + long + "x", []string{long}, "Bearer%20[redacted]x"},
		{"the first listed wins", `"/h?on" connection`, []string{"/h?on", "/h", "on"}, `"[redacted]" connection`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := redact.StandaloneText(tt.s, tt.secrets...); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
	err := fmt.Errorf(`code "/h": %w`, context.DeadlineExceeded)
	if got := redact.Standalone(err, "/h"); got.Error() != `code "[redacted]": context deadline exceeded` || !errors.Is(got, context.DeadlineExceeded) {
		t.Errorf("Standalone: %v", got)
	}
	if got := redact.Standalone(err, "co"); got != err {
		t.Errorf("Standalone with no standalone secret returned %v, not the error itself", got)
	}
}
