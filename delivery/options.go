package delivery

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/imcallback/imcallback/config"
)

// Options configure a Service. FromConfig fills them from the service
// configuration; zero fields take the defaults listed on each field.
type Options struct {
	// URL points at a NATS cluster (comma-separated URLs); empty runs an
	// embedded server with its files under StoreDir.
	URL string
	// Listen gives the embedded server a client listener, e.g.
	// 127.0.0.1:4222; empty keeps it in-process only.
	Listen string
	// StoreDir is the data directory; the embedded server keeps its
	// JetStream files in StoreDir/jetstream.
	StoreDir string
	// MaxPayload is the embedded server's largest message in bytes
	// (default 8 MiB); it must hold a body plus its headers.
	MaxPayload int32
	// BodyLimit is the service's largest accepted body, compared with a
	// cluster's max_payload at start (0: not compared).
	BodyLimit int64
	// Stream is the work stream; dead letters go to Stream+"_DEAD".
	Stream string
	// SubjectPrefix starts every event subject; dead letters use SubjectPrefix+"_dead".
	SubjectPrefix string
	// Consumer is the durable consumer name every replica shares (default "imcallback").
	Consumer string
	// Retention is how long the work stream keeps events (default 7 days);
	// dead letters have no age limit.
	Retention time.Duration
	// DedupWindow is the streams' duplicate window (default 10 minutes).
	DedupWindow time.Duration
	// Workers is how many handlers run at once (default 16).
	Workers int
	// HandlerTimeout is the deadline of one handler run (default 30s).
	HandlerTimeout time.Duration
	// Backoff are the redelivery delays after a failure, indexed by the
	// delivery count, the last repeating (default 1s,5s,30s,2m,10m).
	Backoff []time.Duration
	// MaxDeliveries is how often a handler runs for one event before the
	// event is dead-lettered (default 10).
	MaxDeliveries int
	// ShutdownTimeout bounds the wait for in-flight handlers at stop (default 10s).
	ShutdownTimeout time.Duration
	// PublishTimeout bounds one append, below IM's 2 s budget (default 1.5s).
	PublishTimeout time.Duration
	// ReconnectWait is the pause between reconnect attempts to a cluster (default 500ms).
	ReconnectWait time.Duration
	// RetryWait is the pause before the workers retry after losing their
	// consumer (default 1s).
	RetryWait time.Duration
	// Name is the NATS connection name (default "imcallback").
	Name string
}

// FromConfig maps the service configuration to Options.
func FromConfig(cfg *config.Config) Options {
	return Options{
		URL:             cfg.NATSURL,
		Listen:          cfg.NATSListen,
		StoreDir:        cfg.DataDir,
		MaxPayload:      maxPayloadFor(cfg.BodyLimit),
		BodyLimit:       cfg.BodyLimit,
		Stream:          cfg.Stream,
		SubjectPrefix:   cfg.SubjectPrefix,
		Retention:       cfg.Retention,
		DedupWindow:     cfg.DedupWindow,
		Workers:         cfg.Workers,
		HandlerTimeout:  cfg.HandlerTimeout,
		Backoff:         cfg.Backoff,
		MaxDeliveries:   cfg.MaxDeliveries,
		ShutdownTimeout: cfg.ShutdownTimeout,
	}
}

// headerAllowance is the room left for the subject and headers above the body limit.
const headerAllowance = 64 << 10

// replyAllowance is the room left for the reply inbox the publish adds.
const replyAllowance = 128

// maxPayloadFor sizes the embedded server's max_payload for a body limit:
// at least 8 MiB (NATS's recommended ceiling), at most the 64 MiB NATS allows.
func maxPayloadFor(bodyLimit int64) int32 {
	n := bodyLimit + headerAllowance
	switch {
	case n < 8<<20:
		return 8 << 20
	case n > 64<<20:
		return 64 << 20
	}
	return int32(n)
}

