package delivery

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/imcallback/imcallback/metrics"
)

// Outcomes counted by imcallback_delivery_processed_total.
const (
	outcomeOK          = "ok"
	outcomeError       = "error"
	outcomeNoHandler   = "no_handler"
	outcomeUndecodable = "undecodable"
	// outcomeInterrupted is a run cut short by the service's own stop (its
	// shutdown timeout ran out): not a failed attempt.
	outcomeInterrupted = "interrupted"
)

// deliveryMetrics are the metrics of durable delivery.
type deliveryMetrics struct {
	appended   *prometheus.CounterVec
	duplicates *prometheus.CounterVec
	processed  *prometheus.CounterVec
	retries    *prometheus.CounterVec
	dead       *prometheus.CounterVec
	deadFailed *prometheus.CounterVec
	publish    prometheus.Histogram
}

// newMetrics registers the delivery metrics on reg; pending and dead are
// the collectors of imcallback_delivery_pending and imcallback_delivery_dead_letters.
func newMetrics(reg prometheus.Registerer, pending, dead func() float64) (*deliveryMetrics, error) {
	m := &deliveryMetrics{
		appended: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "imcallback_delivery_appended_total",
			Help: "Copies of after-callbacks stored in the JetStream stream, by command: one per callback, or in gateway mode one per forward destination and one for a Go handler.",
		}, []string{"command"}),
		duplicates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "imcallback_delivery_duplicates_total",
			Help: "Copies of after-callbacks found stored already inside the dedup window (not stored again), by command: one per callback, or in gateway mode one per forward destination and one for a Go handler.",
		}, []string{"command"}),
		processed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "imcallback_delivery_processed_total",
			Help: "Handler runs of stored events, by command and outcome (ok, error, no_handler, undecodable, interrupted).",
		}, []string{"command", "outcome"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "imcallback_delivery_retries_total",
			Help: "Failed handler runs scheduled for redelivery, by command.",
		}, []string{"command"}),
		dead: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "imcallback_delivery_dead_letters_total",
			Help: "Events moved to the dead-letter stream, by command.",
		}, []string{"command"}),
		deadFailed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "imcallback_delivery_dead_letter_failures_total",
			Help: "Dead letters not stored, by command: the dead-letter stream refused them or did not acknowledge them in time, or could not be read for a copy an earlier write may have stored (none was written then); the event stays in the work stream and its dead-lettering is retried.",
		}, []string{"command"}),
		publish: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "imcallback_delivery_publish_seconds",
			Help:    "Time to append an after-callback to JetStream (all copies of a forwarded one), acknowledgements included.",
			Buckets: metrics.DurationBuckets,
		}),
	}
	gauge := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "imcallback_delivery_pending",
		Help: "Events not yet processed: the consumer's pending plus unacknowledged messages (NaN when JetStream does not answer).",
	}, pending)
	deadGauge := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "imcallback_delivery_dead_letters",
		Help: "Events in the dead-letter stream now, also right after a restart (NaN when JetStream does not answer).",
	}, dead)
	for _, c := range []prometheus.Collector{m.appended, m.duplicates, m.processed, m.retries, m.dead, m.deadFailed, m.publish, gauge, deadGauge} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("delivery: metrics: %w", err)
		}
	}
	return m, nil
}
