package delivery_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/imcallback/imcallback/delivery"
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

// TestDeadLetterLineBeforeTheDeliverySpanJoinsTheTrace: an event
// dead-lettered before its delivery's span starts (its deliveries used up
// by an attempt a stop or crash cut short; a message whose headers do not
// decode) is logged with the request id and the trace id its stored
// headers carry, as a delivery that dead-letters its event is: the line
// carried neither, and could not be found from the request.
func TestDeadLetterLineBeforeTheDeliverySpanJoinsTheTrace(t *testing.T) {
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	for _, tc := range []struct {
		name string
		line string
		// store stores the event and makes its next delivery dead-letter
		// it before its span; it returns the trace id and request id the
		// dead-letter line must carry.
		store func(t *testing.T, o delivery.Options, tp *sdktrace.TracerProvider, rec *tracetest.SpanRecorder) (trace, request string)
	}{
		{
			name: "deliveries used up",
			line: "event dead-lettered after its last delivery",
			store: func(t *testing.T, o delivery.Options, tp *sdktrace.TracerProvider, rec *tracetest.SpanRecorder) (string, string) {
				r := newRecorder()
				r.set(time.Minute, nil) // outlives the shutdown timeout
				o.Tracer = tracing.New(tp)
				first := start(t, o, dispatcherFor(t, r))
				accept(t, first, request(testCommand, "cut"))
				<-r.started
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if err := first.Stop(ctx); err != nil { // the only allowed attempt is cut short
					t.Fatal(err)
				}
				for _, sp := range rec.Ended() {
					if sp.Name() == "imcallback.append" {
						return sp.SpanContext().TraceID().String(), "req-cut"
					}
				}
				t.Fatal("no append span")
				return "", ""
			},
		},
		{
			name: "headers that do not decode",
			line: "event dead-lettered at once: retrying cannot help",
			store: func(t *testing.T, o delivery.Options, _ *sdktrace.TracerProvider, _ *tracetest.SpanRecorder) (string, string) {
				first := start(t, o, nil)
				msg := nats.NewMsg(o.SubjectPrefix + ".1400000000." + testCommand)
				msg.Header.Set(delivery.HeaderCommand, testCommand)
				msg.Header.Set(delivery.HeaderReceivedAt, "yesterday")
				msg.Header.Set(delivery.HeaderRequestID, "req-bad")
				msg.Header.Set("Traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if _, err := first.Conn().JS.PublishMsg(ctx, msg); err != nil {
					t.Fatal(err)
				}
				if err := first.Stop(ctx); err != nil { // the store's to the service started next
					t.Fatal(err)
				}
				return traceID, "req-bad"
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := tracetest.NewSpanRecorder()
			tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
			t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
			o := options(t, backend{name: "embedded"})
			o.MaxDeliveries = 1
			o.ShutdownTimeout = time.Second // also the stop's NATS drain's: not less on a busy machine
			wantTrace, wantRequest := tc.store(t, o, tp, rec)

			o.Tracer = tracing.New(tp)
			core, logs := observer.New(zap.InfoLevel)
			startLogged(t, o, zap.New(core), dispatcherFor(t, newRecorder()))
			// Past the ack wait too: the event given back by the stop may go to its
			// pull request, still open at the server (the race of the shutdown).
			eventually(t, 30*time.Second, "the dead-letter line", func() bool { return logs.FilterMessage(tc.line).Len() > 0 })
			m := logs.FilterMessage(tc.line).All()[0].ContextMap()
			if m["trace_id"] != wantTrace || m["request_id"] != wantRequest {
				t.Errorf("the dead-letter line has trace_id %v, request_id %v; want %s, %s (fields %v)",
					m["trace_id"], m["request_id"], wantTrace, wantRequest, m)
			}
			if _, ok := m["span_id"]; ok {
				t.Errorf("the dead-letter line names span %v: no span of this delivery was started", m["span_id"])
			}
		})
	}
}
