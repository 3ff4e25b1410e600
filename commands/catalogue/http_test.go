package catalogue_test

import (
	"context"
	"reflect"
	"sync"
	"testing"

	"go.uber.org/fx"

	"github.com/imcallback/imcallback/commands/c2c"
	"github.com/imcallback/imcallback/commands/catalogue"
	"github.com/imcallback/imcallback/commands/message"
	"github.com/imcallback/imcallback/commands/officialaccount"
	"github.com/imcallback/imcallback/commands/push"
	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/imtest"
	"github.com/imcallback/imcallback/internal/tooling"
)

// inline runs after-handlers before the answer, so a test sees their effect.
var inline = []string{"IMCALLBACK_DELIVERY=inline"}

// recorder keeps the last event each command's handler received.
type recorder struct {
	mu     sync.Mutex
	events map[string]any
}

func (r *recorder) record(command string, ev any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events[command] = ev
}

func (r *recorder) get(command string) any {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.events[command]
}

// TestEverySampleReachesItsHandler sends each command's sample over HTTP to
// the service and checks the handler registered through the command's
// descriptor receives an *Event of the payload type with the sample's values.
func TestEverySampleReachesItsHandler(t *testing.T) {
	rec := &recorder{events: map[string]any{}}
	var opts []fx.Option
	for _, e := range catalogue.All() {
		cmd := e.Command.Tooling(tooling.K).HandleAny(func(_ context.Context, ev any) (dispatcher.Decision, error) {
			rec.record(e.Name(), ev)
			return dispatcher.Decision{}, nil
		})
		opts = append(opts, fx.Provide(dispatcher.AsCommand(func() dispatcher.Command { return cmd })))
	}
	svc := imtest.Start(t, inline, opts...)
	for _, e := range catalogue.All() {
		t.Run(e.Name(), func(t *testing.T) {
			body, _ := catalogue.Sample(e.Name())
			res := svc.Send(t, e.Name(), body)
			if !res.OK() || res.Envelope.ErrorCode != 0 {
				t.Fatalf("answer %d %s", res.Status, res.Body)
			}
			ev := rec.get(e.Name())
			if ev == nil {
				t.Fatal("the handler was not called")
			}
			v := reflect.ValueOf(ev)
			if v.Kind() != reflect.Pointer || v.Elem().FieldByName("Payload").Type() != e.Command.Tooling(tooling.K).PayloadType() {
				t.Fatalf("handler got %T, want *dispatcher.Event[%v]", ev, e.Command.Tooling(tooling.K).PayloadType())
			}
			if cmd := v.Elem().FieldByName("Command").String(); cmd != e.Name() {
				t.Errorf("event command %q", cmd)
			}
			if raw := v.Elem().FieldByName("Raw").Bytes(); string(raw) != string(body) {
				t.Error("the raw body is not on the event")
			}
			for _, problem := range covers(generic(t, body), remarshal(t, v.Elem().FieldByName("Payload").Interface()), "$") {
				t.Error(problem)
			}
		})
	}
}

// TestTypedRepliesOverHTTP registers typed handlers: each can return only
// its command's reply fields, and they reach the answer.
func TestTypedRepliesOverHTTP(t *testing.T) {
	var batch []push.OfflinePushEvent
	var mu sync.Mutex
	svc := imtest.Start(t, inline, fx.Options(
		fx.Provide(
			dispatcher.AsCommand(func() dispatcher.Command {
				cmd := c2c.BeforeSendMsgCommand
				return cmd.Handle(func(_ context.Context, ev *dispatcher.Event[c2c.BeforeSendMsg]) (dispatcher.Reply[c2c.SendMsgReply], error) {
					switch ev.Payload.MsgBody.Text() {
					case "drop me":
						return cmd.Drop(), nil
					case "blocked":
						return cmd.DenyWithCode(120001, "blocked word"), nil
					}
					el, err := message.NewElement(message.TextElem{Text: ev.Payload.MsgBody.Text() + "!"})
					if err != nil {
						return cmd.Allow(), err
					}
					return cmd.Modify(c2c.SendMsgReply{MsgBody: message.Body{el}}), nil
				})
			}),
			dispatcher.AsCommand(func() dispatcher.Command {
				cmd := officialaccount.BeforeAddSubscriberCommand
				return cmd.Handle(func(_ context.Context, ev *dispatcher.Event[officialaccount.BeforeAddSubscriber]) (dispatcher.Reply[officialaccount.AddSubscriberReply], error) {
					return cmd.Modify(officialaccount.Refuse(ev.Payload.SubscribeAccountList[0].SubscriberAccount)), nil
				})
			}),
			dispatcher.AsCommand(func() dispatcher.Command {
				return push.OfflinePushCommand.Handle(func(_ context.Context, ev *dispatcher.Event[push.OfflinePush]) error {
					mu.Lock()
					defer mu.Unlock()
					batch = append(batch, ev.Payload.Events...)
					return nil
				})
			}),
		)))

	send := func(text string) *imtest.Result {
		body := `{"CallbackCommand":"C2C.CallbackBeforeSendMsg","From_Account":"a","To_Account":"b","MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"` + text + `"}}]}`
		return svc.Send(t, c2c.BeforeSendMsgCommand.Name(), []byte(body))
	}
	res := send("hi")
	var rewritten message.Body
	if !res.Modified() || res.ReplyField("MsgBody", &rewritten) != nil || rewritten.Text() != "hi!" {
		t.Errorf("modify: %s", res.Body)
	}
	if _, ok := res.Reply["CloudCustomData"]; ok {
		t.Errorf("an unset reply field was sent: %s", res.Body)
	}
	if res := send("drop me"); !res.Dropped() {
		t.Errorf("drop: %s", res.Body)
	}
	if code, denied := send("blocked").Denied(); !denied || code != 120001 {
		t.Errorf("custom deny: code %d", code)
	}

	body, _ := catalogue.Sample(officialaccount.BeforeAddSubscriberCommand.Name())
	res = svc.Send(t, officialaccount.BeforeAddSubscriberCommand.Name(), body)
	var members, subscribers []string
	if res.ReplyField("RefusedMembers_Account", &members) != nil || res.ReplyField("RefusedSubscribers_Account", &subscribers) != nil ||
		len(members) != 1 || members[0] != "u_quinn" || len(subscribers) != 1 || subscribers[0] != "u_quinn" {
		t.Errorf("the refused list is not sent under both names: %s", res.Body)
	}

	body, _ = catalogue.Sample(push.OfflinePushCommand.Name())
	if res := svc.Send(t, push.OfflinePushCommand.Name(), body); !res.OK() || len(res.Reply) != 0 {
		t.Errorf("batch answer: %s", res.Body)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(batch) != 2 || batch[1].GroupID != "@TGS#1QxYz7AB" || batch[0].PushStage != push.StageDelivered {
		t.Errorf("batch events %+v", batch)
	}
}
