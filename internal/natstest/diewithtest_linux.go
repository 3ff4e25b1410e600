package natstest

import (
	"os/exec"
	"syscall"
)

// DieWithTest has the kernel kill cmd's process (SIGKILL) when the test
// process ends, also without running its cleanups: a test binary whose
// -timeout ran out panics and exits, and the servers and services it
// started would otherwise outlive the run, holding their ports, CPU and
// data. Call it before cmd.Start.
//
// The signal follows the thread that starts the process (PR_SET_PDEATHSIG);
// the Go runtime keeps its threads for the life of the process unless a
// goroutine exits locked to one, which the tests do not do.
func DieWithTest(cmd *exec.Cmd) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
}
