package tracing

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// exporterTimeout is the OTLP exporter's default timeout of one export
// request, which OTEL_EXPORTER_OTLP_TIMEOUT overrides.
const exporterTimeout = 10 * time.Second

// exporterClient is the HTTP client of one OTLP exporter, over a transport
// of its own, which the exporter's Shutdown closes (ownedExporter). The
// exporter's own client shares one transport among every exporter of the
// process and keeps its connection to the collector open, idle, for 90 s
// after the exporter is shut down. Given a client, the exporter no longer
// applies the settings it would give its own (the timeout, the
// certificates and the proxy): the client has them as the exporter reads
// them from the environment, on a transport like the exporter's. The
// endpoint, headers, compression and insecure flag it still applies to
// each request itself.
func exporterClient(getenv func(string) string) (*http.Client, *http.Transport, error) {
	timeout := exporterTimeout
	var tlsConf tls.Config
	for _, scope := range exporterScopes { // the traces' own scope comes last and wins
		get := func(key string) string { return strings.TrimSpace(getenv(scope + key)) }
		if v := get("TIMEOUT"); v != "" {
			if ms, err := strconv.Atoi(v); err == nil {
				timeout = time.Duration(ms) * time.Millisecond
			}
		}
		if v := get("CERTIFICATE"); v != "" {
			pem, err := os.ReadFile(v)
			if err != nil {
				return nil, nil, fmt.Errorf("tracing: %sCERTIFICATE cannot be read: %w", scope, err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, nil, fmt.Errorf("tracing: %sCERTIFICATE (%s) holds no PEM certificate", scope, v)
			}
			tlsConf.RootCAs = pool
		}
		if cert, key := get("CLIENT_CERTIFICATE"), get("CLIENT_KEY"); cert != "" && key != "" {
			pair, err := tls.LoadX509KeyPair(cert, key)
			if err != nil {
				return nil, nil, fmt.Errorf("tracing: %sCLIENT_CERTIFICATE and %sCLIENT_KEY: %w", scope, scope, err)
			}
			tlsConf.Certificates = []tls.Certificate{pair}
		}
	}
	// The exporter's transport (otlptracehttp's ourTransport, a copy of
	// net/http's DefaultTransport), with a TLS configuration only when a
	// certificate is set, as the exporter sets one.
	transport := &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   30 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: 1 * time.Second,
	}
	if tlsConf.RootCAs != nil || len(tlsConf.Certificates) > 0 {
		transport.TLSClientConfig = &tlsConf
	}
	return &http.Client{Transport: transport, Timeout: timeout}, transport, nil
}

// ownedExporter is an exporter with the transport that it alone uses.
type ownedExporter struct {
	sdktrace.SpanExporter
	transport *http.Transport
}

// Shutdown shuts the exporter down and closes its idle connections: its
// export in flight, cut off, closes its own.
func (e ownedExporter) Shutdown(ctx context.Context) error {
	err := e.SpanExporter.Shutdown(ctx)
	e.transport.CloseIdleConnections()
	return err
}
