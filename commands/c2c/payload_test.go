package c2c_test

import (
	"testing"

	"github.com/imcallback/imcallback/commands/c2c"
)

// TestDedupKeys: a '|' inside an account or a MsgKey cannot make two
// messages share a key (one would be dropped as a duplicate of the
// other), and ids without one keep the key they always had, so events in
// flight across an upgrade still deduplicate.
func TestDedupKeys(t *testing.T) {
	tests := []struct {
		name string
		a, b interface{ DedupKey() string }
	}{
		{"AfterSendMsg: a '|' in the sender, or in the recipient",
			c2c.AfterSendMsg{FromAccount: "a|b", ToAccount: "c", MsgKey: "k"},
			c2c.AfterSendMsg{FromAccount: "a", ToAccount: "b|c", MsgKey: "k"}},
		{"AfterMsgWithDraw: a '|' in the recipient, or in the MsgKey",
			c2c.AfterMsgWithDraw{FromAccount: "a", ToAccount: "b|c", MsgKey: "k"},
			c2c.AfterMsgWithDraw{FromAccount: "a", ToAccount: "b", MsgKey: "c|k"}},
		{"AfterModifyMsg: a '|' in the MsgKey",
			c2c.AfterModifyMsg{FromAccount: "a", ToAccount: "b", MsgKey: "k|1", EventTime: 2},
			c2c.AfterModifyMsg{FromAccount: "a", ToAccount: "b|k", MsgKey: "1", EventTime: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if ka, kb := tt.a.DedupKey(), tt.b.DedupKey(); ka == kb {
				t.Errorf("%+v and %+v share the key %q", tt.a, tt.b, ka)
			}
		})
	}
	keep := []struct {
		event interface{ DedupKey() string }
		want  string
	}{
		{c2c.AfterSendMsg{FromAccount: "alice", ToAccount: "bob", MsgKey: "123_456_789"}, "alice|bob|123_456_789"},
		{c2c.AfterC2CMsgExtension{FromAccount: "alice", ToAccount: "bob", MsgKey: "k", Seq: 7}, "alice|bob|k|7"},
		{c2c.AfterModifyMsg{FromAccount: "alice", ToAccount: "bob", MsgKey: "k", EventTime: 1700000000000}, "alice|bob|k|1700000000000"},
	}
	for _, k := range keep {
		if got := k.event.DedupKey(); got != k.want {
			t.Errorf("%T key %q, want %q as before", k.event, got, k.want)
		}
	}
}
