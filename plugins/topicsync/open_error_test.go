package topicsync_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap/zaptest"

	"github.com/imcallback/imcallback/plugins/topicsync"
)

// TestOpenStoreSaysWhyTheDatabaseCannotBeOpened: SQLite's own error, "unable to open database
// file (14)", names no cause; the start must say what is wrong with the data directory.
func TestOpenStoreSaysWhyTheDatabaseCannotBeOpened(t *testing.T) {
	t.Run("a directory in the database's place", func(t *testing.T) {
		dataDir := t.TempDir()
		if err := os.Mkdir(filepath.Join(dataDir, "topics.db"), 0o700); err != nil {
			t.Fatal(err)
		}
		_, err := topicsync.OpenStore(t.Context(), "", dataDir, zaptest.NewLogger(t))
		if err == nil || !strings.Contains(err.Error(), "is a directory") {
			t.Fatalf("OpenStore = %v, want an error saying the database is a directory", err)
		}
	})
	t.Run("a data directory that is not writable", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("root writes into any directory")
		}
		dataDir := t.TempDir()
		if err := os.Chmod(dataDir, 0o500); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = os.Chmod(dataDir, 0o700) })
		_, err := topicsync.OpenStore(t.Context(), "", dataDir, zaptest.NewLogger(t))
		if err == nil || !strings.Contains(err.Error(), "permission denied") {
			t.Fatalf("OpenStore = %v, want an error saying permission denied", err)
		}
	})
}

// TestCheckDSNRefusesWhatTheDriverCannotParse: the configuration's check
// of IMCALLBACK_STORE_DSN reads the URL's shape, so a DSN the driver then
// refused (a port out of range, an sslmode it does not know) passed config
// check and failed serve only at the store's open. CheckDSN parses it as
// the open does, and never shows the password.
func TestCheckDSNRefusesWhatTheDriverCannotParse(t *testing.T) {
	const password = "s3cr3tpw"
	tests := []struct{ name, dsn, want string }{
		{"SQLite", "", ""},
		{"a DSN the driver reads", "postgres://imcb:" + password + "@127.0.0.1:5432/imcallback?sslmode=disable", ""},
		{"a port out of range", "postgres://imcb:" + password + "@127.0.0.1:99999/imcallback", "invalid port"},
		{"a port that is no number", "postgres://imcb:" + password + "@127.0.0.1:abc/imcallback", "invalid port"},
		{"an sslmode the driver does not know", "postgres://imcb:" + password + "@127.0.0.1/imcallback?sslmode=bogus", "sslmode is invalid"},
		{"a CA file that is not there", "postgres://imcb:" + password + "@db.example/imcallback?sslmode=verify-full&sslrootcert=" +
			filepath.Join(t.TempDir(), "missing.pem"), "missing.pem"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := topicsync.CheckDSN(tt.dsn)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("CheckDSN refused a DSN the store opens: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("CheckDSN accepted a DSN the driver refuses")
			}
			msg := err.Error()
			if !strings.Contains(msg, "IMCALLBACK_STORE_DSN") || !strings.Contains(msg, tt.want) {
				t.Errorf("error %q does not name IMCALLBACK_STORE_DSN and say %q", msg, tt.want)
			}
			if strings.Contains(msg, password) {
				t.Errorf("error %q shows the password", msg)
			}
		})
	}
}
