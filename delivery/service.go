package delivery

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/imcallback/imcallback/admin"
	"github.com/imcallback/imcallback/config"
	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/internal/writeproof"
	"github.com/imcallback/imcallback/protocol"
	"github.com/imcallback/imcallback/tracing"
)

// ErrNotStarted reports a call before Start or after Stop.
var ErrNotStarted = errors.New("delivery: not started")

// errRestarting reports a call while the embedded server is being restarted.
var errRestarting = errors.New("delivery: the embedded NATS server is restarting after a storage fault")

// errReopening reports a call while the connection to a NATS cluster
// (Options.URL), which nats.go closed for good, is being opened again.
var errReopening = errors.New("delivery: the connection to NATS, closed for good, is being opened again")

// errNotEnsured reports a call before the streams could be created;
// Service.notEnsured adds why.
var errNotEnsured = errors.New("delivery: the streams are not set up yet")

// Processor runs the handler of a stored event; *dispatcher.Dispatcher is one.
// A panic in Process is a failed attempt (an error wrapping
// dispatcher.ErrPanic), retried with the backoff.
type Processor interface {
	Process(ctx context.Context, r *dispatcher.Request) error
}

// Service is durable delivery: the AfterSink that appends after-callbacks
// to JetStream, and the workers that process them. A supervisor watches
// whether the stream takes writes and repairs what it can: it recreates
// missing streams and the consumer, and restarts an embedded server whose store failed (a
// full disk, exhausted file handles), so the service recovers by itself
// once the cause is gone.
type Service struct {
	opts    Options
	log     *zap.Logger
	metrics *deliveryMetrics

	mu      sync.Mutex // guards conn, workers and proc across Start, Stop and restarts
	conn    *Conn
	workers *workers
	proc    Processor // what the workers run, kept for restarts
	paused  bool      // Pause stopped the workers; Resume starts them
	holds   holds     // PauseCommand: commands whose events are held back
	resume  resume    // where a consumer deleted while running starts again
	dead    deadCache // the dead-letter stream as the admin API last read it
	// status reads the counts of GET /v1/delivery, each read going on
	// from the one before.
	status statusCounts
	// sightings is what the supervisor's checks found missing; only the
	// supervisor uses it.
	sightings sightings
	// drains holds one channel per set of workers a Pause or a restart
	// took out of service and is still stopping; each is closed, and
	// removed, once their handlers have finished. StopWorkers and Resume
	// wait for them.
	drains []chan struct{}

	js atomic.Pointer[jetstream.JetStream]
	// live is the connection of js, read by Accept without s.mu.
	live    atomic.Pointer[Conn]
	ensured atomic.Bool // the streams and consumer exist on the current connection
	// ensureErr is why the last setup of the streams failed (a refused
	// stream, a connection down); nil once they are set up.
	ensureErr atomic.Pointer[error]

	// failedAppends counts the appends that failed; probedFailures is
	// failedAppends as the last successful probe read it before it wrote.
	// An append failed and no probe succeeded since while they differ: a
	// failure during a probe is not cleared by its success.
	failedAppends  atomic.Uint64
	probedFailures atomic.Uint64
	// refusedSize is the size of the largest append that failed since a
	// probe answered for the failures, which the next probe writes at
	// least: a store with room left for a tiny probe but not for the
	// events (a stream's max_bytes, an account's storage limit) takes the
	// one and refuses the others. refusedMu guards it and orders it with
	// failedAppends.
	refusedMu   sync.Mutex
	refusedSize int

	lastErr      atomic.Pointer[error] // the last append's error
	proof        *writeproof.Proof     // the last successful append or probe, standing for a probe for a second; the one probe under way
	maxPayload   atomic.Int64          // the server's max_payload; 0 while unknown
	restarts     atomic.Int64          // embedded-server restarts, for tests and logs
	restartPause atomic.Int64          // the first pause between restarts of the embedded server (tests lengthen it)
	eventsRead   atomic.Uint64         // message headers the event log's scans read, for tests
	pageHeld     atomic.Uint64         // the most events a page of GET /v1/events held at once, for tests
	copySearch   atomic.Int64          // headers a dead-letter replay's search reads at most; 0: CopySearchHeaders (tests lower it)
	pageBudget   atomic.Int64          // events a page of GET /v1/events reads at most; 0: EventPageBudget (tests lower it)

	kick chan struct{} // a failed append asks the supervisor to look now
	// stopSup ends the supervisor (and a restart it runs); nil before Start
	// and once Stop began.
	stopSup context.CancelFunc
	// supDone is closed when the supervisor has returned; it is set from
	// Start until Stop has finished, so that no Start overlaps a Stop.
	supDone chan struct{}

	// The supervisor's check and timer, which tests replace; New sets them.
	check func(context.Context) error
	after func(time.Duration) <-chan time.Time
	// open opens the connection that replaces a failed one (connect);
	// tests replace it, before Start. New sets it.
	open func(context.Context) (*Conn, error)
	// onRestart, when set, is called at each step of a restart of the
	// embedded server (restartStep), with the restart's context: a test hook.
	onRestart func(ctx context.Context, step restartStep)
	// onProbe, when set, is called once a probe's message is stored: a test hook.
	onProbe func()
}

var _ dispatcher.AfterSink = (*Service)(nil)

// New builds a Service and registers its metrics on reg. It does no I/O:
// Start connects.
func New(opts Options, log *zap.Logger, reg prometheus.Registerer) (*Service, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	s := &Service{opts: opts, log: log, kick: make(chan struct{}, 1), proof: writeproof.New(), after: time.After}
	s.restartPause.Store(int64(time.Second))
	s.check = s.repairAndCheck
	s.open = s.connect
	if s.metrics, err = newMetrics(reg, s.pendingGauge, s.deadGauge); err != nil {
		return nil, err
	}
	return s, nil
}

// Options returns the effective options, defaults filled in.
func (s *Service) Options() Options { return s.opts }

// Start connects and creates or updates the streams and the consumer, then
// starts the supervisor. With an embedded server a failure is returned.
// With Options.URL an unreachable cluster is not an error: the service
// starts, reports not ready, and sets the streams up once NATS answers.
func (s *Service) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn != nil || s.supDone != nil {
		return errors.New("delivery: already started, or still stopping")
	}
	conn, err := s.connect(ctx)
	if err != nil {
		return err
	}
	s.setConn(conn)
	if conn.embedded == nil && !s.ensured.Load() {
		s.log.Warn("NATS is not reachable or not ready yet; starting anyway, not ready until it answers",
			zap.String("url", redactURL(s.opts.URL)))
	}
	supCtx, cancel := context.WithCancel(context.Background())
	s.stopSup, s.supDone = cancel, make(chan struct{})
	go s.supervise(supCtx, s.supDone)
	return nil
}

// connect opens the connection and, when NATS answers, ensures the
// streams. Only an embedded server's failure is an error.
func (s *Service) connect(ctx context.Context) (*Conn, error) {
	conn, err := Connect(ctx, s.opts, s.log)
	if err != nil {
		return nil, err
	}
	if err := s.ensureOn(ctx, conn, nil); err != nil && conn.embedded != nil {
		return nil, errors.Join(err, conn.Close(ctx))
	}
	return conn, nil
}

