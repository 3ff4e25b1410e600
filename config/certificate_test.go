package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/imcallback/imcallback/config"
	"github.com/imcallback/imcallback/internal/certtest"
)

// TestNotesOfAnExpiringCertificate: the service serves an expired
// certificate rather than refuse to start (a restart after its expiry
// must not become an outage), so config check's notes say when
// IMCALLBACK_TLS_CERT has expired or expires within 14 days, with the
// file and the expiry; CheckFiles still accepts it.
func TestNotesOfAnExpiringCertificate(t *testing.T) {
	const refused = "every client that verifies certificates refuses the handshake"
	tests := []struct {
		name     string
		notAfter time.Time
		want     string // in the certificate's note; "": no note
	}{
		{"expired yesterday", time.Now().Add(-24 * time.Hour), refused},
		{"expiring in 3 days", time.Now().Add(3 * 24 * time.Hour), "expires"},
		{"valid for a year", time.Now().AddDate(1, 0, 0), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			certFile, keyFile, cert := certtest.Write(t, tt.notAfter)
			c, err := config.Load(config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_TOKENS=t",
				"IMCALLBACK_TLS_CERT="+certFile, "IMCALLBACK_TLS_KEY="+keyFile)})
			if err != nil {
				t.Fatal(err)
			}
			if err := c.CheckFiles(); err != nil {
				t.Fatalf("CheckFiles refused the certificate: %v", err)
			}
			notes := c.Notes()
			if tt.want == "" {
				if len(notes) != 0 {
					t.Fatalf("notes %q, want none", notes)
				}
				return
			}
			if len(notes) != 1 {
				t.Fatalf("notes %q, want the certificate's", notes)
			}
			for _, w := range []string{"IMCALLBACK_TLS_CERT", certFile, cert.NotAfter.UTC().Format(time.RFC3339), tt.want} {
				if !strings.Contains(notes[0], w) {
					t.Errorf("note %q does not say %q", notes[0], w)
				}
			}
			if tt.want != refused && strings.Contains(notes[0], refused) {
				t.Errorf("note %q says the handshakes are refused already", notes[0])
			}
		})
	}
}
