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
