//go:build unix

package allowlist_test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/imcallback/imcallback/allowlist"
)

// TestAFIFOIsNoListFile: a FIFO at the saved list's path is refused like any
// unusable file instead of blocking the start on a writer that never comes.
func TestAFIFOIsNoListFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "iplist"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "iplist", appA+".json"), 0o644); err != nil {
		t.Fatal(err)
	}
	built := make(chan harness, 1)
	go func() {
		built <- newSet(t, allowlist.Options{Global: prefixes(t, "203.0.113.0/24"),
			Apps: []allowlist.App{{ID: appA, IPList: true, Client: newLister(nil)}}, Dir: dir})
	}()
	var h harness
	select {
	case h = <-built:
	case <-time.After(30 * time.Second):
		t.Fatal("New is still opening the FIFO after 30 s")
	}
	wantAllowed(t, h.Set, appA, map[string]bool{"203.0.113.1": false})
	if err := checkErr(h.Set); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("Check = %v, want an error saying the list is not a regular file", err)
	}
}
