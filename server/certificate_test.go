package server

import (
	"crypto/tls"
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/imcallback/imcallback/internal/certtest"
)

// TestACertificateNotValidYetIsWarnedOf: a certificate whose validity
// begins later (issued for later, or the machine's clock behind) is
// refused by every client that verifies it, as an expired one is, and was
// served without a word; the start warns, naming the file and its
// not_before, and serves it all the same.
func TestACertificateNotValidYetIsWarnedOf(t *testing.T) {
	certFile, keyFile, cert := certtest.WriteFrom(t, time.Now().Add(48*time.Hour), time.Now().AddDate(1, 0, 0))
	p, lc, logs, _ := newPublicWithCertificate(t, certFile, keyFile)
	lc.RequireStart()
	defer lc.RequireStop()
	if served := servedCertificate(t, p); !served.NotBefore.Equal(cert.NotBefore) {
		t.Errorf("the listener serves a certificate valid from %v, want the file's, %v", served.NotBefore, cert.NotBefore)
	}
	warnings := logs.FilterField(zap.String("file", certFile)).All()
	if len(warnings) != 1 || warnings[0].Level != zapcore.WarnLevel || !strings.Contains(warnings[0].Message, "not valid yet") {
		t.Fatalf("warnings %v, want one saying the certificate is not valid yet", logs.All())
	}
	if got, want := warnings[0].ContextMap()["not_before"], cert.NotBefore.UTC().Format(time.RFC3339); got != want {
		t.Errorf("not_before %v, want %s", got, want)
	}

	// A renewal that is not valid yet either is warned of as it is served.
	newCert, newKey, renewed := certtest.WriteFrom(t, time.Now().Add(72*time.Hour), time.Now().AddDate(2, 0, 0))
	copyFile(t, newCert, certFile)
	copyFile(t, newKey, keyFile)
	p.certs.check()
	warnings = logs.FilterLevelExact(zapcore.WarnLevel).FilterField(zap.String("not_before", renewed.NotBefore.UTC().Format(time.RFC3339))).All()
	if len(warnings) != 1 || !strings.Contains(warnings[0].Message, "not valid yet") {
		t.Errorf("warnings %v, want one saying the renewal is not valid yet", logs.All())
	}
}

// TestCertificateExpiry: the public listener serves its certificate
// however close to its expiry, even expired (a restart after the expiry
// must not become an outage), but exposes its NotAfter as
// imcallback_tls_certificate_expiry_timestamp_seconds and warns at start,
// with the file, the expiry and the time left, when it has expired or
// expires within 14 days.
func TestCertificateExpiry(t *testing.T) {
	const expiredSentence = "every client that verifies certificates refuses the handshake"
	tests := []struct {
		name     string
		notAfter time.Time
		warn     bool // a warning about the certificate is written
		expired  bool // and it says the handshakes are refused
	}{
		{"expired yesterday", time.Now().Add(-24 * time.Hour), true, true},
		{"expiring in 3 days", time.Now().Add(3 * 24 * time.Hour), true, false},
		{"valid for a year", time.Now().AddDate(1, 0, 0), false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			certFile, keyFile, cert := certtest.Write(t, tt.notAfter)
			p, lc, logs, reg := newPublicWithCertificate(t, certFile, keyFile)
			lc.RequireStart()
			defer lc.RequireStop()
			served := servedCertificate(t, p)
			if !served.NotAfter.Equal(cert.NotAfter) {
				t.Errorf("the listener serves a certificate expiring at %v, want the file's, %v", served.NotAfter, cert.NotAfter)
			}

			value, ok := metricValue(t, reg, "imcallback_tls_certificate_expiry_timestamp_seconds")
			if !ok || value != float64(cert.NotAfter.Unix()) {
				t.Errorf("imcallback_tls_certificate_expiry_timestamp_seconds = %v (exposed: %v), want %d", value, ok, cert.NotAfter.Unix())
			}

			warnings := logs.FilterField(zap.String("file", certFile)).All()
			if !tt.warn {
				if len(warnings) != 0 || logs.Len() != 0 {
					t.Fatalf("warnings about a certificate valid for a year: %v", logs.All())
				}
				return
			}
			if len(warnings) != 1 {
				t.Fatalf("%d warnings naming the certificate's file, want 1; the warnings: %v", len(warnings), logs.All())
			}
			w := warnings[0]
			if w.Level != zapcore.WarnLevel {
				t.Errorf("level %v, want warn", w.Level)
			}
			if got := strings.Contains(w.Message, expiredSentence); got != tt.expired {
				t.Errorf("message %q: says %q: %v, want %v", w.Message, expiredSentence, got, tt.expired)
			}
			fields := w.ContextMap()
			if want := cert.NotAfter.UTC().Format(time.RFC3339); fields["not_after"] != want {
				t.Errorf("not_after %v, want %s", fields["not_after"], want)
			}
			left, ok := fields["time_left"].(time.Duration)
			if !ok || (left < 0) != tt.expired {
				t.Errorf("time_left %v (%T), want a duration, negative only once expired", fields["time_left"], fields["time_left"])
			}
			for name, v := range fields {
				if s, ok := v.(string); ok && (s == keyFile || strings.Contains(s, "PRIVATE KEY")) {
					t.Errorf("field %s = %q names or shows the key", name, s)
				}
			}
		})
	}

	t.Run("no TLS", func(t *testing.T) {
		_, _, logs, reg := newPublicWithCertificate(t, "", "")
		if value, ok := metricValue(t, reg, "imcallback_tls_certificate_expiry_timestamp_seconds"); ok {
			t.Errorf("the expiry gauge is exposed (%v) without a certificate", value)
		}
		if logs.Len() != 0 {
			t.Errorf("warnings without a certificate: %v", logs.All())
		}
	})
}

// servedCertificate is the certificate p's TLS handshake presents, read
// by a client that does not verify it (as an expired one would fail).
func servedCertificate(t *testing.T, p *Public) *x509.Certificate {
	t.Helper()
	conn, err := tls.Dial("tcp", p.Addr().String(), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	defer func() { _ = conn.Close() }()
	return conn.ConnectionState().PeerCertificates[0]
}

// metricValue is the value of the gauge or counter name of reg, without
// labels, and whether reg has it.
func metricValue(t *testing.T, reg *prometheus.Registry, name string) (float64, bool) {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name || len(f.GetMetric()) != 1 {
			continue
		}
		switch m := f.GetMetric()[0]; {
		case m.GetGauge() != nil:
			return m.GetGauge().GetValue(), true
		case m.GetCounter() != nil:
			return m.GetCounter().GetValue(), true
		}
	}
	return 0, false
}
