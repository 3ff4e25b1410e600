package officialaccount_test

import (
	"testing"

	"github.com/imcallback/imcallback/commands/officialaccount"
	"github.com/imcallback/imcallback/protocol"
)

// TestDedupKeysOfReusableIDs: an app may choose an official account's ID
// (the REST API's OfficialAccountUserID) and create an account again under
// the ID of one it destroyed. The second creation or destruction is another
// event, whose key must differ from the first's; a resend keeps its key.
func TestDedupKeysOfReusableIDs(t *testing.T) {
	const first, second = 1732601110666, 1732687510777
	created := func(at protocol.FlexInt) officialaccount.AfterCreateOfficialAccount {
		return officialaccount.AfterCreateOfficialAccount{OfficialAccount: "@TOA#_news_desk", OwnerAccount: "u_paula", Name: "News desk", EventTime: at}
	}
	destroyed := func(at protocol.FlexInt) officialaccount.AfterOfficialAccountDestroyed {
		return officialaccount.AfterOfficialAccountDestroyed{OfficialAccount: "@TOA#_news_desk", OwnerAccount: "u_paula", Name: "News desk", EventTime: at}
	}
	tests := []struct {
		name      string
		a, b      interface{ DedupKey() string }
		sameEvent bool
	}{
		{"created again under its ID", created(first), created(second), false},
		{"creation resent", created(first), created(first), true},
		{"destroyed again under its ID", destroyed(first), destroyed(second), false},
		{"destruction resent", destroyed(first), destroyed(first), true},
		{"a '|' in the ID, or a time",
			officialaccount.AfterCreateOfficialAccount{OfficialAccount: "@TOA#_a|1", EventTime: 2},
			officialaccount.AfterCreateOfficialAccount{OfficialAccount: "@TOA#_a", EventTime: 12}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ka, kb := tt.a.DedupKey(), tt.b.DedupKey()
			if (ka == kb) != tt.sameEvent {
				t.Errorf("keys %q and %q: equal %v, want %v", ka, kb, ka == kb, tt.sameEvent)
			}
		})
	}
}

// TestDedupKeysKeepTheirForm: the key of an event whose fields hold no
// '|', ',' (in a list) or '\' is byte for byte the key of before the
// escaping, so an event in flight during an upgrade is still told a
// duplicate.
func TestDedupKeysKeepTheirForm(t *testing.T) {
	tests := []struct {
		name string
		p    interface{ DedupKey() string }
		want string
	}{
		{"AfterCreateOfficialAccount", officialaccount.AfterCreateOfficialAccount{OfficialAccount: "@TOA#_news_desk", EventTime: 1732601110666},
			"@TOA#_news_desk|1732601110666"},
		{"AfterOfficialAccountDestroyed", officialaccount.AfterOfficialAccountDestroyed{OfficialAccount: "@TOA#_news_desk"}, "@TOA#_news_desk|0"},
		{"AfterSendMsg", officialaccount.AfterSendMsg{OfficialAccount: "@TOA#_news_desk", MsgKey: "1446963466_49520_2"},
			"@TOA#_news_desk|1446963466_49520_2"},
		{"AfterMsgWithDraw", officialaccount.AfterMsgWithDraw{OfficialAccount: "@TOA#_news_desk",
			WithdrawMsgList: []officialaccount.WithdrawnMsg{{MsgKey: "1446963466_49520_2"}, {MsgKey: "1446963466_49521_3"}}},
			"@TOA#_news_desk|1446963466_49520_2,1446963466_49521_3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.p.DedupKey(); got != tt.want {
				t.Errorf("key %q, want %q", got, tt.want)
			}
		})
	}
}

// TestDedupKeysOfIDsHoldingTheSeparator: an app chooses its official
// accounts' IDs, which may hold a '|'. Each pair below shared a key when
// the fields were joined as they are, so a handler deduplicating on it
// dropped the second event as the first's resend.
func TestDedupKeysOfIDsHoldingTheSeparator(t *testing.T) {
	withdraw := func(account string, keys ...string) officialaccount.AfterMsgWithDraw {
		p := officialaccount.AfterMsgWithDraw{OfficialAccount: account}
		for _, k := range keys {
			p.WithdrawMsgList = append(p.WithdrawMsgList, officialaccount.WithdrawnMsg{MsgKey: k})
		}
		return p
	}
	tests := []struct {
		name string
		a, b interface{ DedupKey() string }
	}{
		{"AfterSendMsg: a '|' in the account, or in the key",
			officialaccount.AfterSendMsg{OfficialAccount: "@TOA#_a|b", MsgKey: "k"},
			officialaccount.AfterSendMsg{OfficialAccount: "@TOA#_a", MsgKey: "b|k"}},
		{"AfterMsgWithDraw: a '|' in the account, or in a key",
			withdraw("@TOA#_a|b", "k"), withdraw("@TOA#_a", "b|k")},
		{"AfterMsgWithDraw: a ',' in a key, or two keys",
			withdraw("@TOA#_a", "k1,k2"), withdraw("@TOA#_a", "k1", "k2")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if ka, kb := tt.a.DedupKey(), tt.b.DedupKey(); ka == kb {
				t.Errorf("%+v and %+v share the key %q", tt.a, tt.b, ka)
			}
		})
	}
}
