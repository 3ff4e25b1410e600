package push_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	gojson "github.com/goccy/go-json"

	"github.com/imcallback/imcallback/commands/push"
)

func read(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestOfflinePushBatch(t *testing.T) {
	var p push.OfflinePush
	if err := gojson.Unmarshal(read(t, "offline_push.json"), &p); err != nil {
		t.Fatal(err)
	}
	if len(p.Events) != 2 {
		t.Fatalf("%d events", len(p.Events))
	}
	c2c, grp := p.Events[0], p.Events[1]
	if c2c.EventType != 1 || c2c.MsgKey == "" || c2c.GroupID != "" || c2c.EventTime != 1732600700 || c2c.PushPlatform != push.PlatformHuawei {
		t.Errorf("C2C event %+v", c2c)
	}
	if grp.EventType != 2 || grp.GroupID != "@TGS#1QxYz7AB" || grp.MsgRandom != 0 || grp.PushStage != push.StageSent {
		t.Errorf("group event %+v", grp)
	}
	keys := p.DedupKeys()
	if len(keys) != 2 || keys[1] != "a1b2c3d4_00000002|u_erin|1|1" {
		t.Errorf("keys %q", keys)
	}
}

func TestOfflinePushEventTolerance(t *testing.T) {
	tests := []struct{ name, event, group string }{
		{"GroupID as documented", `{"GroupID":"@TGS#g1","EventTime":"1732600701"}`, "@TGS#g1"},
		{"GroupId as elsewhere", `{"GroupId":"@TGS#g2","EventTime":1732600701}`, "@TGS#g2"},
		{"both: GroupID wins", `{"GroupId":"@TGS#x","GroupID":"@TGS#g3","EventTime":1732600701}`, "@TGS#g3"},
		{"empty MsgRandom for groups", `{"GroupID":"@TGS#g4","MsgRandom":"","EventTime":1732600701}`, "@TGS#g4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var p push.OfflinePush
			if err := gojson.Unmarshal([]byte(`{"Events":[`+tt.event+`],"Unknown":1}`), &p); err != nil {
				t.Fatal(err)
			}
			if e := p.Events[0]; e.GroupID != tt.group || e.EventTime != 1732600701 {
				t.Errorf("%+v", e)
			}
		})
	}
}

func TestAllMemberPushBatch(t *testing.T) {
	var p push.AllMemberPush
	if err := gojson.Unmarshal(read(t, "all_member_push.json"), &p); err != nil {
		t.Fatal(err)
	}
	if len(p.Events) != 2 || p.Events[0].TaskID != "task-20241126-0007" || p.Events[1].EventType != 2 || p.Events[0].TaskTime != 1732600800 {
		t.Fatalf("%+v", p.Events)
	}
	if keys := p.DedupKeys(); keys[0] != "task-20241126-0007|u_bob|1|4|2" {
		t.Errorf("keys %q", keys)
	}
}

// TestAllMemberPushDedupKey checks that the natural key of an all-user
// push result tells apart the results IM sends for one task and one user:
// an online and an offline push (EventType), and offline pushes through two
// vendor channels of the user's devices (PushPlatform); the same result
// sent twice keeps its key.
func TestAllMemberPushDedupKey(t *testing.T) {
	type event = push.AllMemberPushEvent
	base := event{TaskID: "task-1", ToAccount: "u_bob", EventType: 1, PushPlatform: push.PlatformAPNs, PushStage: push.StageSent, EventTime: 1732600805}
	checkDedupKeys(t, base, []keyCase[event]{
		{"the same result resent", func(e event) event { return e }, true},
		{"online push of the same task and user", func(e event) event {
			e.EventType, e.PushPlatform = 2, push.PlatformUnknown
			return e
		}, false},
		{"offline push to another device's vendor", func(e event) event {
			e.PushPlatform = push.PlatformHuawei
			return e
		}, false},
		{"only the event type differs", func(e event) event {
			e.EventType = 2
			return e
		}, false},
		{"a later stage", func(e event) event {
			e.PushStage = push.StageDelivered
			return e
		}, false},
		{"another user", func(e event) event {
			e.ToAccount = "u_carol"
			return e
		}, false},
	})
}

