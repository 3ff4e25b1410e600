package topicsync

import (
	"testing"
	"time"
)

// TestPostgresConnectTimeoutIsTheUsers: each connection attempt of the
// PostgreSQL store gives up after postgresConnectTimeout unless the user
// set a timeout of their own, in the DSN (connect_timeout) or in the
// environment (PGCONNECT_TIMEOUT, which pgx reads as libpq does), which is
// kept as set, 0 (pgxpool's own bound) included; the DSN's wins over the
// environment's. Before, PGCONNECT_TIMEOUT=0 was replaced by the 10 s
// default.
func TestPostgresConnectTimeoutIsTheUsers(t *testing.T) {
	const base = "postgres://u@127.0.0.1:5432/db?sslmode=disable"
	tests := []struct {
		name string
		dsn  string
		env  string // PGCONNECT_TIMEOUT; "": unset
		want time.Duration
	}{
		{name: "neither sets one", dsn: base, want: postgresConnectTimeout},
		{name: "the environment sets 5", dsn: base, env: "5", want: 5 * time.Second},
		{name: "the environment sets 0", dsn: base, env: "0", want: 0},
		{name: "the DSN sets 3", dsn: base + "&connect_timeout=3", want: 3 * time.Second},
		{name: "the DSN sets 0", dsn: base + "&connect_timeout=0", want: 0},
		{name: "the DSN's 3 over the environment's 0", dsn: base + "&connect_timeout=3", env: "0", want: 3 * time.Second},
		{name: "the DSN's 0 over the environment's 5", dsn: base + "&connect_timeout=0", env: "5", want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("PGCONNECT_TIMEOUT", tt.env) // empty: unset, for pgx as for libpq
			cfg, err := postgresConfig(tt.dsn)
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.ConnConfig.ConnectTimeout; got != tt.want {
				t.Errorf("connect timeout %v, want %v", got, tt.want)
			}
		})
	}
}
