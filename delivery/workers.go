package delivery

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/internal/panicsite"
	"github.com/imcallback/imcallback/internal/textcut"
	"github.com/imcallback/imcallback/tracing"
)

// errDeliveriesExhausted is the dead-letter reason of an event delivered
// once more than allowed without a result: its last attempt never reported
// back (a crash), or deliveries a per-command pause gave back were counted
// as attempts (this process was restarted meanwhile, or another replica
// gave them back), so the handler may not have run at all.
var errDeliveriesExhausted = errors.New("delivery limit reached without a result: the last attempt was interrupted before it reported, " +
	"or the deliveries of a per-command pause were counted as attempts after a restart or on another replica; replay it")

// errDeadLetterStored is the reason given when an event whose dead letter
// this process stored is delivered again (its termination was lost); the
// dead letter stored has the real one.
var errDeadLetterStored = errors.New("delivered again after its dead letter was stored: the termination was lost")

// maxErrorHeader bounds the error text kept in a dead letter.
const maxErrorHeader = 2048

// workers pull from the durable consumer and run the processor with at
// most Options.Workers handlers at once. They fetch only as many messages
// as they have free handler slots, so no message waits in a client-side
// buffer: everything delivered to this process is running.
type workers struct {
	s    *Service
	js   jetstream.JetStream
	nc   *nats.Conn // the connection js is on; nil under a test's own JetStream
	p    Processor
	opts Options
	log  *zap.Logger

	// streamCreated is the work stream's creation time when the consumer
	// was last opened, which the floors read from it are kept with.
	streamCreated time.Time
	// consumerCreated is the consumer's creation time when it was last
	// looked up.
	consumerCreated time.Time
	// ackWait is the consumer's ack wait as last read (nanoseconds): the
	// one the replica that set the shared consumer up last asked for.
	ackWait atomic.Int64

	slots    chan struct{} // one token per reserved or running handler
	handlers sync.WaitGroup
	loopDone chan struct{}
	stop     chan struct{} // closed when stopping starts

	// window reads the consumer's window when an attempt fails.
	window windowReader

	// fetchCtx ends a pending fetch and handlerCtx every handler run; both
	// are cancelled only when in-flight work outlives the shutdown timeout.
	fetchCtx      context.Context
	cancelFetch   context.CancelFunc
	handlerCtx    context.Context
	cancelHandler context.CancelFunc
	// lookupCtx ends the workers' own requests (opening the consumer,
	// reading its floor) as soon as stopping starts: they serve only the
	// fetches to come, and a server that takes requests and answers none
	// would otherwise hold the stop for their whole timeouts.
	lookupCtx    context.Context
	cancelLookup context.CancelFunc
}

// fetchWait is how long one fetch waits for messages; it bounds how late a
// freed slot is used and how long a stop waits for the pending fetch (with
// the way back of the server's answer that the pull ended).
const fetchWait = time.Second

// StartWorkers starts pulling stored events and running p on them. Call it
// after Start; StopWorkers (or Stop) ends them. After a restart of the
// embedded server they start again on the new connection.
func (s *Service) StartWorkers(p Processor) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conn == nil && s.stopSup == nil {
		return ErrNotStarted
	}
	// A set processor is started workers: running, paused (Resume starts
	// them again) or waiting for a restart of the embedded server.
	if s.workers != nil || s.proc != nil {
		return errors.New("delivery: workers already started")
	}
	s.proc = p
	if s.conn == nil {
		return nil // restarting: the restart starts them
	}
	return s.startWorkersLocked(p)
}

// startWorkersLocked starts the workers on the current connection.
// Callers hold s.mu.
func (s *Service) startWorkersLocked(p Processor) error {
	if s.workers != nil {
		return errors.New("delivery: workers already started")
	}
	fctx, cancelFetch := context.WithCancel(context.Background())
	hctx, cancelHandler := context.WithCancel(context.Background())
	lctx, cancelLookup := context.WithCancel(fctx)
	w := &workers{
		s: s, js: s.conn.JS, nc: s.conn.NC, p: p, opts: s.opts, log: s.log,
		slots:    make(chan struct{}, s.opts.Workers),
		loopDone: make(chan struct{}),
		stop:     make(chan struct{}),
		fetchCtx: fctx, cancelFetch: cancelFetch,
		handlerCtx: hctx, cancelHandler: cancelHandler,
		lookupCtx: lctx, cancelLookup: cancelLookup,
	}
	s.workers = w
	go w.run()
	s.log.Info("delivery workers started", zap.Int("workers", s.opts.Workers),
		zap.String("consumer", s.opts.Consumer), zap.Duration("handler_timeout", s.opts.HandlerTimeout))
	return nil
}

// ErrNoWorkers is returned by Pause and Resume when the workers were never started.
var ErrNoWorkers = errors.New("delivery: the workers are not started")

