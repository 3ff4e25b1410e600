//go:build linux || darwin || freebsd

package delivery

import "syscall"

// freeBytes is the space dir's filesystem has free for this process;
// ok is false when it cannot be read.
func freeBytes(dir string) (free uint64, ok bool) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, false
	}
	return uint64(st.Bavail) * uint64(st.Bsize), true // the field types differ between systems
}
