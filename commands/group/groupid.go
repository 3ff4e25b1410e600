package group

import (
	gojson "github.com/goccy/go-json"
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