// Pause stops the workers, as StopWorkers does, for the minutes in which a
// broken handler is being fixed: callbacks keep being acknowledged and
// stored, and Resume starts the workers again on them. Pausing twice is
// no error: a pause while an earlier one (or a restart of the embedded
// server) still waits for its handlers returns once they have finished
// too, or ctx ends.
func (s *Service) Pause(ctx context.Context) error {
	s.mu.Lock()
	if s.proc == nil {
		s.mu.Unlock()
		return ErrNoWorkers
	}
	w, drained := s.retireLocked()
	s.paused = true
	s.mu.Unlock()
	if w == nil {
		return s.waitRetired(ctx)
	}
	defer drained()
	s.log.Info("delivery paused: events are stored, not processed, until resumed")
	return w.shutdown(ctx)
}

// retireLocked takes the running workers out of service for a Pause, a
// StopWorkers or a restart, which then stops them and calls drained once
// they have finished (or once their shutdown gave up on handlers that
// ignore their cancelled context). Until then StopWorkers and a restart of
// the embedded server wait for them (neither may close the connection
// under their handlers) and Resume too (no more than Options.Workers
// handlers run at once). With no workers running,
// w is nil and drained does nothing. Callers hold s.mu.
func (s *Service) retireLocked() (w *workers, drained func()) {
	w, s.workers = s.workers, nil
	if w == nil {
		return nil, func() {}
	}
	ch := make(chan struct{})
	s.drains = append(s.drains, ch)
	return w, func() {
		s.mu.Lock()
		s.drains = slices.DeleteFunc(s.drains, func(c chan struct{}) bool { return c == ch })
		s.mu.Unlock()
		close(ch)
	}
}

// waitRetired waits until the workers retired so far have finished, or ctx ends.
func (s *Service) waitRetired(ctx context.Context) error {
	s.mu.Lock()
	drains := slices.Clone(s.drains)
	s.mu.Unlock()
	for _, ch := range drains {
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("delivery: workers of a pause or restart still stopping: %w", ctx.Err())
		}
	}
	return nil
}

// Resume starts the workers Pause stopped, once those have finished their
// handlers (a wait bounded by Options.ShutdownTimeout). Resuming running
// workers is no error.
func (s *Service) Resume() error {
	// Each retired set's stop is bounded by ShutdownTimeout, so this ends;
	// a Pause between the wait and the lock retires more, hence the loop.
	for {
		_ = s.waitRetired(context.Background())
		s.mu.Lock()
		if len(s.drains) == 0 {
			break
		}
		s.mu.Unlock()
	}
	defer s.mu.Unlock()
	if s.proc == nil {
		return ErrNoWorkers
	}
	if !s.paused {
		return nil
	}
	s.paused = false
	s.log.Info("delivery resumed")
	if s.conn == nil {
		return nil // restarting: the restart starts them
	}
	return s.startWorkersLocked(s.proc)
}

// Paused reports whether Pause stopped the workers.
func (s *Service) Paused() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.paused
}

// StopWorkers stops fetching, lets the pending fetch end (what it delivers
// runs: it has slots) and waits for the running handlers, each of which
// acks or naks its message, for up to Options.ShutdownTimeout bounded by
// ctx. Past that, the fetch is abandoned and the handlers' contexts are
// cancelled: they nak, and their events are redelivered at once.
func (s *Service) StopWorkers(ctx context.Context) error {
	s.mu.Lock()
	// Retired as a Pause retires them, so that a restart of the embedded
	// server meanwhile waits for their handlers.
	w, drained := s.retireLocked()
	s.proc, s.paused = nil, false
	s.mu.Unlock()
	var err error
	if w != nil {
		err = w.shutdown(ctx)
	}
	drained()
	// Workers a Pause or a restart is stopping still have handlers running.
	return errors.Join(err, s.waitRetired(ctx))
}

func (w *workers) shutdown(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, w.opts.ShutdownTimeout)
	defer cancel()
	close(w.stop)
	w.cancelLookup()
	done := make(chan struct{})
	go func() {
		<-w.loopDone
		w.handlers.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		w.log.Warn("shutdown timeout: cancelling the handlers still running; their events are redelivered")
		w.cancelFetch() // first: the fetch is abandoned, and what its pull still delivers (the naks below too) given back past its end
		w.cancelHandler()
		// A handler that ignores its context cannot be waited for forever.
		select {
		case <-done:
		case <-time.After(time.Second):
			err = errors.New("delivery: handlers still running after the shutdown timeout")
		}
	}
	w.cancelFetch()
	w.cancelHandler()
	w.log.Info("delivery workers stopped")
	return err
}

