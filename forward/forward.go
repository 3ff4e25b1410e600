// Package forward is gateway mode: callbacks whose CallbackCommand matches
// a configured destination are POSTed to that HTTP endpoint, signed as the
// Standard Webhooks specification says, so a backend in any language can
// take them. After-callbacks go through the durable path (one stored copy
// per destination, retried and dead-lettered on its own); a
// before-callback is decided by its destination's answer, checked against
// the command's rules, under the before deadline.
//
// The Forwarder plugs into the dispatcher (dispatcher.Forwarder); Module
// provides it when IMCALLBACK_FORWARD_URL or a `forward:` list is set.
package forward

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/netip"
	"net/url"
	"path"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/fx"
	"go.uber.org/zap"
	"golang.org/x/net/http/httpproxy"

	"github.com/imcallback/imcallback/admin"
	"github.com/imcallback/imcallback/commands/catalogue"
	"github.com/imcallback/imcallback/config"
	"github.com/imcallback/imcallback/delivery"
	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/internal/drain"
	"github.com/imcallback/imcallback/internal/jsonnames"
	"github.com/imcallback/imcallback/internal/logevery"
	"github.com/imcallback/imcallback/internal/redact"
	"github.com/imcallback/imcallback/internal/textcut"
	"github.com/imcallback/imcallback/internal/tooling"
	"github.com/imcallback/imcallback/protocol"
	"github.com/imcallback/imcallback/tracing"
)

// Module provides the dispatcher.Forwarder of the configured destinations
// (none when there are none).
var Module = fx.Module("forward", fx.Provide(newFromConfig, admin.AsRoutes(routesOf)))

// routesOf are the admin routes of the optional Forwarder.
func routesOf(in struct {
	fx.In
	Forwarder dispatcher.Forwarder `optional:"true"`
}) []admin.Route {
	return Routes(in.Forwarder)
}

// beforeMargin is kept from the before deadline for the dispatcher to
// check and send the answer after the destination's (the configuration
// refuses a before_timeout that leaves the destination nothing).
const beforeMargin = config.ForwardAnswerMargin

// maxAnswer bounds a destination's answer to a before-callback.
const maxAnswer = 64 << 10

// maxAnswerHeaders bounds the headers of a destination's answer.
const maxAnswerHeaders = 64 << 10

// drainBytes and drainTime bound what is read of an answer whose body says
// nothing the status has not (an after-callback's, a failure status's): a
// short body that comes with the headers is read to its end, so that the
// connection goes back to the pool; a longer one, or one that has not come
// within drainTime, is left and its connection closed, instead of holding
// the worker (or IM's request) until the timeout.
const (
	drainBytes = 4 << 10
	drainTime  = 100 * time.Millisecond
)

// Results of imcallback_forward_requests_total.
const (
	ResultOK          = "ok"           // 2xx (and, before, a readable answer)
	ResultStatus      = "status"       // another HTTP status (after: one retried)
	ResultRefused     = "refused"      // after: a 4xx retrying cannot help (see Deliver); dead-lettered at once
	ResultTimeout     = "timeout"      // no answer in time
	ResultError       = "error"        // no connection, or a broken exchange
	ResultBadResponse = "bad_response" // before: an answer that is not IM's envelope
)

// results are the values of imcallback_forward_requests_total's result label.
var results = []string{ResultOK, ResultStatus, ResultRefused, ResultTimeout, ResultError, ResultBadResponse}

// Forwarder posts callbacks to the configured destinations.
type Forwarder struct {
	dests    []*destination // configuration order
	byName   map[string]*destination
	commands []string
	replies  map[string]reply // before-command → the reply fields it accepts
	log      *zap.Logger
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	now      func() time.Time
	tracer   *tracing.Tracer // nil: no spans, no traceparent
	// dropped holds the warning of reply fields dropped back to one per
	// droppedLogEvery per destination and command (keys the configuration
	// and the catalogue bound): a destination that answers a field the
	// command does not take does so on every callback.
	dropped logevery.Lines[[2]string]
}

// droppedLogEvery is how often the warning of reply fields dropped from
// one destination's answers to one command is logged at most.
const droppedLogEvery = time.Minute

var _ dispatcher.Forwarder = (*Forwarder)(nil)

// destination is one configured endpoint with its own connection pools,
// one for each kind: after-callbacks held by a slow destination, as many
// as a pool's connections, leave its before-callbacks theirs, which would
// otherwise wait for one until the before deadline.
type destination struct {
	cfg    config.ForwardConfig
	keys   [][]byte // one per secret, in order; each request is signed with each
	before *http.Client
	after  *http.Client
}

// client is the pool of a kind of callback.
func (d *destination) client(kind dispatcher.Kind) *http.Client {
	if kind == dispatcher.KindBefore {
		return d.before
	}
	return d.after
}

