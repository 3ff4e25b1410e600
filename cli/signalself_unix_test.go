//go:build unix

package cli

import (
	"os"
	"syscall"
	"testing"
)

// signalSelf returns the function that sends a signal to the test process
// itself, as Ctrl-C in its terminal or a service manager's stop does.
func signalSelf(testing.TB) func(syscall.Signal) error {
	return func(sig syscall.Signal) error { return syscall.Kill(os.Getpid(), sig) }
}
