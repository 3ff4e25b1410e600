package cli

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// selfSignedFor writes a self-signed certificate for the DNS names alone
// (no IP address: the service's public name, or localhost), and its key.
func selfSignedFor(t *testing.T, names ...string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7),
		Subject:      pkix.Name{CommonName: names[0]},
		DNSNames:     names,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().AddDate(1, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// TestSendTrustsTheServicesOwnCertificate: send without --url posts to the
// service's TLS listener on this machine (a wildcard host on loopback),
// trusting the certificate file the service is configured with, whatever
// names that certificate holds: a self-signed one is made for the
// service's public name or for localhost, not for the 127.0.0.1 send
// dials. Another certificate at that address is still refused.
func TestSendTrustsTheServicesOwnCertificate(t *testing.T) {
	publicCert, publicKey := selfSignedFor(t, "im.example.com")
	localCert, localKey := selfSignedFor(t, "localhost")
	otherCert, _ := selfSignedFor(t, "im.example.com")
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
