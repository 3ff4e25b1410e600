package dispatcher_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	echomw "github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/internal/leakwait"
	"github.com/imcallback/imcallback/internal/tooling"
	"github.com/imcallback/imcallback/metrics"
	"github.com/imcallback/imcallback/middleware"
	"github.com/imcallback/imcallback/protocol"
)

func TestMain(m *testing.M) { leakwait.VerifyTestMain(m) }

// testApp is the configured app the harness's requests come from.
const testApp = "1400000000"

// harness serves a dispatcher over echo in memory.
type harness struct {
	d       *dispatcher.Dispatcher
	e       *echo.Echo
	metrics *metrics.Callbacks
	logs    *observer.ObservedLogs
}

func newHarness(t testing.TB, opts dispatcher.Options, cmds ...dispatcher.Command) *harness {
	t.Helper()
	if opts.BeforeTimeout == 0 {
		// Far above what a handler that answers at once needs, however
		// busy the machine (the deadline runs from the request's arrival,
		// through the handler's goroutine): a test of the deadline itself
		// sets a short one.
		opts.BeforeTimeout = 1900 * time.Millisecond
	}
	if opts.Rules == nil {
		opts.Rules = testRules
	}
	core, logs := observer.New(zapcore.DebugLevel)
	m := metrics.NewCallbacks(prometheus.NewRegistry(), testApp)
	d, err := dispatcher.New(cmds, opts, zap.New(core), m)
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	e.HTTPErrorHandler = middleware.ErrorHandler(zap.NewNop(), m)
	e.POST("/im/callback", d.Serve)
	return &harness{d: d, e: e, metrics: m, logs: logs}
}

func (h *harness) do(command, body string) (*httptest.ResponseRecorder, map[string]any) {
	q := "SdkAppid=1400000000&OptPlatform=IOS&ClientIP=10.1.1.1"
	if command != "" {
		q += "&CallbackCommand=" + command
	}
	rec := httptest.NewRecorder()
	h.e.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/im/callback?"+q, strings.NewReader(body)))
	var out map[string]any
	_ = json.Unmarshal(rec.Body.Bytes(), &out)
	return rec, out
}

// testRules are the rules the service gets from the catalogue, for the
// commands these tests use.
var testRules = dispatcher.Rules{
	"C2C.CallbackBeforeSendMsg":       {DenyCodes: dispatcher.CodeRange{Min: 120001, Max: 130000}, CanDrop: true},
	"Group.CallbackBeforeCreateGroup": {DenyCodes: dispatcher.CodeRange{Min: 10100, Max: 10200}},
}

type sendMsg struct {
	From string            `json:"From_Account"`
	Text string            `json:"Text"`
	Time protocol.FlexInt  `json:"EventTime"`
	Body []json.RawMessage `json:"MsgBody"`
}

// sendMsgCmd is the descriptor the tests' C2C before-commands answer with.
var sendMsgCmd = dispatcher.NewBeforeCommand[sendMsg, dispatcher.NoReply]("C2C.CallbackBeforeSendMsg")

// Raw decisions, for the tests of how the dispatcher checks and sends what
// a handler answered (handlers themselves answer with a descriptor's verbs).
func allow() dispatcher.Decision { return dispatcher.Decision{Code: dispatcher.CodeAllow} }
func deny(info string) dispatcher.Decision {
	return dispatcher.Decision{Code: dispatcher.CodeDeny, Info: info}
}
func drop() dispatcher.Decision { return dispatcher.Decision{Code: dispatcher.CodeDrop} }
func modify(reply any) dispatcher.Decision {
	return dispatcher.Decision{Code: dispatcher.CodeAllow, Reply: reply}
}
func denyWithCode(code int, info string) dispatcher.Decision {
	return dispatcher.Decision{Code: code, Info: info}
}

// rawBefore builds a before-command whose handler answers raw decisions,
// through the tooling path the catalogue uses.
func rawBefore[T any](name string, fn func(context.Context, *dispatcher.Event[T]) (dispatcher.Decision, error), opts ...dispatcher.Option) dispatcher.Command {
	return dispatcher.NewBeforeCommand[T, dispatcher.NoReply](name).Tooling(tooling.K).HandleAny(
		func(ctx context.Context, ev any) (dispatcher.Decision, error) {
			return fn(ctx, ev.(*dispatcher.Event[T]))
		}, opts...)
}

func before(fn func(ev *dispatcher.Event[sendMsg]) (dispatcher.Decision, error), opts ...dispatcher.Option) dispatcher.Command {
	return rawBefore("C2C.CallbackBeforeSendMsg",
		func(_ context.Context, ev *dispatcher.Event[sendMsg]) (dispatcher.Decision, error) { return fn(ev) }, opts...)
}

func TestBeforeDecisions(t *testing.T) {
	type reply struct {
		CloudCustomData string `json:"CloudCustomData"`
	}
	tests := []struct {
		name        string
		command     string
		decision    dispatcher.Decision
		err         error
		opts        []dispatcher.Option
		wantCode    float64
		wantInfo    string
		wantExtra   map[string]any
		wantOutcome string
	}{
		{name: "allow", decision: allow(), wantCode: 0, wantOutcome: "allow"},
		{name: "deny", decision: deny("no"), wantCode: 1, wantInfo: "no", wantOutcome: "deny"},
		{name: "silent drop on a message command", decision: drop(), wantCode: 2, wantOutcome: "drop"},
		{name: "custom code in range", decision: denyWithCode(120001, "blocked word"), wantCode: 120001, wantInfo: "blocked word", wantOutcome: "deny"},
		{name: "custom code at the top of the range", decision: denyWithCode(130000, "x"), wantCode: 130000, wantInfo: "x", wantOutcome: "deny"},
		{name: "custom code out of range is sent as deny", decision: denyWithCode(10100, "x"), wantCode: 1, wantInfo: "x", wantOutcome: "deny"},
		{name: "modify", decision: modify(reply{"rewritten"}), wantCode: 0,
			wantExtra: map[string]any{"CloudCustomData": "rewritten"}, wantOutcome: "modify"},
		{name: "reply fields dropped with a deny", decision: dispatcher.Decision{Code: 1, Reply: reply{"x"}}, wantCode: 1, wantOutcome: "deny"},
		{name: "unsendable reply falls back", decision: modify([]string{"not an object"}), wantCode: 0, wantOutcome: "fallback"},
		{name: "error falls back to the default (allow)", err: errors.New("db down"), wantCode: 0, wantOutcome: "fallback"},
		{name: "error falls back to the command's own fallback", err: errors.New("db down"),
			opts: []dispatcher.Option{dispatcher.WithFallback(sendMsgCmd.Deny("try later"))}, wantCode: 1, wantInfo: "try later", wantOutcome: "fallback"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, dispatcher.Options{Fallback: allow()}, before(func(*dispatcher.Event[sendMsg]) (dispatcher.Decision, error) {
				return tt.decision, tt.err
			}, tt.opts...))
			rec, out := h.do("C2C.CallbackBeforeSendMsg", `{"CallbackCommand":"C2C.CallbackBeforeSendMsg"}`)
			if rec.Code != http.StatusOK || rec.Header().Get(echo.HeaderContentType) != echo.MIMEApplicationJSON {
				t.Fatalf("status %d, content type %q", rec.Code, rec.Header().Get(echo.HeaderContentType))
			}
			if out["ActionStatus"] != "OK" || out["ErrorCode"] != tt.wantCode || out["ErrorInfo"] != tt.wantInfo {
				t.Fatalf("answer %s", rec.Body)
			}
			if len(out) != 3+len(tt.wantExtra) {
				t.Fatalf("unexpected fields in %s", rec.Body)
			}
			for k, v := range tt.wantExtra {
				if out[k] != v {
					t.Fatalf("%s = %v, want %v", k, out[k], v)
				}
			}
			if got := testutil.ToFloat64(h.metrics.Total.WithLabelValues("C2C.CallbackBeforeSendMsg", testApp, tt.wantOutcome)); got != 1 {
				t.Fatalf("callbacks_total{outcome=%s} = %v", tt.wantOutcome, got)
			}
		})
	}
}

