//go:build unix

package topicsync_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/imcallback/imcallback/plugins/topicsync"
)

// TestSQLiteFilesAreNotWorldReadable opens the SQLite store in a data directory that already
// exists with mode 0755 (systemd's StateDirectory, a mounted volume) under umask 022: the
// database and its WAL must be readable by the service's user only, as the group topics and
// their custom data are the application's.
func TestSQLiteFilesAreNotWorldReadable(t *testing.T) {
	old := syscall.Umask(0o022)
	t.Cleanup(func() { syscall.Umask(old) })
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	st, err := topicsync.OpenStore(context.Background(), "", dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "topics.db") {
			continue
		}
		seen++
		fi, err := os.Stat(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if m := fi.Mode().Perm(); m&0o077 != 0 {
			t.Errorf("%s has mode %v, want no access for group or others", e.Name(), m)
		}
	}
	if seen == 0 {
		t.Fatalf("no topics.db in %s", dir)
	}
}
