// Package member holds the group member list entries IM callbacks carry
// (MemberList, NewMemberList, ExitMemberList, DestinationMembers …).
package member

// Account is one member list entry.
type Account struct {
	// MemberAccount is the member's UserID.
	MemberAccount string `json:"Member_Account"`
}

// List is a member list.
type List []Account

// IDs returns the members' UserIDs in order.
func (l List) IDs() []string {
	ids := make([]string, len(l))
	for i, a := range l {
		ids[i] = a.MemberAccount
	}
	return ids
}