// TestDurationHasTheKind: the latency series say whether IM waits for the
// answer, so an alert on before-callbacks needs no list of their names
// (the friend-request ones have no "Before" in theirs).
func TestDurationHasTheKind(t *testing.T) {
	h := newHarness(t, dispatcher.Options{Fallback: allow()},
		rawBefore("Sns.CallbackPrevFriendAdd", func(context.Context, *dispatcher.Event[struct{}]) (dispatcher.Decision, error) {
			return allow(), nil
		}),
		dispatcher.After("Group.CallbackAfterCreateTopic", func(context.Context, *dispatcher.Event[struct{}]) error { return nil }),
	)
	h.do("Sns.CallbackPrevFriendAdd", `{}`)
	h.do("Group.CallbackAfterCreateTopic", `{}`)
	for command, kind := range map[string]string{"Sns.CallbackPrevFriendAdd": "before", "Group.CallbackAfterCreateTopic": "after"} {
		h := h.metrics.Duration.WithLabelValues(command, kind).(prometheus.Histogram)
		var m dto.Metric
		if err := h.Write(&m); err != nil {
			t.Fatal(err)
		}
		if n := m.GetHistogram().GetSampleCount(); n != 1 {
			t.Errorf("%s{kind=%s}: %d observations, want 1", command, kind, n)
		}
	}
}

// TestFallbackMustFitEveryCommand: Options.Fallback applies to every
// before-command, so a drop, a custom code or reply fields (which fit some
// commands only) are refused; a command's own WithFallback can carry them.
// So is a DenyWithCode(0), a refusal with the code of an allow: it passed
// as an allow (0), and every failed handler let its action through while
// the fallback was built to deny; a command's WithFallback of it fails
// the start too.
func TestFallbackMustFitEveryCommand(t *testing.T) {
	for _, fb := range []dispatcher.Decision{drop(), denyWithCode(120001, "x"), modify(map[string]string{"MsgBody": "x"}),
		sendMsgCmd.DenyWithCode(0, "busy").Decision()} {
		_, err := dispatcher.New(nil, dispatcher.Options{BeforeTimeout: time.Second, Fallback: fb}, zap.NewNop(),
			metrics.NewCallbacks(prometheus.NewRegistry()))
		if err == nil || !strings.Contains(err.Error(), "Options.Fallback") {
			t.Errorf("fallback %+v: %v", fb, err)
		}
	}
}

func TestDropOnNonMessageCommandIsDeny(t *testing.T) {
	cmd := rawBefore("Group.CallbackBeforeCreateGroup",
		func(context.Context, *dispatcher.Event[struct{}]) (dispatcher.Decision, error) {
			return drop(), nil
		})
	h := newHarness(t, dispatcher.Options{}, cmd)
	_, out := h.do("Group.CallbackBeforeCreateGroup", `{}`)
	if out["ErrorCode"] != float64(1) {
		t.Fatalf("answer %v", out)
	}
	if h.logs.FilterMessage("before-handler decision not accepted by the protocol").Len() != 1 {
		t.Fatal("the mapped decision was not logged")
	}
}

func TestBeforeDeadlineAndPanic(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	tests := []struct {
		name string
		fn   func(ctx context.Context, ev *dispatcher.Event[sendMsg]) (dispatcher.Decision, error)
	}{
		{"deadline", func(ctx context.Context, _ *dispatcher.Event[sendMsg]) (dispatcher.Decision, error) {
			select {
			case <-release:
			case <-ctx.Done():
				<-release // keeps running past its deadline, like a stuck handler
			}
			return deny("too late"), nil
		}},
		{"panic", func(context.Context, *dispatcher.Event[sendMsg]) (dispatcher.Decision, error) {
			panic("boom")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, dispatcher.Options{BeforeTimeout: 50 * time.Millisecond, Fallback: deny("fallback")},
				rawBefore("C2C.CallbackBeforeSendMsg", tt.fn))
			// The handler holds until the test ends: an answer at all shows
			// the deadline was enforced, and the log says which one.
			_, out := h.do("C2C.CallbackBeforeSendMsg", `{}`)
			if out["ErrorCode"] != float64(1) || out["ErrorInfo"] != "fallback" {
				t.Fatalf("answer %v, want the configured fallback", out)
			}
			logged := h.logs.FilterMessage("before-handler failed; sending the fallback decision")
			if logged.Len() != 1 {
				t.Fatal("the fallback was not logged")
			}
			if err, _ := logged.All()[0].ContextMap()["error"].(string); tt.name == "deadline" && !strings.Contains(err, "handler deadline 50ms") {
				t.Fatalf("logged %q, want the configured deadline of 50ms", err)
			}
		})
	}
}

func TestEventFields(t *testing.T) {
	var got *dispatcher.Event[sendMsg]
	h := newHarness(t, dispatcher.Options{}, before(func(ev *dispatcher.Event[sendMsg]) (dispatcher.Decision, error) {
		got = ev
		return allow(), nil
	}))
	body := `{"CallbackCommand":"C2C.CallbackBeforeSendMsg","From_Account":"u1","EventTime":"1670574414123","Unknown":{"x":1},` +
		`"MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"hi"}}]}`
	h.do("C2C.CallbackBeforeSendMsg", body)
	if got == nil {
		t.Fatal("handler not called")
	}
	if got.Payload.From != "u1" || got.Payload.Time != 1670574414123 || len(got.Payload.Body) != 1 {
		t.Fatalf("payload %+v", got.Payload)
	}
	if got.AppID != "1400000000" || got.ClientIP != "10.1.1.1" || got.OptPlatform != "IOS" || got.Platform != "iOS" ||
		got.Command != "C2C.CallbackBeforeSendMsg" || string(got.Raw) != body || got.ReceivedAt.IsZero() {
		t.Fatalf("event %+v", got)
	}
}

func TestRouting(t *testing.T) {
	var calls atomic.Int32
	after := dispatcher.After("Group.CallbackAfterCreateTopic", func(context.Context, *dispatcher.Event[map[string]any]) error {
		calls.Add(1)
		return nil
	})
	tests := []struct {
		name, command, body string
		want                *protocol.Error
		wantCalls           int32
	}{
		{"routes on the query", "Group.CallbackAfterCreateTopic", `{"CallbackCommand":"Group.CallbackAfterCreateTopic"}`, nil, 1},
		{"body without command", "Group.CallbackAfterCreateTopic", `{"GroupId":"g"}`, nil, 1},
		{"command only in the body", "", `{"CallbackCommand":"Group.CallbackAfterCreateTopic"}`, nil, 1},
		{"mismatch", "Group.CallbackAfterCreateTopic", `{"CallbackCommand":"Group.CallbackAfterTopicDestroyed"}`, protocol.ErrCommandMismatch, 0},
		{"missing", "", `{"GroupId":"g"}`, protocol.ErrMissingCommand, 0},
		{"null in the body is no command", "Group.CallbackAfterCreateTopic", `{"CallbackCommand":null}`, nil, 1},
		{"null in the body alone is missing", "", `{"CallbackCommand":null}`, protocol.ErrMissingCommand, 0},
		{"malformed JSON", "Group.CallbackAfterCreateTopic", `{"GroupId":`, protocol.ErrMalformedJSON, 0},
		{"not an object", "Group.CallbackAfterCreateTopic", `[1,2]`, protocol.ErrMalformedJSON, 0},
		{"empty body", "Group.CallbackAfterCreateTopic", ``, protocol.ErrMalformedJSON, 0},
		{"nested to the limit", "Group.CallbackAfterCreateTopic", nested(protocol.MaxDepth - 1), nil, 1},
		{"nested deeper than the limit", "Group.CallbackAfterCreateTopic", nested(protocol.MaxDepth), protocol.ErrMalformedJSON, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls.Store(0)
			h := newHarness(t, dispatcher.Options{}, after)
			rec, out := h.do(tt.command, tt.body)
			if tt.want == nil {
				if rec.Code != http.StatusOK || out["ActionStatus"] != "OK" {
					t.Fatalf("status %d %s", rec.Code, rec.Body)
				}
			} else if rec.Code != tt.want.Status || out["ErrorCode"] != float64(tt.want.Code) || out["ActionStatus"] != "FAIL" {
				t.Fatalf("status %d %s, want %v", rec.Code, rec.Body, tt.want)
			}
			if calls.Load() != tt.wantCalls {
				t.Fatalf("handler ran %d times, want %d", calls.Load(), tt.wantCalls)
			}
		})
	}
}

