// Package bot holds the typed payloads, reply fields and command
// descriptors of the Bot.* and Chatbot.* callbacks (docs/protocol.md §4.8).
package bot

import (
	"strconv"

	"github.com/imcallback/imcallback/commands/message"
	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/protocol"
)

// Typed command descriptors. Chatbot.OnC2CSignalMessage is a
// request-response command answered like a before-command, within 2 s.
var (
	OnC2CMessageCommand       = dispatcher.NewAfterCommand[OnC2CMessage]("Bot.OnC2CMessage")
	OnGroupMessageCommand     = dispatcher.NewAfterCommand[OnGroupMessage]("Bot.OnGroupMessage")
	OnC2CSignalMessageCommand = dispatcher.NewBeforeCommand[OnC2CSignalMessage, SignalReply]("Chatbot.OnC2CSignalMessage")
)

// SignalReply is the answer of Chatbot.OnC2CSignalMessage: RspData is sent
// back to the chatbot (CN 269/103730). Return it with Modify; Tencent's
// page makes RspData required, so every other answer (Allow, a deny, the
// fallback) carries it empty.
type SignalReply struct {
	// RspData is the custom data returned to the chatbot.
	RspData string `json:"RspData"`
}

// OnC2CMessage is the body of Bot.OnC2CMessage: a one-to-one message to a
// bot account, after delivery (1047/68952).
type OnC2CMessage struct {
	// CallbackCommand is the command name.
	CallbackCommand string `json:"CallbackCommand"`
	// FromAccount is the sender.
	FromAccount string `json:"From_Account"`
	// ToAccount is the bot (an @RBT# account).
	ToAccount string `json:"To_Account"`
	// MsgSeq is the message sequence.
	MsgSeq uint64 `json:"MsgSeq"`
	// MsgRandom is the message random number.
	MsgRandom uint32 `json:"MsgRandom"`
	// MsgTime is the send time in seconds.
	MsgTime protocol.FlexInt `json:"MsgTime"`
	// MsgKey uniquely identifies the message.
	MsgKey string `json:"MsgKey"`
	// MsgID is the client-side message ID (CN 269/90407), as in the
	// one-to-one message callbacks.
	MsgID string `json:"MsgId"`
	// OnlineOnlyFlag is 1 for an online-only message.
	OnlineOnlyFlag int64 `json:"OnlineOnlyFlag"`
	// SendMsgResult is 0 when delivered.
	SendMsgResult int64 `json:"SendMsgResult"`
	// ErrorInfo is "send msg succeed" on success.
	ErrorInfo string `json:"ErrorInfo"`
	// MsgBody is the message body.
	MsgBody message.Body `json:"MsgBody"`
	// CloudCustomData is the message's custom data.
	CloudCustomData string `json:"CloudCustomData"`
	// EventTime is the event time in milliseconds.
	EventTime protocol.FlexInt `json:"EventTime"`
}

// DedupKey is the natural key of the message: From_Account, To_Account and MsgKey.
func (p OnC2CMessage) DedupKey() string {
	return protocol.JoinKey(p.FromAccount, p.ToAccount, p.MsgKey)
}

// OnGroupMessage is the body of Bot.OnGroupMessage: bots were @-mentioned
// in a group; @all does not trigger it (1047/68953).
type OnGroupMessage struct {
	// CallbackCommand is the command name.
	CallbackCommand string `json:"CallbackCommand"`
	// GroupID is the group.
	GroupID string `json:"GroupId"`
	// Type is the group type.
	Type string `json:"Type"`
	// FromAccount is the sender.
	FromAccount string `json:"From_Account"`
	// OperatorAccount initiated the request.
	OperatorAccount string `json:"Operator_Account"`
	// Random is the message random number.
	Random uint32 `json:"Random"`
	// MsgSeq is the group message sequence.
	MsgSeq uint64 `json:"MsgSeq"`
	// MsgTime is the send time in seconds.
	MsgTime protocol.FlexInt `json:"MsgTime"`
	// OnlineOnlyFlag is 1 for an online-only message.
	OnlineOnlyFlag int64 `json:"OnlineOnlyFlag"`
	// MsgBody is the message body.
	MsgBody message.Body `json:"MsgBody"`
	// AtRobotsAccount lists the bots mentioned.
	AtRobotsAccount []string `json:"AtRobots_Account"`
	// CloudCustomData is the message's custom data.
	CloudCustomData string `json:"CloudCustomData"`
	// EventTime is the event time in milliseconds.
	EventTime protocol.FlexInt `json:"EventTime"`
}

// DedupKey is the natural key of the message: GroupId, MsgSeq and MsgTime,
// since a group created again under the ID of a dismissed one counts MsgSeq
// from 1 again (see group.AfterSendMsg.DedupKey).
func (p OnGroupMessage) DedupKey() string {
	return protocol.JoinKey(p.GroupID, strconv.FormatUint(p.MsgSeq, 10), strconv.FormatInt(int64(p.MsgTime), 10))
}

// OnC2CSignalMessage is the body of Chatbot.OnC2CSignalMessage: custom
// pass-through content sent to an AI chatbot (CN 269/103730, 1047/59057).
// Tencent's page documents the content as Data, a string, with the
// message's MsgSeq, MsgRandom and MsgKey; Event.Raw holds the body as sent.
type OnC2CSignalMessage struct {
	// CallbackCommand is the command name.
	CallbackCommand string `json:"CallbackCommand"`
	// FromAccount is the user who sent the content.
	FromAccount string `json:"From_Account"`
	// ToAccount is the chatbot.
	ToAccount string `json:"To_Account"`
	// MsgSeq is the message sequence (32-bit unsigned).
	MsgSeq uint64 `json:"MsgSeq"`
	// MsgRandom is the message random number (32-bit unsigned).
	MsgRandom uint32 `json:"MsgRandom"`
	// MsgKey uniquely identifies the message.
	MsgKey string `json:"MsgKey"`
	// EventTime is the event time in milliseconds.
	EventTime protocol.FlexInt `json:"EventTime"`
	// Data is the pass-through content, the data field of the custom
	// pass-through protocol.
	Data string `json:"Data"`
	// MsgBody is a message body, when a body carries one; Tencent's page
	// documents none for this command.
	MsgBody message.Body `json:"MsgBody"`
	// CloudCustomData is custom data, when a body carries it; Tencent's
	// page documents none for this command.
	CloudCustomData string `json:"CloudCustomData"`
}
