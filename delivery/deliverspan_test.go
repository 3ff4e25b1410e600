package delivery_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/tracing"
)

// TestDeliverSpanNamesTheOutcome: each delivery's span carries the outcome
// imcallback_delivery_processed_total counts it under, and is failed only
// for a failure: an event nobody handles (no_handler) is acknowledged, as
// the metric and log say, and is no failed span for a search to find.
func TestDeliverSpanNamesTheOutcome(t *testing.T) {
	for _, tc := range []struct {
		name, command, outcome string
		failed                 bool
	}{
		{"handled", testCommand, "ok", false},
		{"no handler", "Test.CallbackAfterNobodyListens", "no_handler", false},
		{"a permanent failure", testCommand, "error", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := tracetest.NewSpanRecorder()
			tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
			t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
			r := newRecorder()
			if tc.failed {
				r.set(0, func(string, int) error { return fmt.Errorf("refused: %w", dispatcher.ErrPermanent) })
			}
			o := options(t, backend{name: "embedded"})
			o.Tracer = tracing.New(tp)
			s := start(t, o, dispatcherFor(t, r))
			accept(t, s, request(tc.command, "d1"))
			var spans []sdktrace.ReadOnlySpan
			eventually(t, 10*time.Second, "the delivery's span", func() bool {
				spans = spans[:0]
				for _, sp := range rec.Ended() {
					if sp.Name() == "imcallback.deliver" {
						spans = append(spans, sp)
					}
				}
				return len(spans) > 0
			})
			sp := spans[0]
			var outcome string
			for _, a := range sp.Attributes() {
				if a.Key == tracing.AttrOutcome {
					outcome = a.Value.Emit()
				}
			}
			if outcome != tc.outcome {
				t.Errorf("the deliver span's outcome is %q, want %q (attributes %v)", outcome, tc.outcome, sp.Attributes())
			}
			if got := sp.Status().Code == codes.Error; got != tc.failed {
				t.Errorf("the deliver span's status is %v, want failed %v", sp.Status(), tc.failed)
			}
		})
	}
}

// TestDeadLetterLineJoinsTheTrace: the log line of a delivery that
// dead-letters its event carries the trace_id and span_id of the
// delivery's span, and the request id, as the delivery's other lines do:
// the line an operator looks for first joins the trace.
func TestDeadLetterLineJoinsTheTrace(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	r := newRecorder()
	r.set(0, func(string, int) error { return fmt.Errorf("refused: %w", dispatcher.ErrPermanent) })
	o := options(t, backend{name: "embedded"})
	o.Tracer = tracing.New(tp)
	core, logs := observer.New(zap.InfoLevel)
	s := startLogged(t, o, zap.New(core), dispatcherFor(t, r))
	accept(t, s, request(testCommand, "d1"))
	const line = "event dead-lettered at once: retrying cannot help"
	eventually(t, 10*time.Second, "the dead-letter line", func() bool { return logs.FilterMessage(line).Len() > 0 })
	var deliver sdktrace.ReadOnlySpan
	eventually(t, 10*time.Second, "the delivery's span", func() bool {
		for _, sp := range rec.Ended() {
			if sp.Name() == "imcallback.deliver" {
				deliver = sp
			}
		}
		return deliver != nil
	})
	m := logs.FilterMessage(line).All()[0].ContextMap()
	sc := deliver.SpanContext()
	if m["trace_id"] != sc.TraceID().String() || m["span_id"] != sc.SpanID().String() || m["request_id"] != "req-d1" {
		t.Errorf("the dead-letter line has trace_id %v, span_id %v, request_id %v; want %s, %s, req-d1",
			m["trace_id"], m["span_id"], m["request_id"], sc.TraceID(), sc.SpanID())
	}
}