// ensureOn creates the streams on conn when it is connected and records
// the server's max payload. g is the supervisor's sightings (ensure), nil
// at a start.
func (s *Service) ensureOn(ctx context.Context, conn *Conn, g *sightings) error {
	if st := conn.NC.Status(); st != nats.CONNECTED {
		err := conn.notConnectedError(st)
		s.ensureErr.Store(&err)
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, ensureTimeout)
	defer cancel()
	if conn.embedded != nil && g == nil {
		// The first setup after the embedded server started (a start, a
		// restart): a stream it did not load is not set up again empty.
		// The supervisor's checks (g) set up a stream deleted while the
		// server runs, whose files may not be gone yet.
		if err := conn.embedded.unloadedStreams(ctx, conn.JS, s.opts.Stream, s.opts.DeadStream()); err != nil {
			s.ensureErr.Store(&err)
			return err
		}
	}
	if err := ensure(ctx, conn.JS, s.opts, s.log, &s.resume, g); err != nil {
		s.ensureErr.Store(&err)
		return err
	}
	s.notePayloadLimit(conn.NC.MaxPayload())
	s.ensureErr.Store(nil)
	s.ensured.Store(true)
	s.log.Info("durable delivery ready", zap.String("stream", s.opts.Stream),
		zap.String("subjects", s.opts.eventsSubject()), zap.Bool("embedded", conn.embedded != nil),
		zap.Duration("retention", s.opts.Retention), zap.Duration("dedup_window", s.opts.DedupWindow))
	return nil
}

// notEnsured is errNotEnsured with why the last setup failed, so that
// readiness and the 503's log line name a refused stream rather than
// suggest NATS is unreachable.
func (s *Service) notEnsured() error {
	if cause := s.ensureErr.Load(); cause != nil {
		return fmt.Errorf("%w: %w", errNotEnsured, *cause)
	}
	return errNotEnsured
}

// ensureTimeout bounds setting up the streams.
const ensureTimeout = 10 * time.Second

// notePayloadLimit records the server's max_payload and warns when the
// body limit does not fit it, or the file store's largest message
// (maxStoredMessage) when that is the smaller: such bodies are answered 413,
// not 503.
func (s *Service) notePayloadLimit(maxPayload int64) {
	old := s.maxPayload.Swap(maxPayload)
	if old == maxPayload || s.opts.BodyLimit == 0 {
		return
	}
	if maxPayload > maxStoredMessage {
		if s.opts.BodyLimit+headerAllowance > maxStoredMessage {
			s.log.Warn("IMCALLBACK_BODY_LIMIT plus the event headers is above the 32 MiB JetStream's file store keeps in one message: "+
				"larger bodies are answered 413; lower the body limit",
				zap.Int64("body_limit", s.opts.BodyLimit), zap.Int64("largest_body", maxStoredMessage-headerAllowance))
		}
		return
	}
	if s.opts.BodyLimit+headerAllowance <= maxPayload {
		return
	}
	s.log.Warn("the NATS server's max_payload is below IMCALLBACK_BODY_LIMIT plus the event headers: "+
		"larger bodies are answered 413; raise max_payload on the server or lower the body limit",
		zap.Int64("max_payload", maxPayload), zap.Int64("body_limit", s.opts.BodyLimit),
		zap.Int64("largest_body", maxPayload-headerAllowance))
}

// notConnected is why there is no connection: replacing while the
// supervisor replaces it (started, and between two connections),
// ErrNotStarted before Start and after Stop.
func (s *Service) notConnected() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopSup != nil {
		return s.replacing()
	}
	return ErrNotStarted
}

// replacing is the error of a call made while the supervisor replaces the
// connection: errRestarting, the embedded server's restart, or with
// Options.URL errReopening.
func (s *Service) replacing() error {
	if s.opts.URL != "" {
		return errReopening
	}
	return errRestarting
}

// setConn makes conn the current connection. Callers hold s.mu.
func (s *Service) setConn(conn *Conn) {
	s.conn = conn
	s.live.Store(conn)
	s.js.Store(&conn.JS)
}

// Stop stops the supervisor and the workers, then drains the connection
// and stops the embedded server. A restart of the embedded server under way
// is cut short where it waits (for the server's readiness, for the streams)
// and Stop waits for it, whatever ctx says: the server it started is shut
// down before Stop returns, not left running under an exiting process. Its
// worst case is the restart's own bounds: its workers' ShutdownTimeout and
// the recovery of the store, which no one can interrupt.
func (s *Service) Stop(ctx context.Context) error {
	s.mu.Lock()
	if s.stopSup != nil {
		s.stopSup() // under s.mu: a restart sees it when it installs its connection
		s.stopSup = nil
	}
	supDone := s.supDone
	s.mu.Unlock()
	if supDone != nil {
		<-supDone
	}
	err := s.StopWorkers(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.supDone = nil
	if s.conn == nil {
		return err
	}
	s.js.Store(nil)
	s.live.Store(nil)
	s.ensured.Store(false)
	// The drain is a step of its own, bounded like the others: nats.go's
	// drain waits DrainTimeout for the subscriptions, then up to five
	// seconds more for its flush, which a server that does not answer
	// (frozen, unreachable without a reset) takes in full.
	closeCtx, cancel := context.WithTimeout(ctx, s.opts.ShutdownTimeout)
	defer cancel()
	err = errors.Join(err, s.conn.Close(closeCtx))
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
		return nil, s.notConnected()
	}
	if err := s.downNow(); err != nil {
		return nil, err
	}
	// Its connection too, which its scans check before each fetch
	// (fetchable), and the down flag, which its replays and scans check
	// before each request (Events.downNow).
	return &Events{js: *js, nc: (*js).Conn(), down: s.connDown, opts: s.opts, read: &s.eventsRead, held: &s.pageHeld,
		copySearch: int(s.copySearch.Load()), pageBudget: int(s.pageBudget.Load()), log: s.log}, nil
}

// Accept appends r to the stream and returns once JetStream acknowledged
// it. A repeat of an event inside the dedup window is acknowledged as a
// duplicate and returns nil: it is stored already. A body the server
// cannot hold is refused with protocol.ErrBodyTooLarge, query parameters
// too long for the event's headers with protocol.ErrHeaderTooLarge. A forwarded
// event (r.Targets) is stored once per target, each copy processed,
// retried and dead-lettered on its own; the copies are published at once
// and it is acknowledged once every copy is stored, all of them within
// one PublishTimeout (a copy stored before a failure is kept, and the IM
// retry that follows is deduplicated per copy).
func (s *Service) Accept(ctx context.Context, r *dispatcher.Request) error {
	if s.js.Load() == nil {
		return s.notConnected()
	}
	if !s.ensured.Load() {
		err := s.notEnsured()
		s.appendFailedWith(err, 0)
		return err
	}
	if err := s.downNow(); err != nil {
		// Refused at once: a publish would wait for the connection's lock
		// through nats.go's attempt to reconnect, past PublishTimeout.
		s.appendFailedWith(err, 0)
		return fmt.Errorf("delivery: append %s: %w", r.Command, err)
	}
	switch len(r.Targets) {
	case 0:
		return s.append(ctx, r, "")
	case 1:
		return s.append(ctx, r, r.Targets[0])
	}
	return s.appendCopies(ctx, r, r.Targets)
}

// downNow is the error of a request on the connection while it is down
// (Conn.down), else nil: a request then waits for nats.go's attempt to
// reconnect, which holds the connection's lock up to its connect timeout
// against a server that answers nothing, before it is refused all the
// same. The callers refuse theirs at once.
func (s *Service) downNow() error { return errWhileDown(s.connDown) }

// connDown reports whether the live connection is known to be down (its
// flag, set from nats.go's handlers), without nats.go's lock.
func (s *Service) connDown() bool {
	c := s.live.Load()
	return c != nil && c.down.Load()
}

// append stores r's copy for target and waits for the stream's
// acknowledgement, at most PublishTimeout.
func (s *Service) append(ctx context.Context, r *dispatcher.Request, target string) error {
	js := s.js.Load()
	if js == nil {
		return s.notConnected()
	}
	c, err := s.prepare(ctx, r, target)
	if err != nil {
		c.end(err)
		return err
	}
	wait, cancel := context.WithTimeout(ctx, s.opts.PublishTimeout)
	start := time.Now()
	c.send(*js)
	err = s.await(ctx, wait, r, &c)
	cancel()
	s.metrics.publish.Observe(time.Since(start).Seconds())
	return err
}