// run fetches until stop, reopening the consumer when it is lost, e.g.
// deleted by an operator or on a new server; a lost consumer or stream the
// supervisor sets up again.
func (w *workers) run() {
	defer close(w.loopDone)
	var cons jetstream.Consumer
	var noted time.Time // when noteFloor last asked the server
	failing := false    // log an outage once, and its end
	fail := func(msg string, err error) {
		if !failing {
			w.log.Error(msg+"; retrying every "+w.opts.RetryWait.String(), zap.String("consumer", w.opts.Consumer), zap.Error(explainDown(err)))
		}
		failing = true
		w.pause()
	}
	for {
		if w.stopping() {
			return
		}
		if cons == nil {
			var err error
			if cons, err = w.consumer(); err != nil {
				if w.stopping() {
					return // the stop ended the lookup
				}
				fail("cannot open the consumer", err)
				continue
			}
			w.window.use(cons)
		}
		n := w.reserve()
		if n == 0 {
			return // stopping
		}
		err := w.fetch(cons, n)
		switch {
		case err == nil:
			if failing {
				w.log.Info("consuming again", zap.String("consumer", w.opts.Consumer))
				failing = false
			}
			if w.noteFloor(cons, &noted) {
				w.log.Warn("the consumer is gone, or not the one opened (created again); opening it again", zap.String("consumer", w.opts.Consumer))
				cons = nil
			}
		case w.stopping() && errors.Is(err, context.Canceled):
			return
		default:
			// Reopen the consumer on any failure: deleted while no fetch was
			// waiting, it is a "no responders" error, not ErrConsumerDeleted,
			// and the old handle would fail for good. Reopening is one lookup,
			// and asks the supervisor to set it up again when it is gone.
			cons = nil
			fail("fetch failed", err)
		}
	}
}

func (w *workers) stopping() bool {
	select {
	case <-w.stop:
		return true
	default:
		return false
	}
}

// pause waits RetryWait, or less if stopping starts.
func (w *workers) pause() {
	t := time.NewTimer(w.opts.RetryWait)
	defer t.Stop()
	select {
	case <-w.stop:
	case <-t.C:
	}
}

// consumer opens the consumer. A missing consumer or work stream is not
// the workers' to create: they ask the supervisor, and try again after
// RetryWait. The server takes a deleted consumer or stream out of its
// lookups before it removes its files, so one found missing may be one
// whose deletion is still under way, and one created at once under its
// name had its files removed with the old one's: a stream then refused
// every write ("no such file or directory"), a consumer every update of
// its settings, and kept no state across a restart of the server. The
// supervisor creates it at a check after the one that found it missing,
// at least kickGap later (sightings).
func (w *workers) consumer() (jetstream.Consumer, error) {
	ctx, cancel := context.WithTimeout(w.lookupCtx, 10*time.Second)
	defer cancel()
	c, err := w.js.Consumer(ctx, w.opts.Stream, w.opts.Consumer)
	if errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrStreamNotFound) {
		w.s.kickSupervisor()
		return nil, fmt.Errorf("%w; waiting for the supervisor to set it up again", err)
	}
	if err != nil {
		return nil, err
	}
	st, err := w.js.Stream(ctx, w.opts.Stream)
	if err != nil {
		return nil, err
	}
	w.streamCreated = st.CachedInfo().Created
	// A consumer created again (by the supervisor or another replica) counts every
	// event's deliveries from 1: the deliveries given back to the old one
	// no longer come off that count.
	w.consumerCreated = c.CachedInfo().Created
	w.ackWait.Store(int64(c.CachedInfo().Config.AckWait))
	w.s.holds.opened(w.consumerCreated)
	return c, nil
}

// reserve blocks until a handler slot is free and takes every free slot;
// it returns 0 once stopping.
func (w *workers) reserve() int {
	select {
	case w.slots <- struct{}{}:
	case <-w.stop:
		return 0
	}
	n := 1
	for n < cap(w.slots) {
		select {
		case w.slots <- struct{}{}:
			n++
		default:
			return n
		}
	}
	return n
}

func (w *workers) release(n int) {
	for range n {
		<-w.slots
	}
}

// fetch asks for up to n messages, each of which takes one reserved slot
// and runs at once; the slots left unused are released.
//
// The pull waits fetchWait at the server, and the fetch until the server
// says it ended (or a second more): under a deadline of the client's own
// (nats.go's FetchContext gives the server 90 % of it) a message the
// server delivered in the pull's last tenth of a second was still on its
// way when the fetch gave up. It was delivered to no one, and came back
// only after the ack wait, its delivery counted as an attempt: with 200 ms
// between the service and its NATS server, one event in ten. Once the
// shutdown timeout has passed, the fetch is abandoned, and what the pull
// still delivers is given back (giveBackLate).
func (w *workers) fetch(cons jetstream.Consumer, n int) error {
	if err := fetchable(w.nc); err != nil {
		w.release(n)
		return err
	}
	batch, err := cons.Fetch(n, jetstream.FetchMaxWait(fetchWait))
	if err != nil {
		w.release(n)
		return err
	}
	used := 0
	msgs := batch.Messages()
	for {
		select {
		case msg, ok := <-msgs:
			if !ok {
				w.release(n - used)
				return batch.Error() // nil when the pull ended: FetchMaxWait sets no deadline of the client's own
			}
			used++
			w.handlers.Add(1)
			go w.handle(msg)
		case <-w.fetchCtx.Done():
			w.release(n - used)
			go w.giveBackLate(msgs)
			return w.fetchCtx.Err()
		}
	}
}

