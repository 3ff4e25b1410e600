package c2c

import (
	"strconv"

	"github.com/imcallback/imcallback/commands/message"
	"github.com/imcallback/imcallback/protocol"
)

// msgKey is the natural key of a one-to-one message: sender, recipient and MsgKey.
func msgKey(from, to, key string) string { return protocol.JoinKey(from, to, key) }

// BeforeSendMsg is the body of C2C.CallbackBeforeSendMsg (1047/34364,
// docs/protocol.md §4.5).
type BeforeSendMsg struct {
	// CallbackCommand is the command name.
	CallbackCommand string `json:"CallbackCommand"`
	// FromAccount is the sender.
	FromAccount string `json:"From_Account"`
	// ToAccount is the recipient.
	ToAccount string `json:"To_Account"`
	// MsgSeq is the message sequence (32-bit unsigned).
	MsgSeq uint64 `json:"MsgSeq"`
	// MsgRandom is the message random number (32-bit unsigned).
	MsgRandom uint32 `json:"MsgRandom"`
	// MsgTime is the send time in seconds.
	MsgTime protocol.FlexInt `json:"MsgTime"`
	// MsgKey uniquely identifies the message (usable for REST recall).
	MsgKey string `json:"MsgKey"`
	// MsgID is the client-side message ID.
	MsgID string `json:"MsgId"`
	// OnlineOnlyFlag is 1 for an online-only message.
	OnlineOnlyFlag int64 `json:"OnlineOnlyFlag"`
	// MsgBody is the message body.
	MsgBody message.Body `json:"MsgBody"`
	// CloudCustomData is the message's custom data.
	CloudCustomData string `json:"CloudCustomData"`
	// EventTime is the event time in milliseconds; absent from the documented samples.
	EventTime protocol.FlexInt `json:"EventTime"`
}

// DedupKey is the natural key of the message: From_Account, To_Account and MsgKey.
func (p BeforeSendMsg) DedupKey() string { return msgKey(p.FromAccount, p.ToAccount, p.MsgKey) }

// AfterSendMsg is the body of C2C.CallbackAfterSendMsg (1047/34365,
// docs/protocol.md §4.5).
// It fires even when delivery failed.
type AfterSendMsg struct {
	// CallbackCommand is the command name.
	CallbackCommand string `json:"CallbackCommand"`
	// FromAccount is the sender.
	FromAccount string `json:"From_Account"`
	// ToAccount is the recipient.
	ToAccount string `json:"To_Account"`
	// MsgSeq is the message sequence.
	MsgSeq uint64 `json:"MsgSeq"`
	// MsgRandom is the message random number.
	MsgRandom uint32 `json:"MsgRandom"`
	// MsgTime is the send time in seconds.
	MsgTime protocol.FlexInt `json:"MsgTime"`
	// MsgKey uniquely identifies the message.
	MsgKey string `json:"MsgKey"`
	// MsgID is the client-side message ID.
	MsgID string `json:"MsgId"`
	// OnlineOnlyFlag is 1 for an online-only message.
	OnlineOnlyFlag int64 `json:"OnlineOnlyFlag"`
	// SendMsgResult is 0 when delivered, otherwise the IM error code.
	SendMsgResult int64 `json:"SendMsgResult"`
	// ErrorInfo is "send msg succeed" on success.
	ErrorInfo string `json:"ErrorInfo"`
	// UnreadMsgNum is the recipient's total unread C2C count; -1 when delivery failed.
	UnreadMsgNum int64 `json:"UnreadMsgNum"`
	// MsgBody is the message body (as modified by a before-callback).
	MsgBody message.Body `json:"MsgBody"`
	// CloudCustomData is the message's custom data.
	CloudCustomData string `json:"CloudCustomData"`
	// EventTime is the event time in milliseconds; absent from the documented samples.
	EventTime protocol.FlexInt `json:"EventTime"`
}

// DedupKey is the natural key of the message: From_Account, To_Account and MsgKey.
func (p AfterSendMsg) DedupKey() string { return msgKey(p.FromAccount, p.ToAccount, p.MsgKey) }

// AfterMsgReport is the body of C2C.CallbackAfterMsgReport, a read report
// (1047/43465, docs/protocol.md §4.5).
type AfterMsgReport struct {
	// CallbackCommand is the command name.
	CallbackCommand string `json:"CallbackCommand"`
	// ReportAccount reported the read.
	ReportAccount string `json:"Report_Account"`
	// PeerAccount is the other party of the conversation.
	PeerAccount string `json:"Peer_Account"`
	// LastReadTime is in seconds: everything before it is read.
	LastReadTime protocol.FlexInt `json:"LastReadTime"`
	// UnreadMsgNum is Report_Account's total unread C2C count (older revision).
	UnreadMsgNum int64 `json:"UnreadMsgNum"`
	// EventTime is the event time in milliseconds (newer revision).
	EventTime protocol.FlexInt `json:"EventTime"`
}

// AfterMsgWithDraw is the body of C2C.CallbackAfterMsgWithDraw, a recall
// (1047/43466, docs/protocol.md §4.5; note the capital D).
type AfterMsgWithDraw struct {
	// CallbackCommand is the command name.
	CallbackCommand string `json:"CallbackCommand"`
	// FromAccount is the sender of the recalled message.
	FromAccount string `json:"From_Account"`
	// ToAccount is its recipient.
	ToAccount string `json:"To_Account"`
	// MsgKey identifies the recalled message.
	MsgKey string `json:"MsgKey"`
	// UnreadMsgNum is To_Account's unread count (older revision).
	UnreadMsgNum int64 `json:"UnreadMsgNum"`
	// EventTime is the event time in milliseconds (newer revision).
	EventTime protocol.FlexInt `json:"EventTime"`
}

