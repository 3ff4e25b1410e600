package imtest_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/imcallback/imcallback/commands/c2c"
	"github.com/imcallback/imcallback/config"
	"github.com/imcallback/imcallback/delivery"
	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/imtest"
	"github.com/imcallback/imcallback/internal/leakwait"
	"github.com/imcallback/imcallback/protocol"
)

func TestMain(m *testing.M) { leakwait.VerifyTestMain(m) }

// TestSenderSignsLikeIM checks the request the sender builds against the
// published vector, with an injected clock.
func TestSenderSignsLikeIM(t *testing.T) {
	var got *http.Request
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		w.Write(protocol.OKBody)
	})
	s := imtest.Sender{URL: "http://im.example/cb", Handler: h, AppID: "1400000000", Token: "xxxxyyyy",
		OptPlatform: "iOS", Now: func() time.Time { return time.Unix(1669872112, 0) }}
	res, err := s.Send(context.Background(), "Group.CallbackAfterCreateTopic", []byte(`{}`))
	if err != nil || !res.OK() {
		t.Fatalf("%v %+v", err, res)
	}
	p := protocol.ParseParams(got.URL.RawQuery)
	want := protocol.Params{SdkAppid: "1400000000", CallbackCommand: "Group.CallbackAfterCreateTopic", ContentType: "json",
		ClientIP: "127.0.0.1", OptPlatform: "iOS", RequestTime: "1669872112",
		Sign: "17773bc39a671d7b9aa835458704d2a6db81360a5940292b587d6d760d484061"}
	if p != want || got.Method != http.MethodPost || got.URL.Path != "/cb" {
		t.Fatalf("request %s %s: %+v", got.Method, got.URL, p)
	}
	if !strings.HasPrefix(got.URL.RawQuery, "SdkAppid=1400000000&CallbackCommand=") {
		t.Fatalf("parameter order differs from IM's example: %s", got.URL.RawQuery)
	}

	if _, err := s.Send(context.Background(), "X.Y", nil, imtest.Unsigned(), imtest.WithAppID("")); err != nil {
		t.Fatal(err)
	}
	if p := protocol.ParseParams(got.URL.RawQuery); p.Sign != "" || p.RequestTime != "" || p.SdkAppid != "" {
		t.Fatalf("unsigned request carries %+v", p)
	}
}

// service runs imcallback with one before and one after command.
func service(t *testing.T, applied chan<- string) *imtest.Service {
	type msg struct {
		Text string `json:"Text"`
	}
	type ev struct {
		ID string `json:"ID"`
	}
	return imtest.Start(t, []string{"IMCALLBACK_DELIVERY=inline"}, fx.Provide(
		dispatcher.AsCommand(func() dispatcher.Command {
			c := dispatcher.NewBeforeCommand[msg, c2c.SendMsgReply]("C2C.CallbackBeforeSendMsg")
			return c.Handle(func(_ context.Context, e *dispatcher.Event[msg]) (dispatcher.Reply[c2c.SendMsgReply], error) {
				switch e.Payload.Text {
				case "deny":
					return c.DenyWithCode(120001, "no"), nil
				case "drop":
					return c.Drop(), nil
				case "modify":
					return c.Modify(c2c.SendMsgReply{CloudCustomData: new("x")}), nil
				}
				return c.Allow(), nil
			})
		}),
		dispatcher.AsCommand(func() dispatcher.Command {
			return dispatcher.After("Push.OfflinePush", func(_ context.Context, e *dispatcher.Event[struct{ Events []ev }]) error {
				for _, x := range e.Payload.Events {
					applied <- x.ID
				}
				return nil
			})
		}),
	))
}