// proxyFunc is the proxy of each request to a destination by cfg (the
// environment's HTTPS_PROXY, HTTP_PROXY and NO_PROXY, as Go's default
// transport reads them), but never for a loopback destination, however
// its name is written: cfg skips `localhost` and the loopback addresses,
// not `LOCALHOST` or `localhost.`, which name the same host.
func proxyFunc(cfg *httpproxy.Config) func(*http.Request) (*url.URL, error) {
	proxy := cfg.ProxyFunc()
	return func(req *http.Request) (*url.URL, error) {
		host := strings.TrimSuffix(strings.ToLower(req.URL.Hostname()), ".")
		if host == "localhost" {
			return nil, nil
		}
		if ip, err := netip.ParseAddr(host); err == nil && ip.IsLoopback() {
			return nil, nil
		}
		return proxy(req.URL)
	}
}

// dialTimeout bounds a TCP connect to a destination, as Go's default
// transport does.
const dialTimeout = 10 * time.Second

// newClient is a client of one destination, with a connection pool of its
// own, whose TCP connects give up after dial.
func newClient(dial time.Duration) *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			Proxy: proxyFunc(httpproxy.FromEnvironment()),
			// The dial, like the handshake below, goes on after the request
			// that began it gave up: without a bound of its own, a connect
			// to an address that drops it (a firewall, a host gone) held
			// one of MaxConnsPerHost until the kernel gave up, about two
			// minutes on Linux.
			DialContext:         (&net.Dialer{Timeout: dial, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        64,
			MaxIdleConnsPerHost: 64,
			MaxConnsPerHost:     128, // a bounded pool: beyond it requests wait for a connection
			IdleConnTimeout:     90 * time.Second,
			// Go dials on after the request that began a dial gives up
			// (a later one may use the connection), out of reach of its
			// context: a handshake the destination never answers would
			// hold one of MaxConnsPerHost for as long as the destination
			// keeps the connection open. Go's default transport's bound.
			TLSHandshakeTimeout: 10 * time.Second,
			// The answer's headers are bounded as its body is (maxAnswer),
			// not by Go's 10 MB default on each of the pool's connections.
			MaxResponseHeaderBytes: maxAnswerHeaders,
			ForceAttemptHTTP2:      true,
			// Over HTTP/2 every request shares a connection that a timed-out
			// request does not close (over HTTP/1.1 it closes its own): one
			// gone silent (a load balancer that lost it, a dark path) would
			// take requests until as many had timed out as the destination's
			// stream limit, 250 for a Go server, and be kept until TCP gave
			// up on it. A ping after 2 s without a frame finds it out, and
			// an unanswered one closes it.
			HTTP2: &http.HTTP2Config{SendPingTimeout: 2 * time.Second, PingTimeout: 2 * time.Second},
		},
		// A redirect is the destination's answer, and not a 2xx: following
		// it would turn the signed POST into a GET elsewhere (a 301 or 302
		// "delivers" an event nobody received) or re-send it to whatever
		// address the Location names.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// New builds the Forwarder of dests over the commands of entries (the
// catalogue). A before-command two destinations could both take for one
// app is an error: a before-callback has one answer. A destination's zero
// Timeout is config.DefaultForwardTimeout, as the configuration makes it
// (else every after-callback would time out at once); a negative one is
// an error, as are an empty name, a name two destinations share, a Match
// the configuration refuses (config.ForwardMatchProblem: without a glob
// the destination would take nothing) and a URL it refuses
// (config.ForwardURLProblem: every request would fail, or send its key or
// password where it must not go).
func New(dests []config.ForwardConfig, entries []catalogue.Entry, log *zap.Logger, reg prometheus.Registerer) (*Forwarder, error) {
	f := &Forwarder{byName: map[string]*destination{}, replies: map[string]reply{}, log: log, now: time.Now}
	for _, c := range dests {
		// The name is the target a stored copy is delivered to: two of one
		// name would send both's copies to the last, and none to the first.
		switch {
		case c.Name == "":
			return nil, errors.New("forward: a destination needs a name: its stored copies are delivered by it")
		case f.byName[c.Name] != nil:
			return nil, fmt.Errorf("forward: destination name %q is used twice: each needs its own", c.Name)
		}
		if problem := config.ForwardMatchProblem(c.Match); problem != "" {
			// As the configuration refuses it: without a glob the
			// destination would take no callback, and say nothing.
			return nil, fmt.Errorf("forward: %s: %s", c.Name, problem)
		}
		switch {
		case c.Timeout == 0:
			c.Timeout = config.DefaultForwardTimeout
		case c.Timeout < 0:
			return nil, fmt.Errorf("forward: %s: timeout %v must be positive, e.g. 5s", c.Name, c.Timeout)
		}
		if problem := config.ForwardURLProblem(c.URL); problem != "" {
			// As the configuration refuses it, the URL shown redacted.
			return nil, fmt.Errorf("forward: %s: %s", c.Name, problem)
		}
		keys, err := c.SecretKeys()
		if err != nil {
			return nil, fmt.Errorf("forward: %s: secret %w", c.Name, err)
		}
		d := &destination{cfg: c, keys: keys, before: newClient(dialTimeout), after: newClient(dialTimeout)}
		f.dests = append(f.dests, d)
		f.byName[c.Name] = d
	}
	for _, d := range f.dests {
		for _, g := range d.cfg.Match {
			if !slices.ContainsFunc(entries, func(e catalogue.Entry) bool { ok, _ := path.Match(g, e.Name()); return ok }) {
				return nil, fmt.Errorf("forward: %s %q matches no command of the catalogue (names are case-sensitive; docs/commands.md lists them)", d.cfg.Setting("match"), g)
			}
		}
	}
	for _, e := range entries {
		name := e.Name()
		var takers []*destination
		for _, d := range f.dests {
			if d.cfg.Matches(name, "") {
				takers = append(takers, d)
			}
		}
		if len(takers) == 0 {
			continue
		}
		f.commands = append(f.commands, name)
		if e.Kind() == catalogue.After {
			continue
		}
		for i, a := range takers {
			for _, b := range takers[i+1:] {
				if shareApp(a.cfg.Apps, b.cfg.Apps) {
					return nil, fmt.Errorf("forward: before-command %s is matched by destinations %s and %s: a before-callback has one answer; narrow match or apps", name, a.cfg.Name, b.cfg.Name)
				}
			}
		}
		t := e.Command.Tooling(tooling.K).ReplyType()
		f.replies[name] = reply{typ: t, fields: replyFields(t)}
	}
	f.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "imcallback_forward_requests_total",
		Help: "Requests to forward destinations, by destination and result (ok, status, refused, timeout, error, bad_response).",
	}, []string{"destination", "result"})
	f.duration = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "imcallback_forward_duration_seconds",
		Help:    "Time from sending a forwarded callback to its destination's answer, by destination.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 1.5, 2, 5, 10},
	}, []string{"destination"})
	if err := reg.Register(f.requests); err != nil {
		return nil, err
	}
	if err := reg.Register(f.duration); err != nil {
		return nil, err
	}
	for _, d := range f.dests { // every series from the start, so a rise can alert
		for _, r := range results {
			f.requests.WithLabelValues(d.cfg.Name, r)
		}
		f.duration.WithLabelValues(d.cfg.Name)
	}
	return f, nil
}

