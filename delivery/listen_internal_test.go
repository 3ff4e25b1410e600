package delivery

import (
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
)

// TestNATSListenServiceNamePort: IMCALLBACK_NATS_LISTEN takes a service
// name for its port, as config check and the other listeners do (http is
// one Go knows without /etc/services): the embedded server listens on the
// port it names, and a tool dials that port; a name that is no service is
// refused, naming the variable.
func TestNATSListenServiceNamePort(t *testing.T) {
	tests := []struct {
		listen   string
		host     string
		port     int
		url      string
		wantErrs []string // "" error parts: none
	}{
		{"127.0.0.1:http", "127.0.0.1", 80, "nats://127.0.0.1:80", nil},
		{"127.0.0.1:14222", "127.0.0.1", 14222, "nats://127.0.0.1:14222", nil},
		{":http", "", 80, "nats://127.0.0.1:80", nil},
		{"127.0.0.1:0", "127.0.0.1", server.RANDOM_PORT, "nats://127.0.0.1:0", nil},
		{"127.0.0.1:no-such-service", "", 0, "", []string{"IMCALLBACK_NATS_LISTEN", `"127.0.0.1:no-such-service"`}},
		{"127.0.0.1:65536", "", 0, "", []string{"IMCALLBACK_NATS_LISTEN", "65536"}},
	}
	for _, tc := range tests {
		t.Run(tc.listen, func(t *testing.T) {
			host, port, err := splitListen(tc.listen)
			u, uerr := listenURL(tc.listen)
			if tc.wantErrs != nil {
				if err == nil {
					t.Fatalf("splitListen: %s:%d, want an error", host, port)
				}
				for _, part := range tc.wantErrs {
					if !strings.Contains(err.Error(), part) {
						t.Errorf("splitListen error %q, want it to name %q", err, part)
					}
				}
				if uerr == nil {
					t.Errorf("listenURL: %s, want an error", u)
				}
				return
			}
			if err != nil || host != tc.host || port != tc.port {
				t.Errorf("splitListen: %q %d %v, want %q %d", host, port, err, tc.host, tc.port)
			}
			if uerr != nil || u != tc.url {
				t.Errorf("listenURL: %q %v, want %q", u, uerr, tc.url)
			}
		})
	}
}