// TestArrayBodyIsNotCalledInvalidJSON: a body of well-formed JSON that is
// no object ([1,2], a string) was answered "request body is not valid
// JSON", which sent its sender looking for a syntax error; the answer's
// ErrorInfo says what the body must be.
func TestArrayBodyIsNotCalledInvalidJSON(t *testing.T) {
	after := dispatcher.After("Group.CallbackAfterCreateTopic",
		func(context.Context, *dispatcher.Event[map[string]any]) error { return nil })
	for _, body := range []string{`[1,2]`, `"text"`, `42`} {
		if !json.Valid([]byte(body)) {
			t.Fatalf("%s is not valid JSON", body)
		}
		_, out := newHarness(t, dispatcher.Options{}, after).do("Group.CallbackAfterCreateTopic", body)
		info, _ := out["ErrorInfo"].(string)
		if out["ErrorCode"] != float64(protocol.ErrMalformedJSON.Code) || !strings.Contains(info, "JSON object") {
			t.Errorf("body %s answered %v, want 40001 saying the body is not a JSON object", body, out)
		}
	}
}

// nested is a callback body whose field X holds arrays levels deep, inside
// the body's own object.
func nested(levels int) string {
	return `{"CallbackCommand":"Group.CallbackAfterCreateTopic","X":` +
		strings.Repeat("[", levels) + strings.Repeat("]", levels) + `}`
}

// TestDeeplyNestedBodiesInParallelStaySmall sends 64 bodies of about 1 MiB
// of '[' at once: each is refused as malformed JSON, and the memory the
// process takes from the system for stacks and heap stays small. A check
// that recursed once per level would need about 64 MiB of stack per body.
func TestDeeplyNestedBodiesInParallelStaySmall(t *testing.T) {
	var calls atomic.Int32
	h := newHarness(t, dispatcher.Options{}, dispatcher.After("Group.CallbackAfterCreateTopic",
		func(context.Context, *dispatcher.Event[map[string]any]) error { calls.Add(1); return nil }))
	body := `{"CallbackCommand":"Group.CallbackAfterCreateTopic","X":` + strings.Repeat("[", 1000<<10)
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	var wg sync.WaitGroup
	codes := make(chan int, 64)
	for range 64 {
		wg.Go(func() {
			rec, out := h.do("Group.CallbackAfterCreateTopic", body)
			if rec.Code != http.StatusBadRequest || out["ErrorCode"] != float64(protocol.ErrMalformedJSON.Code) {
				codes <- rec.Code
			}
		})
	}
	wg.Wait()
	close(codes)
	for c := range codes {
		t.Errorf("a deep body was answered %d, want 400 malformed_json", c)
	}
	runtime.ReadMemStats(&after)
	if calls.Load() != 0 {
		t.Errorf("the handler ran %d times", calls.Load())
	}
	stack := int64(after.StackSys) - int64(before.StackSys)
	heap := int64(after.HeapSys) - int64(before.HeapSys)
	t.Logf("64 deep bodies: stack +%d KiB, heap +%d KiB", stack>>10, heap>>10)
	if stack > 8<<20 {
		t.Errorf("stacks grew by %d MiB for 64 deep bodies", stack>>20)
	}
	if heap > 256<<20 {
		t.Errorf("the heap grew by %d MiB for 64 bodies of 1 MiB", heap>>20)
	}
}

func TestUnknownCommandAnsweredOK(t *testing.T) {
	h := newHarness(t, dispatcher.Options{})
	for range 5 {
		rec, _ := h.do("Group.CallbackAfterSomethingNew", `{"CallbackCommand":"Group.CallbackAfterSomethingNew"}`)
		if rec.Code != http.StatusOK || rec.Body.String() != string(protocol.OKBody) {
			t.Fatalf("status %d %s", rec.Code, rec.Body)
		}
	}
	if n := testutil.ToFloat64(h.metrics.Unknown.WithLabelValues("Group.CallbackAfterSomethingNew")); n != 5 {
		t.Fatalf("unknown command counted %v times, want 5", n)
	}
	// Logged once a minute per command, not per request.
	lines := h.logs.FilterMessageSnippet("unknown callback command answered OK").FilterLevelExact(zapcore.WarnLevel).All()
	if len(lines) != 1 || lines[0].ContextMap()["count_since_last_line"] != int64(1) {
		t.Fatalf("%d warn lines for 5 unknown requests (want 1, counting 1): %v", len(lines), lines)
	}
}

func TestUnknownCommandLabelsAreBounded(t *testing.T) {
	h := newHarness(t, dispatcher.Options{})
	for i := range 200 {
		if rec, _ := h.do(fmt.Sprintf("Spam.Command%d", i), `{}`); rec.Code != http.StatusOK {
			t.Fatalf("status %d", rec.Code)
		}
	}
	h.do("Bad%FFName", `{}`)
	if n := testutil.CollectAndCount(h.metrics.Unknown); n > 65 {
		t.Fatalf("%d series for unknown commands: label values are not bounded", n)
	}
	if testutil.ToFloat64(h.metrics.Unknown.WithLabelValues("other")) != 200-64+1 {
		t.Fatalf("overflow not counted under \"other\": %v", testutil.ToFloat64(h.metrics.Unknown.WithLabelValues("other")))
	}
}

// TestUnknownCommandWarningIsBounded: the warning about an unknown
// command names it cut to a bound, however long the name the request
// carried (in the query, or in the body when the query has none).
func TestUnknownCommandWarningIsBounded(t *testing.T) {
	long := strings.Repeat("A.", 256<<10)
	tests := []struct {
		name, command, body string
		prefix              string // what the logged name begins with
	}{
		{"query", url.QueryEscape(long), `{}`, long[:64]},
		{"body", "", `{"CallbackCommand":"` + long + `"}`, long[:64]},
		{"body number", "", `{"CallbackCommand":1` + strings.Repeat("0", 512<<10) + `}`, "1000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, dispatcher.Options{})
			if rec, _ := h.do(tt.command, tt.body); rec.Code != http.StatusOK {
				t.Fatalf("status %d %s", rec.Code, rec.Body)
			}
			lines := h.logs.FilterMessageSnippet("unknown callback command answered OK").All()
			if len(lines) != 1 {
				t.Fatalf("%d warn lines, want 1", len(lines))
			}
			logged, _ := lines[0].ContextMap()["command"].(string)
			if len(logged) > 256 {
				t.Fatalf("the warning names a command of %d bytes; want at most 256", len(logged))
			}
			if !strings.HasPrefix(logged, tt.prefix) {
				t.Fatalf("the warning's command %.80q does not begin as the request's", logged)
			}
		})
	}
}

