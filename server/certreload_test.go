package server

import (
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/imcallback/imcallback/internal/certtest"
	"github.com/imcallback/imcallback/internal/leakwait"
)

// copyFile writes the content of from over to, as a renewal writes the
// new certificate over the files the service was started with.
func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
	// A renewal within the file system's timestamp granularity, and of
	// the same size, must be seen all the same: the stamp is the size and
	// the time, so move the time on.
	later := time.Now().Add(time.Duration(len(b)) * time.Millisecond)
	if err := os.Chtimes(to, later, later); err != nil {
		t.Fatal(err)
	}
}

// TestARenewedCertificateIsServedWithoutARestart: the public listener read
// its certificate once, at start, so a renewal written over its files
// (cert-manager's, certbot's, a Secret's new version) was served only
// after a restart, and the service served the old one up to its expiry.
// The listener now serves the renewed certificate once it sees the files
// changed, and sets the expiry gauge to it; a renewal whose pair does not
// load (a key written after its certificate, a key of another one) is
// logged once, and the certificate served until then stays, with its
// expiry, until the files load.
func TestARenewedCertificateIsServedWithoutARestart(t *testing.T) {
	certFile, keyFile, old := certtest.Write(t, time.Now().AddDate(1, 0, 0))
	p, lc, logs, reg := newPublicWithCertificate(t, certFile, keyFile)
	lc.RequireStart()
	defer lc.RequireStop()

	serves := func(want time.Time) {
		t.Helper()
		if got := servedCertificate(t, p).NotAfter; !got.Equal(want) {
			t.Errorf("the listener serves a certificate expiring at %v, want %v", got, want)
		}
		if got, _ := metricValue(t, reg, "imcallback_tls_certificate_expiry_timestamp_seconds"); got != float64(want.Unix()) {
			t.Errorf("imcallback_tls_certificate_expiry_timestamp_seconds = %v, want %d", got, want.Unix())
		}
	}
	failures := func() int {
		return logs.FilterLevelExact(zapcore.ErrorLevel).FilterField(zap.String("file", certFile)).Len()
	}
	serves(old.NotAfter)

	// Half a renewal: the new certificate, with the old key.
	newCert, newKey, renewed := certtest.Write(t, time.Now().AddDate(2, 0, 0))
	copyFile(t, newCert, certFile)
	p.certs.check()
	serves(old.NotAfter)
	if n := failures(); n != 1 {
		t.Fatalf("%d errors naming the certificate's file for a pair that does not load, want 1: %v", n, logs.All())
	}
	p.certs.check() // the same files: not logged again
	if n := failures(); n != 1 {
		t.Errorf("%d errors after a second look at the same files, want still 1", n)
	}

	// The key follows: the renewal is served.
	copyFile(t, newKey, keyFile)
	p.certs.check()
	serves(renewed.NotAfter)
	if n := failures(); n != 1 {
		t.Errorf("%d errors once the renewal loads, want still 1: %v", n, logs.All())
	}
}

// TestCertificateChecksStopWithTheService: the look at the certificate's
// files runs while the service runs, and ends with its stop.
func TestCertificateChecksStopWithTheService(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	certFile, keyFile, _ := certtest.Write(t, time.Now().AddDate(1, 0, 0))
	_, lc, _, _ := newPublicWithCertificate(t, certFile, keyFile)
	lc.RequireStart()
	lc.RequireStop()
	if err := leakwait.Find(ignore); err != nil {
		t.Errorf("the look at the certificate's files outlives the stop: %v", err)
	}
}

// TestARenewalThatLoadsOnlyOnceFixedInPlaceIsServed: a renewal whose pair
// did not load was not loaded again until its files' size or modification
// time changed, and a fix that changes neither (chmod or chown of a key
// written unreadable to the service's user, which moves only the inode's
// change time) left the old certificate served up to its expiry, or a
// restart. The files are loaded again at each look until they load; the
// failure is still logged once. Run as root, a test cannot make a file
// unreadable: a key of the same size and time that does not parse, then
// the right one with that size and time, stands for it.
func TestARenewalThatLoadsOnlyOnceFixedInPlaceIsServed(t *testing.T) {
	certFile, keyFile, old := certtest.Write(t, time.Now().AddDate(1, 0, 0))
	p, lc, logs, _ := newPublicWithCertificate(t, certFile, keyFile)
	lc.RequireStart()
	defer lc.RequireStop()

	newCert, newKey, renewed := certtest.Write(t, time.Now().AddDate(2, 0, 0))
	key, err := os.ReadFile(newKey)
	if err != nil {
		t.Fatal(err)
	}
	stamp := time.Now().Add(time.Hour)
	writeStamped := func(b []byte) {
		t.Helper()
		if err := os.WriteFile(keyFile, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(keyFile, stamp, stamp); err != nil {
			t.Fatal(err)
		}
	}
	copyFile(t, newCert, certFile)
	writeStamped([]byte(strings.Repeat("x", len(key))))
	p.certs.check()
	if got := servedCertificate(t, p).NotAfter; !got.Equal(old.NotAfter) {
		t.Fatalf("a pair that does not load is served: expiry %v, want the old %v", got, old.NotAfter)
	}

	writeStamped(key) // fixed in place: the same size and time
	p.certs.check()
	if got := servedCertificate(t, p).NotAfter; !got.Equal(renewed.NotAfter) {
		t.Errorf("the renewal fixed in place is not served: expiry %v, want %v", got, renewed.NotAfter)
	}
	if n := logs.FilterLevelExact(zapcore.ErrorLevel).FilterField(zap.String("file", certFile)).Len(); n != 1 {
		t.Errorf("%d errors naming the certificate's file, want 1: %v", n, logs.All())
	}
}
