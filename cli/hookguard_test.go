package cli

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imcallback/imcallback/imtest"
	"github.com/imcallback/imcallback/internal/leakwait"
	"go.uber.org/fx"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// hookTimeout is the start or stop timeout the tests wait to run out. It
// must also outlast the hooks before the one that hangs, which fx runs
// only while the timeout has not passed (it checks before each hook): with
// 100 ms, a goroutine descheduled that long on a busy machine (the race
// detector, CI's two loaded cores) ran out of it first, and the hooks that
// had started, and the hook named as hung, were not those the test set up.
const hookTimeout = time.Second

// guardedApp is an app of opts whose hooks a guard wraps, as serve's are,
// with short timeouts: a test waits for them to run out, never measures them.
func guardedApp(t *testing.T, opts ...fx.Option) (*fx.App, *hookGuard) {
	t.Helper()
	guard := &hookGuard{}
	app := fx.New(append([]fx.Option{fx.NopLogger, guard.option(),
		fx.StartTimeout(hookTimeout), fx.StopTimeout(5 * time.Second)}, opts...)...)
	if err := app.Err(); err != nil {
		t.Fatal(err)
	}
	return app, guard
}

// hangsAtStart appends a hook whose start returns only once release is
// closed (it ignores its context), then runs started.
func hangsAtStart(lc fx.Lifecycle, release <-chan struct{}, started func() error, stop func()) {
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error { <-release; return started() },
		OnStop:  func(context.Context) error { stop(); return nil },
	})
}

// hangsAtStop appends a hook whose stop returns only once release is closed.
func hangsAtStop(lc fx.Lifecycle, release <-chan struct{}) {
	lc.Append(fx.StopHook(func() { <-release }))
}

// failsAtStart appends a hook whose start fails.
func failsAtStart(lc fx.Lifecycle) {
	lc.Append(fx.StartHook(func() error { return errors.New("the store is down") }))
}

// recorder keeps what the hooks did, in order.
type recorder struct {
	mu   sync.Mutex
	done []string
}

func (r *recorder) add(what string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.done = append(r.done, what)
}

func (r *recorder) list() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.done)
}

// part appends a hook that records its start and its stop.
func (r *recorder) part(name string) fx.Option {
	return fx.Invoke(func(lc fx.Lifecycle) {
		lc.Append(fx.StartStopHook(func() { r.add("start " + name) }, func() { r.add("stop " + name) }))
	})
}

// TestAStartPastItsTimeoutStopsWhatStarted: fx's start timeout returns
// while the hook that hangs keeps running, and its rollback, with the
// expired context, skipped every stop hook; the parts that had started
// are now stopped, in the reverse order.
func TestAStartPastItsTimeoutStopsWhatStarted(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	var r recorder
	app, guard := guardedApp(t, r.part("store"), r.part("listener"),
		fx.Invoke(func(lc fx.Lifecycle) {
			lc.Append(fx.StartHook(func() {})) // started, with nothing to stop: not counted
			hangsAtStart(lc, release, func() error { return nil }, func() {})
		}))
	err := run(context.Background(), app, watchStopSignals(), service{guard: guard})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("run: %v, want the start's deadline", err)
	}
	want := []string{"start store", "start listener", "stop listener", "stop store"}
	if got := r.list(); !slices.Equal(got, want) {
		t.Errorf("the hooks did %q, want %q", got, want)
	}
	if !strings.Contains(err.Error(), "the 2 hooks that had started were stopped") {
		t.Errorf("run: %v, want it to say what it stopped", err)
	}
}

