package imcallback_test

import (
	"context"
	"fmt"
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
