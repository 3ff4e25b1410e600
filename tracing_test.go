package imcallback_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/fx"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/imcallback/imcallback/commands/c2c"
	"github.com/imcallback/imcallback/delivery"
	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/imtest"
	"github.com/imcallback/imcallback/plugins/topicsync"
	"github.com/imcallback/imcallback/tracing"
)

// recording is a service's tracer backed by the SDK's in-memory recorder.
type recording struct {
	rec *tracetest.SpanRecorder
	tp  *sdktrace.TracerProvider
}

func newRecording(t *testing.T) *recording {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return &recording{rec: rec, tp: tp}
}

// option replaces the service's Tracer (off in tests) with the recorder's.
func (r *recording) option() fx.Option {
	return fx.Decorate(func(*tracing.Tracer) *tracing.Tracer { return tracing.New(r.tp) })
}

func (r *recording) named(name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range r.rec.Ended() {
		if s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}

func attr(s sdktrace.ReadOnlySpan, key string) string {
	for _, a := range s.Attributes() {
		if string(a.Key) == key {
			return a.Value.Emit()
		}
	}
	return ""
}

// flakyStore fails the first create after writing it, so the event's
// first delivery fails after its store write and the retry writes again.
type flakyStore struct {
	topicsync.Store
	failed atomic.Bool
}

func (s *flakyStore) Create(ctx context.Context, t topicsync.Topic) error {
	if err := s.Store.Create(ctx, t); err != nil {
		return err
	}
	if s.failed.CompareAndSwap(false, true) {
		return errors.New("the test's store fails once")
	}
	return nil
}

// TestDurableCallbackTrace: one trace from IM's request through the
// append, across the stream, to each delivery and its store write, across
// a retry; the log lines of the request and the deliveries carry its ids;
// no attribute holds a secret or the body.
func TestDurableCallbackTrace(t *testing.T) {
	r := newRecording(t)
	core, logs := observer.New(zapcore.InfoLevel)
	s := imtest.Start(t, []string{"IMCALLBACK_BACKOFF=50ms"}, delivery.Module, topicsync.Module, r.option(),
		fx.Decorate(func(st topicsync.Store) topicsync.Store { return &flakyStore{Store: st} }),
		fx.Decorate(func(*zap.Logger) *zap.Logger { return zap.New(core) }))
	body, err := imtest.SampleWith("Group.CallbackAfterCreateTopic", map[string]any{"Name": "secret-topic-name"})
	if err != nil {
		t.Fatal(err)
	}
	// A traceparent from the public side is not trusted: the request's span is a root.
	foreign := "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	if res := s.Send(t, "Group.CallbackAfterCreateTopic", body, imtest.WithHeader("traceparent", foreign)); !res.OK() {
		t.Fatalf("answered %d %s", res.Status, res.Body)
	}
	waitUntil(t, "two deliveries", func() bool { return len(r.named("imcallback.deliver")) == 2 })

	req := r.named("imcallback.callback")
	app := r.named("imcallback.append")
	if len(req) != 1 || len(app) != 1 {
		t.Fatalf("%d request spans, %d append spans", len(req), len(app))
	}
	root := req[0]
	if root.SpanKind() != trace.SpanKindServer || attr(root, "imcallback.command") != "Group.CallbackAfterCreateTopic" ||
		attr(root, "imcallback.outcome") != "queued" || attr(root, "http.response.status_code") != "200" ||
		attr(root, "imcallback.app_id") != imtest.AppID {
		t.Errorf("request span %s %v", root.SpanKind(), root.Attributes())
	}
	tid := root.SpanContext().TraceID()
	if root.Parent().IsValid() || tid.String() == "0af7651916cd43dd8448eb211c80319c" {
		t.Errorf("the request's span took the caller's traceparent: parent %v", root.Parent())
	}
	if app[0].Parent().SpanID() != root.SpanContext().SpanID() {
		t.Errorf("the append is not a child of the request")
	}
	deliveries := r.named("imcallback.deliver")
	writes := r.named("imcallback.topic_store.create")
	if len(writes) != 2 {
		t.Fatalf("%d store writes, want 2", len(writes))
	}
	for i, d := range deliveries {
		if d.SpanContext().TraceID() != tid || d.Parent().SpanID() != app[0].SpanContext().SpanID() {
			t.Errorf("delivery %d is not a child of the append in the request's trace", i+1)
		}
		if got := attr(d, "imcallback.delivery"); got != fmt.Sprint(i+1) {
			t.Errorf("delivery %d has delivery number %s", i+1, got)
		}
		if w := writes[i]; w.Parent().SpanID() != d.SpanContext().SpanID() || attr(w, "imcallback.topic_id") == "" {
			t.Errorf("store write %d is not a child of its delivery: parent %s", i+1, w.Parent().SpanID())
		}
	}
	if deliveries[0].Status().Code != codes.Error || deliveries[1].Status().Code == codes.Error {
		t.Errorf("delivery statuses %v, %v: want the first failed", deliveries[0].Status(), deliveries[1].Status())
	}

	// Logs join the trace.
	joined := map[string]bool{}
	for _, e := range logs.All() {
		m := e.ContextMap()
		if m["trace_id"] == tid.String() {
			joined[e.Message] = true
		}
	}
	for _, msg := range []string{"request", "handler failed; redelivering after the backoff"} {
		if !joined[msg] {
			t.Errorf("the log line %q carries no trace_id of the trace (logs with it: %v)", msg, joined)
		}
	}

	// No secret, no body.
	for _, sp := range r.rec.Ended() {
		for _, a := range sp.Attributes() {
			k, v := strings.ToLower(string(a.Key)), a.Value.Emit()
			if strings.Contains(k, "sign") || strings.Contains(k, "token") || strings.Contains(k, "body") ||
				strings.Contains(v, imtest.Token) || strings.Contains(v, "secret-topic-name") || strings.Contains(v, "Sign=") {
				t.Errorf("span %s has attribute %s=%s", sp.Name(), a.Key, v)
			}
		}
	}
}