func TestResultHelpers(t *testing.T) {
	s := service(t, make(chan string, 1))
	tests := []struct {
		text  string
		check func(r *imtest.Result) bool
	}{
		{"hello", func(r *imtest.Result) bool { return r.Allowed() && !r.Modified() }},
		{"deny", func(r *imtest.Result) bool { code, ok := r.Denied(); return ok && code == 120001 }},
		{"drop", func(r *imtest.Result) bool { _, denied := r.Denied(); return r.Dropped() && !denied }},
		{"modify", func(r *imtest.Result) bool {
			var v string
			return r.Modified() && r.ReplyField("CloudCustomData", &v) == nil && v == "x"
		}},
	}
	for _, tt := range tests {
		res := s.Send(t, "C2C.CallbackBeforeSendMsg", []byte(`{"Text":"`+tt.text+`"}`))
		if !tt.check(res) {
			t.Errorf("%s: %d %s", tt.text, res.Status, res.Body)
		}
	}
	late := s.Send(t, "C2C.CallbackBeforeSendMsg", []byte(`{}`), imtest.Late(2*time.Minute))
	if status, code, ok := late.Rejected(); !ok || status != 401 || code != protocol.ErrStaleRequest.Code || !late.Is(protocol.ErrStaleRequest) {
		t.Fatalf("late request: %d %s", late.Status, late.Body)
	}
	future := s.Send(t, "C2C.CallbackBeforeSendMsg", []byte(`{}`), imtest.At(time.Now().Add(time.Hour)))
	if !future.Is(protocol.ErrStaleRequest) {
		t.Fatalf("future request: %s", future.Body)
	}
	if _, _, ok := s.Send(t, "C2C.CallbackBeforeSendMsg", []byte(`{}`)).Rejected(); ok {
		t.Fatal("an allowed answer reads as rejected")
	}
}

func TestChaos(t *testing.T) {
	applied := make(chan string, 300)
	s := service(t, applied)
	ctx := context.Background()

	first, second, err := s.Sender.SendRetried(ctx, "Push.OfflinePush", []byte(`{"Events":[{"ID":"a"}]}`))
	if err != nil || !first.OK() || !second.OK() {
		t.Fatalf("retried: %v", err)
	}
	if got := drain(applied); strings.Join(got, ",") != "a,a" {
		t.Fatalf("a retried callback reaches an inline handler twice; got %v", got)
	}

	var calls []imtest.Call
	for _, id := range []string{"1", "2", "3", "4", "5", "6"} {
		calls = append(calls, imtest.Call{Command: "Push.OfflinePush", Body: []byte(`{"Events":[{"ID":"` + id + `"}]}`)})
	}
	results, err := s.Sender.SendShuffled(ctx, 7, calls...)
	if err != nil || len(results) != 6 {
		t.Fatal(err)
	}
	got := drain(applied)
	if strings.Join(got, "") == "123456" || len(got) != 6 {
		t.Fatalf("not shuffled: %v", got)
	}

	events := make([]json.RawMessage, imtest.MaxBatch)
	for i := range events {
		events[i] = json.RawMessage(`{"ID":"b"}`)
	}
	res, err := s.Sender.SendBatch(ctx, "Push.OfflinePush", events)
	if err != nil || !res.OK() || len(drain(applied)) != imtest.MaxBatch {
		t.Fatalf("batch: %v", err)
	}
	if _, err := imtest.BatchBody(append(events, events[0])...); err == nil {
		t.Fatal("a batch of 101 events was built")
	}
	if _, err := imtest.BatchBody(); err == nil {
		t.Fatal("an empty batch was built")
	}
}

