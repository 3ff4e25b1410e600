package topicsync_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap/zaptest"

	"github.com/imcallback/imcallback/plugins/topicsync"
)

// TestPingAfterConnectionsTerminated: right after the server ended the
// pool's connections (pg_terminate_backend, a failover, an idle timeout),
// the readiness check (Ping: /v1/status's topic_store, /readyz inline)
// does not report the store failing because the pool handed it a dead
// connection: the check takes a live one, as a write's retry would. Only
// this test's connections are ended, found by their application_name.
func TestPingAfterConnectionsTerminated(t *testing.T) {
	tests := []struct {
		name string
		warm int // concurrent pings that open the pool's connections first
	}{
		{"one connection", 1},
		{"several connections", 8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, app := openNamedPostgres(t)
			var wg sync.WaitGroup
			for range tt.warm {
				wg.Go(func() {
					if err := s.Ping(t.Context()); err != nil {
						t.Errorf("Ping before the connections were ended: %v", err)
					}
				})
			}
			wg.Wait()
			if n := terminateBackends(t, app); n == 0 {
				t.Fatal("no connection of the store was ended")
			}
			for i := range 2 {
				if err := s.Ping(t.Context()); err != nil {
					t.Errorf("Ping %d after the server ended the pool's connections = %v, want nil: the server is up", i+1, err)
				}
			}
		})
	}
}

// openNamedPostgres opens a store on a schema of its own whose
// connections carry an application_name of their own, returned, which
// terminateBackends ends.
func openNamedPostgres(t *testing.T) (topicsync.Store, string) {
	t.Helper()
	app := "imcb_term_" + randomHex(t)
	u, err := url.Parse(postgresSchemaDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("application_name", app)
	u.RawQuery = q.Encode()
	s, err := topicsync.OpenPostgres(t.Context(), u.String(), zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeStore(t, s) })
	return s, app
}

// terminateBackends ends the server's connections named app and waits
// until they are gone; it returns how many there were.
func terminateBackends(t *testing.T, app string) int {
	t.Helper()
	ctx := t.Context()
	conn, err := pgx.Connect(ctx, os.Getenv(postgresDSNEnv))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(ctx, `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = $1`, app).Scan(&n); err != nil {
		t.Fatalf("pg_terminate_backend: %v", err)
	}
	for {
		var left int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity WHERE application_name = $1`, app).Scan(&left); err != nil {
			t.Fatal(err)
		}
		if left == 0 {
			return n
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%d connections of %s still open", left, app)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// TestStoreCallsAfterConnectionsTerminated: right after the server ended
// the pool's connections (pg_terminate_backend, a failover), a topic write
// or a read of the admin API does not fail because the pool handed it a
// dead connection (a write would go to durable delivery's retries, or
// fail an inline callback, and a read would answer 500): the store runs
// it again on a live connection. Every write is applied once however
// often it runs, so running one again whose first run failed is safe.
func TestStoreCallsAfterConnectionsTerminated(t *testing.T) {
	const appID = "1400000001"
	tests := []struct {
		name string
		call func(ctx context.Context, s topicsync.Store, n int) error
	}{
		{"create", func(ctx context.Context, s topicsync.Store, n int) error {
			return s.Create(ctx, topicsync.Topic{SdkAppID: appID, GroupID: "@TGS#_g",
				TopicID: fmt.Sprintf("@TGS#_g@TOPIC#_%d", n), CreatedAt: time.Now()})
		}},
		{"info change", func(ctx context.Context, s topicsync.Store, n int) error {
			name := fmt.Sprint("name ", n)
			return s.ApplyInfoChange(ctx, topicsync.InfoChange{SdkAppID: appID, TopicID: "@TGS#_g@TOPIC#_base", Name: &name, At: time.Now()})
		}},
		{"destroy", func(ctx context.Context, s topicsync.Store, n int) error {
			return s.Destroy(ctx, appID, "@TGS#_g", []string{fmt.Sprintf("@TGS#_g@TOPIC#_gone%d", n)}, time.Now())
		}},
		{"get", func(ctx context.Context, s topicsync.Store, _ int) error {
			_, err := s.Get(ctx, appID, "@TGS#_g@TOPIC#_base")
			return err
		}},
		{"list", func(ctx context.Context, s topicsync.Store, _ int) error {
			_, err := s.List(ctx, topicsync.ListFilter{Limit: 10})
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, app := openNamedPostgres(t)
			if err := s.Create(t.Context(), topicsync.Topic{SdkAppID: appID, GroupID: "@TGS#_g",
				TopicID: "@TGS#_g@TOPIC#_base", CreatedAt: time.Now().Add(-time.Hour)}); err != nil {
				t.Fatal(err)
			}
			for i := range 3 {
				// Several connections open, each used just now.
				var wg sync.WaitGroup
				for range 4 {
					wg.Go(func() {
						if _, err := s.List(t.Context(), topicsync.ListFilter{Limit: 1}); err != nil {
							t.Errorf("List before the connections were ended: %v", err)
						}
					})
				}
				wg.Wait()
				if n := terminateBackends(t, app); n == 0 {
					t.Fatal("no connection of the store was ended")
				}
				if err := tt.call(t.Context(), s, i); err != nil {
					t.Errorf("%s %d after the server ended the pool's connections = %v, want nil: the server is up", tt.name, i+1, err)
				}
			}
		})
	}
}
