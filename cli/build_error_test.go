package cli

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"go.uber.org/fx"

	"github.com/imcallback/imcallback"
	"github.com/imcallback/imcallback/delivery"
	"github.com/imcallback/imcallback/dispatcher"
)

// TestServeNamesAModuleWiredTwice: a module Main wires itself, passed to it
// again, stops serve before anything starts with a message naming the
// type provided twice and the cause; before, it was dig's root cause
// alone, "already provided by <function> (<file>)". A constructor's own
// error is still shown alone.
func TestServeNamesAModuleWiredTwice(t *testing.T) {
	tests := []struct {
		name     string
		module   fx.Option
		delivery string
		want     []string
	}{
		{"delivery.Module with durable delivery", delivery.Module, "durable", []string{"cannot provide *delivery.Service", "a module is wired twice", "delivery.Module"}},
		// Main leaves delivery.Module out for inline: the one passed was
		// wired once, and the service delivered durably against the
		// configuration, with a warning, where the README says the start
		// stops.
		{"delivery.Module with inline delivery", delivery.Module, "inline", []string{
			"IMCALLBACK_DELIVERY is inline but delivery.Module is among Main's modules, which would deliver after-callbacks " +
				"durably; Main wires delivery.Module itself unless IMCALLBACK_DELIVERY=inline: pass only modules of your own"}},
		{"imcallback.Module", imcallback.Module, "durable", []string{"cannot provide", "a module is wired twice", "imcallback.Module"}},
		// One's own module passed twice failed as the sections were listed,
		// with dig's root cause alone: "already provided by <function>".
		{"a module of one's own twice", fx.Options(ownModule, ownModule), "durable",
			[]string{"cannot provide *bytes.Reader", "a module is wired twice", "pass each module once"}},
		{"a constructor's error", fx.Options(fx.Provide(func() (*bytes.Buffer, error) { return nil, errors.New("the module's own error") }),
			fx.Invoke(func(*bytes.Buffer) {})), "durable", []string{"the module's own error"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := serveFails(t, tt.delivery, tt.module, tt.want)
			if strings.Contains(err.Error(), "wired twice") != (len(tt.want) > 1) {
				t.Errorf("error %q", err)
			}
		})
	}
}

// TestServeSaysToRegisterCommandsWithAsCommand: two constructors of
// commands given to fx.Provide without dispatcher.AsCommand provide
// dispatcher.Command twice; serve said a module was wired twice and to
// pass each module once, where the fix is to register each with
// AsCommand (one alone only warns, that it never runs).
func TestServeSaysToRegisterCommandsWithAsCommand(t *testing.T) {
	plain := func(name string) func() dispatcher.Command {
		return func() dispatcher.Command {
			return dispatcher.After(name, func(context.Context, *dispatcher.Event[struct{}]) error { return nil })
		}
	}
	err := serveFails(t, "inline", fx.Provide(plain("X.CallbackAfterA"), plain("X.CallbackAfterB")),
		[]string{"cannot provide dispatcher.Command", "register each with fx.Provide(dispatcher.AsCommand(constructor))"})
	if strings.Contains(err.Error(), "wired twice") {
		t.Errorf("error %q says a module is wired twice", err)
	}
}

// ownModule is a module of the program's own.
var ownModule = fx.Module("own", fx.Provide(func() *bytes.Reader { return bytes.NewReader(nil) }))

// missingDep is a type no module provides.
type missingDep struct{}

func newNeedsMissing(missingDep) *strings.Builder { return new(strings.Builder) }

// TestServeNamesWhoNeedsAMissingType: a constructor that takes a type no
// module provides (a module's configuration struct without its
// config.Section, a module left out of Main) stops serve with a message
// naming the type, the constructor that needs it (or, for one given to
// dispatcher.AsCommand, which fx does not name, its group) and what to
// do; before, it was dig's root cause alone, "missing type: T".
func TestServeNamesWhoNeedsAMissingType(t *testing.T) {
	tests := []struct {
		name   string
		module fx.Option
		want   []string
	}{
		{"a constructor", fx.Options(fx.Provide(newNeedsMissing), fx.Invoke(func(*strings.Builder) {})), []string{
			"missing type: cli.missingDep", "needed by", "cli\".newNeedsMissing (", "build_error_test.go:",
			"nothing provides it: pass the module that provides it to Main, or provide it with fx.Provide " +
				"(a module's configuration struct with config.Section)"}},
		{"a command's constructor", fx.Provide(dispatcher.AsCommand(func(missingDep) dispatcher.Command {
			return dispatcher.After("X.CallbackAfterY", func(context.Context, *dispatcher.Event[struct{}]) error { return nil })
		})), []string{
			"missing type: cli.missingDep", `needed by a constructor of the value group dispatcher.Command[group="commands"]`,
			"nothing provides it"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := serveFails(t, "inline", tt.module, tt.want)
			if strings.Contains(err.Error(), "makeFuncStub") {
				t.Errorf("error %q names fx's annotation stub", err)
			}
		})
	}
}

// serveFails runs serve with module and the given delivery on free ports,
// checks that the start fails with an error saying each of want, and
// returns that error.
func serveFails(t *testing.T, delivery string, module fx.Option, want []string) error {
	t.Helper()
	t.Setenv("IMCALLBACK_DELIVERY", delivery)
	t.Setenv("IMCALLBACK_SDKAPPID", "1400000000")
	t.Setenv("IMCALLBACK_DATA_DIR", t.TempDir())
	t.Setenv("IMCALLBACK_LISTEN", "127.0.0.1:0")
	t.Setenv("IMCALLBACK_ADMIN_LISTEN", "127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // were the app built, it would stop at once rather than serve
	var out bytes.Buffer
	root := newRootCmd(&out, &out, module)
	root.SetArgs([]string{"serve"})
	err := root.ExecuteContext(ctx)
	if err == nil {
		t.Fatal("served")
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
	return err
}

// TestNilModuleIsRefused: a nil module passed to Run (an fx.Option
// variable left unset, cli.Main(mine.Module, extra) with extra nil)
// panicked inside fx.New with a nil pointer dereference, in whichever
// command built an app (serve, config check, send, events), naming
// neither the option nor what to do; each now fails saying which.
func TestNilModuleIsRefused(t *testing.T) {
	for _, args := range [][]string{{"config", "check"}, {"serve"}, {"events", "list"}, {"version"}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			t.Setenv("IMCALLBACK_SDKAPPID", "1400000000")
			var out bytes.Buffer
			err := Run(args, &out, &out, ownModule, nil)
			if want := "cli: option #2 of 2 is nil"; err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("Run %v with a nil module: %v, want an error saying %q\n%s", args, err, want, out.String())
			}
		})
	}
}
