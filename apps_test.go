package imcallback_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"go.uber.org/fx"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/imrest"
	"github.com/imcallback/imcallback/imtest"
	"github.com/imcallback/imcallback/plugins/topicsync"
	"github.com/imcallback/imcallback/protocol"
)

// secretsOf are the secrets of the several-apps tests: none may appear in
// any log line.
var secretsOf = []string{"tok-app-one", "tok-app-two", "tok-global", "sk-app-one-secret"}

// startApps runs three apps: 1 and 2 with their own tokens, 3 on the
// global one; app 1 has a REST secret key. It records every log line.
func startApps(t *testing.T, extraEnv []string, opts ...fx.Option) (*imtest.Service, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	env := append([]string{
		"IMCALLBACK_SDKAPPID=1400000001,1400000002,1400000003",
		"IMCALLBACK_TOKENS=tok-global",
		"IMCALLBACK_APP_1400000001_TOKENS=tok-app-one",
		"IMCALLBACK_APP_1400000001_SECRET_KEY=sk-app-one-secret",
		"IMCALLBACK_APP_1400000002_TOKENS=tok-app-two",
		"IMCALLBACK_LOG_LEVEL=debug",
	}, extraEnv...)
	s := imtest.Start(t, env, append(opts, fx.Decorate(func(l *zap.Logger) *zap.Logger {
		return zap.New(zapcore.NewTee(l.Core(), core))
	}))...)
	t.Cleanup(func() {
		for _, e := range logs.All() {
			line := e.Message + fmt.Sprint(e.ContextMap())
			for _, secret := range secretsOf {
				if strings.Contains(line, secret) {
					t.Errorf("a secret in a log line: %s", line)
				}
			}
		}
	})
	return s, logs
}

