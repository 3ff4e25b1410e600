//go:build unix

package natstest

import (
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// TestAFrozenServerAnswersNothing: Freeze sent SIGSTOP and returned, while
// the server's threads stop only as each is next scheduled: a request made
// right after Freeze was now and then still answered (a PING here, an
// append's acknowledgement in TestAFrozenServerUnderLoadIsGivenUp). Freeze
// now returns once the server answers nothing.
func TestAFrozenServerAnswersNothing(t *testing.T) {
	s := Start(t)
	nc, err := nats.Connect(s.URL(), nats.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	for i := range 20 {
		if err := nc.FlushTimeout(30 * time.Second); err != nil {
			t.Fatalf("freeze %d: the server before it: %v", i, err)
		}
		s.Freeze()
		// Not answered in this time while the server is frozen, and its
		// threads, running, answer at once: no wait decides the outcome.
		err := nc.FlushTimeout(50 * time.Millisecond)
		s.Thaw()
		if err == nil {
			t.Fatalf("freeze %d: the server answered a PING sent once Freeze returned", i)
		}
	}
}
