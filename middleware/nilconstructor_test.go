package middleware_test

import (
	"strings"
	"testing"

	"go.uber.org/fx"

	"github.com/imcallback/imcallback/middleware"
)

// TestAsMiddlewareNilConstructorFailsTheBuild: a nil constructor given to
// AsMiddleware fails the app's build with an error naming the helper,
// where fx itself panicked with a nil pointer dereference inside fx.New.
func TestAsMiddlewareNilConstructorFailsTheBuild(t *testing.T) {
	var unset func() middleware.Ordered
	tests := []struct {
		name string
		f    any
		want string
	}{
		{"nil", nil, "middleware: AsMiddleware(nil)"},
		{"nil func", unset, "middleware: AsMiddleware(nil func() middleware.Ordered)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			func() {
				defer func() {
					if p := recover(); p != nil {
						t.Fatalf("fx.New panicked: %v", p)
					}
				}()
				app := fx.New(fx.NopLogger, fx.Provide(middleware.AsMiddleware(tc.f)),
					fx.Invoke(fx.Annotate(func([]middleware.Ordered) {}, fx.ParamTags(middleware.Group))))
				err = app.Err()
			}()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}