// Check refuses a forward configuration that the start refuses: a secret
// that does not decode, a glob that matches no command of the catalogue, a
// before-command two destinations could both take for one app, or a
// before_timeout that leaves a destination taking a before-command no time
// to answer. `imcallback config check` runs it, so that it does not call
// valid what serve refuses.
func Check(cfg *config.Config) error {
	if len(cfg.Forward) == 0 {
		return nil
	}
	f, err := New(cfg.Forward, catalogue.All(), zap.NewNop(), prometheus.NewRegistry())
	if err != nil {
		return err
	}
	f.Close()
	return f.checkBeforeTimeout(cfg.BeforeTimeout)
}

// checkBeforeTimeout refuses a before_timeout no longer than the margin
// kept for the answer when a destination takes a before-command: each of
// its before-callbacks would get the fallback without being sent.
func (f *Forwarder) checkBeforeTimeout(timeout time.Duration) error {
	if len(f.replies) == 0 || timeout > beforeMargin {
		return nil
	}
	taken := slices.Sorted(maps.Keys(f.replies))
	return fmt.Errorf("forward: %s %v leaves the destination of %s no time to answer: the last %v are kept to "+
		"check and send its answer; give more, e.g. the default 1.5s", config.EnvName("before_timeout"), timeout, taken[0], beforeMargin)
}

// shareApp reports whether two destinations' app lists overlap (empty is every app).
func shareApp(a, b []string) bool {
	if len(a) == 0 || len(b) == 0 {
		return true
	}
	return slices.ContainsFunc(a, func(id string) bool { return slices.Contains(b, id) })
}

// reply is what a before-command accepts besides the envelope: its reply
// type (nil: nothing) and the JSON names of that type's fields.
type reply struct {
	typ    reflect.Type
	fields map[string]bool
}

// replyFields are the JSON names of a reply type's fields; none for nil.
func replyFields(t reflect.Type) map[string]bool {
	fields := map[string]bool{}
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		return fields
	}
	for i := range t.NumField() {
		sf := t.Field(i)
		name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		switch {
		case name == "-":
		case name != "":
			fields[name] = true
		case sf.IsExported():
			fields[sf.Name] = true
		}
	}
	return fields
}

type forwardIn struct {
	fx.In
	Lifecycle fx.Lifecycle
	Config    *config.Config
	Log       *zap.Logger
	Registry  prometheus.Registerer
	Tracer    *tracing.Tracer `optional:"true"`
}

// newFromConfig is the Forwarder of the configuration, or none.
func newFromConfig(in forwardIn) (dispatcher.Forwarder, error) {
	if len(in.Config.Forward) == 0 {
		return nil, nil
	}
	f, err := New(in.Config.Forward, catalogue.All(), in.Log.Named("forward"), in.Registry)
	if err != nil {
		return nil, err
	}
	if err := f.checkBeforeTimeout(in.Config.BeforeTimeout); err != nil {
		f.Close()
		return nil, err
	}
	f.SetTracer(in.Tracer)
	in.Lifecycle.Append(fx.StopHook(f.Close))
	for _, d := range f.dests {
		in.Log.Info("forwarding callbacks", zap.String("destination", d.cfg.Name), zap.Strings("match", d.cfg.Match),
			zap.Strings("apps", d.cfg.Apps), zap.String("url", config.RedactURL(d.cfg.URL)))
	}
	return f, nil
}