func TestEachAppIsVerifiedWithItsOwnToken(t *testing.T) {
	var ran atomic.Int32
	s, _ := startApps(t, nil, fx.Provide(dispatcher.AsCommand(func() dispatcher.Command {
		return dispatcher.After("Group.CallbackAfterCreateTopic", func(context.Context, *dispatcher.Event[struct{}]) error {
			ran.Add(1)
			return nil
		}, dispatcher.ForApps("1400000001"))
	})))
	tests := []struct {
		name, app, token string
		want             *protocol.Error
		wantRun          int32
	}{
		{"app 1 with its token", "1400000001", "tok-app-one", nil, 1},
		{"app 2 with app 1's token", "1400000002", "tok-app-one", protocol.ErrBadSign, 0},
		{"app 1 with the global token", "1400000001", "tok-global", protocol.ErrBadSign, 0},
		{"app 3 on the global token", "1400000003", "tok-global", nil, 0}, // the command is app 1's only: unknown here
		{"app 2 with its token, command limited to app 1", "1400000002", "tok-app-two", nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ran.Store(0)
			sender := *s.Sender
			sender.Token = tt.token
			res, err := sender.Send(context.Background(), "Group.CallbackAfterCreateTopic", []byte(`{}`), imtest.WithAppID(tt.app))
			if err != nil {
				t.Fatal(err)
			}
			switch {
			case tt.want == nil && !res.OK():
				t.Fatalf("answer %d %s, want OK", res.Status, res.Body)
			case tt.want != nil && !res.Is(tt.want):
				t.Fatalf("answer %d %s, want %s", res.Status, res.Body, tt.want.Reason)
			case ran.Load() != tt.wantRun:
				t.Fatalf("handler ran %d times, want %d", ran.Load(), tt.wantRun)
			}
		})
	}
	metrics := get(t, s.AdminURL+"/metrics", 200)
	for _, want := range []string{
		`imcallback_rejections_total{app="1400000002",reason="bad_signature"} 1`,
		`imcallback_rejections_total{app="1400000001",reason="bad_signature"} 1`,
		`imcallback_callbacks_total{app="1400000001",command="Group.CallbackAfterCreateTopic",outcome="ok"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestSharedGlobalTokensAreWarnedAbout(t *testing.T) {
	_, logs := startApps(t, []string{"IMCALLBACK_SDKAPPID=1400000001,1400000002,1400000003,1400000004"})
	if n := logs.FilterMessageSnippet("several apps are verified with the same global IMCALLBACK_TOKENS").Len(); n != 1 {
		t.Fatalf("%d warnings about shared global tokens, want 1", n)
	}
}

// TestRESTClientsThroughFx: a module gets the REST client of each app with
// a secret key; an app without one has none, and the error says what to set.
func TestRESTClientsThroughFx(t *testing.T) {
	var clients *imrest.Clients
	startApps(t, nil, fx.Populate(&clients))
	if c, err := clients.For("1400000001"); err != nil || c == nil {
		t.Fatalf("app 1: %v", err)
	}
	if _, err := clients.For("1400000002"); err == nil || !strings.Contains(err.Error(), "IMCALLBACK_APP_1400000002_SECRET_KEY") {
		t.Fatalf("app 2: %v", err)
	}
}

// TestPerAppSourceNetworks: an app's own allow_cidrs restrict that app
// only; an app without any (and no global list) accepts every source.
func TestPerAppSourceNetworks(t *testing.T) {
	s, _ := startApps(t, []string{"IMCALLBACK_APP_1400000001_ALLOW_CIDRS=10.0.0.0/8", "IMCALLBACK_TRUSTED_PROXIES=127.0.0.1/32"})
	tests := []struct {
		app, token, source string
		ok                 bool
	}{
		{"1400000001", "tok-app-one", "10.1.2.3", true},
		{"1400000001", "tok-app-one", "192.0.2.1", false},
		{"1400000002", "tok-app-two", "192.0.2.1", true},
	}
	for _, tt := range tests {
		sender := *s.Sender
		sender.Token = tt.token
		res, err := sender.Send(context.Background(), "C2C.CallbackAfterSendMsg", []byte(`{}`),
			imtest.WithAppID(tt.app), imtest.WithHeader("X-Forwarded-For", tt.source))
		if err != nil {
			t.Fatal(err)
		}
		if res.OK() != tt.ok || (!tt.ok && !res.Is(protocol.ErrIPNotAllowed)) {
			t.Errorf("app %s from %s: %d %s, want ok=%v", tt.app, tt.source, res.Status, res.Body, tt.ok)
		}
	}
}

// TestAppsKeepTheirOwnTopics: with the topic plugin serving several apps,
// callbacks signed for app 2 about a TopicId app 1 also holds (its create,
// info change and destroy) change app 2's topic only; the read API shows
// each topic with its app and asks for the app when an id is ambiguous.
func TestAppsKeepTheirOwnTopics(t *testing.T) {
	s, _ := startApps(t, nil, topicsync.Module)
	const (
		groupID = "@TGS#_apps"
		topicID = "@TGS#_apps@TOPIC#_shared"
	)
	send := func(app, token, command, body string) {
		t.Helper()
		sender := *s.Sender
		sender.Token = token
		res, err := sender.Send(context.Background(), command, []byte(body), imtest.WithAppID(app))
		if err != nil {
			t.Fatal(err)
		}
		if !res.OK() {
			t.Fatalf("%s for app %s: %d %s", command, app, res.Status, res.Body)
		}
	}
	create := func(name string) string {
		return fmt.Sprintf(`{"CallbackCommand":"Group.CallbackAfterCreateTopic","GroupId":%q,"TopicId":%q,"Name":%q}`, groupID, topicID, name)
	}
	send("1400000001", "tok-app-one", "Group.CallbackAfterCreateTopic", create("app one's"))
	// App 2 holds no such topic yet: its change fails as not found (inline,
	// a handler failure IM retries), and app 1's topic is not touched.
	sender := *s.Sender
	sender.Token = "tok-app-two"
	res, err := sender.Send(context.Background(), "Group.CallbackAfterTopicInfoChanged",
		fmt.Appendf(nil, `{"CallbackCommand":"Group.CallbackAfterTopicInfoChanged","GroupId":%q,"TopicId":%q,"Name":"hijacked"}`, groupID, topicID),
		imtest.WithAppID("1400000002"))
	if err != nil {
		t.Fatal(err)
	}
	if res.OK() {
		t.Errorf("app 2's change of a topic only app 1 holds was applied (answered OK: %s), want a not-found handler failure", res.Body)
	}
	send("1400000002", "tok-app-two", "Group.CallbackAfterCreateTopic", create("app two's"))
	send("1400000002", "tok-app-two", "Group.CallbackAfterTopicDestroyed",
		fmt.Sprintf(`{"CallbackCommand":"Group.CallbackAfterTopicDestroyed","GroupId":%q,"TopicIdList":[%q]}`, groupID, topicID))

	path := "/v1/topics/" + url.PathEscape(topicID)
	var one, two topicsync.Topic
	s.GetJSON(t, path+"?sdk_app_id=1400000001", 200, &one)
	if one.SdkAppID != "1400000001" || one.Name != "app one's" || one.DeletedAt != nil {
		t.Errorf("app 1's topic = %+v; want it as app 1 created it, live", one)
	}
	s.GetJSON(t, path+"?sdk_app_id=1400000002", 200, &two)
	if two.SdkAppID != "1400000002" || two.Name != "app two's" || two.DeletedAt == nil {
		t.Errorf("app 2's topic = %+v; want app 2's, deleted", two)
	}
	s.GetJSON(t, path, 409, nil) // held by both apps: which one?
	s.GetJSON(t, path+"?sdk_app_id=1400000003", 404, nil)

	tests := []struct {
		query string
		want  []string // app/name of each topic listed
	}{
		{"", []string{"1400000001/app one's"}},
		{"include_deleted=true", []string{"1400000001/app one's", "1400000002/app two's"}},
		{"include_deleted=true&sdk_app_id=1400000002", []string{"1400000002/app two's"}},
		{"include_deleted=true&sdk_app_id=", []string{}}, // no topics from before apps were kept
	}
	for _, tt := range tests {
		var page topicsync.ListResponse
		s.GetJSON(t, "/v1/topics?"+tt.query, 200, &page)
		got := []string{}
		for _, tp := range page.Topics {
			got = append(got, tp.SdkAppID+"/"+tp.Name)
		}
		if strings.Join(got, ",") != strings.Join(tt.want, ",") {
			t.Errorf("GET /v1/topics?%s = %q, want %q", tt.query, got, tt.want)
		}
	}
	for _, bad := range []string{"/v1/topics?sdk_app_id=abc", "/v1/topics?sdk_app_id=1&sdk_app_id=2",
		"/v1/topics?sdk_app_id=" + strings.Repeat("1", 21), path + "?sdk_app_id=1400000001%00"} {
		s.GetJSON(t, bad, 400, nil)
	}
}
