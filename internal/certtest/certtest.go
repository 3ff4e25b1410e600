// Package certtest writes self-signed certificates for the tests of the
// public listener over TLS (IMCALLBACK_TLS_CERT, IMCALLBACK_TLS_KEY), with
// the expiry the test chooses. It imports nothing of the service, so every
// package's tests can use it.
package certtest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Write writes a self-signed certificate for 127.0.0.1 that expires at
// notAfter (and is valid from a day before it or an hour before now,
// whichever is earlier), and its key, under a temporary directory of the
// test. It returns both files and the parsed certificate.
func Write(t testing.TB, notAfter time.Time) (certFile, keyFile string, cert *x509.Certificate) {
	t.Helper()
	return write(t, time.Time{}, notAfter, []net.IP{net.ParseIP("127.0.0.1")}, nil)
}

// WriteFrom writes, as Write does, a self-signed certificate for
// 127.0.0.1 valid from notBefore (in the future: one not valid yet) to
// notAfter.
func WriteFrom(t testing.TB, notBefore, notAfter time.Time) (certFile, keyFile string, cert *x509.Certificate) {
	t.Helper()
	return write(t, notBefore, notAfter, []net.IP{net.ParseIP("127.0.0.1")}, nil)
}

// WriteFor writes, as Write does, a self-signed certificate for the DNS
// names alone (no IP address: a service's public name, or localhost),
// valid for a year.
func WriteFor(t testing.TB, names ...string) (certFile, keyFile string, cert *x509.Certificate) {
	t.Helper()
	return write(t, time.Time{}, time.Now().AddDate(1, 0, 0), nil, names)
}

// write writes a self-signed certificate for the IP addresses and DNS
// names valid from notBefore (zero: a day before notAfter or an hour
// before now, whichever is earlier) to notAfter, and its key; its common
// name is the first of them.
func write(t testing.TB, notBefore, notAfter time.Time, ips []net.IP, dnsNames []string) (certFile, keyFile string, cert *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if notBefore.IsZero() {
		notBefore = time.Now().Add(-time.Hour)
		if dayBefore := notAfter.Add(-24 * time.Hour); dayBefore.Before(notBefore) {
			notBefore = dayBefore
		}
	}
	commonName := ""
	if len(ips) > 0 {
		commonName = ips[0].String()
	} else if len(dnsNames) > 0 {
		commonName = dnsNames[0]
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: commonName},
		IPAddresses:  ips,
		DNSNames:     dnsNames,
		NotBefore:    notBefore,
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err = x509.ParseCertificate(der)
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
	return certFile, keyFile, cert
}
