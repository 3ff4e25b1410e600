// Package tracing is OpenTelemetry tracing for the callback path: one
// trace from IM's request through the durable append, across the stream,
// to each delivery, the handler and its store write, and to forward
// destinations. It is configured by the standard OTEL_* variables and off
// when no exporter is configured; off, a nil *Tracer costs a nil check.
//
// The trace context crosses the stream in the message headers (W3C
// traceparent), so a delivery's span is a child of the request's even on
// another replica, and forwarded callbacks carry traceparent to the
// destination.
package tracing

import (
	"context"
	"errors"
	"fmt"
	stdlog "log"
	"net/http"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/imcallback/imcallback/config"
)

// Module provides the *Tracer: nil (tracing off) unless the environment
// configures an exporter (see Enabled). Spans are exported from the app's
// start; the spans still queued are exported when the app stops, and a
// stopped app started again exports again.
var Module = fx.Module("tracing", fx.Provide(newFromEnv))

// instrumentation is the name of the tracer (the instrumentation scope).
const instrumentation = "github.com/imcallback/imcallback"

// Tracer starts the service's spans and carries their context across the
// stream and to forward destinations. A nil *Tracer is tracing off: every
// method is then a no-op that allocates nothing.
type Tracer struct {
	tp     trace.TracerProvider
	tracer trace.Tracer
	prop   propagation.TextMapPropagator
}

// New is a Tracer of tp with W3C trace context propagation, e.g. for a
// test with the SDK's in-memory recorder.
func New(tp trace.TracerProvider) *Tracer {
	return &Tracer{tp: tp, tracer: tp.Tracer(instrumentation), prop: propagation.TraceContext{}}
}

// TracerProvider is the provider the service's spans come from, for a
// program's own spans to be exported with them: register it with
// otel.SetTracerProvider (then otel.Tracer's spans nest under the
// service's), or take tracers from it. Off, it is a no-op provider.
func (t *Tracer) TracerProvider() trace.TracerProvider {
	if t == nil {
		return noop.NewTracerProvider()
	}
	return t.tp
}

// Start starts a span named name as a child of ctx's span. Off, it
// returns ctx and the span already in it (a no-op one when none).
func (t *Tracer) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	if t == nil {
		return ctx, trace.SpanFromContext(ctx)
	}
	return t.tracer.Start(ctx, name, opts...)
}

// Enabled reports whether spans are recorded at all.
func (t *Tracer) Enabled() bool { return t != nil }

// Inject writes ctx's trace context into h (traceparent, tracestate).
func (t *Tracer) Inject(ctx context.Context, h http.Header) {
	if t != nil {
		t.prop.Inject(ctx, propagation.HeaderCarrier(h))
	}
}

// Extract returns ctx with the remote trace context of h, if any.
func (t *Tracer) Extract(ctx context.Context, h http.Header) context.Context {
	if t == nil {
		return ctx
	}
	return t.prop.Extract(ctx, propagation.HeaderCarrier(h))
}

// LogFields are the trace_id and span_id of ctx's span, for a log line
// that joins the trace; none when ctx has no sampled span (a trace that is
// not exported has nothing to join).
func LogFields(ctx context.Context) []zap.Field {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() || !sc.IsSampled() {
		return nil
	}
	return []zap.Field{zap.String("trace_id", sc.TraceID().String()), zap.String("span_id", sc.SpanID().String())}
}

// Span kinds as start options, made once: an option built per span
// would allocate on every request.
var (
	KindServer   trace.SpanStartOption = trace.WithSpanKind(trace.SpanKindServer)
	KindClient   trace.SpanStartOption = trace.WithSpanKind(trace.SpanKindClient)
	KindProducer trace.SpanStartOption = trace.WithSpanKind(trace.SpanKindProducer)
	KindConsumer trace.SpanStartOption = trace.WithSpanKind(trace.SpanKindConsumer)
)

// Fail marks span failed with err (nothing when err is nil): an exception
// event and an error status. A message that is not UTF-8 (an error quoting
// a callback's bytes) has its invalid bytes replaced, since OTLP carries
// it as a protobuf string and one that is not UTF-8 fails the export of
// the whole batch of spans; the event still names the error's own type.
func Fail(span trace.Span, err error) {
	if err == nil {
		return
	}
	msg := err.Error()
	if utf8.ValidString(msg) {
		span.RecordError(err)
	} else {
		msg = strings.ToValidUTF8(msg, "\uFFFD")
		span.AddEvent(semconv.ExceptionEventName, trace.WithAttributes(
			semconv.ExceptionType(errorType(err)), semconv.ExceptionMessage(msg)))
	}
	span.SetStatus(codes.Error, msg)
}

