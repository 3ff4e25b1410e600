package metrics

import (
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// TestMemoryWatch follows the live heap through a sequence of checks: one
// warning when it passes 70 % of the limit, none while it stays high or
// hovers between the marks, one note when it is back under 60 %, and
// nothing at all without a limit.
func TestMemoryWatch(t *testing.T) {
	const limit = 1000
	var w memoryWatch // one watch through every step: each starts from the state the steps before left
	for _, c := range []struct {
		live, limit uint64
		want        string // the message's level, "" for no line
	}{
		{500, limit, ""},
		{690, limit, ""},
		{700, limit, "warn"},
		{950, limit, ""}, // still high: warned once
		{650, limit, ""}, // between the marks: no flapping
		{720, limit, ""},
		{590, limit, "info"},
		{620, limit, ""},
		{750, limit, "warn"}, // a second climb warns again
		{5000, 0, ""},        // no limit: nothing to compare with
	} {
		core, logs := observer.New(zapcore.DebugLevel)
		w.log = zap.New(core)
		w.read = func() (uint64, uint64) { return c.live, c.limit }
		w.check()
		got := ""
		if entries := logs.All(); len(entries) == 1 {
			got = entries[0].Level.String()
			if entries[0].ContextMap()["memory_limit_bytes"] != c.limit {
				t.Errorf("live %d: the line does not carry the limit: %v", c.live, entries[0].ContextMap())
			}
		} else if len(entries) > 1 {
			t.Fatalf("live %d: %d lines", c.live, len(entries))
		}
		if got != c.want {
			t.Errorf("live %d of %d: logged %q, want %q", c.live, c.limit, got, c.want)
		}
	}
}

// TestMemoryGauges reads the gauges as a scrape does: the limit the
// runtime has now, and a live heap above zero after a collection.
func TestMemoryGauges(t *testing.T) {
	old := debug.SetMemoryLimit(512 << 20)
	defer debug.SetMemoryLimit(old)
	runtime.GC()
	reg := prometheus.NewRegistry()
	registerMemory(reg, heapSample)
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, f := range families {
		got[f.GetName()] = f.GetMetric()[0].GetGauge().GetValue()
	}
	if got["imcallback_memory_limit_bytes"] != 512<<20 {
		t.Errorf("imcallback_memory_limit_bytes = %v, want %d", got["imcallback_memory_limit_bytes"], 512<<20)
	}
	if got["imcallback_memory_live_heap_bytes"] <= 0 {
		t.Errorf("imcallback_memory_live_heap_bytes = %v after a collection", got["imcallback_memory_live_heap_bytes"])
	}
	if n := testutil.CollectAndCount(reg); n != 2 {
		t.Errorf("%d series, want 2", n)
	}
}

// TestNoMemoryLimitIsZero: without a limit the gauge says 0, not the
// runtime's largest integer.
func TestNoMemoryLimitIsZero(t *testing.T) {
	old := debug.SetMemoryLimit(-1)
	debug.SetMemoryLimit(1<<63 - 1)
	defer debug.SetMemoryLimit(old)
	if _, limit := heapSample(); limit != 0 {
		t.Errorf("limit %d without one", limit)
	}
}
