package tracing_test

import (
	"context"
	"errors"
	"io/fs"
	"testing"
	"unicode/utf8"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/imcallback/imcallback/tracing"
)

// TestFailKeepsTheSpanValidUTF8: a handler's error may quote bytes of the
// callback that are no UTF-8 (an id it could not find, a file name).
// OTLP carries the status description and the exception event's message
// as protobuf strings, and one that is not UTF-8 fails the export of the
// whole batch of spans, so Fail replaces the invalid bytes. The exception
// keeps the error's own type.
func TestFailKeepsTheSpanValidUTF8(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		wantText string
		wantType string
	}{
		{"valid text is kept", errors.New("group @TGS#1 not found"), "group @TGS#1 not found", "*errors.errorString"},
		{"invalid bytes are replaced", errors.New("group \xff\xfe not found"), "group \uFFFD not found", "*errors.errorString"},
		{"the error's type is kept", &fs.PathError{Op: "open", Path: "topics/\xc3", Err: fs.ErrNotExist},
			"open topics/\uFFFD: file does not exist", "*fs.PathError"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := tracetest.NewSpanRecorder()
			tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
			t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
			_, span := tp.Tracer("test").Start(context.Background(), "handler")
			tracing.Fail(span, tt.err)
			span.End()
			s := rec.Ended()[0]
			if s.Status().Code != codes.Error || s.Status().Description != tt.wantText {
				t.Errorf("status %v %q, want Error %q", s.Status().Code, s.Status().Description, tt.wantText)
			}
			events := s.Events()
			if len(events) != 1 || events[0].Name != "exception" {
				t.Fatalf("events %v, want one exception", events)
			}
			got := map[string]string{}
			for _, a := range events[0].Attributes {
				v := a.Value.AsString()
				if !utf8.ValidString(v) {
					t.Errorf("event attribute %s = %q is no UTF-8", a.Key, v)
				}
				got[string(a.Key)] = v
			}
			if got["exception.message"] != tt.wantText {
				t.Errorf("exception.message %q, want %q", got["exception.message"], tt.wantText)
			}
			if got["exception.type"] != tt.wantType {
				t.Errorf("exception.type %q, want %q", got["exception.type"], tt.wantType)
			}
		})
	}
}
