// Package filelock takes exclusive advisory locks on files: flock(2),
// held by an open descriptor, so that the kernel drops a lock when its
// process ends, even by kill -9. Where flock(2) is missing (Windows)
// nothing is locked.
package filelock

import "errors"

// ErrLocked is Try's error on a file another process (or another open
// description of this one) holds locked.
var ErrLocked = errors.New("locked by another process")
