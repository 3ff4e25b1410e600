package delivery

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/server"
)

// ErrNotStarted reports a call before Start or after Stop.
var ErrNotStarted = errors.New("delivery: not started")

// Processor runs the handler of a stored event; *dispatcher.Dispatcher is one.
type Processor interface {
	Process(ctx context.Context, r *dispatcher.Request) error
}

// Service is durable delivery: the AfterSink that appends after-callbacks
// to JetStream, and the workers that process them.
type Service struct {
	opts    Options
	log     *zap.Logger
	metrics *deliveryMetrics

	mu      sync.Mutex // guards conn and workers across Start/Stop
	conn    *Conn
	workers *workers

	js            atomic.Pointer[jetstream.JetStream]
	publishFailed atomic.Bool
	lastErr       atomic.Pointer[error]
}

var _ dispatcher.AfterSink = (*Service)(nil)

// New builds a Service and registers its metrics on reg. It does no I/O:
// Start connects.
func New(opts Options, log *zap.Logger, reg prometheus.Registerer) (*Service, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Service{opts: opts, log: log}
	if s.metrics, err = newMetrics(reg, s.pendingGauge); err != nil {
		return nil, err
	}
	return s, nil
}

// Options returns the effective options, defaults filled in.
func (s *Service) Options() Options { return s.opts }

// Start connects (starting the embedded server unless Options.URL is set)
// and creates or updates the streams and the consumer.
func (s *Service) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn != nil {
		return errors.New("delivery: already started")
	}
	conn, err := Connect(ctx, s.opts, s.log)
	if err != nil {
		return err
	}
	if err := ensure(ctx, conn.JS, s.opts); err != nil {
		return errors.Join(err, conn.Close(ctx))
	}
	s.conn = conn
	s.js.Store(&conn.JS)
	s.log.Info("durable delivery ready", zap.String("stream", s.opts.Stream),
		zap.String("subjects", s.opts.SubjectPrefix+".>"), zap.Bool("embedded", conn.embedded != nil),
		zap.Duration("retention", s.opts.Retention), zap.Duration("dedup_window", s.opts.DedupWindow))
	return nil
}

// Stop stops the workers if they run, then drains the connection and
// stops the embedded server.
func (s *Service) Stop(ctx context.Context) error {
	err := s.StopWorkers(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil {
		return err
	}
	s.js.Store(nil)
	err = errors.Join(err, s.conn.Close(ctx))
	s.conn = nil
	s.log.Info("durable delivery stopped")
	return err
}

// Conn is the connection while started, nil otherwise.
func (s *Service) Conn() *Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conn
}

// Events reads and replays this service's streams.
func (s *Service) Events() (*Events, error) {
	js := s.js.Load()
	if js == nil {
		return nil, ErrNotStarted
	}
	return &Events{js: *js, opts: s.opts}, nil
}

// Accept appends r to the stream and returns once JetStream acknowledged
// it. A repeat of an event inside the dedup window is acknowledged as a
// duplicate and returns nil: it is stored already.
func (s *Service) Accept(ctx context.Context, r *dispatcher.Request) error {
	js := s.js.Load()
	if js == nil {
		return ErrNotStarted
	}
	msg := newEventMsg(&s.opts, r)
	pctx, cancel := context.WithTimeout(ctx, s.opts.PublishTimeout)
	start := time.Now()
	ack, err := publish(pctx, *js, msg)
	cancel()
	s.metrics.publish.Observe(time.Since(start).Seconds())
	if err != nil {
		// A caller that went away or one oversized event says nothing about the stream.
		if ctx.Err() == nil && !errors.Is(err, nats.ErrMaxPayload) {
			s.lastErr.Store(&err)
			s.publishFailed.Store(true)
		}
		return fmt.Errorf("delivery: append %s: %w", r.Command, err)
	}
	s.publishFailed.Store(false)
	if ack.Duplicate {
		s.metrics.duplicates.WithLabelValues(r.Command).Inc()
		return nil
	}
	s.metrics.appended.WithLabelValues(r.Command).Inc()
	return nil
}

// probeMsgID is never used by an event, so a probe expecting it as the
// stream's last id is always refused, and never stored.
const probeMsgID = "imcallback-readiness-probe"

// jsErrWrongLastMsgID is the server's "wrong last msg ID" error code.
const jsErrWrongLastMsgID = 10070

// Check is the readiness check: it fails while the connection is down,
// while the stream info cannot be read, and after a failed append until an
// append succeeds or the stream takes a probe. The probe is a publish the
// stream refuses by expectation (Nats-Expected-Last-Msg-Id), which proves
// that the stream processes publishes without storing anything.
func (s *Service) Check(ctx context.Context) error {
	js := s.js.Load()
	conn := s.Conn()
	if js == nil || conn == nil {
		return ErrNotStarted
	}
	if st := conn.NC.Status(); st != nats.CONNECTED {
		return fmt.Errorf("NATS connection is %s", st)
	}
	if n := (*js).PublishAsyncPending(); n >= MaxPendingAppends*9/10 {
		return fmt.Errorf("%d appends are waiting for an acknowledgement (limit %d)", n, MaxPendingAppends)
	}
	if _, err := (*js).Stream(ctx, s.opts.Stream); err != nil {
		return fmt.Errorf("stream %s: %w", s.opts.Stream, err)
	}
	if !s.publishFailed.Load() {
		return nil
	}
	if err := s.probe(ctx, *js); err != nil {
		last := "unknown error"
		if e := s.lastErr.Load(); e != nil {
			last = (*e).Error()
		}
		return fmt.Errorf("the last append failed (%s) and the stream refuses a probe: %w", last, err)
	}
	s.publishFailed.Store(false)
	return nil
}