// giveBackLate gives back what an abandoned fetch still delivers, until it
// ends (at most a second after fetchWait), delayed past the pull's end so
// that it goes to another replica's pull (or the next start), not to this
// one again; not an attempt if this process delivers it again. Left
// unread, each waited for the ack wait.
func (w *workers) giveBackLate(msgs <-chan jetstream.Msg) {
	for msg := range msgs {
		if md, err := msg.Metadata(); err == nil {
			w.s.holds.giveBack(md.Sequence.Stream)
		}
		_ = msg.NakWithDelay(2 * fetchWait)
	}
}

// handle processes one delivery; see the package documentation for the order.
func (w *workers) handle(msg jetstream.Msg) {
	defer w.handlers.Done()
	defer func() { <-w.slots }()
	md, err := msg.Metadata()
	if err != nil {
		w.log.Error("message without JetStream metadata; terminated", zap.String("subject", msg.Subject()), zap.Error(err))
		w.term(msg)
		return
	}
	command := msg.Headers().Get(HeaderCommand)
	if w.s.holds.hold(command, md.Sequence.Stream) {
		w.nak(msg, w.opts.HoldRecheck) // its command is paused: offered again later, not an attempt
		return
	}
	md = w.s.attempts(md)
	// The last attempt's error, kept when its dead letter could not be
	// stored: the event is owed its dead-lettering, not another attempt,
	// however the server counts its deliveries now (a consumer created
	// again, or its state rolled back by a restart of the embedded server
	// after a full disk, counts from 1). An event shed from a full window
	// keeps its attempts.
	reason := w.s.holds.reason(md.Sequence.Stream, md.Timestamp)
	var shed *errWindowFull
	owed := reason != nil && !errors.As(reason, &shed)
	if owed || md.NumDelivered > uint64(w.opts.MaxDeliveries) {
		if reason == nil { // that attempt was cut short (a crash)
			reason = errDeliveriesExhausted
		}
		w.deadLetter(msg, md, command, reason, w.storedJoined(msg.Headers())...)
		return
	}
	if w.s.holds.deadLettered(md.Sequence.Stream, md.Timestamp) {
		// This process stored its dead letter (a permanent error, a full
		// window: before its last attempt) and the termination was lost.
		// Running the handler again could apply an event that stays listed
		// as dead and that a replay would apply once more: it is
		// terminated, its dead letter a duplicate, not counted again.
		w.deadLetter(msg, md, command, errDeadLetterStored, w.storedJoined(msg.Headers())...)
		return
	}
	req, err := Decode(msg.Headers(), msg.Data())
	if err != nil {
		w.s.metrics.processed.WithLabelValues(command, outcomeUndecodable).Inc()
		w.deadLetter(msg, md, command, err, w.storedJoined(msg.Headers())...)
		return
	}
	ctx := w.handlerCtx
	var span trace.Span
	if t := w.opts.Tracer; t.Enabled() {
		// A child of the append's span, from the message headers: one trace
		// from IM's request to each delivery, on whichever replica.
		ctx, span = t.Start(t.Extract(ctx, http.Header(msg.Headers())), "imcallback.deliver",
			tracing.KindConsumer, trace.WithAttributes(tracing.AttrCommand.String(req.Command),
				tracing.AttrSeq.Int64(int64(md.Sequence.Stream)), tracing.AttrDelivery.Int64(int64(md.NumDelivered)), tracing.AttrDestination.String(req.Target)))
		defer span.End()
	}
	hctx, cancel := context.WithTimeout(ctx, w.opts.HandlerTimeout)
	overrun := w.keepWhileRunning(msg, req.Command, md.Sequence.Stream)
	returned := false
	defer func() {
		if returned {
			return
		}
		// The handler ended this goroutine with runtime.Goexit (t.FailNow
		// in a program's test, say) instead of returning: a failed
		// attempt, settled here as the goroutine ends. Before, its
		// in-progress notices went on for good, so the event was never
		// delivered again nor dead-lettered.
		overrun()
		cancel()
		w.settle(ctx, msg, md, req, span, errHandlerExited, false)
	}()
	err = processRecovered(hctx, w.p, req)
	returned = true
	overrun()
	// Cut short by this process's stop (its shutdown timeout ran out), not
	// by the handler's own deadline, which passed first if it did.
	interrupted := w.handlerCtx.Err() != nil && !errors.Is(hctx.Err(), context.DeadlineExceeded)
	cancel()
	w.settle(ctx, msg, md, req, span, err, interrupted)
}

// errHandlerExited is the error of a run whose handler ended its goroutine
// with runtime.Goexit instead of returning.
var errHandlerExited = errors.New("delivery: the handler's goroutine exited without returning (runtime.Goexit)")