// appendCopies stores r's copy for each of targets: every copy is
// published before the first acknowledgement is awaited, and all of them
// share one PublishTimeout, so the answer to IM does not wait a
// PublishTimeout per copy. It returns nil once every copy is stored, and
// the first copy's error otherwise. A copy too large for the server fails
// the event before any copy is published. Once the connection is down (a
// copy refused as such, or its flag set) the copies left are refused at
// once, not published.
func (s *Service) appendCopies(ctx context.Context, r *dispatcher.Request, targets []string) error {
	js := s.js.Load()
	if js == nil {
		return s.notConnected()
	}
	copies := make([]outgoing, len(targets))
	for i, target := range targets {
		var err error
		if copies[i], err = s.prepare(ctx, r, target); err != nil {
			for j := range i + 1 {
				copies[j].end(err)
			}
			return err
		}
	}
	wait, cancel := context.WithTimeout(ctx, s.opts.PublishTimeout)
	defer cancel()
	start := time.Now()
	var down error // why the copies left are refused at once
	for i := range copies {
		if down == nil && s.connDown() {
			down = nats.ErrConnectionReconnecting
		}
		if down != nil {
			// The connection went down since Accept looked: each publish
			// would wait for nats.go's attempt to reconnect under way (one
			// after the other, an attempt each), as Accept's would.
			copies[i].err = down
			continue
		}
		copies[i].send(*js)
		if connectionDown(copies[i].err) {
			down = copies[i].err
		}
	}
	var first error
	for i := range copies {
		if err := s.await(ctx, wait, r, &copies[i]); err != nil && first == nil {
			first = err
		}
	}
	s.metrics.publish.Observe(time.Since(start).Seconds())
	return first
}

// outgoing is one copy of an event on its way to the stream.
type outgoing struct {
	target string
	msg    *nats.Msg
	span   trace.Span // nil without tracing
	fut    jetstream.PubAckFuture
	err    error // the publish failed before its acknowledgement was awaited
}

// prepare builds r's message for target. With tracing, it starts the
// copy's span and puts its context into the message headers: each
// delivery's span is its child; end finishes the span. An event the
// server's max_payload cannot hold is refused with protocol.ErrBodyTooLarge,
// one whose headers NATS cannot hold with its dead letter's with
// protocol.ErrHeaderTooLarge.
func (s *Service) prepare(ctx context.Context, r *dispatcher.Request, target string) (outgoing, error) {
	c := outgoing{target: target, msg: newEventMsg(&s.opts, r, target)}
	if t := s.opts.Tracer; t.Enabled() {
		ctx, c.span = t.Start(ctx, "imcallback.append", tracing.KindProducer,
			trace.WithAttributes(tracing.AttrCommand.String(r.Command), tracing.AttrDestination.String(target)))
		t.Inject(ctx, http.Header(c.msg.Header))
	}
	// The server counts headers and body against max_payload; the size
	// here also holds the subject, and the reply inbox is added on top.
	size := c.msg.Size() // encodes the headers: once
	if limit := s.payloadLimit(); limit > 0 && int64(size+replyAllowance+deadLetterAllowance) > limit {
		return c, fmt.Errorf("%w: the event (%d bytes with its headers) does not fit the NATS server's max_payload %d",
			protocol.ErrBodyTooLarge, size, limit)
	}
	// The stream would refuse its headers, or its dead letter's, whatever
	// max_payload says: answered 503, it was sent again by IM's retry and
	// refused again, or, stored, its dead letter was refused until the
	// retention dropped it.
	if headers := size - len(c.msg.Subject) - len(c.msg.Data); headers+deadLetterAllowance > maxHeaderBytes {
		return c, fmt.Errorf("%w: the event's headers (%d bytes, its query parameters among them) leave no room for its dead letter's under the %d bytes NATS takes",
			protocol.ErrHeaderTooLarge, headers, maxHeaderBytes)
	}
	// The stream would refuse it whatever max_payload says: answered 503
	// and padded into the readiness probe, it kept the service not ready.
	if size+deadLetterAllowance > maxStoredMessage {
		return c, fmt.Errorf("%w: the event (%d bytes with its headers) does not fit the %d bytes JetStream's file store keeps in one message",
			protocol.ErrBodyTooLarge, size, maxStoredMessage)
	}
	return c, nil
}

// payloadLimit is the max_payload of the server the connection is on now
// (0 while unknown). A reconnect can change it without the streams being
// set up again: a cluster's rolling restart with a lower max_payload, or
// another server of the list. An event over it was refused by nats.go as
// ErrMaxPayload and answered 503, which IM retries, each retry refused
// again, instead of 413.
func (s *Service) payloadLimit() int64 {
	if js := s.js.Load(); js != nil {
		if nc := (*js).Conn(); nc != nil && nc.IsConnected() {
			if now := nc.MaxPayload(); now > 0 && now != s.maxPayload.Load() {
				s.notePayloadLimit(now)
			}
		}
	}
	return s.maxPayload.Load()
}

// send publishes the copy without waiting for its acknowledgement: many
// appends from concurrent requests, and the copies of one, are in flight
// at once.
func (c *outgoing) send(js jetstream.JetStream) {
	c.fut, c.err = js.PublishMsgAsync(c.msg)
	if errors.Is(c.err, os.ErrDeadlineExceeded) {
		// The server took nothing of the message for the write timeout
		// (hungServerOptions' FlusherTimeout): it hangs. nats.go keeps a
		// connection whose write took nothing, and the next append's write
		// would block as long again, holding the connection's lock, with
		// its ping timer queued behind it: give the connection up, as its
		// flusher does (ReconnectOnFlusherError).
		if nc := js.Conn(); nc != nil {
			_ = nc.ForceReconnect()
		}
	}
}

// end finishes the copy's span with err.
func (c *outgoing) end(err error) {
	if c.span != nil {
		tracing.Fail(c.span, err)
		c.span.End()
	}
}

// await waits for the acknowledgement of the copy sent, until wait is done,
// and records the outcome. ctx is the caller's: when it is done the caller
// went away, which says nothing about the stream. A copy not acknowledged
// before wait's deadline while the caller still waits (the stream is slow
// or gone) counts as a failed append: readiness and the supervisor learn
// of it.
func (s *Service) await(ctx, wait context.Context, r *dispatcher.Request, c *outgoing) (err error) {
	defer func() { c.end(err) }()
	var ack *jetstream.PubAck
	if err = c.err; err == nil {
		select {
		case ack = <-c.fut.Ok():
		case err = <-c.fut.Err():
		case <-wait.Done():
			err = wait.Err()
		}
	}
	if errors.Is(err, nats.ErrMaxPayload) {
		// The server's max_payload changed between prepare and the publish.
		err = fmt.Errorf("%w: the event (%d bytes with its headers) does not fit the NATS server's max_payload: %w",
			protocol.ErrBodyTooLarge, c.msg.Size(), err)
	}
	if err != nil {
		// "outbound buffer limit exceeded" alone reads as an overload: name the cause.
		err = explainDown(err)
		// A caller that went away or one oversized event says nothing about the stream.
		if ctx.Err() == nil && !errors.Is(err, nats.ErrMaxPayload) {
			s.appendFailedWith(err, c.msg.Size())
		}
		if c.target != "" {
			return fmt.Errorf("delivery: append %s for destination %s: %w", r.Command, c.target, err)
		}
		return fmt.Errorf("delivery: append %s: %w", r.Command, err)
	}
	s.proof.Wrote()
	if ack.Duplicate {
		s.metrics.duplicates.WithLabelValues(r.Command).Inc()
		return nil
	}
	s.metrics.appended.WithLabelValues(r.Command).Inc()
	return nil
}

// appendFailedWith records a failed append of a message of size bytes
// (0: none was sent) and wakes the supervisor.
func (s *Service) appendFailedWith(err error, size int) {
	s.lastErr.Store(&err)
	s.refusedMu.Lock()
	s.refusedSize = max(s.refusedSize, size)
	s.failedAppends.Add(1)
	s.refusedMu.Unlock()
	s.kickSupervisor()
}

