package tracing

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// TestOTLPProtocolChoosesTheEncoding: the OTLP/HTTP exporter built in
// speaks both encodings of OTLP over HTTP, http/protobuf and http/json,
// but http/json stopped the start as a protocol it did not have. It is
// now sent as JSON, in any case: the exporter reads the variable in lower
// case only and would send protobuf for HTTP/JSON. The traces' own
// variable wins over the general one, as for the endpoint.
func TestOTLPProtocolChoosesTheEncoding(t *testing.T) {
	for _, tc := range []struct {
		name, general, own string
		contentType        string
	}{
		{"default", "", "", "application/x-protobuf"},
		{"general http/json", "http/json", "", "application/json"},
		{"traces HTTP/JSON", "", "HTTP/JSON", "application/json"},
		{"traces http/protobuf over general http/json", "http/json", "http/protobuf", "application/x-protobuf"},
		{"traces Http/Json over general http/protobuf", "http/protobuf", "Http/Json", "application/json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mu sync.Mutex
			var got []string
			collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				got = append(got, r.Header.Get("Content-Type"))
				mu.Unlock()
			}))
			t.Cleanup(collector.Close)
			t.Setenv("OTEL_TRACES_EXPORTER", "")
			t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
			t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", collector.URL)
			t.Setenv("OTEL_EXPORTER_OTLP_PROTOCOL", tc.general)
			t.Setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", tc.own)

			exportOnce(t)

			mu.Lock()
			defer mu.Unlock()
			if len(got) == 0 || got[0] != tc.contentType {
				t.Errorf("the collector got exports of the types %q, want %s", got, tc.contentType)
			}
		})
	}
}
