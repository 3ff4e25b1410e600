package cli

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/imcallback/imcallback/internal/certtest"
)

// TestSendTrustsTheServicesOwnCertificate: send without --url posts to the
// service's TLS listener on this machine (a wildcard host on loopback),
// trusting the certificate file the service is configured with, whatever
// names that certificate holds: a self-signed one is made for the
// service's public name or for localhost, not for the 127.0.0.1 send
// dials. Another certificate at that address is still refused.
func TestSendTrustsTheServicesOwnCertificate(t *testing.T) {
	publicCert, publicKey, _ := certtest.WriteFor(t, "im.example.com")
	localCert, localKey, _ := certtest.WriteFor(t, "localhost")
	otherCert, _, _ := certtest.WriteFor(t, "im.example.com")
	_, publicPort, publicPaths := receiver(t, publicCert, publicKey)
	_, localPort, localPaths := receiver(t, localCert, localKey)
	tests := []struct {
		name     string
		listen   string
		cert     string
		paths    <-chan string // nil: refused
		viaFile  bool
		wantErrs []string
	}{
		{"the public name's certificate, wildcard listener", ":" + publicPort, publicCert, publicPaths, false, nil},
		{"the public name's certificate, --config", "0.0.0.0:" + publicPort, publicCert, publicPaths, true, nil},
		{"localhost's certificate, loopback listener", "127.0.0.1:" + localPort, localCert, localPaths, false, nil},
		{"another certificate than the listener's", "127.0.0.1:" + publicPort, otherCert, nil, false,
			[]string{"is not trusted here", "IMCALLBACK_TLS_CERT"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, name := range []string{"IMCALLBACK_LISTEN", "IMCALLBACK_PATH", "IMCALLBACK_TLS_CERT", "IMCALLBACK_TLS_KEY", "IMCALLBACK_TOKENS"} {
				t.Setenv(name, "")
			}
			args := []string{"send", "--command", "Group.CallbackAfterCreateTopic", "--sample"}
			if tc.viaFile {
				file := filepath.Join(t.TempDir(), "imcallback.yaml")
				if err := writeFile(file, "sdkappid: [1400000000]\nlisten: \""+tc.listen+"\"\ntls_cert: "+tc.cert+"\ntls_key: "+publicKey+"\n"); err != nil {
					t.Fatal(err)
				}
				args = append(args, "--config", file)
			} else {
				t.Setenv("IMCALLBACK_LISTEN", tc.listen)
				t.Setenv("IMCALLBACK_TLS_CERT", tc.cert)
				t.Setenv("IMCALLBACK_TLS_KEY", publicKey)
			}
			out, err := runCLI(t, args...)
			if tc.paths == nil {
				if err == nil {
					t.Fatalf("send succeeded (%q), want the certificate refused", out)
				}
				for _, want := range tc.wantErrs {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q, want it to hold %q", err, want)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("send: %v\n%s", err, out)
			}
			select {
			case got := <-tc.paths:
				if got != "/im/callback" {
					t.Errorf("the request arrived at %s", got)
				}
			default:
				t.Fatalf("send succeeded (%q) but no request arrived", out)
			}
		})
	}
}

// TestSendRefusesTheServicesOwnCertificateOutsideItsValidity: send trusts
// the service's own certificate whatever names it holds, and trusted it
// expired or not valid yet too, so it reported OK where IM, which checks
// the validity, fails the handshake.
func TestSendRefusesTheServicesOwnCertificateOutsideItsValidity(t *testing.T) {
	tests := []struct {
		name                string
		notBefore, notAfter time.Time
	}{
		{"expired", time.Now().Add(-48 * time.Hour), time.Now().Add(-24 * time.Hour)},
		{"not valid yet", time.Now().Add(24 * time.Hour), time.Now().AddDate(1, 0, 0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			certFile, keyFile, _ := certtest.WriteFrom(t, tt.notBefore, tt.notAfter)
			_, port, paths := receiver(t, certFile, keyFile)
			t.Setenv("IMCALLBACK_PATH", "")
			t.Setenv("IMCALLBACK_TOKENS", "")
			t.Setenv("IMCALLBACK_LISTEN", "127.0.0.1:"+port)
			t.Setenv("IMCALLBACK_TLS_CERT", certFile)
			t.Setenv("IMCALLBACK_TLS_KEY", keyFile)
			out, err := runCLI(t, "send", "--command", "Group.CallbackAfterCreateTopic", "--sample")
			if err == nil || !strings.Contains(err.Error(), "would refuse the handshake") {
				t.Fatalf("send: %v (%q), want the certificate refused", err, out)
			}
			select {
			case got := <-paths:
				t.Errorf("a request arrived at %s", got)
			default:
			}
		})
	}
}
