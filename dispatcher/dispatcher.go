package dispatcher

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/imcallback/imcallback/internal/logevery"
	"github.com/imcallback/imcallback/metrics"
	"github.com/imcallback/imcallback/middleware"
	"github.com/imcallback/imcallback/protocol"
	"github.com/imcallback/imcallback/tracing"
)

// AfterSink takes verified after-callbacks. Accept returns nil once the
// event is stored durably; any error means it is not, and the request is
// answered 503 so that nothing unstored is acknowledged, or, for an error
// wrapping protocol.ErrBodyTooLarge or protocol.ErrHeaderTooLarge (an event
// the store can never hold), 413 or 431. A durable sink runs
// the handlers later through Dispatcher.Process.
type AfterSink interface {
	Accept(ctx context.Context, r *Request) error
}

// ErrPanic wraps a panic recovered from a handler; the error says the
// panic's value and the function and file:line that raised it.
var ErrPanic = errors.New("dispatcher: handler panicked")

// ErrNoHandler is returned by Process for a command nobody registered.
var ErrNoHandler = errors.New("dispatcher: no handler registered")

// ErrUnroutable is returned by Process (and a Forwarder's Deliver) for a
// stored copy whose destination is no longer configured: retrying cannot
// help, so durable delivery dead-letters it at once; replay it once the
// destination is back.
var ErrUnroutable = errors.New("dispatcher: the copy's forward destination is not configured")

// ErrPermanent marks an after-handler's (or a Forwarder Deliver's) error
// that retrying cannot help: durable delivery dead-letters the event at
// once, with that error, instead of retrying it with the backoff. Wrap it
// (fmt.Errorf("...: %w", ErrPermanent), or an Is method) only for a
// failure that the same event will meet on every attempt; the dead letter
// is replayed once the cause is fixed. Inline, it fails the request as any
// error does.
var ErrPermanent = errors.New("dispatcher: retrying cannot help")

// Options configure a Dispatcher.
type Options struct {
	// BeforeTimeout is the deadline of a before-handler.
	BeforeTimeout time.Duration
	// Fallback is sent when a before-handler fails, panics, misses its
	// deadline or answers reply fields that cannot be encoded, unless the
	// command carries its own (WithFallback). It is an allow (0) or a deny
	// (1) without reply fields, which every command accepts; New refuses
	// anything else, a DenyWithCode(0) (a refusal with an allow's code)
	// included.
	Fallback Decision
	// Rules are the accepted answers per before-command (catalogue.Rules);
	// nil knows no custom codes or drops.
	Rules Rules
	// Sink takes after-callbacks; nil runs them inline.
	Sink AfterSink
	// Forwarder sends the commands it takes to HTTP destinations; nil
	// forwards nothing.
	Forwarder Forwarder
	// Tracer records a span per before-handler and per after-handler run
	// inline; nil records none.
	Tracer *tracing.Tracer
	// InlineTimeout is the deadline of an after-handler run inline (no
	// Sink); zero is BeforeTimeout. A failure or a missed deadline is
	// answered 503.
	InlineTimeout time.Duration
	// MaxInFlight bounds the handlers running inside requests at once
	// (before-handlers, and after-handlers run inline), counting those still
	// running past their deadline (a handler that ignores its context keeps
	// its goroutine). Beyond it a before-callback gets the fallback at once
	// and an inline after-callback is answered 503. Zero means no bound.
	MaxInFlight int
}

// Dispatcher routes callbacks to commands.
type Dispatcher struct {
	inFlight       chan struct{} // one token per running before-handler; nil: unbounded
	overloadLogged atomic.Int64  // unix second of the last "too many" log line
	commands       map[string]Command
	series         map[string]*commandSeries
	opts           Options
	log            *zap.Logger
	metrics        *metrics.Callbacks
	unknown        unknownCommands
	// failures holds the line of each command's before-handler failures
	// back to one per failureLogEvery per cause. Its keys are bounded: the
	// registered commands, by the causes of failureCause and
	// "not_accepted" (a decision the protocol does not take).
	failures logevery.Lines[[2]string]
	running  runningHandlers
}

// commandSeries are one command's metric series, looked up once at start
// rather than hashed from label values on every request.
type commandSeries struct {
	duration prometheus.Observer
	outcomes map[string]map[string]prometheus.Counter // by app label, then outcome
}

// outcomesOf lists the outcome label values a command of each kind can produce.
var outcomesOf = map[Kind][]string{
	KindBefore: {"allow", "deny", "drop", "modify", "fallback", "overloaded"},
	KindAfter:  {"ok", "failed", "queued", "unavailable"},
}

