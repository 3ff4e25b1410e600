package logging_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"go.uber.org/fx"
)

// settings stands for a module's configuration section.
type settings struct{ code int }

// TestFxLoggerSaysWhyTheAppDoesNotBuild: an app of the package's fx.New
// program whose constructor fails (a module's section that does not
// validate) logged "start failed" with dig's account of the wiring that led
// there, about a kilobyte naming functions such as reflect.makeFuncStub as
// the ones that could not be built, the constructor's own error at its very
// end, where cli.Main and imtest say that error alone. The line's error is
// now the constructor's.
func TestFxLoggerSaysWhyTheAppDoesNotBuild(t *testing.T) {
	out := &sink{}
	app := fxLoggedApp(out, time.Hour,
		fx.Provide(func() (settings, error) {
			return settings{}, errors.New("deny_code 3 must be between 120001 and 130000")
		}),
		fx.Invoke(func(settings) {}))
	if err := app.Start(context.Background()); err == nil {
		t.Fatal("the start did not fail")
	}
	line := errorLine(out, "start failed", "deny_code 3")
	if line == "" {
		t.Fatalf("no error line says why the start failed; the output is:\n%s", out)
	}
	var e struct{ Error, ErrorVerbose string }
	if err := json.Unmarshal([]byte(line), &e); err != nil {
		t.Fatal(err)
	}
	if e.Error != "deny_code 3 must be between 120001 and 130000" || strings.Contains(line, "could not build") {
		t.Fatalf("start failed line %s: want the constructor's error alone", line)
	}
}
