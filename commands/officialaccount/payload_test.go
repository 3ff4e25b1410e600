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
