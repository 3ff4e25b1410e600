package config_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
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

// TestCheckFilesSaysWhatIsWrongWithTheKeyPair: Go's own errors for a key
// pair that cannot be used name no cause an operator can act on: a key
// protected by a passphrase is "failed to parse private key", and a
// certificate file that lists its chain before the service's own
// certificate is "private key does not match public key", as a key of
// another certificate is. CheckFiles (and the public listener, which
// loads the pair the same way) says which it is and what to do.
func TestCheckFilesSaysWhatIsWrongWithTheKeyPair(t *testing.T) {
	certFile, keyFile, _ := certtest.Write(t, time.Now().AddDate(1, 0, 0))
	otherCert, otherKey, _ := certtest.Write(t, time.Now().AddDate(1, 0, 0))
	read := func(file string) []byte {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	write := func(name string, parts ...[]byte) string {
		file := filepath.Join(t.TempDir(), name)
		if err := os.WriteFile(file, bytes.Join(parts, nil), 0o600); err != nil {
			t.Fatal(err)
		}
		return file
	}
	pkcs8Encrypted := pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{0x30, 0x03, 0x02, 0x01, 0x00}})
	p224Cert, p224Key := writeP224Pair(t)
	legacyEncrypted := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: []byte{1, 2, 3, 4},
		Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-128-CBC,00000000000000000000000000000000"}})
	tests := []struct {
		name      string
		cert, key string
		want      []string // in the error; none: no error
	}{
		{"the certificate, then its chain", write("chain.pem", read(certFile), read(otherCert)), keyFile, nil},
		{"the chain before the certificate", write("chain.pem", read(otherCert), read(certFile)), keyFile,
			[]string{"private key does not match", "certificate #2", "first"}},
		{"a key of another certificate", certFile, otherKey,
			[]string{"private key does not match", "not the key of", "IMCALLBACK_TLS_KEY"}},
		{"a key encrypted as PKCS #8", certFile, write("key.pem", pkcs8Encrypted),
			[]string{"failed to parse private key", "passphrase", "openssl pkey"}},
		{"a key encrypted as OpenSSL's legacy PEM", certFile, write("key.pem", legacyEncrypted),
			[]string{"failed to parse private key", "passphrase", "openssl pkey"}},
		{"no certificate, and a key encrypted", write("cert.pem", []byte("not PEM")), write("key.pem", pkcs8Encrypted),
			[]string{"certificate input"}},
		// Go signs with no RSA key under 1024 bits: every handshake failed,
		// while config check called the pair valid and /readyz said ready.
		{"an RSA key of 512 bits", write("cert.pem", []byte(rsa512Cert)), write("key.pem", []byte(rsa512Key)),
			[]string{"512-bit", "every TLS handshake", "2048 bits"}},
		// Go's TLS signs with ECDSA on P-256, P-384 and P-521 only.
		{"an ECDSA key on P-224", p224Cert, p224Key, []string{"P-224", "every TLS handshake", "P-256"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.Load(config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_TOKENS=t",
				"IMCALLBACK_TLS_CERT="+tt.cert, "IMCALLBACK_TLS_KEY="+tt.key)})
			if err != nil {
				t.Fatal(err)
			}
			err = c.CheckFiles()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("CheckFiles: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("CheckFiles accepted the pair")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("CheckFiles: %v\ndoes not say %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "certificate input") && strings.Contains(err.Error(), "passphrase") {
				t.Errorf("CheckFiles: %v\nblames the key's passphrase for a certificate that cannot be read", err)
			}
			if _, lerr := config.LoadKeyPair(tt.cert, tt.key); lerr == nil || !strings.Contains(err.Error(), lerr.Error()) {
				t.Errorf("LoadKeyPair: %v, want what CheckFiles says (%v)", lerr, err)
			}
		})
	}
}

// rsa512Cert and rsa512Key are a self-signed certificate (CN localhost,
// valid to 2126) and its RSA key of 512 bits, which Go does not sign with.
const (
	rsa512Cert = `-----BEGIN CERTIFICATE-----
MIIBgTCCASugAwIBAgIUeWc32vuvspwsCjOMA8hPo01MPyYwDQYJKoZIhvcNAQEL
BQAwFDESMBAGA1UEAwwJbG9jYWxob3N0MCAXDTI2MTIwNTIxMTU1M1oYDzIxMjYx
MTExMjExNTUzWjAUMRIwEAYDVQQDDAlsb2NhbGhvc3QwXDANBgkqhkiG9w0BAQEF
AANLADBIAkEA3NXgHScV0pnWqLeJBmiprUxZfwnTX4S9ugzW17vd+Zs5OWpPUuiC
e0zLkWZOd1xXdA+mrPunjIXiAneb4GWs2wIDAQABo1MwUTAdBgNVHQ4EFgQUoyhi
3fbPGhav9GbeD6L0FZ3RAdEwHwYDVR0jBBgwFoAUoyhi3fbPGhav9GbeD6L0FZ3R
AdEwDwYDVR0TAQH/BAUwAwEB/zANBgkqhkiG9w0BAQsFAANBABsGI7IsEFd83C5N
A91Rq7SDT1lIMxgZHvPZdri5IyeaDKScNgemGTB8bYrwtTYJ5qrqBo/1i4VrDzxk
iJDIrD0=
-----END CERTIFICATE-----
`
	rsa512Key = `-----BEGIN PRIVATE KEY-----
MIIBVAIBADANBgkqhkiG9w0BAQEFAASCAT4wggE6AgEAAkEA3NXgHScV0pnWqLeJ
BmiprUxZfwnTX4S9ugzW17vd+Zs5OWpPUuiCe0zLkWZOd1xXdA+mrPunjIXiAneb
4GWs2wIDAQABAkAiQXLwUr3J21828LFqsxWO8kb3s9h7+qVLlO5GrLe0HhwwEQOk
B7+5rlaZ/+C6qsiD2D5JSTg8FSn/x2k0tZyhAiEA7vIxd2gFpoxNV5JSH38hk/hv
xTLB1xBFvalW2+IeiDMCIQDsmMgJGMh5fITcMOBw+6qkfkZUkilBuJoKIpk/AhXA
uQIhAKHFkzv2Ty0M/Cf3xmXQmpklr/ZggN/sAmt/xHClzGoFAiAZvmoNq1es+GKQ
fvT89jVUHrVSYHECyK5iKe+YzoZFaQIgCHgTIB3LIXJwOxiBWENBWcRh7M6R7B5m
4WrquRWmyEI=
-----END PRIVATE KEY-----
`
)

