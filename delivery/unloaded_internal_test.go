package delivery

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// TestRestartRefusesAStreamTheEmbeddedServerDidNotLoad: the supervisor's
// restart of the embedded server sets the streams up as a start does, and
// refuses alike a stream whose files the new server did not load (here a
// metafile whose checksum does not match), rather than set it up again
// empty; the files stay as they are.
func TestRestartRefusesAStreamTheEmbeddedServerDidNotLoad(t *testing.T) {
	o := DefaultOptions()
	o.StoreDir = t.TempDir()
	s, err := New(o, zap.NewNop(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	s.after = func(time.Duration) <-chan time.Time { return nil } // no check of the supervisor's meanwhile
	dir := filepath.Join(o.StoreDir, "jetstream", "$G", "streams", o.Stream)
	var before map[string]string
	s.onRestart = func(_ context.Context, at restartStep) {
		if at == restartOldStopped {
			if err := os.WriteFile(filepath.Join(dir, "meta.sum"), []byte("0000000000000000"), 0o600); err != nil {
				t.Error(err)
			}
			before = treeOf(t, dir)
		}
	}
	startTillCleanup(t, s, 30*time.Second)

	err = s.restartEmbedded(context.Background())
	if err == nil || !strings.Contains(err.Error(), dir) {
		t.Fatalf("restart: error = %v, want one naming %s", err, dir)
	}
	if s.Conn() != nil {
		t.Error("the refused restart left a connection in service")
	}
	if after := treeOf(t, dir); !maps.Equal(after, before) {
		t.Errorf("the refused restart changed the stream's files:\nbefore %v\nafter  %v", before, after)
	}
}

// treeOf is the files under dir, each with the hash of its content; it
// fails the test when there is none.
func treeOf(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		out[strings.TrimPrefix(p, dir)] = hex.EncodeToString(sum[:8])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatalf("no files under %s", dir)
	}
	return out
}
