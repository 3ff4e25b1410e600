package cli

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"time"

	"go.uber.org/fx"
	"go.uber.org/zap"
)

// hookGuard wraps every lifecycle hook of the app (its option decorates
// fx.Lifecycle for the whole app) so that a start or a stop that runs past
// its timeout names the hook it waits on, and a start that runs out leaves
// nothing running. fx's own start timeout returns while the hook that hangs
// keeps running, and rolls back with the context that has already expired,
// which skips every stop hook: the listeners and stores that had started
// stayed open, and the error said only "context deadline exceeded".
//
// A hook is named by the function that appended it
// (github.com/imcallback/imcallback/server.newPublic). fx's own hook events
// (OnStartExecuting and the others) see only the guard's wrapper and name
// it, cli.(*guardedLifecycle).Append.func1, for every hook: the guard logs
// its own, at debug level, naming the hook as its errors do.
type hookGuard struct {
	// startSetting and stopSetting say where the start's and the stop's
	// timeouts come from, for the errors; empty, nothing is said.
	startSetting, stopSetting string
	// log reports a hook whose start returned after the start was given
	// up, and each hook's start and stop at debug level; nil logs nothing.
	log *zap.Logger

	// stopMu serializes the stops the guard runs itself: those of the
	// hooks that had started when the start was given up, in the reverse
	// order, and that of a hook whose start returned later.
	stopMu sync.Mutex

	mu        sync.Mutex
	hooks     []*guardedHook // in the order they were appended: the start's
	lastStart *guardedHook   // the hook whose start began last
	lastStop  *guardedHook   // the hook whose stop began last
	abandoned bool           // the start ran out: no hook starts any more
	startErr  error          // the first error a start hook returned
	// stopTimeout bounds the stop of a hook whose start returned after the
	// start was given up: the app's stop timeout, set when it is given up.
	stopTimeout time.Duration
}

// hookState is where a guarded hook is in its life.
type hookState int

const (
	hookIdle     hookState = iota // not started (or its start failed)
	hookStarting                  // its OnStart runs
	hookStarted                   // its OnStart returned nil
	hookStopping                  // its OnStop runs
	hookStopped                   // its OnStop returned
)

// guardedHook is one hook of the app and where it is.
type guardedHook struct {
	caller string // the function that appended it
	hook   fx.Hook
	state  hookState
}

// errStartGivenUp is what a hook's start returns once the start ran past
// its timeout: fx goes on with the next hook only while its context lives,
// but a hook that starts after that is stopped at once.
var errStartGivenUp = errors.New("the start ran past its timeout and was given up")

// option decorates the app's fx.Lifecycle: add it at the top level of
// fx.New, where a decoration applies to every module.
func (g *hookGuard) option() fx.Option {
	return fx.Decorate(func(lc fx.Lifecycle) fx.Lifecycle { return &guardedLifecycle{Lifecycle: lc, guard: g} })
}

// guardedLifecycle appends every hook wrapped by its guard.
type guardedLifecycle struct {
	fx.Lifecycle
	guard *hookGuard
}

// Append adds h, wrapped: its start always is (a hook without OnStart
// counts as started once fx passes it, as fx counts it), its stop when it
// has one.
func (l *guardedLifecycle) Append(h fx.Hook) {
	g := l.guard
	gh := &guardedHook{caller: hookCaller(), hook: h}
	g.mu.Lock()
	g.hooks = append(g.hooks, gh)
	g.mu.Unlock()
	wrapped := fx.Hook{OnStart: func(ctx context.Context) error { return g.runStart(ctx, gh) }}
	if h.OnStop != nil {
		wrapped.OnStop = func(ctx context.Context) error { return g.runStop(ctx, gh) }
	}
	l.Lifecycle.Append(wrapped)
}

// hookCaller is the function that called Append, past the guard's own
// frames and those of a program's own decoration of fx.Lifecycle (an
// Append method that passes the hook on).
func hookCaller() string {
	pcs := make([]uintptr, 16)
	frames := runtime.CallersFrames(pcs[:runtime.Callers(2, pcs)])
	for {
		f, more := frames.Next()
		if f.Function != "" && !isAppendMethod(f.Function) {
			return f.Function
		}
		if !more {
			return "an unknown function"
		}
	}
}

// isAppendMethod says whether function (as runtime names it) is a method
// named Append: a wrapper of fx.Lifecycle's, such as the guard's own.
func isAppendMethod(function string) bool {
	base := function[strings.LastIndex(function, "/")+1:] // pkg.Type.Append or pkg.(*Type).Append
	return strings.HasSuffix(base, ".Append") && strings.Count(base, ".") >= 2
}

