package imcallback_test

import (
	"context"
	"crypto/tls"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/fx"

	"github.com/imcallback/imcallback"
	"github.com/imcallback/imcallback/config"
	"github.com/imcallback/imcallback/imtest"
	"github.com/imcallback/imcallback/server"
)

// TestTLS serves the public listener over HTTPS with a certificate from
// IMCALLBACK_TLS_CERT / IMCALLBACK_TLS_KEY.
func TestTLS(t *testing.T) {
	certFile, keyFile, _ := imtest.SelfSigned(t)
	seen := make(chan topicPayload, 1)
	s := start(t, []string{"IMCALLBACK_TLS_CERT=" + certFile, "IMCALLBACK_TLS_KEY=" + keyFile}, testCommands(seen))
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}} // the test's own self-signed certificate
	defer tr.CloseIdleConnections()
	sender := *s.Sender // https://, as the listener serves TLS
	sender.Client = &http.Client{Transport: tr}
	res, err := sender.Send(context.Background(), "Group.CallbackAfterCreateTopic", []byte(sampleBody))
	if err != nil || !res.OK() {
		t.Fatalf("HTTPS request: %v %+v", err, res)
	}
	<-seen
	plain := *s.Sender
	plain.URL = strings.Replace(plain.URL, "https://", "http://", 1)
	if _, err := plain.Send(context.Background(), "Group.CallbackAfterCreateTopic", []byte(sampleBody)); err == nil {
		t.Fatal("plain HTTP answered on the TLS listener")
	}
}

func TestTLSBadCertificateFailsStart(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.pem")
	if err := os.WriteFile(bad, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	app := fx.New(fx.NopLogger,
		fx.Supply(config.Source{Environ: func() []string {
			return []string{"IMCALLBACK_SDKAPPID=" + appID, "IMCALLBACK_TLS_CERT=" + bad, "IMCALLBACK_TLS_KEY=" + bad,
				"IMCALLBACK_LISTEN=127.0.0.1:0", "IMCALLBACK_ADMIN_LISTEN=127.0.0.1:0"}
		}}),
		imcallback.Module,
		fx.Invoke(func(*server.Public) {}),
	)
	if err := app.Err(); err == nil || !strings.Contains(err.Error(), "IMCALLBACK_TLS_CERT") {
		t.Fatalf("err = %v", err)
	}
}
