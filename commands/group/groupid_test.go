package group_test

import (
	"encoding/json"
	"strings"
	"testing"

	gojson "github.com/goccy/go-json"

	"github.com/imcallback/imcallback/commands/group"
	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/internal/tooling"
)

func TestAfterCreateGroupAcceptsEitherGroupIDSpelling(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"samples spell GroupId", `{"GroupId":"@TGS#a","Name":"n"}`, "@TGS#a"},
		{"push-style GroupID", `{"GroupID":"@TGS#b","Name":"n"}`, "@TGS#b"},
		{"the field table's groupID", `{"groupID":"@TGS#c","Name":"n"}`, "@TGS#c"},
		{"both: GroupId wins", `{"GroupID":"@TGS#d","GroupId":"@TGS#e","Name":"n"}`, "@TGS#e"},
		{"neither", `{"Name":"n"}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for decoder, unmarshal := range map[string]func([]byte, any) error{"encoding/json": json.Unmarshal, "goccy": gojson.Unmarshal} {
				var p group.AfterCreateGroup
				if err := unmarshal([]byte(tt.body), &p); err != nil {
					t.Fatalf("%s: %v", decoder, err)
				}
				if p.GroupID != tt.want || p.Name != "n" {
					t.Errorf("%s: GroupID %q Name %q, want %q", decoder, p.GroupID, p.Name, tt.want)
				}
			}
		})
	}
	if group.MergeID("", "x") != "x" || group.MergeID("y", "x") != "y" {
		t.Error("MergeID")
	}
}

// FuzzGroupIDMerge: whichever spelling carries the group ID, the payload
// gets it, the canonical spelling winning; arbitrary bytes never panic.
func FuzzGroupIDMerge(f *testing.F) {
	f.Add("@TGS#1QxYz7AB", "", true, false)
	f.Add("", "@TGS#1QxYz7AB", false, true)
	f.Add("@TGS#a", "@TGS#b", true, true)
	f.Add("\u00e9\"\\", "x", true, true)
	f.Fuzz(func(t *testing.T, canonical, upper string, withCanonical, withUpper bool) {
		obj := map[string]any{"Name": "n"}
		if withCanonical {
			obj["GroupId"] = canonical
		}
		if withUpper {
			obj["GroupID"] = upper
		}
		body, err := json.Marshal(obj)
		if err != nil {
			return
		}
		var p group.AfterCreateGroup
		if err := gojson.Unmarshal(body, &p); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		want := ""
		if withCanonical {
			want = canonical
		}
		if want == "" && withUpper {
			want = upper
		}
		// The decoders replace invalid UTF-8 the same way json.Marshal did.
		var norm struct{ S string }
		_ = json.Unmarshal(mustJSON(want), &norm)
		if p.GroupID != norm.S {
			t.Fatalf("%s: GroupID %q, want %q", body, p.GroupID, norm.S)
		}
		var q group.AfterCreateGroup
		_ = gojson.Unmarshal([]byte(canonical+upper), &q) // arbitrary bytes: must not panic
	})
}

func mustJSON(s string) []byte {
	b, _ := json.Marshal(struct{ S string }{s})
	return b
}

// TestAfterMemberFieldChangedAcceptsEitherMemberSpelling: the Chinese
// page of Group.CallbackAfterMemberFieldChanged (CN 269/105353) names the
// changed member Modified_Account in its sample and field table, the
// international page Member_Account; a handler gets the member under
// either, as it receives the payload.
func TestAfterMemberFieldChangedAcceptsEitherMemberSpelling(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"the international page's Member_Account", `{"Member_Account":"u1","Role":"Admin"}`, "u1"},
		{"the Chinese page's Modified_Account", `{"Modified_Account":"u2","Role":"Admin"}`, "u2"},
		{"both: Member_Account wins", `{"Modified_Account":"u3","Member_Account":"u4","Role":"Admin"}`, "u4"},
		{"with a quoted EventTime", `{"Modified_Account":"u5","Role":"Admin","EventTime":"1670574414123"}`, "u5"},
		{"neither", `{"Role":"Admin"}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := dispatcher.NewEvent[group.AfterMemberFieldChanged](&dispatcher.Request{
				Command: group.AfterMemberFieldChangedCommand.Name(), Body: []byte(tt.body)})
			if err != nil {
				t.Fatal(err)
			}
			if p := ev.Payload; p.MemberAccount != tt.want || p.Role != "Admin" {
				t.Errorf("MemberAccount %q Role %q, want %q", p.MemberAccount, p.Role, tt.want)
			}
			var p group.AfterMemberFieldChanged
			if err := json.Unmarshal([]byte(tt.body), &p); err != nil || p.MemberAccount != tt.want {
				t.Errorf("encoding/json: MemberAccount %q (%v), want %q", p.MemberAccount, err, tt.want)
			}
		})
	}
}