func TestLoadRun(t *testing.T) {
	s := service(t, make(chan string, 1))
	var mu sync.Mutex
	var progress int
	rep, err := s.Sender.Run(context.Background(), imtest.Load{
		Command: "C2C.CallbackBeforeSendMsg", Requests: 200, Concurrency: 8,
		Body:     func(i int) []byte { return []byte(`{"Text":"hello"}`) },
		Progress: func(done int) { mu.Lock(); progress = max(progress, done); mu.Unlock() },
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Requests != 200 || rep.Failures != 0 || rep.Statuses[200] != 200 || rep.RPS <= 0 || rep.P99 < rep.P50 || progress != 200 {
		t.Fatalf("report %+v, progress %d", rep, progress)
	}
	failing := imtest.Start(t, []string{"IMCALLBACK_DELIVERY=inline"}, fx.Provide(dispatcher.AsCommand(func() dispatcher.Command {
		return dispatcher.After("Group.CallbackAfterNewMemberJoin", func(context.Context, *dispatcher.Event[struct{}]) error {
			return errors.New("db down")
		})
	})))
	fails, err := failing.Sender.Run(context.Background(), imtest.Load{
		Command: "Group.CallbackAfterNewMemberJoin", Requests: 3, Concurrency: 2,
		Body: func(int) []byte { return []byte(`{}`) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if fails.Failures != 3 || fails.Statuses[503] != 3 {
		t.Fatalf("handler failures (503 with the FAIL envelope) not counted as failures: %+v", fails)
	}
	bad, err := s.Sender.Run(context.Background(), imtest.Load{
		Command: "C2C.CallbackBeforeSendMsg", Requests: 3, Concurrency: 2,
		Body: func(int) []byte { return []byte(`{`) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if bad.Failures != 3 || bad.Statuses[400] != 3 || bad.FirstError == "" {
		t.Fatalf("failures not reported: %+v", bad)
	}
}

func drain(ch chan string) []string {
	var out []string
	for {
		select {
		case v := <-ch:
			out = append(out, v)
		default:
			return out
		}
	}
}

func TestSamples(t *testing.T) {
	commands := imtest.Commands()
	if len(commands) != 61 {
		t.Fatalf("%d commands with samples", len(commands))
	}
	for _, c := range commands {
		body, err := imtest.Sample(c)
		if err != nil || !json.Valid(body) {
			t.Fatalf("%s: %v", c, err)
		}
	}
	if _, err := imtest.Sample("No.SuchCommand"); err == nil {
		t.Fatal("sample of an unknown command")
	}
	body, err := imtest.SampleWith("Group.CallbackAfterCreateTopic", map[string]any{"TopicId": "t-1", "Name": nil, "Extra": 7})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatal(err)
	}
	if _, hasName := m["Name"]; hasName || m["TopicId"] != "t-1" || m["Extra"] != float64(7) || m["GroupId"] == nil {
		t.Fatalf("modified sample %s", body)
	}
	// Large integers of the sample keep their exact value.
	join, err := imtest.SampleWith("Group.CallbackAfterNewMemberJoin", map[string]any{"GroupId": "g"})
	if err != nil || !strings.Contains(string(join), `"EventTime":1732600300111`) {
		t.Fatalf("%v %s", err, join)
	}
}

func TestInMemory(t *testing.T) {
	s := service(t, make(chan string, 1))
	res, err := s.InMemory().Send(context.Background(), "C2C.CallbackBeforeSendMsg", []byte(`{"Text":"deny"}`))
	if err != nil {
		t.Fatal(err)
	}
	if code, denied := res.Denied(); !denied || code != 120001 {
		t.Fatalf("%d %s", res.Status, res.Body)
	}
	res, err = s.InMemory().Send(context.Background(), "C2C.CallbackBeforeSendMsg", []byte(`{}`), imtest.Unsigned())
	if err != nil || !res.Is(protocol.ErrMissingSign) {
		t.Fatalf("the in-memory path skips verification: %v %s", err, res.Body)
	}
}

func TestInMemoryPeerPassesAnAllowlist(t *testing.T) {
	s := imtest.Start(t, []string{"IMCALLBACK_DELIVERY=inline", "IMCALLBACK_ALLOW_CIDRS=192.0.2.0/24"})
	res, err := s.InMemory().Send(context.Background(), "Group.CallbackAfterBrandNew", []byte(`{}`))
	if err != nil || !res.OK() {
		t.Fatalf("default in-memory peer: %v %s", err, res.Body)
	}
	res, err = s.InMemory().Send(context.Background(), "Group.CallbackAfterBrandNew", []byte(`{}`), imtest.WithPeer("198.51.100.7:1"))
	if err != nil || !res.Is(protocol.ErrIPNotAllowed) {
		t.Fatalf("peer outside the allowlist: %v %s", err, res.Body)
	}
}

// logRecorder is a testing.TB that records Log calls.
type logRecorder struct {
	testing.TB
	mu   sync.Mutex
	logs []string
}

func (r *logRecorder) Log(args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.logs = append(r.logs, fmt.Sprint(args...))
}

func (r *logRecorder) Helper() {}

// TestStartNotesInlineDelivery: a durable configuration without the
// delivery module, where an after-handler would run inline, is noted in
// the test's log (the service's warning); inline is not, nor durable
// without an after-handler to run.
func TestStartNotesInlineDelivery(t *testing.T) {
	after := fx.Provide(dispatcher.AsCommand(func() dispatcher.Command {
		return dispatcher.After("C2C.CallbackAfterSendMsg", func(context.Context, *dispatcher.Event[json.RawMessage]) error { return nil })
	}))
	for _, tt := range []struct {
		name string
		env  []string
		opts []fx.Option
		want bool
	}{
		{"durable", nil, []fx.Option{after}, true},
		{"inline", []string{"IMCALLBACK_DELIVERY=inline"}, []fx.Option{after}, false},
		{"durable without an after-handler", nil, nil, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := &logRecorder{TB: t}
			imtest.Start(rec, tt.env, tt.opts...)
			rec.mu.Lock()
			noted := len(rec.logs) == 1 && strings.Contains(rec.logs[0], "after-callbacks run inline")
			rec.mu.Unlock()
			if noted != tt.want {
				t.Errorf("env %v: logs %q", tt.env, rec.logs)
			}
		})
	}
}

// TestStartSignsForTheConfiguredApp: the Sender follows env's overrides of
// the app id and tokens, so a test of an app of its own is accepted; an
// override set empty removes the default.
func TestStartSignsForTheConfiguredApp(t *testing.T) {
	for _, tt := range []struct {
		name          string
		env           []string
		app, tokenFor string
	}{
		{"defaults", nil, imtest.AppID, imtest.Token},
		{"another app", []string{"IMCALLBACK_SDKAPPID=1400000099"}, "1400000099", imtest.Token},
		{"a global token", []string{"IMCALLBACK_TOKENS=other"}, imtest.AppID, "other"},
		{"the app's own token", []string{"IMCALLBACK_APP_1400000000_TOKENS=own"}, imtest.AppID, "own"},
		// An empty variable counts as unset for the service: it replaces
		// Start's default, so the service runs without a token.
		{"no token", []string{"IMCALLBACK_TOKENS="}, imtest.AppID, ""},
		// The service reads a name in any case after IMCALLBACK_: one in
		// another case overrides Start's default as well, rather than
		// stand beside it (the start refused the two as one setting set
		// twice, and an empty one left the default token in place).
		{"a global token in lower case", []string{"IMCALLBACK_tokens=other"}, imtest.AppID, "other"},
		{"no token in lower case", []string{"IMCALLBACK_tokens="}, imtest.AppID, ""},
		{"another app in mixed case", []string{"IMCALLBACK_SdkAppId=1400000099"}, "1400000099", imtest.Token},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := imtest.Start(t, append([]string{"IMCALLBACK_DELIVERY=inline"}, tt.env...))
			if s.Sender.AppID != tt.app || s.Sender.Token != tt.tokenFor {
				t.Errorf("Sender for app %s with token %q, want %s with %q", s.Sender.AppID, s.Sender.Token, tt.app, tt.tokenFor)
			}
			if res := s.Send(t, "Group.CallbackAfterBrandNew", []byte(`{}`)); !res.OK() {
				t.Errorf("answer %d %s", res.Status, res.Body)
			}
		})
	}
}

// TestSenderForSignsWithTheAppsOwnToken: with per-app tokens, a second
// app's callbacks are signed with its own token and accepted.
func TestSenderForSignsWithTheAppsOwnToken(t *testing.T) {
	s := imtest.Start(t, []string{"IMCALLBACK_DELIVERY=inline", "IMCALLBACK_SDKAPPID=1400000000,1400000001",
		"IMCALLBACK_APP_1400000000_TOKENS=first", "IMCALLBACK_APP_1400000001_TOKENS=second"})
	for _, app := range []string{"1400000000", "1400000001"} {
		sender := s.SenderFor(app)
		if sender.AppID != app || sender.URL != s.Sender.URL {
			t.Errorf("SenderFor(%s) = app %s at %s", app, sender.AppID, sender.URL)
		}
		res, err := sender.Send(context.Background(), "Group.CallbackAfterBrandNew", []byte(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		if !res.OK() {
			t.Errorf("app %s: answer %d %s", app, res.Status, res.Body)
		}
	}
	if s.Sender.AppID != "1400000000" || s.Sender.Token != "first" {
		t.Errorf("SenderFor changed the service's Sender: app %s, token %q", s.Sender.AppID, s.Sender.Token)
	}
}

// TestOpenFilesUnderResolvesTheDirectory: a file held open under a
// directory named through a symbolic link, or relative to the working
// directory, is listed: /proc names it by its resolved path, and a check
// that compared the names as given would find nothing and pass.
func TestOpenFilesUnderResolvesTheDirectory(t *testing.T) {
	if _, err := os.ReadDir("/proc/self/fd"); err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	base := t.TempDir()
	target := filepath.Join(base, "real")
	if err := os.Mkdir(target, 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(base, "link")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(link, "held"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	t.Chdir(base)
	for _, dir := range []string{target, link, "link", "real"} {
		if held := imtest.OpenFilesUnder(t, dir); len(held) != 1 {
			t.Errorf("OpenFilesUnder(%q) = %v, want the one file held open", dir, held)
		}
	}
	f.Close()
	if held := imtest.OpenFilesUnder(t, link); len(held) != 0 {
		t.Errorf("after the close: %v", held)
	}
}

// fatalTB records the first Fatal of a Service method run in its own
// goroutine, which it ends as testing.T does.
type fatalTB struct {
	testing.TB
	msg chan string
}

func (f *fatalTB) Helper()           {}
func (f *fatalTB) Fatal(args ...any) { f.msg <- fmt.Sprint(args...); runtime.Goexit() }
func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg <- fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// TestServiceRequestsTimeOut: a service that accepts a request and never
// answers fails Send, Metrics and GetJSON within the Timeout, with an error
// naming the request, instead of hanging the test.
func TestServiceRequestsTimeOut(t *testing.T) {
	release := make(chan struct{})
	hung := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-release }))
	t.Cleanup(hung.Close)
	t.Cleanup(func() { close(release) }) // runs first: Close waits for the handlers
	s := &imtest.Service{AdminURL: hung.URL, Sender: &imtest.Sender{URL: hung.URL + "/im/callback"},
		Timeout: 100 * time.Millisecond}
	for _, tt := range []struct {
		name, want string
		call       func(testing.TB)
	}{
		{"Send", "Send C2C.CallbackBeforeSendMsg to " + hung.URL + "/im/callback: no answer within 100ms",
			func(tb testing.TB) { s.Send(tb, "C2C.CallbackBeforeSendMsg", []byte(`{}`)) }},
		{"Metrics", "GET " + hung.URL + "/metrics: no answer within 100ms", func(tb testing.TB) { s.Metrics(tb) }},
		{"GetJSON", "GET " + hung.URL + "/v1/status: no answer within 100ms",
			func(tb testing.TB) { s.GetJSON(tb, "/v1/status", http.StatusOK, nil) }},
	} {
		tb := &fatalTB{TB: t, msg: make(chan string, 1)}
		go func() {
			tt.call(tb)
			tb.msg <- "returned"
		}()
		select {
		case msg := <-tb.msg:
			if !strings.Contains(msg, tt.want) {
				t.Errorf("%s: %q, want it to say %q", tt.name, msg, tt.want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s still waits for a service that does not answer", tt.name)
		}
	}
	if imtest.DefaultTimeout < 10*time.Second || imtest.DefaultTimeout >= 10*time.Minute {
		t.Fatalf("DefaultTimeout %v: not generous, or not below go test's timeout", imtest.DefaultTimeout)
	}
}

// TestServiceSendsTheAdminToken: with IMCALLBACK_ADMIN_TOKEN in Start's env
// (a test that mirrors production), Metrics and GetJSON send the token, as
// the Sender signs with the configured callback token, so a route that
// requires it answers instead of 401.
func TestServiceSendsTheAdminToken(t *testing.T) {
	for _, env := range [][]string{nil, {"IMCALLBACK_ADMIN_TOKEN=admin-secret"}} {
		t.Run(fmt.Sprint(env), func(t *testing.T) {
			s := imtest.Start(t, append([]string{"IMCALLBACK_DELIVERY=inline"}, env...))
			var cfg map[string]any
			s.GetJSON(t, "/v1/config", http.StatusOK, &cfg)
			if len(cfg) == 0 {
				t.Fatal("/v1/config answered nothing")
			}
			if m := s.Metrics(t); !strings.Contains(m, "# TYPE") {
				t.Fatalf("/metrics: %.200s", m)
			}
		})
	}
}

// TestStartWithTLS: with IMCALLBACK_TLS_CERT and IMCALLBACK_TLS_KEY the
// public listener serves HTTPS, and PublicURL (and the Sender's URL) say
// https://, so a Sender with a Client that trusts the certificate is
// answered; http:// was a URL the listener could not answer. Start leaves
// the Client nil, which refuses the certificate, as the README and
// SelfSigned's doc say: the test sets the Client they show.
func TestStartWithTLS(t *testing.T) {
	certFile, keyFile, pool := imtest.SelfSigned(t)
	s := imtest.Start(t, []string{"IMCALLBACK_DELIVERY=inline", "IMCALLBACK_TLS_CERT=" + certFile, "IMCALLBACK_TLS_KEY=" + keyFile})
	if !strings.HasPrefix(s.PublicURL, "https://") || !strings.HasPrefix(s.Sender.URL, s.PublicURL+"/") {
		t.Fatalf("PublicURL %s, Sender.URL %s: want https://", s.PublicURL, s.Sender.URL)
	}
	var unknownAuthority x509.UnknownAuthorityError
	if _, err := s.Sender.Send(context.Background(), "Group.CallbackAfterBrandNew", []byte(`{}`)); s.Sender.Client != nil || !errors.As(err, &unknownAuthority) {
		t.Fatalf("Start's Sender (Client %v) did not refuse the certificate: %v", s.Sender.Client, err)
	}
	s.Sender.Client = imtest.NewClient(4, &tls.Config{RootCAs: pool})
	defer s.Sender.Client.CloseIdleConnections()
	if res := s.Send(t, "Group.CallbackAfterBrandNew", []byte(`{}`)); !res.OK() {
		t.Fatalf("answer %d %s", res.Status, res.Body)
	}
}

// TestSendOverTLSSaysWhichClientToSet: Service.Send to a listener over
// TLS with the Sender's Client left nil fails the test saying which
// Client to set, not with the handshake's error alone.
func TestSendOverTLSSaysWhichClientToSet(t *testing.T) {
	certFile, keyFile, _ := imtest.SelfSigned(t)
	s := imtest.Start(t, []string{"IMCALLBACK_DELIVERY=inline", "IMCALLBACK_TLS_CERT=" + certFile, "IMCALLBACK_TLS_KEY=" + keyFile})
	tb := &fatalTB{TB: t, msg: make(chan string, 1)}
	go func() {
		s.Send(tb, "Group.CallbackAfterBrandNew", []byte(`{}`))
		tb.msg <- "returned"
	}()
	msg := <-tb.msg
	for _, want := range []string{"x509: certificate signed by unknown authority",
		"the Sender's Client is nil, which does not trust the listener's certificate: " +
			"set s.Sender.Client = imtest.NewClient(4, &tls.Config{RootCAs: pool}), with the pool SelfSigned returns"} {
		if !strings.Contains(msg, want) {
			t.Errorf("Send: %q, want it to fail saying %q", msg, want)
		}
	}
}

// words is a module's configuration section, for the tests of Start's env.
type words struct {
	Words []string `koanf:"words"`
}

func (words) Validate() error { return nil }

// TestStartRefusesEnvThatSetsNothing: an entry of Start's env that the
// service would ignore (a misspelt name, one without "=", a variable of
// the tests or of the command line) fails the test,
// naming it, instead of leaving the test to run on a configuration it did
// not mean; so does IMCALLBACK_DELIVERY=inline beside delivery.Module,
// which delivers durably, and so does a nil option, on which fx panicked. A per-app variable of an app not accepted, which
// a shared helper's env may leave behind, is noted in the log.
func TestStartRefusesEnvThatSetsNothing(t *testing.T) {
	section := config.Section("filter", words{})
	for _, tt := range []struct {
		name string
		env  []string
		opts []fx.Option
		want string
	}{
		{"a setting misspelt", []string{"IMCALLBACK_TOKEN=t"}, nil,
			"IMCALLBACK_TOKEN is not a setting; did you mean IMCALLBACK_TOKENS?"},
		{"a section's field misspelt", []string{"IMCALLBACK_FILTER_WORD=spam"}, []fx.Option{section},
			"IMCALLBACK_FILTER_WORD is not a setting; did you mean IMCALLBACK_FILTER_WORDS?"},
		{"no value", []string{"IMCALLBACK_DELIVERY"}, nil, `"IMCALLBACK_DELIVERY" is not IMCALLBACK_NAME=value`},
		{"no prefix", []string{"DELIVERY=inline"}, nil, `"DELIVERY=inline" is not IMCALLBACK_NAME=value`},
		{"inline beside delivery.Module", []string{"IMCALLBACK_DELIVERY=inline"}, []fx.Option{delivery.Module},
			"IMCALLBACK_DELIVERY is inline but delivery.Module is among the options"},
		// fx panicked on it, in the test's goroutine or the helper's.
		{"a nil option", []string{"IMCALLBACK_DELIVERY=inline"}, []fx.Option{section, nil},
			"imtest: Start: option #2 of 2 is nil"},
		// Not noted by the service, which leaves them to tests and to the
		// command line, but in Start's env they can only be a mistake: a
		// test's DSN passed here does not give the service that store.
		{"a variable of the tests", []string{"IMCALLBACK_DELIVERY=inline", "IMCALLBACK_TEST_POSTGRES_DSN=postgres://x"}, nil,
			"IMCALLBACK_TEST_POSTGRES_DSN is not a setting"},
		{"a variable of the command line", []string{"IMCALLBACK_DELIVERY=inline", "IMCALLBACK_ADMIN_URL=http://x"}, nil,
			"IMCALLBACK_ADMIN_URL is not a setting"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tb := &fatalTB{TB: t, msg: make(chan string, 1)}
			go func() {
				imtest.Start(tb, tt.env, tt.opts...)
				tb.msg <- "started"
			}()
			if msg := <-tb.msg; !strings.Contains(msg, tt.want) {
				t.Errorf("Start with %q: %q, want it to fail saying %q", tt.env, msg, tt.want)
			}
		})
	}
	// The section's own field is a setting.
	imtest.Start(t, []string{"IMCALLBACK_DELIVERY=inline", "IMCALLBACK_FILTER_WORDS=spam"}, section)

	rec := &logRecorder{TB: t}
	imtest.Start(rec, []string{"IMCALLBACK_DELIVERY=inline", "IMCALLBACK_APP_1400000099_TOKENS=t"})
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if want := "IMCALLBACK_APP_1400000099_TOKENS is ignored"; len(rec.logs) != 1 || !strings.Contains(rec.logs[0], want) {
		t.Errorf("logs %q, want one saying %q", rec.logs, want)
	}
}

// TestMetricsFailsOnAnError: an answer of /metrics other than 200 (a
// collector's error, an admin listener that refuses) fails the test
// instead of being returned as the exposition, where a check that a
// series is absent would pass.
func TestMetricsFailsOnAnError(t *testing.T) {
	for _, status := range []int{http.StatusInternalServerError, http.StatusUnauthorized, http.StatusNotFound} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			admin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				http.Error(w, "collector failed", status)
			}))
			t.Cleanup(admin.Close)
			s := &imtest.Service{AdminURL: admin.URL}
			tb := &fatalTB{TB: t, msg: make(chan string, 1)}
			go func() {
				m := s.Metrics(tb)
				tb.msg <- "returned " + m
			}()
			if msg, want := <-tb.msg, fmt.Sprintf("/metrics = %d, want 200: collector failed", status); !strings.Contains(msg, want) {
				t.Errorf("Metrics: %q, want it to fail saying %q", msg, want)
			}
		})
	}
}

