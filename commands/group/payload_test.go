package group_test

import (
	"testing"

	gojson "github.com/goccy/go-json"

	"github.com/imcallback/imcallback/commands/group"
	"github.com/imcallback/imcallback/protocol"
)

// TestAfterTopicDestroyedDedupKeyIsUnambiguous: an app's own part of a
// topic id may hold a comma or a '|', so two different events must not
// share a key however their ids split, or one would be dropped as the
// other's duplicate.
func TestAfterTopicDestroyedDedupKeyIsUnambiguous(t *testing.T) {
	tests := []struct {
		name string
		a, b group.AfterTopicDestroyed
	}{
		{"a comma inside one id, or two ids",
			group.AfterTopicDestroyed{GroupID: "g", TopicIDList: []string{"g@TOPIC#_a,g@TOPIC#_b"}},
			group.AfterTopicDestroyed{GroupID: "g", TopicIDList: []string{"g@TOPIC#_a", "g@TOPIC#_b"}}},
		{"a trailing comma, or an empty id",
			group.AfterTopicDestroyed{GroupID: "g", TopicIDList: []string{"g@TOPIC#_a,"}},
			group.AfterTopicDestroyed{GroupID: "g", TopicIDList: []string{"g@TOPIC#_a", ""}}},
		{"a '|' in the group, or in the topic",
			group.AfterTopicDestroyed{GroupID: "g|x", TopicIDList: []string{"y"}},
			group.AfterTopicDestroyed{GroupID: "g", TopicIDList: []string{"x|y"}}},
		{"a length-like id",
			group.AfterTopicDestroyed{GroupID: "g", TopicIDList: []string{"1:a|1:b"}},
			group.AfterTopicDestroyed{GroupID: "g", TopicIDList: []string{"a", "b"}}},
		{"no topics, or one empty id",
			group.AfterTopicDestroyed{GroupID: "g"},
			group.AfterTopicDestroyed{GroupID: "g", TopicIDList: []string{""}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if ka, kb := tt.a.DedupKey(), tt.b.DedupKey(); ka == kb {
				t.Errorf("%+v and %+v share the key %q", tt.a, tt.b, ka)
			}
		})
	}
}

// TestAfterTopicDestroyedDedupKey: the key reads as its parts, and the
// event as IM sends it, decoded from its body, gives that key each time it
// is sent: a resend is told from another event by the key alone.
func TestAfterTopicDestroyedDedupKey(t *testing.T) {
	p := group.AfterTopicDestroyed{GroupID: "@TGS#_g", TopicIDList: []string{"@TGS#_g@TOPIC#_1,000 fans", "@TGS#_g@TOPIC#_b"}}
	want := "7:@TGS#_g|25:@TGS#_g@TOPIC#_1,000 fans|16:@TGS#_g@TOPIC#_b|1:0"
	if got := p.DedupKey(); got != want {
		t.Errorf("key %q, want %q", got, want)
	}
	body := []byte(`{"CallbackCommand":"Group.CallbackAfterTopicDestroyed","GroupId":"@TGS#_g","Type":"Community",` +
		`"TopicIdList":["@TGS#_g@TOPIC#_1,000 fans","@TGS#_g@TOPIC#_b"]}`)
	for _, send := range []string{"sent", "resent"} {
		var got group.AfterTopicDestroyed
		if err := gojson.Unmarshal(body, &got); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		if key := got.DedupKey(); key != want {
			t.Errorf("the event %s: key %q, want %q", send, key, want)
		}
	}
}