// appendFailed reports whether an append failed and no probe that began
// after it succeeded since.
func (s *Service) appendFailed() bool {
	return s.failedAppends.Load() != s.probedFailures.Load()
}

// Check is the readiness check: it reports whether an after-callback
// would be stored right now. It fails while the connection is down or the
// streams are not set up, while the embedded server restarts, while too
// many appends wait for an acknowledgement, and when a probe (a real write
// to the work stream) fails; after a failed append the probe is at least
// as large as the largest event refused. A successful append or probe in
// the last second counts as the probe, and one probe runs at a time: the
// calls that come meanwhile take its success.
func (s *Service) Check(ctx context.Context) error {
	js := s.js.Load()
	if js == nil {
		return s.notConnected()
	}
	conn := s.Conn()
	if conn == nil {
		return s.replacing()
	}
	if conn.down.Load() {
		// Said at once: Status waits for nats.go's attempt to reconnect,
		// which holds the connection's lock up to its connect timeout
		// against a server that answers nothing, past /readyz's deadline.
		return conn.downError()
	}
	if st := conn.NC.Status(); st != nats.CONNECTED {
		return conn.notConnectedError(st)
	}
	if !s.ensured.Load() {
		return s.notEnsured()
	}
	if n := (*js).PublishAsyncPending(); n >= MaxPendingAppends*9/10 {
		return fmt.Errorf("%d appends are waiting for an acknowledgement (limit %d)", n, MaxPendingAppends)
	}
	// /readyz needs no token and runs Check at each request, and each
	// probe is a real write whose Nats-Msg-Id the server keeps for the
	// whole dedup window: however many requests come, the stream is
	// probed at most once a second (writeproof).
	return s.proof.Check(ctx, s.appendFailed, func(ctx context.Context) error {
		s.refusedMu.Lock()
		failed, size := s.failedAppends.Load(), s.refusedSize // what the probe's success answers for
		s.refusedMu.Unlock()
		if err := s.probe(ctx, *js, size); err != nil {
			if s.appendFailed() {
				last := "unknown error"
				if e := s.lastErr.Load(); e != nil {
					last = (*e).Error()
				}
				return fmt.Errorf("the last append failed (%s) and the stream refuses a probe: %w", last, err)
			}
			return fmt.Errorf("the stream refuses a probe: %w", err)
		}
		// Only the failures before the probe wrote: one while it ran (the
		// stream broke meanwhile) still counts, and the next check probes
		// with its size too.
		s.refusedMu.Lock()
		s.probedFailures.Store(failed)
		if s.failedAppends.Load() == failed {
			s.refusedSize = 0
		}
		s.refusedMu.Unlock()
		return nil
	})
}

// wroteRecently reports whether an append or a probe succeeded within a
// second (writeproof.Window), with no append failed since.
func (s *Service) wroteRecently() bool { return s.proof.Recent(s.appendFailed) }

// probeSeq makes each probe's Nats-Msg-Id unique within the process.
var probeSeq atomic.Uint64

// probe writes one message to the work stream's probe subject, which no
// consumer reads, and removes it again: proof that the stream's store
// takes writes now. It purges the probe subject or, from a stream that
// denies purges (deny_purge, which NATS cannot lift: an audit log made by
// hand), deletes the message; one that denies both keeps it until its
// retention drops it, a probe at most a second. A stream that no longer
// takes the events' subjects fails it, though the probe was stored. The
// message is padded to size bytes with its subject and headers, within the
// server's max_payload.
func (s *Service) probe(ctx context.Context, js jetstream.JetStream, size int) error {
	msg := nats.NewMsg(s.opts.probeSubject())
	msg.Header.Set(jetstream.MsgIDHeader, "imcallback-probe-"+strconv.FormatInt(time.Now().UnixNano(), 36)+"-"+
		strconv.FormatUint(probeSeq.Add(1), 36))
	msg.Header.Set(jetstream.ExpectedStreamHeader, s.opts.Stream)
	if pad := size - msg.Size(); pad > 0 {
		if limit := s.payloadLimit(); limit > 0 {
			pad = min(pad, int(limit)-(msg.Size()-len(msg.Subject))-replyAllowance)
		}
		msg.Data = make([]byte, max(pad, 0))
	}
	pctx, cancel := context.WithTimeout(ctx, s.opts.PublishTimeout)
	defer cancel()
	ack, err := js.PublishMsg(pctx, msg, jetstream.WithRetryAttempts(0))
	if err != nil {
		return err
	}
	if s.onProbe != nil {
		s.onProbe()
	}
	st, err := js.Stream(pctx, s.opts.Stream)
	if err != nil {
		return err
	}
	cfg := st.CachedInfo().Config
	switch {
	case !cfg.DenyPurge:
		if err := st.Purge(pctx, jetstream.WithPurgeSubject(s.opts.probeSubject())); err != nil {
			return err
		}
	case !cfg.DenyDelete:
		if err := st.DeleteMsg(pctx, ack.Sequence); err != nil && !msgGone(err) {
			return err
		}
	}
	// The probe's subject proves nothing of the events': a stream that
	// kept it and lost theirs (an operator's edit) refused every event
	// while the probe succeeded, and the supervisor, its check passing,
	// never set the subjects back (streamDrifted).
	if events := s.opts.eventsSubject(); !slices.Contains(cfg.Subjects, events) {
		return fmt.Errorf("the stream no longer takes the events' subjects %s (its subjects: %s)",
			events, strings.Join(cfg.Subjects, ", "))
	}
	return nil
}

// ReadinessCheck is Check as the /readyz check named "jetstream".
func (s *Service) ReadinessCheck() admin.Check {
	return admin.Check{Name: "jetstream", Check: s.Check}
}

// Health timings of the supervisor.
const (
	// healthyEvery is how often a healthy service is checked.
	healthyEvery = 5 * time.Second
	// unhealthyEvery is how often an unhealthy one is checked again.
	unhealthyEvery = time.Second
	// restartAfter is how many failed checks in a row restart an embedded server.
	restartAfter = 2
	// maxRestartWait bounds the growing pause between restarts.
	maxRestartWait = 30 * time.Second
	// kickGap is the least time between the end of a check and a check a
	// failed append asks for: a kick within it is acted on at its end.
	kickGap = 250 * time.Millisecond
	// spaceReturnedMargin is how much more free space than the last
	// restart left (and at least twice as much) restarts the embedded
	// server before its pause is over.
	spaceReturnedMargin = 16 << 20
)

