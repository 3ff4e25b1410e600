package metrics

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/fx"
)

// History defaults: a sample every 5 s over the last 15 minutes.
const (
	HistoryInterval = 5 * time.Second
	HistoryWindow   = 15 * time.Minute
)

// Outcome values History adds to those of Callbacks.Total.
const (
	// OutcomeUnknown is a callback answered OK with no handler.
	OutcomeUnknown = "unknown"
	// OutcomeRejected is a request refused before routing.
	OutcomeRejected = "rejected"
)

// Sample is the callback counters at one moment, summed over apps: the
// cumulative values, so a reader takes the difference of two samples.
type Sample struct {
	// Time is when the sample was taken, in UTC.
	Time time.Time `json:"time"`
	// Commands counts callbacks by command, unknown commands included
	// (a rejection has no command).
	Commands map[string]float64 `json:"commands"`
	// Outcomes counts callbacks by outcome, with OutcomeUnknown and
	// OutcomeRejected.
	Outcomes map[string]float64 `json:"outcomes"`
	// Rejections counts rejections by reason.
	Rejections map[string]float64 `json:"rejections"`
	// DurationBuckets is the cumulative latency histogram of every
	// command: upper bound ("+Inf" last) → count.
	DurationBuckets map[string]float64 `json:"duration_buckets"`
}

// History samples the callback counters at a fixed interval and keeps the
// samples of the last window in memory, so the console's Overview shows
// the last 15 minutes as soon as it opens, not only since.
type History struct {
	cb       *Callbacks
	interval time.Duration
	keep     int // samples kept: the window's and one before it

	mu      sync.Mutex
	samples []Sample // oldest first
}

// NewHistory returns a History of cb's counters; interval and window
// default to HistoryInterval and HistoryWindow when 0.
func NewHistory(cb *Callbacks, interval, window time.Duration) *History {
	if interval <= 0 {
		interval = HistoryInterval
	}
	if window <= 0 {
		window = HistoryWindow
	}
	return &History{cb: cb, interval: interval, keep: int(window/interval) + 1}
}

// Interval is the time between two samples.
func (h *History) Interval() time.Duration { return h.interval }

// Window is the time the kept samples cover.
func (h *History) Window() time.Duration { return time.Duration(h.keep-1) * h.interval }

// Sample takes one sample now and keeps it, dropping the oldest past the
// window.
func (h *History) Sample(now time.Time) {
	s := h.cb.sample(now)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.samples = append(h.samples, s)
	if over := len(h.samples) - h.keep; over > 0 {
		h.samples = append(h.samples[:0:0], h.samples[over:]...)
	}
}

// Samples are the kept samples, oldest first. They are never changed once
// taken, so the caller may read them freely.
func (h *History) Samples() []Sample {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Sample(nil), h.samples...)
}

// Run samples every interval until ctx ends, starting at once.
func (h *History) Run(ctx context.Context) { every(ctx, h.interval, h.Sample) }

// Hook samples from an fx app's start to its stop. It takes the first
// sample in the start hook itself, before the app serves a callback: taken
// later, on Run's goroutine, it could already hold the first callbacks and
// leave them out of every window (they would be its baseline).
func (h *History) Hook() fx.Hook {
	hook := runHook(func(ctx context.Context) { ticks(ctx, h.interval, h.Sample) })
	start := hook.OnStart
	hook.OnStart = func(ctx context.Context) error {
		h.Sample(time.Now())
		return start(ctx)
	}
	return hook
}

// every calls f at once and then every interval until ctx ends.
func every(ctx context.Context, interval time.Duration, f func(now time.Time)) {
	f(time.Now())
	ticks(ctx, interval, f)
}

// ticks calls f every interval until ctx ends.
func ticks(ctx context.Context, interval time.Duration, f func(now time.Time)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			f(now)
		}
	}
}

// runHook runs run on its own goroutine from an fx app's start; the stop
// ends its context and waits for it to return. Each start has a context
// and a goroutine of its own: fx starts a stopped app again.
func runHook(run func(ctx context.Context)) fx.Hook {
	var (
		mu     sync.Mutex
		cancel context.CancelFunc
		done   chan struct{}
	)
	return fx.Hook{
		OnStart: func(context.Context) error {
			mu.Lock()
			defer mu.Unlock()
			if cancel != nil {
				return nil // running already
			}
			ctx, end := context.WithCancel(context.Background())
			ran := make(chan struct{})
			cancel, done = end, ran
			go func() {
				defer close(ran)
				run(ctx)
			}()
			return nil
		},
		OnStop: func(context.Context) error {
			mu.Lock()
			defer mu.Unlock()
			if cancel == nil {
				return nil
			}
			cancel()
			<-done
			cancel, done = nil, nil
			return nil
		},
	}
}

// newHistory is History's fx constructor: the defaults, sampling from
// start to stop.
func newHistory(lc fx.Lifecycle, cb *Callbacks) *History {
	h := NewHistory(cb, 0, 0)
	lc.Append(h.Hook())
	return h
}

// sample reads the callback counters now.
func (c *Callbacks) sample(now time.Time) Sample {
	s := Sample{
		Time:            now.UTC(),
		Commands:        map[string]float64{},
		Outcomes:        map[string]float64{},
		Rejections:      map[string]float64{},
		DurationBuckets: map[string]float64{},
	}
	collect(c.Total, func(l map[string]string, m *dto.Metric) {
		v := m.GetCounter().GetValue()
		s.Commands[l["command"]] += v
		s.Outcomes[l["outcome"]] += v
	})
	collect(c.Unknown, func(l map[string]string, m *dto.Metric) {
		v := m.GetCounter().GetValue()
		s.Commands[l["command"]] += v
		s.Outcomes[OutcomeUnknown] += v
	})
	collect(c.Rejections, func(l map[string]string, m *dto.Metric) {
		v := m.GetCounter().GetValue()
		s.Rejections[l["reason"]] += v
		s.Outcomes[OutcomeRejected] += v
	})
	collect(c.Duration, func(_ map[string]string, m *dto.Metric) {
		h := m.GetHistogram()
		for _, b := range h.GetBucket() {
			s.DurationBuckets[strconv.FormatFloat(b.GetUpperBound(), 'g', -1, 64)] += float64(b.GetCumulativeCount())
		}
		s.DurationBuckets["+Inf"] += float64(h.GetSampleCount())
	})
	return s
}

// collect calls f with the labels and value of every series of c.
func collect(c prometheus.Collector, f func(labels map[string]string, m *dto.Metric)) {
	ch := make(chan prometheus.Metric, 64)
	go func() {
		c.Collect(ch)
		close(ch)
	}()
	for metric := range ch {
		var m dto.Metric
		if err := metric.Write(&m); err != nil {
			continue // a series that cannot be read is left out of this sample
		}
		labels := make(map[string]string, len(m.GetLabel()))
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		f(labels, &m)
	}
}
