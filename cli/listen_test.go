package cli

import (
	"strings"
	"testing"
)

// TestListenerAddressWithAServiceName: a listener address whose port is a
// service name, which config check takes (http is one Go knows without
// /etc/services), is reached at the port it names: the admin client and
// send build URLs with digits (a URL takes no other port). One that is no
// service is refused, naming the variable.
func TestListenerAddressWithAServiceName(t *testing.T) {
	tests := []struct {
		key, listen string
		want        string // "" wants an error
		wantErr     string
	}{
		{"admin_listen", "127.0.0.1:http", "127.0.0.1:80", ""},
		{"admin_listen", ":http", "127.0.0.1:80", ""},
		{"listen", "[::1]:http", "[::1]:80", ""},
		{"listen", "0.0.0.0:9090", "127.0.0.1:9090", ""},
		{"admin_listen", "127.0.0.1:no-such-service", "", "IMCALLBACK_ADMIN_LISTEN"},
		{"listen", "8080", "", "IMCALLBACK_LISTEN"},
	}
	t.Setenv("IMCALLBACK_ADMIN_URL", "") // the admin client's address is the listener's
	for _, tc := range tests {
		t.Run(tc.key+" "+tc.listen, func(t *testing.T) {
			got, err := localAddress(tc.key, tc.listen)
			if tc.want == "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("localAddress: %q %v, want an error naming %s", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("localAddress: %q %v, want %q", got, err, tc.want)
			}
			switch tc.key {
			case "admin_listen":
				var g globalFlags
				a, err := g.adminClientAt(tc.listen, "")
				if err != nil || a.base != "http://"+tc.want {
					t.Errorf("admin client: %+v %v, want base http://%s", a, err, tc.want)
				}
			case "listen":
				var f sendFlags
				if err := f.listenerURL(tc.listen, "/im/callback", ""); err != nil || f.url != "http://"+tc.want+"/im/callback" {
					t.Errorf("send URL: %q %v, want http://%s/im/callback", f.url, err, tc.want)
				}
			}
		})
	}
}
