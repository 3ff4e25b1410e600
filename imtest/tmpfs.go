package imtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// TmpFS mounts a tmpfs of sizeMiB under a fresh temporary directory and
// unmounts it at cleanup, for tests that fill a filesystem. It skips the
// test where the machine cannot mount one (not root, no mount command, a
// container without the capability). A size under 1 MiB fails the test:
// a tmpfs of size 0 has no limit, and Fill would fill the machine's memory.
func TmpFS(t testing.TB, sizeMiB int) string {
	t.Helper()
	if sizeMiB < 1 {
		t.Fatalf("imtest: TmpFS of %d MiB: the size must be at least 1 (a tmpfs of size 0 has no limit, "+
			"and Fill would fill the machine's memory)", sizeMiB)
	}
	dir := t.TempDir()
	out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%dm,mode=0755", sizeMiB), "tmpfs", dir).CombinedOutput()
	if err != nil {
		t.Skipf("cannot mount a tmpfs to fill (needs root and the mount command): %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "-l", dir).CombinedOutput(); err != nil {
			t.Errorf("unmount %s: %v: %s", dir, err, out)
		}
	})
	return dir
}

// Fill writes zeros to a file in dir until the filesystem is full, and
// returns a function that removes the file again. Calling it more than once
// frees once, and the test's cleanup frees a disk the test left full
// (before the tmpfs is unmounted). Each Fill writes a file of its own
// (filler-*), so a second Fill of dir (to fill what the code under test
// freed meanwhile) keeps the first's bytes, and each free removes its own.
func Fill(t testing.TB, dir string) (free func()) {
	t.Helper()
	f, err := os.CreateTemp(dir, "filler-*")
	if err != nil {
		t.Fatal(err)
	}
	path := f.Name()
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			break // ENOSPC: full
		}
	}
	// A last small write takes the bytes a 64 KiB chunk no longer fit.
	for {
		if _, err := f.Write(chunk[:512]); err != nil {
			break
		}
	}
	if err := f.Close(); err != nil {
		t.Logf("close filler: %v", err)
	}
	var once sync.Once
	free = func() {
		once.Do(func() {
			if err := os.Remove(path); err != nil {
				t.Errorf("free %s: %v", dir, err)
			}
		})
	}
	t.Cleanup(free)
	return free
}

// OpenFilesUnder lists the files under dir that this process holds open,
// for tests that check a store or a service closed everything it opened.
// dir may be relative or reached through a symbolic link (a TMPDIR that is
// one, say): /proc names the files by their resolved absolute paths, so
// dir is resolved the same way first. Where /proc/self/fd cannot be read
// (not Linux) it logs so and lists none.
func OpenFilesUnder(t testing.TB, dir string) []string {
	t.Helper()
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	if resolved, err := filepath.EvalSymlinks(dir); err == nil {
		dir = resolved
	}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Logf("open files not checked: %v", err)
		return nil
	}
	var held []string
	for _, fd := range fds {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if err == nil && strings.HasPrefix(target, dir+string(filepath.Separator)) {
			held = append(held, target)
		}
	}
	return held
}