// errorType names err's type as the SDK's RecordError does: package path
// and name, or the type's text for an unnamed one (a pointer).
func errorType(err error) string {
	t := reflect.TypeOf(err)
	if t.PkgPath() == "" && t.Name() == "" {
		return t.String()
	}
	return t.PkgPath() + "." + t.Name()
}

// Enabled reports from the environment whether tracing is on: not when
// OTEL_SDK_DISABLED is true or OTEL_TRACES_EXPORTER is none; when
// OTEL_TRACES_EXPORTER is otlp, or OTEL_EXPORTER_OTLP_ENDPOINT or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set (the exporter's and the
// protocol's names in any case). Another exporter, or an OTLP
// protocol other than http/protobuf or http/json while tracing is on (grpc,
// say), is an error naming the variable: only OTLP over HTTP is built in,
// in either encoding (without an exporter a protocol configures nothing).
// OTEL_EXPORTER_OTLP_TRACES_PROTOCOL, when set, is the protocol, whatever
// OTEL_EXPORTER_OTLP_PROTOCOL says. When on, an exporter setting
// the exporter would ignore (an endpoint in use without http:// or https://, a
// timeout that is no number of milliseconds, a header that is no
// key=value or is empty, an unknown compression, a certificate file it cannot read,
// ...) is an error naming the variable, never quoting its value; the
// certificate files are read, and a certificate setting holding PEM text
// (or its base64) instead of a path is refused without reading it. So is a certificate setting beside plain
// HTTP (an http:// endpoint, or INSECURE=true), which the exporter
// refuses as it starts. So is an OTEL_RESOURCE_ATTRIBUTES entry the
// SDK would drop or leave undecoded, and an OTEL_TRACES_SAMPLER or
// OTEL_TRACES_SAMPLER_ARG the SDK would replace (samplerProblem), and an
// OTEL_BSP_* setting or span limit it would ignore or misuse (batchProblem).
func Enabled(getenv func(string) string) (bool, error) {
	if strings.EqualFold(strings.TrimSpace(getenv("OTEL_SDK_DISABLED")), "true") {
		return false, nil
	}
	// Enumerated values are read in any case, as the specification has
	// SDKs read them: a host-wide NONE turns tracing off too.
	exp := strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER"))
	switch strings.ToLower(exp) {
	case "none":
		return false, nil
	case "", "otlp":
		// Blanks alone are unset, as the exporter reads them: tracing on
		// would export to its default, localhost:4318. Without an exporter a
		// protocol variable (one set for every process of a host, for other
		// services) configures nothing, and stops nothing.
		if exp == "" && strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_ENDPOINT")) == "" &&
			strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")) == "" {
			return false, nil
		}
		if k, p := otlpProtocol(getenv); p != "" && !strings.EqualFold(p, "http/protobuf") && !strings.EqualFold(p, "http/json") {
			return false, fmt.Errorf("tracing: %s=%s: only OTLP over HTTP is built in, http/protobuf (the default) or http/json "+
				"(point it at the collector's OTLP/HTTP port, usually 4318)", k, p)
		}
		if err := checkExporterEnv(getenv); err != nil {
			return false, err
		}
		if msg := resourceProblem(getenv("OTEL_RESOURCE_ATTRIBUTES")); msg != "" {
			return false, fmt.Errorf("tracing: OTEL_RESOURCE_ATTRIBUTES %s", msg)
		}
		if err := samplerProblem(getenv); err != nil {
			return false, err
		}
		if err := batchProblem(getenv); err != nil {
			return false, err
		}
		return true, nil
	default:
		return false, fmt.Errorf("tracing: OTEL_TRACES_EXPORTER=%s: only otlp (OTLP over HTTP) or none", exp)
	}
}

// otlpProtocol is the OTLP protocol of the traces, trimmed, and the
// variable it comes from: the traces' own variable when set, which
// overrides the general one (that may name another signal's protocol),
// as in the OTLP exporter; "" for both when neither is set.
func otlpProtocol(getenv func(string) string) (name, value string) {
	for _, k := range []string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
		if p := strings.TrimSpace(getenv(k)); p != "" {
			return k, p
		}
	}
	return "", ""
}

// envIn are the dependencies of newFromEnv.
type envIn struct {
	fx.In
	Lifecycle fx.Lifecycle
	Log       *zap.Logger
	Config    *config.Config `optional:"true"` // its ShutdownTimeout bounds the last export
}