// runStart runs h's start unless the start was given up. A start that
// returns nil after it was given up is stopped at once: fx stopped nothing
// past the deadline, and the guard stopped what had started before it.
func (g *hookGuard) runStart(ctx context.Context, h *guardedHook) error {
	g.mu.Lock()
	if g.abandoned {
		g.mu.Unlock()
		return errStartGivenUp
	}
	h.state = hookStarting
	g.lastStart = h
	g.mu.Unlock()
	var err error
	if h.hook.OnStart != nil {
		g.logger().Debug("start hook executing", zap.String("hook", h.caller))
		began := time.Now()
		err = h.hook.OnStart(ctx)
		g.logger().Debug("start hook executed", zap.String("hook", h.caller),
			zap.Duration("runtime", time.Since(began)), zap.Error(err))
	}
	g.mu.Lock()
	late := g.abandoned && err == nil
	switch {
	case err != nil:
		h.state = hookIdle
		if g.startErr == nil {
			g.startErr = err
		}
	case late:
		h.state = hookStopping
	default:
		h.state = hookStarted
	}
	g.mu.Unlock()
	if !late {
		return err
	}
	g.stopMu.Lock() // after the stops of the hooks that had started
	defer g.stopMu.Unlock()
	g.mu.Lock()
	stopCtx, cancel := context.WithTimeout(context.Background(), g.stopTimeout)
	g.mu.Unlock()
	defer cancel()
	_, stopErr := g.stopHook(stopCtx, h)
	g.logger().Warn("a start hook returned after the start had been given up; stopped it",
		zap.String("hook", h.caller), zap.NamedError("stop_error", stopErr))
	return errStartGivenUp
}

// runStop runs h's stop unless the guard already stopped it.
func (g *hookGuard) runStop(ctx context.Context, h *guardedHook) error {
	g.mu.Lock()
	if h.state != hookStarted {
		g.mu.Unlock()
		return nil // stopped by the guard after the start ran out
	}
	h.state = hookStopping
	g.lastStop = h
	g.mu.Unlock()
	err := g.callStop(ctx, h)
	g.mu.Lock()
	h.state = hookStopped
	g.mu.Unlock()
	return err
}

// stopHook runs h's stop (h is hookStopping) and returns when it returns or
// when ctx ends, whichever comes first: a stop that hangs is left to run,
// and returned is false.
func (g *hookGuard) stopHook(ctx context.Context, h *guardedHook) (returned bool, err error) {
	done := make(chan error, 1)
	go func() {
		err := g.callStop(ctx, h)
		g.mu.Lock()
		h.state = hookStopped
		g.mu.Unlock()
		done <- err
	}()
	select {
	case err := <-done:
		return true, err
	case <-ctx.Done():
		select {
		case err := <-done:
			return true, err
		default:
			return false, fmt.Errorf("the stop hook of %s has not returned: %w", h.caller, ctx.Err())
		}
	}
}

// callStop calls h's OnStop, if it has one, logging it at debug level.
func (g *hookGuard) callStop(ctx context.Context, h *guardedHook) error {
	if h.hook.OnStop == nil {
		return nil
	}
	g.logger().Debug("stop hook executing", zap.String("hook", h.caller))
	began := time.Now()
	err := h.hook.OnStop(ctx)
	g.logger().Debug("stop hook executed", zap.String("hook", h.caller),
		zap.Duration("runtime", time.Since(began)), zap.Error(err))
	return err
}

func (g *hookGuard) logger() *zap.Logger {
	if g.log == nil {
		return zap.NewNop()
	}
	return g.log
}

