package bot_test

import (
	"reflect"
	"testing"

	"github.com/imcallback/imcallback/commands/bot"
	"github.com/imcallback/imcallback/dispatcher"
)

// TestDedupKeys: a '|' inside an account or a MsgKey cannot make two
// messages to a bot share a key, and ordinary ids keep the key they
// always had.
func TestDedupKeys(t *testing.T) {
	a := bot.OnC2CMessage{FromAccount: "u|bot", ToAccount: "x", MsgKey: "k"}
	b := bot.OnC2CMessage{FromAccount: "u", ToAccount: "bot|x", MsgKey: "k"}
	if ka, kb := a.DedupKey(), b.DedupKey(); ka == kb {
		t.Errorf("%+v and %+v share the key %q", a, b, ka)
	}
	keep := []struct {
		event interface{ DedupKey() string }
		want  string
	}{
		{bot.OnC2CMessage{FromAccount: "alice", ToAccount: "@RBT#bot", MsgKey: "1_2_3"}, "alice|@RBT#bot|1_2_3"},
		{bot.OnGroupMessage{GroupID: "@TGS#1abc", MsgSeq: 9, MsgTime: 1700000000}, "@TGS#1abc|9|1700000000"},
	}
	for _, k := range keep {
		if got := k.event.DedupKey(); got != k.want {
			t.Errorf("%T key %q, want %q as before", k.event, got, k.want)
		}
	}
}

// TestSignalMessageDecodesTencentsFields: Tencent's page of
// Chatbot.OnC2CSignalMessage (CN 269/103730, 1047/59057) documents the
// pass-through content as Data, next to MsgSeq, MsgRandom and MsgKey; a
// handler gets them as it receives the payload, numbers sent quoted too.
func TestSignalMessageDecodesTencentsFields(t *testing.T) {
	want := bot.OnC2CSignalMessage{
		CallbackCommand: "Chatbot.OnC2CSignalMessage", FromAccount: "user01", ToAccount: "@RBT#chatbot",
		MsgSeq: 5678, MsgRandom: 8765, MsgKey: "8765_5678_4321", EventTime: 1670574414123,
		Data: `{"msg":"pass-through content"}`,
	}
	tests := []struct{ name, body string }{
		{"Tencent's sample", `{"CallbackCommand":"Chatbot.OnC2CSignalMessage","From_Account":"user01","To_Account":"@RBT#chatbot",
			"MsgSeq":5678,"MsgRandom":8765,"MsgKey":"8765_5678_4321","EventTime":1670574414123,
			"Data":"{\"msg\":\"pass-through content\"}"}`},
		{"numbers quoted", `{"CallbackCommand":"Chatbot.OnC2CSignalMessage","From_Account":"user01","To_Account":"@RBT#chatbot",
			"MsgSeq":"5678","MsgRandom":"8765","MsgKey":"8765_5678_4321","EventTime":"1670574414123",
			"Data":"{\"msg\":\"pass-through content\"}"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := dispatcher.NewEvent[bot.OnC2CSignalMessage](&dispatcher.Request{
				Command: bot.OnC2CSignalMessageCommand.Name(), Body: []byte(tt.body)})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(ev.Payload, want) {
				t.Errorf("payload %+v, want %+v", ev.Payload, want)
			}
		})
	}
}