// supervise checks the stream now and then (after a failed append as soon
// as kickGap has passed since the last check) and repairs: streams are set
// up again when missing, an embedded server whose store keeps failing is
// restarted, and a connection to a NATS cluster that nats.go closed for
// good is opened again, with a growing pause between restarts (or new
// connections), until a probe succeeds. The embedded server's pause is cut
// short once the store's filesystem has space again (spaceReturned): space
// freed after a full disk is taken at the next check, not up to
// maxRestartWait later. It returns once ctx ends, a
// check or a restart under way cut short.
func (s *Service) supervise(ctx context.Context, done chan<- struct{}) {
	defer close(done)
	s.sightings.reset() // what an earlier run found missing says nothing now
	failures := 0
	firstPause := time.Duration(s.restartPause.Load())
	restartWait := firstPause
	var nextRestart time.Time
	var freeAfter uint64  // the store's free space after the last restart; 0: none yet
	reopenFailed := false // the last new connection to Options.URL failed to open: none serves
	wait := healthyEvery
	for {
		// Every append refused during an outage kicks: heeded at once, they
		// would probe as fast as callbacks arrive. Kicks within kickGap of
		// the last check are not read; the one the channel keeps is then.
		if !s.idle(ctx, kickGap, nil) || !s.idle(ctx, wait-kickGap, s.kick) {
			return
		}
		cctx, cancel := context.WithTimeout(ctx, ensureTimeout)
		err := s.check(cctx)
		cancel()
		if ctx.Err() != nil {
			return // stopping: a check cut short tells nothing
		}
		if err == nil {
			if failures > 0 {
				s.log.Info("durable delivery recovered: the stream takes events again", zap.Int("failed_checks", failures))
			}
			failures, restartWait, wait = 0, firstPause, healthyEvery
			continue
		}
		failures++
		wait = unhealthyEvery
		if failures == 1 {
			s.log.Error("durable delivery is not ready; callbacks are answered 503 until it recovers", zap.Error(err))
		}
		if s.opts.URL != "" {
			// The client reconnects by itself, unless nats.go closed the
			// connection for good: then only a new one serves again, and
			// after a new one failed to open, only the next.
			if !(reopenFailed || s.connClosed()) || time.Now().Before(nextRestart) {
				continue
			}
			err := s.reopen(ctx)
			reopenFailed = s.Conn() == nil // nothing is left to find closed
			if err != nil {
				if ctx.Err() != nil {
					return // stopping: cut short, and cleaned up after itself
				}
				s.log.Error("opening a new connection to NATS failed; trying again", zap.Duration("in", restartWait), zap.Error(err))
			}
		} else {
			if failures < restartAfter {
				continue
			}
			if time.Now().Before(nextRestart) {
				if !s.spaceReturned(freeAfter) {
					continue
				}
				s.log.Info("the store's filesystem has space again; restarting the embedded NATS server now")
			}
			if err := s.restartEmbedded(ctx); err != nil {
				if ctx.Err() != nil {
					return // stopping: the restart was cut short, and cleaned up after itself
				}
				s.log.Error("restarting the embedded NATS server failed; trying again", zap.Duration("in", restartWait), zap.Error(err))
			}
			freeAfter, _ = freeBytes(s.opts.StoreDir)
		}
		nextRestart = time.Now().Add(restartWait)
		restartWait = min(2*restartWait, max(maxRestartWait, firstPause))
	}
}

// connClosed reports whether nats.go closed the current connection for
// good: it does so, instead of reconnecting, on a server's -ERR it does not
// know as transient, such as "Maximum Payload Violation" for a message over
// a max_payload that a reload of the server's configuration lowered, which
// the server tells no client already connected.
func (s *Service) connClosed() bool {
	c := s.Conn()
	return c != nil && c.isClosed()
}

// spaceReturned reports whether the store's filesystem has much more free
// space than after the last restart, which left freeAfter: at least
// twice as much and spaceReturnedMargin more. A restart that failed for a
// full disk then has its cause gone.
func (s *Service) spaceReturned(freeAfter uint64) bool {
	free, ok := freeBytes(s.opts.StoreDir)
	return ok && free >= 2*freeAfter+spaceReturnedMargin
}

// idle waits d, or until kick (nil: no kick) fires; it reports false,
// at once, when ctx ends.
func (s *Service) idle(ctx context.Context, d time.Duration, kick <-chan struct{}) bool {
	select {
	case <-ctx.Done():
		return false
	case <-kick:
	case <-s.after(d):
	}
	return true
}

// repairAndCheck sets the streams and the consumer up again where they
// are missing and returns the readiness check's verdict. What it finds
// missing it creates at the next check, not at once (sightings), and it
// asks for that check itself: kickGap after this one.
func (s *Service) repairAndCheck(ctx context.Context) error {
	conn := s.Conn()
	if conn == nil {
		return s.replacing()
	}
	g := &s.sightings
	g.nextCheck()
	defer func() {
		if g.leftForNext() {
			s.kickSupervisor()
		}
	}()
	if !s.ensured.Load() {
		if err := s.ensureOn(ctx, conn, g); err != nil {
			return err
		}
	}
	if conn.down.Load() {
		// Check says why without waiting for an attempt to reconnect:
		// the cause as read here, where the wait holds no request up.
		conn.noteLastError()
	}
	err := s.Check(ctx)
	if err != nil && s.streamDrifted(ctx, conn, g) {
		s.ensured.Store(false) // deleted or changed by someone else: set up again next time
	}
	if err != nil {
		// A limit refuses the events and, after one refused, the probe
		// that is as large: lifted all the same.
		s.liftWorkLimits(ctx, conn, g)
		return err
	}
	return s.repairParts(ctx, conn, g)
}

// liftWorkLimits lifts a limit set on the running work stream (an
// operator's edit), and its subject transform, as the start does: a limit
// deleted events acknowledged to IM before they were processed, or
// refused large ones, until the next start lifted it. A failure is logged
// and tried again at the next check.
func (s *Service) liftWorkLimits(ctx context.Context, conn *Conn, g *sightings) {
	st, err := conn.JS.Stream(ctx, s.opts.Stream)
	if err != nil {
		return
	}
	want := workStreamConfig(s.opts)
	if cfg := st.CachedInfo().Config; deletingLimits(cfg) || sizeLimited(cfg, want) || cfg.SubjectTransform != nil || idleLimited(cfg) ||
		cfg.SubjectDeleteMarkerTTL > 0 {
		if _, err := ensureStream(ctx, conn.JS, want, s.log, g); err != nil {
			s.log.Warn("lifting the work stream's limits failed; trying again at the next check",
				zap.String("stream", s.opts.Stream), zap.Error(err))
		}
	}
}

// repairParts sets up again what the probe does not write to, each at a
// check after the one that found it missing (sightings): the dead-letter
// stream (without it, or without its subjects, no event can be
// dead-lettered, and a failing one cycles in the work stream until it
// expires), the work stream's limits and subject transform set while it
// runs (which the start lifts: see ensureStream) and the consumer (without it
// no event is processed; the workers leave it to the supervisor). Events
// are still stored meanwhile: the verdict is an error only when the
// dead-letter stream could not be created. A consumer that could not be
// (another replica created it meanwhile from another floor, which the
// server refuses to change) is logged and tried again at the next check,
// which the workers ask for while they find it missing. A lookup that fails
// otherwise says nothing.
func (s *Service) repairParts(ctx context.Context, conn *Conn, g *sightings) error {
	s.liftWorkLimits(ctx, conn, g)
	dead := s.opts.DeadStream()
	st, err := conn.JS.Stream(ctx, dead)
	switch {
	case errors.Is(err, jetstream.ErrStreamNotFound):
		created, err := ensureStream(ctx, conn.JS, deadStreamConfig(s.opts), s.log, g)
		switch {
		case errors.Is(err, errSetUpLater):
			s.log.Warn("the dead-letter stream is gone; setting it up again at the next check", zap.String("stream", dead))
		case err != nil:
			return err
		case created:
			s.log.Info("the dead-letter stream is set up again", zap.String("stream", dead))
		}
	case err == nil && !slices.Contains(st.CachedInfo().Config.Subjects, s.opts.DeadPrefix()+".>"):
		// Changed by an older replica or an operator, as the work stream's
		// subjects may be (streamDrifted): no dead letter is stored. Set
		// back at once: the stream is there, and its dead letters stay.
		// Appends do not need it, so a failure here leaves readiness be.
		subjects := st.CachedInfo().Config.Subjects
		if _, err := ensureStream(ctx, conn.JS, deadStreamConfig(s.opts), s.log, g); err != nil {
			s.log.Warn("the dead-letter stream no longer takes the dead letters' subjects: no event can be dead-lettered; "+
				"setting them again failed, trying again at the next check", zap.String("stream", dead),
				zap.Strings("subjects", subjects), zap.String("want", s.opts.DeadPrefix()+".>"), zap.Error(err))
			break
		}
		s.log.Warn("the dead-letter stream no longer took the dead letters' subjects: no event could be dead-lettered; "+
			"they are set again", zap.String("stream", dead), zap.Strings("subjects", subjects),
			zap.String("want", s.opts.DeadPrefix()+".>"))
	}
	if _, err := conn.JS.Consumer(ctx, s.opts.Stream, s.opts.Consumer); errors.Is(err, jetstream.ErrConsumerNotFound) {
		err := ensureConsumer(ctx, conn.JS, s.opts, &s.resume, g)
		switch {
		case errors.Is(err, errSetUpLater):
			s.log.Warn("the consumer is gone; setting it up again at the next check", zap.String("consumer", s.opts.Consumer))
		case err != nil:
			s.log.Warn("setting the consumer up again failed; trying again at the next check",
				zap.String("consumer", s.opts.Consumer), zap.Error(err))
		default:
			s.log.Info("the consumer is set up again", zap.String("consumer", s.opts.Consumer))
		}
	}
	return nil
}

