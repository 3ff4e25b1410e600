package middleware_test

import (
	"context"
	"testing"

	"github.com/labstack/echo/v4"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.uber.org/zap"

	"github.com/imcallback/imcallback/middleware"
	"github.com/imcallback/imcallback/protocol"
	"github.com/imcallback/imcallback/tracing"
)

// spanAttr is the value of s's attribute key, "" when it has none.
func spanAttr(s sdktrace.ReadOnlySpan, key string) string {
	for _, a := range s.Attributes() {
		if string(a.Key) == key {
			return a.Value.Emit()
		}
	}
	return ""
}

// TestTracingRecordsAPanic: a handler's panic, which Recover (further out)
// answers with a 500, leaves a span that says so, as the access line does,
// not one that looks like a request answered without a status.
func TestTracingRecordsAPanic(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	recoverMW := middleware.NewRecover(zap.NewNop()).Func
	tracingMW := middleware.TracingWithConfig(middleware.TracingConfig{Tracer: tracing.New(tp)})
	access := middleware.AccessLogWithConfig(middleware.AccessLogConfig{Logger: zap.NewNop()})
	boom := func(echo.HandlerFunc) echo.HandlerFunc {
		return func(echo.Context) error { panic("handler bug") }
	}
	res, _ := serve(t, post("SdkAppid=1400000000&CallbackCommand=C2C.CallbackBeforeSendMsg"), nil, recoverMW, tracingMW, access, boom)
	assertRejected(t, res, protocol.ErrInternal)
	spans := rec.Ended()
	if len(spans) != 1 {
		t.Fatalf("%d spans, want 1", len(spans))
	}
	s := spans[0]
	for key, want := range map[string]string{
		"http.response.status_code":   "500",
		"imcallback.rejection_reason": "internal",
		"imcallback.command":          "C2C.CallbackBeforeSendMsg",
		"imcallback.app_id":           "1400000000",
		"imcallback.outcome":          "rejected",
	} {
		if got := spanAttr(s, key); got != want {
			t.Errorf("%s = %q, want %q", key, got, want)
		}
	}
	if s.Status().Code != codes.Error {
		t.Errorf("span status %v, want Error", s.Status())
	}
}
