package catalogue_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/imcallback/imcallback/commands/bot"
	"github.com/imcallback/imcallback/commands/catalogue"
	"github.com/imcallback/imcallback/commands/sns"
	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/imtest"
	"github.com/imcallback/imcallback/internal/tooling"
	"github.com/imcallback/imcallback/metrics"
)

const rejected = "before-handler decision not accepted by the protocol"

// answer serves one request through a dispatcher built with the
// catalogue's rules whose handler for e returns d; it returns the
// ErrorCode sent and how many rejections were logged.
func answer(t *testing.T, e catalogue.Entry, d dispatcher.Decision) (int, int) {
	t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	cmd := e.Command.Tooling(tooling.K).HandleAny(func(context.Context, any) (dispatcher.Decision, error) { return d, nil })
	disp, err := dispatcher.New([]dispatcher.Command{cmd},
		dispatcher.Options{BeforeTimeout: time.Second, Rules: catalogue.Rules()},
		zap.New(core), metrics.NewCallbacks(prometheus.NewRegistry()))
	if err != nil {
		t.Fatal(err)
	}
	ec := echo.New()
	ec.POST("/", disp.Serve)
	body, _ := catalogue.Sample(e.Name())
	rec := httptest.NewRecorder()
	ec.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/?SdkAppid=1&CallbackCommand="+e.Name(), strings.NewReader(string(body))))
	var env struct{ ErrorCode int }
	if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil || rec.Code != http.StatusOK {
		t.Fatalf("answer %d %s", rec.Code, rec.Body)
	}
	return env.ErrorCode, logs.FilterMessage(rejected).Len()
}

// TestDenyCodesAndDropEnforced checks, for every before-style command, that
// custom codes inside its range pass, codes outside it and drops on
// commands that cannot drop are sent as a plain deny with a log line.
func TestDenyCodesAndDropEnforced(t *testing.T) {
	for _, e := range catalogue.All() {
		if e.Kind() == catalogue.After {
			continue
		}
		type tc struct {
			name     string
			decision dispatcher.Decision
			wantCode int
			wantLogs int
		}
		cases := []tc{
			{"allow", dispatcher.Decision{}, 0, 0},
			{"deny", dispatcher.Decision{Code: dispatcher.CodeDeny, Info: "no"}, 1, 0},
		}
		if r := e.DenyCodes; r != (dispatcher.CodeRange{}) {
			cases = append(cases,
				tc{"lowest custom code", dispatcher.Decision{Code: r.Min, Info: "x"}, r.Min, 0},
				tc{"highest custom code", dispatcher.Decision{Code: r.Max, Info: "x"}, r.Max, 0},
				tc{"below the range", dispatcher.Decision{Code: r.Min - 1, Info: "x"}, 1, 1},
				tc{"above the range", dispatcher.Decision{Code: r.Max + 1, Info: "x"}, 1, 1},
			)
		} else {
			cases = append(cases, tc{"no custom codes", dispatcher.Decision{Code: 10150, Info: "x"}, 1, 1})
		}
		if e.CanDrop {
			cases = append(cases, tc{"drop", dispatcher.Decision{Code: dispatcher.CodeDrop}, 2, 0})
		} else {
			cases = append(cases, tc{"drop rejected", dispatcher.Decision{Code: dispatcher.CodeDrop}, 1, 1})
		}
		for _, c := range cases {
			t.Run(fmt.Sprintf("%s/%s", e.Name(), c.name), func(t *testing.T) {
				code, logged := answer(t, e, c.decision)
				if code != c.wantCode || logged != c.wantLogs {
					t.Errorf("ErrorCode %d with %d log lines, want %d with %d", code, logged, c.wantCode, c.wantLogs)
				}
			})
		}
	}
}

// TestModuleProvidesTheRules checks imcallback.Module takes its rules from
// the catalogue: Sns.CallbackPrevFriendResponse's custom code passes
// through (a dispatcher without the rules would send a plain deny).
func TestModuleProvidesTheRules(t *testing.T) {
	handler := fx.Provide(dispatcher.AsCommand(func() dispatcher.Command {
		cmd := sns.PrevFriendResponseCommand
		return cmd.Handle(func(context.Context, *dispatcher.Event[sns.PrevFriendResponse]) (dispatcher.Reply[sns.ResultReply], error) {
			return cmd.DenyWithCode(38001, "not now"), nil
		})
	}))
	body, _ := catalogue.Sample(sns.PrevFriendResponseCommand.Name())
	svc := imtest.Start(t, inline, handler)
	if code, denied := svc.Send(t, sns.PrevFriendResponseCommand.Name(), body).Denied(); !denied || code != 38001 {
		t.Errorf("ErrorCode %d, want 38001", code)
	}
}

