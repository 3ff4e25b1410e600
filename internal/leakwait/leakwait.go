// Package leakwait asks goleak about goroutines for longer than goleak
// does, for the tests whose goroutines end only once they are scheduled to
// see a close nothing waits for: a closed pgx pool's health check,
// nats.go's read loop, a listener's accept loop, and a test peer's (IM, a
// collector) connection, which ends when it reads the close the service's
// stop made. goleak's own retries give them about 0.4 s, which the race
// detector on a busy machine (CI's two loaded cores) need not leave them;
// what a leak check looks for lasts far longer than Wait: a store or
// listener left open, a batcher nothing stops, a connection kept until a
// client's idle timeout (90 s), an export until its timeout (minutes).
package leakwait

import (
	"fmt"
	"io"
	"os"
	"time"

	"go.uber.org/goleak"
)

// Wait is how long Find asks again.
const Wait = 10 * time.Second

// Find is goleak.Find(opts...) asked again until it finds no goroutine
// or Wait has passed: nil, or the last answer's error.
func Find(opts ...goleak.Option) error {
	deadline := time.Now().Add(Wait)
	for {
		err := goleak.Find(opts...)
		if err == nil || time.Now().After(deadline) {
			return err
		}
	}
}

// TestingM is the part of testing.M VerifyTestMain uses.
type TestingM interface {
	Run() int
}

// VerifyTestMain is goleak.VerifyTestMain with Find's wait: it runs the
// package's tests and, when they passed, fails the run if goroutines
// other than those opts ignore are still running once Find has asked
// for Wait. The last test's goroutines that end once scheduled after a
// close (a connection's read loop, a pool's health check) need not have
// within goleak's own retries on a busy machine.
func VerifyTestMain(m TestingM, opts ...goleak.Option) {
	os.Exit(exitCode(m, os.Stderr, opts...))
}

// exitCode runs m's tests and returns the exit code VerifyTestMain exits
// with, reporting a leak to w.
func exitCode(m TestingM, w io.Writer, opts ...goleak.Option) int {
	code := m.Run()
	if code != 0 {
		return code
	}
	if err := Find(opts...); err != nil {
		fmt.Fprintf(w, "goleak: Errors on successful test run: %v\n", err)
		return 1
	}
	return 0
}
