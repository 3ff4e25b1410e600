package imtest_test

import (
	"errors"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/imcallback/imcallback/imtest"
)

// TestEchoLineStopsWithAConnectionThatSendsNoLine: a client that connects
// and sends no whole line (a TLS client's hello, a client stalled
// mid-line) does not hold up the test's end: the cleanup closes the
// connection instead of waiting for a line that never comes. Before, the
// subtest never returned.
func TestEchoLineStopsWithAConnectionThatSendsNoLine(t *testing.T) {
	var c net.Conn
	t.Run("echo", func(t *testing.T) {
		addr := imtest.EchoLine(t)
		var err error
		if c, err = net.Dial("tcp", addr); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(c, "no end of line"); err != nil {
			t.Fatal(err)
		}
	})
	defer c.Close()
	// Closed with the line unread, or before it was accepted, the
	// connection is reset rather than ended: either way it is closed.
	n, err := c.Read(make([]byte, 1))
	if !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("after the test: read %d bytes, %v; want the connection closed by EchoLine's cleanup", n, err)
	}
}
