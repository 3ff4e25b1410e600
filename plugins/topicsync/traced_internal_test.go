package topicsync

import (
	"context"
	"strings"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/imcallback/imcallback/tracing"
)

// nopStore is a Store whose writes do nothing, for the traced wrapper alone.
type nopStore struct{ Store }

func (nopStore) Create(context.Context, Topic) error                                { return nil }
func (nopStore) Destroy(context.Context, string, string, []string, time.Time) error { return nil }
func (nopStore) ApplyInfoChange(context.Context, InfoChange) error                  { return nil }

// TestSpansBoundCallbackIDs: the topic store's spans show a callback's ids
// as its log lines do, each cut to maxLoggedIDBytes and at most
// maxLoggedIDs of a list: a span outlives its request in the exporter's
// queue, and one id as long as the body (or a list of thousands) made each
// span, and the export batch it travels in, as large.
func TestSpansBoundCallbackIDs(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	s := traced(nopStore{}, tracing.New(tp))

	long := "@TGS#_g@TOPIC#_" + strings.Repeat("é", 100_000)
	many := make([]string, 5000)
	for i := range many {
		many[i] = long[:20+i%7]
	}
	ctx := t.Context()
	if err := s.Create(ctx, Topic{SdkAppID: "1400000001", TopicID: long, GroupID: "@TGS#_g"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Destroy(ctx, "1400000001", "@TGS#_g", many, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := s.ApplyInfoChange(ctx, InfoChange{SdkAppID: "1400000001", TopicID: long}); err != nil {
		t.Fatal(err)
	}

	spans := rec.Ended()
	if len(spans) != 3 {
		t.Fatalf("%d spans, want 3", len(spans))
	}
	for _, span := range spans {
		found := false
		for _, kv := range span.Attributes() {
			if kv.Key != tracing.AttrTopic {
				continue
			}
			found = true
			values := kv.Value.AsStringSlice()
			if values == nil {
				values = []string{kv.Value.AsString()}
			}
			if len(values) > maxLoggedIDs {
				t.Errorf("span %s: %d topic ids, want at most %d", span.Name(), len(values), maxLoggedIDs)
			}
			for _, v := range values {
				if len(v) > maxLoggedIDBytes+len("…") {
					t.Errorf("span %s: a topic id of %d bytes, want it cut to %d", span.Name(), len(v), maxLoggedIDBytes)
				}
			}
		}
		if !found {
			t.Errorf("span %s has no %s", span.Name(), tracing.AttrTopic)
		}
	}
}
