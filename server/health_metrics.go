package server

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// healthCollector turns the readiness checks into metrics at each scrape,
// so an alert or a dashboard sees what /readyz and /v1/status say:
// imcallback_ready (1 when a callback would be accepted now) and
// imcallback_dependency_up{dependency} (1 per healthy dependency).
type healthCollector struct {
	checks  []*checkRunner
	durable bool
	ready   *prometheus.Desc
	up      *prometheus.Desc

	// The checks write for real (a probe append, a probe row), and
	// /metrics needs no token: the results are reused for healthTTL, so
	// scrapes, however many, run the checks at most that often.
	mu      sync.Mutex
	at      time.Time
	results map[string]string
	now     func() time.Time
	// drainPasses reports whether the drain's check (shutdownCheck) passes
	// now; nil: a run is never stale by it. A run whose drain check said
	// otherwise is not reused: one from before the stop (or a fault) said
	// ready, one from before the public listener listened said not ready,
	// and /readyz already answers the other way, as imcallback_ready then
	// does too.
	drainPasses func() bool
	// stop, when set, ends the wait for the checks' answers (a scrape has
	// no request context to end it): the admin listener's stop ends it,
	// so a scrape waiting on a check that ignores its deadline does not
	// hold the drain; nil: the wait ends at CheckTimeout + CheckGrace.
	stop context.Context
}

// healthTTL is how long one run of the checks serves the scrapes.
const healthTTL = 10 * time.Second

func newHealthCollector(checks []*checkRunner, durable bool) *healthCollector {
	return &healthCollector{
		checks:  checks,
		durable: durable,
		ready: prometheus.NewDesc("imcallback_ready",
			"1 when the service would accept a callback now (what /readyz says), else 0.", nil, nil),
		up: prometheus.NewDesc("imcallback_dependency_up",
			"1 when the dependency's check passes (what /v1/status says), else 0.", []string{"dependency"}, nil),
		now: time.Now,
	}
}

// latest runs the checks unless a run younger than healthTTL exists whose
// drain check says what it says now (drainPasses).
func (h *healthCollector) latest() map[string]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.now()
	stale := h.results == nil || now.Sub(h.at) >= healthTTL
	if !stale && h.drainPasses != nil && h.drainPasses() != (h.results[shutdownCheck] == "ok") {
		stale = true
	}
	if stale {
		ctx := h.stop
		if ctx == nil {
			ctx = context.Background()
		}
		h.results, h.at = runChecks(ctx, h.checks, CheckTimeout), now
	}
	return h.results
}

// Describe implements prometheus.Collector.
func (h *healthCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- h.ready
	ch <- h.up
}

// Collect reports the latest results (running the checks, concurrently and
// each under CheckTimeout, when they are older than healthTTL).
func (h *healthCollector) Collect(ch chan<- prometheus.Metric) {
	results := h.latest()
	ready := 1.0
	for _, r := range h.checks {
		c := r.check
		up := 0.0
		if results[c.Name] == "ok" {
			up = 1
		} else if c.DecidesReadiness(h.durable) {
			ready = 0
		}
		ch <- prometheus.MustNewConstMetric(h.up, prometheus.GaugeValue, up, c.Name)
	}
	ch <- prometheus.MustNewConstMetric(h.ready, prometheus.GaugeValue, ready)
}