// TestEmptyResultReplyIsNoNull: a friend-request reply without per-target
// decisions sends no "ResultItem":null.
func TestEmptyResultReplyIsNoNull(t *testing.T) {
	handler := fx.Provide(dispatcher.AsCommand(func() dispatcher.Command {
		cmd := sns.PrevFriendAddCommand
		return cmd.Handle(func(context.Context, *dispatcher.Event[sns.PrevFriendAdd]) (dispatcher.Reply[sns.ResultReply], error) {
			return cmd.Modify(sns.ResultReply{}), nil
		})
	}))
	body, _ := catalogue.Sample(sns.PrevFriendAddCommand.Name())
	svc := imtest.Start(t, inline, handler)
	res := svc.Send(t, sns.PrevFriendAddCommand.Name(), body)
	if !res.Allowed() || strings.Contains(string(res.Body), "null") {
		t.Errorf("answer %s, want an allow without a null", res.Body)
	}
}

// TestFriendPerTargetCodesAreChecked: IM reads the per-target ResultCode of
// the friend commands, so one outside 0 and 38000–39000 is sent as 38000,
// a refusal; codes in range pass as they are.
func TestFriendPerTargetCodesAreChecked(t *testing.T) {
	handler := fx.Provide(dispatcher.AsCommand(func() dispatcher.Command {
		cmd := sns.PrevFriendAddCommand
		return cmd.Handle(func(context.Context, *dispatcher.Event[sns.PrevFriendAdd]) (dispatcher.Reply[sns.ResultReply], error) {
			return cmd.Modify(sns.ResultReply{ResultItem: []sns.ResultItem{
				{ToAccount: "b", ResultCode: 1, ResultInfo: "nope"},
				{ToAccount: "c", ResultCode: 0},
				{ToAccount: "d", ResultCode: 38005, ResultInfo: "later"},
			}}), nil
		})
	}))
	svc := imtest.Start(t, inline, handler)
	res := svc.Send(t, sns.PrevFriendAddCommand.Name(), []byte(`{"CallbackCommand":"Sns.CallbackPrevFriendAdd","From_Account":"a"}`))
	var got struct {
		ResultItem []sns.ResultItem `json:"ResultItem"`
	}
	if err := json.Unmarshal(res.Body, &got); err != nil || len(got.ResultItem) != 3 ||
		got.ResultItem[0].ResultCode != sns.ResultCodeMin || got.ResultItem[1].ResultCode != 0 || got.ResultItem[2].ResultCode != 38005 {
		t.Errorf("answer %s; want b refused with %d, c allowed, d refused with 38005", res.Body, sns.ResultCodeMin)
	}
}

// TestFriendDenyFallbackOfAnUndecodableBody: a body the typed payload
// cannot hold fails the handler, and with the deny fallback every target
// is still refused: the targets are read on their own.
func TestFriendDenyFallbackOfAnUndecodableBody(t *testing.T) {
	handler := fx.Provide(dispatcher.AsCommand(func() dispatcher.Command {
		return sns.PrevFriendAddCommand.Handle(func(context.Context, *dispatcher.Event[sns.PrevFriendAdd]) (dispatcher.Reply[sns.ResultReply], error) {
			return sns.PrevFriendAddCommand.Allow(), nil
		})
	}))
	svc := imtest.Start(t, append(slices.Clone(inline), "IMCALLBACK_BEFORE_FALLBACK=deny"), handler)
	body := []byte(`{"CallbackCommand":"Sns.CallbackPrevFriendAdd","From_Account":"a","ForceAddFlags":{"not":"a number"},` +
		`"FriendItem":[{"To_Account":"b"},{"To_Account":"c"}]}`)
	res := svc.Send(t, sns.PrevFriendAddCommand.Name(), body)
	var got struct {
		ErrorCode  int              `json:"ErrorCode"`
		ResultItem []sns.ResultItem `json:"ResultItem"`
	}
	if err := json.Unmarshal(res.Body, &got); err != nil || got.ErrorCode != 1 || len(got.ResultItem) != 2 ||
		got.ResultItem[0].ResultCode != sns.ResultCodeMin || got.ResultItem[1].ToAccount != "c" {
		t.Errorf("answer %s; want the deny fallback refusing b and c", res.Body)
	}
}

