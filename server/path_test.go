package server

import (
	"strings"
	"testing"

	"go.uber.org/fx/fxtest"
	"go.uber.org/zap"

	"github.com/imcallback/imcallback/config"
)

// TestPublicPathIsTakenLiterally: echo reads ':' and '*' in a route as a
// parameter and a wildcard, so IMCALLBACK_PATH=/im/:secret served the
// callback on /im/anything, and a secret kept in the path (on top of the
// token) opened to any guess. Such a path now stops the start.
func TestPublicPathIsTakenLiterally(t *testing.T) {
	tests := []struct {
		path string
		want string // in the error; "" when the start succeeds
	}{
		{"/im/callback", ""},
		{"/hooks/im-3f9a_c2.b~x", ""},
		{"/im/:secret", `"/im/:secret"`},
		{"/hooks/s3cr*t", `"/hooks/s3cr*t"`},
		{"/im/*", `"/im/*"`},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			cfg := config.Default()
			cfg.Path = tt.path
			_, err := newPublic(publicIn{Lifecycle: fxtest.NewLifecycle(t), Config: &cfg, Log: zap.NewNop()})
			switch {
			case tt.want == "" && err != nil:
				t.Fatal(err)
			case tt.want == "":
			case err == nil:
				t.Fatalf("accepted; want an error naming %s", tt.want)
			case !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "IMCALLBACK_PATH"):
				t.Fatalf("error %q does not name %s and IMCALLBACK_PATH", err, tt.want)
			}
		})
	}
}