// skipTB is a fatalTB that also records a Skip, which it ends the same way.
type skipTB struct{ fatalTB }

func (s *skipTB) Skipf(format string, args ...any) {
	s.msg <- "skipped: " + fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// TestTmpFSRefusesASizeWithoutLimit: a size of 0 MiB (or less) fails the
// test before anything is mounted: mount reads size=0 as no limit, and
// Fill on it would fill the machine's memory.
func TestTmpFSRefusesASizeWithoutLimit(t *testing.T) {
	for _, size := range []int{0, -1} {
		tb := &skipTB{fatalTB{TB: t, msg: make(chan string, 1)}}
		go func() {
			dir := imtest.TmpFS(tb, size)
			tb.msg <- "mounted " + dir
		}()
		if msg, want := <-tb.msg, fmt.Sprintf("TmpFS of %d MiB: the size must be at least 1", size); !strings.Contains(msg, want) {
			t.Errorf("TmpFS(%d): %q, want it to fail saying %q", size, msg, want)
		}
	}
}

// TestStartBoundsTheStopAsTheServiceDoes: the service's start and stop are
// bounded as `serve` bounds them (IMCALLBACK_START_TIMEOUT; four draining
// steps of IMCALLBACK_SHUTDOWN_TIMEOUT, then the stores' close), not by
// fx's 15 s defaults: a stop that waited within IMCALLBACK_SHUTDOWN_TIMEOUT=20s
// for a handler of 17 s failed the test ("application didn't stop cleanly:
// context deadline exceeded"), skipped closing the stream and the stores,
// and left files in the data directory, which the test's cleanup could not
// remove.
func TestStartBoundsTheStopAsTheServiceDoes(t *testing.T) {
	for _, tt := range []struct {
		name        string
		env         []string
		start, stop time.Duration
	}{
		{"defaults", nil, 2 * time.Minute, 4*10*time.Second + 15*time.Second},
		{"set", []string{"IMCALLBACK_SHUTDOWN_TIMEOUT=20s", "IMCALLBACK_START_TIMEOUT=3m"}, 3 * time.Minute, 4*20*time.Second + 15*time.Second},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := imtest.Start(t, append([]string{"IMCALLBACK_DELIVERY=inline"}, tt.env...))
			if got := s.App.StartTimeout(); got != tt.start {
				t.Errorf("start bounded by %v, want %v", got, tt.start)
			}
			if got := s.App.StopTimeout(); got != tt.stop {
				t.Errorf("stop bounded by %v, want %v", got, tt.stop)
			}
		})
	}
}

