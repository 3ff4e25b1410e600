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