// newFromEnv is the Tracer of the environment, or nil when tracing is off.
func newFromEnv(in envIn) (*Tracer, error) {
	lc, log := in.Lifecycle, in.Log
	shutdownTimeout := config.Default().ShutdownTimeout
	if in.Config != nil && in.Config.ShutdownTimeout > 0 {
		shutdownTimeout = in.Config.ShutdownTimeout
	}
	on, err := Enabled(os.Getenv)
	if err != nil || !on {
		return nil, err
	}
	ctx := context.Background()
	// Endpoint, headers, TLS and timeout from OTEL_EXPORTER_OTLP_*; without
	// an endpoint, the OTLP default: http://localhost:4318, not TLS to it.
	// The encoding is given as Enabled read the protocol, in any case: the
	// exporter reads http/json in lower case only, and sends protobuf for
	// any other spelling.
	encoding := otlptracehttp.EncodingProtobuf
	if _, p := otlpProtocol(os.Getenv); strings.EqualFold(p, "http/json") {
		encoding = otlptracehttp.EncodingJSON
	}
	opts := []otlptracehttp.Option{otlptracehttp.WithEncoding(encoding)}
	if defaultPlainHTTP(os.Getenv) {
		opts = append(opts, otlptracehttp.WithInsecure())
	}
	// Each start exports through an exporter of its own: the stop shuts
	// the last one down for good (fx starts a stopped app again). The
	// first is made here, so that an exporter setting it refuses stops
	// the app before anything starts.
	// Each exporter has an HTTP transport of its own, which its shutdown
	// closes: the exporter's own would keep the connection to the
	// collector open after the stop (exporterClient).
	newExporter := func() (sdktrace.SpanExporter, error) {
		client, transport, err := exporterClient(os.Getenv)
		if err != nil {
			return nil, err
		}
		exp, err := otlptracehttp.New(ctx, append(slices.Clip(opts), otlptracehttp.WithHTTPClient(client))...)
		if err != nil {
			return nil, fmt.Errorf("tracing: the OTLP exporter: %w", err)
		}
		return ownedExporter{SpanExporter: exp, transport: transport}, nil
	}
	exp, err := newExporter()
	if err != nil {
		return nil, err
	}
	// The service name defaults to imcallback; OTEL_SERVICE_NAME and
	// OTEL_RESOURCE_ATTRIBUTES override it.
	res, err := resource.Merge(resource.NewSchemaless(semconv.ServiceName("imcallback")), resource.Environment())
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, fmt.Errorf("tracing: OTEL_RESOURCE_ATTRIBUTES: %w", err)
	}
	// OpenTelemetry reports a failed export, or a setting it cannot read, to
	// its global error handler, which by default prints it
	// with the standard library's logger: a plain line on standard error,
	// beside the service's JSON. They go to this logger while the provider
	// is built, and again from the start to the stop (errorRoute). fx runs
	// no hook of a constructor when a later one fails, so the routing of
	// the construction ends with it, not at a stop that may never come.
	release := errorRoute.add(log)
	// The sampler comes from OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG
	// (default: parent-based, always on).
	tp := sdktrace.NewTracerProvider(sdktrace.WithResource(res))
	release()
	// The batcher runs a goroutine from its creation, so the start hook makes
	// it: fx runs no stop hook of a constructor when a later constructor or an
	// earlier start hook fails. The hook comes before the hooks of everything
	// that takes the Tracer, so none of their spans is missed.
	//
	// The provider itself stays: the Tracer, and a program's tracers taken
	// from it (registered with otel.SetTracerProvider), keep it for good,
	// and one shut down drops every span and every batcher registered
	// later. Each start registers a batcher of its own, with an exporter
	// of its own, and its stop ends them and takes the batcher off.
	var (
		batched *batchedExporter
		bsp     sdktrace.SpanProcessor
	)
	lc.Append(fx.Hook{
		OnStart: func(context.Context) error {
			if exp == nil { // started again: the last run's exporter is shut down
				e, err := newExporter()
				if err != nil {
					return err
				}
				exp = e
			}
			release = errorRoute.add(log)
			batched = &batchedExporter{SpanExporter: exp, drained: make(chan struct{})}
			exp = nil
			bsp = sdktrace.NewBatchSpanProcessor(batched)
			tp.RegisterSpanProcessor(bsp)
			return nil
		},
		// The spans still queued are exported for at most LastExportTimeout:
		// a collector that does not answer would otherwise hold the stop for
		// the exporter's own timeouts (30 s and more), eating the budget of
		// the stop hooks after this one. A stop that gives up on them stops
		// the exporter, which cuts off the export in flight: the batcher
		// waits for that export before it stops the exporter itself, so it
		// would otherwise run on after the stop, for the exporter's timeout,
		// with its goroutines and its connection to the collector. The
		// batcher reports the export it had in flight, cut off, once that
		// returns: the stop waits for it (it returns at once once cut off,
		// and the wait is bounded by the stop's own deadline), so that the
		// error is this logger's warning, not a plain line of the standard
		// library's logger once the routing has ended.
		OnStop: func(stopCtx context.Context) error {
			ctx, cancel := context.WithTimeout(stopCtx, LastExportTimeout(shutdownTimeout))
			defer cancel()
			defer release() // after the last export's errors
			// The batcher is shut down first, within the bound: the provider
			// would shut down a batcher it takes off without a bound.
			err := bsp.Shutdown(ctx)
			tp.UnregisterSpanProcessor(bsp) // shut down already: returns at once
			if err != nil {
				err = errors.Join(fmt.Errorf("tracing: exporting the last spans: %w", err),
					batched.SpanExporter.Shutdown(context.Background())) // returns at once: it only cancels
				select {
				case <-batched.drained:
				case <-stopCtx.Done():
				}
				return err
			}
			return nil
		},
	})
	log.Info("tracing on: spans are exported over OTLP/HTTP", zap.String("service", serviceName(res)))
	return New(tp), nil
}

