package delivery_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/protocol"
)

// signed is an after-callback of app for command with body, signed at requestTime.
func signed(app, command, body, requestTime string) *dispatcher.Request {
	return &dispatcher.Request{
		Command: command,
		Params: protocol.Params{SdkAppid: app, CallbackCommand: command, ContentType: "json",
			ClientIP: "10.0.0.1", OptPlatform: "Web", Sign: "feedface", RequestTime: requestTime},
		Body:       []byte(body),
		ReceivedAt: time.Now(),
		RequestID:  "req-" + requestTime,
	}
}

// TestEventIdentity: which callbacks the stream takes as new events and
// which as repeats of one already stored. A repeat is a callback IM sent
// again (same app, command and body); a callback whose body carries no
// EventTime (Sns.CallbackFriendAdd, the topic callbacks as documented)
// repeats its body when the same thing happens again, and such a second
// event, signed at another time, must be stored, not answered 200 and
// dropped as a duplicate.
func TestEventIdentity(t *testing.T) {
	const (
		app       = "1400000000"
		friendAdd = "Sns.CallbackFriendAdd"
		friendDel = "Sns.CallbackFriendDelete"
		topicInfo = "Group.CallbackAfterTopicInfoChanged"
	)
	add := `{"CallbackCommand":"Sns.CallbackFriendAdd","PairList":[{"From_Account":"u_gina","To_Account":"u_hank","Initiator_Account":"u_gina"}],"ClientCmd":"friend_add","Admin_Account":"","ForceFlag":0}`
	del := `{"CallbackCommand":"Sns.CallbackFriendDelete","PairList":[{"From_Account":"u_gina","To_Account":"u_hank"}],"EventTime":1732601200400}`
	rename := func(name string) string {
		return fmt.Sprintf(`{"CallbackCommand":"Group.CallbackAfterTopicInfoChanged","GroupId":"@TGS#_g","TopicId":"@TGS#_g@TOPIC#_1","Type":"Community","Operator_Account":"u_owner42","Name":%q}`, name)
	}
	timed := `{"CallbackCommand":"Sns.CallbackFriendDelete","PairList":[{"From_Account":"u_a","To_Account":"u_b"}],"EventTime":1732601200999}`
	for _, c := range []struct {
		name         string
		sent         []*dispatcher.Request
		wantAppended map[string]float64
	}{
		{"IM's retry, the same request again", []*dispatcher.Request{
			signed(app, friendAdd, add, "1700000000"), signed(app, friendAdd, add, "1700000000"),
		}, map[string]float64{friendAdd: 1}},
		{"IM's retry of a body with EventTime, signed again later", []*dispatcher.Request{
			signed(app, friendDel, timed, "1700000000"), signed(app, friendDel, timed, "1700000030"),
		}, map[string]float64{friendDel: 1}},
		{"the same body from two apps", []*dispatcher.Request{
			signed(app, friendAdd, add, "1700000000"), signed("1400000001", friendAdd, add, "1700000000"),
		}, map[string]float64{friendAdd: 2}},
		{"friends added, deleted and added again", []*dispatcher.Request{
			signed(app, friendAdd, add, "1700000000"), signed(app, friendDel, del, "1700000010"), signed(app, friendAdd, add, "1700000020"),
		}, map[string]float64{friendAdd: 2, friendDel: 1}},
		{"a topic renamed A, B, then A again", []*dispatcher.Request{
			signed(app, topicInfo, rename("A"), "1700000000"), signed(app, topicInfo, rename("B"), "1700000010"), signed(app, topicInfo, rename("A"), "1700000020"),
		}, map[string]float64{topicInfo: 3}},
	} {
		t.Run(c.name, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, b backend) {
				s := start(t, options(t, b), nil)
				for _, r := range c.sent {
					accept(t, s, r) // each one answered 200
				}
				for command, want := range c.wantAppended {
					if got := metric(t, s.reg, "imcallback_delivery_appended_total", "command", command); got != want {
						t.Errorf("%s: %v events stored, want %v (%v answered 200 as duplicates)", command, got, want,
							metric(t, s.reg, "imcallback_delivery_duplicates_total", "command", command))
					}
				}
			})
		})
	}
}