// start starts app within its start timeout. A start that runs past it
// (a start hook that hangs, or a stop hook that hangs while fx rolls back a
// start that failed) stops the hooks that had started, in the reverse
// order and within the app's stop timeout, and fails naming the hook it
// waited on, with the start hook's error when one failed. Once the stop
// timeout runs out on a stop that hangs, the stops of the hooks before it
// are not run, as fx does: what they hold may still be in use. A nil guard
// starts app as fx does.
func (g *hookGuard) start(app *fx.App) error {
	ctx, cancel := context.WithTimeout(context.Background(), app.StartTimeout())
	defer cancel()
	err := app.Start(ctx)
	if g == nil || err == nil || ctx.Err() == nil {
		return err // started, or failed within the timeout: fx rolled back what had started
	}
	g.stopMu.Lock()
	defer g.stopMu.Unlock()
	stopCtx, cancelStop := context.WithTimeout(context.Background(), app.StopTimeout())
	defer cancelStop()
	g.mu.Lock()
	g.abandoned = true
	g.stopTimeout = app.StopTimeout()
	startErr := g.startErr
	waited := g.waitedOn(g.lastStart, "start", hookStarting, hookStopping)
	var started []*guardedHook // the hooks that had started and have a stop
	for _, h := range g.hooks {
		if h.state == hookStarted && h.hook.OnStop != nil {
			h.state = hookStopping
			started = append(started, h)
		}
	}
	g.mu.Unlock()
	var problems []error
	stopped, hung := 0, ""
	var skipped []string
	for i := len(started) - 1; i >= 0; i-- {
		h := started[i]
		if stopCtx.Err() != nil { // a stop hung past the stop timeout: the earlier hooks stay as they are
			g.mu.Lock()
			h.state = hookStarted
			g.mu.Unlock()
			skipped = append(skipped, h.caller)
			continue
		}
		returned, err := g.stopHook(stopCtx, h)
		if returned {
			stopped++
		} else {
			hung = h.caller
		}
		if err != nil {
			problems = append(problems, err)
		}
	}
	summary := stoppedSummary(len(started), stopped, hung, skipped, app.StopTimeout())
	head := fmt.Errorf("the start ran past its timeout of %v%s: %s; %s: %w",
		app.StartTimeout(), g.startSetting, waited, summary, err)
	if startErr != nil { // fx's rollback ran out: the start hook's error is the cause
		head = fmt.Errorf("the start failed (%w); rolling back, past the start's timeout of %v%s, %s; %s: %w",
			startErr, app.StartTimeout(), g.startSetting, waited, summary, err)
	}
	return errors.Join(append([]error{head}, problems...)...)
}

// stoppedSummary says what became of the hooks that had started when the
// start was given up: of all (those with a stop hook), stopped returned,
// the stop of hung had not returned when the stop timeout ran out, and
// those of skipped were not run.
func stoppedSummary(all, stopped int, hung string, skipped []string, timeout time.Duration) string {
	switch {
	case all == 0:
		return "no hook that had started was left to stop"
	case stopped == all:
		return fmt.Sprintf("the %d hooks that had started were stopped", all)
	}
	msg := fmt.Sprintf("%d of the %d hooks that had started were stopped", stopped, all)
	if hung != "" {
		msg += fmt.Sprintf(", the stop hook of %s had not returned when the stop's timeout of %v ran out", hung, timeout)
	}
	if len(skipped) > 0 {
		msg += fmt.Sprintf(", and the stops of the %d before it were not run (what they hold may still be in use): %s",
			len(skipped), strings.Join(skipped, ", "))
	}
	return msg
}

// stop stops app within its stop timeout; a stop that runs past it fails
// naming the hook it waited on. A nil guard stops app as fx does.
func (g *hookGuard) stop(app *fx.App) error {
	ctx, cancel := context.WithTimeout(context.Background(), app.StopTimeout())
	defer cancel()
	err := app.Stop(ctx)
	if g == nil || err == nil || ctx.Err() == nil {
		return err
	}
	g.mu.Lock()
	waited := g.waitedOn(g.lastStop, "stop", hookStopping)
	g.mu.Unlock()
	return fmt.Errorf("the stop ran past its timeout of %v%s: %s: %w", app.StopTimeout(), g.stopSetting, waited, err)
}

// waitedOn says which hook a start or a stop (phase) that ran out waited
// on: one still in the first of states where one is (fx runs hooks one at
// a time; a start's rollback runs stop hooks), else the last to run, which
// returned at the deadline. g.mu is held.
func (g *hookGuard) waitedOn(last *guardedHook, phase string, states ...hookState) string {
	for _, state := range states {
		var running []string
		for _, h := range g.hooks {
			if h.state == state {
				running = append(running, h.caller)
			}
		}
		if len(running) == 0 {
			continue
		}
		what := "start"
		if state == hookStopping {
			what = "stop"
		}
		return fmt.Sprintf("the %s hook of %s has not returned", what, strings.Join(running, " and of "))
	}
	if last != nil {
		return fmt.Sprintf("the last %s hook to run was %s's", phase, last.caller)
	}
	return fmt.Sprintf("no %s hook was running", phase)
}
