//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package delivery

// dirLock is a no-op where flock(2) is missing: two processes on one store
// directory are then not detected.
type dirLock struct{}

func lockDir(string) (*dirLock, error) { return &dirLock{}, nil }

func (*dirLock) release() {}

// storeOwner reports no other owner where files have no Unix owner.
func storeOwner(string) (uid, gid int, other bool) { return 0, 0, false }