// TestEachStoredCopyHasItsAppend: a durable callback with a Go handler and
// a forward destination is stored as two copies, each with its own
// imcallback.append (its imcallback.destination: "" for the handler's,
// the destination's name for the other), a child of the request's span,
// and each copy's delivery under its own append, as the README's tree has it.
func TestEachStoredCopyHasItsAppend(t *testing.T) {
	r := newRecording(t)
	dest := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	defer dest.Close()
	s := imtest.Start(t, []string{"IMCALLBACK_FORWARD_URL=" + dest.URL, "IMCALLBACK_FORWARD_SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
		"IMCALLBACK_FORWARD_MATCH=Group.CallbackAfterCreateTopic"}, delivery.Module, topicsync.Module, r.option())
	if res := s.Send(t, "Group.CallbackAfterCreateTopic", mustSample(t, "Group.CallbackAfterCreateTopic")); !res.OK() {
		t.Fatalf("answered %d %s", res.Status, res.Body)
	}
	waitUntil(t, "both copies delivered", func() bool {
		return len(r.named("imcallback.forward")) == 1 && len(r.named("imcallback.topic_store.create")) == 1
	})
	req, appends := r.named("imcallback.callback"), r.named("imcallback.append")
	if len(req) != 1 || len(appends) != 2 {
		t.Fatalf("%d request spans, %d append spans; want 1 and 2", len(req), len(appends))
	}
	byDestination := map[string]sdktrace.ReadOnlySpan{}
	for _, a := range appends {
		if a.Parent().SpanID() != req[0].SpanContext().SpanID() {
			t.Errorf("append %v is not a child of the request", a.Attributes())
		}
		byDestination[attr(a, "imcallback.destination")] = a
	}
	handler, forwarded := byDestination[""], byDestination["default"]
	if handler == nil || forwarded == nil {
		t.Fatalf("append destinations %v, want \"\" and default", byDestination)
	}
	parentOf := func(child sdktrace.ReadOnlySpan) sdktrace.ReadOnlySpan {
		for _, d := range r.named("imcallback.deliver") {
			if d.SpanContext().SpanID() == child.Parent().SpanID() {
				return d
			}
		}
		return nil
	}
	if d := parentOf(r.named("imcallback.topic_store.create")[0]); d == nil || d.Parent().SpanID() != handler.SpanContext().SpanID() {
		t.Error("the handler's delivery is not under the handler copy's append")
	}
	if d := parentOf(r.named("imcallback.forward")[0]); d == nil || d.Parent().SpanID() != forwarded.SpanContext().SpanID() {
		t.Error("the forward's delivery is not under the destination copy's append")
	}
}

