package dispatcher_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/imcallback/imcallback/commands/c2c"
	"github.com/imcallback/imcallback/commands/group"
	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/internal/tooling"
)

// Numbers IM documents as integers may arrive quoted, as EventTime does in
// many English samples (docs/protocol.md §5.1), or written as floats. One
// such field must not make the whole callback undecodable: a
// before-callback would get the fallback instead of the handler's decision
// (a deny with IMCALLBACK_BEFORE_FALLBACK=deny), an after-callback a 503
// inline or the dead-letter queue when durable.
func TestTolerantNumbersBefore(t *testing.T) {
	tests := []struct {
		name, command, body string
		wantSeq             uint64 // C2C MsgSeq, or the group message's Random
		wantFallback        bool
	}{
		{"c2c numbers", "C2C.CallbackBeforeSendMsg",
			`{"From_Account":"a","MsgSeq":48374,"MsgRandom":2431262,"OnlineOnlyFlag":1}`, 48374, false},
		{"c2c quoted MsgSeq", "C2C.CallbackBeforeSendMsg",
			`{"From_Account":"a","MsgSeq":"48374","MsgRandom":2431262,"OnlineOnlyFlag":1}`, 48374, false},
		{"c2c quoted MsgRandom and OnlineOnlyFlag", "C2C.CallbackBeforeSendMsg",
			`{"From_Account":"a","MsgSeq":48374,"MsgRandom":"2431262","OnlineOnlyFlag":"1","EventTime":"1670574414123"}`, 48374, false},
		{"c2c float MsgSeq", "C2C.CallbackBeforeSendMsg",
			`{"From_Account":"a","MsgSeq":48374.0,"MsgRandom":2431262}`, 48374, false},
		{"c2c empty OnlineOnlyFlag", "C2C.CallbackBeforeSendMsg",
			`{"From_Account":"a","MsgSeq":48374,"OnlineOnlyFlag":""}`, 48374, false},
		{"c2c null numbers", "C2C.CallbackBeforeSendMsg",
			`{"From_Account":"a","MsgSeq":null,"MsgRandom":null,"OnlineOnlyFlag":null}`, 0, false},
		{"group quoted Random", "Group.CallbackBeforeSendMsg",
			`{"From_Account":"a","GroupId":"@TGS#1","Random":"2431262","OnlineOnlyFlag":0}`, 2431262, false},
		{"group float OnlineOnlyFlag", "Group.CallbackBeforeSendMsg",
			`{"From_Account":"a","GroupId":"@TGS#1","Random":2431262,"OnlineOnlyFlag":1.0}`, 2431262, false},
		// The value is read from the text, not through a float64 (which
		// would give 12345678901234568).
		{"c2c float MsgSeq beyond 2^53", "C2C.CallbackBeforeSendMsg",
			`{"From_Account":"a","MsgSeq":12345678901234567.0}`, 12345678901234567, false},
		{"c2c quoted exponent MsgSeq beyond 2^53", "C2C.CallbackBeforeSendMsg",
			`{"From_Account":"a","MsgSeq":"1234567890123456700e-2"}`, 12345678901234567, false},
		{"c2c exponent MsgSeq", "C2C.CallbackBeforeSendMsg",
			`{"From_Account":"a","MsgSeq":4.8374E4}`, 48374, false},
		// Still wrong: the fallback, as documented (§7).
		// Two keys for one field, apart only in case: the decoder keeps the
		// last one ("MsgSeq":"5"), the rewritten body (keys sorted) would
		// end with the other (7). Ambiguous: no second chance.
		{"c2c MsgSeq twice, case apart", "C2C.CallbackBeforeSendMsg",
			`{"From_Account":"a","msgseq":7,"MsgSeq":"5"}`, 0, true},
		{"c2c fraction a float64 rounds away", "C2C.CallbackBeforeSendMsg",
			`{"From_Account":"a","MsgSeq":1.0000000000000000001}`, 0, true},
		{"c2c fraction near 2^53", "C2C.CallbackBeforeSendMsg",
			`{"From_Account":"a","MsgSeq":"9007199254740993.5"}`, 0, true},
		{"c2c word MsgSeq", "C2C.CallbackBeforeSendMsg",
			`{"From_Account":"a","MsgSeq":"many"}`, 0, true},
		{"c2c negative MsgSeq", "C2C.CallbackBeforeSendMsg",
			`{"From_Account":"a","MsgSeq":"-1"}`, 0, true},
		{"c2c MsgRandom above 32 bits", "C2C.CallbackBeforeSendMsg",
			`{"From_Account":"a","MsgRandom":"4294967296"}`, 0, true},
		{"c2c fractional MsgSeq", "C2C.CallbackBeforeSendMsg",
			`{"From_Account":"a","MsgSeq":1.5}`, 0, true},
		{"c2c numeric account", "C2C.CallbackBeforeSendMsg",
			`{"From_Account":10086,"MsgSeq":"48374"}`, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var from string
			var seq uint64
			ran := false
			cmds := []dispatcher.Command{
				c2c.BeforeSendMsgCommand.Handle(func(_ context.Context, ev *dispatcher.Event[c2c.BeforeSendMsg]) (dispatcher.Reply[c2c.SendMsgReply], error) {
					ran, from, seq = true, ev.Payload.FromAccount, ev.Payload.MsgSeq
					return c2c.BeforeSendMsgCommand.DenyWithCode(120001, "checked"), nil
				}),
				group.BeforeSendMsgCommand.Handle(func(_ context.Context, ev *dispatcher.Event[group.BeforeSendMsg]) (dispatcher.Reply[group.SendMsgReply], error) {
					ran, from, seq = true, ev.Payload.FromAccount, uint64(ev.Payload.Random)
					return group.BeforeSendMsgCommand.DenyWithCode(10100, "checked"), nil
				}),
			}
			rules := dispatcher.Rules{
				"C2C.CallbackBeforeSendMsg":   {DenyCodes: dispatcher.CodeRange{Min: 120001, Max: 130000}, CanDrop: true},
				"Group.CallbackBeforeSendMsg": {DenyCodes: dispatcher.CodeRange{Min: 10100, Max: 10200}, CanDrop: true},
			}
			h := newHarness(t, dispatcher.Options{Rules: rules, Fallback: dispatcher.Decision{Code: dispatcher.CodeDeny, Info: "fallback"}}, cmds...)
			rec, out := h.do(tt.command, tt.body)
			if rec.Code != http.StatusOK {
				t.Fatalf("status %d, body %s", rec.Code, rec.Body)
			}
			if tt.wantFallback {
				if ran || out["ErrorInfo"] != "fallback" {
					t.Fatalf("want the fallback for a body that does not decode, got %s (handler ran: %v)", rec.Body, ran)
				}
				return
			}
			if !ran {
				t.Fatalf("the handler did not run; answer %s (the fallback: the body did not decode)", rec.Body)
			}
			if out["ErrorInfo"] != "checked" || seq != tt.wantSeq {
				t.Fatalf("answer %s, MsgSeq/Random %d, want the handler's decision and %d", rec.Body, seq, tt.wantSeq)
			}
			if from == "" {
				t.Fatal("From_Account not decoded")
			}
		})
	}
}