// SetTracer makes each request to a destination a span, and sends it the
// span's traceparent. Call it before the first request.
func (f *Forwarder) SetTracer(t *tracing.Tracer) { f.tracer = t }

// Commands implements dispatcher.Forwarder.
func (f *Forwarder) Commands() []string { return slices.Clone(f.commands) }

// Destinations implements dispatcher.Forwarder.
func (f *Forwarder) Destinations(command, app string) []string {
	var out []string
	for _, d := range f.dests {
		if d.cfg.Matches(command, app) {
			out = append(out, d.cfg.Name)
		}
	}
	return out
}

// EventID is the webhook-id of a callback: "msg_" and the hex of its
// delivery.RequestFingerprint, the same across IM's retries (of a body
// with an EventTime, or within one second), redeliveries and replays, and
// different for two events whose bodies repeat in different seconds.
func EventID(r *dispatcher.Request) string {
	sum := delivery.RequestFingerprint(r)
	return "msg_" + hex.EncodeToString(sum[:])
}

// Deliver implements dispatcher.Forwarder: a 2xx within the destination's
// timeout is success. Another status is an error; that of a 4xx other
// than 401, 403, 404, 408, 409, 423, 425 and 429 (see retried for why)
// that has no Retry-After asking for a delay wraps dispatcher.ErrPermanent,
// so durable delivery dead-letters the copy at once instead of retrying it.
func (f *Forwarder) Deliver(ctx context.Context, name string, r *dispatcher.Request) error {
	d, ok := f.byName[name]
	if !ok {
		return fmt.Errorf("forward: %w: %q (removed from the configuration?)", dispatcher.ErrUnroutable, name)
	}
	ctx, cancel := context.WithTimeout(ctx, d.cfg.Timeout)
	defer cancel()
	resp, end, err := f.post(ctx, d, r, dispatcher.KindAfter)
	if err != nil {
		return err
	}
	drain.Body(resp.Body, cancel, drainBytes, drainTime)
	end(nil) // the status decides, and the span has it
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		wait := retryAfter(resp.Header.Get("Retry-After"), f.now())
		// A refusal that says when to come back (a 413 "SHOULD" carry a
		// Retry-After when its condition is temporary, RFC 9110 §15.5.14)
		// is one of the moment: retried after that delay.
		if !retried(resp.StatusCode) && wait == 0 {
			f.requests.WithLabelValues(name, ResultRefused).Inc()
			return &statusError{destination: name, status: resp.StatusCode, permanent: true}
		}
		f.requests.WithLabelValues(name, ResultStatus).Inc()
		return &statusError{destination: name, status: resp.StatusCode, retryAfter: wait}
	}
	f.requests.WithLabelValues(name, ResultOK).Inc()
	return nil
}

// retried reports whether an after-callback that its destination answered
// with status (not a 2xx) is tried again with the backoff. A 4xx is a
// refusal of this very request, which the same request meets on every
// attempt (400, 405, 410, 413, 415, 422...): it is not retried, and with
// durable delivery the copy is dead-lettered at once with the status in
// its error, to be replayed once the destination takes it. Retried are
// the 4xx that say the moment is wrong, not the request: 408, 425 and 429
// (whose Retry-After is honoured); 401, 403 and 404, which a secret being
// rotated or a deploy under way answer for a while; and 409 and 423, a
// conflict or lock of the moment (events come in no order, so one may
// arrive before the one it depends on). Every other status (5xx, 3xx, an
// unknown one) is retried, as are a timeout and a failed exchange.
func retried(status int) bool {
	if status < 400 || status > 499 {
		return true
	}
	switch status {
	case http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound,
		http.StatusRequestTimeout, http.StatusConflict, http.StatusLocked,
		http.StatusTooEarly, http.StatusTooManyRequests:
		return true
	}
	return false
}

// statusError is a destination's answer to an after-callback that is not
// a 2xx, with the delay its Retry-After asks for (dispatcher.RetryAfter
// reads it, so durable delivery waits at least that long), or permanent
// when retried says retrying cannot help.
type statusError struct {
	destination string
	status      int
	retryAfter  time.Duration
	permanent   bool
}

func (e *statusError) Error() string {
	if e.permanent {
		return fmt.Sprintf("forward: %s answered HTTP %d %s, a refusal retrying cannot help: not retried "+
			"(of the 4xx, only 401, 403, 404, 408, 409, 423, 425 and 429 are, and one with a Retry-After)", e.destination, e.status, http.StatusText(e.status))
	}
	if e.retryAfter > 0 {
		return fmt.Sprintf("forward: %s answered HTTP %d (Retry-After %v)", e.destination, e.status, e.retryAfter)
	}
	return fmt.Sprintf("forward: %s answered HTTP %d", e.destination, e.status)
}

