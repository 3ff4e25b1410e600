package delivery

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/imcallback/imcallback/config"
	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/tracing"
)

// Options configure a Service. FromConfig fills them from the validated
// service configuration; DefaultOptions are those of the default one.
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
	// Replicas is the replication of the streams the service creates
	// (default 1). An existing stream keeps its own; a mismatch is logged.
	Replicas int
	// SubjectPrefix starts every event subject; dead letters use SubjectPrefix+"_dead".
	SubjectPrefix string
	// Consumer is the durable consumer name every replica shares (default "imcallback").
	Consumer string
	// Retention is how long the work stream keeps events (default 7 days);
	// dead letters have no age limit.
	Retention time.Duration
	// DedupWindow is the streams' duplicate window (default 10 minutes).
	DedupWindow time.Duration
	// Workers is how many handlers run at once (the configuration's default: 64).
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
	// StartTimeout bounds a restart of the embedded server by the
	// supervisor (JetStream's recovery of its store included), as
	// IMCALLBACK_START_TIMEOUT bounds the start; 0: a minute.
	StartTimeout time.Duration
	// PublishTimeout bounds one append, below IM's 2 s budget (default 1.5s).
	PublishTimeout time.Duration
	// ReconnectWait is the pause between reconnect attempts to a cluster (default 500ms).
	ReconnectWait time.Duration
	// RetryWait is the pause before the workers retry after losing their
	// consumer (default 1s).
	RetryWait time.Duration
	// HoldRecheck is how soon an event of a command paused with
	// PauseCommand is offered again (default 2 s).
	HoldRecheck time.Duration
	// Window bounds the events delivered and not yet acknowledged, across
	// every replica: the consumer's MaxAckPending (default 10,000; at least
	// 4 × Workers). Events running, waiting for a retry or held by a
	// paused command take its places; while it is full nothing more is
	// delivered. Once it is three quarters full, an event whose attempt
	// fails is dead-lettered at once instead of waiting for its retry.
	Window int
	// Name is the NATS connection name (default "imcallback").
	Name string
	// Tracer records the append and each delivery, and carries the trace
	// context in the message headers; nil records nothing.
	Tracer *tracing.Tracer
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
		Replicas:        cfg.StreamReplicas,
		SubjectPrefix:   cfg.SubjectPrefix,
		Retention:       cfg.Retention,
		DedupWindow:     cfg.DedupWindow,
		Workers:         cfg.Workers,
		HandlerTimeout:  cfg.HandlerTimeout,
		Backoff:         cfg.Backoff,
		MaxDeliveries:   cfg.MaxDeliveries,
		ShutdownTimeout: cfg.ShutdownTimeout,
		StartTimeout:    cfg.StartTimeout,
	}
}

// headerAllowance is the room left for the subject and headers above the body limit.
const headerAllowance = 64 << 10

// replyAllowance is the room left for the reply inbox the publish adds.
const replyAllowance = 128

// maxStoredMessage is the largest message, its subject and headers
// included, that JetStream's file store keeps: nats-server refuses a record
// over 32 MiB ("message too large"), its own 34 bytes of length, sequence,
// time and checksum counted, whatever the server's max_payload (up to 64
// MiB, the embedded server's for the largest IMCALLBACK_BODY_LIMIT). Both
// streams are file storage; an event leaves room under it for its dead
// letter as it does under max_payload (deadLetterAllowance).
const maxStoredMessage = 32<<20 - 34

// maxHeaderBytes is the most NATS takes of a message's headers, whatever
// its max_payload: a stream refuses a message whose encoded headers are
// longer ("header size exceeds maximum allowed of 64k"). An event's
// headers hold its query parameters, which a request line of up to 64 KiB
// may make that long; it leaves room for its dead letter's headers too
// (deadLetterAllowance).
const maxHeaderBytes = 1<<16 - 1

