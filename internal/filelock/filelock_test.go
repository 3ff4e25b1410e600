//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package filelock_test

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/imcallback/imcallback/internal/filelock"
)

func TestTry(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.lock")
	first, err := filelock.Try(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := filelock.Try(path); !errors.Is(err, filelock.ErrLocked) {
		t.Fatalf("second Try while held: %v, want ErrLocked", err)
	}
	first.Release()
	again, err := filelock.Try(path)
	if err != nil {
		t.Fatalf("Try after Release: %v", err)
	}
	again.Release()
	if _, err := filelock.Try(filepath.Join(t.TempDir(), "missing", "x.lock")); err == nil || errors.Is(err, filelock.ErrLocked) {
		t.Fatalf("Try in a missing directory: %v, want the open's error", err)
	}
}
