package middleware

import (
	"net/http"

	"github.com/labstack/echo/v4"
	"go.opentelemetry.io/otel/trace"

	"github.com/imcallback/imcallback/tracing"
)

// OrderTracing places the request's span around the access log, so the
// log line carries its trace_id and span_id.
const OrderTracing = 250

// reasonKey is where the access log leaves a rejection's reason for the span.
const reasonKey = "imcallback.reason"

// TracingConfig configures TracingWithConfig.
type TracingConfig struct {
	// Tracer starts the spans; nil turns the middleware into a pass-through.
	Tracer *tracing.Tracer
}

// TracingWithConfig starts the server span of each request, a root span:
// a traceparent on the public listener is not trusted (it runs before the
// signature check, and would let anyone choose the trace id or force the
// sampling). The span goes into the request's context, which handlers
// receive. When the request is answered it records
// the command, app, outcome, HTTP status and rejection reason (an error
// of the chain inside it is written through the echo error handler first,
// so the status is the one sent); a panic,
// which Recover (further out) answers with a 500, as that 500 (after an
// answer was sent, as that answer's status).
func TracingWithConfig(cfg TracingConfig) echo.MiddlewareFunc {
	t := cfg.Tracer
	if !t.Enabled() {
		return func(next echo.HandlerFunc) echo.HandlerFunc { return next }
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			req := c.Request()
			ctx, span := t.Start(req.Context(), "imcallback.callback", tracing.KindServer, trace.WithNewRoot())
			defer span.End()
			c.SetRequest(req.WithContext(ctx))
			defer func() {
				if r := recover(); r != nil {
					// Recover, further out, answers a panic with the 500
					// envelope: the span says so, as the access line does,
					// then the panic goes on to it.
					if r != http.ErrAbortHandler {
						describe(c, req, span, panicStatus(c))
					}
					panic(r)
				}
			}()
			if err := next(c); err != nil {
				// An error of a middleware between this one and the access
				// log (which writes those of the chain inside it): written
				// here, through the echo error handler, as the access log
				// does, so the span names the status sent. One returned
				// after the answer was sent is no rejection.
				answered := c.Response().Committed
				c.Error(err)
				if !answered {
					c.Set(reasonKey, AsProtocolError(err).Reason)
				}
			}
			describe(c, req, span, c.Response().Status)
			return nil
		}
	}
}

// describe sets the attributes of a request's span answered with status:
// the command, app, outcome, HTTP status and rejection reason, and marks a
// 5xx failed. A span that is not recorded (not sampled) is left alone.
func describe(c echo.Context, req *http.Request, span trace.Span, status int) {
	if !span.IsRecording() { // not sampled: nothing to describe
		return
	}
	p := ParamsOf(c)
	reason, _ := c.Get(reasonKey).(string)
	// Bounded as the access line is: the span is kept until it is
	// exported, and all of these come from an unverified request.
	line := requestLine(req)
	span.SetAttributes(tracing.AttrMethod.String(loggable(req.Method, line)),
		tracing.AttrRoute.String(loggablePath(req.URL.Path, line)),
		tracing.AttrCommand.String(loggable(commandOf(c, p), line)), tracing.AttrApp.String(loggable(p.SdkAppid, line)),
		tracing.AttrStatus.Int(status),
		tracing.AttrRequest.String(c.Response().Header().Get(echo.HeaderXRequestID)), tracing.AttrOutcome.String(outcomeOf(c, reason != "")))
	if reason != "" {
		span.SetAttributes(tracing.AttrReason.String(reason))
	}
	if status >= 500 {
		tracing.Fail(span, echo.NewHTTPError(status, reason))
	}
}

// NewTracing is the tracing middleware of the service's Tracer.
func NewTracing(t *tracing.Tracer) Ordered {
	return Ordered{Name: "tracing", Order: OrderTracing, Scope: ScopeEveryRequest, Func: TracingWithConfig(TracingConfig{Tracer: t})}
}
