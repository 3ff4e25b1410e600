package cli

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// TestAdminTokenIsNotFollowedAcrossARedirect: an answer of --admin that
// redirects (a proxy in front, or whatever answers there) was followed,
// and Go's client hands the Authorization header on to any address of the
// same host name, whatever its port or scheme: the admin token went to
// another listener of that host, over plain http too, and a POST (pause,
// replay) was sent again there. The command line now follows no redirect
// and says where it was sent.
func TestAdminTokenIsNotFollowedAcrossARedirect(t *testing.T) {
	const token = "redirect-test-admin-token-0123456789"
	t.Setenv("IMCALLBACK_ADMIN_TOKEN", token)
	var mu sync.Mutex
	var leaked []string
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		leaked = append(leaked, r.Method+" "+r.URL.Path+" Authorization="+r.Header.Get("Authorization"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"events":[],"paused":true,"paused_commands":[]}`))
	}))
	defer other.Close()
	admin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+r.URL.RequestURI(), http.StatusTemporaryRedirect)
	}))
	defer admin.Close()

	for _, tt := range []struct {
		name string
		args []string
	}{
		{"GET", []string{"--admin", admin.URL, "events", "list"}},
		{"POST", []string{"--admin", admin.URL, "delivery", "pause"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			mu.Lock()
			leaked = nil
			mu.Unlock()
			out, err := runCLI(t, tt.args...)
			mu.Lock()
			defer mu.Unlock()
			if len(leaked) > 0 {
				t.Errorf("%q followed the redirect to another listener: %q", tt.args, leaked)
			}
			if err == nil {
				t.Fatalf("%q succeeded on a redirect:\n%s", tt.args, out)
			}
			if msg := err.Error(); !strings.Contains(msg, "redirect") || !strings.Contains(msg, other.URL) {
				t.Errorf("%q: error %q does not say that the answer redirects, and where to", tt.args, msg)
			}
			if strings.Contains(err.Error()+out, token) {
				t.Errorf("%q shows the admin token: %v\n%s", tt.args, err, out)
			}
		})
	}
}