// RetryAfter is the delay the destination asked for; 0, none.
func (e *statusError) RetryAfter() time.Duration { return e.retryAfter }

// Is makes a permanent refusal a dispatcher.ErrPermanent.
func (e *statusError) Is(target error) bool { return e.permanent && target == dispatcher.ErrPermanent }

// retryAfter is the delay a Retry-After header value asks for at now:
// delay-seconds or an HTTP date (RFC 9110 §10.2.3); 0 for none, one in
// the past, or one that does not parse. Delay-seconds has no upper bound:
// more than an int64 holds is the longest delay, not none.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	secs, err := strconv.ParseInt(v, 10, 64)
	if errors.Is(err, strconv.ErrRange) && secs > 0 {
		return maxRetryAfter
	}
	if err == nil {
		if secs <= 0 {
			return 0
		}
		return time.Duration(min(secs, int64(maxRetryAfter/time.Second))) * time.Second
	}
	if at, err := http.ParseTime(v); err == nil && at.After(now) {
		return min(at.Sub(now), maxRetryAfter)
	}
	return 0
}

// maxRetryAfter bounds what a destination's Retry-After can ask for.
const maxRetryAfter = 24 * time.Hour

// Decide implements dispatcher.Forwarder: the destination answers IM's
// envelope; reply fields the command does not accept are dropped. The
// answer must come before ctx's deadline (less a margin for the reply to
// IM); a ctx without one is bounded by the destination's timeout.
func (f *Forwarder) Decide(ctx context.Context, name string, r *dispatcher.Request) (dispatcher.Decision, error) {
	d, ok := f.byName[name]
	if !ok {
		return dispatcher.Decision{}, fmt.Errorf("forward: no destination %q", name)
	}
	var cancel context.CancelFunc
	if deadline, ok := ctx.Deadline(); ok {
		ctx, cancel = context.WithDeadline(ctx, deadline.Add(-beforeMargin))
	} else {
		// No before deadline (a program's own call; the dispatcher always
		// gives one): the destination's timeout bounds the call, as it
		// bounds Deliver's, rather than a destination that never answers.
		ctx, cancel = context.WithTimeout(ctx, d.cfg.Timeout)
	}
	defer cancel()
	if err := ctx.Err(); err != nil {
		// Less of the deadline was left than the margin (IM's body came
		// slowly, the service is loaded), or the request ended: the
		// destination is not asked, so its timeout is not counted, nor
		// its success rate lowered.
		if errors.Is(err, context.DeadlineExceeded) {
			return dispatcher.Decision{}, fmt.Errorf("forward: %s: not sent: less than the %v kept for the answer was left of the before deadline: %w",
				name, beforeMargin, err)
		}
		return dispatcher.Decision{}, fmt.Errorf("forward: %s: not sent: %w", name, err)
	}
	resp, end, err := f.post(ctx, d, r, dispatcher.KindBefore)
	if err != nil {
		return dispatcher.Decision{}, err
	}
	// The forward span ends once the answer is used, or is not: a 2xx
	// whose body gets the fallback fails it, as it fails the
	// before-handler's.
	var unusable error
	defer func() { end(unusable) }()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		// The status decides (the fallback): its body is not waited for.
		drain.Body(resp.Body, cancel, drainBytes, drainTime)
		f.requests.WithLabelValues(name, ResultStatus).Inc()
		return dispatcher.Decision{}, fmt.Errorf("forward: %s answered HTTP %d", name, resp.StatusCode)
	}
	// The body is the decision: read within the deadline, up to one byte
	// past maxAnswer, so that parseAnswer refuses a longer one.
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		if result := f.failure(ctx, err); result != "" {
			f.requests.WithLabelValues(name, result).Inc()
		}
		unusable = fmt.Errorf("forward: %s: reading the answer: %w", name, err)
		return dispatcher.Decision{}, unusable
	}
	dec, dropped, err := parseAnswer(body, f.replies[r.Command])
	if err != nil {
		f.requests.WithLabelValues(name, ResultBadResponse).Inc()
		// The error quotes the answer's start, which an HTTP echo
		// service (a mistyped port) makes the request line: its target
		// is hidden, as in a failed exchange's error, and in the answer
		// before the quote cuts it (a cut leaves part of a long target,
		// which no redaction of the error finds).
		var notObject *notObjectError
		if errors.As(err, &notObject) {
			notObject.answer = redact.StandaloneText(notObject.answer, targetSecrets(resp.Request.URL)...)
		}
		unusable = fmt.Errorf("forward: %s: %w", name, hideTarget(err, resp.Request.URL))
		return dispatcher.Decision{}, unusable
	}
	f.requests.WithLabelValues(name, ResultOK).Inc()
	if len(dropped) > 0 {
		if due, count := f.dropped.Note([2]string{name, r.Command}, time.Now(), droppedLogEvery); due {
			f.log.Warn("destination answered reply fields the command does not accept; dropped them",
				zap.String("destination", name), zap.String("command", r.Command), zap.String("request_id", r.RequestID),
				zap.Strings("fields", dropped), zap.Int("count_since_last_line", count))
		}
	}
	return dec, nil
}