func newCommandSeries(m *metrics.Callbacks, name string, kind Kind) *commandSeries {
	s := &commandSeries{duration: m.Duration.WithLabelValues(name, kind.String()), outcomes: map[string]map[string]prometheus.Counter{}}
	for _, app := range m.AppLabels() {
		s.outcomes[app] = map[string]prometheus.Counter{}
		for _, o := range outcomesOf[kind] {
			s.outcomes[app][o] = m.Total.WithLabelValues(name, app, o)
		}
	}
	return s
}

// count counts a handled callback's outcome and records it for the access
// log and the recent list.
func (d *Dispatcher) count(c echo.Context, r *Request, outcome string) {
	d.series[r.Command].outcomes[d.metrics.AppLabel(r.Params.SdkAppid)][outcome].Inc()
	middleware.SetOutcome(c, outcome)
}

// New builds a dispatcher over commands. A nil command, a nil handler
// func, two commands with the same name or with names that differ only in
// case (a Forwarder's commands included, and one it lists twice), an empty
// name, an invalid kind or a fallback (WithFallback) on an after-command
// are programming errors reported here, at start, as are nil metrics: m is
// required (metrics.NewCallbacks). A nil log logs nothing.
func New(commands []Command, opts Options, log *zap.Logger, m *metrics.Callbacks) (*Dispatcher, error) {
	if m == nil {
		return nil, fmt.Errorf("dispatcher: the metrics are nil: pass the *metrics.Callbacks of metrics.NewCallbacks")
	}
	if log == nil {
		log = zap.NewNop()
	}
	if opts.BeforeTimeout <= 0 {
		return nil, fmt.Errorf("dispatcher: BeforeTimeout must be positive")
	}
	if opts.InlineTimeout <= 0 {
		opts.InlineTimeout = opts.BeforeTimeout
	}
	if fb := opts.Fallback; fb.Code != CodeAllow && fb.Code != CodeDeny || fb.Reply != nil {
		// A drop, a custom code or reply fields fit some commands only; a
		// command's own WithFallback can carry them.
		return nil, fmt.Errorf("dispatcher: Options.Fallback must be an allow (0) or a deny (1) without reply fields, got code %d", fb.Code)
	}
	if fb := opts.Fallback; fb.refusal && fb.Code == CodeAllow {
		// DenyWithCode(0): a refusal with an allow's code, which the rule
		// check sends as a deny; the fallback is sent unchecked, as an allow.
		return nil, fmt.Errorf("dispatcher: Options.Fallback is a DenyWithCode(0), no refusal code: build a deny with Deny (1), or an allow with Allow")
	}
	d := &Dispatcher{commands: make(map[string]Command, len(commands)), series: make(map[string]*commandSeries, len(commands)),
		opts: opts, log: log, metrics: m}
	if opts.MaxInFlight > 0 {
		d.inFlight = make(chan struct{}, opts.MaxInFlight)
	}
	at := make(map[string]int, len(commands))        // each command's index, for a duplicate's error
	folded := make(map[string]string, len(commands)) // each command's name by its lower case
	for i, c := range commands {
		if c == nil {
			return nil, fmt.Errorf("dispatcher: command #%d of %d is nil: a constructor given to AsCommand or AsCommands returned no command", i+1, len(commands))
		}
		name := c.Name()
		if name == "" {
			return nil, fmt.Errorf("dispatcher: a command has an empty name (a %T)", c)
		}
		if h, ok := c.(handlerSet); ok && !h.hasHandler() {
			return nil, fmt.Errorf("dispatcher: command %s has a nil handler func: pass a function to Handle, Before or After", name)
		}
		if c.Kind() != KindBefore && c.Kind() != KindAfter {
			return nil, fmt.Errorf("dispatcher: command %s: invalid kind %v", name, c.Kind())
		}
		if j, dup := at[name]; dup {
			return nil, duplicateError(name, j, i, commands)
		}
		at[name] = i
		if other, ok := folded[strings.ToLower(name)]; ok {
			return nil, caseError(name, other)
		}
		folded[strings.ToLower(name)] = name
		if _, before := opts.Rules[name]; before && c.Kind() == KindAfter {
			// Queued and answered OK, it would silently allow every action.
			return nil, fmt.Errorf("dispatcher: %s is a before-command: IM waits for its answer, and an after-handler's OK "+
				"would allow every action; register it with %s's Handle (its command package's descriptor) or dispatcher.Before, not After", name, name)
		}
		if f, ok := c.(Fallbacker); ok {
			if fb, set := f.Fallback(); set {
				if c.Kind() == KindAfter {
					// IM ignores an after-callback's answer: the fallback would never be sent.
					return nil, fmt.Errorf("dispatcher: command %s: WithFallback is for before-commands; an after-command's failure is answered 503 (or retried by durable delivery): remove the option", name)
				}
				if _, err := d.rule(name).check(fb); err != nil {
					if sd, ok := errors.AsType[sentDeny](err); ok {
						err = errors.New(sd.why) // checked at start: nothing was sent
					}
					return nil, fmt.Errorf("dispatcher: command %s: fallback: %w", name, err)
				}
			}
		}
		if rt, ok := c.(replyTyped); ok {
			cmdReply, fbReply := rt.replyTypes()
			if cmdReply != nil && fbReply != nil && fbReply != cmdReply {
				// Built with another command's verbs: fields IM does not take here.
				return nil, fmt.Errorf("dispatcher: command %s: the fallback's reply fields are a %v, the command's a %v", name, fbReply, cmdReply)
			}
			if cmdReply != nil && !objectType(cmdReply) {
				// The envelope takes an object's fields only: every Modify
				// would be answered with the fallback, and logged, at run time.
				return nil, fmt.Errorf("dispatcher: command %s: its reply fields are a %v, which JSON encodes as no object, "+
					"so every Modify would be answered with the fallback: declare them as a struct (NoReply for none)", name, cmdReply)
			}
		}
		d.commands[name] = c
		d.series[name] = newCommandSeries(m, name, c.Kind())
	}
	if opts.Forwarder != nil {
		if err := d.addForwarded(opts.Forwarder); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// duplicateError is the error of a command name registered at indexes i
// and j of commands, saying what to do. Handlers for the same command
// limited to different apps (ForApps) are one handler's job: the
// dispatcher routes a command to one handler.
func duplicateError(name string, i, j int, commands []Command) error {
	err := fmt.Errorf("dispatcher: command %s registered twice (commands #%d and #%d of %d): a command has one handler; "+
		"remove one registration (a module wired twice?), or merge them into one handler", name, i+1, j+1, len(commands))
	for _, c := range []Command{commands[i], commands[j]} {
		if l, ok := c.(appListed); ok {
			if _, limited := l.limitedTo(); limited {
				return fmt.Errorf("%w; ForApps limits a command's one handler to some apps, it does not share the command "+
					"among handlers: register one handler and branch on ev.AppID", err)
			}
		}
	}
	return err
}

// caseError is the error of two commands whose names differ only in
// case: IM sends one spelling, so the handler of the other never runs.
func caseError(name, other string) error {
	return fmt.Errorf("dispatcher: commands %s and %s differ only in case: IM sends one spelling, so the other's handler would never run; "+
		"keep the spelling docs/commands.md gives (names are case-sensitive)", name, other)
}

func (d *Dispatcher) rule(name string) Rule { return d.opts.Rules[name] }

// dispatcherFields adds the reply fields the dispatcher sends on its own:
// the refusal of every target of a per-target command's deny or the
// allowance of every target of its allow without per-target decisions,
// then the rule's RequiredReply when the answer carries no fields.
func (d *Dispatcher) dispatcherFields(r *Request, dec Decision) Decision {
	rule := d.rule(r.Command)
	switch {
	case rule.PerTarget == nil:
	case dec.Code == CodeAllow:
		dec = allowPerTarget(rule.PerTarget, r, dec)
	default:
		dec = d.denyPerTarget(rule, r, dec)
	}
	if dec.Reply == nil {
		dec.Reply = rule.RequiredReply
	}
	return dec
}

// denyPerTarget adds, to a deny of a command whose top-level ErrorCode IM
// ignores, the reply fields that refuse every target: the top-level code
// stays (an app configured to honour it refuses on it), and IM's default
// reads the per-target codes. Without it, a deny there let the action
// through.
func (d *Dispatcher) denyPerTarget(rule Rule, r *Request, dec Decision) Decision {
	code := dec.Code
	if !rule.DenyCodes.Contains(code) {
		code = rule.DenyCodes.Min
	}
	reply, err := rule.PerTarget.Deny(r.Body, code, dec.Info)
	if err != nil {
		d.log.Error("cannot name the targets a deny refuses; sending the top-level deny alone, which IM may ignore",
			zap.String("command", r.Command), zap.String("request_id", r.RequestID), zap.Error(err))
		return dec
	}
	dec.Reply = reply
	return dec
}

// allowPerTarget completes an allow of a command that decides per target
// (its page makes the per-target list required) whose answer names no
// target: every target of the request is sent allowed.
func allowPerTarget(pt *PerTarget, r *Request, dec Decision) Decision {
	if pt.Allow == nil {
		return dec
	}
	reply, err := pt.Allow(r.Body, dec.Reply)
	if err != nil {
		// A body whose targets do not decode failed the handler's decoding
		// too, which is logged and counted as its fallback: the allow goes
		// as it is, as IM's own default on no answer would let it through.
		return dec
	}
	dec.Reply = reply
	return dec
}

// Serve is the echo handler of the callback endpoint. It expects the
// middleware chain to have verified the request already. It routes on the
// URL's CallbackCommand before reading the body, so a command nobody
// registered is answered without checking the body, and without reading
// it unless its answer names the body's targets (unhandledAnswer); otherwise
// the body is checked in one pass (one JSON object, nested at most
// protocol.MaxDepth deep) before anything else reads it.
//
// A handler's deadline counts from the request's arrival
// (middleware.ArrivedAt), or without RequestState from this call: the
// middleware chain and the reading of the body spend IM's budget too.
func (d *Dispatcher) Serve(c echo.Context) error {
	arrived := middleware.ArrivedAt(c)
	if arrived.IsZero() {
		arrived = time.Now()
	}
	req := c.Request()
	p := middleware.ParamsOf(c)
	command := p.CallbackCommand
	if command != "" {
		if _, ok := d.lookup(command, p.SdkAppid); !ok {
			var body []byte
			if pt := d.rule(command).PerTarget; pt != nil && pt.Allow != nil {
				// Its answer names every target of the body, as a
				// handled allow's does.
				var err error
				if body, err = readBody(req); err != nil {
					return err
				}
			}
			return d.serveUnknown(c, command, body)
		}
	}
	body, err := readBody(req)
	if err != nil {
		return err
	}
	info, err := protocol.ScanBody(body)
	if err != nil {
		return fmt.Errorf("%w: %w", protocol.ErrMalformedJSON, err)
	}
	if info.HasCommand {
		switch {
		case command == "":
			command = info.Command // tolerate a URL without it; the body names it
			middleware.SetCommand(c, command)
		case info.Command != command:
			return protocol.ErrCommandMismatch
		}
	}
	if command == "" {
		return protocol.ErrMissingCommand
	}
	cmd, ok := d.lookup(command, p.SdkAppid)
	if !ok {
		return d.serveUnknown(c, command, body)
	}
	start := time.Now()
	r := &Request{
		Command:    command,
		Params:     *p,
		Body:       body,
		ReceivedAt: start,
		RequestID:  c.Response().Header().Get(echo.HeaderXRequestID),
	}
	defer func() { d.series[command].duration.Observe(time.Since(start).Seconds()) }()
	if cmd.Kind() == KindBefore {
		return d.serveBefore(c, cmd, r, arrived)
	}
	return d.serveAfter(c, cmd, r, arrived)
}

// serveUnknown answers a command nobody registered (for the request's
// app) with OK, as IM expects of a receiver that ignores an event: an
// allow, with the reply fields its page makes required (see
// unhandledAnswer); body is the request's body when it was read, nil
// otherwise.
//
// Every one is counted; the warning is logged at most once per
// unknownLogEvery per command, with how many arrived since the last one,
// so a flood of them (an attacker, a misconfigured console) does not
// flood the log.
func (d *Dispatcher) serveUnknown(c echo.Context, command string, body []byte) error {
	_, due, count := d.unknown.note(d.metrics.Unknown, command, time.Now())
	middleware.SetOutcome(c, "unknown")
	if due {
		d.log.Warn("unknown callback command answered OK; logged once a minute per command",
			zap.String("command", middleware.LoggedValue(command)), zap.String("request_id", c.Response().Header().Get(echo.HeaderXRequestID)),
			zap.Int("count_since_last_line", count))
	}
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, d.unhandledAnswer(command, body))
}

// unhandledAnswer is the answer to command when no handler serves it: the
// OK envelope, with the reply fields a handled allow of the command
// carries because its page makes them required (the rule's RequiredReply,
// the allowance of every target of body for a command that decides per
// target). Without them, an app whose callback no handler serves (none
// registered, ForApps limiting it to other apps, no forward destination
// for the app) got an answer its page calls incomplete.
func (d *Dispatcher) unhandledAnswer(command string, body []byte) []byte {
	dec := d.dispatcherFields(&Request{Command: command, Body: body}, Decision{Code: CodeAllow})
	if dec.Reply == nil {
		return protocol.OKBody
	}
	answer, err := encodeDecision(make([]byte, 0, 128), dec)
	if err != nil {
		return protocol.OKBody
	}
	return answer
}

// serveBefore runs a before-handler, under BeforeTimeout from arrived,
// and answers its decision or the fallback.
func (d *Dispatcher) serveBefore(c echo.Context, cmd Command, r *Request, arrived time.Time) error {
	ctx := c.Request().Context()
	var (
		dec      Decision
		outcome  string
		deadline time.Time
		failure  error // why the fallback is sent; nil for the handler's decision
	)
	if d.opts.Tracer.Enabled() {
		// Ended once the answer is known: the span names the decision IM
		// gets, the fallback when the reply fields fail below.
		var span trace.Span
		ctx, span = d.opts.Tracer.Start(ctx, "imcallback.before_handler")
		defer func() {
			if span.IsRecording() {
				span.SetAttributes(tracing.AttrCommand.String(r.Command), tracing.AttrDecision.String(outcome), tracing.AttrErrorCode.Int(dec.Code))
			}
			tracing.Fail(span, failure)
			span.End()
		}()
	}
	dec, outcome, deadline, failure = d.decide(ctx, cmd, r, arrived)
	// Reply fields here are the handler's: the rule's check keeps them on
	// an allow only, and a deny gets the refusal of every target below,
	// the dispatcher's own fields, after this.
	handlerReply := dec.Reply != nil
	dec = d.dispatcherFields(r, dec)
	body, err := encodeDecision(make([]byte, 0, 128), dec)
	if err == nil && handlerReply && !deadline.IsZero() && time.Now().After(deadline) {
		// The reply fields' encoding (a MarshalJSON of the handler's)
		// ended past the handler's deadline: that answer is as late as a
		// handler past it, and gets the fallback the same way. Encoding
		// stays on this goroutine: on the handler's, its stack growth made
		// every modified answer about 40 % slower (BenchmarkServeBefore).
		// The refusal of every target that a deny gets is not the
		// handler's: a deny answered in time stays a deny, however long
		// its encoding took.
		err = fmt.Errorf("handler deadline %v: %w (encoding the reply)", d.opts.BeforeTimeout, context.DeadlineExceeded)
	} else if err != nil {
		err = fmt.Errorf("reply fields cannot be sent: %w", err)
	}
	if err != nil {
		// The reply fields are the handler's: failing to encode them (an
		// error, or a MarshalJSON that panics) or in time is the handler's
		// failure, and gets its fallback, counted and logged as one.
		failure = err
		dec, outcome = d.handlerFailed(ctx, cmd, r, err), "fallback"
		dec = d.dispatcherFields(r, dec)
		if body, err = encodeDecision(make([]byte, 0, 128), dec); err != nil {
			// A command's own fallback with fields that fail too: the
			// decision alone, with the fields the command requires.
			dec.Reply = d.rule(r.Command).RequiredReply
			if body, err = encodeDecision(make([]byte, 0, 64), dec); err != nil {
				dec.Reply = nil
				body, _ = encodeDecision(make([]byte, 0, 64), dec)
			}
		}
	}
	d.count(c, r, outcome)
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, body)
}

