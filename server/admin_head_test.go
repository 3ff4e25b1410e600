package server

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx/fxtest"
	"go.uber.org/zap"

	"github.com/imcallback/imcallback/admin"
	"github.com/imcallback/imcallback/config"
)

// TestProbesAnswerHEADAsGET: a probe or a load balancer that sends HEAD to
// /healthz, /readyz or /metrics gets the status GET answers, without a
// body and, with an admin token configured, without the token, as GET.
// They were answered 405.
func TestProbesAnswerHEADAsGET(t *testing.T) {
	for _, ready := range []bool{true, false} {
		cfg := config.Default()
		cfg.AdminToken = "an-admin-token-of-some-length"
		check := func(context.Context) error { return nil }
		if !ready {
			check = func(context.Context) error { return errors.New("database is locked") }
		}
		a, err := newAdmin(adminIn{Lifecycle: fxtest.NewLifecycle(t), Config: &cfg, Log: zap.NewNop(),
			Registry: prometheus.NewRegistry(), Checks: []admin.Check{{Name: "store", Check: check}}})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(a.echo)
		for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
			get, err := http.Get(srv.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			get.Body.Close()
			head, err := http.Head(srv.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(head.Body)
			head.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			if head.StatusCode != get.StatusCode || len(body) != 0 {
				t.Errorf("ready %v: HEAD %s answered %d with %d bytes; GET answered %d: want its status, no body",
					ready, path, head.StatusCode, len(body), get.StatusCode)
			}
		}
		srv.Close()
	}
}
