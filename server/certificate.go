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
// is still served.
func reportCertificateExpiry(reg prometheus.Registerer, log *zap.Logger, certFile string, cert tls.Certificate, now time.Time) error {
	leaf := cert.Leaf
	if leaf == nil { // LoadX509KeyPair fills it; parse it otherwise
		var err error
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return err
		}
	}
	expiry := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "imcallback_tls_certificate_expiry_timestamp_seconds",
		Help: "Unix time at which the public listener's TLS certificate (IMCALLBACK_TLS_CERT) expires (its NotAfter).",
	})
	expiry.Set(float64(leaf.NotAfter.Unix()))
	if err := reg.Register(expiry); err != nil {
		return err
	}
	left := leaf.NotAfter.Sub(now)
	if left > config.CertificateWarning {
		return nil
	}
	msg := fmt.Sprintf("the TLS certificate expires within %d days; renew it", config.CertificateWarning/(24*time.Hour))
	if left <= 0 {
		msg = "the TLS certificate has expired: " + config.ExpiredCertificate + "; it is served all the same, renew it"
	}
	log.Warn(msg, zap.String("file", certFile),
		zap.String("not_after", leaf.NotAfter.UTC().Format(time.RFC3339)),
		zap.Duration("time_left", left.Truncate(time.Second)))
	return nil
}
