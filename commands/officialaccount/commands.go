package officialaccount

import (
	"slices"

	gojson "github.com/goccy/go-json"

	"github.com/imcallback/imcallback/commands/message"
	"github.com/imcallback/imcallback/dispatcher"
)

// SendMsgReply is the reply of OfficialAccount.CallbackBeforeSendMsg: a
// rewritten MsgBody and/or CloudCustomData.
type SendMsgReply = message.SendMsgReply

// AddSubscriberReply is the reply of OfficialAccount.CallbackBeforeAddSubscriber:
// the listed users are refused. The docs disagree on the field name
// (RefusedMembers_Account in the text, RefusedSubscribers_Account in the
// sample, docs/protocol.md §3.4), so the list is sent under both: set either
// field, or both; every user listed in either is sent under both names.
type AddSubscriberReply struct {
	// RefusedMembersAccount lists the UserIDs refused.
	RefusedMembersAccount []string `json:"RefusedMembers_Account,omitempty"`
	// RefusedSubscribersAccount lists the UserIDs refused; sent with the same list.
	RefusedSubscribersAccount []string `json:"RefusedSubscribers_Account,omitempty"`
}

// Refuse returns a reply refusing ids under both field names.
func Refuse(ids ...string) AddSubscriberReply {
	return AddSubscriberReply{RefusedMembersAccount: ids, RefusedSubscribersAccount: ids}
}

// MarshalJSON sends the refused list under both field names: the users of
// RefusedMembersAccount, then those of RefusedSubscribersAccount it lacks.
// IM reads one of the names, so a user listed under the other alone would
// not be refused.
func (r AddSubscriberReply) MarshalJSON() ([]byte, error) {
	type plain AddSubscriberReply
	refused := slices.Clip(r.RefusedMembersAccount) // an append copies: never into the handler's array
	for _, id := range r.RefusedSubscribersAccount {
		if !slices.Contains(refused, id) {
			refused = append(refused, id)
		}
	}
	return gojson.Marshal(plain{RefusedMembersAccount: refused, RefusedSubscribersAccount: refused})
}

// Typed command descriptors.
var (
	BeforeCreateOfficialAccountCommand     = dispatcher.NewBeforeCommand[BeforeCreateOfficialAccount, dispatcher.NoReply]("OfficialAccount.CallbackBeforeCreateOfficialAccount")
	AfterCreateOfficialAccountCommand      = dispatcher.NewAfterCommand[AfterCreateOfficialAccount]("OfficialAccount.CallbackAfterCreateOfficialAccount")
	AfterOfficialAccountInfoChangedCommand = dispatcher.NewAfterCommand[AfterOfficialAccountInfoChanged]("OfficialAccount.CallbackAfterOfficialAccountInfoChanged")
	AfterOfficialAccountDestroyedCommand   = dispatcher.NewAfterCommand[AfterOfficialAccountDestroyed]("OfficialAccount.CallbackAfterOfficialAccountDestroyed")
	BeforeAddSubscriberCommand             = dispatcher.NewBeforeCommand[BeforeAddSubscriber, AddSubscriberReply]("OfficialAccount.CallbackBeforeAddSubscriber")
	AfterAddSubscriberCommand              = dispatcher.NewAfterCommand[AfterAddSubscriber]("OfficialAccount.CallbackAfterAddSubscriber")
	AfterOfficialAccountFullCommand        = dispatcher.NewAfterCommand[AfterOfficialAccountFull]("OfficialAccount.CallbackAfterOfficialAccountFull")
	AfterDeleteSubscriberCommand           = dispatcher.NewAfterCommand[AfterDeleteSubscriber]("OfficialAccount.CallbackAfterDeleteSubscriber")
	BeforeSendMsgCommand                   = dispatcher.NewBeforeCommand[BeforeSendMsg, SendMsgReply]("OfficialAccount.CallbackBeforeSendMsg")
	AfterSendMsgCommand                    = dispatcher.NewAfterCommand[AfterSendMsg]("OfficialAccount.CallbackAfterSendMsg")
	AfterMsgWithDrawCommand                = dispatcher.NewAfterCommand[AfterMsgWithDraw]("OfficialAccount.CallbackAfterMsgWithDraw")
)