// TestHandlerSpansNestAndForwardCarriesTraceparent: a before-handler's ctx
// holds the handler span, under which the handler's own spans nest; a
// forwarded callback sends traceparent of its forward span.
func TestHandlerSpansNestAndForwardCarriesTraceparent(t *testing.T) {
	r := newRecording(t)
	var mu sync.Mutex
	var traceparent string
	dest := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		mu.Lock()
		traceparent = req.Header.Get("traceparent")
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer dest.Close()
	handler := fx.Provide(dispatcher.AsCommand(func() dispatcher.Command {
		return c2c.BeforeSendMsgCommand.Handle(func(ctx context.Context, ev *dispatcher.Event[c2c.BeforeSendMsg]) (dispatcher.Reply[c2c.SendMsgReply], error) {
			_, span := r.tp.Tracer("user").Start(ctx, "user.moderation")
			span.End()
			return c2c.BeforeSendMsgCommand.Allow(), nil
		})
	}))
	s := imtest.Start(t, []string{"IMCALLBACK_DELIVERY=inline", "IMCALLBACK_FORWARD_URL=" + dest.URL,
		"IMCALLBACK_FORWARD_SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "IMCALLBACK_FORWARD_MATCH=C2C.CallbackAfterSendMsg"},
		handler, r.option())
	if res := s.Send(t, "C2C.CallbackBeforeSendMsg", mustSample(t, "C2C.CallbackBeforeSendMsg")); !res.OK() {
		t.Fatalf("before: %d", res.Status)
	}
	user, before := r.named("user.moderation"), r.named("imcallback.before_handler")
	if len(user) != 1 || len(before) != 1 || user[0].Parent().SpanID() != before[0].SpanContext().SpanID() {
		t.Fatalf("the handler's span does not nest under the before-handler span (%d, %d)", len(user), len(before))
	}
	if attr(before[0], "imcallback.decision") != "allow" {
		t.Errorf("before-handler span %v", before[0].Attributes())
	}

	if res := s.Send(t, "C2C.CallbackAfterSendMsg", mustSample(t, "C2C.CallbackAfterSendMsg")); !res.OK() {
		t.Fatalf("forwarded: %d", res.Status)
	}
	fwd := r.named("imcallback.forward")
	if len(fwd) != 1 {
		t.Fatalf("%d forward spans", len(fwd))
	}
	sc := fwd[0].SpanContext()
	mu.Lock()
	got := traceparent
	mu.Unlock()
	if want := fmt.Sprintf("00-%s-%s-01", sc.TraceID(), sc.SpanID()); got != want {
		t.Errorf("the destination got traceparent %q, want %q", got, want)
	}
	if attr(fwd[0], "http.response.status_code") != "204" || attr(fwd[0], "imcallback.destination") != "default" {
		t.Errorf("forward span %v", fwd[0].Attributes())
	}
}

// TestTracingFromTheEnvironment: off unless an exporter is configured.
func TestTracingFromTheEnvironment(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		on   bool
		fail string
	}{
		{nil, false, ""},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, true, ""},
		{map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces"}, true, ""},
		{map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, true, ""},
		{map[string]string{"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, false, ""},
		{map[string]string{"OTEL_SDK_DISABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318"}, false, ""},
		{map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, false, "only otlp"},
		{map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, false, "only OTLP over HTTP"},
	} {
		on, err := tracing.Enabled(func(k string) string { return tc.env[k] })
		if on != tc.on || (tc.fail == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tc.fail) {
			t.Errorf("%v: on %v err %v, want on %v and an error with %q", tc.env, on, err, tc.on, tc.fail)
		}
	}
	var off *tracing.Tracer
	ctx, span := off.Start(context.Background(), "x")
	if ctx != context.Background() || span.SpanContext().IsValid() || off.Enabled() {
		t.Error("a nil Tracer records")
	}
}

func mustSample(t *testing.T, command string) []byte {
	t.Helper()
	b, err := imtest.Sample(command)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestForwardSpanOfAFailureStatusIsFailed: a destination's failure status
// (a 5xx, a 4xx, which the service counts and retries or dead-letters as
// failed deliveries) fails the forward span as a transport error does, so
// a trace search for failed forward spans finds the destination answering
// 500; a 2xx leaves it unset.
func TestForwardSpanOfAFailureStatusIsFailed(t *testing.T) {
	r := newRecording(t)
	dest := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Header.Get("X-Imcallback-Command") == "C2C.CallbackAfterMsgReport" {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer dest.Close()
	s := imtest.Start(t, []string{"IMCALLBACK_DELIVERY=inline", "IMCALLBACK_FORWARD_URL=" + dest.URL,
		"IMCALLBACK_FORWARD_SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "IMCALLBACK_FORWARD_MATCH=C2C.CallbackAfter*"}, r.option())
	if res := s.Send(t, "C2C.CallbackAfterSendMsg", mustSample(t, "C2C.CallbackAfterSendMsg")); res.OK() {
		t.Fatalf("forwarded to a destination answering 500: %d %s, want a failure", res.Status, res.Body)
	}
	if res := s.Send(t, "C2C.CallbackAfterMsgReport", mustSample(t, "C2C.CallbackAfterMsgReport")); !res.OK() {
		t.Fatalf("forwarded to a destination answering 204: %d %s", res.Status, res.Body)
	}
	fwd := r.named("imcallback.forward")
	if len(fwd) != 2 {
		t.Fatalf("%d forward spans, want 2", len(fwd))
	}
	for _, sp := range fwd {
		switch status := attr(sp, "http.response.status_code"); status {
		case "500":
			if sp.Status().Code != codes.Error {
				t.Errorf("the forward span of a 500 has status %v, want Error", sp.Status())
			}
		case "204":
			if sp.Status().Code != codes.Unset {
				t.Errorf("the forward span of a 204 has status %v, want Unset", sp.Status())
			}
		default:
			t.Errorf("forward span with status code %q", status)
		}
	}
}

// TestForwardSpanOfAnUnusableAnswerIsFailed: a before-callback's
// destination answering 2xx with a body that is no usable answer (no JSON,
// ActionStatus FAIL, a reply field of the wrong type) gets the fallback,
// and the before-handler's span is failed: its forward span is failed too,
// as for a failure status, naming why; a usable answer leaves it unset.
func TestForwardSpanOfAnUnusableAnswerIsFailed(t *testing.T) {
	for _, tc := range []struct {
		name, answer string
		failed       bool
		reason       string // in the forward span's status description
	}{
		{"usable", `{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}`, false, ""},
		{"not JSON", `<html>`, true, "not a JSON object"},
		{"ActionStatus FAIL", `{"ActionStatus":"FAIL","ErrorCode":0}`, true, "ActionStatus"},
		{"a reply field of the wrong type", `{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","CloudCustomData":5}`, true, "reply fields"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRecording(t)
			dest := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				fmt.Fprint(w, tc.answer)
			}))
			defer dest.Close()
			s := imtest.Start(t, []string{"IMCALLBACK_DELIVERY=inline", "IMCALLBACK_FORWARD_URL=" + dest.URL,
				"IMCALLBACK_FORWARD_SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "IMCALLBACK_FORWARD_MATCH=C2C.CallbackBeforeSendMsg"}, r.option())
			if res := s.Send(t, "C2C.CallbackBeforeSendMsg", mustSample(t, "C2C.CallbackBeforeSendMsg")); !res.OK() {
				t.Fatalf("before: %d %s", res.Status, res.Body)
			}
			fwd, before := r.named("imcallback.forward"), r.named("imcallback.before_handler")
			if len(fwd) != 1 || len(before) != 1 {
				t.Fatalf("%d forward spans, %d before-handler spans, want 1 each", len(fwd), len(before))
			}
			if fwd[0].Parent().SpanID() != before[0].SpanContext().SpanID() {
				t.Errorf("the forward span is not a child of the before-handler span")
			}
			if got := before[0].Status().Code == codes.Error; got != tc.failed {
				t.Fatalf("before-handler span status %v, want failed %v", before[0].Status(), tc.failed)
			}
			if attr(fwd[0], "http.response.status_code") != "200" {
				t.Errorf("forward span %v", fwd[0].Attributes())
			}
			st := fwd[0].Status()
			switch {
			case !tc.failed && st.Code != codes.Unset:
				t.Errorf("the forward span of a usable answer has status %v, want Unset", st)
			case tc.failed && (st.Code != codes.Error || !strings.Contains(st.Description, tc.reason)):
				t.Errorf("the forward span of an unusable answer has status %v, want Error naming %q", st, tc.reason)
			}
		})
	}
}
