package server

import (
	"encoding/json"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx/fxtest"
	"go.uber.org/zap"

	"github.com/imcallback/imcallback/config"
	"github.com/imcallback/imcallback/internal/certtest"
)

// TestAdminConfigNotesAreCurrent: GET /v1/config is what `config check`
// prints for the running service, but its notes were rendered once, at the
// start: a certificate whose expiry came within 14 days since, or passed,
// was never noted there (nor in the console's Configuration), though
// `config check` noted it, and a note of the start kept saying how long
// was left then. Each answer now carries the notes of its own time (the
// YAML, which cannot change, is still rendered once). The certificate
// file is rewritten here to stand for the time passing.
func TestAdminConfigNotesAreCurrent(t *testing.T) {
	certFile, keyFile, _ := certtest.Write(t, time.Now().AddDate(1, 0, 0))
	cfg := config.Default()
	cfg.AdminListen = "127.0.0.1:0"
	cfg.TLSCert, cfg.TLSKey = certFile, keyFile
	lc := fxtest.NewLifecycle(t)
	a, err := newAdmin(adminIn{Lifecycle: lc, Config: &cfg, Log: zap.NewNop(), Registry: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	lc.RequireStart()
	defer lc.RequireStop()
	tests := []struct {
		name     string
		notAfter time.Time
		want     string // in the note naming the certificate file; "" for no such note
	}{
		{"valid for a year", time.Now().AddDate(1, 0, 0), ""},
		{"expiring in 3 days", time.Now().Add(3 * 24 * time.Hour), "its certificate expires at"},
		{"expired yesterday", time.Now().Add(-24 * time.Hour), "its certificate expired at"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file, _, _ := certtest.Write(t, tt.notAfter)
			pem, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(certFile, pem, 0o600); err != nil {
				t.Fatal(err)
			}
			res, err := http.Get("http://" + a.Addr().String() + "/v1/config")
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var body ConfigBody
			if err := json.NewDecoder(res.Body).Decode(&body); err != nil || res.StatusCode != http.StatusOK {
				t.Fatalf("GET /v1/config: %d %v", res.StatusCode, err)
			}
			i := slices.IndexFunc(body.Notes, func(n string) bool { return strings.Contains(n, certFile) })
			switch {
			case tt.want == "" && i >= 0:
				t.Errorf("the notes name the certificate: %q", body.Notes[i])
			case tt.want != "" && (i < 0 || !strings.Contains(body.Notes[i], tt.want)):
				t.Errorf("no note about the certificate says %q: %q", tt.want, body.Notes)
			}
			if want := cfg.Notes(); !slices.Equal(body.Notes, want) {
				t.Errorf("notes = %q; config check notes %q", body.Notes, want)
			}
		})
	}
}