// encodeDecision appends dec's envelope, with its reply fields, to dst,
// turning a panic of their encoding (a MarshalJSON of the handler's) into
// an error wrapping ErrPanic.
func encodeDecision(dst []byte, dec Decision) (body []byte, err error) {
	defer func() {
		if v := recover(); v != nil {
			body, err = dst, panicError("encoding the reply fields", v)
		}
	}()
	return protocol.AppendEnvelope(dst, protocol.StatusOK, dec.Code, dec.Info, dec.Reply)
}

// handlerFailed logs a before-handler's failure and returns the fallback
// decision to send instead. Every failure is counted (outcome
// "fallback"); the line is logged at most once per failureLogEvery per
// command and cause, with how many came since the last one, so that a
// handler failing on every callback (past its deadline under load, its
// database down) does not flood the log.
func (d *Dispatcher) handlerFailed(ctx context.Context, cmd Command, r *Request, err error) Decision {
	fb := d.fallback(cmd)
	cause := failureCause(err)
	if due, count := d.failures.Note([2]string{r.Command, cause}, time.Now(), failureLogEvery); due {
		d.log.Error("before-handler failed; sending the fallback decision", append([]zap.Field{
			zap.String("command", r.Command), zap.String("request_id", r.RequestID),
			zap.String("fallback", fb.Outcome()), zap.String("cause", cause), zap.Error(err),
			zap.Int("count_since_last_line", count)}, tracing.LogFields(ctx)...)...)
	}
	return fb
}

