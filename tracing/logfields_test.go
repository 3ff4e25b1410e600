package tracing_test

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/trace"

	"github.com/imcallback/imcallback/tracing"
)

// TestLogFieldsOnlyForSampledSpans: a log line joins its trace with
// trace_id and span_id only when the span is sampled, as the README says;
// with a ratio sampler the lines of a trace that is not exported carry
// neither.
func TestLogFieldsOnlyForSampledSpans(t *testing.T) {
	tid, _ := trace.TraceIDFromHex("4bf92f3577b34da6a3ce929d0e0e4736")
	sid, _ := trace.SpanIDFromHex("00f067aa0ba902b7")
	for _, tc := range []struct {
		name  string
		flags trace.TraceFlags
		want  int
	}{
		{"sampled", trace.FlagsSampled, 2},
		{"not sampled", 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: tid, SpanID: sid, TraceFlags: tc.flags})
			fields := tracing.LogFields(trace.ContextWithSpanContext(context.Background(), sc))
			if len(fields) != tc.want {
				t.Fatalf("fields %v, want %d", fields, tc.want)
			}
			if tc.want > 0 && (fields[0].Key != "trace_id" || fields[0].String != tid.String() ||
				fields[1].Key != "span_id" || fields[1].String != sid.String()) {
				t.Fatalf("fields %v, want trace_id %s and span_id %s", fields, tid, sid)
			}
		})
	}
	if fields := tracing.LogFields(context.Background()); len(fields) != 0 {
		t.Fatalf("fields %v without a span, want none", fields)
	}
}
