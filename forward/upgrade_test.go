package forward_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/imcallback/imcallback/forward"
)

// switching answers every request with 101 Switching Protocols (a
// WebSocket endpoint, or a proxy in front of one, configured as the
// destination by mistake) and then holds the connection open, as an
// upgraded connection is, until the test ends.
func switching(t *testing.T) *dest {
	release := make(chan struct{})
	d := newDest(t, func(w http.ResponseWriter, _ int) {
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		_, _ = buf.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
		_ = buf.Flush()
		<-release
	})
	t.Cleanup(func() { close(release) }) // before d.Close, which waits for the held request
	return d
}

// TestSwitchingProtocolsIsNotWaitedFor: a destination that answers 101
// Switching Protocols and then keeps the upgraded connection open has
// not taken the callback; its answer is decided at once, as any status
// that is not a 2xx, instead of holding the worker (or the before
// handler's place) until the destination closes the connection, which
// neither the timeout nor the before deadline brings about: Go hands an
// upgraded connection to the caller, out of reach of the request's
// context.
func TestSwitchingProtocolsIsNotWaitedFor(t *testing.T) {
	t.Run("after", func(t *testing.T) {
		err := deliverWithin(t, switching(t).URL)
		if err == nil || !strings.Contains(err.Error(), "a answered HTTP 101") {
			t.Errorf("Deliver: %v, want the HTTP 101 retried", err)
		}
	})
	t.Run("before", func(t *testing.T) {
		f, err := decideWithin(t, switching(t).URL)
		if err == nil || !strings.Contains(err.Error(), "a answered HTTP 101") {
			t.Errorf("Decide: %v, want the HTTP 101", err)
		}
		if got := f.Info()[0].Requests; got[forward.ResultStatus] != 1 {
			t.Errorf("counted as %v, want one status", got)
		}
	})
}