// TestFriendDenyRefusesEveryTarget: IM ignores the top-level ErrorCode of
// the two friend-request commands by default, so a deny (the handler's, or
// the deny fallback of a failing handler) is also sent as the refusal of
// every target in ResultItem; before, it let the friend add through.
func TestFriendDenyRefusesEveryTarget(t *testing.T) {
	type answer struct {
		ErrorCode  int              `json:"ErrorCode"`
		ResultItem []sns.ResultItem `json:"ResultItem"`
	}
	tests := []struct {
		name     string
		env      []string
		body     string // the request's body; the usual one when empty
		decide   func() (dispatcher.Reply[sns.ResultReply], error)
		wantCode int // each target's ResultCode
		wantTop  int // the top-level ErrorCode
	}{
		{"a deny", nil, "", func() (dispatcher.Reply[sns.ResultReply], error) {
			return sns.PrevFriendAddCommand.Deny("no"), nil
		}, sns.ResultCodeMin, 1},
		{"a deny, the list's key in another case", nil, `{"CallbackCommand":"Sns.CallbackPrevFriendAdd","From_Account":"a","friendItem":[{"to_account":"b"},{"To_Account":"c"}]}`,
			func() (dispatcher.Reply[sns.ResultReply], error) {
				return sns.PrevFriendAddCommand.Deny("no"), nil
			}, sns.ResultCodeMin, 1},
		{"a deny, the list's key twice: the last, as the handler read it", nil, `{"CallbackCommand":"Sns.CallbackPrevFriendAdd","From_Account":"a","FriendItem":[{"To_Account":"x"}],"friendItem":[{"To_Account":"b"},{"To_Account":"c"}]}`,
			func() (dispatcher.Reply[sns.ResultReply], error) {
				return sns.PrevFriendAddCommand.Deny("no"), nil
			}, sns.ResultCodeMin, 1},
		{"a deny with a code", nil, "", func() (dispatcher.Reply[sns.ResultReply], error) {
			return sns.PrevFriendAddCommand.DenyWithCode(38007, "not now"), nil
		}, 38007, 38007},
		{"the deny fallback of a failing handler", []string{"IMCALLBACK_BEFORE_FALLBACK=deny"}, "", func() (dispatcher.Reply[sns.ResultReply], error) {
			return dispatcher.Reply[sns.ResultReply]{}, errors.New("the rules service is down")
		}, sns.ResultCodeMin, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			handler := fx.Provide(dispatcher.AsCommand(func() dispatcher.Command {
				return sns.PrevFriendAddCommand.Handle(func(context.Context, *dispatcher.Event[sns.PrevFriendAdd]) (dispatcher.Reply[sns.ResultReply], error) {
					return tt.decide()
				})
			}))
			svc := imtest.Start(t, append(slices.Clone(inline), tt.env...), handler)
			body := tt.body
			if body == "" {
				body = `{"CallbackCommand":"Sns.CallbackPrevFriendAdd","From_Account":"a","FriendItem":[{"To_Account":"b"},{"To_Account":"c"}]}`
			}
			res := svc.Send(t, sns.PrevFriendAddCommand.Name(), []byte(body))
			var got answer
			if err := json.Unmarshal(res.Body, &got); err != nil {
				t.Fatalf("%s: %v", res.Body, err)
			}
			if got.ErrorCode != tt.wantTop || len(got.ResultItem) != 2 || got.ResultItem[0].ToAccount != "b" || got.ResultItem[1].ToAccount != "c" ||
				got.ResultItem[0].ResultCode != tt.wantCode || got.ResultItem[1].ResultCode != tt.wantCode {
				t.Fatalf("answer %s; want ErrorCode %d and both targets refused with %d", res.Body, tt.wantTop, tt.wantCode)
			}
		})
	}
}

