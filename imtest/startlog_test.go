package imtest_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/imcallback/imcallback"
	"github.com/imcallback/imcallback/config"
	"github.com/imcallback/imcallback/delivery"
	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/imtest"
	"github.com/imcallback/imcallback/internal/certtest"
	"github.com/imcallback/imcallback/logging"
	"github.com/imcallback/imcallback/middleware"
)

// startTB is the testing.TB Start gets in the tests of its log: it
// records the lines logged and the failures, ends Start's goroutine (not
// the test) on FailNow, and keeps the cleanups until run is called.
type startTB struct {
	testing.TB
	mu       sync.Mutex
	logs     []string
	failures []string
	cleanups []func()
}

func (s *startTB) Helper() {}

func (s *startTB) Log(args ...any) { s.record(&s.logs, fmt.Sprint(args...)) }

func (s *startTB) Errorf(format string, args ...any) {
	s.record(&s.failures, fmt.Sprintf(format, args...))
}

func (s *startTB) Fatal(args ...any) { s.record(&s.failures, fmt.Sprint(args...)); runtime.Goexit() }

func (s *startTB) Fatalf(format string, args ...any) {
	s.record(&s.failures, fmt.Sprintf(format, args...))
	runtime.Goexit()
}

func (s *startTB) FailNow() { runtime.Goexit() }

func (s *startTB) Cleanup(f func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cleanups = append(s.cleanups, f)
}

func (s *startTB) record(to *[]string, line string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	*to = append(*to, line)
}

// start runs imtest.Start on its own goroutine; nil when it failed.
func (s *startTB) start(env []string, opts ...fx.Option) *imtest.Service {
	done := make(chan *imtest.Service, 1)
	go func() {
		var svc *imtest.Service
		defer func() { done <- svc }() // also when FailNow ends the goroutine
		svc = imtest.Start(s, env, opts...)
	}()
	return <-done
}

// cleanup runs the cleanups Start registered, the last first.
func (s *startTB) cleanup() {
	s.mu.Lock()
	fs := s.cleanups
	s.cleanups = nil
	s.mu.Unlock()
	for _, f := range slices.Backward(fs) {
		f()
	}
}

// snapshot returns the lines logged and the failures so far.
func (s *startTB) snapshot() (logs, failures []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.logs), slices.Clone(s.failures)
}

// missing returns the wants no line contains.
func missing(lines, wants []string) []string {
	var out []string
	for _, w := range wants {
		if !slices.ContainsFunc(lines, func(l string) bool { return strings.Contains(l, w) }) {
			out = append(out, w)
		}
	}
	return out
}

// afterFor is an after-handler of C2C.CallbackAfterSendMsg limited to ids.
func afterFor(ids ...string) fx.Option {
	return fx.Provide(dispatcher.AsCommand(func() dispatcher.Command {
		return dispatcher.After("C2C.CallbackAfterSendMsg",
			func(context.Context, *dispatcher.Event[json.RawMessage]) error { return nil }, dispatcher.ForApps(ids...))
	}))
}

// TestStartLogsTheWarningsOfTheStart: what the service warns about as it
// starts, hidden by Start's log level, and the configuration's notes are
// in the test's log; none of them fails the test, each being a setup a
// test may mean.
func TestStartLogsTheWarningsOfTheStart(t *testing.T) {
	certFile, keyFile, _ := certtest.Write(t, time.Now().Add(3*24*time.Hour))
	for _, tt := range []struct {
		name string
		env  []string
		opts []fx.Option
		want []string // each in a line of the test's log
	}{
		{"no token", []string{"IMCALLBACK_TOKENS="}, nil, []string{
			"imtest: the service logged at start: WARN NO CALLBACK TOKEN CONFIGURED",
			"imtest: no token is configured (IMCALLBACK_TOKENS): unsigned callbacks are accepted",
			"imtest: IMCALLBACK_TOKENS is set but empty, so it counts as unset"}},
		{"a helper's variable left unset", []string{"IMCALLBACK_ADMIN_TOKEN="}, nil, []string{
			"imtest: IMCALLBACK_ADMIN_TOKEN is set but empty, so it counts as unset"}},
		{"apps under Start's one token", []string{"IMCALLBACK_SDKAPPID=" + imtest.AppID + ",1400000001"}, nil, []string{
			"WARN several apps are verified with the same global IMCALLBACK_TOKENS"}},
		{"a handler for an app not configured", nil, []fx.Option{afterFor(imtest.AppID, "1400000099")}, []string{
			"WARN dispatcher: a command is limited by ForApps to an app that is not configured"}},
		{"a wide sign window", []string{"IMCALLBACK_SIGN_WINDOW=1h"}, nil, []string{
			"imtest: IMCALLBACK_SIGN_WINDOW 1h0m0s is wide"}},
		{"a certificate expiring in 3 days", []string{"IMCALLBACK_TLS_CERT=" + certFile, "IMCALLBACK_TLS_KEY=" + keyFile}, nil, []string{
			"WARN the TLS certificate expires within 14 days; renew it",
			"imtest: IMCALLBACK_TLS_CERT " + certFile + ": its certificate expires at "}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tb := &startTB{TB: t}
			defer tb.cleanup()
			if s := tb.start(append([]string{"IMCALLBACK_DELIVERY=inline"}, tt.env...), tt.opts...); s == nil {
				_, failures := tb.snapshot()
				t.Fatalf("Start failed: %q", failures)
			}
			logs, failures := tb.snapshot()
			if len(failures) > 0 {
				t.Errorf("Start failed the test: %q", failures)
			}
			if m := missing(logs, tt.want); len(m) > 0 {
				t.Errorf("the test's log lacks %q; it has %q", m, logs)
			}
		})
	}
}

