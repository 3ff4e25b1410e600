package officialaccount_test

import (
	"encoding/json"
	"testing"

	"github.com/imcallback/imcallback/commands/officialaccount"
)

func TestAddSubscriberReplySendsBothNames(t *testing.T) {
	for name, r := range map[string]officialaccount.AddSubscriberReply{
		"Refuse":                    officialaccount.Refuse("u1"),
		"RefusedMembersAccount":     {RefusedMembersAccount: []string{"u1"}},
		"RefusedSubscribersAccount": {RefusedSubscribersAccount: []string{"u1"}},
	} {
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != `{"RefusedMembers_Account":["u1"],"RefusedSubscribers_Account":["u1"]}` {
			t.Errorf("%s: %s", name, b)
		}
	}
	if b, _ := json.Marshal(officialaccount.AddSubscriberReply{}); string(b) != `{}` {
		t.Errorf("empty reply: %s", b)
	}
}

// TestAddSubscriberReplySendsEveryRefusedUserUnderBothNames: IM reads one
// of the two names, and which one the pages do not say. A reply whose two
// fields list different users (one appended to after Refuse, say) sent
// each list under its own name, so the users listed only under the name
// IM did not read were let subscribe. Every user listed in either field is
// now sent under both.
func TestAddSubscriberReplySendsEveryRefusedUserUnderBothNames(t *testing.T) {
	r := officialaccount.Refuse("u1", "u2")
	r.RefusedMembersAccount = append(r.RefusedMembersAccount, "u3")
	r.RefusedSubscribersAccount = append(r.RefusedSubscribersAccount, "u4", "u1")
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"RefusedMembers_Account":["u1","u2","u3","u4"],"RefusedSubscribers_Account":["u1","u2","u3","u4"]}`
	if string(b) != want {
		t.Errorf("%s, want %s", b, want)
	}
	if len(r.RefusedMembersAccount) != 3 || len(r.RefusedSubscribersAccount) != 4 {
		t.Errorf("the handler's reply changed: %+v", r)
	}
}
