//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package filelock

// Lock is a lock Try took: none where flock(2) is missing.
type Lock struct{}

// Try locks nothing where flock(2) is missing: a second process on the
// same file is then not detected.
func Try(string) (*Lock, error) { return &Lock{}, nil }

// Release does nothing.
func (*Lock) Release() {}