// errorsTB records Errorf and the cleanups registered, which the test runs.
type errorsTB struct {
	testing.TB
	errs     []string
	cleanups []func()
}

func (e *errorsTB) Helper() {}
func (e *errorsTB) Errorf(format string, args ...any) {
	e.errs = append(e.errs, fmt.Sprintf(format, args...))
}
func (e *errorsTB) Cleanup(f func()) { e.cleanups = append(e.cleanups, f) }

// cleanup runs the cleanups, the last registered first, as testing does.
func (e *errorsTB) cleanup() {
	for i := len(e.cleanups) - 1; i >= 0; i-- {
		e.cleanups[i]()
	}
}

// TestFillTwiceFreesEachOnce: a second Fill of a directory (to fill what
// the code under test freed meanwhile) wrote over the first's file,
// emptying the disk before it filled it again; the first free removed the
// second's bytes too, and the second free, finding no file, failed the test
// at cleanup. Each Fill now has a file of its own.
func TestFillTwiceFreesEachOnce(t *testing.T) {
	dir := imtest.TmpFS(t, 2)
	tb := &errorsTB{TB: t}
	free1 := imtest.Fill(tb, dir)
	free2 := imtest.Fill(tb, dir)
	if files, err := os.ReadDir(dir); err != nil || len(files) != 2 {
		t.Errorf("two Fills left %d files (%v), want one each", len(files), err)
	}
	free1()
	free2()
	tb.cleanup() // frees again: once each
	if len(tb.errs) > 0 {
		t.Errorf("freeing two Fills failed the test: %q", tb.errs)
	}
	if files, err := os.ReadDir(dir); err != nil || len(files) != 0 {
		t.Errorf("after both frees %d files are left (%v), want none", len(files), err)
	}
}

