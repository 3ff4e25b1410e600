package catalogue_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/imcallback/imcallback/commands/c2c"
	"github.com/imcallback/imcallback/commands/catalogue"
	"github.com/imcallback/imcallback/commands/group"
	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/internal/tooling"
)

// otherReply is a reply struct no catalogued command accepts.
type otherReply struct{ Foo string }

// before builds a before-command of name answering with reply type R.
func before[R any](name string) dispatcher.Command {
	return dispatcher.Before(name, func(context.Context, *dispatcher.Event[json.RawMessage]) (dispatcher.Reply[R], error) {
		return dispatcher.Reply[R]{}, nil
	})
}

// TestRegisteredReplyTypeIsTheCatalogues: a catalogued before-command
// registered with reply fields other than its own would send IM fields it
// does not accept (a Go handler's answer is not filtered as a forwarded
// one is): the start refuses it, naming the command and both types. The
// catalogue's own type, dispatcher.NoReply (which never modifies), a
// descriptor's HandleAny and a command the catalogue lacks start.
func TestRegisteredReplyTypeIsTheCatalogues(t *testing.T) {
	for _, tt := range []struct {
		name string
		cmd  dispatcher.Command
		want []string // in the start's error; none when it starts
	}{
		{"another struct", before[otherReply]("C2C.CallbackBeforeSendMsg"),
			[]string{"C2C.CallbackBeforeSendMsg", "catalogue_test.otherReply", "message.SendMsgReply"}},
		{"a map", before[map[string]string]("C2C.CallbackBeforeSendMsg"),
			[]string{"C2C.CallbackBeforeSendMsg", "map[string]string", "message.SendMsgReply"}},
		{"another command's reply", before[group.InviteJoinGroupReply]("C2C.CallbackBeforeSendMsg"),
			[]string{"C2C.CallbackBeforeSendMsg", "group.InviteJoinGroupReply", "message.SendMsgReply"}},
		{"fields where the command takes none", before[c2c.SendMsgReply]("Group.CallbackBeforeCreateGroup"),
			[]string{"Group.CallbackBeforeCreateGroup", "message.SendMsgReply", "dispatcher.NoReply"}},
		{"the catalogue's own type", before[c2c.SendMsgReply]("C2C.CallbackBeforeSendMsg"), nil},
		{"the same type through another package's alias", before[group.SendMsgReply]("C2C.CallbackBeforeSendMsg"), nil},
		{"no reply where the command takes none", before[dispatcher.NoReply]("Group.CallbackBeforeCreateGroup"), nil},
		{"no reply where the command takes some", before[dispatcher.NoReply]("C2C.CallbackBeforeSendMsg"), nil},
		{"the descriptor's Handle", c2c.BeforeSendMsgCommand.Handle(func(context.Context, *dispatcher.Event[c2c.BeforeSendMsg]) (dispatcher.Reply[c2c.SendMsgReply], error) {
			return c2c.BeforeSendMsgCommand.Allow(), nil
		}), nil},
		{"HandleAny", c2c.BeforeSendMsgCommand.Tooling(tooling.K).HandleAny(func(context.Context, any) (dispatcher.Decision, error) {
			return dispatcher.Decision{}, nil
		}), nil},
		{"a command the catalogue lacks", before[otherReply]("X.CallbackBeforeY"), nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			app := fx.New(fx.NopLogger, catalogue.Module, fx.Supply(zap.NewNop()),
				fx.Provide(dispatcher.AsCommand(func() dispatcher.Command { return tt.cmd })))
			err := app.Err()
			if tt.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("started")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
		})
	}
}