// TestAStartHookThatNeverReturnsIsNamed: the error of a start that ran out
// names the hook it waited on, by the function that appended it (fx said
// only "context deadline exceeded"): a start hook that hangs, or a stop
// hook that hangs while fx rolls back a start that failed.
func TestAStartHookThatNeverReturnsIsNamed(t *testing.T) {
	tests := []struct {
		name  string
		hooks func(lc fx.Lifecycle, release <-chan struct{})
		want  string
	}{
		{name: "a start hook", hooks: func(lc fx.Lifecycle, release <-chan struct{}) {
			hangsAtStart(lc, release, func() error { return nil }, func() {})
		}, want: "the start hook of github.com/imcallback/imcallback/cli.hangsAtStart has not returned"},
		{name: "a stop hook rolling back a failed start", hooks: func(lc fx.Lifecycle, release <-chan struct{}) {
			hangsAtStop(lc, release)
			failsAtStart(lc)
		}, want: "the stop hook of github.com/imcallback/imcallback/cli.hangsAtStop has not returned"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			release := make(chan struct{})
			t.Cleanup(func() { close(release) })
			app, guard := guardedApp(t, fx.Invoke(func(lc fx.Lifecycle) { tt.hooks(lc, release) }))
			guard.startSetting = " (IMCALLBACK_START_TIMEOUT)"
			err := run(context.Background(), app, watchStopSignals(), service{guard: guard})
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("run: %v, want the start's deadline", err)
			}
			if msg := err.Error(); !strings.Contains(msg, tt.want) ||
				!strings.Contains(msg, "timeout of "+hookTimeout.String()+" (IMCALLBACK_START_TIMEOUT)") {
				t.Errorf("run: %v\nwant it to say the timeout and %q", err, tt.want)
			}
		})
	}
}

// TestAStartPastItsTimeoutLeavesNothingRunning: once the start ran out,
// no listener that had started stays bound, and a hook whose start
// returns later (it had bound a port) is stopped as soon as it returns:
// nothing of the app keeps running.
func TestAStartPastItsTimeoutLeavesNothingRunning(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	defer func() {
		// Asked again for up to 10 s: the listeners' accept loops and fx's
		// start goroutine end once scheduled after the close or the
		// release, which goleak's own retries (about 0.4 s) need not see
		// on a busy machine; a listener left open keeps its loop for good.
		if err := leakwait.Find(ignore); err != nil {
			t.Errorf("goroutines outlive the app: %v", err)
		}
	}()
	// Ports of imtest.FreeAddr: a port of the ephemeral range, free once
	// its listener closed, could be taken by another package's test
	// before rebind, which would then blame the listener.
	firstAddr, lateAddr := imtest.FreeAddr(t), imtest.FreeAddr(t)
	listen := func(addr string) net.Listener {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Error(err)
			return nil
		}
		go func() { // a listener that serves: its accept loop ends with it
			for {
				conn, err := ln.Accept()
				if err != nil {
					return
				}
				conn.Close()
			}
		}()
		return ln
	}
	var first, late net.Listener
	release, lateStopped := make(chan struct{}), make(chan struct{})
	released := false
	defer func() {
		if !released {
			close(release)
		}
	}()
	app, guard := guardedApp(t,
		fx.Invoke(func(lc fx.Lifecycle) {
			lc.Append(fx.Hook{
				OnStart: func(context.Context) error { first = listen(firstAddr); return nil },
				OnStop:  func(context.Context) error { return first.Close() },
			})
			hangsAtStart(lc, release,
				func() error { late = listen(lateAddr); return nil }, // binds once the start was given up
				func() { late.Close(); close(lateStopped) })
		}),
		fx.Invoke(func(lc fx.Lifecycle) {
			lc.Append(fx.StartHook(func() { t.Error("a hook after the one that hung was started") }))
		}))
	if err := guard.start(app); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("start: %v, want its deadline", err)
	}
	rebind := func(what string, ln net.Listener) {
		t.Helper()
		again, err := net.Listen("tcp", ln.Addr().String())
		if err != nil {
			t.Fatalf("%s still holds its port: %v", what, err)
		}
		again.Close()
	}
	rebind("the listener that had started", first)
	close(release) // the hung start returns, having bound a port
	released = true
	select {
	case <-lateStopped:
	case <-time.After(30 * time.Second): // a bound only broken code reaches
		t.Fatal("the hook that started after the start was given up was not stopped")
	}
	rebind("the listener that started late", late)
}

