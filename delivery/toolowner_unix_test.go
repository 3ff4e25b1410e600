//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package delivery_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/imcallback/imcallback/delivery"
)

// TestToolRefusesAStoreOfAnotherUser: a tool (events list, dead, replay
// --offline) run by root on the data directory of a service that runs as
// another user (the systemd unit's dynamic user) wrote its files there as
// root: a replay's new message block, which the service could not open at
// its next start, so its embedded server set the stream up again, empty,
// without the events stored. The tool now refuses such a store, naming
// the owner to run as, and writes nothing there.
func TestToolRefusesAStoreOfAnotherUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("giving the store to another user needs root")
	}
	const owner = 65534
	o := delivery.DefaultOptions()
	o.StoreDir = t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := delivery.Connect(ctx, o, testLogger(t)) // the service's store, with its streams
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	ownedBy := func(uid int) []string {
		var paths []string
		err := filepath.WalkDir(filepath.Join(o.StoreDir, "jetstream"), func(p string, _ fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			var st syscall.Stat_t
			if err := syscall.Lstat(p, &st); err != nil {
				return err
			}
			if int(st.Uid) == uid {
				paths = append(paths, p)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return paths
	}
	for _, p := range ownedBy(0) {
		if err := os.Lchown(p, owner, owner); err != nil {
			t.Fatal(err)
		}
	}

	conn, err := delivery.ConnectTool(ctx, o, testLogger(t))
	if err == nil {
		conn.Close(ctx)
		t.Fatalf("a tool run as root opened the store of uid %d", owner)
	}
	for _, want := range []string{"uid 65534", "uid 0", filepath.Join(o.StoreDir, "jetstream")} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	if root := ownedBy(0); len(root) > 0 {
		t.Errorf("the refused tool left files of root in the store: %v", root)
	}
}
