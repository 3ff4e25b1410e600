package c2c

import (
	"github.com/imcallback/imcallback/commands/message"
	"github.com/imcallback/imcallback/dispatcher"
)

// SendMsgReply is the reply of C2C.CallbackBeforeSendMsg: a rewritten
// MsgBody and/or CloudCustomData.
type SendMsgReply = message.SendMsgReply

// Typed command descriptors.
var (
	BeforeSendMsgCommand        = dispatcher.NewBeforeCommand[BeforeSendMsg, SendMsgReply]("C2C.CallbackBeforeSendMsg")
	AfterSendMsgCommand         = dispatcher.NewAfterCommand[AfterSendMsg]("C2C.CallbackAfterSendMsg")
	AfterMsgReportCommand       = dispatcher.NewAfterCommand[AfterMsgReport]("C2C.CallbackAfterMsgReport")
	AfterMsgWithDrawCommand     = dispatcher.NewAfterCommand[AfterMsgWithDraw]("C2C.CallbackAfterMsgWithDraw")
	AfterC2CMsgExtensionCommand = dispatcher.NewAfterCommand[AfterC2CMsgExtension]("C2C.CallbackAfterC2CMsgExtension")
	AfterMsgReadReceiptCommand  = dispatcher.NewAfterCommand[AfterMsgReadReceipt]("C2C.CallbackAfterMsgReadReceipt")
	AfterModifyMsgCommand       = dispatcher.NewAfterCommand[AfterModifyMsg]("C2C.CallbackAfterModifyMsg")
	AfterMsgReadAllCommand      = dispatcher.NewAfterCommand[AfterMsgReadAll]("C2C.CallbackAfterMsgReadAll")
)