// TestAStopPastItsTimeoutNamesTheHook: a stop that runs past its timeout
// names the stop hook that has not returned.
func TestAStopPastItsTimeoutNamesTheHook(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	guard := &hookGuard{stopSetting: " (4 × IMCALLBACK_SHUTDOWN_TIMEOUT + 15s)"}
	var r recorder
	app := fx.New(fx.NopLogger, guard.option(), fx.StopTimeout(hookTimeout),
		r.part("store"), fx.Invoke(func(lc fx.Lifecycle) { hangsAtStop(lc, release) }), r.part("listener"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // stop right after the start
	err := run(ctx, app, watchStopSignals(), service{guard: guard})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("run: %v, want the stop's deadline", err)
	}
	want := "the stop ran past its timeout of " + hookTimeout.String() + " (4 × IMCALLBACK_SHUTDOWN_TIMEOUT + 15s): " +
		"the stop hook of github.com/imcallback/imcallback/cli.hangsAtStop has not returned"
	if !strings.Contains(err.Error(), want) {
		t.Errorf("run: %v\nwant it to say %q", err, want)
	}
	if got := r.list(); !slices.Contains(got, "stop listener") {
		t.Errorf("the hooks did %q; the one stopped before the stuck one did not stop", got)
	}
}

// errStoreDown is the error of failsAtStart.
var errStoreDown = errors.New("the store is down")

// TestAFailedStartWhoseRollbackHangsKeepsItsCause: when a start hook fails
// and a stop hook then hangs while fx rolls the start back, the error
// names the hung stop hook and keeps the start hook's error, the cause;
// it used to drop it and say that nothing had started.
func TestAFailedStartWhoseRollbackHangsKeepsItsCause(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	app, guard := guardedApp(t, fx.Invoke(func(lc fx.Lifecycle) {
		hangsAtStop(lc, release)
		lc.Append(fx.StartHook(func() error { return errStoreDown }))
	}))
	err := run(context.Background(), app, watchStopSignals(), service{guard: guard})
	if !errors.Is(err, errStoreDown) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("run: %v, want the start hook's error and the deadline", err)
	}
	want := "the start failed (the store is down); rolling back, past the start's timeout of " + hookTimeout.String() + ", " +
		"the stop hook of github.com/imcallback/imcallback/cli.hangsAtStop has not returned"
	if msg := err.Error(); !strings.Contains(msg, want) || strings.Contains(msg, "nothing had started") {
		t.Errorf("run: %v\nwant it to say %q", err, want)
	}
}

// TestAStopThatHangsAfterAGivenUpStartSkipsTheEarlierStops: once a stop
// hook hangs past the stop timeout, while the guard stops what had
// started before a start hook hung, the hooks before it are not stopped
// (what they hold may still be used by the one that hangs), as fx skips
// them, and the error says which stopped and which did not. Every later
// stop used to run with the expired context, and be named as hung.
func TestAStopThatHangsAfterAGivenUpStartSkipsTheEarlierStops(t *testing.T) {
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	var r recorder
	app, guard := guardedApp(t, fx.StopTimeout(hookTimeout),
		r.part("store"),
		fx.Invoke(func(lc fx.Lifecycle) {
			lc.Append(fx.StartHook(func() {})) // nothing to stop
			hangsAtStop(lc, release)
		}),
		r.part("listener"),
		fx.Invoke(func(lc fx.Lifecycle) {
			hangsAtStart(lc, release, func() error { return nil }, func() {})
		}))
	err := guard.start(app)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("start: %v, want its deadline", err)
	}
	want := []string{"start store", "start listener", "stop listener"}
	if got := r.list(); !slices.Equal(got, want) {
		t.Errorf("the hooks did %q, want %q: the store was stopped while a later stop hung", got, want)
	}
	msg := err.Error()
	for _, part := range []string{
		"1 of the 3 hooks that had started were stopped, the stop hook of github.com/imcallback/imcallback/cli.hangsAtStop " +
			"had not returned when the stop's timeout of " + hookTimeout.String() + " ran out, and the stops of the 1 before it were not run",
		"cli.(*recorder).part.func1",
	} {
		if !strings.Contains(msg, part) {
			t.Errorf("start: %v\nwant it to say %q", err, part)
		}
	}
	if strings.Count(msg, "has not returned") != 2 { // the start hook, and the stop hook
		t.Errorf("start: %v\nwant only the hung start and stop hooks named as not returned", err)
	}
}

