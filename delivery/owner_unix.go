//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package delivery

import (
	"os"
	"syscall"
)

// storeOwner returns the user and group that own path, and whether they
// are another user than this process runs as; other is false when path
// cannot be read (the open that follows says why).
func storeOwner(path string) (uid, gid int, other bool) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return 0, 0, false
	}
	return int(st.Uid), int(st.Gid), int(st.Uid) != os.Geteuid()
}
