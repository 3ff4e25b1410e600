package c2c

import (
	"github.com/imcallback/imcallback/commands/message"
	"github.com/imcallback/imcallback/dispatcher"
)

// CallbackCommand names of the one-to-one message callbacks.
const (
	CommandBeforeSendMsg        = "C2C.CallbackBeforeSendMsg"
	CommandAfterSendMsg         = "C2C.CallbackAfterSendMsg"
	CommandAfterMsgReport       = "C2C.CallbackAfterMsgReport"
	CommandAfterMsgWithDraw     = "C2C.CallbackAfterMsgWithDraw"
	CommandAfterC2CMsgExtension = "C2C.CallbackAfterC2CMsgExtension"
	CommandAfterMsgReadReceipt  = "C2C.CallbackAfterMsgReadReceipt"
	CommandAfterModifyMsg       = "C2C.CallbackAfterModifyMsg"
	CommandAfterMsgReadAll      = "C2C.CallbackAfterMsgReadAll"
)

// SendMsgReply is the reply of C2C.CallbackBeforeSendMsg: a rewritten
// MsgBody and/or CloudCustomData.
type SendMsgReply = message.SendMsgReply

// Typed command descriptors.
var (
	BeforeSendMsgCommand        = dispatcher.NewBeforeCommand[BeforeSendMsg, SendMsgReply](CommandBeforeSendMsg)
	AfterSendMsgCommand         = dispatcher.NewAfterCommand[AfterSendMsg](CommandAfterSendMsg)
	AfterMsgReportCommand       = dispatcher.NewAfterCommand[AfterMsgReport](CommandAfterMsgReport)
	AfterMsgWithDrawCommand     = dispatcher.NewAfterCommand[AfterMsgWithDraw](CommandAfterMsgWithDraw)
	AfterC2CMsgExtensionCommand = dispatcher.NewAfterCommand[AfterC2CMsgExtension](CommandAfterC2CMsgExtension)
	AfterMsgReadReceiptCommand  = dispatcher.NewAfterCommand[AfterMsgReadReceipt](CommandAfterMsgReadReceipt)
	AfterModifyMsgCommand       = dispatcher.NewAfterCommand[AfterModifyMsg](CommandAfterModifyMsg)
	AfterMsgReadAllCommand      = dispatcher.NewAfterCommand[AfterMsgReadAll](CommandAfterMsgReadAll)
)
