package topicsync_test

import (
	"context"
	"errors"
	"testing"

	"go.uber.org/fx"
	"go.uber.org/goleak"
	"go.uber.org/zap"

	"github.com/imcallback/imcallback/config"
	"github.com/imcallback/imcallback/imtest"
	"github.com/imcallback/imcallback/plugins/topicsync"
)

// TestFailedStartLeavesNoStoreOpen: when the app fails to build or to start,
// topicsync.Module leaves no store open (no file of the data directory, no
// goroutine of the SQLite writer or the PostgreSQL pool), whichever side of
// the store's start the failure is on. fx runs no stop hook of a
// constructor when a later one fails, nor of a hook after a failed start.
func TestFailedStartLeavesNoStoreOpen(t *testing.T) {
	errBoom := errors.New("boom")
	useStore := func(got *topicsync.Store) fx.Option {
		return fx.Invoke(func(s topicsync.Store) { *got = s })
	}
	failStart := fx.Invoke(func(lc fx.Lifecycle) { lc.Append(fx.StartHook(func() error { return errBoom })) })
	tests := []struct {
		name string
		opts func(got *topicsync.Store) []fx.Option
	}{
		{"a later constructor fails", func(got *topicsync.Store) []fx.Option {
			return []fx.Option{useStore(got), fx.Invoke(func() error { return errBoom })}
		}},
		{"a later start hook fails", func(got *topicsync.Store) []fx.Option {
			return []fx.Option{useStore(got), failStart}
		}},
		{"an earlier start hook fails", func(got *topicsync.Store) []fx.Option {
			return []fx.Option{failStart, useStore(got)}
		}},
	}
	for _, b := range pluginBackends {
		t.Run(b.name, func(t *testing.T) {
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					dsn, dir := b.dsn(t), t.TempDir()
					cfg := &config.Config{StoreDSN: dsn, DataDir: dir, SdkAppIDs: []string{testApp}}
					ignore := goleak.IgnoreCurrent() // the goroutines from before the app
					var store topicsync.Store
					app := fx.New(append([]fx.Option{fx.NopLogger, fx.Supply(cfg, zap.NewNop()), topicsync.Module},
						tt.opts(&store)...)...)
					err := app.Err()
					if err == nil {
						err = app.Start(t.Context())
					}
					if !errors.Is(err, errBoom) {
						t.Fatalf("the app failed with %v, want %v", err, errBoom)
					}
					if store == nil {
						t.Fatal("the store was not built before the failure")
					}
					if err := store.Ping(context.Background()); !errors.Is(err, topicsync.ErrClosed) {
						t.Errorf("Ping after the failed start = %v, want ErrClosed", err)
					}
					if held := imtest.OpenFilesUnder(t, dir); len(held) > 0 {
						t.Errorf("files of the data directory still open: %q", held)
					}
					if err := goleak.Find(ignore); err != nil {
						t.Errorf("the store's goroutines outlive the failed app: %v", err)
					}
				})
			}
		})
	}
}
