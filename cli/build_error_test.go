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
		{"a constructor's error", fx.Options(fx.Provide(func() (*bytes.Buffer, error) { return nil, errors.New("the module's own error") }),
			fx.Invoke(func(*bytes.Buffer) {})), "durable", []string{"the module's own error"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("IMCALLBACK_DELIVERY", tt.delivery)
			t.Setenv("IMCALLBACK_SDKAPPID", "1400000000")
			t.Setenv("IMCALLBACK_DATA_DIR", t.TempDir())
			t.Setenv("IMCALLBACK_LISTEN", "127.0.0.1:0")
			t.Setenv("IMCALLBACK_ADMIN_LISTEN", "127.0.0.1:0")
			ctx, cancel := context.WithCancel(context.Background())
			cancel() // were the app built, it would stop at once rather than serve
			var out bytes.Buffer
			root := newRootCmd(&out, &out, tt.module)
			root.SetArgs([]string{"serve"})
			err := root.ExecuteContext(ctx)
			if err == nil {
				t.Fatal("served")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "wired twice") != (len(tt.want) > 1) {
				t.Errorf("error %q", err)
			}
		})
	}
}
