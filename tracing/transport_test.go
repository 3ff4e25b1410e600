package tracing

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.uber.org/fx/fxtest"
	"go.uber.org/zap"

	"github.com/imcallback/imcallback/internal/certtest"
)

// exportOnce starts tracing from the environment, records one span and
// stops, which exports it.
func exportOnce(t *testing.T) {
	t.Helper()
	prev := otel.GetErrorHandler()
	t.Cleanup(func() { otel.SetErrorHandler(prev) })
	lc := fxtest.NewLifecycle(t)
	tr, err := newFromEnv(envIn{Lifecycle: lc, Log: zap.NewNop()})
	if err != nil || tr == nil {
		t.Fatalf("newFromEnv: %v, %v", tr, err)
	}
	lc.RequireStart()
	_, span := tr.Start(context.Background(), "test.span")
	span.End()
	lc.RequireStop()
}

// TestTheStopClosesTheConnectionToTheCollector: the OTLP exporter's own
// HTTP transport, shared by every exporter of the process, kept the
// connection to the collector open, idle, for up to 90 s after the stop
// had shut the exporter down: a stopped service stayed connected to its
// collector. Each exporter now has a transport of its own, whose idle
// connections its shutdown closes.
func TestTheStopClosesTheConnectionToTheCollector(t *testing.T) {
	var posts, open atomic.Int32
	collector := httptest.NewUnstartedServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		posts.Add(1)
	}))
	collector.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			open.Add(1)
		case http.StateClosed, http.StateHijacked:
			open.Add(-1)
		}
	}
	collector.Start()
	t.Cleanup(collector.Close)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.URL)

	exportOnce(t)
	if posts.Load() == 0 {
		t.Fatal("the stop exported nothing to the collector")
	}
	// The client closes the connection at the stop; the collector sees it
	// closed a moment later.
	deadline := time.Now().Add(10 * time.Second)
	for open.Load() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d connection(s) to the collector still open after the stop", open.Load())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestTheExporterKeepsTheCertificateSettings: the exporter sends through
// this package's HTTP client (exporterClient), on which it no longer sets
// the certificates of OTEL_EXPORTER_OTLP_*: the client must trust the
// collector's CA of OTEL_EXPORTER_OTLP_CERTIFICATE and present the client
// certificate of OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE and _CLIENT_KEY.
func TestTheExporterKeepsTheCertificateSettings(t *testing.T) {
	certFile, keyFile, _ := certtest.Write(t, time.Now().AddDate(1, 0, 0)) // for 127.0.0.1
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	var posts, withClientCert atomic.Int32
	collector := httptest.NewUnstartedServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		posts.Add(1)
		if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
			withClientCert.Add(1)
		}
	}))
	collector.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, ClientAuth: tls.RequireAnyClientCert}
	collector.StartTLS()
	t.Cleanup(collector.Close)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.URL)
	t.Setenv("OTEL_EXPORTER_OTLP_CERTIFICATE", certFile)
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE", certFile)
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY", keyFile)

	exportOnce(t)
	if posts.Load() == 0 {
		t.Fatal("the collector over TLS got no export: the certificate settings were not applied")
	}
	if withClientCert.Load() == 0 {
		t.Error("the export presented no client certificate")
	}
}

// TestExporterClientTimeout: the client's timeout of an export request is
// the exporter's: 10 s, or OTEL_EXPORTER_OTLP_TIMEOUT in milliseconds,
// which OTEL_EXPORTER_OTLP_TRACES_TIMEOUT overrides (0 is none).
func TestExporterClientTimeout(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  map[string]string
		want time.Duration
	}{
		{"default", nil, 10 * time.Second},
		{"general", map[string]string{"OTEL_EXPORTER_OTLP_TIMEOUT": "2500"}, 2500 * time.Millisecond},
		{"traces' own wins", map[string]string{"OTEL_EXPORTER_OTLP_TIMEOUT": "2500", "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": " 700 "}, 700 * time.Millisecond},
		{"none", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_TIMEOUT": "0"}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			client, transport, err := exporterClient(func(k string) string { return tc.env[k] })
			if err != nil {
				t.Fatal(err)
			}
			if client.Timeout != tc.want {
				t.Errorf("timeout %v, want %v", client.Timeout, tc.want)
			}
			if client.Transport != transport || transport.TLSClientConfig != nil {
				t.Errorf("the client's transport is not the one returned, without TLS settings")
			}
		})
	}
}