// failureLogEvery is how often one command's before-handler failures of
// one cause are logged at most.
const failureLogEvery = time.Minute

// failureCause names the cause of a before-handler's failure for its log
// line: "deadline", "canceled" (the request ended first), "panic" or
// "error".
func failureCause(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "deadline"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, ErrPanic):
		return "panic"
	}
	return "error"
}

// decide runs a before-handler under the deadline, BeforeTimeout from
// arrived, and returns the decision to send, its outcome label, the
// handler's deadline when the decision is the handler's (zero for a
// fallback) and, for a fallback, why.
func (d *Dispatcher) decide(ctx context.Context, cmd Command, r *Request, arrived time.Time) (dec Decision, outcome string, deadline time.Time, failure error) {
	dec, deadline, err := d.run(ctx, cmd, r, arrived, d.opts.BeforeTimeout)
	if errors.Is(err, errOverloaded) {
		fb := d.fallback(cmd)
		if now := time.Now().Unix(); d.overloadLogged.Swap(now) != now { // one line a second at most
			d.log.Error("too many before-handlers running; sending the fallback decision",
				zap.String("command", r.Command), zap.String("request_id", r.RequestID),
				zap.Int("max_in_flight", cap(d.inFlight)), zap.String("fallback", fb.Outcome()))
		}
		return fb, "overloaded", time.Time{}, err
	}
	if err != nil {
		return d.handlerFailed(ctx, cmd, r, err), "fallback", time.Time{}, err
	}
	dec, err = d.rule(r.Command).check(dec)
	if err != nil {
		// The handler's mistake, made on every callback: logged as its
		// failures are, at most once per failureLogEvery per command.
		if due, count := d.failures.Note([2]string{r.Command, "not_accepted"}, time.Now(), failureLogEvery); due {
			d.log.Error("before-handler decision not accepted by the protocol", append([]zap.Field{
				zap.String("command", r.Command), zap.String("request_id", r.RequestID), zap.Error(err),
				zap.Int("count_since_last_line", count)}, tracing.LogFields(ctx)...)...)
		}
	}
	return dec, dec.Outcome(), deadline, nil
}

