package cli

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/imcallback/imcallback/imtest"
)

// TestHealth: `imcallback health` succeeds when the running service's
// admin listener answers (with a token configured, which the probes do not
// need), and fails, saying why, when it is not ready, does not answer in
// time, or is not running.
func TestHealth(t *testing.T) {
	svc := imtest.Start(t, []string{"IMCALLBACK_DELIVERY=inline", "IMCALLBACK_ADMIN_TOKEN=admin-secret-token"})
	notReady := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"status":"not ready","checks":{"store":"database is locked"}}`))
	}))
	defer notReady.Close()
	// A long failing check first (the names' order) must not hide the next.
	long := strings.Repeat("no Tencent callback address list yet ", 10)
	twoFailing := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(`{"status":"not ready","checks":{"iplist":"` + long + `","jetstream":"nats: connection closed","shutdown":"ok"}}`))
	}))
	defer twoFailing.Close()
	hanging := hangingServer(t)
	closed := imtest.FreeAddr(t) // nothing listens there

	tests := []struct {
		name    string
		args    []string
		want    string // in the output, or in the error
		wantErr error  // nil: success; errAny: any error
	}{
		{"alive", []string{"health", "--admin", svc.AdminURL}, "ok", nil},
		{"ready", []string{"health", "--ready", "--admin", svc.AdminURL}, "ready", nil},
		{"not ready", []string{"health", "--ready", "--admin", notReady.URL}, "HTTP 503: not ready: store: database is locked", errAny},
		{"every failing check named", []string{"health", "--ready", "--admin", twoFailing.URL},
			"HTTP 503: not ready: iplist: " + long + "; jetstream: nats: connection closed", errAny},
		{"no answer in time", []string{"health", "--timeout", hangTimeout.String(), "--admin", hanging.URL}, "within " + hangTimeout.String(), errSlow},
		{"not running", []string{"health", "--admin", closed}, closed, errNotRunning},
		{"offline", []string{"health", "--offline"}, "does not apply", errHealthOffline},
		{"a timeout that is no time", []string{"health", "--timeout", "0s", "--admin", svc.AdminURL}, "must be positive", errAny},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := runCLI(t, tt.args...)
			switch {
			case tt.wantErr == nil && err != nil:
				t.Fatalf("%v (output %q)", err, out)
			case tt.wantErr == nil:
				if strings.TrimSpace(out) != tt.want {
					t.Fatalf("output %q, want %q", out, tt.want)
				}
			case err == nil:
				t.Fatalf("succeeded (output %q), want an error", out)
			case tt.wantErr != errAny && !errors.Is(err, tt.wantErr):
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			case !strings.Contains(err.Error(), tt.want):
				t.Fatalf("error %q does not say %q", err, tt.want)
			}
		})
	}
}

// TestHealthWithAConfigurationItCannotLoad: the probe of a container whose
// service reads a configuration file (serve --config, which the image's
// HEALTHCHECK does not pass) needs only the admin listener's address from
// the environment; a configuration that does not load in the probe's
// process does not make the running service look unhealthy.
func TestHealthWithAConfigurationItCannotLoad(t *testing.T) {
	svc := imtest.Start(t, []string{"IMCALLBACK_DELIVERY=inline"})
	t.Setenv("IMCALLBACK_ADMIN_LISTEN", strings.TrimPrefix(svc.AdminURL, "http://"))
	t.Setenv("IMCALLBACK_BODY_LIMIT", "-1") // the probe's configuration does not load
	if _, err := runCLI(t, "config", "check"); err == nil {
		t.Fatal("config check accepted the configuration the probe cannot load")
	}
	out, err := runCLI(t, "health")
	if err != nil || strings.TrimSpace(out) != "ok" {
		t.Fatalf("health: %q, %v", out, err)
	}
	t.Setenv("IMCALLBACK_ADMIN_LISTEN", "127.0.0.1:1") // nothing there
	_, err = runCLI(t, "health")
	if !errors.Is(err, errNotRunning) {
		t.Fatalf("health of nothing: %v, want %v", err, errNotRunning)
	}
	// A probe that fails after the fallback says why the configuration was
	// not read: a --config health could not read may set another address.
	if !strings.Contains(err.Error(), "IMCALLBACK_BODY_LIMIT") {
		t.Errorf("health of nothing: %v, want the reason the configuration did not load", err)
	}
	missing := filepath.Join(t.TempDir(), "imcallback.yaml")
	if _, err := runCLI(t, "health", "--config", missing); !errors.Is(err, errNotRunning) || !strings.Contains(err.Error(), missing) {
		t.Errorf("health --config %s (no such file) of nothing: %v, want %v naming the file it could not read", missing, err, errNotRunning)
	}
}

// TestHealthReadsTheFilesAdminListenerWhenTheRestIsRefused: with a
// --config file that reads but is refused for another setting (a secret
// the probe's process lacks, a bad value), health fell back to the
// variables alone, so it asked the default address, 127.0.0.1:9090, and
// another service answering there made this one look healthy. It now takes
// the file's admin_listen and admin_token, which the variables override.
func TestHealthReadsTheFilesAdminListenerWhenTheRestIsRefused(t *testing.T) {
	const token = "admin-secret-token-0123"
	var asked atomic.Bool
	admin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Store(true)
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get("Authorization") != "Bearer "+token {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":"admin token required"}`))
			return
		}
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	}))
	defer admin.Close()
	t.Setenv("IMCALLBACK_ADMIN_LISTEN", "")
	t.Setenv("IMCALLBACK_ADMIN_TOKEN", "")
	t.Setenv("IMCALLBACK_ADMIN_URL", "")
	file := filepath.Join(t.TempDir(), "imcallback.yaml")
	yaml := "admin_listen: " + strings.TrimPrefix(admin.URL, "http://") + "\nadmin_token: " + token + "\nallow_cidrs: [\"bad\"]\n"
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := runCLI(t, "--config", file, "config", "check"); err == nil {
		t.Fatal("config check accepted the file the probe must not load")
	}
	out, err := runCLI(t, "--config", file, "health")
	if err != nil || strings.TrimSpace(out) != "ok" || !asked.Load() {
		t.Fatalf("health: %q, %v, the file's admin listener asked: %v", out, err, asked.Load())
	}
	// The variable still wins over the file, as for serve.
	asked.Store(false)
	t.Setenv("IMCALLBACK_ADMIN_LISTEN", "127.0.0.1:1")
	if _, err := runCLI(t, "--config", file, "health"); !errors.Is(err, errNotRunning) || asked.Load() {
		t.Errorf("health with IMCALLBACK_ADMIN_LISTEN set: %v, the file's listener asked: %v; want %v at the variable's", err, asked.Load(), errNotRunning)
	}
}