// kickSupervisor asks the supervisor to check (and repair) now.
func (s *Service) kickSupervisor() {
	select {
	case s.kick <- struct{}{}:
	default:
	}
}

// streamDrifted reports whether the work stream is missing (noted in g)
// or no longer takes the subjects the service writes (an older replica, a
// rollback or an operator set them back): then ensure must run again.
func (s *Service) streamDrifted(ctx context.Context, conn *Conn, g *sightings) bool {
	st, err := conn.JS.Stream(ctx, s.opts.Stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		g.missing(streamKey(s.opts.Stream))
		return true
	}
	if err != nil {
		return false // the server does not answer: nothing to repair from here
	}
	subjects := st.CachedInfo().Config.Subjects
	return !slices.Contains(subjects, s.opts.eventsSubject()) || !slices.Contains(subjects, s.opts.probeSubject())
}

// restartStep names a step of restartEmbedded, for the onRestart hook.
type restartStep string

// The steps of a restart that onRestart sees.
const (
	// restartOldStopped: the old server is shut down, the new not started.
	restartOldStopped restartStep = "old server stopped"
	// restartNewStarted: the new server runs, not yet in service.
	restartNewStarted restartStep = "new server started"
)

// restartReached calls the onRestart hook, if set.
func (s *Service) restartReached(ctx context.Context, step restartStep) {
	if s.onRestart != nil {
		s.onRestart(ctx, step)
	}
}

// restartEmbedded replaces the embedded server and its connection: the
// filestore keeps a write error until it is opened again (replaceConn).
func (s *Service) restartEmbedded(ctx context.Context) error {
	return s.replaceConn(ctx, func(*Conn) {
		s.log.Warn("restarting the embedded NATS server to recover its store", zap.Int64("restart", s.restarts.Add(1)))
	})
}

// reopen replaces the connection to a NATS cluster (Options.URL) that
// nats.go closed for good (connClosed), which never comes back by itself,
// or opens one after the last replacement failed to open (there is none
// then): until a new connection serves, every callback is answered 503
// and the workers process nothing (replaceConn).
func (s *Service) reopen(ctx context.Context) error {
	return s.replaceConn(ctx, func(old *Conn) {
		if old == nil { // the last new one failed to open
			s.log.Warn("opening a new connection to NATS again")
			return
		}
		s.log.Warn("the connection to NATS was closed for good; opening a new one", zap.NamedError("cause", old.NC.LastError()))
	})
}

// replaceConn replaces the connection, and with it an embedded server. The
// workers stop first (and those a Pause or a StopWorkers is stopping finish
// their handlers) and start again on the new connection; callbacks are
// answered 503 meanwhile. announce logs the replacement, given the old
// connection (nil: none). Once ctx ends (Stop), the new server's start is
// cut short where it waits, and a new connection (and server) made all the
// same is closed here: Stop waits for this and finds no connection to close.
func (s *Service) replaceConn(ctx context.Context, announce func(old *Conn)) error {
	s.mu.Lock()
	if ctx.Err() != nil { // stopping
		s.mu.Unlock()
		return nil
	}
	old := s.conn
	w, drained := s.retireLocked() // StopWorkers waits for these workers to finish
	s.conn = nil
	s.js.Store(nil)
	s.live.Store(nil)
	s.ensured.Store(false)
	s.mu.Unlock()

	announce(old)
	if w != nil {
		_ = w.shutdown(context.Background()) // bounded by ShutdownTimeout
	}
	drained()
	// Workers a Pause or a StopWorkers is stopping still have handlers
	// running on the old connection: their acks and naks must reach it.
	_ = s.waitRetired(context.Background()) // each bounded by ShutdownTimeout
	closeCtx, cancelClose := context.WithTimeout(context.Background(), ensureTimeout)
	if old != nil {
		if err := old.Close(closeCtx); err != nil {
			s.log.Debug("closing the failed connection", zap.Error(err))
		}
	}
	cancelClose()
	s.restartReached(ctx, restartOldStopped)
	// Recovering a large store may take as long as a start does: the
	// start's own bound (IMCALLBACK_START_TIMEOUT), which an operator
	// raises for such a store, else the fixed one.
	budget := embeddedReadyTimeout + ensureTimeout
	if s.opts.StartTimeout > 0 {
		budget = s.opts.StartTimeout
	}
	startCtx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	conn, err := s.open(startCtx)
	if err != nil {
		return err
	}
	s.restartReached(ctx, restartNewStarted)
	s.mu.Lock()
	defer s.mu.Unlock()
	if ctx.Err() != nil { // Stop began meanwhile: it waits for this restart, and the new server must not outlive it
		closeCtx, cancelClose := context.WithTimeout(context.Background(), ensureTimeout)
		defer cancelClose()
		return conn.Close(closeCtx)
	}
	s.setConn(conn)
	// The workers' owner may have started or stopped them meanwhile: what
	// counts is the processor now, not the one before the restart.
	if s.proc != nil && !s.paused {
		return s.startWorkersLocked(s.proc)
	}
	return nil
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
	if err := s.downNow(); err != nil {
		return 0, err // pendingTimeout does not bound the wait for the lock
	}
	c, err := (*js).Consumer(ctx, s.opts.Stream, s.opts.Consumer)
	if err != nil {
		return 0, err
	}
	info := c.CachedInfo()
	return info.NumPending + uint64(info.NumAckPending), nil
}

// DeadLetters is how many events the dead-letter stream holds now.
func (s *Service) DeadLetters(ctx context.Context) (uint64, error) {
	js := s.js.Load()
	if js == nil {
		return 0, ErrNotStarted
	}
	if err := s.downNow(); err != nil {
		return 0, err // pendingTimeout does not bound the wait for the lock
	}
	st, err := (*js).Stream(ctx, s.opts.DeadStream())
	if err != nil {
		return 0, err
	}
	return st.CachedInfo().State.Msgs, nil
}

func (s *Service) deadGauge() float64 {
	ctx, cancel := context.WithTimeout(context.Background(), pendingTimeout)
	defer cancel()
	n, err := s.DeadLetters(ctx)
	if err != nil {
		return math.NaN()
	}
	return float64(n)
}

