package logging_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/imcallback/imcallback/config"
	"github.com/imcallback/imcallback/logging"
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

// TestFxLoggerSaysWhyTheConfigurationDoesNotLoad: the package's fx.New
// program (config.Module, Module and FxLogger, as imcallback.Module wires
// them) with a configuration that does not validate (here a sign window
// over the hour, in a program's own section alike, since config.Module
// validates every declared section) printed fx's whole event log, a line
// per constructor, and the error three times in dig's account: FxLogger's
// logger needs the service's, which needs the configuration, so fx fell
// back to its own console logger. It now writes the one "start failed"
// line, the configuration's error alone, and nothing of fx's events. The
// app runs in a child process, whose standard error the test reads.
func TestFxLoggerSaysWhyTheConfigurationDoesNotLoad(t *testing.T) {
	if os.Getenv("LOGGING_TEST_BAD_CONFIG") != "" {
		startWithBadConfig()
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestFxLoggerSaysWhyTheConfigurationDoesNotLoad$")
	cmd.Env = append(os.Environ(), "LOGGING_TEST_BAD_CONFIG=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 3 {
		t.Fatalf("the child did not fail its start (%v):\n%s", err, &stderr)
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("standard error has %d lines, want the one that says why:\n%s", len(lines), &stderr)
	}
	var e struct{ Level, Msg, Error string }
	if err := json.Unmarshal([]byte(lines[0]), &e); err != nil {
		t.Fatalf("the line is not JSON (%v): %s", err, lines[0])
	}
	const want = "config: invalid:\nIMCALLBACK_SIGN_WINDOW (sign_window): 2h0m0s is longer than 1h"
	if e.Level != "error" || e.Msg != "start failed" || !strings.HasPrefix(e.Error, want) {
		t.Fatalf("line %s: want an error line \"start failed\" whose error begins %q", lines[0], want)
	}
}

// startWithBadConfig starts the package's fx.New program on a
// configuration that does not validate, and exits 3 when the start fails.
func startWithBadConfig() {
	src := config.Source{Environ: func() []string {
		return []string{"IMCALLBACK_SDKAPPID=1400000000", "IMCALLBACK_SIGN_WINDOW=2h"}
	}}
	app := fx.New(logging.FxLogger, fx.Supply(src), config.Module, logging.Module,
		fx.Invoke(func(*zap.Logger) {}))
	if err := app.Start(context.Background()); err != nil {
		os.Exit(3)
	}
	os.Exit(0)
}
