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

// TestRedirectTargetHidesItsUserInfo: the error of an answer that
// redirects names where to, without any part of its user info, which may
// carry a proxy's credential: a password, or a user alone or before an
// empty password (a key, http://KEY@host), which url.URL.Redacted shows.
func TestRedirectTargetHidesItsUserInfo(t *testing.T) {
	for _, userinfo := range []string{"s3cr3t-key", "s3cr3t-key:", "s3cr3t-user:s3cr3t-pw", "s3cr3t%2Ckey"} {
		t.Run(userinfo, func(t *testing.T) {
			to := "http://" + userinfo + "@proxy.example:8080/v1/events"
			admin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Location", to)
				w.WriteHeader(http.StatusFound)
			}))
			defer admin.Close()
			out, err := runCLI(t, "--admin", admin.URL, "events", "list")
			if want := "a redirect to http://[redacted]@proxy.example:8080/v1/events"; err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("redirect to %s: %v, want an error with %q\n%s", to, err, want, out)
			}
			if strings.Contains(err.Error()+out, "s3cr3t") {
				t.Errorf("redirect to %s: the error shows its user info: %v", to, err)
			}
		})
	}
}
