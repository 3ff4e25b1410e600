package metrics

import (
	"context"
	"math"
	"runtime/metrics"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx"
	"go.uber.org/zap"
)

// The memory watch's thresholds, as shares of the soft memory limit: it
// warns when the live heap passes memoryWarnAt and says so again once the
// heap is back under memoryClearAt (lower, so a heap hovering at the mark
// does not log every check). Near the limit a collection is due each time
// the heap grows by what is left under it (30 % of the limit at 70 % live,
// 20 % at 80 %), and each one marks the whole live heap; the durable
// benchmark's throughput fell by half with the live heap near 80 %, so the
// warning comes before that.
const (
	memoryWarnAt  = 0.7
	memoryClearAt = 0.6
)

// memoryCheckEvery is how often the watch compares the live heap with the
// limit; the collector's own pace is seconds, so this is fine enough.
const memoryCheckEvery = 15 * time.Second

// heapSample reads the heap marked live by the last collection and the
// soft memory limit (GOMEMLIMIT, or the binary's default), in bytes; the
// limit is 0 when there is none.
func heapSample() (live, limit uint64) {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/gc/gomemlimit:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() == metrics.KindUint64 {
		live = s[0].Value.Uint64()
	}
	if s[1].Value.Kind() == metrics.KindUint64 {
		limit = s[1].Value.Uint64()
	}
	if limit >= math.MaxInt64 { // the runtime's "no limit"
		limit = 0
	}
	return live, limit
}

// memoryWatch tells the operator when the live heap nears the soft memory
// limit. Near the limit the collector runs almost all the time and takes
// the CPU the callbacks need, and nothing else would say why the service
// got slow: with durable delivery the live heap grows with the callback
// rate × IMCALLBACK_DEDUP_WINDOW (README, Memory).
type memoryWatch struct {
	log    *zap.Logger
	read   func() (live, limit uint64)
	warned bool
}

// registerMemory adds imcallback_memory_live_heap_bytes and
// imcallback_memory_limit_bytes to reg, read at each scrape.
func registerMemory(reg prometheus.Registerer, read func() (live, limit uint64)) {
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "imcallback_memory_live_heap_bytes",
			Help: "Heap the last garbage collection found live.",
		}, func() float64 { live, _ := read(); return float64(live) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "imcallback_memory_limit_bytes",
			Help: "The soft memory limit (GOMEMLIMIT or the binary's default); 0 when there is none.",
		}, func() float64 { _, limit := read(); return float64(limit) }),
	)
}

// check logs a warning when the live heap passes memoryWarnAt of the limit
// and a note when it is back under memoryClearAt.
func (w *memoryWatch) check() {
	live, limit := w.read()
	if limit == 0 {
		return
	}
	share := float64(live) / float64(limit)
	fields := []zap.Field{zap.Uint64("live_heap_bytes", live), zap.Uint64("memory_limit_bytes", limit)}
	switch {
	case !w.warned && share >= memoryWarnAt:
		w.warned = true
		w.log.Warn("the live heap is near the soft memory limit: the garbage collector now takes CPU from callbacks; "+
			"raise GOMEMLIMIT for the callback rate and IMCALLBACK_DEDUP_WINDOW (README, Memory)", fields...)
	case w.warned && share < memoryClearAt:
		w.warned = false
		w.log.Info("the live heap is well below the soft memory limit again", fields...)
	}
}

// watchMemory registers the memory gauges and runs the watch from the
// app's start to its stop.
func watchMemory(lc fx.Lifecycle, reg prometheus.Registerer, log *zap.Logger) {
	registerMemory(reg, heapSample)
	w := &memoryWatch{log: log.Named("memory"), read: heapSample}
	lc.Append(runHook(func(ctx context.Context) {
		every(ctx, memoryCheckEvery, func(time.Time) { w.check() })
	}))
}