func (s *Service) probe(ctx context.Context, js jetstream.JetStream) error {
	msg := nats.NewMsg(s.opts.SubjectPrefix + "._probe")
	msg.Header.Set(jetstream.ExpectedStreamHeader, s.opts.Stream)
	msg.Header.Set(jetstream.ExpectedLastMsgIDHeader, probeMsgID)
	_, err := js.PublishMsg(ctx, msg, jetstream.WithRetryAttempts(0))
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode == jsErrWrongLastMsgID {
		return nil
	}
	if err == nil {
		return errors.New("probe was stored") // cannot happen: the id never matches
	}
	return err
}

// ReadinessCheck is Check as the /readyz check named "jetstream".
func (s *Service) ReadinessCheck() server.Check {
	return server.Check{Name: "jetstream", Check: s.Check}
}

// pendingTimeout bounds the consumer lookup of one scrape.
const pendingTimeout = 500 * time.Millisecond

// Pending is the consumer's pending plus unacknowledged messages: the
// events not processed yet.
func (s *Service) Pending(ctx context.Context) (uint64, error) {
	js := s.js.Load()
	if js == nil {
		return 0, ErrNotStarted
	}
	c, err := (*js).Consumer(ctx, s.opts.Stream, s.opts.Consumer)
	if err != nil {
		return 0, err
	}
	info := c.CachedInfo()
	return info.NumPending + uint64(info.NumAckPending), nil
}

func (s *Service) pendingGauge() float64 {
	ctx, cancel := context.WithTimeout(context.Background(), pendingTimeout)
	defer cancel()
	n, err := s.Pending(ctx)
	if err != nil {
		return math.NaN()
	}
	return float64(n)
}

// ensure creates the streams and the consumer, or brings an existing
// stream's subjects, age limit and duplicate window in line. Replicas and
// storage of an existing stream are the operator's and stay as they are.
func ensure(ctx context.Context, js jetstream.JetStream, o Options) error {
	for _, want := range []jetstream.StreamConfig{
		{
			Name:        o.Stream,
			Description: "imcallback after-callbacks: work queue and audit log",
			Subjects:    []string{o.SubjectPrefix + ".>"},
			Storage:     jetstream.FileStorage,
			Retention:   jetstream.LimitsPolicy,
			MaxAge:      o.Retention,
			Duplicates:  o.DedupWindow,
		},
		{
			Name:        o.DeadStream(),
			Description: "imcallback after-callbacks whose handler failed on every delivery",
			Subjects:    []string{o.DeadPrefix() + ".>"},
			Storage:     jetstream.FileStorage,
			Retention:   jetstream.LimitsPolicy,
			MaxAge:      0, // dead letters stay until replayed or purged: they are the work still owed
			Duplicates:  o.DedupWindow,
		},
	} {
		if err := ensureStream(ctx, js, want); err != nil {
			return err
		}
	}
	_, err := js.CreateOrUpdateConsumer(ctx, o.Stream, consumerConfig(o))
	if err != nil {
		return fmt.Errorf("delivery: consumer %s on %s: %w", o.Consumer, o.Stream, err)
	}
	return nil
}

// consumerConfig is the durable pull consumer every replica shares.
// MaxDeliver has one delivery more than MaxDeliveries: a handler never runs
// more than MaxDeliveries times, and the spare delivery dead-letters an
// event whose last attempt was cut short by a crash instead of leaving it
// stranded.
func consumerConfig(o Options) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       o.Consumer,
		Description:   "imcallback after-callback workers",
		FilterSubject: o.SubjectPrefix + ".>",
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       o.ackWait(),
		MaxDeliver:    o.MaxDeliveries + 1,
		MaxAckPending: max(1000, 4*o.Workers),
	}
}

func ensureStream(ctx context.Context, js jetstream.JetStream, want jetstream.StreamConfig) error {
	st, err := js.Stream(ctx, want.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		_, err = js.CreateStream(ctx, want)
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) { // another replica was first
			st, err = js.Stream(ctx, want.Name)
		} else if err == nil {
			return nil
		}
	}
	if err != nil {
		return fmt.Errorf("delivery: stream %s: %w", want.Name, err)
	}
	cfg := st.CachedInfo().Config
	if slices.Equal(cfg.Subjects, want.Subjects) && cfg.MaxAge == want.MaxAge && cfg.Duplicates == want.Duplicates {
		return nil
	}
	cfg.Subjects, cfg.MaxAge, cfg.Duplicates = want.Subjects, want.MaxAge, want.Duplicates
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		return fmt.Errorf("delivery: update stream %s: %w", want.Name, err)
	}
	return nil
}

// publish appends msg without blocking the connection on it: many appends
// from concurrent requests are in flight at once, and each request waits
// for its own acknowledgement (or ctx).
func publish(ctx context.Context, js jetstream.JetStream, msg *nats.Msg) (*jetstream.PubAck, error) {
	fut, err := js.PublishMsgAsync(msg)
	if err != nil {
		return nil, err
	}
	select {
	case ack := <-fut.Ok():
		return ack, nil
	case err := <-fut.Err():
		return nil, err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