// notObjectError is parseAnswer's refusal of an answer that is no JSON
// object. Its text quotes the answer's start, cut short: a web server's
// page or a bare "ok" says at once what answers at the destination's URL.
type notObjectError struct {
	answer string
}

func (e *notObjectError) Error() string {
	return "the answer is not a JSON object: " + strconv.Quote(textcut.Cut(e.answer, maxQuoted))
}

// utf8BOM is the UTF-8 encoding of U+FEFF, the byte order mark.
var utf8BOM = []byte("\ufeff")

// replaceInvalidUTF8 is b with each byte that is not part of a UTF-8
// encoded character replaced by U+FFFD, as encoding/json decodes a string.
func replaceInvalidUTF8(b []byte) []byte {
	out := make([]byte, 0, len(b)+len(b)/8)
	for len(b) > 0 {
		r, n := utf8.DecodeRune(b)
		if r == utf8.RuneError && n == 1 {
			out = utf8.AppendRune(out, utf8.RuneError)
		} else {
			out = append(out, b[:n]...)
		}
		b = b[n:]
	}
	return out
}

// envelopeNames are the fields of IM's envelope, spelled as IM spells them.
var envelopeNames = []string{"ActionStatus", "ErrorCode", "ErrorInfo"}

// parseAnswer reads IM's envelope from a destination's answer: ActionStatus
// "OK" exactly, ErrorCode (an integer, or a string of one; absent is 0, but
// null or "" is no code: a destination that means to refuse must not allow
// by accident), ErrorInfo, and the reply fields accepted (the others are
// returned as dropped, sorted). The envelope's names are case-sensitive,
// and another spelling of one ("errorCode") is refused rather than dropped:
// it would leave ErrorCode absent, an allow. An answer that gives a name
// twice is refused too (within the reply fields, in any two cases, as
// decoding into the reply type matches them): which value counts is the
// reader's choice. A UTF-8 byte order mark before the object is ignored;
// bytes that are not UTF-8 are read as U+FFFD.
func parseAnswer(body []byte, accepts reply) (dispatcher.Decision, []string, error) {
	accepted := accepts.fields
	if len(body) > maxAnswer {
		return dispatcher.Decision{}, nil, fmt.Errorf("answer over %d bytes", maxAnswer)
	}
	// A UTF-8 byte order mark, which some writers (.NET's Encoding.UTF8,
	// PowerShell) put first, says nothing: RFC 8259 §8.1 lets a reader
	// ignore it, and Go's decoder would refuse the whole answer for it.
	body = bytes.TrimPrefix(body, utf8BOM)
	if !utf8.Valid(body) {
		// Go reads bytes that are not UTF-8 in a string as U+FFFD, but
		// keeps a raw reply value (a MsgBody element's MsgContent) as it
		// came: IM would get them, in an answer that is no JSON text
		// (RFC 8259 §8.1). U+FFFD in every value alike, as the strings.
		body = replaceInvalidUTF8(body)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
		// Quoted, cut short: a web server's page or a bare "ok" says at
		// once what answers at the destination's URL.
		return dispatcher.Decision{}, nil, &notObjectError{answer: string(body)}
	}
	if name, ok := jsonnames.Repeated(body, false); ok {
		// Go keeps the last value of a repeated name, another reader the
		// first: {"ErrorCode":1,...,"ErrorCode":0} must not allow.
		return dispatcher.Decision{}, nil, fmt.Errorf("%s is named twice: the answer says two things", textcut.Cut(strconv.Quote(name), maxQuoted))
	}
	for k := range fields {
		for _, name := range envelopeNames {
			if k != name && strings.EqualFold(k, name) {
				return dispatcher.Decision{}, nil, fmt.Errorf("%q is not %s: the envelope's names are case-sensitive", k, name)
			}
		}
	}
	var status string
	if err := json.Unmarshal(fields["ActionStatus"], &status); err != nil || status != protocol.StatusOK {
		return dispatcher.Decision{}, nil, fmt.Errorf("ActionStatus is %s, not \"OK\"", quoted(fields["ActionStatus"]))
	}
	var dec dispatcher.Decision
	if raw, ok := fields["ErrorCode"]; ok {
		var code protocol.FlexInt
		var text string
		if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) || json.Unmarshal(raw, &text) == nil && strings.TrimSpace(text) == "" {
			return dispatcher.Decision{}, nil, fmt.Errorf("ErrorCode %s is not a 64-bit integer", quoted(raw))
		}
		if err := json.Unmarshal(raw, &code); err != nil {
			return dispatcher.Decision{}, nil, fmt.Errorf("ErrorCode %s is not a 64-bit integer", quoted(raw))
		}
		dec.Code = int(code)
	}
	if raw, ok := fields["ErrorInfo"]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &dec.Info); err != nil {
			return dispatcher.Decision{}, nil, errors.New("ErrorInfo is not a string")
		}
	}
	reply := map[string]json.RawMessage{}
	var dropped []string
	for k, v := range fields {
		switch {
		case k == "ActionStatus" || k == "ErrorCode" || k == "ErrorInfo":
		case accepted[k]:
			reply[k] = v
		default:
			dropped = append(dropped, k)
		}
	}
	slices.Sort(dropped)
	if len(reply) > 0 {
		// Decoded into the command's reply type, so a field of the wrong
		// type is refused here and the type's own encoding (e.g. the
		// mirrored field names of some replies) is what IM gets.
		raw, _ := json.Marshal(reply) // raw JSON values always marshal
		if name, ok := jsonnames.Repeated(raw, true); ok {
			// Decoded into the reply type, names match in any case, the
			// last given winning: {"ResultCode":38001,"resultCode":0}
			// gives a target's code twice as much as two of one spelling.
			return dispatcher.Decision{}, nil, fmt.Errorf("%s is named twice, in two cases: the answer says two things", textcut.Cut(strconv.Quote(name), maxQuoted))
		}
		typed := reflect.New(accepts.typ)
		d := json.NewDecoder(bytes.NewReader(raw))
		d.DisallowUnknownFields()
		if err := d.Decode(typed.Interface()); err != nil {
			return dispatcher.Decision{}, nil, fmt.Errorf("reply fields do not fit the command's reply: %w", err)
		}
		dec.Reply = typed.Elem().Interface() // a value, as a Go handler's reply is
	}
	return dec, dropped, nil
}