func TestAfterInline(t *testing.T) {
	// Only the deadline case has a short deadline (its handler outlives it,
	// and would end within a longer default): a handler that returns at
	// once must not be late on a loaded machine.
	const short, long = 50 * time.Millisecond, time.Minute
	// stuck never returns while the test runs and ignores its context, as a
	// handler blocked on a frozen database: the answer comes at the deadline.
	stuck := make(chan struct{})
	t.Cleanup(func() { close(stuck) })
	// outlived is closed once the deadline case is answered: its handler
	// returns then, past its deadline however busy the machine. It slept
	// 200 ms, and a goroutine descheduled for that long let the handler
	// return before the deadline was acted on: the answer was its OK.
	outlived := make(chan struct{})
	t.Cleanup(func() { // should its subtest fail before its answer
		select {
		case <-outlived:
		default:
			close(outlived)
		}
	})
	tests := []struct {
		name        string
		timeout     time.Duration
		fn          func() error
		outlives    chan struct{} // closed once the answer came, if set
		wantHTTP    int
		wantStatus  string
		wantCode    float64
		wantOutcome string
	}{
		{"ok", long, func() error { return nil }, nil, 200, "OK", 0, "ok"},
		{"error", long, func() error { return errors.New("disk full") }, nil, 503, "FAIL", float64(protocol.ErrHandlerFailed.Code), "failed"},
		{"panic", long, func() error { panic("boom") }, nil, 503, "FAIL", float64(protocol.ErrHandlerFailed.Code), "failed"},
		{"deadline", short, func() error { <-outlived; return nil }, outlived, 503, "FAIL", float64(protocol.ErrHandlerFailed.Code), "failed"},
		{"stuck", short, func() error { <-stuck; return nil }, nil, 503, "FAIL", float64(protocol.ErrHandlerFailed.Code), "failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, dispatcher.Options{InlineTimeout: tt.timeout}, dispatcher.After("Group.CallbackAfterNewMemberJoin",
				func(context.Context, *dispatcher.Event[struct{}]) error { return tt.fn() }))
			// The bound is no expectation of speed: only an answer that
			// waits for a stuck handler runs into it.
			type answer struct {
				rec *httptest.ResponseRecorder
				out map[string]any
			}
			answered := make(chan answer, 1)
			go func() {
				rec, out := h.do("Group.CallbackAfterNewMemberJoin", `{}`)
				answered <- answer{rec, out}
			}()
			var rec *httptest.ResponseRecorder
			var out map[string]any
			select {
			case a := <-answered:
				rec, out = a.rec, a.out
			case <-time.After(30 * time.Second):
				t.Fatal("no answer: the request waits for its handler past the deadline")
			}
			if tt.outlives != nil {
				close(tt.outlives)
			}
			if rec.Code != tt.wantHTTP || out["ActionStatus"] != tt.wantStatus || out["ErrorCode"] != tt.wantCode {
				t.Fatalf("status %d %s", rec.Code, rec.Body)
			}
			if strings.Contains(rec.Body.String(), "disk full") || strings.Contains(rec.Body.String(), "boom") {
				t.Fatal("internal error text leaked into the answer")
			}
			if testutil.ToFloat64(h.metrics.Total.WithLabelValues("Group.CallbackAfterNewMemberJoin", testApp, tt.wantOutcome)) != 1 {
				t.Fatal("outcome not counted")
			}
			// Counted once, as its outcome, never also as a rejection.
			if got := testutil.ToFloat64(h.metrics.Rejections.WithLabelValues(protocol.ErrHandlerFailed.Reason, testApp)); got != 0 {
				t.Errorf("rejections_total{reason=%s} = %v, want 0", protocol.ErrHandlerFailed.Reason, got)
			}
		})
	}
}

func TestDecodeErrorIsHandlerError(t *testing.T) {
	type typed struct {
		Count int `json:"Count"`
	}
	h := newHarness(t, dispatcher.Options{Fallback: allow()},
		dispatcher.After("A.After", func(context.Context, *dispatcher.Event[typed]) error { return nil }),
		rawBefore("A.Before", func(context.Context, *dispatcher.Event[typed]) (dispatcher.Decision, error) {
			return deny("x"), nil
		}))
	if _, out := h.do("A.After", `{"Count":"many"}`); out["ActionStatus"] != "FAIL" {
		t.Fatalf("after: %v", out)
	}
	if _, out := h.do("A.Before", `{"Count":"many"}`); out["ErrorCode"] != float64(0) {
		t.Fatalf("before must fall back on a payload it cannot decode: %v", out)
	}
}

type sink struct {
	err error
	got []*dispatcher.Request
}

func (s *sink) Accept(_ context.Context, r *dispatcher.Request) error {
	s.got = append(s.got, r)
	return s.err
}

func TestAfterSink(t *testing.T) {
	var ran atomic.Bool
	cmd := dispatcher.After("Group.CallbackAfterNewMemberJoin", func(context.Context, *dispatcher.Event[struct{}]) error {
		ran.Store(true)
		return nil
	})
	s := &sink{}
	h := newHarness(t, dispatcher.Options{Sink: s}, cmd)
	rec, _ := h.do("Group.CallbackAfterNewMemberJoin", `{"GroupId":"g"}`)
	if rec.Code != http.StatusOK || rec.Body.String() != string(protocol.OKBody) {
		t.Fatalf("status %d %s", rec.Code, rec.Body)
	}
	if ran.Load() {
		t.Fatal("handler ran inline although a sink took the event")
	}
	if len(s.got) != 1 || string(s.got[0].Body) != `{"GroupId":"g"}` || s.got[0].Params.SdkAppid != "1400000000" {
		t.Fatalf("sink got %+v", s.got)
	}

	s.err = errors.New("stream full")
	rec, out := h.do("Group.CallbackAfterNewMemberJoin", `{"GroupId":"g"}`)
	if rec.Code != http.StatusServiceUnavailable || out["ActionStatus"] != "FAIL" || out["ErrorCode"] != float64(protocol.ErrUnavailable.Code) {
		t.Fatalf("a failed store must answer 503: %d %s", rec.Code, rec.Body)
	}
	if strings.Contains(rec.Body.String(), "stream full") {
		t.Fatal("internal error text leaked")
	}
	// Counted once, as the command's outcome: a rejection too would count
	// the callback twice in the Overview (GET /v1/series sums both).
	if got := testutil.ToFloat64(h.metrics.Total.WithLabelValues("Group.CallbackAfterNewMemberJoin", testApp, "unavailable")); got != 1 {
		t.Errorf("callbacks_total{outcome=unavailable} = %v, want 1", got)
	}
	if got := testutil.ToFloat64(h.metrics.Rejections.WithLabelValues(protocol.ErrUnavailable.Reason, testApp)); got != 0 {
		t.Errorf("rejections_total{reason=unavailable} = %v, want 0: the callback is counted as its outcome", got)
	}

	// An event the stream cannot hold, its body or its headers (the query
	// parameters), is refused (413, 431) like a request over the
	// listener's limits: a rejection, not an unavailable store.
	for _, tc := range []struct {
		what string
		err  *protocol.Error
	}{
		{"a body the stream cannot hold", protocol.ErrBodyTooLarge},
		{"query parameters too long for the event's headers", protocol.ErrHeaderTooLarge},
	} {
		s.err = fmt.Errorf("%w: the stream cannot hold it", tc.err)
		if rec, _ := h.do("Group.CallbackAfterNewMemberJoin", `{"GroupId":"g"}`); rec.Code != tc.err.Status {
			t.Fatalf("%s: %d %s, want %d", tc.what, rec.Code, rec.Body, tc.err.Status)
		}
		if got := testutil.ToFloat64(h.metrics.Total.WithLabelValues("Group.CallbackAfterNewMemberJoin", testApp, "unavailable")); got != 1 {
			t.Errorf("%s: callbacks_total{outcome=unavailable} = %v, want still 1: a %d is no unavailable store", tc.what, got, tc.err.Status)
		}
		if got := testutil.ToFloat64(h.metrics.Rejections.WithLabelValues(tc.err.Reason, testApp)); got != 1 {
			t.Errorf("%s: rejections_total{reason=%s} = %v, want 1", tc.what, tc.err.Reason, got)
		}
	}
}