// settle counts, logs and acknowledges, retries or dead-letters the run
// of msg's handler that ended with err (interrupted: cut short by the
// stop); ctx holds the delivery's span, span itself (nil without tracing).
func (w *workers) settle(ctx context.Context, msg jetstream.Msg, md *jetstream.MsgMetadata, req *dispatcher.Request,
	span trace.Span, err error, interrupted bool) {
	// count counts the run under outcome, which its span names too. The
	// span is failed with the handler's error, but for an event nobody
	// handles: acknowledged, as the metric and the log say, nothing failed.
	count := func(outcome string) {
		w.s.metrics.processed.WithLabelValues(req.Command, outcome).Inc()
		if span != nil {
			span.SetAttributes(tracing.AttrOutcome.String(outcome))
			if outcome != outcomeNoHandler {
				tracing.Fail(span, err)
			}
		}
	}
	fields := func(extra ...zap.Field) []zap.Field {
		f := append([]zap.Field{zap.String("command", req.Command), zap.Uint64("seq", md.Sequence.Stream),
			zap.Uint64("delivery", md.NumDelivered), zap.String("request_id", req.RequestID)}, tracing.LogFields(ctx)...)
		return append(f, extra...)
	}
	// joined are the fields that join a dead-letter line to this delivery,
	// as fields joins its other lines: the request id and the trace.
	joined := func() []zap.Field {
		return append([]zap.Field{zap.String("request_id", req.RequestID)}, tracing.LogFields(ctx)...)
	}
	switch {
	case err == nil:
		count(outcomeOK)
		w.ack(msg)
	case errors.Is(err, dispatcher.ErrDecode):
		// The body will never fit the payload type: retrying cannot help.
		count(outcomeUndecodable)
		w.deadLetter(msg, md, req.Command, err, joined()...)
	case errors.Is(err, dispatcher.ErrUnroutable):
		// The copy's destination is not configured: dead-lettered at once,
		// replayable once it is back.
		count(outcomeError)
		w.deadLetter(msg, md, req.Command, err, joined()...)
	case errors.Is(err, dispatcher.ErrPermanent):
		// The handler (a forward destination's refusal, say) says the
		// same event fails on every attempt: dead-lettered at once,
		// replayable once the cause is fixed.
		count(outcomeError)
		w.deadLetter(msg, md, req.Command, err, joined()...)
	case errors.Is(err, dispatcher.ErrNoHandler):
		count(outcomeNoHandler)
		w.log.Warn("stored event has no after-handler; acknowledged", fields()...)
		w.ack(msg)
	case interrupted:
		// Not a failed attempt: the stop cut it short. The delivery is
		// counted as given back, as a paused command's are, so that its
		// next delivery in this process (after a Pause and Resume, or a
		// restart of the embedded server) still has this attempt to make.
		count(outcomeInterrupted)
		w.s.holds.giveBack(md.Sequence.Stream)
		w.log.Warn("handler cut short by shutdown; given back for redelivery, not counted as an attempt if this process delivers it again",
			fields(zap.Error(err))...)
		w.nak(msg, 0)
	case md.NumDelivered >= uint64(w.opts.MaxDeliveries):
		count(outcomeError)
		w.deadLetter(msg, md, req.Command, err, joined()...)
	default:
		count(outcomeError)
		if st, ok := w.window.read(w.handlerCtx); ok && st.shed() {
			w.deadLetter(msg, md, req.Command, &errWindowFull{err: err, state: st}, joined()...)
			return
		}
		w.s.metrics.retries.WithLabelValues(req.Command).Inc()
		delay := w.opts.retryDelay(md.NumDelivered, err)
		w.log.Warn("handler failed; redelivering after the backoff", fields(zap.Duration("backoff", delay), zap.Error(err))...)
		w.nak(msg, delay)
	}
}

// processRecovered runs p on r, turning a panic into an error wrapping
// dispatcher.ErrPanic that names where it was raised (panicsite.Error):
// a failed attempt, retried with the backoff. The
// dispatcher recovers its handlers' panics itself; a Processor of the
// program's own would otherwise end the process, every other running
// handler cut short with it, and on each replica the event came to next.
func processRecovered(ctx context.Context, p Processor, r *dispatcher.Request) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = panicsite.Error(dispatcher.ErrPanic, v)
		}
	}()
	return p.Process(ctx, r)
}

// overrunGrace is how long past its deadline a handler may take to return
// before keepWhileRunning takes it for one that ignores its context; the
// ack wait leaves 5 s after the deadline.
const overrunGrace = 2 * time.Second