// deadLetterAllowance is the room an event leaves under max_payload for
// what its dead letter adds: the Imcallback-Dead-* headers, of which the
// error text is at most maxErrorHeader bytes. An event without it could be
// stored but never dead-lettered.
const deadLetterAllowance = maxErrorHeader + 1024

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

// DefaultOptions are the Options of the default configuration, for a
// program that builds a Service by hand: start from them and change what
// differs.
func DefaultOptions() Options {
	cfg := config.Default()
	return FromConfig(&cfg)
}

// withDefaults fills the settings that are delivery's own (the consumer
// and connection names, the embedded max_payload, the publish, reconnect
// and retry pauses) when zero. The settings of the service configuration
// are validated once, by config; here they are only required to be set,
// as FromConfig and DefaultOptions set them.
func (o Options) withDefaults() (Options, error) {
	if o.Consumer == "" {
		o.Consumer = "imcallback"
	}
	if o.MaxPayload <= 0 {
		o.MaxPayload = 8 << 20
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
	if o.Replicas <= 0 {
		o.Replicas = 1
	}
	if o.HoldRecheck <= 0 {
		o.HoldRecheck = 2 * time.Second
	}
	if o.Window <= 0 {
		o.Window = defaultWindow
	}
	if o.Name == "" {
		o.Name = "imcallback"
	}
	if o.URL == "" && o.Replicas > 1 {
		return o, fmt.Errorf("delivery: Replicas %d needs a NATS cluster (URL): the embedded server is a single node", o.Replicas)
	}
	var missing []string
	for name, unset := range map[string]bool{
		"URL or StoreDir": o.URL == "" && o.StoreDir == "",
		"Stream":          o.Stream == "",
		"SubjectPrefix":   o.SubjectPrefix == "",
		"Retention":       o.Retention <= 0,
		"DedupWindow":     o.DedupWindow <= 0,
		"Workers":         o.Workers <= 0,
		"HandlerTimeout":  o.HandlerTimeout <= 0,
		"Backoff":         len(o.Backoff) == 0,
		"MaxDeliveries":   o.MaxDeliveries <= 0,
		"ShutdownTimeout": o.ShutdownTimeout <= 0,
	} {
		if unset {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return o, fmt.Errorf("delivery: options without %s: build them with FromConfig or DefaultOptions",
			strings.Join(missing, ", "))
	}
	return o, nil
}

// DeadStream is the dead-letter stream's name.
func (o Options) DeadStream() string { return o.Stream + config.DeadStreamSuffix }

// eventsSubject is the subjects the events are stored under, one per app
// and command: the work stream's and the consumer's filter.
func (o Options) eventsSubject() string { return o.SubjectPrefix + ".>" }

// probeSubject is where the readiness probe writes: part of the work
// stream, outside the consumer's filter.
func (o Options) probeSubject() string { return o.SubjectPrefix + "_probe" }

// DeadPrefix starts every dead-letter subject.
func (o Options) DeadPrefix() string { return o.SubjectPrefix + "_dead" }

// ackWait is the handler deadline plus room for the ack to arrive. A
// message starts running when it is delivered (workers fetch only for free
// slots), so the handler deadline is all it can take.
func (o Options) ackWait() time.Duration { return o.HandlerTimeout + config.AckWaitMargin }

// backoff is the redelivery delay after the given (1-based) delivery failed.
func (o Options) backoff(delivered uint64) time.Duration {
	i := int(min(delivered, uint64(len(o.Backoff)))) - 1
	return o.Backoff[max(i, 0)]
}

// retryDelay is the redelivery delay after the given (1-based) delivery
// failed with err: its backoff, or what a forward destination's
// Retry-After asks for (dispatcher.RetryAfter) when that is longer, but no
// longer than the longest backoff. A message waiting for its redelivery
// still holds a place of the consumer's MaxAckPending, so a destination
// asking for a day would otherwise hold the window every command's events
// go through.
func (o Options) retryDelay(delivered uint64, err error) time.Duration {
	asked := min(dispatcher.RetryAfter(err), slices.Max(o.Backoff))
	return max(o.backoff(delivered), asked)
}
