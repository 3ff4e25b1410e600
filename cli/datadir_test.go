//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package cli

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/imcallback/imcallback/config"
	"github.com/imcallback/imcallback/plugins/topicsync"
)

// TestASecondServeOnTheDataDirectoryIsRefused: a second serve on the data
// directory of a running one opened the SQLite topic store and ran its
// migrations before the embedded JetStream's lock refused it (durable
// delivery), so a newer binary migrated the schema under the running
// older one; with inline delivery nothing refused it at all, and both ran.
// serve now locks the directory before it builds the service: the second
// fails at once, naming the directory and the first's pid, and the store
// (here one migration behind, as an older binary left it) is not migrated.
func TestASecondServeOnTheDataDirectoryIsRefused(t *testing.T) {
	for _, mode := range []string{config.DeliveryDurable, config.DeliveryInline} {
		t.Run(mode, func(t *testing.T) {
			dir := t.TempDir()
			setenvAll(t, []string{"IMCALLBACK_SDKAPPID=1400000000", "IMCALLBACK_TOKENS=t", "IMCALLBACK_DATA_DIR=" + dir,
				"IMCALLBACK_DELIVERY=" + mode, "IMCALLBACK_NATS_URL=", "IMCALLBACK_STORE_DSN=", "IMCALLBACK_NATS_LISTEN=",
				"IMCALLBACK_LISTEN=127.0.0.1:0", "IMCALLBACK_ADMIN_LISTEN=127.0.0.1:0", "IMCALLBACK_LOG_LEVEL=error",
				"GOGC=100", "GOMEMLIMIT=off"}) // serve leaves the test binary's collector alone (tuneGC)

			first := startServe(t)
			waitStarted(t, first, "the first serve")

			latest := migrationsBehind(t, topicsync.SQLitePath(dir))

			second := startServe(t)
			select {
			case err := <-second.done:
				if !errors.Is(err, errDataDirInUse) {
					t.Errorf("the second serve: %v; want the data directory in use", err)
				} else {
					for _, want := range []string{"IMCALLBACK_DATA_DIR " + dir, "pid " + strconv.Itoa(os.Getpid())} {
						if !strings.Contains(err.Error(), want) {
							t.Errorf("the second serve's error does not say %q: %v", want, err)
						}
					}
				}
			case <-second.started:
				t.Error("a second serve started on the data directory of a running one")
				second.stop(t)
			case <-time.After(time.Minute): // a bound only broken code reaches
				second.stop(t)
				t.Fatal("the second serve neither failed nor started within a minute")
			}
			if v := schemaVersion(t, topicsync.SQLitePath(dir)); v != latest-1 {
				t.Errorf("the topic store's schema is at version %d after the second serve; want %d, as the first left it", v, latest-1)
			}

			first.stop(t)
			// The lock is given back with the stop: a serve starts again.
			again := startServe(t)
			waitStarted(t, again, "a serve after the first stopped")
			again.stop(t)
		})
	}
}

// servedCLI is a serve of the command line run in the test's process.
type servedCLI struct {
	cancel  context.CancelFunc
	done    chan error
	started chan struct{}
	out     *bytes.Buffer
}

// startServe runs serve with topicsync.Module, as cmd/imcallback does, on
// the environment's configuration, until stopped.
func startServe(t *testing.T) *servedCLI {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &servedCLI{cancel: cancel, done: make(chan error, 1), started: make(chan struct{}), out: &bytes.Buffer{}}
	root := newRootCmd(s.out, s.out, topicsync.Module, lastAppended(func() { close(s.started) }, func() {}))
	root.SetArgs([]string{"serve"})
	go func() { s.done <- root.ExecuteContext(ctx) }()
	t.Cleanup(cancel)
	return s
}

// waitStarted waits until s has started, failing t if it fails or does not
// start within a minute.
func waitStarted(t *testing.T, s *servedCLI, what string) {
	t.Helper()
	select {
	case <-s.started:
	case err := <-s.done:
		t.Fatalf("%s: %v", what, err)
	case <-time.After(time.Minute): // a bound only broken code reaches
		t.Fatalf("%s did not start within a minute", what)
	}
}

// stop stops s and waits for its end, failing t if it ends with an error.
func (s *servedCLI) stop(t *testing.T) {
	t.Helper()
	s.cancel()
	if err := waitRun(t, s.done, "the serve's stop"); err != nil {
		t.Errorf("serve: %v", err)
	}
}

// migrationsBehind rolls the SQLite topic store at path back by its latest
// migration (its Down, and its row in goose's table), as a binary one
// migration older would have left it, and returns the latest version.
func migrationsBehind(t *testing.T, path string) int64 {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "plugins", "topicsync", "migrations", "sqlite", "*.sql"))
	if err != nil || len(files) == 0 {
		t.Fatalf("the SQLite migrations: %v %v", files, err)
	}
	slices.Sort(files)
	name := filepath.Base(files[len(files)-1])
	latest, err := strconv.ParseInt(name[:strings.IndexByte(name, '_')], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(files[len(files)-1])
	if err != nil {
		t.Fatal(err)
	}
	_, down, ok := strings.Cut(string(b), "-- +goose Down")
	if !ok {
		t.Fatalf("%s has no Down", name)
	}
	db := openSQLite(t, path)
	if v := schemaVersion(t, path); v != latest {
		t.Fatalf("the store's schema is at version %d, the latest migration %s", v, name)
	}
	if _, err := db.Exec(down); err != nil {
		t.Fatalf("%s Down: %v", name, err)
	}
	if _, err := db.Exec(`DELETE FROM topic_goose_db_version WHERE version_id = ?`, latest); err != nil {
		t.Fatal(err)
	}
	return latest
}

