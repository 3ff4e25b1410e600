package server

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"go.uber.org/zap"
)

// TestChunkedRequestClosesTheConnection: net/http takes a request with
// both Transfer-Encoding: chunked and a Content-Length by its chunks and
// drops the Content-Length, leaving no trace of it for a handler, and kept
// the connection for the next request. A proxy in front that framed the
// request by its Content-Length forwards the bytes after the chunks as
// part of it; served as a request of their own, they are a request
// smuggled past the proxy (RFC 9112, section 6.1: the server MUST close the
// connection after answering such a request). Every chunked request is now
// answered with Connection: close on both listeners (IM sends a
// Content-Length). So is every HTTP/1.0 request, keep-alive or not:
// net/http drops its Transfer-Encoding and frames it by its
// Content-Length, the other way round. An HTTP/1.1 request with a
// Content-Length only keeps its connection.
func TestChunkedRequestClosesTheConnection(t *testing.T) {
	addr := startPublicWith(t, nil, zap.NewNop())
	const path = "/im/callback?SdkAppid=1400000000&CallbackCommand=X.Unknown"
	next := "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"
	tests := []struct {
		name      string
		request   string
		keepsConn bool
	}{
		{"Transfer-Encoding and Content-Length",
			"POST " + path + " HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", false},
		{"Content-Length and Transfer-Encoding",
			"POST " + path + " HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n2\r\n{}\r\n0\r\n\r\n", false},
		{"Transfer-Encoding only",
			"POST " + path + " HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n", false},
		{"Content-Length only",
			"POST " + path + " HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}", true},
		// net/http drops an HTTP/1.0 request's Transfer-Encoding and frames
		// it by its Content-Length, keeping a keep-alive connection.
		{"HTTP/1.0 keep-alive, Transfer-Encoding and Content-Length",
			"POST " + path + " HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n{}", false},
		{"HTTP/1.0 keep-alive, Content-Length only",
			"POST " + path + " HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\n{}", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(10 * time.Second)) // a guard, not a measure
			if _, err := io.WriteString(c, tt.request+next); err != nil {
				t.Fatal(err)
			}
			br := bufio.NewReader(c)
			res, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusOK {
				t.Fatalf("status %d, want 200", res.StatusCode)
			}
			if res.Close == tt.keepsConn {
				t.Errorf("answer's Connection: close is %v, want %v", res.Close, !tt.keepsConn)
			}
			second, err := http.ReadResponse(br, nil)
			switch {
			case tt.keepsConn && err != nil:
				t.Errorf("the next request on the connection was not answered: %v", err)
			case tt.keepsConn && second.StatusCode != http.StatusNotFound:
				t.Errorf("the next request was answered %d, want 404", second.StatusCode)
			case !tt.keepsConn && err == nil:
				t.Errorf("the bytes after the chunks were served as a request of their own: %d", second.StatusCode)
			}
		})
	}
}