// keepWhileRunning keeps msg from being redelivered while its handler runs
// past its deadline (a handler that ignores its context), or past a
// shorter ack wait than this service's (noticeEvery): it tells the server
// every noticeEvery, from the first one on, that the message is still in
// progress, and warns once the handler runs past its deadline.
// Without it the ack wait would run out under the running handler and the
// event would run a second time at once, here or on another replica, with
// a delivery counted as an attempt while the first still runs. The
// returned stop ends it; call it when the handler returned.
func (w *workers) keepWhileRunning(msg jetstream.Msg, command string, seq uint64) (stop func()) {
	var (
		mu      sync.Mutex
		stopped bool
		t       *time.Timer
	)
	started := time.Now()
	warned := false
	var tick func()
	tick = func() {
		mu.Lock()
		defer mu.Unlock()
		if stopped {
			return
		}
		if !warned && time.Since(started) >= w.opts.HandlerTimeout {
			warned = true
			w.log.Warn("handler still running past its deadline (it ignores its context); its event is kept from redelivery until it returns",
				zap.String("command", command), zap.Uint64("seq", seq), zap.Duration("handler_timeout", w.opts.HandlerTimeout))
		}
		next := w.noticeEvery()
		if err := msg.InProgress(); err != nil {
			// Tried again soon: a whole period later, the ack wait would run
			// out and the event be delivered again under the running handler.
			next = noticeRetry(next)
			w.log.Debug("in-progress notice failed; trying again", zap.Uint64("seq", seq),
				zap.Duration("in", next), zap.Error(err))
		}
		t.Reset(next)
	}
	mu.Lock()
	t = time.AfterFunc(w.noticeEvery(), tick)
	mu.Unlock()
	return func() {
		mu.Lock()
		defer mu.Unlock()
		stopped = true
		t.Stop()
	}
}

// noticeEvery is how often keepWhileRunning tells the server that a
// message is in progress: HandlerTimeout + overrunGrace under the ack wait
// this service sets, so only a handler past its deadline sends any. The
// consumer is shared, and its ack wait is the one the replica that set it
// up last asked for: under a shorter one (a rolling update that lowers
// IMCALLBACK_HANDLER_TIMEOUT, the replicas still on the old value) a
// handler within its own deadline would outlive it, so the notices come
// every third of it: a notice late by up to two thirds of the ack wait (a
// process starved of CPU, a long pause) still comes before it runs out.
// Sent 3 s before it ran out, one late by 3 s let the event run a second
// time.
func (w *workers) noticeEvery() time.Duration {
	own := w.opts.HandlerTimeout + overrunGrace
	ackWait := time.Duration(w.ackWait.Load())
	if ackWait <= 0 || ackWait >= w.opts.ackWait() {
		return own
	}
	return max(ackWait/3, minNoticeEvery)
}

// minNoticeEvery bounds how often in-progress notices are sent under an
// ack wait set far too short by hand.
const minNoticeEvery = 100 * time.Millisecond

// noticeRetry is how soon a failed in-progress notice is sent again, when
// notices are sent every every: a quarter of it, at most a second, so that
// a few tries fit in what the ack wait leaves after a notice is due (3 s
// of this service's own, two thirds of a shorter one).
func noticeRetry(every time.Duration) time.Duration {
	return max(min(every/4, time.Second), minNoticeEvery)
}

// storedJoined are the fields that join a dead-letter line written before
// a delivery's span starts (its deliveries used up, its headers not
// decoding) to the request that stored the event, from the message
// headers h: the request id, and with tracing the id of the trace the
// append's span put there (sampled, as tracing.LogFields requires). No
// span_id: no span of this delivery exists for the line to name.
func (w *workers) storedJoined(h nats.Header) []zap.Field {
	f := []zap.Field{zap.String("request_id", h.Get(HeaderRequestID))}
	if t := w.opts.Tracer; t.Enabled() {
		sc := trace.SpanContextFromContext(t.Extract(context.Background(), http.Header(h)))
		if sc.IsValid() && sc.IsSampled() {
			f = append(f, zap.String("trace_id", sc.TraceID().String()))
		}
	}
	return f
}

