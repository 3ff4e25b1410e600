package officialaccount

import (
	"github.com/imcallback/imcallback/commands/message"
	"github.com/imcallback/imcallback/protocol"
)

// BeforeCreateOfficialAccount is the body of
// OfficialAccount.CallbackBeforeCreateOfficialAccount (trtc.io 60795).
type BeforeCreateOfficialAccount struct {
	// CallbackCommand is the command name.
	CallbackCommand string `json:"CallbackCommand"`
	// OperatorAccount requested the creation.
	OperatorAccount string `json:"Operator_Account"`
	// OwnerAccount will own the official account.
	OwnerAccount string `json:"Owner_Account"`
	// Name is the requested name.
	Name string `json:"Name"`
	// EventTime is the event time in milliseconds.
	EventTime protocol.FlexInt `json:"EventTime"`
}

// AfterCreateOfficialAccount is the body of
// OfficialAccount.CallbackAfterCreateOfficialAccount (1047/60796): an
// official account was created through the REST API.
type AfterCreateOfficialAccount struct {
	// CallbackCommand is the command name.
	CallbackCommand string `json:"CallbackCommand"`
	// OfficialAccount is the new official account (an @TOA#_ ID).
	OfficialAccount string `json:"Official_Account"`
	// OperatorAccount created it.
	OperatorAccount string `json:"Operator_Account"`
	// OwnerAccount owns it.
	OwnerAccount string `json:"Owner_Account"`
	// Name is its name.
	Name string `json:"Name"`
	// EventTime is the event time in milliseconds.
	EventTime protocol.FlexInt `json:"EventTime"`
}

// DedupKey is the natural key of the event: the official account and
// EventTime. An app may choose an official account's ID when it creates
// one through the REST API, and create an account again under the ID of
// one it destroyed: the ID alone would make that second creation look like
// a resend of the first. A resend repeats EventTime; a payload without one
// gets 0 there.
func (p AfterCreateOfficialAccount) DedupKey() string {
	return protocol.KeyAt(p.OfficialAccount, p.EventTime)
}

// AfterOfficialAccountInfoChanged is the body of
// OfficialAccount.CallbackAfterOfficialAccountInfoChanged (1047/60797): an
// official account's profile was changed through the REST API. The fields
// hold the values after the change; one absent from the body is nil.
type AfterOfficialAccountInfoChanged struct {
	// CallbackCommand is the command name.
	CallbackCommand string `json:"CallbackCommand"`
	// OfficialAccount is the official account.
	OfficialAccount string `json:"Official_Account"`
	// OperatorAccount made the change.
	OperatorAccount string `json:"Operator_Account"`
	// Name is the new name, when changed.
	Name *string `json:"Name"`
	// Introduction is the new introduction, when changed.
	Introduction *string `json:"Introduction"`
	// FaceURL is the new avatar URL, when changed.
	FaceURL *string `json:"FaceUrl"`
	// Organization is the new organization the official account belongs
	// to, when changed.
	Organization *string `json:"Organization"`
	// EventTime is the event time in milliseconds.
	EventTime protocol.FlexInt `json:"EventTime"`
}

// AfterOfficialAccountDestroyed is the body of
// OfficialAccount.CallbackAfterOfficialAccountDestroyed (1047/60798): an
// official account was destroyed through the REST API.
type AfterOfficialAccountDestroyed struct {
	// CallbackCommand is the command name.
	CallbackCommand string `json:"CallbackCommand"`
	// OfficialAccount is the destroyed official account.
	OfficialAccount string `json:"Official_Account"`
	// OwnerAccount owned it.
	OwnerAccount string `json:"Owner_Account"`
	// Name is its name.
	Name string `json:"Name"`
	// EventTime is the event time in milliseconds.
	EventTime protocol.FlexInt `json:"EventTime"`
}

// DedupKey is the natural key of the event: the official account and
// EventTime, since an ID an app chose can be destroyed again after a later
// creation (see AfterCreateOfficialAccount.DedupKey).
func (p AfterOfficialAccountDestroyed) DedupKey() string {
	return protocol.KeyAt(p.OfficialAccount, p.EventTime)
}

// Subscriber is one SubscribeAccountList entry.
type Subscriber struct {
	// SubscriberAccount is the subscriber's UserID.
	SubscriberAccount string `json:"Subscriber_Account"`
}

// BeforeAddSubscriber is the body of OfficialAccount.CallbackBeforeAddSubscriber
// (trtc.io 60799).
type BeforeAddSubscriber struct {
	// CallbackCommand is the command name.
	CallbackCommand string `json:"CallbackCommand"`
	// OfficialAccount is the official account subscribed to.
	OfficialAccount string `json:"Official_Account"`
	// OperatorAccount initiated the request.
	OperatorAccount string `json:"Operator_Account"`
	// SubscribeAccountList lists the users subscribing.
	SubscribeAccountList []Subscriber `json:"SubscribeAccountList"`
	// EventTime is the event time in milliseconds.
	EventTime protocol.FlexInt `json:"EventTime"`
}