// TestDedupKeysOfReusableIDs: an app may choose group and topic IDs, and
// create (and later dismiss or delete) an object again under the ID of one
// it destroyed. The second creation or destruction is another event: its
// key must differ from the first's, or a handler deduplicating on it drops
// the event as a resend. A resend (the same body) keeps its key.
func TestDedupKeysOfReusableIDs(t *testing.T) {
	const first, second = 1732600000456, 1732686400789
	created := func(at protocol.FlexInt) group.AfterCreateGroup {
		return group.AfterCreateGroup{GroupID: "room_42", Type: "Public", Name: "Room 42", OwnerAccount: "u_alice", EventTime: at}
	}
	dismissed := func(at protocol.FlexInt) group.AfterGroupDestroyed {
		return group.AfterGroupDestroyed{GroupID: "room_42", Type: "Public", OwnerAccount: "u_alice", EventTime: at}
	}
	const community, topic = "@TGS#_@TGS#aB3dE5fG7", "@TGS#_@TGS#aB3dE5fG7@TOPIC#_release-notes"
	topicCreated := func(at protocol.FlexInt) group.AfterCreateTopic {
		return group.AfterCreateTopic{GroupID: community, TopicID: topic, Type: "Community", Name: "Release notes", EventTime: at}
	}
	topicDeleted := func(at protocol.FlexInt) group.AfterTopicDestroyed {
		return group.AfterTopicDestroyed{GroupID: community, Type: "Community", TopicIDList: protocol.FlexStrings{topic}, EventTime: at}
	}
	tests := []struct {
		name      string
		a, b      interface{ DedupKey() string }
		sameEvent bool
	}{
		{"group created again under its ID", created(first), created(second), false},
		{"group creation resent", created(first), created(first), true},
		{"group dismissed again under its ID", dismissed(first), dismissed(second), false},
		{"group dismissal resent", dismissed(first), dismissed(first), true},
		{"topic created again under its ID", topicCreated(first), topicCreated(second), false},
		{"topic creation resent", topicCreated(first), topicCreated(first), true},
		{"topic deleted again under its ID", topicDeleted(first), topicDeleted(second), false},
		{"topic deletion resent", topicDeleted(first), topicDeleted(first), true},
		{"a '|' in the group ID, or a time",
			group.AfterCreateGroup{GroupID: "room|1", EventTime: 2}, group.AfterCreateGroup{GroupID: "room", EventTime: 12}, false},
		{"a time-like topic id, or the time",
			group.AfterTopicDestroyed{GroupID: "g", TopicIDList: protocol.FlexStrings{"a", "5"}},
			group.AfterTopicDestroyed{GroupID: "g", TopicIDList: protocol.FlexStrings{"a"}, EventTime: 5}, false},
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

// TestDedupKeysKeepTheirForm: the key of an event whose IDs hold no '|' or
// '\' is byte for byte the key of before the escaping, so an event in
// flight during an upgrade is still told a duplicate.
func TestDedupKeysKeepTheirForm(t *testing.T) {
	const g, topic = "@TGS#_@TGS#aB3dE5fG7", "@TGS#_@TGS#aB3dE5fG7@TOPIC#_release-notes"
	tests := []struct {
		name string
		p    interface{ DedupKey() string }
		want string
	}{
		{"AfterCreateGroup", group.AfterCreateGroup{GroupID: "room_42", EventTime: 1732600000456}, "room_42|1732600000456"},
		{"AfterGroupDestroyed", group.AfterGroupDestroyed{GroupID: "room_42"}, "room_42|0"},
		{"AfterCreateTopic", group.AfterCreateTopic{GroupID: g, TopicID: topic, EventTime: 1732600000456}, topic + "|1732600000456"},
		{"AfterSendMsg", group.AfterSendMsg{GroupID: g, TopicID: topic, MsgSeq: 42, MsgTime: 1732600000},
			g + "|" + topic + "|42|1732600000"},
		{"AfterSendMsg outside a topic", group.AfterSendMsg{GroupID: g, MsgSeq: 42, MsgTime: 1732600000}, g + "||42|1732600000"},
		{"AfterRecallMsg", group.AfterRecallMsg{GroupID: g, MsgSeqList: []group.RecalledMsg{{MsgSeq: 41}, {MsgSeq: 42}}, EventTime: 1732600000456},
			g + "||41,42|1732600000456"},
		{"AfterGroupMsgExtension", group.AfterGroupMsgExtension{GroupID: g, MsgSeq: 42, Seq: 3, EventTime: 1732600000456},
			g + "|42|3|1732600000456"},
		{"AfterModifyMsg", group.AfterModifyMsg{GroupID: g, TopicID: topic, MsgSeq: 42, EventTime: 1732600000456},
			g + "|" + topic + "|42|1732600000456"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.p.DedupKey(); got != tt.want {
				t.Errorf("key %q, want %q", got, tt.want)
			}
		})
	}
}

// TestDedupKeysOfIDsHoldingTheSeparator: an app chooses its group IDs and
// its part of topic IDs, which may hold a '|'. Each pair below shared a key
// when the fields were joined with '|' as they are, so a handler
// deduplicating on it dropped the second event as the first's resend.
func TestDedupKeysOfIDsHoldingTheSeparator(t *testing.T) {
	tests := []struct {
		name string
		a, b interface{ DedupKey() string }
	}{
		{"AfterSendMsg: a '|' in the group, or in the topic",
			group.AfterSendMsg{GroupID: "g|x", TopicID: "t", MsgSeq: 1, MsgTime: 2},
			group.AfterSendMsg{GroupID: "g", TopicID: "x|t", MsgSeq: 1, MsgTime: 2}},
		{"AfterSendMsg: a '|' at the end of the group, or at the start of the topic",
			group.AfterSendMsg{GroupID: "g|", TopicID: "t", MsgSeq: 1, MsgTime: 2},
			group.AfterSendMsg{GroupID: "g", TopicID: "|t", MsgSeq: 1, MsgTime: 2}},
		{"AfterRecallMsg: a '|' in the group, or in the topic",
			group.AfterRecallMsg{GroupID: "g|x", TopicID: "t", MsgSeqList: []group.RecalledMsg{{MsgSeq: 1}}, EventTime: 2},
			group.AfterRecallMsg{GroupID: "g", TopicID: "x|t", MsgSeqList: []group.RecalledMsg{{MsgSeq: 1}}, EventTime: 2}},
		{"AfterModifyMsg: a '|' in the group, or in the topic",
			group.AfterModifyMsg{GroupID: "g|x", TopicID: "t", MsgSeq: 1, EventTime: 2},
			group.AfterModifyMsg{GroupID: "g", TopicID: "x|t", MsgSeq: 1, EventTime: 2}},
		{"AfterModifyMsg: an escape character at the end of the group",
			group.AfterModifyMsg{GroupID: `g\`, TopicID: "|t", MsgSeq: 1, EventTime: 2},
			group.AfterModifyMsg{GroupID: `g\|`, TopicID: "t", MsgSeq: 1, EventTime: 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if ka, kb := tt.a.DedupKey(), tt.b.DedupKey(); ka == kb {
				t.Errorf("%+v and %+v share the key %q", tt.a, tt.b, ka)
			}
		})
	}
}
