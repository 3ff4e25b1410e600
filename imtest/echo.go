package imtest

import (
	"bufio"
	"io"
	"net"
	"sync"
	"testing"
)

// EchoLine returns the loopback address ("127.0.0.1:port") of a TCP
// service that is no HTTP server: it writes back the first line each
// connection sends, as an echo service on a mistyped port does. An HTTP
// client reads that request line back as the status line, so its error
// quotes the request's target (a webhook key in the path, a signed query):
// a test points a client at it to check that what the client logs or
// returns of a failed exchange hides those. It stops with the test,
// closing the connections still open (one that sent no whole line, a TLS
// client's, say), so that a client waiting on one gets an error.
func EchoLine(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	open := map[net.Conn]struct{}{}
	stopped := false
	tb.Cleanup(func() {
		ln.Close()
		mu.Lock()
		stopped = true
		for c := range open {
			c.Close() // a connection waiting for its line ends its goroutine
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			if stopped { // accepted as the cleanup began
				mu.Unlock()
				c.Close()
				return
			}
			open[c] = struct{}{}
			mu.Unlock()
			wg.Go(func() {
				defer func() {
					mu.Lock()
					delete(open, c)
					mu.Unlock()
					c.Close()
				}()
				if line, err := bufio.NewReader(c).ReadString('\n'); err == nil {
					_, _ = io.WriteString(c, line)
				}
			})
		}
	})
	return ln.Addr().String()
}