// proxiedChild marks the process TestStartReachesAWildcardListenerOnLoopback
// runs itself in, with HTTP_PROXY set: net/http reads the proxy variables
// once per process.
const proxiedChild = "IMTEST_TEST_PROXIED_CHILD"

// TestStartReachesAWildcardListenerOnLoopback: a listener bound to a
// wildcard address (IMCALLBACK_LISTEN=0.0.0.0:0, :0) is reached on
// loopback, as `imcallback send` reaches one. PublicURL and AdminURL named
// the wildcard (http://0.0.0.0:port, http://[::]:port), which is no
// loopback address: with HTTP_PROXY set (a CI runner behind an egress
// proxy) Send, Metrics and GetJSON went to the proxy, which cannot reach
// the test's listener, and [::] needs IPv6.
func TestStartReachesAWildcardListenerOnLoopback(t *testing.T) {
	if os.Getenv(proxiedChild) == "" {
		// Nothing listens on port 1: a request sent to the proxy is refused.
		cmd := exec.Command(os.Args[0], "-test.run=^TestStartReachesAWildcardListenerOnLoopback$", "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(), proxiedChild+"=1", "HTTP_PROXY=http://127.0.0.1:1", "http_proxy=http://127.0.0.1:1",
			"NO_PROXY=", "no_proxy=", "REQUEST_METHOD=")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("the test with HTTP_PROXY set: %v\n%s", err, out)
		}
		return
	}
	for _, listen := range []string{"0.0.0.0:0", ":0"} {
		t.Run(listen, func(t *testing.T) {
			s := imtest.Start(t, []string{"IMCALLBACK_DELIVERY=inline", "IMCALLBACK_LISTEN=" + listen,
				"IMCALLBACK_ADMIN_LISTEN=" + listen, "IMCALLBACK_ADMIN_TOKEN=" + strings.Repeat("a", config.MinAdminToken)})
			for _, u := range []string{s.PublicURL, s.AdminURL, s.Sender.URL} {
				if !strings.HasPrefix(u, "http://127.0.0.1:") {
					t.Errorf("%s: want the listener's loopback address, http://127.0.0.1:port", u)
				}
			}
			if res := s.Send(t, "C2C.CallbackBeforeSendMsg", []byte(`{}`)); !res.OK() {
				t.Errorf("Send = %d %s, want OK", res.Status, res.Body)
			}
			if m := s.Metrics(t); !strings.Contains(m, "# TYPE") {
				t.Errorf("Metrics is no exposition: %.200s", m)
			}
		})
	}
}
