package delivery_test

import (
	"runtime"
	"testing"
	"time"
)

// TestAHandlerThatExitsItsGoroutineIsAFailedAttempt: a handler that ends
// its goroutine with runtime.Goexit rather than returning (t.FailNow in a
// program's test) fails that attempt, counted and retried with the
// backoff, as a panic does. Before, its in-progress notices went on for
// good: the event was never delivered again nor dead-lettered, and kept a
// slot of the consumer's pending acknowledgements, after the stop too.
func TestAHandlerThatExitsItsGoroutineIsAFailedAttempt(t *testing.T) {
	// Notices every 2.5 s without the fix.
	testFailedAttempt(t, runtime.Goexit, 500*time.Millisecond)
}