// writeP224Pair writes a self-signed certificate and its ECDSA key on
// P-224, a curve Go's TLS does not sign handshakes with, and returns
// their files.
func writeP224Pair(t *testing.T) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		DNSNames: []string{"localhost"}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(1, 0, 0)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	for file, block := range map[string]*pem.Block{certFile: {Type: "CERTIFICATE", Bytes: der}, keyFile: {Type: "PRIVATE KEY", Bytes: keyDER}} {
		if err := os.WriteFile(file, pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return certFile, keyFile
}

// TestTLSFileGivenAsPEMText: IMCALLBACK_TLS_KEY (or _CERT) set to the
// file's contents rather than its path, as a Kubernetes secret's key given
// as a variable or $(cat key.pem) sets it (or its base64, as the secret's
// data shows it), failed reading a file of that
// name, and the error quoted the name, the private key whole; written so
// in the file as a block scalar, the whitespace check quoted it. It is
// refused naming the setting, never showing the value; a path still loads.
func TestTLSFileGivenAsPEMText(t *testing.T) {
	const key = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAsecretKeyBody\n-----END PRIVATE KEY-----\n"
	const cert = "-----BEGIN CERTIFICATE-----\nMIIBcertBody\n-----END CERTIFICATE-----\n" + key // a bundle with its key
	indent := func(s string) string {
		return "  " + strings.ReplaceAll(strings.TrimSuffix(s, "\n"), "\n", "\n  ") + "\n"
	}
	const msg = " holds PEM text or its base64 (not shown: it may hold a private key), not the path of a file: " +
		"write the PEM text to a file that only the service's user can read, and give that file's path"
	tests := []struct {
		name, file string
		environ    []string
		want       []string // the error lines
	}{
		{"the key in a variable", "", []string{"IMCALLBACK_TLS_CERT=/etc/tls/c.pem", "IMCALLBACK_TLS_KEY=" + key},
			[]string{"IMCALLBACK_TLS_KEY (tls_key):" + msg}},
		{"both in variables", "", []string{"IMCALLBACK_TLS_CERT=" + cert, "IMCALLBACK_TLS_KEY=" + key},
			[]string{"IMCALLBACK_TLS_CERT (tls_cert):" + msg, "IMCALLBACK_TLS_KEY (tls_key):" + msg}},
		{"the key base64-encoded", "", []string{"IMCALLBACK_TLS_CERT=/etc/tls/c.pem", "IMCALLBACK_TLS_KEY=" + base64.StdEncoding.EncodeToString([]byte(key))},
			[]string{"IMCALLBACK_TLS_KEY (tls_key):" + msg}},
		{"the key as a block scalar", "tls_cert: /etc/tls/c.pem\ntls_key: |\n" + indent(key), nil,
			[]string{"IMCALLBACK_TLS_KEY (tls_key):" + msg}},
		{"the key as a block scalar without its last line break", "tls_cert: /etc/tls/c.pem\ntls_key: |-\n" + indent(key), nil,
			[]string{"IMCALLBACK_TLS_KEY (tls_key):" + msg}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := loadYAML(t, tt.file, append([]string{"IMCALLBACK_SDKAPPID=1"}, tt.environ...)...)
			if err == nil {
				err = c.CheckFiles() // what serve and config check run next
			}
			got := errorLines(err)
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("error lines\n%q\nwant\n%q", got, tt.want)
			}
			if err != nil && (strings.Contains(err.Error(), "secretKeyBody") || strings.Contains(err.Error(), "certBody") ||
				strings.Contains(err.Error(), "LS0tLS1")) {
				t.Errorf("the error shows the PEM text: %v", err)
			}
		})
	}
	if _, err := config.Load(config.Source{Environ: env("IMCALLBACK_SDKAPPID=1",
		"IMCALLBACK_TLS_CERT=/etc/tls/c.pem", "IMCALLBACK_TLS_KEY=/etc/tls/k.pem")}); err != nil {
		t.Errorf("paths: %v", err)
	}
}
