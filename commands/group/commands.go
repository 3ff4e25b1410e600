package group

import (
	"github.com/imcallback/imcallback/commands/message"
	"github.com/imcallback/imcallback/dispatcher"
)

// SendMsgReply is the reply of Group.CallbackBeforeSendMsg: a rewritten
// MsgBody and/or CloudCustomData.
type SendMsgReply = message.SendMsgReply

// InviteJoinGroupReply is the reply of Group.CallbackBeforeInviteJoinGroup:
// the listed users are refused, the others invited (docs/protocol.md §3.4).
type InviteJoinGroupReply struct {
	// RefusedMembersAccount lists the UserIDs refused.
	RefusedMembersAccount []string `json:"RefusedMembers_Account,omitempty"`
}

// Typed command descriptors: Handle registers a handler of the right
// payload (and reply) type, e.g.
// group.BeforeSendMsgCommand.Handle(func(ctx, ev) (dispatcher.Reply[group.SendMsgReply], error)).
var (
	BeforeCreateGroupCommand       = dispatcher.NewBeforeCommand[BeforeCreateGroup, dispatcher.NoReply]("Group.CallbackBeforeCreateGroup")
	AfterCreateGroupCommand        = dispatcher.NewAfterCommand[AfterCreateGroup]("Group.CallbackAfterCreateGroup")
	BeforeApplyJoinGroupCommand    = dispatcher.NewBeforeCommand[BeforeApplyJoinGroup, dispatcher.NoReply]("Group.CallbackBeforeApplyJoinGroup")
	BeforeInviteJoinGroupCommand   = dispatcher.NewBeforeCommand[BeforeInviteJoinGroup, InviteJoinGroupReply]("Group.CallbackBeforeInviteJoinGroup")
	AfterNewMemberJoinCommand      = dispatcher.NewAfterCommand[AfterNewMemberJoin]("Group.CallbackAfterNewMemberJoin")
	AfterMemberExitCommand         = dispatcher.NewAfterCommand[AfterMemberExit]("Group.CallbackAfterMemberExit")
	BeforeSendMsgCommand           = dispatcher.NewBeforeCommand[BeforeSendMsg, SendMsgReply]("Group.CallbackBeforeSendMsg")
	AfterSendMsgCommand            = dispatcher.NewAfterCommand[AfterSendMsg]("Group.CallbackAfterSendMsg")
	AfterGroupFullCommand          = dispatcher.NewAfterCommand[AfterGroupFull]("Group.CallbackAfterGroupFull")
	AfterGroupDestroyedCommand     = dispatcher.NewAfterCommand[AfterGroupDestroyed]("Group.CallbackAfterGroupDestroyed")
	AfterGroupInfoChangedCommand   = dispatcher.NewAfterCommand[AfterGroupInfoChanged]("Group.CallbackAfterGroupInfoChanged")
	AfterRecallMsgCommand          = dispatcher.NewAfterCommand[AfterRecallMsg]("Group.CallbackAfterRecallMsg")
	OnMemberStateChangeCommand     = dispatcher.NewAfterCommand[OnMemberStateChange]("Group.CallbackOnMemberStateChange")
	SendMsgExceptionCommand        = dispatcher.NewAfterCommand[SendMsgException]("Group.CallbackSendMsgException")
	BeforeCreateTopicCommand       = dispatcher.NewBeforeCommand[BeforeCreateTopic, dispatcher.NoReply]("Group.CallbackBeforeCreateTopic")
	AfterCreateTopicCommand        = dispatcher.NewAfterCommand[AfterCreateTopic]("Group.CallbackAfterCreateTopic")
	AfterTopicDestroyedCommand     = dispatcher.NewAfterCommand[AfterTopicDestroyed]("Group.CallbackAfterTopicDestroyed")
	AfterTopicInfoChangedCommand   = dispatcher.NewAfterCommand[AfterTopicInfoChanged]("Group.CallbackAfterTopicInfoChanged")
	AfterMemberFieldChangedCommand = dispatcher.NewAfterCommand[AfterMemberFieldChanged]("Group.CallbackAfterMemberFieldChanged")
	AfterGroupAttrChangedCommand   = dispatcher.NewAfterCommand[AfterGroupAttrChanged]("Group.CallbackAfterGroupAttrChanged")
	AfterReadReceiptCommand        = dispatcher.NewAfterCommand[AfterReadReceipt]("Group.CallbackAfterReadReceipt")
	AfterChangeGroupOwnerCommand   = dispatcher.NewAfterCommand[AfterChangeGroupOwner]("Group.CallbackAfterChangeGroupOwner")
	OnDailyGroupQuotaAlarmCommand  = dispatcher.NewAfterCommand[OnDailyGroupQuotaAlarm]("Group.CallbackOnDailyGroupQuotaAlarm")
	AfterGroupMsgExtensionCommand  = dispatcher.NewAfterCommand[AfterGroupMsgExtension]("Group.CallbackAfterGroupMsgExtension")
	AfterModifyMsgCommand          = dispatcher.NewAfterCommand[AfterModifyMsg]("Group.CallbackAfterModifyMsg")
)