// deadLetter copies the message to the dead-letter stream with the reason,
// then terminates it in the work stream. If the copy cannot be stored the
// message is nakked instead: it stays in the work stream, and the spare
// delivery retries the dead-lettering. joined are added to its log lines:
// the request id and trace of the delivery that dead-letters the event.
func (w *workers) deadLetter(msg jetstream.Msg, md *jetstream.MsgMetadata, command string, reason error, joined ...zap.Field) {
	dl := deadLetterMsg(&w.opts, msg.Subject(), msg.Headers(), msg.Data(), md, reason)
	tried := time.Now()
	// A letter an earlier failed write stored is a duplicate, whether the
	// window still says so (ack.Duplicate) or not any more (found).
	found, err := w.storedEarlier(md, dl, errors.Is(reason, errDeliveriesExhausted))
	lookupFailed := err != nil // nothing was written
	duplicate := found
	if err == nil && !found {
		ctx, cancel := context.WithTimeout(context.Background(), w.opts.PublishTimeout)
		var ack *jetstream.PubAck
		ack, err = w.js.PublishMsg(ctx, dl)
		cancel()
		duplicate = err == nil && ack.Duplicate
	}
	fields := append([]zap.Field{zap.String("command", command), zap.Uint64("seq", md.Sequence.Stream),
		zap.Uint64("deliveries", md.NumDelivered), zap.String("reason", reason.Error())}, joined...)
	if err != nil {
		next := "its dead-lettering is retried"
		if full := (*errWindowFull)(nil); errors.As(reason, &full) {
			next = "it is attempted again" // shed from a full window: its next delivery runs the handler (doc.go)
		}
		what := "cannot store the dead letter; the event stays in the work stream and " + next
		if lookupFailed {
			// Not a failed write: none was tried. The line still begins as a
			// write's does, the one the alert on the failures sends to.
			what = "cannot store the dead letter: the dead-letter stream could not be read for a copy an earlier " +
				"write may have stored, so none was written; the event stays in the work stream and " + next
		}
		w.log.Error(what, append(fields, zap.Error(err))...)
		w.s.metrics.deadFailed.WithLabelValues(command).Inc()
		failures := w.s.holds.keepReason(md.Sequence.Stream, md.Timestamp, tried, reason)
		w.s.kickSupervisor() // the dead-letter stream may be gone: the supervisor sets it up again
		// The backoff starts again from its first delay, not the last
		// delivery's: the supervisor sets the stream up again within seconds,
		// and a retry after the last delay (10 minutes by default, the
		// duplicate window's default) could store a second dead letter when
		// the first write was stored but timed out. A write that keeps
		// failing (a full disk) backs off as a failing handler does.
		w.nak(msg, w.opts.backoff(uint64(failures)))
		return
	}
	if duplicate && (w.s.holds.reason(md.Sequence.Stream, md.Timestamp) == nil ||
		w.s.holds.deadLettered(md.Sequence.Stream, md.Timestamp)) {
		// Stored, counted and logged by an earlier delivery whose
		// termination was lost, or stored by another process (or before a
		// restart) whose write timed out, and counted by none: the two
		// cannot be told apart. (One whose write failed here, kept a reason,
		// may have been stored all the same: its acknowledgement timed out.
		// That one was not counted, and is below, unless it was the
		// duplicate of a letter this process stored and marked: counted
		// then.)
		w.log.Info("event already dead-lettered; terminating it", fields...)
		w.term(msg)
		w.s.holds.markDead(md.Sequence.Stream, md.Timestamp)
		return
	}
	w.s.metrics.dead.WithLabelValues(command).Inc()
	if full := (*errWindowFull)(nil); errors.As(reason, &full) {
		w.log.Error("event dead-lettered without waiting for its retry: the consumer's window is three quarters full",
			append(fields, zap.Int("held", full.state.held), zap.Int("window", full.state.limit))...)
	} else if errors.Is(reason, dispatcher.ErrPermanent) || errors.Is(reason, dispatcher.ErrDecode) ||
		errors.Is(reason, dispatcher.ErrUnroutable) || errors.Is(reason, ErrUndecodable) {
		w.log.Error("event dead-lettered at once: retrying cannot help", fields...)
	} else {
		w.log.Error("event dead-lettered after its last delivery", fields...)
	}
	w.term(msg)
	w.s.holds.markDead(md.Sequence.Stream, md.Timestamp)
}

// storedEarlier reports whether the dead-letter stream holds dl, the dead
// letter of the event md describes, stored by an earlier write that failed
// (its acknowledgement timed out) longer than Options.DedupWindow ago: a
// publish of dl would then be no duplicate and store a second letter of
// the event, which a replay of the dead letters would apply twice. It
// reads only letters of dl's subject (the event's app and command), and
// only in two cases:
//   - a write of this process failed that long ago (a dead-letter stream
//     unwritable for longer than the window): those stored since that
//     write, from a window before it, for a server clock behind this
//     process's, but not before the event itself was stored;
//   - exhausted: the event is delivered past its last attempt, and this
//     process tried no write of its letter (the attempt cut off by a crash,
//     or the letter's write failed in another process: another replica, or
//     this service before a restart, which may have been down for longer
//     than the window since): those stored since the event. Once a write
//     (or this read) failed here, the first case applies: a read that
//     cannot end in time does not keep the event from its dead letter.
//
// A delivery past the last attempt is rare; no other delivery reads. A
// letter is the event's when its Nats-Msg-Id (the event's stream, sequence
// and time) and work-stream sequence are dl's.
func (w *workers) storedEarlier(md *jetstream.MsgMetadata, dl *nats.Msg, exhausted bool) (bool, error) {
	first, ok := w.s.holds.firstFailure(md.Sequence.Stream, md.Timestamp)
	since := md.Timestamp
	switch {
	case !ok && exhausted:
		// Read from the event: a write of another process may be older than the window.
	case !ok || time.Since(first) < w.opts.DedupWindow:
		return false, nil // no write failed, or the window still catches a repeat of it
	default:
		if f := first.Add(-w.opts.DedupWindow); f.After(since) {
			since = f
		}
	}
	id := dl.Header.Get(jetstream.MsgIDHeader)
	e := &Events{js: w.js, nc: w.nc, opts: w.opts, log: w.log}
	ctx, cancel := context.WithTimeout(w.handlerCtx, storedEarlierTimeout)
	defer cancel()
	errFound := errors.New("the letter is stored") // ends the read at the first match
	err := e.scan(ctx, w.opts.DeadStream(), dl.Subject, scanRange{since: since}, func(m jetstream.Msg, _ *jetstream.MsgMetadata) error {
		if h := m.Headers(); h.Get(jetstream.MsgIDHeader) == id && deadOrigOf(h) == md.Sequence.Stream {
			return errFound
		}
		return nil
	})
	switch {
	case errors.Is(err, errFound):
		return true, nil
	case err != nil:
		return false, fmt.Errorf("looking for the letter a failed write may have stored: %w", err)
	}
	return false, nil
}

