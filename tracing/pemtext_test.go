package tracing_test

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/imcallback/imcallback/imtest"
	"github.com/imcallback/imcallback/tracing"
)

// TestCertificateSettingGivenAsPEMText: a certificate setting of the
// exporter (OTEL_EXPORTER_OTLP_CERTIFICATE, _CLIENT_CERTIFICATE,
// _CLIENT_KEY, or its _TRACES_ form) set to the file's contents rather
// than its path (a Kubernetes secret's key given as a variable, $(cat
// key.pem), or the secret's base64 data) failed reading a file of that
// name, and the error, in config check's output and the start's log,
// quoted the name: the private key whole. It is refused naming the
// variable, never showing the value, as IMCALLBACK_TLS_KEY is.
func TestCertificateSettingGivenAsPEMText(t *testing.T) {
	const key = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAsecretKeyBody\n-----END PRIVATE KEY-----\n"
	const cert = "-----BEGIN CERTIFICATE-----\nMIIBcertBody\n-----END CERTIFICATE-----\n"
	encoded := base64.StdEncoding.EncodeToString([]byte(key))
	certFile, keyFile, _ := imtest.SelfSigned(t)
	const msg = " holds PEM text or its base64 (not shown: it may hold a private key), not the path of a file"
	for _, tc := range []struct {
		name string
		env  map[string]string
		want []string // the variables refused
	}{
		{"the client key", map[string]string{"OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE": certFile, "OTEL_EXPORTER_OTLP_CLIENT_KEY": key},
			[]string{"OTEL_EXPORTER_OTLP_CLIENT_KEY"}},
		{"the traces' client key in base64", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_CLIENT_CERTIFICATE": certFile,
			"OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY": encoded}, []string{"OTEL_EXPORTER_OTLP_TRACES_CLIENT_KEY"}},
		{"the client certificate and key", map[string]string{"OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE": cert + key,
			"OTEL_EXPORTER_OTLP_CLIENT_KEY": key}, []string{"OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", "OTEL_EXPORTER_OTLP_CLIENT_KEY"}},
		{"the certificate", map[string]string{"OTEL_EXPORTER_OTLP_CERTIFICATE": cert + key}, []string{"OTEL_EXPORTER_OTLP_CERTIFICATE"}},
		{"the client key without its certificate", map[string]string{"OTEL_EXPORTER_OTLP_CLIENT_KEY": key},
			[]string{"OTEL_EXPORTER_OTLP_CLIENT_KEY"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.env["OTEL_EXPORTER_OTLP_ENDPOINT"] = "https://collector:4318"
			on, err := tracing.Enabled(func(k string) string { return tc.env[k] })
			if err == nil || on {
				t.Fatalf("on %v, err %v; want off with an error", on, err)
			}
			for _, name := range tc.want {
				if !strings.Contains(err.Error(), "tracing: "+name+msg) {
					t.Errorf("err %v; want it to say %s%s", err, name, msg)
				}
			}
			for _, s := range []string{"secretKeyBody", "certBody", "BEGIN", encoded[:20]} {
				if strings.Contains(err.Error(), s) {
					t.Errorf("the error shows the value (%q): %v", s, err)
				}
			}
		})
	}
	// The paths themselves are still taken.
	env := map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://collector:4318", "OTEL_EXPORTER_OTLP_CERTIFICATE": certFile,
		"OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE": certFile, "OTEL_EXPORTER_OTLP_CLIENT_KEY": keyFile}
	if on, err := tracing.Enabled(func(k string) string { return env[k] }); err != nil || !on {
		t.Fatalf("paths: on %v, err %v", on, err)
	}
}
