package group

import (
	"github.com/imcallback/imcallback/commands/message"
	"github.com/imcallback/imcallback/dispatcher"
)

// CallbackCommand names of the group callbacks.
const (
	CommandBeforeCreateGroup       = "Group.CallbackBeforeCreateGroup"
	CommandAfterCreateGroup        = "Group.CallbackAfterCreateGroup"
	CommandBeforeApplyJoinGroup    = "Group.CallbackBeforeApplyJoinGroup"
	CommandBeforeInviteJoinGroup   = "Group.CallbackBeforeInviteJoinGroup"
	CommandAfterNewMemberJoin      = "Group.CallbackAfterNewMemberJoin"
	CommandAfterMemberExit         = "Group.CallbackAfterMemberExit"
	CommandBeforeSendMsg           = "Group.CallbackBeforeSendMsg"
	CommandAfterSendMsg            = "Group.CallbackAfterSendMsg"
	CommandAfterGroupFull          = "Group.CallbackAfterGroupFull"
	CommandAfterGroupDestroyed     = "Group.CallbackAfterGroupDestroyed"
	CommandAfterGroupInfoChanged   = "Group.CallbackAfterGroupInfoChanged"
	CommandAfterRecallMsg          = "Group.CallbackAfterRecallMsg"
	CommandOnMemberStateChange     = "Group.CallbackOnMemberStateChange"
	CommandSendMsgException        = "Group.CallbackSendMsgException"
	CommandBeforeCreateTopic       = "Group.CallbackBeforeCreateTopic"
	CommandAfterCreateTopic        = "Group.CallbackAfterCreateTopic"
	CommandAfterTopicDestroyed     = "Group.CallbackAfterTopicDestroyed"
	CommandAfterTopicInfoChanged   = "Group.CallbackAfterTopicInfoChanged"
	CommandAfterMemberFieldChanged = "Group.CallbackAfterMemberFieldChanged"
	CommandAfterGroupAttrChanged   = "Group.CallbackAfterGroupAttrChanged"
	CommandAfterReadReceipt        = "Group.CallbackAfterReadReceipt"
	CommandAfterChangeGroupOwner   = "Group.CallbackAfterChangeGroupOwner"
	CommandOnDailyGroupQuotaAlarm  = "Group.CallbackOnDailyGroupQuotaAlarm"
	CommandAfterGroupMsgExtension  = "Group.CallbackAfterGroupMsgExtension"
	CommandAfterModifyMsg          = "Group.CallbackAfterModifyMsg"
)

// SendMsgReply is the reply of Group.CallbackBeforeSendMsg: a rewritten
// MsgBody and/or CloudCustomData.
type SendMsgReply = message.SendMsgReply

// InviteJoinGroupReply is the reply of Group.CallbackBeforeInviteJoinGroup:
// the listed users are refused, the others invited (PROTOCOL.md §3.4).
type InviteJoinGroupReply struct {
	// RefusedMembersAccount lists the UserIDs refused.
	RefusedMembersAccount []string `json:"RefusedMembers_Account,omitempty"`
}

// Typed command descriptors: Handle registers a handler of the right
// payload (and reply) type, e.g.
// group.BeforeSendMsgCommand.Handle(func(ctx, ev) (dispatcher.Reply[group.SendMsgReply], error)).
var (
	BeforeCreateGroupCommand       = dispatcher.NewBeforeCommand[BeforeCreateGroup, dispatcher.NoReply](CommandBeforeCreateGroup)
	AfterCreateGroupCommand        = dispatcher.NewAfterCommand[AfterCreateGroup](CommandAfterCreateGroup)
	BeforeApplyJoinGroupCommand    = dispatcher.NewBeforeCommand[BeforeApplyJoinGroup, dispatcher.NoReply](CommandBeforeApplyJoinGroup)
	BeforeInviteJoinGroupCommand   = dispatcher.NewBeforeCommand[BeforeInviteJoinGroup, InviteJoinGroupReply](CommandBeforeInviteJoinGroup)
	AfterNewMemberJoinCommand      = dispatcher.NewAfterCommand[AfterNewMemberJoin](CommandAfterNewMemberJoin)
	AfterMemberExitCommand         = dispatcher.NewAfterCommand[AfterMemberExit](CommandAfterMemberExit)
	BeforeSendMsgCommand           = dispatcher.NewBeforeCommand[BeforeSendMsg, SendMsgReply](CommandBeforeSendMsg)
	AfterSendMsgCommand            = dispatcher.NewAfterCommand[AfterSendMsg](CommandAfterSendMsg)
	AfterGroupFullCommand          = dispatcher.NewAfterCommand[AfterGroupFull](CommandAfterGroupFull)
	AfterGroupDestroyedCommand     = dispatcher.NewAfterCommand[AfterGroupDestroyed](CommandAfterGroupDestroyed)
	AfterGroupInfoChangedCommand   = dispatcher.NewAfterCommand[AfterGroupInfoChanged](CommandAfterGroupInfoChanged)
	AfterRecallMsgCommand          = dispatcher.NewAfterCommand[AfterRecallMsg](CommandAfterRecallMsg)
	OnMemberStateChangeCommand     = dispatcher.NewAfterCommand[OnMemberStateChange](CommandOnMemberStateChange)
	SendMsgExceptionCommand        = dispatcher.NewAfterCommand[SendMsgException](CommandSendMsgException)
	BeforeCreateTopicCommand       = dispatcher.NewBeforeCommand[BeforeCreateTopic, dispatcher.NoReply](CommandBeforeCreateTopic)
	AfterCreateTopicCommand        = dispatcher.NewAfterCommand[AfterCreateTopic](CommandAfterCreateTopic)
	AfterTopicDestroyedCommand     = dispatcher.NewAfterCommand[AfterTopicDestroyed](CommandAfterTopicDestroyed)
	AfterTopicInfoChangedCommand   = dispatcher.NewAfterCommand[AfterTopicInfoChanged](CommandAfterTopicInfoChanged)
	AfterMemberFieldChangedCommand = dispatcher.NewAfterCommand[AfterMemberFieldChanged](CommandAfterMemberFieldChanged)
	AfterGroupAttrChangedCommand   = dispatcher.NewAfterCommand[AfterGroupAttrChanged](CommandAfterGroupAttrChanged)
	AfterReadReceiptCommand        = dispatcher.NewAfterCommand[AfterReadReceipt](CommandAfterReadReceipt)
	AfterChangeGroupOwnerCommand   = dispatcher.NewAfterCommand[AfterChangeGroupOwner](CommandAfterChangeGroupOwner)
	OnDailyGroupQuotaAlarmCommand  = dispatcher.NewAfterCommand[OnDailyGroupQuotaAlarm](CommandOnDailyGroupQuotaAlarm)
	AfterGroupMsgExtensionCommand  = dispatcher.NewAfterCommand[AfterGroupMsgExtension](CommandAfterGroupMsgExtension)
	AfterModifyMsgCommand          = dispatcher.NewAfterCommand[AfterModifyMsg](CommandAfterModifyMsg)
)
