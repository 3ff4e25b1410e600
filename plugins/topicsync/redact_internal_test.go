package topicsync

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
)

// TestRedactDSNWhereThePasswordStands: a PostgreSQL error has the DSN's
// password replaced where it stands as the password (after the user's ':'
// before the '@', and as a password or sslpassword parameter's value),
// never elsewhere when its text is also the user, the database or part of
// the host: with a short or common password the error stays readable. A
// password that is no part of the rest of the DSN is replaced wherever it
// stands apart, as a misread DSN may quote it anywhere.
func TestRedactDSNWhereThePasswordStands(t *testing.T) {
	tests := []struct {
		name, dsn, msg, want string
	}{
		{"the password is the user and the database",
			"postgres://postgres:postgres@127.0.0.1:5432/postgres",
			"failed to connect to `user=postgres database=postgres`: 127.0.0.1:5432 (127.0.0.1): server error: FATAL: password authentication failed for user \"postgres\" (SQLSTATE 28P01)",
			"failed to connect to `user=postgres database=postgres`: 127.0.0.1:5432 (127.0.0.1): server error: FATAL: password authentication failed for user \"postgres\" (SQLSTATE 28P01)"},
		{"the password is a digit of the host and the port",
			"postgres://imcb:1@127.0.0.1:1/test",
			"failed to connect to `user=imcb database=test`: 127.0.0.1:1 (127.0.0.1): dial error: dial tcp 127.0.0.1:1: connect: connection refused",
			"failed to connect to `user=imcb database=test`: 127.0.0.1:1 (127.0.0.1): dial error: dial tcp 127.0.0.1:1: connect: connection refused"},
		{"the DSN quoted, the password also the user",
			"postgres://postgres:postgres@db:notaport/postgres",
			"cannot parse `postgres://postgres:postgres@db:notaport/postgres`: invalid port",
			"cannot parse `postgres://postgres:xxxxx@db:notaport/postgres`: invalid port"},
		{"a password parameter quoted, the password also the user",
			"postgres://postgres@db/postgres?password=postgres&sslmode=bogus",
			"cannot parse `postgres://postgres@db/postgres?password=postgres&sslmode=bogus`: sslmode is invalid",
			"cannot parse `postgres://postgres@db/postgres?password=xxxxx&sslmode=bogus`: sslmode is invalid"},
		{"keyword form, the password also the user",
			"postgres://postgres:postgres@db/postgres",
			"connect host=db user=postgres password=postgres dbname=postgres; sslpassword='postgres'",
			"connect host=db user=postgres password=xxxxx dbname=postgres; sslpassword='xxxxx'"},
		{"a password of its own, quoted anywhere",
			"postgres://imcb:s3cr3t-pw@db/topics",
			"invalid port \":s3cr3t-pw\" after host; user=imcb",
			"invalid port \":xxxxx\" after host; user=imcb"},
		{"a password that is a part of the placeholder config.Redact writes",
			"postgres://imcb:redacted@db/topics",
			"invalid port \":redacted\" after host; user=imcb",
			"invalid port \":xxxxx\" after host; user=imcb"},
		{"a password of its own inside a word",
			"postgres://imcb:word@db/topics",
			"FATAL: password authentication failed for user \"imcb\"",
			"FATAL: password authentication failed for user \"imcb\""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := redactDSN(tt.dsn, errors.New(tt.msg)).Error(); got != tt.want {
				t.Errorf("redactDSN:\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

// TestOpenPostgresErrorStaysReadable: a store that cannot connect, its
// password "postgres" like its user and database, says which user,
// database and host it tried (pgx's own text), where every "postgres" was
// replaced before.
func TestOpenPostgresErrorStaysReadable(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	_, err := OpenPostgres(ctx, "postgres://postgres:postgres@127.0.0.1:1/postgres?sslmode=disable&connect_timeout=5", zap.NewNop())
	if err == nil {
		t.Fatal("opened a store on port 1")
	}
	for _, want := range []string{"user=postgres database=postgres", "127.0.0.1:1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q\nwant it to hold %q", err, want)
		}
	}
}
