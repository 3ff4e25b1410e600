package officialaccount

import (
	gojson "github.com/goccy/go-json"

	"github.com/imcallback/imcallback/commands/message"
	"github.com/imcallback/imcallback/dispatcher"
)

// CallbackCommand names of the official-account callbacks.
const (
	CommandBeforeCreateOfficialAccount = "OfficialAccount.CallbackBeforeCreateOfficialAccount"
	// CommandAfterCreateOfficialAccount is unverified (PROTOCOL.md §4.9).
	CommandAfterCreateOfficialAccount = "OfficialAccount.CallbackAfterCreateOfficialAccount"
	// CommandAfterOfficialAccountInfoChanged is unverified (PROTOCOL.md §4.9).
	CommandAfterOfficialAccountInfoChanged = "OfficialAccount.CallbackAfterOfficialAccountInfoChanged"
	// CommandAfterOfficialAccountDestroyed is unverified (PROTOCOL.md §4.9).
	CommandAfterOfficialAccountDestroyed = "OfficialAccount.CallbackAfterOfficialAccountDestroyed"
	CommandBeforeAddSubscriber           = "OfficialAccount.CallbackBeforeAddSubscriber"
	CommandAfterAddSubscriber            = "OfficialAccount.CallbackAfterAddSubscriber"
	// CommandAfterOfficialAccountFull is unverified (PROTOCOL.md §4.9).
	CommandAfterOfficialAccountFull = "OfficialAccount.CallbackAfterOfficialAccountFull"
	CommandAfterDeleteSubscriber    = "OfficialAccount.CallbackAfterDeleteSubscriber"
	CommandBeforeSendMsg            = "OfficialAccount.CallbackBeforeSendMsg"
	CommandAfterSendMsg             = "OfficialAccount.CallbackAfterSendMsg"
	CommandAfterMsgWithDraw         = "OfficialAccount.CallbackAfterMsgWithDraw"
)

// SendMsgReply is the reply of OfficialAccount.CallbackBeforeSendMsg: a
// rewritten MsgBody and/or CloudCustomData.
type SendMsgReply = message.SendMsgReply

// AddSubscriberReply is the reply of OfficialAccount.CallbackBeforeAddSubscriber:
// the listed users are refused. The docs disagree on the field name
// (RefusedMembers_Account in the text, RefusedSubscribers_Account in the
// sample, PROTOCOL.md §3.4), so the list is sent under both: set either field.
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

// MarshalJSON sends the refused list under both field names.
func (r AddSubscriberReply) MarshalJSON() ([]byte, error) {
	type plain AddSubscriberReply
	p := plain(r)
	if len(p.RefusedMembersAccount) == 0 {
		p.RefusedMembersAccount = p.RefusedSubscribersAccount
	}
	if len(p.RefusedSubscribersAccount) == 0 {
		p.RefusedSubscribersAccount = p.RefusedMembersAccount
	}
	return gojson.Marshal(p)
}

// Typed command descriptors.
var (
	BeforeCreateOfficialAccountCommand     = dispatcher.NewBeforeCommand[BeforeCreateOfficialAccount, dispatcher.NoReply](CommandBeforeCreateOfficialAccount)
	AfterCreateOfficialAccountCommand      = dispatcher.NewAfterCommand[AfterCreateOfficialAccount](CommandAfterCreateOfficialAccount)
	AfterOfficialAccountInfoChangedCommand = dispatcher.NewAfterCommand[AfterOfficialAccountInfoChanged](CommandAfterOfficialAccountInfoChanged)
	AfterOfficialAccountDestroyedCommand   = dispatcher.NewAfterCommand[AfterOfficialAccountDestroyed](CommandAfterOfficialAccountDestroyed)
	BeforeAddSubscriberCommand             = dispatcher.NewBeforeCommand[BeforeAddSubscriber, AddSubscriberReply](CommandBeforeAddSubscriber)
	AfterAddSubscriberCommand              = dispatcher.NewAfterCommand[AfterAddSubscriber](CommandAfterAddSubscriber)
	AfterOfficialAccountFullCommand        = dispatcher.NewAfterCommand[AfterOfficialAccountFull](CommandAfterOfficialAccountFull)
	AfterDeleteSubscriberCommand           = dispatcher.NewAfterCommand[AfterDeleteSubscriber](CommandAfterDeleteSubscriber)
	BeforeSendMsgCommand                   = dispatcher.NewBeforeCommand[BeforeSendMsg, SendMsgReply](CommandBeforeSendMsg)
	AfterSendMsgCommand                    = dispatcher.NewAfterCommand[AfterSendMsg](CommandAfterSendMsg)
	AfterMsgWithDrawCommand                = dispatcher.NewAfterCommand[AfterMsgWithDraw](CommandAfterMsgWithDraw)
)