func TestTolerantNumbersAfterInline(t *testing.T) {
	tests := []struct {
		name, command, body string
		wantStatus          int
	}{
		{"c2c after quoted UnreadMsgNum", "C2C.CallbackAfterSendMsg",
			`{"From_Account":"a","MsgSeq":"48374","MsgRandom":"1","SendMsgResult":"0","UnreadMsgNum":"-1","OnlineOnlyFlag":"0"}`, http.StatusOK},
		{"group recall quoted MsgSeqList", "Group.CallbackAfterRecallMsg",
			`{"GroupId":"@TGS#1","MsgSeqList":[{"MsgSeq":"7"},{"MsgSeq":8.0}]}`, http.StatusOK},
		{"group read receipt quoted counts", "Group.CallbackAfterReadReceipt",
			`{"GroupId":"@TGS#1","GroupMsgReceiptList":[{"MsgSeq":"7","ReadNum":"1","UnreadNum":"2"}]}`, http.StatusOK},
		{"still undecodable", "C2C.CallbackAfterSendMsg", `{"MsgSeq":"seven"}`, http.StatusServiceUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []uint64
			cmds := []dispatcher.Command{
				c2c.AfterSendMsgCommand.Handle(func(_ context.Context, ev *dispatcher.Event[c2c.AfterSendMsg]) error {
					if ev.Payload.UnreadMsgNum != -1 {
						t.Errorf("UnreadMsgNum %d", ev.Payload.UnreadMsgNum)
					}
					got = append(got, ev.Payload.MsgSeq)
					return nil
				}),
				group.AfterRecallMsgCommand.Handle(func(_ context.Context, ev *dispatcher.Event[group.AfterRecallMsg]) error {
					for _, m := range ev.Payload.MsgSeqList {
						got = append(got, m.MsgSeq)
					}
					return nil
				}),
				group.AfterReadReceiptCommand.Handle(func(_ context.Context, ev *dispatcher.Event[group.AfterReadReceipt]) error {
					for _, m := range ev.Payload.GroupMsgReceiptList {
						got = append(got, m.MsgSeq, uint64(m.ReadNum), uint64(m.UnreadNum))
					}
					return nil
				}),
			}
			h := newHarness(t, dispatcher.Options{}, cmds...)
			rec, _ := h.do(tt.command, tt.body)
			if rec.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d; body %s", rec.Code, tt.wantStatus, rec.Body)
			}
			if tt.wantStatus == http.StatusOK && len(got) == 0 {
				t.Fatal("handler saw nothing")
			}
		})
	}
}

// The second chance is for a scalar of the wrong type only: a body with
// more after its object is not JSON and stays undecodable, as the first
// decode said (the rewrite read only its first value).
func TestTolerantNumbersNeedOneDocument(t *testing.T) {
	tl := c2c.BeforeSendMsgCommand.Tooling(tooling.K)
	if _, err := tl.Decode([]byte(`{"MsgSeq":"5"}`)); err != nil {
		t.Fatalf("a quoted MsgSeq: %v", err)
	}
	for _, body := range []string{`{"MsgSeq":"5"} trailing`, `{"MsgSeq":"5"}{"MsgSeq":6}`, `{"MsgSeq":"5"}]`} {
		if _, err := tl.Decode([]byte(body)); !errors.Is(err, dispatcher.ErrDecode) {
			t.Errorf("%s: err %v, want ErrDecode", body, err)
		}
	}
}
