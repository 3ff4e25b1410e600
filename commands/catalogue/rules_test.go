package catalogue_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

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
