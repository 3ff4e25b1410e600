//go:build !unix

package cli

import (
	"runtime"
	"syscall"
	"testing"
)

// signalSelf skips the test: it sends a signal to its own process, which
// a process cannot do here (no kill(2)).
func signalSelf(t testing.TB) func(syscall.Signal) error {
	t.Helper()
	t.Skipf("the test sends a signal to its own process, which %s cannot do (no kill(2))", runtime.GOOS)
	return nil
}
