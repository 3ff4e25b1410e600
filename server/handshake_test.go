package server

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx/fxtest"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/imcallback/imcallback/config"
	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/internal/certtest"
	"github.com/imcallback/imcallback/metrics"
	"github.com/imcallback/imcallback/middleware"
)

// newTLSPublic builds the public listener over TLS, logging to an
// observer; the caller starts it on lc, or not.
func newTLSPublic(t *testing.T) (*Public, *fxtest.Lifecycle, *observer.ObservedLogs) {
	t.Helper()
	certFile, keyFile, _ := certtest.Write(t, time.Now().AddDate(1, 0, 0))
	p, lc, logs, _ := newPublicWithCertificate(t, certFile, keyFile)
	return p, lc, logs
}

// newPublicWithCertificate builds the public listener, over TLS with the
// files given unless they are empty, logging warnings to an observer and
// registering its metrics on the registry it returns.
func newPublicWithCertificate(t *testing.T, certFile, keyFile string) (*Public, *fxtest.Lifecycle, *observer.ObservedLogs, *prometheus.Registry) {
	t.Helper()
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.TLSCert, cfg.TLSKey = certFile, keyFile
	reg := prometheus.NewRegistry()
	m := metrics.NewCallbacks(reg)
	d, err := dispatcher.New(nil, dispatcher.Options{BeforeTimeout: time.Second}, zap.NewNop(), m)
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.WarnLevel)
	lc := fxtest.NewLifecycle(t)
	p, err := newPublic(publicIn{Lifecycle: lc, Config: &cfg, Log: zap.New(core), Metrics: m, Registry: reg,
		Chain: middleware.Chain{}, Dispatcher: d})
	if err != nil {
		t.Fatal(err)
	}
	return p, lc, logs, reg
}

// TestFailedTLSHandshakesAreLoggedOnceAMinute: net/http logs every TLS
// handshake that fails, and every connection that closes before its
// handshake is one: a load balancer's TCP health check, a port scan, a
// client speaking plain HTTP. Each wrote a warning line of its own, so
// anyone reaching the port could fill the log. They are refusals that
// reach no handler, logged once a minute with the count like the others;
// the other lines of net/http's log are still warnings of their own.
func TestFailedTLSHandshakesAreLoggedOnceAMinute(t *testing.T) {
	tests := []struct {
		name  string
		lines []string // as net/http prints them to the server's ErrorLog
		want  []string // the messages of the warnings written
		// remote and cause are the remote_ip and error of the first
		// warning, when it is the handshake's.
		remote, cause string
	}{
		{
			name: "a flood of failed handshakes",
			lines: []string{
				"http: TLS handshake error from 192.0.2.7:40000: EOF",
				"http: TLS handshake error from 192.0.2.8:40001: EOF",
				"http: TLS handshake error from [2001:db8::1]:40002: client sent an HTTP request to an HTTPS server",
			},
			want:   []string{refusalMessage},
			remote: "192.0.2.7", cause: "EOF",
		},
		{
			name:   "an IPv6 peer",
			lines:  []string{"http: TLS handshake error from [2001:db8::1]:40002: tls: client offered only unsupported versions: [302 301]"},
			want:   []string{refusalMessage},
			remote: "2001:db8::1", cause: "tls: client offered only unsupported versions: [302 301]",
		},
		{
			name:  "another line of net/http",
			lines: []string{"http: Accept error: accept tcp: too many open files; retrying in 5ms"},
			want:  []string{"http: Accept error: accept tcp: too many open files; retrying in 5ms"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, _, logs := newTLSPublic(t)
			for _, line := range tt.lines {
				p.server.ErrorLog.Print(line)
			}
			var got []string
			for _, l := range logs.All() {
				got = append(got, l.Message)
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Fatalf("warnings %q, want %q", got, tt.want)
			}
			if tt.remote == "" {
				return
			}
			fields := logs.All()[0].ContextMap()
			if fields["reason"] != reasonTLSHandshake || fields["remote_ip"] != tt.remote ||
				fields["error"] != tt.cause || fields["count_since_last_line"] != int64(1) {
				t.Errorf("fields %v, want reason %s, remote_ip %s, error %q, count_since_last_line 1",
					fields, reasonTLSHandshake, tt.remote, tt.cause)
			}
		})
	}

	t.Run("over the wire", func(t *testing.T) {
		p, lc, logs := newTLSPublic(t)
		lc.RequireStart()
		defer lc.RequireStop()
		c, err := net.Dial("tcp", p.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		_ = c.Close() // before any handshake: a TCP health check
		for deadline := time.Now().Add(10 * time.Second); logs.FilterField(zap.String("reason", reasonTLSHandshake)).Len() == 0; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("no refusal warning of the failed handshake; the warnings: %v", logs.All())
			}
		}
	})
}

// TestFailedTLSHandshakesAreCounted: the refusal log writes one line a
// minute, so imcallback_tls_handshake_errors_total counts every failed
// handshake: a certificate that IM refuses shows as a rise of it. Other
// lines of net/http's log are not counted, and without TLS there is no
// such series.
func TestFailedTLSHandshakesAreCounted(t *testing.T) {
	const name = "imcallback_tls_handshake_errors_total"
	t.Run("from net/http's log", func(t *testing.T) {
		certFile, keyFile, _ := certtest.Write(t, time.Now().AddDate(1, 0, 0))
		p, _, _, reg := newPublicWithCertificate(t, certFile, keyFile)
		for _, line := range []string{
			"http: TLS handshake error from 192.0.2.7:40000: EOF",
			"http: Accept error: accept tcp: too many open files; retrying in 5ms",
			"http: TLS handshake error from [2001:db8::1]:40002: client sent an HTTP request to an HTTPS server",
			"http: TLS handshake error from 192.0.2.8:40001: remote error: tls: bad certificate",
		} {
			p.server.ErrorLog.Print(line)
		}
		if got, ok := metricValue(t, reg, name); !ok || got != 3 {
			t.Errorf("%s = %v (present %v), want 3", name, got, ok)
		}
	})
	t.Run("over the wire", func(t *testing.T) {
		certFile, keyFile, _ := certtest.Write(t, time.Now().AddDate(1, 0, 0))
		p, lc, _, reg := newPublicWithCertificate(t, certFile, keyFile)
		lc.RequireStart()
		defer lc.RequireStop()
		for range 2 {
			c, err := net.Dial("tcp", p.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			_, _ = c.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")) // plain HTTP to the TLS port
			_ = c.Close()
		}
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
			if got, _ := metricValue(t, reg, name); got == 2 {
				break
			}
			if time.Now().After(deadline) {
				got, ok := metricValue(t, reg, name)
				t.Fatalf("%s = %v (present %v), want 2", name, got, ok)
			}
		}
	})
	t.Run("without TLS", func(t *testing.T) {
		_, _, _, reg := newPublicWithCertificate(t, "", "")
		if _, ok := metricValue(t, reg, name); ok {
			t.Errorf("%s is exported without TLS", name)
		}
	})
}