// AfterAddSubscriber is the body of OfficialAccount.CallbackAfterAddSubscriber
// (1047/60800).
type AfterAddSubscriber struct {
	// CallbackCommand is the command name.
	CallbackCommand string `json:"CallbackCommand"`
	// OfficialAccount is the official account subscribed to.
	OfficialAccount string `json:"Official_Account"`
	// OperatorAccount initiated the request.
	OperatorAccount string `json:"Operator_Account"`
	// SubscribeAccountList lists the new subscribers.
	SubscribeAccountList []Subscriber `json:"SubscribeAccountList"`
	// EventTime is the event time in milliseconds.
	EventTime protocol.FlexInt `json:"EventTime"`
}

// AfterOfficialAccountFull is the body of
// OfficialAccount.CallbackAfterOfficialAccountFull (1047/60801): an official
// account reached its subscriber limit.
type AfterOfficialAccountFull struct {
	// CallbackCommand is the command name.
	CallbackCommand string `json:"CallbackCommand"`
	// OfficialAccount reached its subscriber limit.
	OfficialAccount string `json:"Official_Account"`
	// EventTime is the event time in milliseconds.
	EventTime protocol.FlexInt `json:"EventTime"`
}

// AfterDeleteSubscriber is the body of OfficialAccount.CallbackAfterDeleteSubscriber
// (1047/60802).
type AfterDeleteSubscriber struct {
	// CallbackCommand is the command name.
	CallbackCommand string `json:"CallbackCommand"`
	// OfficialAccount is the official account unsubscribed from.
	OfficialAccount string `json:"Official_Account"`
	// OperatorAccount initiated the request.
	OperatorAccount string `json:"Operator_Account"`
	// SubscribeAccountList lists the users who unsubscribed.
	SubscribeAccountList []Subscriber `json:"SubscribeAccountList"`
	// EventTime is the event time in milliseconds.
	EventTime protocol.FlexInt `json:"EventTime"`
}

// BeforeSendMsg is the body of OfficialAccount.CallbackBeforeSendMsg
// (1047/60803).
type BeforeSendMsg struct {
	// CallbackCommand is the command name.
	CallbackCommand string `json:"CallbackCommand"`
	// OfficialAccount sends the message.
	OfficialAccount string `json:"Official_Account"`
	// OnlineOnlyFlag is 1 for an online-only message.
	OnlineOnlyFlag int64 `json:"OnlineOnlyFlag"`
	// MsgBody is the message body.
	MsgBody message.Body `json:"MsgBody"`
	// CloudCustomData is the message's custom data.
	CloudCustomData string `json:"CloudCustomData"`
	// EventTime is the event time in milliseconds.
	EventTime protocol.FlexInt `json:"EventTime"`
}

// AfterSendMsg is the body of OfficialAccount.CallbackAfterSendMsg (1047/60804).
type AfterSendMsg struct {
	// CallbackCommand is the command name.
	CallbackCommand string `json:"CallbackCommand"`
	// OfficialAccount sent the message.
	OfficialAccount string `json:"Official_Account"`
	// MsgKey uniquely identifies the message (usable for REST recall).
	MsgKey string `json:"MsgKey"`
	// MsgTime is the send time in seconds.
	MsgTime protocol.FlexInt `json:"MsgTime"`
	// OnlineOnlyFlag is 1 for an online-only message.
	OnlineOnlyFlag int64 `json:"OnlineOnlyFlag"`
	// MsgBody is the message body.
	MsgBody message.Body `json:"MsgBody"`
	// CloudCustomData is the message's custom data.
	CloudCustomData string `json:"CloudCustomData"`
	// EventTime is the event time in milliseconds.
	EventTime protocol.FlexInt `json:"EventTime"`
}

// DedupKey is the natural key of the message: Official_Account and MsgKey.
// protocol.JoinKey joins the fields, so an ID holding a '|' cannot make
// two events share a key.
func (p AfterSendMsg) DedupKey() string { return protocol.JoinKey(p.OfficialAccount, p.MsgKey) }

// WithdrawnMsg is one WithdrawMsgList entry.
type WithdrawnMsg struct {
	// MsgKey identifies the recalled message.
	MsgKey string `json:"MsgKey"`
}

// AfterMsgWithDraw is the body of OfficialAccount.CallbackAfterMsgWithDraw
// (1047/60805).
type AfterMsgWithDraw struct {
	// CallbackCommand is the command name.
	CallbackCommand string `json:"CallbackCommand"`
	// OfficialAccount sent the recalled messages.
	OfficialAccount string `json:"Official_Account"`
	// WithdrawMsgList lists the recalled messages.
	WithdrawMsgList []WithdrawnMsg `json:"WithdrawMsgList"`
	// EventTime is the event time in milliseconds.
	EventTime protocol.FlexInt `json:"EventTime"`
}

// DedupKey is the natural key of the recall: Official_Account and the recalled MsgKeys.
// protocol.JoinKey joins the fields and protocol.KeyList the MsgKeys, so an
// ID holding a '|' or a MsgKey holding a ',' cannot make two events share a
// key.
func (p AfterMsgWithDraw) DedupKey() string {
	keys := make([]string, len(p.WithdrawMsgList))
	for i, m := range p.WithdrawMsgList {
		keys[i] = m.MsgKey
	}
	return protocol.JoinKey(p.OfficialAccount, protocol.KeyList(keys))
}