// setCommands tells the service the after-commands its workers handle:
// the ones PauseCommand accepts, none when commands is empty (never any
// command, which let POST /v1/delivery/pause keep every name it was
// sent). Every per-command series is created at 0, so an alert on a rise
// works from the first event.
func (s *Service) setCommands(commands []string) {
	s.holds.mu.Lock()
	s.holds.known = append([]string{}, commands...)
	s.holds.mu.Unlock()
	m := s.metrics
	for _, c := range commands {
		m.appended.WithLabelValues(c)
		m.duplicates.WithLabelValues(c)
		m.retries.WithLabelValues(c)
		m.dead.WithLabelValues(c)
		m.deadFailed.WithLabelValues(c)
		for _, o := range []string{outcomeOK, outcomeError, outcomeNoHandler, outcomeUndecodable, outcomeInterrupted} {
			m.processed.WithLabelValues(c, o)
		}
	}
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
// stream's subjects, age limit, duplicate window, retention policy and
// acknowledgements in line (ensureStream). Replicas and storage of an
// existing stream are the operator's and stay as they are. A new subject
// prefix is refused while the consumer has events to process under the old
// one (prefixChangeProblem). A missing consumer starts after the floor r
// recorded (nil: at the start). With the supervisor's sightings g, a
// stream or consumer found missing is created only if the check before
// found it missing too. Until then a missing work stream is an error
// wrapping errSetUpLater, while a missing dead-letter stream or consumer is
// left to the next check's repairParts (events are stored without them
// meanwhile). The consumer of a work stream created here is created at once.
func ensure(ctx context.Context, js jetstream.JetStream, o Options, log *zap.Logger, r *resume, g *sightings) error {
	if err := prefixChangeProblem(ctx, js, o); err != nil {
		return err
	}
	created, err := ensureStream(ctx, js, workStreamConfig(o), log, g)
	if err != nil {
		return err
	}
	if _, err := ensureStream(ctx, js, deadStreamConfig(o), log, g); err != nil && !errors.Is(err, errSetUpLater) {
		return err
	}
	if created {
		g = nil // the consumer of a stream created just now: nothing of it is being deleted
	}
	if err := ensureConsumer(ctx, js, o, r, g); err != nil && !errors.Is(err, errSetUpLater) {
		return err
	}
	return nil
}

// workStreamConfig is the work stream: every accepted event, kept for
// Options.Retention.
func workStreamConfig(o Options) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        o.Stream,
		Description: "imcallback after-callbacks: work queue and audit log",
		Subjects:    []string{o.eventsSubject(), o.probeSubject()},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      o.Retention,
		Duplicates:  o.DedupWindow,
		Replicas:    o.Replicas,
		// No limit on a message's size: the body limit and the server's
		// max_payload bound an event, with room for its dead letter and a
		// replayed copy (see sizeLimited).
		MaxMsgSize: -1,
	}
}

// deadStreamConfig is the dead-letter stream.
func deadStreamConfig(o Options) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        o.DeadStream(),
		Description: "imcallback after-callbacks whose handler failed on every delivery",
		Subjects:    []string{o.DeadPrefix() + ".>"},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      0, // dead letters stay until replayed or purged: they are the work still owed
		Duplicates:  o.DedupWindow,
		Replicas:    o.Replicas,
		// No limit on a letter's size: a dead letter is its event plus the
		// Imcallback-Dead-* headers (see sizeLimited).
		MaxMsgSize: -1,
	}
}

// defaultWindow is Options.Window's default: the events delivered and not
// yet acknowledged (running ones, those waiting for a retry and those a
// per-command pause gives back: a delayed nak keeps an event pending).
// Past it the consumer delivers nothing more, to any command, until some
// are acknowledged.
const defaultWindow = 10000

// consumerConfig is the durable pull consumer every replica shares.
// MaxDeliver is unlimited: the workers count attempts themselves. A
// handler never runs more than MaxDeliveries times, a delivery past that
// dead-letters an event whose last attempt was cut short by a crash
// instead of leaving it stranded, and the deliveries of an event whose
// command is paused (PauseCommand) are not attempts. Its filter leaves the
// probe subject out.
func consumerConfig(o Options) jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:       o.Consumer,
		Description:   "imcallback after-callback workers",
		FilterSubject: o.eventsSubject(),
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       o.ackWait(),
		MaxDeliver:    -1,
		MaxAckPending: max(o.Window, 4*o.Workers),
	}
}

// ensureStream creates the stream, or brings an existing one's subjects,
// age, duplicate window, retention policy and acknowledgements to want:
// the service needs limits retention (the stream is also the audit log
// that listings and replays read; work-queue or interest retention would
// delete each event once it is processed) and a PubAck for every append
// (without one, every callback is answered 503), and lifts its limits on
// messages and bytes (deletingLimits), a subject transform (which
// stores events under subjects the consumer may not read), an
// inactivity limit for its consumers (idleLimited) and subject delete
// markers (written under an event's subject, they are no events). A work-queue
// stream and a sealed one (it takes no write), which NATS cannot change,
// are refused with an error saying so. Its
// replicas and storage are kept (changing them moves data: an operator's
// decision), a mismatch logged: memory storage loses the events on a
// restart of the server. So is an async persist mode (NATS cannot change
// it), with a warning: the server acknowledges a write before it reaches
// the store's files, and a crash loses what it acknowledged last. A missing stream is created only when g allows
// (sightings; nil: at once), else the error wraps errSetUpLater. created
// reports whether this call created it.
func ensureStream(ctx context.Context, js jetstream.JetStream, want jetstream.StreamConfig, log *zap.Logger,
	g *sightings) (created bool, err error) {
	st, err := js.Stream(ctx, want.Name)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		if !g.missing(streamKey(want.Name)) {
			return false, fmt.Errorf("delivery: stream %s: %w", want.Name, errSetUpLater)
		}
		_, err = js.CreateStream(ctx, want)
		if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) { // another replica was first
			st, err = js.Stream(ctx, want.Name)
		} else if err == nil {
			return true, nil
		}
	}
	if err != nil {
		return false, fmt.Errorf("delivery: stream %s: %w", want.Name, err)
	}
	cfg := st.CachedInfo().Config
	if cfg.Sealed {
		return false, fmt.Errorf("delivery: stream %s is sealed: it takes no write (a sealed work stream refuses every event, "+
			"a sealed dead-letter stream every dead letter, and an event whose last attempt failed would be given back "+
			"until the work stream's retention dropped it unprocessed) and NATS cannot unseal a stream: move its messages "+
			"away if they are needed (a sealed stream can be read) and remove it (nats stream rm %s), or set %s to another name",
			want.Name, want.Name, config.EnvName("stream"))
	}
	if cfg.Retention == jetstream.WorkQueuePolicy && want.Retention != jetstream.WorkQueuePolicy {
		return false, fmt.Errorf("delivery: stream %s exists with work-queue retention, which deletes a message once a consumer "+
			"acknowledges it; imcallback needs limits retention (the stream keeps every event for %s, for listings and replays) "+
			"and NATS cannot change a work-queue stream's retention: remove the stream (nats stream rm %s) once its events "+
			"are processed, or set %s to another name",
			want.Name, config.EnvName("retention"), want.Name, config.EnvName("stream"))
	}
	if cfg.Replicas != want.Replicas && log != nil {
		log.Warn("the stream exists with other replicas than IMCALLBACK_STREAM_REPLICAS; keeping the stream's",
			zap.String("stream", want.Name), zap.Int("stream_replicas", cfg.Replicas), zap.Int("configured", want.Replicas))
	}
	if cfg.Storage != want.Storage && log != nil {
		log.Warn("the stream exists with memory storage; keeping it: the events it holds, acknowledged to IM and "+
			"not processed yet, are lost when the NATS server restarts; recreate the stream with file storage",
			zap.String("stream", want.Name), zap.Stringer("stream_storage", cfg.Storage), zap.Stringer("configured", want.Storage))
	}
	if cfg.PersistMode == jetstream.AsyncPersistMode && log != nil {
		log.Warn("the stream exists with the async persist mode, which acknowledges a write before it reaches the store's "+
			"files; keeping it (NATS cannot change it): what it acknowledged in the moments before a crash of the NATS "+
			"server (with the embedded server, a kill -9 of the service) is lost, events answered 200 OK to IM or dead "+
			"letters whose events were terminated; recreate the stream with the default persist mode",
			zap.String("stream", want.Name), zap.Stringer("persist_mode", cfg.PersistMode))
	}
	limited, sizeLimited := deletingLimits(cfg), sizeLimited(cfg, want)
	transformed := cfg.SubjectTransform != nil && want.SubjectTransform == nil
	idleLimited, marked := idleLimited(cfg), cfg.SubjectDeleteMarkerTTL > 0
	if slices.Equal(cfg.Subjects, want.Subjects) && cfg.MaxAge == want.MaxAge && cfg.Duplicates == want.Duplicates &&
		cfg.Retention == want.Retention && cfg.NoAck == want.NoAck && !limited && !sizeLimited && !transformed &&
		!idleLimited && !marked {
		return false, nil
	}
	if marked && log != nil {
		log.Warn("the stream exists with subject delete markers, which it writes under an event's subject when the "+
			"retention drops the last event of that subject: the workers took each marker for an event that cannot "+
			"decode and dead-lettered it (a dead letter of no command, and the dead-letter alert); lifting them",
			zap.String("stream", want.Name), zap.Duration("subject_delete_marker_ttl", cfg.SubjectDeleteMarkerTTL))
	}
	if idleLimited && log != nil {
		log.Warn("the stream exists with a default inactivity limit for its consumers, which the server gives the "+
			"durable consumer and then deletes it once no worker pulled for that long (a stop for a deploy, a pause): "+
			"created again, it starts at the stream's start and every event of the retention runs again; lifting it",
			zap.String("stream", want.Name), zap.Duration("inactive_threshold", cfg.ConsumerLimits.InactiveThreshold))
	}
	if transformed && log != nil {
		log.Warn("the stream exists with a subject transform, which stores each message under another subject than it "+
			"was published to: moved out of the subjects the consumer reads (or the dead letters' prefix), an event was "+
			"acknowledged to IM and never delivered; lifting it (messages stored under a transformed subject stay where "+
			"they are: replay them by sequence)",
			zap.String("stream", want.Name), zap.String("transform_source", cfg.SubjectTransform.Source),
			zap.String("transform_destination", cfg.SubjectTransform.Destination))
	}
	if sizeLimited && log != nil {
		log.Warn("the stream exists with a limit on the message size, which refuses the dead letter of an event near it "+
			"(the event plus its Imcallback-Dead-* headers) and its replayed copy: such an event could never be "+
			"dead-lettered, or its dead letter replayed, and stayed unprocessed until the retention dropped it; lifting it: "+
			config.EnvName("body_limit")+" and the server's max_payload bound the events",
			zap.String("stream", want.Name), zap.Int32("max_msg_size", cfg.MaxMsgSize))
	}
	if limited && log != nil {
		log.Warn("the stream exists with a limit on its messages or bytes, which deletes events not processed yet "+
			"(or, under discard new on an older NATS server, may); lifting it: the stream keeps events for "+
			config.EnvName("retention")+"; bound its storage with the server's JetStream limits (max_file_store), "+
			"which refuse new events instead",
			zap.String("stream", want.Name), zap.Int64("max_msgs", cfg.MaxMsgs), zap.Int64("max_bytes", cfg.MaxBytes),
			zap.Int64("max_msgs_per_subject", cfg.MaxMsgsPerSubject), zap.Stringer("discard", cfg.Discard))
	}
	from := cfg
	cfg.Subjects, cfg.MaxAge, cfg.Duplicates = want.Subjects, want.MaxAge, want.Duplicates
	cfg.Retention, cfg.NoAck = want.Retention, want.NoAck
	if limited {
		cfg.MaxMsgs, cfg.MaxBytes, cfg.MaxMsgsPerSubject = -1, -1, -1
	}
	if sizeLimited {
		cfg.MaxMsgSize = want.MaxMsgSize
	}
	if transformed {
		cfg.SubjectTransform = nil
	}
	if idleLimited {
		cfg.ConsumerLimits.InactiveThreshold = 0
	}
	if marked {
		cfg.SubjectDeleteMarkerTTL = 0
	}
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		return false, fmt.Errorf("delivery: update stream %s (%s): %w", want.Name, streamChanges(from, cfg), err)
	}
	return false, nil
}