// errExited reports a handler whose goroutine ended without returning
// (runtime.Goexit).
var errExited = errors.New("dispatcher: the handler's goroutine exited without returning (runtime.Goexit)")

// errOverloaded reports that MaxInFlight handlers are running already.
var errOverloaded = errors.New("dispatcher: too many handlers running")

// run runs cmd in its own goroutine under the deadline timeout after
// arrived (the request's arrival: the time before the handler is spent
// of IM's budget too), so that a handler that ignores its context cannot
// hold the answer past the deadline, and returns its decision with that
// deadline. A deadline already past when the handler would start fails at
// once, without running it. It counts against MaxInFlight until the
// handler really returns.
func (d *Dispatcher) run(ctx context.Context, cmd Command, r *Request, arrived time.Time, timeout time.Duration) (Decision, time.Time, error) {
	deadline := arrived.Add(timeout)
	if !time.Now().Before(deadline) {
		return Decision{}, deadline, fmt.Errorf("handler deadline %v: %w (spent before the handler could run: the middleware chain, reading the body)",
			timeout, context.DeadlineExceeded)
	}
	if d.inFlight != nil {
		select {
		case d.inFlight <- struct{}{}:
		default:
			return Decision{}, time.Time{}, errOverloaded
		}
	}
	parent := ctx
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	deadline, _ = ctx.Deadline() // a parent's earlier deadline, if any
	type result struct {
		dec Decision
		err error
	}
	done := make(chan result, 1) // buffered: a late handler must not block forever
	d.running.add()
	go func() {
		// Deferred, so that a handler ending its goroutine with
		// runtime.Goexit (t.FailNow in a test) frees its slot too, and is
		// answered with the fallback at once rather than at its deadline.
		res := result{err: errExited}
		defer func() {
			if d.inFlight != nil {
				<-d.inFlight // freed when the handler returns, not at its deadline, and before the answer
			}
			d.running.done() // before the answer too: a stop that drained the request finds it done
			done <- res
		}()
		res.dec, res.err = handleRecovered(ctx, cmd, r)
	}()
	select {
	case res := <-done:
		return res.dec, deadline, res.err
	case <-ctx.Done():
		if err := parent.Err(); errors.Is(err, context.Canceled) {
			// The request ended first (IM closed the connection): no
			// deadline was missed, and the log must not say one was.
			return Decision{}, deadline, fmt.Errorf("request canceled before the handler answered (the client closed the connection?): %w", err)
		}
		return Decision{}, deadline, fmt.Errorf("handler deadline %v: %w", timeout, ctx.Err())
	}
}