// schemaVersion is the latest version goose's table of the SQLite store at
// path records.
func schemaVersion(t *testing.T, path string) int64 {
	t.Helper()
	var v int64
	if err := openSQLite(t, path).QueryRow(`SELECT max(version_id) FROM topic_goose_db_version`).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// openSQLite opens the SQLite database at path, closed with the test.
func openSQLite(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// TestTheDataDirectoryIsLockedWhenItHoldsAStore: serve locks the data
// directory when the service keeps a store there (the SQLite topic store,
// the embedded JetStream), and otherwise neither locks it nor creates it:
// replicas on PostgreSQL and a NATS cluster may share one, as before.
func TestTheDataDirectoryIsLockedWhenItHoldsAStore(t *testing.T) {
	tests := []struct {
		name     string
		delivery string
		natsURL  string
		storeDSN string
		locked   bool
	}{
		{"durable, SQLite and embedded NATS", config.DeliveryDurable, "", "", true},
		{"inline, SQLite", config.DeliveryInline, "", "", true},
		{"durable, PostgreSQL and embedded NATS", config.DeliveryDurable, "", "postgres://db/x", true},
		{"durable, SQLite and a NATS cluster", config.DeliveryDurable, "nats://nats:4222", "", true},
		{"durable, PostgreSQL and a NATS cluster", config.DeliveryDurable, "nats://nats:4222", "postgres://db/x", false},
		{"inline, PostgreSQL", config.DeliveryInline, "", "postgres://db/x", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			cfg := &config.Config{DataDir: dir, Delivery: tt.delivery, NATSURL: tt.natsURL, StoreDSN: tt.storeDSN}
			release, err := lockDataDir(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer release()
			if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) == tt.locked {
				t.Fatalf("the data directory: %v; want it created %v", err, tt.locked)
			}
			_, err = lockDataDir(cfg)
			if tt.locked && !errors.Is(err, errDataDirInUse) {
				t.Errorf("a second lock: %v; want the data directory in use", err)
			}
			if !tt.locked && err != nil {
				t.Errorf("a second service: %v; want no lock", err)
			}
		})
	}
}

// TestARefusedServeLeavesNoDataDirectory: serve checked the tracing
// variables and the forward destinations only once it had taken the data
// directory, which creates it (and its lock file): a start refused for a
// mistyped forward glob or an exporter the service does not have left the
// directory behind, where config check refused the same settings before
// touching anything; a store DSN its driver cannot parse, which neither
// checked, failed only at the store's open. serve now makes every check
// of the settings first, config check the same ones.
func TestARefusedServeLeavesNoDataDirectory(t *testing.T) {
	const secret = "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM=" // 20 bytes
	tests := []struct {
		name string
		env  []string
		want string
	}{
		{"a forward glob that matches no command", []string{"IMCALLBACK_FORWARD_URL=https://hooks.example.invalid/im",
			"IMCALLBACK_FORWARD_SECRET=" + secret, "IMCALLBACK_FORWARD_MATCH=Group.CallbackAfterCreateTopc"},
			"IMCALLBACK_FORWARD_MATCH"},
		{"a trace exporter the service does not have", []string{"OTEL_TRACES_EXPORTER=zipkin"}, "OTEL_TRACES_EXPORTER"},
		{"a store DSN the driver cannot parse", []string{"IMCALLBACK_STORE_DSN=postgres://imcb:pw@127.0.0.1:99999/imcallback"},
			"IMCALLBACK_STORE_DSN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			setenvAll(t, []string{"IMCALLBACK_SDKAPPID=1400000000", "IMCALLBACK_TOKENS=t", "IMCALLBACK_DATA_DIR=" + dir,
				"IMCALLBACK_DELIVERY=inline", "IMCALLBACK_STORE_DSN=", "IMCALLBACK_LISTEN=127.0.0.1:0",
				"IMCALLBACK_ADMIN_LISTEN=127.0.0.1:0", "IMCALLBACK_FORWARD_URL=", "IMCALLBACK_FORWARD_SECRET=",
				"IMCALLBACK_FORWARD_MATCH=", "OTEL_TRACES_EXPORTER=", "OTEL_EXPORTER_OTLP_ENDPOINT=", "OTEL_SDK_DISABLED=",
				"GOGC=100", "GOMEMLIMIT=off"})
			setenvAll(t, tt.env)
			s := startServe(t)
			select {
			case err := <-s.done:
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Errorf("serve: %v; want an error naming %s", err, tt.want)
				}
			case <-s.started:
				s.stop(t)
				t.Fatal("serve started with settings config check refuses")
			case <-time.After(time.Minute): // a bound only broken code reaches
				t.Fatal("serve neither failed nor started within a minute")
			}
			if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the refused serve left the data directory behind: stat %s: %v", dir, err)
			}
		})
	}
}