// storedEarlierTimeout bounds storedEarlier's read of the dead-letter stream.
const storedEarlierTimeout = 10 * time.Second

// deadLetterMsg is the dead letter of a work-stream message: the original
// body and headers plus the reason, the delivery count and the original
// location. Its Nats-Msg-Id (the message's stream, sequence and time) makes
// a repeated dead-lettering of one message a duplicate.
func deadLetterMsg(o *Options, subject string, h nats.Header, data []byte, md *jetstream.MsgMetadata, reason error) *nats.Msg {
	dh := copyHeaders(h, len(h)+8)
	origID := h.Get(jetstream.MsgIDHeader)
	// The stored message's time too: a recreated work stream numbers from 1
	// again, and its event at an old sequence must not pass for the dead
	// letter already stored (a duplicate, then terminated, lost).
	dh[jetstream.MsgIDHeader] = []string{fmt.Sprintf("%s:%d:%d:dead", md.Stream, md.Sequence.Stream, md.Timestamp.UnixNano())}
	dh[jetstream.ExpectedStreamHeader] = []string{o.DeadStream()}
	dh[HeaderDeadError] = []string{headerValue(textcut.Cut(reason.Error(), maxErrorHeader))}
	dh[HeaderDeadDeliveries] = []string{strconv.FormatUint(md.NumDelivered, 10)}
	dh[HeaderDeadStream] = []string{md.Stream}
	dh[HeaderDeadSeq] = []string{strconv.FormatUint(md.Sequence.Stream, 10)}
	dh[HeaderDeadSubject] = []string{subject}
	dh[HeaderDeadMsgID] = []string{origID}
	dh[HeaderDeadAt] = []string{time.Now().UTC().Format(time.RFC3339Nano)}
	return &nats.Msg{Subject: o.DeadPrefix() + strings.TrimPrefix(subject, o.SubjectPrefix), Header: dh, Data: data}
}

// copyHeaders is a copy of a stored message's headers h for the dead
// letter published from it, with room for size headers, without NATS's
// own (Nats-*): the stored message keeps the conditions and instructions it
// was published with (Nats-Expected-Last-Sequence, Nats-Expected-Last-Msg-Id,
// Nats-Rollup, Nats-TTL…), which held for that publish, not this one.
// Carried over, a condition made the dead-letter stream refuse every try of
// the letter. The letter's own Nats-Msg-Id and Nats-Expected-Stream are the
// caller's to set.
func copyHeaders(h nats.Header, size int) nats.Header {
	c := make(nats.Header, size)
	for k, v := range h {
		if len(k) >= len(natsHeaderPrefix) && strings.EqualFold(k[:len(natsHeaderPrefix)], natsHeaderPrefix) {
			continue
		}
		c[k] = v
	}
	return c
}

// natsHeaderPrefix starts the headers NATS reads (in any case).
const natsHeaderPrefix = "Nats-"

func (w *workers) ack(msg jetstream.Msg) {
	w.forget(msg)
	if err := msg.Ack(); err != nil {
		w.log.Warn("ack failed; the event will be redelivered", zap.String("subject", msg.Subject()), zap.Error(err))
	}
}

// nak asks for redelivery after delay. It always sends a delay, at least
// a millisecond: the server persists a delayed nak in the consumer state,
// while a plain nak lives in memory only and, across a restart of the
// embedded server, would leave the event waiting out the whole ack wait.
func (w *workers) nak(msg jetstream.Msg, delay time.Duration) {
	if err := msg.NakWithDelay(max(delay, time.Millisecond)); err != nil {
		w.log.Warn("nak failed; the event will be redelivered after the ack wait", zap.String("subject", msg.Subject()), zap.Error(err))
	}
}

func (w *workers) term(msg jetstream.Msg) {
	w.forget(msg)
	if err := msg.Term(); err != nil {
		w.log.Warn("term failed; the event will be redelivered and dead-lettered again (deduplicated)",
			zap.String("subject", msg.Subject()), zap.Error(err))
	}
}
