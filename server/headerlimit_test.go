package server

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
)

// TestHeaderLimitIsTheDocumented64KiB: a request whose request line and
// headers come to 64 KiB is served, one byte more is answered 431, as
// the README's table of rejections (43101) and docs/reliability.md say.
// net/http reads MaxHeaderBytes plus 4096 bytes of slack before it gives
// up: with MaxHeaderBytes at 64 KiB, headers of 64 KiB + 2 KiB were
// served.
func TestHeaderLimitIsTheDocumented64KiB(t *testing.T) {
	addr := startPublicWith(t, nil, zap.NewNop())
	const limit = 64 << 10
	tests := []struct {
		name   string
		size   int // of the request line and headers, the blank line that ends them included
		status int
	}{
		{"well under", 8 << 10, http.StatusOK},
		{"exactly 64 KiB", limit, http.StatusOK},
		{"one byte over", limit + 1, http.StatusRequestHeaderFieldsTooLarge},
		{"64 KiB + 2 KiB", limit + 2<<10, http.StatusRequestHeaderFieldsTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			head := "POST /im/callback?SdkAppid=1400000000&CallbackCommand=X.Unknown HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n"
			const padName, end = "X-Pad: ", "\r\n\r\n"
			pad := tt.size - len(head) - len(padName) - len(end)
			req := head + padName + strings.Repeat("a", pad) + end
			if len(req) != tt.size {
				t.Fatalf("the request's header is %d bytes, want %d", len(req), tt.size)
			}
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(10 * time.Second)) // a guard, not a measure
			// Written from a goroutine: refused, the rest may not be read.
			go func() { _, _ = io.WriteString(c, req+"{}") }()
			res, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != tt.status {
				t.Errorf("%d bytes of header: answered %d %s, want %d", tt.size, res.StatusCode, body, tt.status)
			}
			if tt.status == http.StatusRequestHeaderFieldsTooLarge && !strings.Contains(string(body), fmt.Sprint(43101)) {
				t.Errorf("the 431 is not the FAIL envelope of 43101: %s", body)
			}
		})
	}
}
