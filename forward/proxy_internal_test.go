package forward

import (
	"net/http"
	"testing"

	"golang.org/x/net/http/httpproxy"
)

// TestLoopbackDestinationsNeverGoThroughAProxy: Go's proxy rules skip
// `localhost` and the loopback addresses, but sent `LOCALHOST` and
// `localhost.`, the same host, through HTTP_PROXY; the README says a
// loopback destination never goes through a proxy.
func TestLoopbackDestinationsNeverGoThroughAProxy(t *testing.T) {
	proxy := proxyFunc(&httpproxy.Config{HTTPProxy: "http://proxy.example:3128", HTTPSProxy: "http://proxy.example:3128"})
	tests := []struct {
		url     string
		proxied bool
	}{
		{"http://localhost:8080/hook", false},
		{"http://LOCALHOST:8080/hook", false},
		{"http://LocalHost./hook", false},
		{"https://localhost.:8443/hook", false},
		{"http://127.0.0.1:8080/hook", false},
		{"http://127.0.0.9/hook", false},
		{"http://[::1]:8080/hook", false},
		{"http://backend.internal/hook", true},
		{"https://hooks.example.com/hook", true},
		{"http://localhost.example.com/hook", true},
		{"http://10.0.0.1/hook", true},
	}
	for _, tt := range tests {
		req, err := http.NewRequest(http.MethodPost, tt.url, nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := proxy(req)
		if err != nil {
			t.Fatalf("%s: %v", tt.url, err)
		}
		if (got != nil) != tt.proxied {
			t.Errorf("%s: proxy %v, want proxied %v", tt.url, got, tt.proxied)
		}
	}
}