// errAny stands for any error in TestHealth's table.
var errAny = errors.New("any error")

// TestHealthReadsTheAdminVariablesAsServeDoes: the address and token health
// asks with come from IMCALLBACK_ADMIN_LISTEN and IMCALLBACK_ADMIN_TOKEN
// read as serve reads them (trimmed), also when the rest of the
// configuration does not load in the probe's process and health reads
// those two alone.
func TestHealthReadsTheAdminVariablesAsServeDoes(t *testing.T) {
	const token = "admin-secret-token-0123"
	admin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path != "/healthz" || r.Header.Get("Authorization") != "Bearer "+token {
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"error":"admin token required"}`))
			return
		}
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	}))
	defer admin.Close()
	addr := strings.TrimPrefix(admin.URL, "http://")
	for _, tt := range []struct {
		name     string
		loadable bool   // whether the configuration loads in health's process
		listen   string // the admin listener's variable, as spelt
		token    string // the admin token's variable, as spelt
	}{
		{"configuration loads", true, "IMCALLBACK_ADMIN_LISTEN", "IMCALLBACK_ADMIN_TOKEN"},
		{"configuration does not load", false, "IMCALLBACK_ADMIN_LISTEN", "IMCALLBACK_ADMIN_TOKEN"},
		{"names in lower case, configuration loads", true, "IMCALLBACK_admin_listen", "IMCALLBACK_Admin_Token"},
		{"names in lower case, configuration does not load", false, "IMCALLBACK_admin_listen", "IMCALLBACK_Admin_Token"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("IMCALLBACK_ADMIN_LISTEN", "")
			t.Setenv("IMCALLBACK_ADMIN_TOKEN", "")
			t.Setenv(tt.listen, " "+addr+"\t")
			t.Setenv(tt.token, " "+token+" ")
			if !tt.loadable {
				t.Setenv("IMCALLBACK_BODY_LIMIT", "-1")
			}
			out, err := runCLI(t, "health")
			if err != nil || strings.TrimSpace(out) != "ok" {
				t.Fatalf("health: %q, %v", out, err)
			}
		})
	}
}

// TestHealthRefusesAnAnswerThatIsNotTheServices: health succeeds only on
// the service's own healthy answer ({"status":"ok"} from /healthz,
// {"status":"ready"} from /readyz). Something else answering 2xx with
// another status word (another program's health endpoint on the address,
// as {"status":"DOWN"}) made the probe print that word and exit 0.
func TestHealthRefusesAnAnswerThatIsNotTheServices(t *testing.T) {
	tests := []struct {
		name   string
		ready  bool
		status int
		body   string
	}{
		{"alive: another word", false, http.StatusOK, `{"status":"DOWN"}`},
		{"alive: the readiness word", false, http.StatusOK, `{"status":"ready"}`},
		{"alive: 202", false, http.StatusAccepted, `{"status":"degraded"}`},
		{"ready: not ready with 200", true, http.StatusOK, `{"status":"not ready","checks":{"store":"database is locked"}}`},
		{"ready: the liveness word", true, http.StatusOK, `{"status":"ok"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tt.status)
				_, _ = w.Write([]byte(tt.body))
			}))
			defer other.Close()
			args := []string{"health", "--admin", other.URL}
			if tt.ready {
				args = append(args, "--ready")
			}
			out, err := runCLI(t, args...)
			if err == nil {
				t.Fatalf("health succeeded (output %q) on HTTP %d %s, not the service's healthy answer", out, tt.status, tt.body)
			}
			if !strings.Contains(err.Error(), "status") {
				t.Errorf("error %q does not say which status word was answered", err)
			}
		})
	}
}
