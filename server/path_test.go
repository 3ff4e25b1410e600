package server

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/fx/fxtest"
	"go.uber.org/zap"

	"github.com/imcallback/imcallback/config"
	"github.com/imcallback/imcallback/protocol"
)

// TestPublicPathIsTakenLiterally: echo reads ':' and '*' in a route as a
// parameter and a wildcard, so IMCALLBACK_PATH=/im/:secret served the
// callback on /im/anything, and a secret kept in the path (on top of the
// token) opened to any guess. Such a path now stops the start.
func TestPublicPathIsTakenLiterally(t *testing.T) {
	tests := []struct {
		path string
		want string // in the error; "" when the start succeeds
	}{
		{"/im/callback", ""},
		{"/hooks/im-3f9a_c2.b~x", ""},
		{"/im/:secret", `"/im/:secret"`},
		{"/hooks/s3cr*t", `"/hooks/s3cr*t"`},
		{"/im/*", `"/im/*"`},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			cfg := config.Default()
			cfg.Path = tt.path
			_, err := newPublic(publicIn{Lifecycle: fxtest.NewLifecycle(t), Config: &cfg, Log: zap.NewNop()})
			switch {
			case tt.want == "" && err != nil:
				t.Fatal(err)
			case tt.want == "":
			case err == nil:
				t.Fatalf("accepted; want an error naming %s", tt.want)
			case !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "IMCALLBACK_PATH"):
				t.Fatalf("error %q does not name %s and IMCALLBACK_PATH", err, tt.want)
			}
		})
	}
}

// TestAPathIsServedAsWritten: config refuses a percent-escape written as
// net/http writes it in IMCALLBACK_PATH (such a request is routed on its
// decoded path, so the route was never reached) and tells to write the
// characters themselves; such a path is served whether the request escapes
// them, as Go's client and IM's do, or sends their UTF-8 bytes as they are.
// An escape net/http does not write (/im%2Fcb, lower case) is accepted:
// net/http keeps the request's path as it came (URL.RawPath), which echo
// routes on, so it is served to requests written the same way.
func TestAPathIsServedAsWritten(t *testing.T) {
	tests := []struct {
		route, target string
		want          bool // routed to the callback handler, not the 404 of no route
	}{
		{"/回调", "/%E5%9B%9E%E8%B0%83", true},
		{"/回调", "/%E5%9B%9E%E8%B0%83?SdkAppid=1", true},
		{"/回调", "/回调", true}, // raw UTF-8
		{"/回调", "/%E5%9B%9E", false},
		// Escaped otherwise than Go would escape it, the path is routed as
		// it came: README says so.
		{"/回调", "/%e5%9b%9e%e8%b0%83", false},
		{"/im%2Fcb", "/im%2Fcb", true},
		{"/im%2Fcb", "/im/cb", false},
		{"/%e5%9b%9e", "/%e5%9b%9e", true},
		{"/%e5%9b%9e", "/%E5%9B%9E", false},
	}
	addrs := map[string]string{} // by route, one service each
	for _, tt := range tests {
		if addrs[tt.route] == "" {
			addrs[tt.route] = startPublicAt(t, tt.route, nil, zap.NewNop())
		}
	}
	for _, tt := range tests {
		t.Run(tt.route+" "+tt.target, func(t *testing.T) {
			conn, err := net.Dial("tcp", addrs[tt.route])
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			// A guard against a hang, not a time limit on the answer.
			if err := conn.SetDeadline(time.Now().Add(15 * time.Second)); err != nil {
				t.Fatal(err)
			}
			req := "POST " + tt.target + " HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"
			if _, err := io.WriteString(conn, req); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			notFound := resp.StatusCode == http.StatusNotFound || strings.Contains(string(body), strconv.Itoa(protocol.ErrNotFound.Code))
			if routed := !notFound; routed != tt.want {
				t.Fatalf("POST %s: HTTP %d %s; routed to the callback: %v, want %v", tt.target, resp.StatusCode, body, routed, tt.want)
			}
		})
	}
}
