//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package cli

import (
	"errors"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// lockFile takes an exclusive flock(2) on the file at path, created if
// missing, without waiting, and writes this process's pid in it. The lock
// is held by the open descriptor, so the kernel drops it when the process
// ends, even by kill -9; release drops it before. When another process
// holds it, err is errLocked and pid the holder's, as it wrote it (0 when
// it cannot be read).
func lockFile(path string) (release func(), pid int, err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, 0, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, holderPid(f), errLocked
		}
		return nil, 0, err
	}
	// The pid is only said in the error of another serve: a write that
	// fails leaves the lock held all the same.
	if f.Truncate(0) == nil {
		_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		_ = f.Close()
	}, 0, nil
}

// holderPid is the pid the holder of f's lock wrote in it, 0 if none.
func holderPid(f *os.File) int {
	b := make([]byte, 32)
	n, err := f.ReadAt(b, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b[:n])))
	if err != nil || pid <= 0 {
		return 0
	}
	return pid
}
