//go:build !linux

package natstest

import "os/exec"

// DieWithTest does nothing here: only Linux kills a process when its
// parent ends (PR_SET_PDEATHSIG). There a test process that ends without
// its cleanups leaves the processes it started running.
func DieWithTest(*exec.Cmd) {}
