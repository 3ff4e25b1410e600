//go:build unix

package server

import "syscall"

// openFileLimit is the process's soft limit on open files, 0 if unknown.
func openFileLimit() uint64 {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0
	}
	return uint64(rl.Cur) // an int64 on FreeBSD and DragonFly, whose RLIM_INFINITY is positive
}
