//go:build !(linux || darwin || freebsd)

package delivery

// freeBytes cannot read a filesystem's free space on this system.
func freeBytes(string) (uint64, bool) { return 0, false }
