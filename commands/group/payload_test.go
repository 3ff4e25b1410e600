package group_test

import (
	"testing"

	"github.com/imcallback/imcallback/commands/group"
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

// TestAfterTopicDestroyedDedupKey: the same event gives the same key, and
// the key reads as its parts.
func TestAfterTopicDestroyedDedupKey(t *testing.T) {
	p := group.AfterTopicDestroyed{GroupID: "@TGS#_g", TopicIDList: []string{"@TGS#_g@TOPIC#_1,000 fans", "@TGS#_g@TOPIC#_b"}}
	want := "7:@TGS#_g|25:@TGS#_g@TOPIC#_1,000 fans|16:@TGS#_g@TOPIC#_b"
	if got := p.DedupKey(); got != want {
		t.Errorf("key %q, want %q", got, want)
	}
	if p.DedupKey() != p.DedupKey() {
		t.Error("the same event gave two keys")
	}
}
