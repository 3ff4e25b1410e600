package dispatcher_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/imcallback/imcallback/config"
	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/metrics"
	"github.com/imcallback/imcallback/middleware"
)

// TestUnflattenedCommandListFailsTheStart: a constructor returning
// []dispatcher.Command tagged into the commands group by hand without
// flatten put one list in a group of lists that nothing reads, so its
// commands silently never ran; the start now fails naming them.
func TestUnflattenedCommandListFailsTheStart(t *testing.T) {
	noop := func(context.Context, *dispatcher.Event[map[string]any]) error { return nil }
	list := func() []dispatcher.Command {
		return []dispatcher.Command{dispatcher.After("X.CallbackAfterA", noop), dispatcher.After("X.CallbackAfterB", noop)}
	}
	app := fx.New(fx.NopLogger,
		fx.Supply(&config.Config{BeforeTimeout: time.Second, InlineTimeout: time.Second, SdkAppIDs: []string{"1400000000"}},
			zap.NewNop(), metrics.NewCallbacks(prometheus.NewRegistry())),
		dispatcher.Module,
		fx.Provide(fx.Annotate(list, fx.ResultTags(dispatcher.CommandGroup))),
		fx.Invoke(func(*dispatcher.Dispatcher) {}))
	want := "X.CallbackAfterA, X.CallbackAfterB"
	if err := app.Err(); err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "dispatcher.AsCommands") {
		t.Fatalf("error %v, want one naming %q and dispatcher.AsCommands", err, want)
	}
}

// TestCommandInTheMiddlewareGroupFailsTheStart: a command tagged by hand
// into the middleware group (fx.ResultTags(middleware.Group) where
// dispatcher.CommandGroup belongs) was collected by nothing, so it
// silently never ran; the start now fails naming it and its group.
func TestCommandInTheMiddlewareGroupFailsTheStart(t *testing.T) {
	noop := func(context.Context, *dispatcher.Event[map[string]any]) error { return nil }
	tests := []struct {
		name    string
		provide any
	}{
		{"one command", fx.Annotate(func() dispatcher.Command { return dispatcher.After("X.CallbackAfterA", noop) },
			fx.ResultTags(middleware.Group))},
		{"a flattened list", fx.Annotate(func() []dispatcher.Command {
			return []dispatcher.Command{dispatcher.After("X.CallbackAfterA", noop)}
		}, fx.ResultTags(`group:"middleware,flatten"`))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			app := fx.New(fx.NopLogger,
				fx.Supply(&config.Config{BeforeTimeout: time.Second, InlineTimeout: time.Second, SdkAppIDs: []string{"1400000000"}},
					zap.NewNop(), metrics.NewCallbacks(prometheus.NewRegistry())),
				dispatcher.Module,
				fx.Provide(tc.provide),
				fx.Invoke(func(*dispatcher.Dispatcher) {}))
			err := app.Err()
			if err == nil || !strings.Contains(err.Error(), "X.CallbackAfterA is in the middleware group") ||
				!strings.Contains(err.Error(), "dispatcher.CommandGroup") {
				t.Fatalf("error %v, want one naming X.CallbackAfterA, the middleware group and dispatcher.CommandGroup", err)
			}
		})
	}
}
