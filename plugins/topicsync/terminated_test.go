package topicsync_test

import (
	"context"
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