// Wait waits until every handler the dispatcher ran inside a request
// (before-handlers, and after-handlers run inline) has returned, or ctx
// ends. A handler that ignores its context goes on running after its
// deadline, when its callback is long answered: the public listener's
// stop calls Wait once it drained its requests, so that the stores and
// clients such a handler uses are closed after it returns. It returns an
// error naming how many still run when ctx ends first.
func (d *Dispatcher) Wait(ctx context.Context) error {
	n, idle := d.running.idle()
	if n == 0 {
		return nil
	}
	d.log.Warn("stopping: waiting for handlers still running past their deadline (they ignore their context)",
		zap.Int("handlers", n))
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		n, _ := d.running.idle()
		return fmt.Errorf("dispatcher: handlers still running past their deadline: %d: %w", n, ctx.Err())
	}
}

// runningHandlers counts the handler goroutines of run.
type runningHandlers struct {
	mu     sync.Mutex
	n      int
	idleCh chan struct{} // closed when n drops to 0; nil until idle asks
}

func (r *runningHandlers) add() {
	r.mu.Lock()
	r.n++
	r.mu.Unlock()
}

func (r *runningHandlers) done() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n--; r.n == 0 && r.idleCh != nil {
		close(r.idleCh)
		r.idleCh = nil
	}
}

