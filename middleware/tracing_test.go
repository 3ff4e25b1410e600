package middleware_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.uber.org/zap"

	"github.com/imcallback/imcallback/metrics"
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

// onlySpan is the one span rec ended, failing t unless there is exactly
// one, after checking each of its attributes in want (an empty value:
// the attribute is absent).
func onlySpan(t *testing.T, rec *tracetest.SpanRecorder, want map[string]string) sdktrace.ReadOnlySpan {
	t.Helper()
	spans := rec.Ended()
	if len(spans) != 1 {
		t.Fatalf("%d spans, want 1", len(spans))
	}
	for key, w := range want {
		if got := spanAttr(spans[0], key); got != w {
			t.Errorf("%s = %q, want %q", key, got, w)
		}
	}
	return spans[0]
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
	s := onlySpan(t, rec, map[string]string{
		"http.response.status_code":   "500",
		"imcallback.rejection_reason": "internal",
		"imcallback.command":          "C2C.CallbackBeforeSendMsg",
		"imcallback.app_id":           "1400000000",
		"imcallback.outcome":          "rejected",
	})
	if s.Status().Code != codes.Error {
		t.Errorf("span status %v, want Error", s.Status())
	}
}

// TestTracingKeepsAttributesValidUTF8: the span's method, path, command
// and app id come from an unverified request, whose query values are
// percent-decoded into any bytes. OTLP carries attributes as protobuf
// strings, which must be valid UTF-8: one span holding other bytes fails
// the marshalling of its whole export batch, so one request of anyone's
// (CallbackCommand=%FF, a 404 of any path) lost the spans of every
// callback exported with it. Invalid bytes are replaced, and a value cut
// to its bound is cut between two characters.
func TestTracingKeepsAttributesValidUTF8(t *testing.T) {
	straddling := func(limit int) string { return strings.Repeat("a", limit-1) + "é" } // é's two bytes cross the bound
	tests := []struct {
		name, target string
		key, want    string
	}{
		{"a command of invalid bytes", "/im/callback?SdkAppid=1400000000&CallbackCommand=C2C.%FFx",
			"imcallback.command", "C2C.\uFFFDx"},
		{"an app id of invalid bytes", "/im/callback?SdkAppid=14%C3&CallbackCommand=C2C.CallbackBeforeSendMsg",
			"imcallback.app_id", "14\uFFFD"},
		{"a path of invalid bytes", "/im/%FEcallback", "url.path", "/im/\uFFFDcallback"},
		{"a command cut inside a character", "/im/callback?CallbackCommand=" + url.QueryEscape(straddling(128)),
			"imcallback.command", strings.Repeat("a", 127) + "…"},
		{"a path cut inside a character", "/" + url.PathEscape(straddling(255)),
			"url.path", "/" + strings.Repeat("a", 254) + "…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := tracetest.NewSpanRecorder()
			tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
			t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
			e := echo.New()
			e.HTTPErrorHandler = middleware.ErrorHandler(zap.NewNop(), metrics.NewCallbacks(prometheus.NewRegistry()))
			e.Use(middleware.TracingWithConfig(middleware.TracingConfig{Tracer: tracing.New(tp)}),
				middleware.AccessLogWithConfig(middleware.AccessLogConfig{Logger: zap.NewNop()}))
			e.POST("/im/callback", func(c echo.Context) error {
				return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, protocol.OKBody)
			})
			e.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, tt.target, strings.NewReader(`{}`)))
			spans := rec.Ended()
			if len(spans) != 1 {
				t.Fatalf("%d spans, want 1", len(spans))
			}
			for _, a := range spans[0].Attributes() {
				if v := a.Value.AsString(); !utf8.ValidString(v) {
					t.Errorf("attribute %s = %q is not valid UTF-8: the export of its batch fails", a.Key, v)
				}
			}
			if got := spanAttr(spans[0], tt.key); got != tt.want {
				t.Errorf("%s = %q, want %q", tt.key, got, tt.want)
			}
		})
	}
}

// TestTracingRecordsAnErrorOfAMiddlewareInside: a middleware of the
// user's between tracing and the access log (a rate limiter at
// OrderTracing+10, say) that refuses a request returns its error past the
// access log, which writes the errors of the chain inside it. The span
// names the status and reason sent, not the 200 of a response not
// written yet.
func TestTracingRecordsAnErrorOfAMiddlewareInside(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	tracingMW := middleware.TracingWithConfig(middleware.TracingConfig{Tracer: tracing.New(tp)})
	limiter := func(echo.HandlerFunc) echo.HandlerFunc {
		return func(echo.Context) error { return echo.ErrTooManyRequests }
	}
	access := middleware.AccessLogWithConfig(middleware.AccessLogConfig{Logger: zap.NewNop()})
	res, _ := serve(t, post("SdkAppid=1400000000&CallbackCommand=C2C.CallbackBeforeSendMsg"), nil, tracingMW, limiter, access)
	assertRejected(t, res, protocol.ErrTooManyRequests)
	onlySpan(t, rec, map[string]string{
		"http.response.status_code":   "429",
		"imcallback.rejection_reason": "too_many_requests",
		"imcallback.outcome":          "rejected",
	})
}

// TestTracingErrorAfterTheAnswerIsNoRejection: an error a middleware
// between the span and the access log returns after the answer was sent
// leaves the span of that 200 without a rejection's reason or outcome, as
// the access line is.
func TestTracingErrorAfterTheAnswerIsNoRejection(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	tracingMW := middleware.TracingWithConfig(middleware.TracingConfig{Tracer: tracing.New(tp)})
	afterAnswer := func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if err := next(c); err != nil {
				return err
			}
			return errors.New("audit write failed")
		}
	}
	access := middleware.AccessLogWithConfig(middleware.AccessLogConfig{Logger: zap.NewNop()})
	res, _ := serve(t, post("SdkAppid=1400000000&CallbackCommand=C2C.CallbackBeforeSendMsg"), nil, tracingMW, afterAnswer, access)
	if res.Code != http.StatusOK {
		t.Fatalf("status sent %d, want the handler's 200", res.Code)
	}
	onlySpan(t, rec, map[string]string{
		"http.response.status_code":   "200",
		"imcallback.rejection_reason": "",
		"imcallback.outcome":          "",
	})
}