// TestOfflinePushDedupKey: the key tells apart the results one push has
// for one user on two vendor channels (the event names no device), and is
// the same for the same result resent.
func TestOfflinePushDedupKey(t *testing.T) {
	type event = push.OfflinePushEvent
	base := event{PushID: "push-1", ToAccount: "u_bob", EventType: 1, PushPlatform: push.PlatformAPNs, PushStage: push.StageSent, EventTime: 1732600805}
	checkDedupKeys(t, base, []keyCase[event]{
		{"the same result resent", func(e event) event { return e }, true},
		{"the same result resent later", func(e event) event {
			e.EventTime++
			return e
		}, true},
		{"the same push to another device's vendor", func(e event) event {
			e.PushPlatform = push.PlatformHuawei
			return e
		}, false},
		{"a later stage", func(e event) event {
			e.PushStage = push.StageDelivered
			return e
		}, false},
		{"another user", func(e event) event {
			e.ToAccount = "u_carol"
			return e
		}, false},
	})
}

// keyCase is an event changed from a base one, and whether the change
// keeps its dedup key.
type keyCase[E any] struct {
	name  string
	other func(E) E
	same  bool
}

// checkDedupKeys checks each case: the changed event's key equals base's
// exactly when the case says it is the same event.
func checkDedupKeys[E interface{ DedupKey() string }](t *testing.T, base E, cases []keyCase[E]) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			a, b := base.DedupKey(), tt.other(base).DedupKey()
			if (a == b) != tt.same {
				t.Errorf("keys %q and %q: equal %v, want %v", a, b, a == b, tt.same)
			}
		})
	}
}

// FuzzPushBatch: any body either fails to decode or yields events whose
// keys can be computed; decoding never panics, and a decoded batch
// encodes and decodes to the same events.
func FuzzPushBatch(f *testing.F) {
	f.Add(read(f, "offline_push.json"))
	f.Add(read(f, "all_member_push.json"))
	f.Add([]byte(`{"Events":[]}`))
	f.Add([]byte(`{"Events":[{"GroupId":"g","PushStage":"3"}]}`))
	f.Add([]byte(`{"Events":null}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var off push.OfflinePush
		if gojson.Unmarshal(body, &off) == nil {
			if len(off.DedupKeys()) != len(off.Events) {
				t.Fatal("one key per event")
			}
			again, err := json.Marshal(off)
			if err != nil {
				t.Fatal(err)
			}
			var back push.OfflinePush
			if err := gojson.Unmarshal(again, &back); err != nil {
				t.Fatalf("re-decode %s: %v", again, err)
			}
			if strings.Join(back.DedupKeys(), "\n") != strings.Join(off.DedupKeys(), "\n") {
				t.Fatalf("round trip changed the events: %s", again)
			}
		}
		var all push.AllMemberPush
		if gojson.Unmarshal(body, &all) == nil && len(all.DedupKeys()) != len(all.Events) {
			t.Fatal("one key per event")
		}
	})
}

// TestDedupKeysOfIDsHoldingTheSeparator: a '|' inside a push or task id
// or an account cannot make two results share a key, and ordinary ids
// keep the key they always had.
func TestDedupKeysOfIDsHoldingTheSeparator(t *testing.T) {
	tests := []struct {
		name string
		a, b interface{ DedupKey() string }
	}{
		{"OfflinePushEvent: a '|' in the push id, or in the account",
			push.OfflinePushEvent{PushID: "p|u", ToAccount: "v"},
			push.OfflinePushEvent{PushID: "p", ToAccount: "u|v"}},
		{"AllMemberPushEvent: a '|' in the task id, or in the account",
			push.AllMemberPushEvent{TaskID: "t|u", ToAccount: "v"},
			push.AllMemberPushEvent{TaskID: "t", ToAccount: "u|v"}},
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
		{push.OfflinePushEvent{PushID: "abc", ToAccount: "alice", PushPlatform: 2, PushStage: 1}, "abc|alice|2|1"},
		{push.AllMemberPushEvent{TaskID: "t1", ToAccount: "alice", EventType: 2, PushPlatform: 0, PushStage: 3}, "t1|alice|2|0|3"},
	}
	for _, k := range keep {
		if got := k.event.DedupKey(); got != k.want {
			t.Errorf("%T key %q, want %q as before", k.event, got, k.want)
		}
	}
}
