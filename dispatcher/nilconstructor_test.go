package dispatcher_test

import (
	"strings"
	"testing"

	"go.uber.org/fx"

	"github.com/imcallback/imcallback/dispatcher"
)

// TestNilConstructorFailsTheBuild: a nil constructor given to AsCommand or
// AsCommands (an unset variable of a function type, say) fails the app's
// build with an error naming the helper, where fx itself panicked with a
// nil pointer dereference inside fx.New.
func TestNilConstructorFailsTheBuild(t *testing.T) {
	var unset func() dispatcher.Command
	var unsetList func() []dispatcher.Command
	tests := []struct {
		name    string
		provide func() any
		want    string
	}{
		{"AsCommand(nil)", func() any { return dispatcher.AsCommand(nil) }, "dispatcher: AsCommand(nil)"},
		{"AsCommand(nil func)", func() any { return dispatcher.AsCommand(unset) }, "dispatcher: AsCommand(nil func() dispatcher.Command)"},
		{"AsCommands(nil)", func() any { return dispatcher.AsCommands(nil) }, "dispatcher: AsCommands(nil)"},
		{"AsCommands(nil func)", func() any { return dispatcher.AsCommands(unsetList) }, "dispatcher: AsCommands(nil func() []dispatcher.Command)"},
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
				app := fx.New(fx.NopLogger, fx.Provide(tc.provide()),
					fx.Invoke(fx.Annotate(func([]dispatcher.Command) {}, fx.ParamTags(dispatcher.CommandGroup))))
				err = app.Err()
			}()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}
