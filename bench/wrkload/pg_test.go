package main

import (
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestPostgresRowStoresInASchemaOfItsOwn: the PostgreSQL row's service
// wrote its topics into the public schema of IMCALLBACK_TEST_POSTGRES_DSN's
// database and left them there: each run added the topics of its rounds
// to the table the next run measured, and to the database the tests use.
// Each service of the row now stores in a fresh schema, dropped when the
// step ends.
func TestPostgresRowStoresInASchemaOfItsOwn(t *testing.T) {
	pg := os.Getenv("IMCALLBACK_TEST_POSTGRES_DSN")
	if pg == "" {
		t.Skip("set IMCALLBACK_TEST_POSTGRES_DSN (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable) to run the PostgreSQL row's test")
	}
	t.Cleanup(dropSchemas)
	var r row
	for _, x := range rows(pg) {
		if x.needPG {
			r = x
		}
	}
	storeDSN := func(env []string) string {
		var dsn string
		for _, kv := range env { // the last one counts, as for exec
			if v, ok := strings.CutPrefix(kv, "IMCALLBACK_STORE_DSN="); ok {
				dsn = v
			}
		}
		return dsn
	}
	schemaOf := func(dsn string) string {
		u, err := url.Parse(dsn)
		if err != nil {
			t.Fatal(err)
		}
		return u.Query().Get("search_path")
	}
	dir := t.TempDir()
	service := storeDSN(serviceEnv(r, filepath.Join(dir, r.name), "127.0.0.1:1", 10, nil))
	baseline := storeDSN(serviceEnv(r, filepath.Join(dir, r.name+"-baseline"), "127.0.0.1:2", 10, nil))
	schemas := []string{schemaOf(service), schemaOf(baseline)}
	if schemas[0] == "" || schemas[0] == schemaOf(pg) || schemas[1] == "" || schemas[1] == schemas[0] {
		t.Fatalf("the row's services store with %q and %q: want a search_path of each one's own, not the DSN's schema", service, baseline)
	}
	exists := func(schema string) bool {
		conn, err := pgx.Connect(t.Context(), pg)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(t.Context())
		var n int
		if err := conn.QueryRow(t.Context(), `SELECT count(*) FROM information_schema.schemata WHERE schema_name = $1`, schema).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 1
	}
	for _, s := range schemas {
		if !exists(s) {
			t.Fatalf("schema %s of the row's store does not exist", s)
		}
	}
	dropSchemas()
	for _, s := range schemas {
		if exists(s) {
			t.Errorf("schema %s is still there after the step's end", s)
		}
	}
}
