//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package imtest

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// claimPort claims port for this process among the processes on the
// machine that call FreeAddr (test binaries of other packages running in
// parallel): an exclusive lock on a file named after the port, held by a
// descriptor kept open until the process ends, when the kernel drops it.
// It reports false when another process holds the port; where the lock
// cannot be taken at all (no writable temporary directory) it reports
// true, as FreeAddr did before it claimed ports.
func claimPort(port int) bool {
	dir := filepath.Join(os.TempDir(), "imtest-ports-"+strconv.Itoa(os.Getuid()))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return true
	}
	f, err := os.OpenFile(filepath.Join(dir, strconv.Itoa(port)), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return true
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return !errors.Is(err, syscall.EWOULDBLOCK)
	}
	claimed.Store(port, f) // kept open: the lock lasts as long as the process
	return true
}