// TestTheGuardLogsEachHookByItsCaller: fx's own hook events see only the
// guard's wrapper (cli.(*guardedLifecycle).Append.func1, for every hook);
// the guard logs each hook's start and stop at debug level, naming the
// function that appended it.
func TestTheGuardLogsEachHookByItsCaller(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	var r recorder
	app, guard := guardedApp(t, r.part("store"))
	guard.log = zap.New(core)
	if err := guard.start(app); err != nil {
		t.Fatal(err)
	}
	if err := guard.stop(app); err != nil {
		t.Fatal(err)
	}
	const hook = "github.com/imcallback/imcallback/cli.(*recorder).part.func1"
	var got []string
	for _, e := range logs.All() {
		if e.Level == zapcore.DebugLevel && e.ContextMap()["hook"] == hook {
			got = append(got, e.Message)
		}
	}
	want := []string{"start hook executing", "start hook executed", "stop hook executing", "stop hook executed"}
	if !slices.Equal(got, want) {
		t.Errorf("the guard logged %q for %s, want %q", got, hook, want)
	}
}

// countingLifecycle is a program's own decoration of fx.Lifecycle: it
// counts the hooks appended through it to the guarded lifecycle (the app
// that lists the configuration sections runs the program's invokes too,
// unguarded).
type countingLifecycle struct {
	fx.Lifecycle
	appended *int
}

func (l countingLifecycle) Append(h fx.Hook) {
	if _, guarded := l.Lifecycle.(*guardedLifecycle); guarded {
		*l.appended++
	}
	l.Lifecycle.Append(h)
}

// TestAProgramMayDecorateTheLifecycle: a program's top-level
// fx.Decorate of fx.Lifecycle, passed to Main, builds (it failed with
// "fx.Lifecycle already decorated": the guard decorates it too) and sees
// every module's hooks, which the guard still wraps, each named by the
// function that appended it; the program's other options (a named value,
// fx.Populate, a hook) work as before.
func TestAProgramMayDecorateTheLifecycle(t *testing.T) {
	appended := 0
	var named string
	var r recorder
	s := newServedApp(t, nil,
		fx.Decorate(func(lc fx.Lifecycle) fx.Lifecycle { return countingLifecycle{Lifecycle: lc, appended: &appended} }),
		fx.Provide(fx.Annotate(func() string { return "mine" }, fx.ResultTags(`name:"mine"`))),
		fx.Invoke(fx.Annotate(func(s string) { named = s }, fx.ParamTags(`name:"mine"`))),
		r.part("program"))
	guard := s.svc.guard
	if err := guard.start(s.app); err != nil {
		t.Fatal(err)
	}
	if err := guard.stop(s.app); err != nil {
		t.Fatal(err)
	}
	if want := []string{"start program", "stop program"}; !slices.Equal(r.list(), want) || named != "mine" || s.public == nil {
		t.Errorf("the program's hook did %q (want %q), its named value is %q, its populated listener %v", r.list(), want, named, s.public)
	}
	var callers []string
	for _, h := range guard.hooks {
		callers = append(callers, strings.TrimPrefix(h.caller, "github.com/imcallback/imcallback/"))
	}
	if appended != len(guard.hooks) || !slices.Contains(callers, "server.newPublic") || !slices.Contains(callers, "cli.(*recorder).part.func1") {
		t.Errorf("the program's lifecycle saw %d hooks; the guard wrapped %d: %q", appended, len(guard.hooks), callers)
	}
}
