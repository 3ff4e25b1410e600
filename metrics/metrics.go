// Package metrics owns the service's Prometheus registry and the metrics of
// the callback path. The registry is provided through fx (never the global
// default), so tests and several apps in one process do not collide.
package metrics

import (
	"slices"

	"github.com/imcallback/imcallback/config"
	"github.com/imcallback/imcallback/protocol"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/fx"
)

// Module provides the *prometheus.Registry, exposed as a
// prometheus.Registerer for plugins, the callback metrics and their
// History, and watches the live heap against the soft memory limit.
var Module = fx.Module("metrics",
	fx.Provide(
		NewRegistry,
		func(r *prometheus.Registry) prometheus.Registerer { return r },
		func(reg prometheus.Registerer, cfg *config.Config) *Callbacks {
			return NewCallbacks(reg, cfg.SdkAppIDs...)
		},
		newHistory,
	),
	fx.Invoke(watchMemory),
)

// NewRegistry returns a registry with the Go and process collectors.
func NewRegistry() *prometheus.Registry {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return r
}

// DurationBuckets resolve IM's 2 s budget: fine steps below 100 ms, then the
// steps around the 1.5 s before-deadline and the 2 s limit.
var DurationBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 1.5, 1.9, 2, 5}

// Callbacks are the metrics of the callback endpoint.
type Callbacks struct {
	// Total counts handled callbacks by command, app and outcome
	// (before: allow, deny, drop, modify, fallback, overloaded; after: ok,
	// failed, queued, unavailable).
	Total *prometheus.CounterVec
	// Duration observes the time from routing to answer, by command.
	Duration *prometheus.HistogramVec
	// Rejections counts requests refused before a handler ran, by reason
	// and app.
	Rejections *prometheus.CounterVec
	// Unknown counts callbacks for commands nobody registered.
	Unknown *prometheus.CounterVec

	apps []string
}

// OtherApp is the app label of every SdkAppid that is not configured, so
// a sender cannot create a series per made-up id.
const OtherApp = "other"

// AppLabel is the app label of SdkAppid id: id itself when it is
// configured, else OtherApp.
func (c *Callbacks) AppLabel(id string) string {
	for _, a := range c.apps {
		if a == id {
			return a
		}
	}
	return OtherApp
}

// AppLabels are every app label value: the configured apps and OtherApp.
func (c *Callbacks) AppLabels() []string { return append(slices.Clone(c.apps), OtherApp) }

// NewCallbacks registers the callback metrics on reg; apps are the
// configured SdkAppids, the values of the app label besides OtherApp.
func NewCallbacks(reg prometheus.Registerer, apps ...string) *Callbacks {
	c := &Callbacks{
		apps: slices.Clone(apps),
		Total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "imcallback_callbacks_total",
			Help: "Callbacks handled, by command, app (SdkAppid, or other) and outcome.",
		}, []string{"command", "app", "outcome"}),
		Duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "imcallback_callback_duration_seconds",
			Help:    "Time from routing a callback to its answer, by command and kind (before: answered within IM's 2 s budget; after).",
			Buckets: DurationBuckets,
		}, []string{"command", "kind"}),
		Rejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "imcallback_rejections_total",
			Help: "Requests rejected before a handler ran, by reason and app (SdkAppid, or other).",
		}, []string{"reason", "app"}),
		Unknown: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "imcallback_unknown_commands_total",
			Help: "Callbacks for commands with no registered handler, answered OK.",
		}, []string{"command"}),
	}
	reg.MustRegister(c.Total, c.Duration, c.Rejections, c.Unknown)
	// The unknown-command counter's overflow series ("other", which the
	// dispatcher uses past its bound of names) exists at 0 from the start,
	// so a dashboard or an alert reading the counter finds it.
	c.Unknown.WithLabelValues(OtherApp)
	// Every rejection series exists at 0 from the start, so an alert on a
	// rise works from the first one.
	for _, e := range protocol.AllErrors() {
		for _, app := range c.AppLabels() {
			c.Rejections.WithLabelValues(e.Reason, app)
		}
	}
	return c
}
