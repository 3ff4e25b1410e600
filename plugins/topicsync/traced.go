package topicsync

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/imcallback/imcallback/tracing"
)

// tracedStore records a span per write of the Store it wraps, a child of
// the handler's context (the request's, or a delivery's, span). Its spans
// show the ids as the handlers' log lines do (loggedID, loggedIDs): a span
// outlives its request in the exporter's queue, and a callback's id can be
// as long as its body.
type tracedStore struct {
	Store
	t *tracing.Tracer
}

// traced wraps s when t records spans.
func traced(s Store, t *tracing.Tracer) Store {
	if !t.Enabled() {
		return s
	}
	return tracedStore{Store: s, t: t}
}

func (s tracedStore) write(ctx context.Context, name string, f func(context.Context) error, attrs ...attribute.KeyValue) error {
	ctx, span := s.t.Start(ctx, name, tracing.KindClient, trace.WithAttributes(attrs...))
	defer span.End()
	err := f(ctx)
	tracing.Fail(span, err)
	return err
}

func (s tracedStore) Create(ctx context.Context, t Topic) error {
	return s.write(ctx, "imcallback.topic_store.create", func(ctx context.Context) error { return s.Store.Create(ctx, t) },
		tracing.AttrApp.String(t.SdkAppID), tracing.AttrTopic.String(loggedID(t.TopicID)))
}

func (s tracedStore) Destroy(ctx context.Context, appID, groupID string, topicIDs []string, at time.Time) error {
	return s.write(ctx, "imcallback.topic_store.destroy", func(ctx context.Context) error {
		return s.Store.Destroy(ctx, appID, groupID, topicIDs, at)
	}, tracing.AttrApp.String(appID), tracing.AttrTopic.StringSlice(loggedIDs(topicIDs)))
}

func (s tracedStore) ApplyInfoChange(ctx context.Context, c InfoChange) error {
	return s.write(ctx, "imcallback.topic_store.info_change", func(ctx context.Context) error { return s.Store.ApplyInfoChange(ctx, c) },
		tracing.AttrApp.String(c.SdkAppID), tracing.AttrTopic.String(loggedID(c.TopicID)))
}
