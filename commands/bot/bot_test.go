package bot_test

import (
	"testing"

	"github.com/imcallback/imcallback/commands/bot"
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
