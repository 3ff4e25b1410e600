package group

import (
	"reflect"

	gojson "github.com/goccy/go-json"

	"github.com/imcallback/imcallback/internal/lenient"
)

// MergeID returns the group ID decoded under the canonical spelling, or
// the one decoded under the other spelling when the canonical one is
// absent. IM spells the key "GroupId" almost everywhere but "GroupID" in
// push events, and one field table writes "groupID" (docs/protocol.md §5.1).
func MergeID(canonical, other string) string {
	if canonical != "" {
		return canonical
	}
	return other
}

// UnmarshalJSON decodes the payload, accepting "GroupID" for "GroupId":
// the field table of this command spells it differently from its samples.
func (p *AfterCreateGroup) UnmarshalJSON(b []byte) error {
	type plain AfterCreateGroup
	aux := struct {
		*plain
		// GroupIDUpper catches the "GroupID" spelling.
		GroupIDUpper string `json:"GroupID"`
	}{plain: (*plain)(p)}
	if err := gojson.Unmarshal(b, &aux); err != nil {
		return err
	}
	p.GroupID = MergeID(p.GroupID, aux.GroupIDUpper)
	return nil
}

// UnmarshalJSON decodes the payload, accepting "Modified_Account" for
// "Member_Account": the Chinese page of this command (CN 269/105353) names
// the changed member so in its sample and field table, the international
// page Member_Account (docs/protocol.md §5.1).
func (p *AfterMemberFieldChanged) UnmarshalJSON(b []byte) error {
	type plain AfterMemberFieldChanged
	aux := struct {
		*plain
		// ModifiedAccount catches the "Modified_Account" spelling.
		ModifiedAccount string `json:"Modified_Account"`
	}{plain: (*plain)(p)}
	if err := gojson.Unmarshal(b, &aux); err != nil {
		return err
	}
	p.MemberAccount = MergeID(p.MemberAccount, aux.ModifiedAccount)
	return nil
}

// UnmarshalJSON decodes the payload, accepting "CreatedNum" for
// "CreateGroupNum": an earlier revision of the international page of this
// command (1047/34368) names the count so in its sample and field table,
// the current pages CreateGroupNum (docs/protocol.md §5.1). A payload
// decoding itself is not given the dispatcher's second chance, so a
// number sent quoted (or as 1.0, "" or null) is read leniently here, as
// for every other payload (docs/protocol.md §5.1).
func (p *BeforeCreateGroup) UnmarshalJSON(b []byte) error {
	type plain BeforeCreateGroup
	type withCreatedNum struct {
		*plain
		// CreatedNum catches the earlier page's spelling.
		CreatedNum int64 `json:"CreatedNum"`
	}
	aux := withCreatedNum{plain: (*plain)(p)}
	if err := gojson.Unmarshal(b, &aux); err != nil {
		rewritten, ok := lenient.Body(reflect.TypeFor[withCreatedNum](), b)
		if !ok {
			return err
		}
		*p = BeforeCreateGroup{}
		aux = withCreatedNum{plain: (*plain)(p)}
		if err := gojson.Unmarshal(rewritten, &aux); err != nil {
			// This error names the field the second chance could not read
			// either; the first one's may name a quoted number it read.
			return err
		}
	}
	if p.CreateGroupNum == 0 {
		p.CreateGroupNum = aux.CreatedNum
	}
	return nil
}