func TestProcess(t *testing.T) {
	var got string
	d, err := dispatcher.New([]dispatcher.Command{
		dispatcher.After("A.After", func(_ context.Context, ev *dispatcher.Event[struct{ X string }]) error {
			got = ev.Payload.X
			return nil
		}),
		rawBefore("A.Before", func(context.Context, *dispatcher.Event[struct{}]) (dispatcher.Decision, error) {
			return allow(), nil
		}),
	}, dispatcher.Options{BeforeTimeout: time.Second}, zap.NewNop(), metrics.NewCallbacks(prometheus.NewRegistry()))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Process(context.Background(), &dispatcher.Request{Command: "A.After", Body: []byte(`{"X":"y"}`)}); err != nil || got != "y" {
		t.Fatalf("Process = %v, got %q", err, got)
	}
	for _, name := range []string{"A.Before", "A.Missing"} {
		if err := d.Process(context.Background(), &dispatcher.Request{Command: name, Body: []byte(`{}`)}); !errors.Is(err, dispatcher.ErrNoHandler) {
			t.Fatalf("Process(%s) = %v, want ErrNoHandler", name, err)
		}
	}
}

// TestNewWithoutMetricsIsAnError: nil metrics panicked inside New; they
// are a programming error reported like the others. A nil log logs nothing.
func TestNewWithoutMetricsIsAnError(t *testing.T) {
	cmds := []dispatcher.Command{dispatcher.After("A.B", func(context.Context, *dispatcher.Event[struct{}]) error { return nil })}
	opts := dispatcher.Options{BeforeTimeout: time.Second}
	if _, err := dispatcher.New(cmds, opts, zap.NewNop(), nil); err == nil || !strings.Contains(err.Error(), "metrics.NewCallbacks") {
		t.Fatalf("error %v, want one naming metrics.NewCallbacks", err)
	}
	if _, err := dispatcher.New(cmds, opts, nil, metrics.NewCallbacks(prometheus.NewRegistry())); err != nil {
		t.Fatalf("a nil log: %v", err)
	}
}

func TestNewRejectsBadRegistrations(t *testing.T) {
	ok := func(name string) dispatcher.Command {
		return dispatcher.After(name, func(context.Context, *dispatcher.Event[struct{}]) error { return nil })
	}
	second := dispatcher.Options{BeforeTimeout: time.Second}
	tests := []struct {
		name string
		cmds []dispatcher.Command
		opts dispatcher.Options
		want string // in the error, when set: what names the culprit
	}{
		{"duplicate", []dispatcher.Command{ok("X.Y"), ok("A.B"), ok("A.B")}, second,
			"command A.B registered twice (commands #2 and #3 of 3): a command has one handler; " +
				"remove one registration (a module wired twice?), or merge them into one handler"},
		{"one per app", []dispatcher.Command{
			dispatcher.After("A.B", func(context.Context, *dispatcher.Event[struct{}]) error { return nil }, dispatcher.ForApps("1400000001")),
			dispatcher.After("A.B", func(context.Context, *dispatcher.Event[struct{}]) error { return nil }, dispatcher.ForApps("1400000002")),
		}, second, "ForApps limits a command's one handler to some apps, it does not share the command among handlers: " +
			"register one handler and branch on ev.AppID"},
		{"a nil command", []dispatcher.Command{ok("A.B"), nil}, second, "command #2 of 2 is nil"},
		{"Before with a nil func", []dispatcher.Command{dispatcher.Before[struct{}, dispatcher.NoReply]("X.CallbackBeforeY", nil)},
			second, "command X.CallbackBeforeY has a nil handler func"},
		{"After with a nil func", []dispatcher.Command{dispatcher.After[struct{}]("X.CallbackAfterY", nil)},
			second, "command X.CallbackAfterY has a nil handler func"},
		{"a before-descriptor's Handle with a nil func", []dispatcher.Command{sendMsgCmd.Handle(nil)},
			second, "command C2C.CallbackBeforeSendMsg has a nil handler func"},
		{"an after-descriptor's Handle with a nil func", []dispatcher.Command{dispatcher.NewAfterCommand[struct{}]("X.CallbackAfterZ").Handle(nil)},
			second, "command X.CallbackAfterZ has a nil handler func"},
		{"HandleAny with a nil func", []dispatcher.Command{sendMsgCmd.Tooling(tooling.K).HandleAny(nil)},
			second, "command C2C.CallbackBeforeSendMsg has a nil handler func"},
		{"an after HandleAny with a nil func", []dispatcher.Command{dispatcher.NewAfterCommand[struct{}]("X.CallbackAfterZ").Tooling(tooling.K).HandleAny(nil)},
			second, "command X.CallbackAfterZ has a nil handler func"},
		{"empty name", []dispatcher.Command{ok("")}, second, "empty name"},
		// Queued and answered OK, it would allow every action.
		{"a before-command registered with After", []dispatcher.Command{ok("C2C.CallbackBeforeSendMsg")},
			dispatcher.Options{BeforeTimeout: time.Second, Rules: testRules},
			"C2C.CallbackBeforeSendMsg is a before-command: IM waits for its answer, and an after-handler's OK would allow every action; " +
				"register it with C2C.CallbackBeforeSendMsg's Handle (its command package's descriptor) or dispatcher.Before, not After"},
		{"no timeout", nil, dispatcher.Options{}, ""},
		{"fallback outside the range", []dispatcher.Command{rawBefore("C2C.CallbackBeforeSendMsg",
			func(context.Context, *dispatcher.Event[struct{}]) (dispatcher.Decision, error) {
				return allow(), nil
			},
			dispatcher.WithFallback(sendMsgCmd.DenyWithCode(5, "")))}, second, ""},
		{"a fallback on an after-command", []dispatcher.Command{dispatcher.After("C2C.CallbackAfterSendMsg",
			func(context.Context, *dispatcher.Event[struct{}]) error { return nil }, dispatcher.WithFallback(sendMsgCmd.Deny("later")))},
			second, ""},
		{"a Go before-handler and a destination", []dispatcher.Command{rawBefore("C2C.CallbackBeforeSendMsg",
			func(context.Context, *dispatcher.Event[struct{}]) (dispatcher.Decision, error) { return allow(), nil })},
			dispatcher.Options{BeforeTimeout: time.Second, Rules: testRules, Forwarder: stubForwarder{"C2C.CallbackBeforeSendMsg"}},
			// Which destination, and where its match is set.
			`a forward destination ("stub"); keep one: leave the command out of the destination's match (IMCALLBACK_FORWARD_MATCH`},
		// IM sends one spelling: the handler of the other would never run.
		{"the same command in another case", []dispatcher.Command{ok("X.CallbackAfterY"), ok("A.B"), ok("x.callbackAfterY")}, second,
			"commands x.callbackAfterY and X.CallbackAfterY differ only in case"},
		{"a Go handler and a destination in another case", []dispatcher.Command{ok("group.CallbackAfterNewMemberJoin")},
			dispatcher.Options{BeforeTimeout: time.Second, Forwarder: stubForwarder{"Group.CallbackAfterNewMemberJoin"}},
			"commands Group.CallbackAfterNewMemberJoin and group.CallbackAfterNewMemberJoin differ only in case"},
		{"a command a forwarder lists twice", nil,
			dispatcher.Options{BeforeTimeout: time.Second, Forwarder: stubForwarder{"A.B", "C.D", "A.B"}}, "lists A.B twice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := dispatcher.New(tt.cmds, tt.opts, zap.NewNop(), metrics.NewCallbacks(prometheus.NewRegistry()))
			switch {
			case err == nil:
				t.Fatal("accepted")
			case !strings.Contains(err.Error(), tt.want):
				t.Fatalf("error %q does not say %q", err, tt.want)
			}
		})
	}
}

