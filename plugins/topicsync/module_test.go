package topicsync_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
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

// TestStartWaitsForTheStoreAsLongAsTheStartMay: the store's start (its
// migrations, and the wait for another replica's) is bounded by the start's
// own deadline (IMCALLBACK_START_TIMEOUT, documented as the bound of the
// store's migrations), not by a shorter one of the module's: a migration
// of a large table, or a replica waiting for another's, failed every start
// once it took longer, rolled back, with "context deadline exceeded".
// openTimeout bounds only a start without a deadline.
func TestStartWaitsForTheStoreAsLongAsTheStartMay(t *testing.T) {
	dsn := postgresSchemaDSN(t)
	defer topicsync.SetOpenTimeout(time.Second)()
	// Another replica migrates: it holds the migration lock for longer
	// than openTimeout, and well within the start's deadline.
	conn, err := pgx.Connect(t.Context(), os.Getenv(postgresDSNEnv))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(t.Context(), `SELECT pg_advisory_lock($1)`, topicsync.PostgresMigrationLockID); err != nil {
		t.Fatal(err)
	}
	unlocked := make(chan error, 1)
	release := time.AfterFunc(3*time.Second, func() {
		_, err := conn.Exec(context.Background(), `SELECT pg_advisory_unlock($1)`, topicsync.PostgresMigrationLockID)
		unlocked <- err
	})
	defer release.Stop()

	cfg := &config.Config{StoreDSN: dsn, DataDir: t.TempDir(), SdkAppIDs: []string{testApp}}
	var store topicsync.Store
	app := fx.New(fx.NopLogger, fx.Supply(cfg, zap.NewNop()), topicsync.Module,
		fx.Invoke(func(s topicsync.Store) { store = s }))
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	if err := app.Start(ctx); err != nil {
		t.Fatalf("start while another replica held the migration lock for less than the start may take: %v", err)
	}
	defer app.Stop(context.Background())
	if err := <-unlocked; err != nil {
		t.Fatalf("release the lock: %v", err)
	}
	if err := store.Ping(t.Context()); err != nil {
		t.Errorf("Ping after the start: %v", err)
	}
}
