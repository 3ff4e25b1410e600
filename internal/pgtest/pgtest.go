// Package pgtest gives a test a PostgreSQL schema of its own in a database
// the tests share, so that its tables meet no other test's or run's, and
// none are left behind.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// adminTimeout bounds the creation and the drop of a schema, on a server
// that a loaded machine may answer slowly.
const adminTimeout = 30 * time.Second

// Schema creates a schema named prefix and random hex digits in the
// database of dsn, drops it with everything in it when the test ends
// (after the cleanups registered later, such as a service's stop), and
// returns dsn with search_path set to it.
func Schema(t testing.TB, dsn, prefix string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("pgtest: the DSN does not parse: %v", err)
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	schema := prefix + hex.EncodeToString(b[:])
	if err := Exec(dsn, "CREATE SCHEMA "+schema); err != nil {
		t.Fatalf("pgtest: create schema %s: %v", schema, err)
	}
	t.Cleanup(func() {
		if err := Exec(dsn, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("pgtest: drop schema %s: %v", schema, err)
		}
	})
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Exec runs sql on a connection of its own to dsn's database, within a
// timeout that a loaded machine's server meets.
func Exec(dsn, sql string) error {
	ctx, cancel := context.WithTimeout(context.Background(), adminTimeout)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	defer conn.Close(context.Background())
	_, err = conn.Exec(ctx, sql)
	return err
}