func FuzzServe(f *testing.F) {
	f.Add("C2C.CallbackBeforeSendMsg", `{"CallbackCommand":"C2C.CallbackBeforeSendMsg","From_Account":"a","EventTime":"12"}`)
	f.Add("Group.CallbackAfterCreateTopic", `{"GroupId":"@TGS#1","TopicId":"@TGS#1@TOPIC#_x","UserDefinedDataList":[{"Key":"k","Value":"v"}]}`)
	f.Add("", `{"CallbackCommand":"X"}`)
	f.Add("A", `{"CallbackCommand":"B"}`)
	f.Add("A", `{`)
	f.Add("A", "\x00")
	f.Add("C2C.CallbackBeforeSendMsg", `{"EventTime":1e400}`)
	core, _ := observer.New(zapcore.DebugLevel)
	m := metrics.NewCallbacks(prometheus.NewRegistry())
	d, err := dispatcher.New([]dispatcher.Command{
		before(func(ev *dispatcher.Event[sendMsg]) (dispatcher.Decision, error) {
			if ev.Payload.From == "deny" {
				return denyWithCode(int(ev.Payload.Time), "x"), nil
			}
			return allow(), nil
		}),
		dispatcher.After("Group.CallbackAfterCreateTopic", func(context.Context, *dispatcher.Event[map[string]any]) error { return nil }),
	}, dispatcher.Options{BeforeTimeout: time.Second, Rules: testRules}, zap.New(core), m)
	if err != nil {
		f.Fatal(err)
	}
	e := echo.New()
	e.HTTPErrorHandler = middleware.ErrorHandler(zap.NewNop(), m)
	e.POST("/im/callback", d.Serve)
	f.Fuzz(func(t *testing.T, command, body string) {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodPost, "/im/callback", strings.NewReader(body))
		req.URL.RawQuery = protocol.Params{SdkAppid: "1", CallbackCommand: command}.Encode()
		e.ServeHTTP(rec, req)
		var env protocol.Envelope
		if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil {
			t.Fatalf("answer is not an envelope: %d %q", rec.Code, rec.Body)
		}
		if (rec.Code == http.StatusOK) != (env.ActionStatus == "OK") {
			t.Fatalf("status %d with envelope %+v", rec.Code, env)
		}
	})
}

// startDeadline is the before-deadline of the tests whose handlers must
// start, or answer, within it (a stuck handler that holds its slot, one
// that must answer after another's Goexit). The deadline runs from the
// request's arrival and a handler is not started once it passed: with
// 20 ms a descheduled goroutine on a busy machine could spend it first,
// and the handler never ran. The stuck ones' callbacks wait for it.
const startDeadline = time.Second

func TestMaxInFlightBoundsStuckHandlers(t *testing.T) {
	release := make(chan struct{})
	var calls atomic.Int32
	h := newHarness(t, dispatcher.Options{BeforeTimeout: startDeadline, MaxInFlight: 1, Fallback: deny("busy")},
		rawBefore("C2C.CallbackBeforeSendMsg", func(context.Context, *dispatcher.Event[sendMsg]) (dispatcher.Decision, error) {
			calls.Add(1)
			<-release // ignores its context: keeps its slot past the deadline
			return allow(), nil
		}))
	var refusedFrom, refusedTo int64 // the seconds of the two refusals
	for i := range 3 {
		if i == 1 {
			refusedFrom = time.Now().Unix()
		}
		if _, out := h.do("C2C.CallbackBeforeSendMsg", `{}`); out["ErrorInfo"] != "busy" {
			t.Fatalf("answer %v", out)
		}
	}
	refusedTo = time.Now().Unix()
	if calls.Load() != 1 {
		t.Fatalf("%d handlers started with one slot", calls.Load())
	}
	overloaded := testutil.ToFloat64(h.metrics.Total.WithLabelValues("C2C.CallbackBeforeSendMsg", testApp, "overloaded"))
	deadline := testutil.ToFloat64(h.metrics.Total.WithLabelValues("C2C.CallbackBeforeSendMsg", testApp, "fallback"))
	if overloaded != 2 || deadline != 1 {
		t.Fatalf("outcomes: overloaded %v, fallback %v", overloaded, deadline)
	}
	// One line a second: two refusals on either side of a second's end
	// (rare, but a loaded machine makes it likelier) may log two.
	n := h.logs.FilterMessage("too many before-handlers running; sending the fallback decision").Len()
	if refusedFrom == refusedTo && n != 1 {
		t.Fatalf("%d overload lines for two refusals in the same second, want 1", n)
	}
	if n < 1 || n > 2 {
		t.Fatalf("%d overload lines for two refusals, want 1 or 2", n)
	}

	close(release) // the stuck handler returns and frees its slot
	deadlineAt := time.Now().Add(5 * time.Second)
	for {
		_, out := h.do("C2C.CallbackBeforeSendMsg", `{}`)
		if out["ErrorCode"] == float64(0) {
			break
		}
		if time.Now().After(deadlineAt) {
			t.Fatal("the slot was never released")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestWaitWaitsForHandlersPastTheirDeadline: Wait returns once the
// handlers still running past their deadline return, and names how many
// still run when its context ends first.
func TestWaitWaitsForHandlersPastTheirDeadline(t *testing.T) {
	release := make(chan struct{})
	h := newHarness(t, dispatcher.Options{BeforeTimeout: startDeadline, Fallback: deny("late")},
		rawBefore("C2C.CallbackBeforeSendMsg", func(context.Context, *dispatcher.Event[sendMsg]) (dispatcher.Decision, error) {
			<-release // ignores its context
			return allow(), nil
		}))
	if err := h.d.Wait(t.Context()); err != nil {
		t.Fatalf("Wait with no handler running: %v", err)
	}
	for range 2 {
		if _, out := h.do("C2C.CallbackBeforeSendMsg", `{}`); out["ErrorInfo"] != "late" {
			t.Fatalf("answer %v, want the fallback", out)
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := h.d.Wait(ctx); err == nil || !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "still running past their deadline: 2:") {
		t.Fatalf("Wait with two handlers stuck and its context ended: %v", err)
	}
	waited := make(chan error, 1)
	go func() { waited <- h.d.Wait(t.Context()) }()
	close(release)
	if err := <-waited; err != nil {
		t.Fatalf("Wait once the handlers returned: %v", err)
	}
}

func TestMaxInFlightSlotFreedAfterPanic(t *testing.T) {
	var calls atomic.Int32
	h := newHarness(t, dispatcher.Options{MaxInFlight: 1, Fallback: deny("fallback")},
		rawBefore("C2C.CallbackBeforeSendMsg", func(context.Context, *dispatcher.Event[sendMsg]) (dispatcher.Decision, error) {
			if calls.Add(1) == 1 {
				panic("first call")
			}
			return allow(), nil
		}))
	h.do("C2C.CallbackBeforeSendMsg", `{}`)
	if _, out := h.do("C2C.CallbackBeforeSendMsg", `{}`); out["ErrorCode"] != float64(0) || calls.Load() != 2 {
		t.Fatalf("after a panic the slot stayed taken: %v, %d calls", out, calls.Load())
	}
}

// TestMaxInFlightIsSharedWithInlineAfterHandlers: the bound counts the
// inline after-handlers with the before-handlers, as the README says: with
// the one slot held by a stuck before-handler, an inline after-callback is
// answered 503 (50302) without running.
func TestMaxInFlightIsSharedWithInlineAfterHandlers(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	var ran atomic.Bool
	h := newHarness(t, dispatcher.Options{BeforeTimeout: startDeadline, InlineTimeout: time.Minute, MaxInFlight: 1, Fallback: deny("busy")},
		rawBefore("C2C.CallbackBeforeSendMsg", func(context.Context, *dispatcher.Event[sendMsg]) (dispatcher.Decision, error) {
			<-release // ignores its context: keeps its slot past the deadline
			return allow(), nil
		}),
		dispatcher.After("Group.CallbackAfterNewMemberJoin", func(context.Context, *dispatcher.Event[struct{}]) error {
			ran.Store(true)
			return nil
		}))
	h.do("C2C.CallbackBeforeSendMsg", `{}`)
	rec, out := h.do("Group.CallbackAfterNewMemberJoin", `{}`)
	if rec.Code != http.StatusServiceUnavailable || out["ErrorCode"] != float64(protocol.ErrHandlerFailed.Code) || ran.Load() {
		t.Fatalf("answer %d %v (handler ran: %v), want 503 %d without running it", rec.Code, out, ran.Load(), protocol.ErrHandlerFailed.Code)
	}
}

// TestMaxInFlightSlotFreedAfterGoexit: a handler that ends its goroutine
// with runtime.Goexit (t.FailNow in a test's handler, say) neither holds
// its MaxInFlight slot for good, answering every later callback with the
// fallback, nor keeps Wait waiting at the stop.
func TestMaxInFlightSlotFreedAfterGoexit(t *testing.T) {
	var calls atomic.Int32
	h := newHarness(t, dispatcher.Options{BeforeTimeout: startDeadline, MaxInFlight: 1, Fallback: deny("fallback")},
		rawBefore("C2C.CallbackBeforeSendMsg", func(context.Context, *dispatcher.Event[sendMsg]) (dispatcher.Decision, error) {
			if calls.Add(1) == 1 {
				runtime.Goexit()
			}
			return allow(), nil
		}))
	if _, out := h.do("C2C.CallbackBeforeSendMsg", `{}`); out["ErrorCode"] != float64(1) {
		t.Fatalf("a handler that exited without answering: %v, want the fallback", out)
	}
	if _, out := h.do("C2C.CallbackBeforeSendMsg", `{}`); out["ErrorCode"] != float64(0) || calls.Load() != 2 {
		t.Fatalf("after a Goexit the slot stayed taken: %v, %d calls", out, calls.Load())
	}
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	if err := h.d.Wait(ctx); err != nil {
		t.Fatalf("Wait counts the handler that exited as running: %v", err)
	}
}

// failingReader returns some bytes, then an error, like a client that stops sending.
type failingReader struct{ sent bool }

func (r *failingReader) Read(p []byte) (int, error) {
	if r.sent {
		return 0, errors.New("connection reset")
	}
	r.sent = true
	return copy(p, `{"GroupId":`), nil
}

func TestUnreadableBody(t *testing.T) {
	h := newHarness(t, dispatcher.Options{}, dispatcher.After("A.B",
		func(context.Context, *dispatcher.Event[struct{}]) error { return nil }))
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, "/im/callback?CallbackCommand=A.B", &failingReader{})
	h.e.ServeHTTP(rec, req)
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), `"ErrorCode":40004`) {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
}

// TestCommandLimitedToApps: a command registered ForApps runs for those
// apps only; for another app it is an unknown command, answered OK.
func TestCommandLimitedToApps(t *testing.T) {
	var calls atomic.Int32
	h := newHarness(t, dispatcher.Options{}, dispatcher.After("Group.CallbackAfterCreateTopic",
		func(context.Context, *dispatcher.Event[map[string]any]) error { calls.Add(1); return nil },
		dispatcher.ForApps("1400000001")))
	tests := []struct {
		app       string
		wantCalls int32
	}{
		{"1400000001", 1},
		{"1400000000", 0},
	}
	for _, tt := range tests {
		calls.Store(0)
		rec := httptest.NewRecorder()
		h.e.ServeHTTP(rec, httptest.NewRequest(http.MethodPost,
			"/im/callback?SdkAppid="+tt.app+"&CallbackCommand=Group.CallbackAfterCreateTopic", strings.NewReader(`{}`)))
		if rec.Code != http.StatusOK || calls.Load() != tt.wantCalls {
			t.Errorf("app %s: status %d, handler ran %d times, want %d", tt.app, rec.Code, calls.Load(), tt.wantCalls)
		}
	}
	if n := testutil.ToFloat64(h.metrics.Unknown.WithLabelValues("Group.CallbackAfterCreateTopic")); n != 1 {
		t.Errorf("unknown_commands_total = %v, want 1 (the other app)", n)
	}
}

// stubForwarder takes its commands for every app and never sends.
type stubForwarder []string

func (f stubForwarder) Commands() []string                   { return f }
func (f stubForwarder) Destinations(string, string) []string { return []string{"stub"} }
func (f stubForwarder) Decide(context.Context, string, *dispatcher.Request) (dispatcher.Decision, error) {
	return dispatcher.Decision{}, nil
}
func (f stubForwarder) Deliver(context.Context, string, *dispatcher.Request) error { return nil }

// panicReply and errReply are reply fields whose JSON encoding panics or fails.
type (
	panicReply struct{}
	errReply   struct{}
)

func (panicReply) MarshalJSON() ([]byte, error) { panic("boom in MarshalJSON") }
func (errReply) MarshalJSON() ([]byte, error)   { return nil, errors.New("cannot encode") }

// TestReplyEncodingFailureGetsTheFallback: reply fields that cannot be
// encoded, by an error or a panic of their MarshalJSON, are the handler's
// failure: the before-callback gets the fallback decision (not a 500 from
// the recover middleware), counted and logged as a handler that failed.
func TestReplyEncodingFailureGetsTheFallback(t *testing.T) {
	for _, tt := range []struct {
		name    string
		reply   any
		wantErr string
	}{
		{"panic", panicReply{}, "handler panicked: encoding the reply fields: boom in MarshalJSON"},
		{"error", errReply{}, "cannot encode"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, dispatcher.Options{Fallback: deny("fallback")}, before(func(*dispatcher.Event[sendMsg]) (dispatcher.Decision, error) {
				return modify(tt.reply), nil
			}))
			h.e.Use(echomw.Recover()) // as the service's chain: a panic would be a 500
			rec, out := h.do("C2C.CallbackBeforeSendMsg", `{}`)
			if rec.Code != http.StatusOK || out["ActionStatus"] != "OK" || out["ErrorCode"] != float64(1) || out["ErrorInfo"] != "fallback" || len(out) != 3 {
				t.Fatalf("answer %d %s, want the fallback decision", rec.Code, rec.Body)
			}
			if got := testutil.ToFloat64(h.metrics.Total.WithLabelValues("C2C.CallbackBeforeSendMsg", testApp, "fallback")); got != 1 {
				t.Fatalf("callbacks_total{outcome=fallback} = %v", got)
			}
			logs := h.logs.FilterMessage("before-handler failed; sending the fallback decision").All()
			if len(logs) != 1 || logs[0].ContextMap()["fallback"] != "deny" ||
				!strings.Contains(fmt.Sprint(logs[0].ContextMap()["error"]), tt.wantErr) {
				t.Fatalf("logged %+v, want the handler's failure with %q", logs, tt.wantErr)
			}
		})
	}
}

