package tracing_test

import (
	"context"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/imcallback/imcallback/tracing"
)

// TestTracerProviderRecordsAProgramsSpans: the README has a program's
// handlers start spans of their own (otel.Tracer, once the service's
// provider is registered with otel.SetTracerProvider) nested under the
// service's. The provider is the Tracer's: a span from it is recorded,
// a child of the service's span in ctx. Off, the provider is a no-op one,
// never nil (otel.SetTracerProvider(nil) would panic).
func TestTracerProviderRecordsAProgramsSpans(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tr := tracing.New(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)))
	ctx, parent := tr.Start(context.Background(), "imcallback.before_handler")
	_, own := tr.TracerProvider().Tracer("moderation").Start(ctx, "moderation.check")
	own.End()
	parent.End()
	ended := rec.Ended()
	if len(ended) != 2 || ended[0].Name() != "moderation.check" {
		t.Fatalf("recorded %d spans, want the program's and the service's", len(ended))
	}
	if ended[0].Parent().SpanID() != ended[1].SpanContext().SpanID() {
		t.Error("the program's span is not a child of the service's")
	}

	var off *tracing.Tracer
	tp := off.TracerProvider()
	if tp == nil {
		t.Fatal("off, TracerProvider is nil")
	}
	if _, span := tp.Tracer("moderation").Start(context.Background(), "x"); span.IsRecording() {
		t.Error("off, the provider records")
	}
}
