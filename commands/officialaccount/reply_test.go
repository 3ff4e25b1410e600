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