// lateReply is reply fields whose JSON encoding ends only after until:
// the handler's own code (a MarshalJSON of its reply type) still running
// when its deadline has passed.
type lateReply struct{ until time.Time }

func (r lateReply) MarshalJSON() ([]byte, error) {
	time.Sleep(time.Until(r.until))
	return []byte(`{"Late":true}`), nil
}

// TestReplyEncodingPastTheDeadlineGetsTheFallback: the reply fields a
// handler answered are encoded under its deadline, as the handler itself
// runs. Encoded after the handler returned, on the request's goroutine, a
// slow encoding held the answer past IMCALLBACK_BEFORE_TIMEOUT (and IM's
// 2 s) and then sent the late reply.
func TestReplyEncodingPastTheDeadlineGetsTheFallback(t *testing.T) {
	h := newHarness(t, dispatcher.Options{BeforeTimeout: 50 * time.Millisecond, Fallback: deny("fallback")},
		rawBefore("C2C.CallbackBeforeSendMsg", func(ctx context.Context, _ *dispatcher.Event[sendMsg]) (dispatcher.Decision, error) {
			deadline, _ := ctx.Deadline()
			return modify(lateReply{until: deadline.Add(20 * time.Millisecond)}), nil // answered at once, encoded too late
		}))
	rec, out := h.do("C2C.CallbackBeforeSendMsg", `{}`)
	if rec.Code != http.StatusOK || out["ErrorCode"] != float64(1) || out["ErrorInfo"] != "fallback" || out["Late"] != nil {
		t.Fatalf("answer %d %s, want the fallback decision", rec.Code, rec.Body)
	}
	logs := h.logs.FilterMessage("before-handler failed; sending the fallback decision").All()
	if len(logs) != 1 || !strings.Contains(fmt.Sprint(logs[0].ContextMap()["error"]), "handler deadline 50ms") {
		t.Fatalf("logged %+v, want the missed deadline", logs)
	}
	if got := testutil.ToFloat64(h.metrics.Total.WithLabelValues("C2C.CallbackBeforeSendMsg", testApp, "fallback")); got != 1 {
		t.Fatalf("callbacks_total{outcome=fallback} = %v", got)
	}
	if err := h.d.Wait(context.Background()); err != nil { // the encoding goroutine ends before goleak looks
		t.Fatal(err)
	}
}

