package config

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"time"
)

// CertificateWarning is how long before the public listener's certificate
// expires the start warns and `config check` notes it. The service serves
// the certificate all the same, expired too: a restart after the expiry
// must not become an outage.
const CertificateWarning = 14 * 24 * time.Hour

// ExpiredCertificate says what an expired certificate of the public
// listener means.
const ExpiredCertificate = "every client that verifies certificates refuses the handshake"

// leafCertificate reads the certificate the public listener serves: the
// first of the PEM file IMCALLBACK_TLS_CERT names (the others are its
// chain). The key is not read.
func leafCertificate(file string) (*x509.Certificate, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			return nil, fmt.Errorf("%s holds no PEM certificate", file)
		}
		if block.Type == "CERTIFICATE" {
			return x509.ParseCertificate(block.Bytes)
		}
	}
}

// certificateNote is the note about IMCALLBACK_TLS_CERT when its
// certificate has expired at now or expires within CertificateWarning,
// else "" (also when it cannot be read: CheckFiles says why).
func (c *Config) certificateNote(now time.Time) string {
	if c.TLSCert == "" || c.TLSKey == "" {
		return ""
	}
	cert, err := leafCertificate(c.TLSCert)
	if err != nil {
		return ""
	}
	left := cert.NotAfter.Sub(now)
	at := cert.NotAfter.UTC().Format(time.RFC3339)
	switch {
	case left <= 0:
		return fmt.Sprintf("%s %s: its certificate expired at %s (%s ago): %s; the service serves it all the same, renew it",
			EnvName("tls_cert"), c.TLSCert, at, roughly(-left), ExpiredCertificate)
	case left <= CertificateWarning:
		return fmt.Sprintf("%s %s: its certificate expires at %s (in %s): renew it, "+
			"since once it has expired the clients that verify certificates refuse the handshake",
			EnvName("tls_cert"), c.TLSCert, at, roughly(left))
	}
	return ""
}

// roughly writes d in whole days when it is two days or more, else in
// hours and minutes.
func roughly(d time.Duration) string {
	if days := int(d.Round(24*time.Hour) / (24 * time.Hour)); days >= 2 {
		return fmt.Sprintf("%d days", days)
	}
	return d.Round(time.Minute).String()
}