// DedupKey is the natural key of the recall: From_Account, To_Account and MsgKey.
func (p AfterMsgWithDraw) DedupKey() string { return msgKey(p.FromAccount, p.ToAccount, p.MsgKey) }

// AfterC2CMsgExtension is the body of C2C.CallbackAfterC2CMsgExtension
// (1047/76006).
type AfterC2CMsgExtension struct {
	// CallbackCommand is the command name.
	CallbackCommand string `json:"CallbackCommand"`
	// FromAccount is the sender of the extended message.
	FromAccount string `json:"From_Account"`
	// ToAccount is its recipient.
	ToAccount string `json:"To_Account"`
	// MsgKey identifies the message.
	MsgKey string `json:"MsgKey"`
	// OperateType is message.ExtensionSet, ExtensionDelete or ExtensionClear.
	OperateType int64 `json:"OperateType"`
	// ExtensionList lists the keys concerned.
	ExtensionList []message.Extension `json:"ExtensionList"`
	// Seq is the latest version of the whole extension set.
	Seq int64 `json:"Seq"`
	// EventTime is the event time in milliseconds.
	EventTime protocol.FlexInt `json:"EventTime"`
}

// DedupKey is the natural key of the change: the message and the extension version Seq.
func (p AfterC2CMsgExtension) DedupKey() string {
	return protocol.JoinKey(p.FromAccount, p.ToAccount, p.MsgKey, strconv.FormatInt(p.Seq, 10))
}

// MsgInfo identifies one message of a read receipt.
type MsgInfo struct {
	// FromAccount is the message's sender.
	FromAccount string `json:"From_Account"`
	// ToAccount is its recipient.
	ToAccount string `json:"To_Account"`
	// MsgKey identifies the message.
	MsgKey string `json:"MsgKey"`
	// MsgID is its client-side ID.
	MsgID string `json:"MsgId"`
}

// AfterMsgReadReceipt is the body of C2C.CallbackAfterMsgReadReceipt: a
// single-message read receipt (CN 269/128223).
type AfterMsgReadReceipt struct {
	// CallbackCommand is the command name.
	CallbackCommand string `json:"CallbackCommand"`
	// OperatorAccount sent the read receipt.
	OperatorAccount string `json:"Operator_Account"`
	// PeerAccount is the other party of the conversation.
	PeerAccount string `json:"Peer_Account"`
	// C2CMsgInfo lists the messages read.
	C2CMsgInfo []MsgInfo `json:"C2CMsgInfo"`
	// EventTime is when the receipt was sent, in milliseconds.
	EventTime protocol.FlexInt `json:"EventTime"`
}

// AfterModifyMsg is the body of C2C.CallbackAfterModifyMsg: a message was
// edited (CN 269/128224).
type AfterModifyMsg struct {
	// CallbackCommand is the command name.
	CallbackCommand string `json:"CallbackCommand"`
	// OperatorAccount edited the message.
	OperatorAccount string `json:"Operator_Account"`
	// FromAccount is the message's sender.
	FromAccount string `json:"From_Account"`
	// ToAccount is its recipient.
	ToAccount string `json:"To_Account"`
	// MsgRandom is the message random number.
	MsgRandom uint32 `json:"MsgRandom"`
	// MsgSeq is the message sequence.
	MsgSeq uint64 `json:"MsgSeq"`
	// MsgTime is the message's send time in seconds.
	MsgTime protocol.FlexInt `json:"MsgTime"`
	// MsgKey identifies the message.
	MsgKey string `json:"MsgKey"`
	// MsgBody is the new message body.
	MsgBody message.Body `json:"MsgBody"`
	// CloudCustomData is the new custom data.
	CloudCustomData string `json:"CloudCustomData"`
	// EventTime is the event time in milliseconds.
	EventTime protocol.FlexInt `json:"EventTime"`
}

// DedupKey is the natural key of the edit: the message and EventTime
// (a message can be edited more than once).
func (p AfterModifyMsg) DedupKey() string {
	return protocol.JoinKey(p.FromAccount, p.ToAccount, p.MsgKey, strconv.FormatInt(int64(p.EventTime), 10))
}

// GroupRead is one GroupReadInfo entry of a clear-all-unread.
type GroupRead struct {
	// GroupID is the group whose unread count was cleared.
	GroupID string `json:"GroupId"`
	// MsgSeq is the group message sequence passed in the request.
	MsgSeq uint64 `json:"MsgSeq"`
}

// AfterMsgReadAll is the body of C2C.CallbackAfterMsgReadAll: a user
// cleared all unread counts, C2C and groups (CN 269/128225).
type AfterMsgReadAll struct {
	// CallbackCommand is the command name.
	CallbackCommand string `json:"CallbackCommand"`
	// ReportAccount cleared the unread counts.
	ReportAccount string `json:"Report_Account"`
	// GroupReadInfo lists the groups cleared.
	GroupReadInfo []GroupRead `json:"GroupReadInfo"`
	// EventTime is the event time in milliseconds.
	EventTime protocol.FlexInt `json:"EventTime"`
}