// TestSignalAnswerAlwaysCarriesRspData: Tencent's page of
// Chatbot.OnC2CSignalMessage (CN 269/103730) makes RspData a required
// field of the answer, so every answer carries it: the handler's own on a
// Modify, exactly as given, and "" on an allow without one, a deny and
// the fallback of a failing handler. Before, only a Modify sent it.
func TestSignalAnswerAlwaysCarriesRspData(t *testing.T) {
	cmd := bot.OnC2CSignalMessageCommand
	tests := []struct {
		name   string
		decide func() (dispatcher.Reply[bot.SignalReply], error)
		want   string
	}{
		{"modify", func() (dispatcher.Reply[bot.SignalReply], error) {
			return cmd.Modify(bot.SignalReply{RspData: `{"msg":"hi <there>"}`}), nil
		}, `{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","RspData":"{\"msg\":\"hi \u003cthere\u003e\"}"}`},
		{"allow", func() (dispatcher.Reply[bot.SignalReply], error) {
			return cmd.Allow(), nil
		}, `{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","RspData":""}`},
		{"deny", func() (dispatcher.Reply[bot.SignalReply], error) {
			return cmd.Deny("busy"), nil
		}, `{"ActionStatus":"OK","ErrorCode":1,"ErrorInfo":"busy","RspData":""}`},
		{"the fallback of a failing handler", func() (dispatcher.Reply[bot.SignalReply], error) {
			return dispatcher.Reply[bot.SignalReply]{}, errors.New("the chatbot backend is down")
		}, `{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","RspData":""}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			handler := cmd.Handle(func(context.Context, *dispatcher.Event[bot.OnC2CSignalMessage]) (dispatcher.Reply[bot.SignalReply], error) {
				return tt.decide()
			})
			body, _ := catalogue.Sample(cmd.Name())
			if got := serveOne(t, handler, cmd.Name(), string(body)); got != tt.want {
				t.Errorf("answer %s, want %s", got, tt.want)
			}
		})
	}
}

// TestFriendAllowNamesEveryTarget: Tencent's pages of the two
// friend-request commands (1047/43468, 1047/43467) make ResultItem a
// required field of the answer, one entry per target, and IM reads the
// per-target codes rather than the top-level one. An allow that carries no
// per-target decisions (the handler's Allow, a Modify without items, the
// allow fallback of a failing handler) is sent with every target of the
// request allowed (ResultCode 0); before, it left ResultItem out. A
// handler's own items are sent as given.
func TestFriendAllowNamesEveryTarget(t *testing.T) {
	add := sns.PrevFriendAddCommand
	resp := sns.PrevFriendResponseCommand
	const (
		addBody  = `{"CallbackCommand":"Sns.CallbackPrevFriendAdd","From_Account":"a","FriendItem":[{"To_Account":"b"},{"To_Account":"c"}]}`
		respBody = `{"CallbackCommand":"Sns.CallbackPrevFriendResponse","From_Account":"a","ResponseFriendItem":[{"To_Account":"b"},{"To_Account":"c"}]}`
		allowed  = `{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","ResultItem":[{"To_Account":"b","ResultCode":0,"ResultInfo":""},{"To_Account":"c","ResultCode":0,"ResultInfo":""}]}`
	)
	tests := []struct {
		name   string
		cmd    dispatcher.BeforeCommand[sns.PrevFriendAdd, sns.ResultReply]
		body   string
		decide func() (dispatcher.Reply[sns.ResultReply], error)
		want   string
	}{
		{"an allow", add, addBody, func() (dispatcher.Reply[sns.ResultReply], error) { return add.Allow(), nil }, allowed},
		{"a modify without items", add, addBody, func() (dispatcher.Reply[sns.ResultReply], error) {
			return add.Modify(sns.ResultReply{}), nil
		}, allowed},
		{"the allow fallback of a failing handler", add, addBody, func() (dispatcher.Reply[sns.ResultReply], error) {
			return dispatcher.Reply[sns.ResultReply]{}, errors.New("the rules service is down")
		}, allowed},
		{"the handler's own items", add, addBody, func() (dispatcher.Reply[sns.ResultReply], error) {
			return add.Modify(sns.ResultReply{ResultItem: []sns.ResultItem{{ToAccount: "c", ResultCode: 38001, ResultInfo: "no"}}}), nil
		}, `{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","ResultItem":[{"To_Account":"c","ResultCode":38001,"ResultInfo":"no"}]}`},
		{"targets that do not decode: the allow fallback as it is", add, `{"CallbackCommand":"Sns.CallbackPrevFriendAdd","FriendItem":[{"To_Account":5}]}`,
			func() (dispatcher.Reply[sns.ResultReply], error) { return add.Allow(), nil },
			`{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}`},
		{"no targets", add, `{"CallbackCommand":"Sns.CallbackPrevFriendAdd","From_Account":"a"}`, func() (dispatcher.Reply[sns.ResultReply], error) {
			return add.Allow(), nil
		}, `{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			handler := tt.cmd.Handle(func(context.Context, *dispatcher.Event[sns.PrevFriendAdd]) (dispatcher.Reply[sns.ResultReply], error) {
				return tt.decide()
			})
			if got := serveOne(t, handler, tt.cmd.Name(), tt.body); got != tt.want {
				t.Errorf("answer %s, want %s", got, tt.want)
			}
		})
	}
	t.Run("a response's allow", func(t *testing.T) {
		handler := resp.Handle(func(context.Context, *dispatcher.Event[sns.PrevFriendResponse]) (dispatcher.Reply[sns.ResultReply], error) {
			return resp.Allow(), nil
		})
		if got := serveOne(t, handler, resp.Name(), respBody); got != allowed {
			t.Errorf("answer %s, want %s", got, allowed)
		}
	})
}

// serveOne answers one request of command with body through a dispatcher
// holding handler and the catalogue's rules, and returns the answer's body.
func serveOne(t *testing.T, handler dispatcher.Command, command, body string) string {
	t.Helper()
	rec := serveQuery(t, []dispatcher.Command{handler}, "CallbackCommand="+command, body)
	if rec.Code != http.StatusOK {
		t.Fatalf("answer %d %s", rec.Code, rec.Body)
	}
	return rec.Body.String()
}

// serveQuery answers one request with the URL query SdkAppid=1&query and
// body through a dispatcher holding handlers and the catalogue's rules.
func serveQuery(t *testing.T, handlers []dispatcher.Command, query, body string) *httptest.ResponseRecorder {
	t.Helper()
	disp, err := dispatcher.New(handlers, dispatcher.Options{BeforeTimeout: time.Second, Rules: catalogue.Rules()},
		zap.NewNop(), metrics.NewCallbacks(prometheus.NewRegistry()))
	if err != nil {
		t.Fatal(err)
	}
	ec := echo.New()
	ec.POST("/", disp.Serve)
	rec := httptest.NewRecorder()
	ec.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/?SdkAppid=1&"+query, strings.NewReader(body)))
	return rec
}

// TestAnUnhandledCommandCarriesItsRequiredReplyFields: a before-command
// whose page makes reply fields required (RspData of
// Chatbot.OnC2CSignalMessage, ResultItem of the two friend-request
// commands) is answered with them also when no handler serves it for the
// request's app (none registered, or ForApps limits it to other apps), as
// every handled allow is: the dispatcher answered such a request with the
// bare OK envelope, without them.
func TestAnUnhandledCommandCarriesItsRequiredReplyFields(t *testing.T) {
	const (
		addBody  = `{"CallbackCommand":"Sns.CallbackPrevFriendAdd","From_Account":"a","FriendItem":[{"To_Account":"b"},{"To_Account":"c"}]}`
		respBody = `{"CallbackCommand":"Sns.CallbackPrevFriendResponse","From_Account":"a","ResponseFriendItem":[{"To_Account":"b"}]}`
		ok       = `{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}`
	)
	signal, _ := catalogue.Sample(bot.OnC2CSignalMessageCommand.Name())
	otherApp := bot.OnC2CSignalMessageCommand.Handle(func(context.Context, *dispatcher.Event[bot.OnC2CSignalMessage]) (dispatcher.Reply[bot.SignalReply], error) {
		t.Error("the handler of app 2 ran for app 1")
		return bot.OnC2CSignalMessageCommand.Allow(), nil
	}, dispatcher.ForApps("2"))
	tests := []struct {
		name, query, body string
		handlers          []dispatcher.Command
		want              string
	}{
		{"RspData, no handler", "CallbackCommand=Chatbot.OnC2CSignalMessage", string(signal), nil,
			`{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","RspData":""}`},
		{"RspData, the handler limited to another app", "CallbackCommand=Chatbot.OnC2CSignalMessage", string(signal),
			[]dispatcher.Command{otherApp}, `{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","RspData":""}`},
		{"ResultItem of an add", "CallbackCommand=Sns.CallbackPrevFriendAdd", addBody, nil,
			`{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","ResultItem":[{"To_Account":"b","ResultCode":0,"ResultInfo":""},{"To_Account":"c","ResultCode":0,"ResultInfo":""}]}`},
		{"ResultItem of a response", "CallbackCommand=Sns.CallbackPrevFriendResponse", respBody, nil,
			`{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","ResultItem":[{"To_Account":"b","ResultCode":0,"ResultInfo":""}]}`},
		{"ResultItem, the command named by the body alone", "", addBody, nil,
			`{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","ResultItem":[{"To_Account":"b","ResultCode":0,"ResultInfo":""},{"To_Account":"c","ResultCode":0,"ResultInfo":""}]}`},
		{"targets that do not decode: the bare envelope", "CallbackCommand=Sns.CallbackPrevFriendAdd",
			`{"FriendItem":[{"To_Account":5}]}`, nil, ok},
		{"a command without required fields", "CallbackCommand=Group.CallbackBeforeCreateGroup", `{}`, nil, ok},
		{"a command the catalogue lacks", "CallbackCommand=Foo.Bar", `not even JSON`, nil, ok},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := serveQuery(t, tt.handlers, tt.query, tt.body)
			if rec.Code != http.StatusOK || rec.Body.String() != tt.want {
				t.Errorf("answer %d %s, want 200 %s", rec.Code, rec.Body, tt.want)
			}
		})
	}
}
