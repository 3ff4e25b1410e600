package imtest

import (
	"crypto/x509"
	"testing"
	"time"

	"github.com/imcallback/imcallback/internal/certtest"
)

// SelfSigned writes a certificate for 127.0.0.1 and its key under a
// temporary directory of the test, for IMCALLBACK_TLS_CERT and
// IMCALLBACK_TLS_KEY, and returns a pool that trusts it. Start does not
// use the pool: the Service's Sender has a nil Client, which does not
// trust the certificate, so a test over TLS sets one with it:
//
//	s.Sender.Client = imtest.NewClient(4, &tls.Config{RootCAs: pool})
//
// The certificate is valid from an hour before the call for a year, so
// the service does not warn that it expires soon.
func SelfSigned(t testing.TB) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	certFile, keyFile, cert := certtest.Write(t, time.Now().AddDate(1, 0, 0))
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}