// idle returns how many handlers run and, when some do, a channel closed
// once none does.
func (r *runningHandlers) idle() (int, <-chan struct{}) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.n == 0 {
		return 0, nil
	}
	if r.idleCh == nil {
		r.idleCh = make(chan struct{})
	}
	return r.n, r.idleCh
}

// handleRecovered runs cmd, turning a panic into an error.
func handleRecovered(ctx context.Context, cmd Command, r *Request) (dec Decision, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = panicError("", v)
		}
	}()
	return cmd.Handle(ctx, r)
}

func (d *Dispatcher) fallback(cmd Command) Decision {
	if f, ok := cmd.(Fallbacker); ok {
		if fb, set := f.Fallback(); set {
			return fb
		}
	}
	return d.opts.Fallback
}

// serveAfter stores an after-callback with the sink, or runs it inline
// under the inline deadline (InlineTimeout from arrived). Whatever does not succeed is answered 503
// with a FAIL envelope, so that nothing unapplied is acknowledged and IM's
// optional retry of failed callbacks can work.
func (d *Dispatcher) serveAfter(c echo.Context, cmd Command, r *Request, arrived time.Time) error {
	if d.opts.Sink != nil {
		if f, ok := cmd.(*forwarded); ok {
			r.Targets = f.targets(r.Params.SdkAppid)
		}
		if err := d.opts.Sink.Accept(c.Request().Context(), r); err != nil {
			if errors.Is(err, protocol.ErrBodyTooLarge) || errors.Is(err, protocol.ErrHeaderTooLarge) {
				// Refused (413, 431) like a body or a request line over the
				// listener's limits, and counted as that rejection: the store
				// is not unavailable.
				return err
			}
			d.count(c, r, "unavailable")
			return fmt.Errorf("%w: %w", protocol.ErrUnavailable, err)
		}
		d.count(c, r, "queued")
		return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, protocol.OKBody)
	}
	ctx := c.Request().Context()
	var span trace.Span
	if d.opts.Tracer.Enabled() {
		ctx, span = d.opts.Tracer.Start(ctx, "imcallback.after_handler")
		if span.IsRecording() {
			span.SetAttributes(tracing.AttrCommand.String(r.Command))
		}
	}
	_, _, err := d.run(ctx, cmd, r, arrived, d.opts.InlineTimeout)
	if span != nil {
		tracing.Fail(span, err)
		span.End()
	}
	if err != nil {
		d.count(c, r, "failed")
		return fmt.Errorf("%w: %w", protocol.ErrHandlerFailed, err)
	}
	d.count(c, r, "ok")
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, protocol.OKBody)
}

// Process runs the after-handler registered for r.Command, recovering a
// panic as an error. Durable sinks call it from their workers.
func (d *Dispatcher) Process(ctx context.Context, r *Request) error {
	if r.Target != "" { // a destination's copy: that destination, whatever else changed
		if d.opts.Forwarder == nil {
			return fmt.Errorf("%w: %s (forwarding is off)", ErrUnroutable, r.Target)
		}
		return deliverRecovered(ctx, d.opts.Forwarder, r)
	}
	cmd, ok := d.lookup(r.Command, r.Params.SdkAppid)
	if !ok || cmd.Kind() != KindAfter {
		return fmt.Errorf("%w: %s", ErrNoHandler, r.Command)
	}
	if f, ok := cmd.(*forwarded); ok {
		// The Go handler's copy: the command is found for the app because
		// a destination takes it, but the handler may be gone, or limited
		// (ForApps) to other apps since the copy was stored.
		if !f.handlerServes(r.Params.SdkAppid) {
			return fmt.Errorf("%w: %s", ErrNoHandler, r.Command)
		}
		cmd = f.handler
	}
	_, err := handleRecovered(ctx, cmd, r)
	return err
}

