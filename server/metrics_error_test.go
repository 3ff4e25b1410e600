package server

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx/fxtest"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/imcallback/imcallback/config"
)

// failingCollector is a plugin's collector whose read fails on every scrape.
type failingCollector struct{ desc *prometheus.Desc }

func (f failingCollector) Describe(ch chan<- *prometheus.Desc) { ch <- f.desc }

func (f failingCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.NewInvalidMetric(f.desc, errors.New("cannot read the queue depth"))
}

// TestMetricsLogsACollectorsError: a collector that failed made /metrics
// answer 500 with the error in the body, and the service's log said
// nothing: Prometheus only shows the scrape as down, so the operator had
// no line naming the metric and its error. Each failed scrape is now
// logged as an error.
func TestMetricsLogsACollectorsError(t *testing.T) {
	cfg := config.Default()
	core, logs := observer.New(zap.ErrorLevel)
	reg := prometheus.NewRegistry()
	reg.MustRegister(failingCollector{prometheus.NewDesc("plugin_queue_depth", "A plugin's queue depth.", nil, nil)})
	a, err := newAdmin(adminIn{Lifecycle: fxtest.NewLifecycle(t), Config: &cfg, Log: zap.New(core), Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.echo)
	defer srv.Close()
	res, err := srv.Client().Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusInternalServerError {
		t.Fatalf("/metrics answered %d %q; want 500", res.StatusCode, body)
	}
	var logged []string
	for _, e := range logs.All() {
		logged = append(logged, e.Message+" "+e.ContextMap()["error"].(string))
	}
	if len(logged) != 1 || !strings.Contains(logged[0], "cannot read the queue depth") {
		t.Errorf("logged %q; want one error line naming the collector's error", logged)
	}
}