// TestBeforeCreateGroupAcceptsEitherCountSpelling: the current pages of
// Group.CallbackBeforeCreateGroup name the creator's count of groups of
// the type CreateGroupNum; an earlier revision of the international page
// (1047/34368) writes CreatedNum in its sample and field table. A handler
// that caps groups per user gets the count under either, a quoted number
// included, as it receives the payload.
func TestBeforeCreateGroupAcceptsEitherCountSpelling(t *testing.T) {
	tests := []struct {
		name, body string
		want       int64
	}{
		{"the current pages' CreateGroupNum", `{"CallbackCommand":"Group.CallbackBeforeCreateGroup","Operator_Account":"leckie","Owner_Account":"leckie","Type":"Public","Name":"MyFirstGroup","CreateGroupNum":123,"MemberList":[{"Member_Account":"bob"}],"EventTime":"1670574414123"}`, 123},
		{"the earlier page's CreatedNum", `{"CallbackCommand":"Group.CallbackBeforeCreateGroup","Operator_Account":"leckie","Owner_Account":"leckie","Type":"Public","Name":"MyFirstGroup","CreatedNum":123,"MemberList":[{"Member_Account":"bob"}]}`, 123},
		{"CreatedNum quoted", `{"Name":"MyFirstGroup","CreatedNum":"7","MemberList":[{"Member_Account":"bob"}]}`, 7},
		{"CreateGroupNum quoted", `{"Name":"MyFirstGroup","CreateGroupNum":"8","MemberList":[{"Member_Account":"bob"}]}`, 8},
		{"both: CreateGroupNum wins", `{"Name":"MyFirstGroup","CreatedNum":4,"CreateGroupNum":5,"MemberList":[{"Member_Account":"bob"}]}`, 5},
		{"neither", `{"Name":"MyFirstGroup","MemberList":[{"Member_Account":"bob"}]}`, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := dispatcher.NewEvent[group.BeforeCreateGroup](&dispatcher.Request{
				Command: group.BeforeCreateGroupCommand.Name(), Body: []byte(tt.body)})
			if err != nil {
				t.Fatal(err)
			}
			p := ev.Payload
			if p.CreateGroupNum != tt.want || p.Name != "MyFirstGroup" || len(p.MemberList) != 1 || p.MemberList[0].MemberAccount != "bob" {
				t.Errorf("CreateGroupNum %d Name %q MemberList %v, want %d", p.CreateGroupNum, p.Name, p.MemberList, tt.want)
			}
			if strings.Contains(tt.body, `"CreatedNum":"`) || strings.Contains(tt.body, `"CreateGroupNum":"`) {
				return // quoted: the dispatcher's reading, not a plain decoder's
			}
			for decoder, unmarshal := range map[string]func([]byte, any) error{"encoding/json": json.Unmarshal, "goccy": gojson.Unmarshal} {
				var p group.BeforeCreateGroup
				if err := unmarshal([]byte(tt.body), &p); err != nil || p.CreateGroupNum != tt.want {
					t.Errorf("%s: CreateGroupNum %d (%v), want %d", decoder, p.CreateGroupNum, err, tt.want)
				}
			}
		})
	}
}

// TestBeforeCreateGroupDecodeErrorNamesTheFieldThatIsWrong: a body with a
// quoted number, which the second chance reads, and a value no chance
// reads failed with the first decode's error, which named the quoted
// number's field, not the one that is wrong.
func TestBeforeCreateGroupDecodeErrorNamesTheFieldThatIsWrong(t *testing.T) {
	_, err := group.BeforeCreateGroupCommand.Tooling(tooling.K).Decode([]byte(`{"CreateGroupNum":"3","Name":{"x":1}}`))
	if err == nil || !strings.Contains(err.Error(), "Name") || strings.Contains(err.Error(), "CreateGroupNum") {
		t.Fatalf("error %v, want it to name Name, not CreateGroupNum", err)
	}
}