// TestStartLogsTheWarningsOfAFailedStart: when the start fails, which
// ends the test, what the service warned about before is in the test's
// log too: it may say why.
func TestStartLogsTheWarningsOfAFailedStart(t *testing.T) {
	tb := &startTB{TB: t}
	failing := fx.Invoke(func(lc fx.Lifecycle) {
		lc.Append(fx.StartHook(func() error { return errors.New("the hook fails") }))
	})
	if s := tb.start([]string{"IMCALLBACK_DELIVERY=inline"}, afterFor("1400000099"), failing); s != nil {
		tb.cleanup()
		t.Fatal("Start succeeded with a failing start hook")
	}
	tb.cleanup()
	logs, failures := tb.snapshot()
	if m := missing(failures, []string{"the hook fails"}); len(m) > 0 {
		t.Errorf("failures %q lack the start's error", failures)
	}
	if m := missing(logs, []string{"WARN dispatcher: a command is limited by ForApps to an app that is not configured"}); len(m) > 0 {
		t.Errorf("the test's log lacks %q; it has %q", m, logs)
	}
}

// TestStartLeavesOutWarningsAfterTheStart: Start shows the start's
// warnings only; a warning the service logs once it runs stays out of the
// test's log (which may have ended by then).
func TestStartLeavesOutWarningsAfterTheStart(t *testing.T) {
	tb := &startTB{TB: t}
	defer tb.cleanup()
	var log *zap.Logger
	if s := tb.start([]string{"IMCALLBACK_DELIVERY=inline"}, fx.Populate(&log)); s == nil {
		t.Fatal("Start failed")
	}
	log.Warn("a warning once the service runs")
	if logs, failures := tb.snapshot(); len(logs) > 0 || len(failures) > 0 {
		t.Fatalf("logs %q, failures %q; want none", logs, failures)
	}
}

// TestStartSaysAModuleIsWiredTwice: a module passed to Start that Start
// wires itself (imcallback.Module), or one passed twice, fails the test
// with what to do, as cli.Main's start does, instead of dig's account of
// a type "already provided" alone.
func TestStartSaysAModuleIsWiredTwice(t *testing.T) {
	own := fx.Module("own", fx.Provide(func() *strings.Builder { return new(strings.Builder) }))
	const twice = "a module is wired twice; Start wires imcallback.Module itself: " +
		"pass only modules of your own (and delivery.Module for durable delivery), each once"
	for _, tt := range []struct {
		name string
		opts []fx.Option
		want string
	}{
		{"imcallback.Module", []fx.Option{imcallback.Module}, twice},
		{"delivery.Module twice", []fx.Option{delivery.Module, delivery.Module}, twice},
		{"a module of one's own twice", []fx.Option{own, own}, twice},
		{"a config.Source", []fx.Option{fx.Supply(config.Source{})},
			"Start supplies the configuration's source itself, from its env: set IMCALLBACK_* variables in env instead"},
		{"a logging.Tee", []fx.Option{fx.Supply(&logging.Tee{})},
			"Start supplies a logging.Tee itself, which puts the start's warnings in the test's log"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tb := &startTB{TB: t}
			if s := tb.start([]string{"IMCALLBACK_DELIVERY=durable"}, tt.opts...); s != nil {
				tb.cleanup()
				t.Fatal("Start succeeded")
			}
			tb.cleanup()
			_, failures := tb.snapshot()
			if m := missing(failures, []string{"already provided by", tt.want}); len(m) > 0 {
				t.Errorf("failures %q lack %q", failures, m)
			}
		})
	}
}

// plainCommand and plainMiddleware are constructors of a command and a
// middleware, each of its own.
func plainCommand(name string) func() dispatcher.Command {
	return func() dispatcher.Command {
		return dispatcher.After(name, func(context.Context, *dispatcher.Event[json.RawMessage]) error { return nil })
	}
}

func plainMiddleware(name string, order int) func() middleware.Ordered {
	return func() middleware.Ordered {
		return middleware.Ordered{Name: name, Order: order, Func: func(next echo.HandlerFunc) echo.HandlerFunc { return next }}
	}
}