// deletingLimits reports whether cfg limits its messages, bytes or
// messages per subject (every event of one command has the same subject):
// under the discard-old policy (NATS's default) a stream at such a limit
// deletes its oldest messages to take new ones, processed or not, so events
// acknowledged to IM were lost without a word; under discard new a byte
// limit still does on nats-server 2.9, which checks it against the message
// without its stored overhead. The service's streams have none: the work
// stream is bounded by its max age (Options.Retention).
func deletingLimits(cfg jetstream.StreamConfig) bool {
	return cfg.MaxMsgs > 0 || cfg.MaxBytes > 0 || cfg.MaxMsgsPerSubject > 0
}

// idleLimited reports whether cfg gives its consumers an inactivity limit
// (consumer_limits.inactive_threshold, nats-server 2.10 and later): the
// server gives it to a consumer created or updated without one of its own,
// the service's durable consumer too, and deletes such a consumer once no
// pull came for that long (a stop, a pause). Created again by a process
// that read no acknowledgement floor, it starts at the stream's start, and
// every event the stream holds ran again. A limit below the event log's
// scans' own (a minute) also refused them.
func idleLimited(cfg jetstream.StreamConfig) bool {
	return cfg.ConsumerLimits.InactiveThreshold > 0
}

// sizeLimited reports whether cfg limits the size of a message that want
// takes whatever its size (MaxMsgSize -1: both streams). A dead letter is
// its event plus the Imcallback-Dead-* headers, and a replayed copy its
// event plus Imcallback-Replay-Of and a longer id: under such a limit (set
// alike on both streams) the letter of an event near it was refused on
// every try, and the event, given back each time, stayed in the work
// stream until its retention dropped it unprocessed; and a letter stored
// could not be replayed. The body limit and the server's max_payload bound
// an event, with room for both (deadLetterAllowance).
func sizeLimited(cfg, want jetstream.StreamConfig) bool {
	return want.MaxMsgSize < 0 && cfg.MaxMsgSize > 0
}

// streamChanges says which of the settings ensureStream brings in line
// differ between from and to, for the error of a refused update.
func streamChanges(from, to jetstream.StreamConfig) string {
	var out []string
	if !slices.Equal(from.Subjects, to.Subjects) {
		out = append(out, fmt.Sprintf("subjects %v to %v (%s)", from.Subjects, to.Subjects, config.EnvName("subject_prefix")))
	}
	if from.MaxAge != to.MaxAge {
		setting := config.EnvName("retention")
		if to.MaxAge == 0 {
			setting = "none for dead letters"
		}
		out = append(out, fmt.Sprintf("max age %v to %v (%s)", from.MaxAge, to.MaxAge, setting))
	}
	if from.Duplicates != to.Duplicates {
		out = append(out, fmt.Sprintf("duplicate window %v to %v (%s)", from.Duplicates, to.Duplicates, config.EnvName("dedup_window")))
	}
	if from.Retention != to.Retention {
		out = append(out, fmt.Sprintf("retention %v to %v", from.Retention, to.Retention))
	}
	if from.NoAck != to.NoAck {
		out = append(out, fmt.Sprintf("no_ack %v to %v", from.NoAck, to.NoAck))
	}
	if from.MaxMsgSize != to.MaxMsgSize {
		out = append(out, fmt.Sprintf("max_msg_size %d to none (a dead letter or a replayed copy is its event and more)", from.MaxMsgSize))
	}
	if from.SubjectTransform != nil && to.SubjectTransform == nil {
		out = append(out, fmt.Sprintf("subject transform %s to %s to none (it stores events where the consumer does not read)",
			from.SubjectTransform.Source, from.SubjectTransform.Destination))
	}
	if from.SubjectDeleteMarkerTTL > 0 && to.SubjectDeleteMarkerTTL == 0 {
		out = append(out, fmt.Sprintf("subject_delete_marker_ttl %v to none (its markers are no events)", from.SubjectDeleteMarkerTTL))
	}
	if idleLimited(from) && !idleLimited(to) {
		out = append(out, fmt.Sprintf("consumer_limits.inactive_threshold %v to none (it deletes the durable consumer while no worker pulls)",
			from.ConsumerLimits.InactiveThreshold))
	}
	if deletingLimits(from) && !deletingLimits(to) {
		out = append(out, fmt.Sprintf("max_msgs %d, max_bytes %d, max_msgs_per_subject %d to none (they delete events not processed yet)",
			from.MaxMsgs, from.MaxBytes, from.MaxMsgsPerSubject))
	}
	return strings.Join(out, ", ")
}