// TestPerTargetRefusalEncodedLateStaysADeny: the refusal of every target
// that a deny of a per-target command gets is the dispatcher's own reply
// fields, not the handler's: a deny answered in time stays a deny even
// when encoding those fields ends past the handler's deadline. The late
// reply check took them for the handler's and sent the fallback, an allow
// by default, for the handler's deny.
func TestPerTargetRefusalEncodedLateStaysADeny(t *testing.T) {
	const command = "Sns.CallbackPrevFriendAdd"
	deadlines := make(chan time.Time, 1)
	rules := dispatcher.Rules{command: {
		DenyCodes: dispatcher.CodeRange{Min: 38000, Max: 39000},
		PerTarget: &dispatcher.PerTarget{Deny: func([]byte, int, string) (any, error) {
			return lateReply{until: (<-deadlines).Add(20 * time.Millisecond)}, nil // encoded past the deadline
		}},
	}}
	// The harness's default deadline (BeforeTimeout left 0), which the
	// handler, answering at once, meets on a loaded machine: with 500 ms a
	// descheduled goroutine could spend it first, and the deny was the
	// fallback.
	h := newHarness(t, dispatcher.Options{Rules: rules},
		rawBefore(command, func(ctx context.Context, _ *dispatcher.Event[map[string]any]) (dispatcher.Decision, error) {
			deadline, _ := ctx.Deadline()
			deadlines <- deadline
			return deny("no"), nil // answered at once
		}))
	rec, out := h.do(command, `{}`)
	if rec.Code != http.StatusOK || out["ErrorCode"] != float64(1) || out["ErrorInfo"] != "no" || out["Late"] != true {
		t.Fatalf("answer %d %s, want the handler's deny with the refusal of every target", rec.Code, rec.Body)
	}
	if logs := h.logs.FilterMessage("before-handler failed; sending the fallback decision").All(); len(logs) != 0 {
		t.Fatalf("logged %+v: the handler answered in time", logs)
	}
	if got := testutil.ToFloat64(h.metrics.Total.WithLabelValues(command, testApp, "deny")); got != 1 {
		t.Fatalf("callbacks_total{outcome=deny} = %v", got)
	}
}

// TestClientGoneIsNoDeadline cancels the request (IM closed the
// connection) while a handler waits on its context, under a deadline far
// away: the error logged (before) or handed to the error handler (inline
// after) says the request was canceled, not that the handler missed a
// deadline it never reached.
func TestClientGoneIsNoDeadline(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	tests := []struct {
		name    string
		command string
		// cmd's handler closes started, then holds until the test ends,
		// past its canceled context: the answer cannot be its own.
		cmd func(started chan<- struct{}) dispatcher.Command
		err func(h *harness, handled error) string
	}{
		{"before", "C2C.CallbackBeforeSendMsg", func(started chan<- struct{}) dispatcher.Command {
			return rawBefore("C2C.CallbackBeforeSendMsg", func(ctx context.Context, _ *dispatcher.Event[sendMsg]) (dispatcher.Decision, error) {
				close(started)
				<-ctx.Done()
				<-release
				return allow(), nil
			})
		}, func(h *harness, _ error) string {
			logged := h.logs.FilterMessage("before-handler failed; sending the fallback decision").All()
			if len(logged) != 1 {
				return ""
			}
			s, _ := logged[0].ContextMap()["error"].(string)
			return s
		}},
		{"after inline", "Group.CallbackAfterNewMemberJoin", func(started chan<- struct{}) dispatcher.Command {
			return dispatcher.After("Group.CallbackAfterNewMemberJoin", func(ctx context.Context, _ *dispatcher.Event[struct{}]) error {
				close(started)
				<-ctx.Done()
				<-release
				return ctx.Err()
			})
		}, func(_ *harness, handled error) string {
			if handled == nil {
				return ""
			}
			return handled.Error()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			started := make(chan struct{})
			h := newHarness(t, dispatcher.Options{BeforeTimeout: time.Hour, InlineTimeout: time.Hour, Fallback: deny("fallback")}, tt.cmd(started))
			var handled error
			errorHandler := h.e.HTTPErrorHandler
			h.e.HTTPErrorHandler = func(err error, c echo.Context) { handled = err; errorHandler(err, c) }
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go func() { <-started; cancel() }()
			req := httptest.NewRequest(http.MethodPost, "/im/callback?SdkAppid="+testApp+"&CallbackCommand="+tt.command, strings.NewReader(`{}`))
			h.e.ServeHTTP(httptest.NewRecorder(), req.WithContext(ctx))
			got := tt.err(h, handled)
			if !strings.Contains(got, "request canceled") || strings.Contains(got, "deadline") {
				t.Fatalf("error %q, want the request's cancellation, not a deadline", got)
			}
		})
	}
}

// TestRefusedDenyCodeSaysTheRange: a deny code the command does not take
// is logged naming the range it does take, written as a range, or saying
// that it takes none (a command the catalogue lacks, whose descriptor a
// program declares itself), with what to answer instead; it was the Go
// value of the range, "{0 0}" for a command without one. At start, a
// fallback with such a code fails the start without saying it was sent.
func TestRefusedDenyCodeSaysTheRange(t *testing.T) {
	custom := dispatcher.NewBeforeCommand[struct{}, dispatcher.NoReply]("X.CallbackBeforeY")
	group := dispatcher.NewBeforeCommand[struct{}, dispatcher.NoReply]("Group.CallbackBeforeCreateGroup")
	tests := []struct {
		name  string
		cmd   dispatcher.BeforeCommand[struct{}, dispatcher.NoReply]
		reply dispatcher.Reply[dispatcher.NoReply]
		want  string
	}{
		{"no range", custom, custom.DenyWithCode(120042, "x"),
			"deny code 120042: the command takes no custom deny code (the catalogue documents none for it), only Deny (1); sent deny"},
		{"outside the range", group, group.DenyWithCode(5, "x"), "deny code 5 is outside the allowed range 10100–10200; sent deny"},
		{"no refusal code, no range", custom, custom.DenyWithCode(2, "x"), "DenyWithCode(2) is no refusal code (a deny code is 1); sent deny"},
		{"no refusal code", group, group.DenyWithCode(0, "x"), "DenyWithCode(0) is no refusal code (a deny code is 1 or in 10100–10200); sent deny"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, dispatcher.Options{}, tt.cmd.Handle(func(context.Context, *dispatcher.Event[struct{}]) (dispatcher.Reply[dispatcher.NoReply], error) {
				return tt.reply, nil
			}))
			if _, out := h.do(tt.cmd.Name(), `{}`); out["ErrorCode"] != float64(1) {
				t.Fatalf("answer %v", out)
			}
			logged := h.logs.FilterMessage("before-handler decision not accepted by the protocol").All()
			if len(logged) != 1 {
				t.Fatalf("logged %v", logged)
			}
			if got := logged[0].ContextMap()["error"]; got != tt.want {
				t.Fatalf("logged error %q, want %q", got, tt.want)
			}
			_, err := dispatcher.New([]dispatcher.Command{tt.cmd.Handle(func(context.Context, *dispatcher.Event[struct{}]) (dispatcher.Reply[dispatcher.NoReply], error) {
				return tt.cmd.Allow(), nil
			}, dispatcher.WithFallback(tt.reply))}, dispatcher.Options{BeforeTimeout: time.Second, Rules: testRules}, zap.NewNop(),
				metrics.NewCallbacks(prometheus.NewRegistry()))
			want := strings.TrimSuffix(tt.want, "; sent deny")
			if err == nil || !strings.HasSuffix(err.Error(), want) {
				t.Fatalf("fallback: start error %v, want one ending %q", err, want)
			}
		})
	}
}