// withDefaults fills the zero fields and checks the rest.
func (o Options) withDefaults() (Options, error) {
	def := FromConfig(ptr(config.Default()))
	if o.Stream == "" {
		o.Stream = def.Stream
	}
	if o.SubjectPrefix == "" {
		o.SubjectPrefix = def.SubjectPrefix
	}
	if o.Consumer == "" {
		o.Consumer = "imcallback"
	}
	if o.MaxPayload <= 0 {
		o.MaxPayload = 8 << 20
	}
	if o.Retention <= 0 {
		o.Retention = def.Retention
	}
	if o.DedupWindow <= 0 {
		o.DedupWindow = min(def.DedupWindow, o.Retention)
	}
	if o.Workers <= 0 {
		o.Workers = def.Workers
	}
	if o.HandlerTimeout <= 0 {
		o.HandlerTimeout = def.HandlerTimeout
	}
	if len(o.Backoff) == 0 {
		o.Backoff = def.Backoff
	}
	if o.MaxDeliveries <= 0 {
		o.MaxDeliveries = def.MaxDeliveries
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = def.ShutdownTimeout
	}
	if o.PublishTimeout <= 0 {
		o.PublishTimeout = 1500 * time.Millisecond
	}
	if o.ReconnectWait <= 0 {
		o.ReconnectWait = 500 * time.Millisecond
	}
	if o.RetryWait <= 0 {
		o.RetryWait = time.Second
	}
	if o.Name == "" {
		o.Name = "imcallback"
	}
	var errs []error
	if o.URL == "" && o.StoreDir == "" {
		errs = append(errs, errors.New("delivery: StoreDir is required for the embedded server (or set URL)"))
	}
	if strings.ContainsAny(o.Stream, ". *>") {
		errs = append(errs, fmt.Errorf("delivery: stream name %q must not contain '.', ' ', '*' or '>'", o.Stream))
	}
	if strings.ContainsAny(o.SubjectPrefix, " *>") || strings.HasPrefix(o.SubjectPrefix, ".") || strings.HasSuffix(o.SubjectPrefix, ".") {
		errs = append(errs, fmt.Errorf("delivery: subject prefix %q must be a subject without wildcards or a leading/trailing '.'", o.SubjectPrefix))
	}
	if strings.ContainsAny(o.Consumer, ". *>") {
		errs = append(errs, fmt.Errorf("delivery: consumer name %q must not contain '.', ' ', '*' or '>'", o.Consumer))
	}
	if o.DedupWindow > o.Retention {
		errs = append(errs, fmt.Errorf("delivery: dedup window %v is longer than the retention %v", o.DedupWindow, o.Retention))
	}
	for _, d := range o.Backoff {
		if d <= 0 {
			errs = append(errs, fmt.Errorf("delivery: backoff delay %v must be positive", d))
		}
	}
	return o, errors.Join(errs...)
}

func ptr[T any](v T) *T { return &v }

// DeadStream is the dead-letter stream's name.
func (o Options) DeadStream() string { return o.Stream + "_DEAD" }

// probeSubject is where the readiness probe writes: part of the work
// stream, outside the consumer's filter.
func (o Options) probeSubject() string { return o.SubjectPrefix + "_probe" }

// DeadPrefix starts every dead-letter subject.
func (o Options) DeadPrefix() string { return o.SubjectPrefix + "_dead" }

// ackWait is the handler deadline plus room for the ack to arrive. A
// message starts running when it is delivered (workers fetch only for free
// slots), so the handler deadline is all it can take.
func (o Options) ackWait() time.Duration { return o.HandlerTimeout + 5*time.Second }

// backoff is the redelivery delay after the given (1-based) delivery failed.
func (o Options) backoff(delivered uint64) time.Duration {
	i := int(min(delivered, uint64(len(o.Backoff)))) - 1
	return o.Backoff[max(i, 0)]
}