// batchedExporter is the exporter as the batch span processor holds it.
// The processor shuts its exporter down once it has exported its queue,
// or failed to, and reported the errors: drained is closed then.
type batchedExporter struct {
	sdktrace.SpanExporter
	once    sync.Once
	drained chan struct{}
}

// Shutdown closes drained and shuts the exporter down.
func (e *batchedExporter) Shutdown(ctx context.Context) error {
	e.once.Do(func() { close(e.drained) })
	return e.SpanExporter.Shutdown(ctx)
}

// errorRoute is OpenTelemetry's error handler once tracing has been on in
// the process.
var errorRoute = &errorRouter{}

// otelDefaultHandler is OpenTelemetry's own handler, before any was set.
var otelDefaultHandler = otel.GetErrorHandler()

// errorRouter sends each error OpenTelemetry reports (a failed export, say)
// as a warning to the logger of the app whose tracing started last and has
// not stopped; with none, to the handler it replaced, as before any app.
// It is set once and stays: OpenTelemetry's first SetErrorHandler makes
// the default handler forward to the handler set, for good, so setting
// the previous handler back at a stop would keep the stopped app's logger.
type errorRouter struct {
	mu   sync.Mutex
	logs []*zap.Logger // of the apps whose tracing runs, in start order
	prev otel.ErrorHandler
}

// add routes OpenTelemetry's errors to l until release is called (once or
// more).
func (r *errorRouter) add(l *zap.Logger) (release func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if h := otel.GetErrorHandler(); h != otel.ErrorHandler(r) {
		// The default handler forwards to the first handler ever set, this
		// one maybe: it is no fallback (it could call back here), the
		// standard logger it prints with is.
		if h != otelDefaultHandler {
			r.prev = h
		}
		otel.SetErrorHandler(r)
	}
	r.logs = append(r.logs, l)
	var once sync.Once
	return func() {
		once.Do(func() {
			r.mu.Lock()
			defer r.mu.Unlock()
			if i := slices.Index(r.logs, l); i >= 0 {
				r.logs = slices.Delete(r.logs, i, i+1)
			}
		})
	}
}

// Handle logs err.
func (r *errorRouter) Handle(err error) {
	r.mu.Lock()
	var l *zap.Logger
	if n := len(r.logs); n > 0 {
		l = r.logs[n-1]
	}
	prev := r.prev
	r.mu.Unlock()
	switch {
	case l != nil:
		l.Warn("tracing: OpenTelemetry reported an error (spans may be lost)", zap.Error(err))
	case prev != nil:
		prev.Handle(err)
	default:
		stdlog.Print(err)
	}
}

// lastExportBound caps the export of the last spans at the stop. The
// service's stop deadline is 4 × IMCALLBACK_SHUTDOWN_TIMEOUT for the draining
// steps plus 15 s for closing the rest; the last export runs within those
// 15 s, so it must not take a whole shutdown timeout of its own.
const lastExportBound = 5 * time.Second

// LastExportTimeout is how long the stop waits for the last spans to be
// exported: the shutdown timeout, but at most 5 s.
func LastExportTimeout(shutdownTimeout time.Duration) time.Duration {
	return min(shutdownTimeout, lastExportBound)
}

func serviceName(res *resource.Resource) string {
	if v, ok := res.Set().Value(semconv.ServiceNameKey); ok {
		return v.AsString()
	}
	return ""
}
