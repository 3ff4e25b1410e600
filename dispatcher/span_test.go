package dispatcher_test

import (
	"context"
	"errors"
	"testing"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/tracing"
)

// TestBeforeHandlerSpanRecordsTheAnswerSent: the before-handler's span
// names the decision IM got, with its code, and is failed with the cause
// when that is the fallback. Reply fields that could not be encoded got
// the fallback after the span had ended naming the handler's modify
// (code 0), and no span of a failed handler was marked failed.
func TestBeforeHandlerSpanRecordsTheAnswerSent(t *testing.T) {
	tests := []struct {
		name         string
		fn           func(*dispatcher.Event[sendMsg]) (dispatcher.Decision, error)
		wantDecision string
		wantCode     int64
		wantFailed   bool
	}{
		{"allow", func(*dispatcher.Event[sendMsg]) (dispatcher.Decision, error) { return allow(), nil }, "allow", 0, false},
		{"handler error", func(*dispatcher.Event[sendMsg]) (dispatcher.Decision, error) {
			return dispatcher.Decision{}, errors.New("database down")
		}, "fallback", 1, true},
		{"reply that cannot be encoded", func(*dispatcher.Event[sendMsg]) (dispatcher.Decision, error) {
			return modify(errReply{}), nil
		}, "fallback", 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := tracetest.NewSpanRecorder()
			tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
			t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
			h := newHarness(t, dispatcher.Options{Fallback: deny("fallback"), Tracer: tracing.New(tp)}, before(tt.fn))
			_, out := h.do("C2C.CallbackBeforeSendMsg", `{}`)
			spans := rec.Ended()
			if len(spans) != 1 || spans[0].Name() != "imcallback.before_handler" {
				t.Fatalf("%d spans ended, want the before-handler's", len(spans))
			}
			attrs := map[string]any{}
			for _, a := range spans[0].Attributes() {
				attrs[string(a.Key)] = a.Value.AsInterface()
			}
			if attrs["imcallback.decision"] != tt.wantDecision || attrs["imcallback.error_code"] != tt.wantCode ||
				out["ErrorCode"] != float64(tt.wantCode) {
				t.Errorf("span %v for the answer %v, want decision %s, code %d", attrs, out, tt.wantDecision, tt.wantCode)
			}
			if failed := spans[0].Status().Code == codes.Error; failed != tt.wantFailed {
				t.Errorf("span status %v, want failed %v", spans[0].Status(), tt.wantFailed)
			}
		})
	}
}