// maxQuoted bounds what an error refusing an answer quotes of a value:
// the error is logged at every before-callback whose answer it refuses.
const maxQuoted = 64

// quoted is a JSON value of an answer as an error quotes it, cut short.
func quoted(raw json.RawMessage) string {
	return textcut.Cut(string(bytes.TrimSpace(raw)), maxQuoted)
}

// post sends r to d with the Standard Webhooks headers, the command, app
// and kind (and, with tracing, traceparent). A failure to get an answer is
// counted here (not one whose caller gave up first: see failure); the
// caller counts the answer.
//
// With an answer, the forward span is still open: the caller ends it with
// end, given why the answer could not be used (nil when it was), so that a
// 2xx whose body is no usable decision fails the span as the fallback
// fails the before-handler's. Without an answer (err), the span is ended
// already and end does nothing; off, end does nothing.
func (f *Forwarder) post(ctx context.Context, d *destination, r *dispatcher.Request, kind dispatcher.Kind) (resp *http.Response, end func(error), err error) {
	name := d.cfg.Name
	end = noEnd
	if f.tracer.Enabled() {
		var span trace.Span
		ctx, span = f.tracer.Start(ctx, "imcallback.forward", tracing.KindClient,
			trace.WithAttributes(tracing.AttrDestination.String(name), tracing.AttrCommand.String(r.Command)))
		defer func() {
			if err != nil || resp == nil {
				tracing.Fail(span, err)
				span.End()
				return
			}
			span.SetAttributes(tracing.AttrStatus.Int(resp.StatusCode))
			if resp.StatusCode < 200 || resp.StatusCode > 299 {
				// A failure status is a failed delivery to the service
				// (counted, retried or dead-lettered, or the fallback):
				// the span says so, as for a transport error.
				span.SetStatus(codes.Error, fmt.Sprintf("%s answered HTTP %d", name, resp.StatusCode))
			}
			end = func(err error) {
				tracing.Fail(span, err)
				span.End()
			}
		}()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.cfg.URL, bytes.NewReader(r.Body))
	if err != nil {
		f.requests.WithLabelValues(name, ResultError).Inc()
		return nil, end, fmt.Errorf("forward: %s: %w", name, err)
	}
	id, ts := EventID(r), f.now().Unix()
	h := req.Header
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", "imcallback")
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	h.Set(HeaderSignature, SignAll(d.keys, id, ts, r.Body))
	h.Set(HeaderCommand, r.Command)
	h.Set(HeaderApp, r.Params.SdkAppid)
	h.Set(HeaderKind, kind.String())
	if r.RequestID != "" {
		h.Set("X-Request-Id", r.RequestID)
	}
	f.tracer.Inject(ctx, h)
	start := time.Now()
	resp, err = f.send(ctx, d.client(kind), req, r.Body)
	if err != nil {
		if result := f.failure(ctx, err); result != "" {
			f.duration.WithLabelValues(name).Observe(time.Since(start).Seconds())
			f.requests.WithLabelValues(name, result).Inc()
		}
		// *url.Error quotes the URL, whose query or user info may hold a
		// credential: the error goes to logs, spans and dead letters.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, end, fmt.Errorf("forward: %s: %w", name, hideTarget(err, req.URL))
	}
	f.duration.WithLabelValues(name).Observe(time.Since(start).Seconds())
	return resp, end, nil
}

// noEnd is post's end when there is no span to end.
func noEnd(error) {}

// hideTarget is err with the request target of u (its path and query,
// where a webhook URL keeps its key) redacted from its text. The cause of
// a failed exchange may quote the answer: from a server that is no HTTP
// server and echoes the request (a mistyped port), its "status code" is
// the request line's target; so may the refusal of a before-callback's
// answer, which quotes its start, from an HTTP echo service. A short target ("/h", a query "on") is
// hidden only where it stands alone, not inside the error's own words
// ("net/http", "connection"). The result unwraps to err, so a timeout
// stays one for errors.Is.
func hideTarget(err error, u *url.URL) error {
	return redact.Standalone(err, targetSecrets(u)...)
}

