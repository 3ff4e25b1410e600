package server

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/imcallback/imcallback/config"
)

// reportCertificateExpiry exposes the expiry of the certificate the
// public listener serves, cert of the file certFile, as
// imcallback_tls_certificate_expiry_timestamp_seconds on reg, and warns
// when at now it has expired or expires within config.CertificateWarning.
// The listener serves it all the same: a restart after the expiry must
// not become an outage, and a client that does not verify certificates
// is still served. It returns the gauge, which a renewed certificate
// sets.
func reportCertificateExpiry(reg prometheus.Registerer, log *zap.Logger, certFile string, cert tls.Certificate, now time.Time) (prometheus.Gauge, error) {
	leaf, err := leafOf(cert)
	if err != nil {
		return nil, err
	}
	expiry := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "imcallback_tls_certificate_expiry_timestamp_seconds",
		Help: "Unix time at which the public listener's TLS certificate (IMCALLBACK_TLS_CERT) expires (its NotAfter).",
	})
	expiry.Set(float64(leaf.NotAfter.Unix()))
	if err := reg.Register(expiry); err != nil {
		return nil, err
	}
	warnCertificateExpiry(log, certFile, leaf, now)
	return expiry, nil
}

// leafOf is cert's own certificate, parsed.
func leafOf(cert tls.Certificate) (*x509.Certificate, error) {
	if cert.Leaf != nil { // LoadX509KeyPair fills it; parse it otherwise
		return cert.Leaf, nil
	}
	return x509.ParseCertificate(cert.Certificate[0])
}

// warnCertificateExpiry warns when leaf, of the file certFile, is not
// valid yet at now, has expired or expires within config.CertificateWarning.
func warnCertificateExpiry(log *zap.Logger, certFile string, leaf *x509.Certificate, now time.Time) {
	if now.Before(leaf.NotBefore) {
		log.Warn("the TLS certificate is not valid yet: "+config.ExpiredCertificate+
			" until its not_before (a certificate issued for later, or this machine's clock is behind); it is served all the same",
			zap.String("file", certFile), zap.String("not_before", leaf.NotBefore.UTC().Format(time.RFC3339)))
		return
	}
	left := leaf.NotAfter.Sub(now)
	if left > config.CertificateWarning {
		return
	}
	msg := fmt.Sprintf("the TLS certificate expires within %d days; renew it", config.CertificateWarning/(24*time.Hour))
	if left <= 0 {
		msg = "the TLS certificate has expired: " + config.ExpiredCertificate + "; it is served all the same, renew it"
	}
	log.Warn(msg, zap.String("file", certFile),
		zap.String("not_after", leaf.NotAfter.UTC().Format(time.RFC3339)),
		zap.Duration("time_left", left.Truncate(time.Second)))
}