// TestStartSaysToRegisterWithTheGroupHelper: two constructors of
// commands (or of middleware) given to fx.Provide without
// dispatcher.AsCommand (middleware.AsMiddleware) provide the group's
// type twice, which dig refuses as it refuses a module wired twice; Start
// said a module was wired twice and to pass imcallback.Module once, where
// the fix is to register each with the group's helper (one alone only
// warns, that it never runs).
func TestStartSaysToRegisterWithTheGroupHelper(t *testing.T) {
	for _, tt := range []struct {
		name string
		opt  fx.Option
		want string
	}{
		{"two commands", fx.Provide(plainCommand("X.CallbackAfterA"), plainCommand("X.CallbackAfterB")),
			"register each with fx.Provide(dispatcher.AsCommand(constructor))"},
		{"two lists of commands", fx.Provide(
			func() []dispatcher.Command { return []dispatcher.Command{plainCommand("X.CallbackAfterA")()} },
			func() []dispatcher.Command { return []dispatcher.Command{plainCommand("X.CallbackAfterB")()} }),
			"register each with fx.Provide(dispatcher.AsCommands(constructor))"},
		{"two middleware", fx.Provide(plainMiddleware("a", middleware.OrderSignature+10), plainMiddleware("b", middleware.OrderSignature+20)),
			"register each with fx.Provide(middleware.AsMiddleware(constructor))"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tb := &startTB{TB: t}
			if s := tb.start([]string{"IMCALLBACK_DELIVERY=inline"}, tt.opt); s != nil {
				tb.cleanup()
				t.Fatal("Start succeeded")
			}
			tb.cleanup()
			_, failures := tb.snapshot()
			if m := missing(failures, []string{"already provided by", tt.want}); len(m) > 0 {
				t.Errorf("failures %q lack %q", failures, m)
			}
			if m := missing(failures, []string{"wired twice"}); len(m) == 0 {
				t.Errorf("failures %q say a module is wired twice", failures)
			}
		})
	}
}

// missingDep is a type no module provides.
type missingDep struct{}

// TestStartNamesWhoNeedsAMissingType: a constructor passed to Start that
// takes a type nothing provides (a module's configuration struct without
// its config.Section) fails the test naming the type, who needs it (for a
// command's constructor, which fx does not name, its group) and what to
// do, as cli.Main's start does.
func TestStartNamesWhoNeedsAMissingType(t *testing.T) {
	tb := &startTB{TB: t}
	cmd := fx.Provide(dispatcher.AsCommand(func(missingDep) dispatcher.Command {
		return dispatcher.After("X.CallbackAfterY", func(context.Context, *dispatcher.Event[struct{}]) error { return nil })
	}))
	if s := tb.start([]string{"IMCALLBACK_DELIVERY=inline"}, cmd); s != nil {
		tb.cleanup()
		t.Fatal("Start succeeded")
	}
	tb.cleanup()
	_, failures := tb.snapshot()
	want := []string{`imtest: missing type: imtest_test.missingDep, needed by a constructor of the value group dispatcher.Command[group="commands"]`,
		"nothing provides it: pass the module that provides it to Start, or provide it with fx.Provide " +
			"(a module's configuration struct with config.Section)"}
	if m := missing(failures, want); len(m) > 0 {
		t.Errorf("failures %q lack %q", failures, m)
	}
}

// buildSection is a module's section for TestStartSaysWhyTheServiceDoesNotBuild.
type buildSection struct {
	Code int `koanf:"code"`
}

func (buildSection) Validate() error { return nil }

// TestStartSaysWhyTheServiceDoesNotBuild: a service that does not build
// (a module's setting that does not decode, its Validate's error) fails
// the test with the constructor's own error, as cli.Main's start says it.
// Before, the failure was fxtest's "fx.New failed:" with dig's account of
// the wiring that led there, about a kilobyte naming the catalogue's check
// and reflect.makeFuncStub as the functions that could not be built, the
// setting at its very end.
func TestStartSaysWhyTheServiceDoesNotBuild(t *testing.T) {
	tb := &startTB{TB: t}
	defer tb.cleanup()
	mod := fx.Module("mod", config.Section("mod", buildSection{}),
		fx.Provide(dispatcher.AsCommand(func(buildSection) dispatcher.Command {
			return dispatcher.After("X.CallbackAfterBuild", func(context.Context, *dispatcher.Event[struct{}]) error { return nil })
		})))
	if s := tb.start([]string{"IMCALLBACK_DELIVERY=inline", "IMCALLBACK_MOD_CODE=abc"}, mod); s != nil {
		t.Fatal("Start succeeded with IMCALLBACK_MOD_CODE=abc")
	}
	_, failures := tb.snapshot()
	want := `IMCALLBACK_MOD_CODE (mod.code): "abc" is not a whole number`
	if len(failures) != 1 || !strings.HasPrefix(failures[0], "imtest: ") || !strings.Contains(failures[0], want) ||
		strings.Contains(failures[0], "could not build") || strings.Contains(failures[0], "makeFuncStub") {
		t.Fatalf("Start's failure %q, want one line saying %q without dig's account of the wiring", failures, want)
	}
}
