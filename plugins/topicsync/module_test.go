package topicsync_test

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/imcallback/imcallback/config"
	"github.com/imcallback/imcallback/imtest"
	"github.com/imcallback/imcallback/internal/leakwait"
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
					if err := leakwait.Find(ignore); err != nil {
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

// TestStopAbandonsACloseThatWaitsPastItsContext: the store's stop returns
// when its context ends although a query still holds a connection (one
// stuck on a lock, with a context that never ends), saying so in its error
// and in the log; the close goes on in the background and ends once the
// connection comes back. It waited for the connection whatever the stop's
// context said: the stop hooks after it did not run.
func TestStopAbandonsACloseThatWaitsPastItsContext(t *testing.T) {
	dsn := postgresSchemaDSN(t)
	core, logs := observer.New(zap.WarnLevel)
	lc := fxtest.NewLifecycle(t)
	cfg := &config.Config{StoreDSN: dsn, DataDir: t.TempDir(), SdkAppIDs: []string{testApp}}
	store, err := topicsync.NewStoreOnLifecycle(lc, cfg, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	lc.RequireStart()

	// Another session holds the table: the store's read waits on the lock.
	holder, err := pgx.Connect(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close(context.Background())
	tx, err := holder.Begin(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(t.Context(), `LOCK TABLE topics IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	released := false
	release := func() {
		if !released {
			released = true
			if err := tx.Rollback(context.Background()); err != nil {
				t.Errorf("release the lock: %v", err)
			}
		}
	}
	defer release()
	read := make(chan error, 1)
	go func() {
		_, err := store.Get(context.Background(), testApp, "stuck")
		read <- err
	}()
	for waiting := 0; waiting == 0; { // until the read waits on the lock, holding its connection
		if err := holder.QueryRow(t.Context(), `SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'topics'::regclass`).
			Scan(&waiting); err != nil {
			t.Fatal(err)
		}
		if waiting == 0 {
			time.Sleep(10 * time.Millisecond)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stopped := make(chan error, 1)
	go func() { stopped <- lc.Stop(ctx) }()
	// The stop's time runs out once the close began (calls are refused from
	// then on); fx runs no hook with a context that has already ended.
	for !errors.Is(store.Ping(t.Context()), topicsync.ErrClosed) {
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	select {
	case err := <-stopped:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("the stop returned %v, want an error wrapping %v", err, context.Canceled)
		}
	case <-time.After(time.Minute):
		release()
		<-stopped
		t.Fatal("the stop did not return when its context ended: it waited for the stuck query's connection")
	}
	if logs.FilterMessageSnippet("abandoned").Len() != 1 {
		t.Errorf("the abandoned close was not logged: %v", logs.All())
	}
	release()
	<-read // its connection is back: the close in the background ends
	// goleak (TestMain) checks that the close in the background ended.
}