// deliverRecovered delivers a destination's stored copy, turning a panic
// into an error.
func deliverRecovered(ctx context.Context, f Forwarder, r *Request) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = panicError("", v)
		}
	}()
	return f.Deliver(ctx, r.Target, r)
}

// AfterCommands lists the registered after-commands, sorted: the
// commands durable delivery handles (its metrics start at 0 for them).
func (d *Dispatcher) AfterCommands() []string {
	var names []string
	for name, c := range d.commands {
		if c.Kind() == KindAfter {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	return names
}

// lookup finds the command of name for app: a command limited to other
// apps (ForApps) is not found.
func (d *Dispatcher) lookup(name, app string) (Command, bool) {
	c, ok := d.commands[name]
	if !ok {
		return nil, false
	}
	if l, limited := c.(appLimited); limited && !l.servesApp(app) {
		return nil, false
	}
	return c, true
}

// readBody reads the whole body. The body-limit middleware makes an
// oversized body fail here with its 413 error; it is never truncated.
func readBody(req *http.Request) ([]byte, error) {
	// Content-Length sizes the buffer, up to 64 KiB: a client announcing a
	// large body it never sends does not get a large allocation for it.
	size := req.ContentLength
	if size < 0 || size > 64<<10 {
		size = 512
	}
	buf := make([]byte, 0, size+1) // +1: room to see io.EOF without growing
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := req.Body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) {
			return buf, nil
		}
		if err != nil {
			var he *echo.HTTPError
			var mbe *http.MaxBytesError
			if errors.As(err, &he) && he.Code == http.StatusRequestEntityTooLarge || errors.As(err, &mbe) {
				return nil, protocol.ErrBodyTooLarge
			}
			return nil, fmt.Errorf("%w: %w", protocol.ErrUnreadableBody, err)
		}
	}
}

// unknownCommands bounds the label values of the unknown-command counter (a
// sender without a valid token could otherwise create a series per name)
// and holds each command's warning back to one line per unknownLogEvery.
// It takes one lock and one map lookup per request: this is the whole
// path of a command nobody registered.
type unknownCommands struct {
	mu      sync.Mutex
	byLabel map[string]*unknownCommand
	named   int // labels other than "other"
}

// unknownCommand is one label's series and warning state.
type unknownCommand struct {
	counter prometheus.Counter // its series, looked up once
	line    logevery.Line      // its warning, held back to one per unknownLogEvery
}

// unknownLogEvery is how often one unknown command is logged at most.
const unknownLogEvery = time.Minute

// maxUnknownLabels is how many distinct unknown commands get their own series.
const maxUnknownLabels = 64

// note counts one request of the unknown command name in vec at now and
// returns its label (see unknownLabel) and whether its warning is due, with
// the requests since the last warning (this one included). Each label's
// counter is looked up in vec once, so callers always pass the same vec.
// A command named "other" shares the "other" series and warning.
func (u *unknownCommands) note(vec *prometheus.CounterVec, name string, now time.Time) (label string, due bool, count int) {
	label = unknownLabel(name)
	u.mu.Lock()
	defer u.mu.Unlock()
	cmd := u.byLabel[label]
	if cmd == nil && label != "other" && u.named >= maxUnknownLabels {
		label = "other"
		cmd = u.byLabel[label]
	}
	if cmd == nil {
		if u.byLabel == nil {
			u.byLabel = make(map[string]*unknownCommand)
		}
		// A copy: the label is kept for good, and the name points into the
		// request (its request line of up to 64 KiB).
		label = strings.Clone(label)
		cmd = &unknownCommand{counter: vec.WithLabelValues(label)}
		u.byLabel[label] = cmd
		if label != "other" {
			u.named++
		}
	}
	cmd.counter.Inc()
	due, count = cmd.line.Note(now, unknownLogEvery)
	return label, due, count
}

// unknownLabel is name when it looks like an IM command ("Area.Name", ASCII
// letters, digits, '_' and '.', at most 80 bytes), otherwise "other".
func unknownLabel(name string) string {
	if len(name) > 80 {
		return "other"
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.') {
			return "other"
		}
	}
	return name
}
