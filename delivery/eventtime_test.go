package delivery_test

import (
	"testing"

	"github.com/imcallback/imcallback/delivery"
	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/protocol"
)

// A body without a usable EventTime repeats whenever the same thing happens
// again (friends added again after a delete, a topic renamed back), so its
// fingerprint takes the RequestTime: otherwise the second event passes for a
// retry of the first and is dropped. An EventTime of null, "" or 0 dates
// nothing (docs/protocol.md §5.1), and the name appearing inside the body
// (a topic or custom field called "EventTime") is not the event's.
func TestRequestFingerprintNeedsATopLevelEventTime(t *testing.T) {
	for _, c := range []struct {
		name, body string
		dated      bool
	}{
		{"number", `{"CallbackCommand":"Sns.CallbackFriendAdd","EventTime":1670574414123}`, true},
		{"numeric string", `{"CallbackCommand":"Sns.CallbackFriendAdd","EventTime":"1670574414123"}`, true},
		{"absent", `{"CallbackCommand":"Sns.CallbackFriendAdd"}`, false},
		{"null", `{"CallbackCommand":"Sns.CallbackFriendAdd","EventTime":null}`, false},
		{"empty string", `{"CallbackCommand":"Sns.CallbackFriendAdd","EventTime":""}`, false},
		{"zero", `{"CallbackCommand":"Sns.CallbackFriendAdd","EventTime":0}`, false},
		{"a topic named EventTime", `{"CallbackCommand":"Group.CallbackAfterTopicInfoChanged","GroupId":"g","Name":"EventTime"}`, false},
		{"a custom field's key", `{"CallbackCommand":"Group.CallbackAfterCreateTopic","TopicId":"t","UserDefinedDataList":[{"Key":"EventTime","Value":"v"}]}`, false},
		{"nested key", `{"CallbackCommand":"Group.CallbackAfterCreateTopic","TopicId":"t","X":{"EventTime":5}}`, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := delivery.HasEventTime([]byte(c.body)); got != c.dated {
				t.Errorf("HasEventTime = %v, want %v", got, c.dated)
			}
			req := func(at string) *dispatcher.Request {
				return &dispatcher.Request{Command: "X.Y", Body: []byte(c.body),
					Params: protocol.Params{SdkAppid: "1400000000", RequestTime: at}}
			}
			same := delivery.RequestMsgID(req("1700000000")) == delivery.RequestMsgID(req("1700000100"))
			if same != c.dated {
				t.Errorf("two requests signed at different times have the same id: %v, want %v", same, c.dated)
			}
		})
	}
}
