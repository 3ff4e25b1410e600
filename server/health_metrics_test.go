package server

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"

	"github.com/imcallback/imcallback/admin"
)

func TestHealthMetrics(t *testing.T) {
	ok := func(context.Context) error { return nil }
	down := func(context.Context) error { return errors.New("connection refused") }
	tests := []struct {
		name    string
		checks  []admin.Check
		durable bool
		want    string
	}{
		{"all up", []admin.Check{{Name: "jetstream", Check: ok}, {Name: "topic_store", Check: ok, Handler: true}}, true, `
imcallback_dependency_up{dependency="jetstream"} 1
imcallback_dependency_up{dependency="topic_store"} 1
imcallback_ready 1
`},
		{"a handler's store down, durable: still ready", []admin.Check{{Name: "jetstream", Check: ok}, {Name: "topic_store", Check: down, Handler: true}}, true, `
imcallback_dependency_up{dependency="jetstream"} 1
imcallback_dependency_up{dependency="topic_store"} 0
imcallback_ready 1
`},
		{"a handler's store down, inline: not ready", []admin.Check{{Name: "topic_store", Check: down, Handler: true}}, false, `
imcallback_dependency_up{dependency="topic_store"} 0
imcallback_ready 0
`},
		{"the stream down", []admin.Check{{Name: "jetstream", Check: down}}, true, `
imcallback_dependency_up{dependency="jetstream"} 0
imcallback_ready 0
`},
		{"an informational check down, inline: still ready", []admin.Check{{Name: "iplist_apps", Check: down, Informational: true}}, false, `
imcallback_dependency_up{dependency="iplist_apps"} 0
imcallback_ready 1
`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := `# HELP imcallback_dependency_up 1 when the dependency's check passes (what /v1/status says), else 0.
# TYPE imcallback_dependency_up gauge
# HELP imcallback_ready 1 when the service would accept a callback now (what /readyz says), else 0.
# TYPE imcallback_ready gauge` + tc.want
			if err := testutil.CollectAndCompare(newHealthCollector(newCheckRunners(tc.checks), tc.durable), strings.NewReader(want)); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestHealthMetricsRunTheChecksAtMostOncePerTTL: scrapes reuse one run of
// the (writing) checks for healthTTL.
func TestHealthMetricsRunTheChecksAtMostOncePerTTL(t *testing.T) {
	runs := 0
	h := newHealthCollector(newCheckRunners([]admin.Check{{Name: "jetstream", Check: func(context.Context) error { runs++; return nil }}}), true)
	now := time.Unix(1_800_000_000, 0)
	h.now = func() time.Time { return now }
	for range 5 {
		testutil.CollectAndCount(h)
	}
	if runs != 1 {
		t.Fatalf("5 scrapes ran the checks %d times, want 1", runs)
	}
	now = now.Add(healthTTL)
	testutil.CollectAndCount(h)
	if runs != 2 {
		t.Fatalf("a scrape after the TTL ran the checks %d times in all, want 2", runs)
	}
}

// TestHealthMetricsSayNotReadyFromTheStop: imcallback_ready follows
// /readyz at the stop signal (and at a fault), not healthTTL later: a run
// of the checks from before it said ready for up to ten seconds while
// /readyz answered 503.
func TestHealthMetricsSayNotReadyFromTheStop(t *testing.T) {
	tests := []struct {
		name string
		end  func(d *Drain)
	}{
		{"the stop", func(d *Drain) { d.Stopping() }},
		{"a fault", func(d *Drain) { d.Fail(errors.New("the public listener stopped")) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			drain := &Drain{log: zap.NewNop(), failed: make(chan struct{})}
			drain.publicListening()
			runs := 0
			h := newHealthCollector(newCheckRunners([]admin.Check{drain.check(),
				{Name: "jetstream", Check: func(context.Context) error { runs++; return nil }}}), true)
			h.drainPasses = drain.passes
			now := time.Unix(1_800_000_000, 0)
			h.now = func() time.Time { return now }
			if got := testutil.ToFloat64(readyOnly{h}); got != 1 {
				t.Fatalf("imcallback_ready %v before the stop, want 1", got)
			}
			tt.end(drain)
			if got := testutil.ToFloat64(readyOnly{h}); got != 0 {
				t.Fatalf("imcallback_ready %v within healthTTL after %s, want 0", got, tt.name)
			}
			// The run that saw it is reused as before.
			testutil.CollectAndCount(h)
			if runs != 2 {
				t.Errorf("the checks ran %d times, want 2: once before and once after %s", runs, tt.name)
			}
		})
	}
}

// TestHealthMetricsSayReadyOnceThePublicListenerListens: a run of the
// checks from before the public listener listened (the drain's check
// failing with "starting") is not reused once it listens: a scrape then
// ran the checks from before, and imcallback_ready stayed 0 for up to
// healthTTL while /readyz answered 200.
func TestHealthMetricsSayReadyOnceThePublicListenerListens(t *testing.T) {
	drain := &Drain{log: zap.NewNop(), failed: make(chan struct{})}
	runs := 0
	h := newHealthCollector(newCheckRunners([]admin.Check{drain.check(),
		{Name: "jetstream", Check: func(context.Context) error { runs++; return nil }}}), true)
	h.drainPasses = drain.passes
	now := time.Unix(1_800_000_000, 0)
	h.now = func() time.Time { return now }
	if got := testutil.ToFloat64(readyOnly{h}); got != 0 {
		t.Fatalf("imcallback_ready %v before the public listener listens, want 0", got)
	}
	drain.publicListening()
	if got := testutil.ToFloat64(readyOnly{h}); got != 1 {
		t.Fatalf("imcallback_ready %v within healthTTL after the public listener listens, want 1", got)
	}
	// The run that saw it is reused as before.
	testutil.CollectAndCount(h)
	if runs != 2 {
		t.Errorf("the checks ran %d times, want 2: once before and once after the public listener listened", runs)
	}
}

// readyOnly collects imcallback_ready alone from a healthCollector.
type readyOnly struct{ h *healthCollector }

func (r readyOnly) Describe(ch chan<- *prometheus.Desc) { ch <- r.h.ready }

func (r readyOnly) Collect(ch chan<- prometheus.Metric) {
	all := make(chan prometheus.Metric, 16)
	r.h.Collect(all)
	close(all)
	for m := range all {
		if m.Desc() == r.h.ready {
			ch <- m
		}
	}
}