// targetSecrets are the forms of u's request target that hideTarget
// hides: its path and query, as sent, as decoded (a destination's "Cannot
// POST" page may show them so) and as a quote escapes them.
func targetSecrets(u *url.URL) []string {
	var secrets []string
	forms := []string{u.RequestURI(), u.EscapedPath(), u.Path, u.RawQuery}
	if q, err := url.QueryUnescape(u.RawQuery); err == nil && q != u.RawQuery {
		forms = append(forms, q)
	}
	for _, s := range forms {
		if len(s) > 1 { // "/" alone hides nothing
			secrets = append(secrets, s)
			// An answer's start is quoted in its refusal: a '"' or '\'
			// of the URL shows there escaped.
			if q := strconv.Quote(s); q[1:len(q)-1] != s {
				secrets = append(secrets, q[1:len(q)-1])
			}
		}
	}
	return secrets
}

// send sends req with client. A request that got no answer at all on a
// kept-alive connection (the destination closed it as the request went out,
// as Node.js does after 5 s idle and gunicorn after 2 s) is sent once more,
// with body, under the same webhook-id for the receiver to deduplicate on: a
// before-callback would otherwise get the fallback. Once only, so that a
// request that makes the destination drop its connection is not sent on
// every idle one in turn. A request whose answer began to arrive (and then
// failed: headers too large, a malformed status line) was handled by the
// destination, and is not sent again.
func (f *Forwarder) send(ctx context.Context, client *http.Client, req *http.Request, body []byte) (*http.Response, error) {
	var reused bool
	var answered atomic.Bool // set on the connection's read goroutine
	trace := &httptrace.ClientTrace{
		GotConn:              func(info httptrace.GotConnInfo) { reused = info.Reused },
		GotFirstResponseByte: func() { answered.Store(true) },
	}
	resp, err := client.Do(req.WithContext(httptrace.WithClientTrace(ctx, trace)))
	if err == nil || !reused || answered.Load() || ctx.Err() != nil {
		return resp, err
	}
	again := req.Clone(ctx)
	again.Body = io.NopCloser(bytes.NewReader(body))
	return client.Do(again)
}

// failure is the result label of a request that got no answer, or ""
// when its caller gave up first (IM closed the connection of a
// before-callback, the service is stopping under a delivery): that is no
// failure of the destination, and is counted in no result.
func (f *Forwarder) failure(ctx context.Context, err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded):
		return ResultTimeout
	case errors.Is(ctx.Err(), context.Canceled):
		return ""
	}
	return ResultError
}

// Close drops the idle connections of every destination.
func (f *Forwarder) Close() {
	for _, d := range f.dests {
		d.before.CloseIdleConnections()
		d.after.CloseIdleConnections()
	}
}

// DestinationInfo is one destination as GET /v1/forward shows it.
type DestinationInfo struct {
	Name  string   `json:"name"`  // the destination's name (config.ForwardConfig.Name)
	URL   string   `json:"url"`   // credentials redacted
	Match []string `json:"match"` // its globs on CallbackCommand
	Apps  []string `json:"apps"`  // the SdkAppids it is limited to; empty (never null) for every app
	// Requests count the requests by result since the start.
	Requests map[string]float64 `json:"requests"`
	// SuccessRate is the share of requests answered ok; null before the first.
	SuccessRate *float64 `json:"success_rate"`
}

// Info describes every destination with its request counts.
func (f *Forwarder) Info() []DestinationInfo {
	out := make([]DestinationInfo, 0, len(f.dests))
	for _, d := range f.dests {
		info := DestinationInfo{Name: d.cfg.Name, URL: config.RedactURL(d.cfg.URL), Match: slices.Clone(d.cfg.Match),
			Apps: slices.Clone(d.cfg.Apps), Requests: map[string]float64{}}
		if info.Apps == nil {
			info.Apps = []string{}
		}
		total := 0.0
		for _, r := range results {
			n := counterValue(f.requests.WithLabelValues(d.cfg.Name, r))
			info.Requests[r] = n
			total += n
		}
		if total > 0 {
			rate := info.Requests[ResultOK] / total
			info.SuccessRate = &rate
		}
		out = append(out, info)
	}
	return out
}

// counterValue reads a counter's value.
func counterValue(c prometheus.Counter) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		return 0
	}
	return m.GetCounter().GetValue()
}

// Routes are the admin routes of gateway mode: GET /v1/forward lists the
// destinations with their request counts and success rate. None when
// nothing is forwarded.
func Routes(fw dispatcher.Forwarder) []admin.Route {
	f, ok := fw.(*Forwarder)
	if !ok || f == nil {
		return nil
	}
	return []admin.Route{{Method: http.MethodGet, Path: "/v1/forward", Handler: func(c echo.Context) error {
		return c.JSON(http.StatusOK, map[string]any{"destinations": f.Info()})
	}}}
}
