package config

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"strings"
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
// certificate is not valid yet at now, has expired or expires within
// CertificateWarning, else "" (also when it cannot be read: CheckFiles
// says why).
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
	case now.Before(cert.NotBefore):
		return fmt.Sprintf("%s %s: its certificate is not valid until %s (in %s): %s until then "+
			"(a certificate issued for later, or this machine's clock is behind); the service serves it all the same",
			EnvName("tls_cert"), c.TLSCert, cert.NotBefore.UTC().Format(time.RFC3339), roughly(cert.NotBefore.Sub(now)), ExpiredCertificate)
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

// LoadKeyPair reads the public listener's certificate (IMCALLBACK_TLS_CERT:
// its own certificate first, then its chain) and key (IMCALLBACK_TLS_KEY),
// as tls.LoadX509KeyPair does. When they cannot be used for a reason Go's
// error does not name, the error adds it and what to do: a key protected
// by a passphrase (Go says only "failed to parse private key"), and a
// certificate file whose first certificate is not the key's, because the
// chain comes first or the key is another certificate's (Go says "private
// key does not match public key" for both). A key Go's TLS signs no
// handshake with (RSA under 1024 bits, ECDSA on a curve other than P-256,
// P-384 and P-521) is an error too: tls.LoadX509KeyPair takes it, and
// every handshake would fail.
func LoadKeyPair(certFile, keyFile string) (tls.Certificate, error) {
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err == nil {
		if err := handshakeKeyProblem(pair.PrivateKey); err != nil {
			return tls.Certificate{}, fmt.Errorf("the key in %s cannot sign a TLS handshake: %w, so every TLS handshake "+
				"would fail; issue the certificate with an RSA key of 2048 bits or more, or an ECDSA key on P-256", keyFile, err)
		}
		return pair, nil
	}
	certPEM, cerr := os.ReadFile(certFile)
	keyPEM, kerr := os.ReadFile(keyFile)
	if cerr != nil || kerr != nil {
		return pair, err // Go's error names the file it could not read
	}
	if strings.Contains(err.Error(), "parse private key") && encryptedKey(keyPEM) {
		return pair, fmt.Errorf("%w: the key in %s is protected by a passphrase, which the service has no way to be "+
			"given; write it without one (openssl pkey -in %s -out key.pem, which asks for the passphrase) and "+
			"let only the service's user read that file", err, keyFile, keyFile)
	}
	if strings.Contains(err.Error(), "does not match") {
		n := 0
		for rest := certPEM; ; {
			var block *pem.Block
			if block, rest = pem.Decode(rest); block == nil {
				break
			}
			if block.Type != "CERTIFICATE" {
				continue
			}
			if n++; n == 1 {
				continue
			}
			if _, merr := tls.X509KeyPair(pem.EncodeToMemory(block), keyPEM); merr == nil {
				return pair, fmt.Errorf("%w: the key in %s is the key of certificate #%d of %s, and the service serves "+
					"the first: list the service's own certificate first, then its chain (intermediate certificates)",
					err, keyFile, n, certFile)
			}
		}
		return pair, fmt.Errorf("%w: %s is not the key of the first certificate of %s (the service's own, which "+
			"comes before its chain); set %s to the key that certificate was issued for", err, keyFile, certFile, EnvName("tls_key"))
	}
	return pair, err
}

// encryptedKey reports whether the first private key of keyPEM is
// protected by a passphrase: PKCS #8's ENCRYPTED PRIVATE KEY, or the
// Proc-Type header of OpenSSL's legacy encryption.
func encryptedKey(keyPEM []byte) bool {
	for rest := keyPEM; ; {
		var block *pem.Block
		if block, rest = pem.Decode(rest); block == nil {
			return false
		}
		if block.Type == "PRIVATE KEY" || strings.HasSuffix(block.Type, " PRIVATE KEY") {
			return block.Type == "ENCRYPTED PRIVATE KEY" || strings.Contains(block.Headers["Proc-Type"], "ENCRYPTED")
		}
	}
}

// handshakeKeyProblem says why Go's TLS would sign no handshake with
// key, nil when it signs: an RSA key under crypto/rsa's minimum size (1024
// bits, unless GODEBUG rsa1024min=0 lowers it) signs nothing, and an
// ECDSA key is used on P-256, P-384 and P-521 only. tls.LoadX509KeyPair
// takes both.
func handshakeKeyProblem(key crypto.PrivateKey) error {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		digest := sha256.Sum256([]byte("imcallback"))
		_, err := k.Sign(rand.Reader, digest[:], crypto.SHA256)
		return err
	case *ecdsa.PrivateKey:
		switch k.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
			return nil
		}
		return fmt.Errorf("it is an ECDSA key on %s, a curve Go's TLS does not sign with (only P-256, P-384 and P-521)",
			k.Curve.Params().Name)
	}
	return nil
}
