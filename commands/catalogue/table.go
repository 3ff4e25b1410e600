package catalogue

import (
	"github.com/imcallback/imcallback/commands/alert"
	"github.com/imcallback/imcallback/commands/bot"
	"github.com/imcallback/imcallback/commands/c2c"
	"github.com/imcallback/imcallback/commands/content"
	"github.com/imcallback/imcallback/commands/follow"
	"github.com/imcallback/imcallback/commands/group"
	"github.com/imcallback/imcallback/commands/officialaccount"
	"github.com/imcallback/imcallback/commands/profile"
	"github.com/imcallback/imcallback/commands/push"
	"github.com/imcallback/imcallback/commands/sns"
	"github.com/imcallback/imcallback/commands/state"
	"github.com/imcallback/imcallback/dispatcher"
)

// All returns the catalogue, in the order of docs/protocol.md §4. Each call
// builds a fresh slice: callers may keep or change it.
func All() []Entry {
	// Custom deny-code ranges (docs/protocol.md §3.2).
	groupCodes := dispatcher.CodeRange{Min: 10100, Max: 10200}
	msgCodes := dispatcher.CodeRange{Min: 120001, Max: 130000} // C2C and official accounts
	friendCodes := dispatcher.CodeRange{Min: sns.ResultCodeMin, Max: sns.ResultCodeMax}
	return []Entry{
		// §4.1 Alerts
		{Command: alert.RequestOverLimitCommand, Doc: "trtc.io 60256",
			Summary: "REST API call rate above 80 % of its limit"},

		// §4.2 Online status
		{Command: state.StateChangeCommand, Doc: "1047/34357",
			Summary: "login, logout, disconnect or custom status change",
			Note:    "OptPlatform is \"IOS\" on this command only; CustomStatus may sit in Info or at top level."},

		// §4.3 Profile and relationship chain
		{Command: profile.PortraitSetCommand, Doc: "1047/48733",
			Summary: "profile updated"},
		{Command: sns.PrevFriendAddCommand, Doc: "1047/43468",
			Summary: "client add-friend request (REST adds do not trigger it)", DenyCodes: friendCodes, PerTarget: sns.PrevFriendAddTargets,
			Note: "IM ignores a non-zero top-level ErrorCode by default: a deny is also sent as the refusal of every target in ResultItem; to refuse some targets only, Modify with ResultItem (ResultCode 0 or 38000–39000). ResultItem is required: an allow that decides no target lists every target with ResultCode 0."},
		{Command: sns.PrevFriendResponseCommand, Doc: "1047/43467",
			Summary: "before responding to a friend request", DenyCodes: friendCodes, PerTarget: sns.PrevFriendResponseTargets,
			Note: "IM ignores a non-zero top-level ErrorCode by default: a deny is also sent as the refusal of every target in ResultItem; to refuse some targets only, Modify with ResultItem (ResultCode 0 or 38000–39000). ResultItem is required: an allow that decides no target lists every target with ResultCode 0."},
		{Command: sns.FriendAddCommand, Doc: "1047/34359",
			Summary: "friends added (not by the import REST API)"},
		{Command: sns.FriendDeleteCommand, Doc: "1047/34360",
			Summary: "friends deleted"},
		{Command: sns.BlackListAddCommand, Doc: "1047/34361",
			Summary: "users blocked"},
		{Command: sns.BlackListDeleteCommand, Doc: "1047/34362",
			Summary: "users unblocked"},

		// §4.4 Follow
		{Command: follow.AfterFollowAddCommand, Doc: "1047/70355",
			Summary: "users followed"},
		{Command: follow.AfterFollowDeleteCommand, Doc: "1047/70356",
			Summary: "users unfollowed"},

		// §4.5 One-to-one messages
		{Command: c2c.BeforeSendMsgCommand, Doc: "1047/34364",
			Summary: "before a one-to-one message is delivered", DenyCodes: msgCodes, CanDrop: true,
			Dedup: []string{"From_Account", "To_Account", "MsgKey"},
			Note:  "Deny (1) makes the sender get 20006; the after-callback is then not sent."},
		{Command: c2c.AfterSendMsgCommand, Doc: "1047/34365",
			Summary: "after a one-to-one message, even when delivery failed",
			Dedup:   []string{"From_Account", "To_Account", "MsgKey"}},
		{Command: c2c.AfterMsgReportCommand, Doc: "1047/43465",
			Summary: "one-to-one read report"},
		{Command: c2c.AfterMsgWithDrawCommand, Doc: "1047/43466",
			Summary: "one-to-one message recalled", Dedup: []string{"From_Account", "To_Account", "MsgKey"}},
		{Command: c2c.AfterC2CMsgExtensionCommand, Doc: "1047/76006",
			Summary: "message extension keys set, deleted or cleared", Dedup: []string{"From_Account", "To_Account", "MsgKey", "Seq"}},
		{Command: c2c.AfterMsgReadReceiptCommand, Doc: "CN 269/128223",
			Summary: "single-message read receipt"},
		{Command: c2c.AfterModifyMsgCommand, Doc: "CN 269/128224",
			Summary: "one-to-one message edited", Dedup: []string{"From_Account", "To_Account", "MsgKey", "EventTime"}},
		{Command: c2c.AfterMsgReadAllCommand, Doc: "CN 269/128225",
			Summary: "all unread cleared (C2C and groups)"},

		// §4.6 Groups and topics
		{Command: group.BeforeCreateGroupCommand, Doc: "1047/34368",
			Summary: "before a group is created", DenyCodes: groupCodes,
			Note: "Deny (1) makes the caller get 10016. An earlier page revision writes CreatedNum for CreateGroupNum: both are accepted."},
		{Command: group.AfterCreateGroupCommand, Doc: "1047/34369",
			Summary: "group created", Dedup: []string{"GroupId", "EventTime"},
			Note: "The field table writes groupID, the samples GroupId: both are accepted."},
		{Command: group.BeforeApplyJoinGroupCommand, Doc: "1047/34370",
			Summary: "before a join request is processed", DenyCodes: groupCodes,
			Note: "Allowing the request does not bypass the group's own admin approval."},
		{Command: group.BeforeInviteJoinGroupCommand, Doc: "1047/34371",
			Summary: "before users are invited", DenyCodes: groupCodes},
		{Command: group.AfterNewMemberJoinCommand, Doc: "1047/34372",
			Summary: "members joined"},
		{Command: group.AfterMemberExitCommand, Doc: "1047/34373",
			Summary: "members left or were kicked"},
		{Command: group.BeforeSendMsgCommand, Doc: "1047/34374",
			Summary: "before a group message is delivered", DenyCodes: groupCodes, CanDrop: true,
			Note: "Deny (1) makes the sender get 10016; the after-callback is then not sent."},
		{Command: group.AfterSendMsgCommand, Doc: "1047/34375",
			Summary: "group message sent", Dedup: []string{"GroupId", "TopicId", "MsgSeq", "MsgTime"}},
		{Command: group.AfterGroupFullCommand, Doc: "1047/34376",
			Summary: "group reached its member limit",
			Note:    "TopicId is set when a topic is concerned."},
		{Command: group.AfterGroupDestroyedCommand, Doc: "1047/34377",
			Summary: "group dismissed", Dedup: []string{"GroupId", "EventTime"}},
		{Command: group.AfterGroupInfoChangedCommand, Doc: "1047/34378",
			Summary: "group name, introduction, notification or avatar changed"},
		{Command: group.AfterRecallMsgCommand, Doc: "1047/46979",
			Summary: "group messages recalled", Dedup: []string{"GroupId", "TopicId", "MsgSeqList[].MsgSeq", "EventTime"}},
		{Command: group.OnMemberStateChangeCommand, Doc: "1047/48734",
			Summary: "AVChatRoom members online or offline"},
		{Command: group.SendMsgExceptionCommand, Doc: "1047/49462",
			Summary: "group message could not be delivered"},
		{Command: group.BeforeCreateTopicCommand, Doc: "1047/49463",
			Summary: "before a community topic is created", DenyCodes: groupCodes,
			Note: "Shares the console switch with BeforeCreateGroup. Deny (1) makes the caller get 10016."},
		{Command: group.AfterCreateTopicCommand, Doc: "1047/49464",
			Summary: "community topic created", Dedup: []string{"TopicId", "EventTime"}},
		{Command: group.AfterTopicDestroyedCommand, Doc: "1047/49465",
			Summary: "community topics deleted", Dedup: []string{"GroupId", "TopicIdList", "EventTime"}},
		{Command: group.AfterTopicInfoChangedCommand, Doc: "1047/49466",
			Summary: "topic name, introduction, notification or avatar changed",
			Note:    "Tencent's documented payload has no TopicId: it is read when present (docs/protocol.md §5.2)."},
		{Command: group.AfterMemberFieldChangedCommand, Doc: "1047/60393",
			Summary: "member role or name card changed",
			Note:    "The Chinese page writes Modified_Account, the international page Member_Account: both are accepted."},
		{Command: group.AfterGroupAttrChangedCommand, Doc: "1047/60394",
			Summary: "group custom attributes changed"},
		{Command: group.AfterReadReceiptCommand, Doc: "1047/60395",
			Summary: "group message read receipts"},
		{Command: group.AfterChangeGroupOwnerCommand, Doc: "1047/60396",
			Summary: "group owner changed"},
		{Command: group.OnDailyGroupQuotaAlarmCommand, Doc: "1047/57455",
			Summary: "daily net group creation above 70 % of its limit"},
		{Command: group.AfterGroupMsgExtensionCommand, Doc: "trtc.io 76007",
			Summary: "group message extension keys changed", Dedup: []string{"GroupId", "MsgSeq", "Seq", "EventTime"}},
		{Command: group.AfterModifyMsgCommand, Doc: "CN 269/129193",
			Summary: "group or topic message edited", Dedup: []string{"GroupId", "TopicId", "MsgSeq", "EventTime"},
			Note: "Tencent's page lists few fields: the payload is modelled on C2C.CallbackAfterModifyMsg and Group.CallbackAfterSendMsg; Event.Raw has the body as sent (docs/protocol.md §7)."},

		// §4.7 Content moderation
		{Command: content.ResultNotifyCommand, Doc: "CN 269/95616",
			Summary: "cloud moderation result", Dedup: []string{"CtxcbRequestId"},
			Note: "TextContent and CtxcbResult are kept as raw JSON: their types are not documented clearly."},

		// §4.8 Bots
		{Command: bot.OnC2CMessageCommand, Doc: "1047/68952",
			Summary: "one-to-one message to a bot, after delivery", Dedup: []string{"From_Account", "To_Account", "MsgKey"}},
		{Command: bot.OnGroupMessageCommand, Doc: "1047/68953",
			Summary: "bot @-mentioned in a group (@all does not trigger it)", Dedup: []string{"GroupId", "MsgSeq", "MsgTime"}},
		{Command: bot.OnC2CSignalMessageCommand, RequestResponse: true, Doc: "CN 269/103730",
			Summary: "custom pass-through content to an AI chatbot; RspData is sent back", RequiredReply: bot.SignalReply{},
			Note: "Answered within 2 s like a before-command. The pass-through content is Data, a string. RspData is required: " +
				"Modify sends the handler's; every other answer (allow, deny, fallback) sends \"\"."},

		// §4.9 Official accounts
		{Command: officialaccount.BeforeCreateOfficialAccountCommand, Doc: "trtc.io 60795",
			Summary: "before an official account is created", DenyCodes: msgCodes,
			Note: "Deny (1) makes the caller get 20006."},
		{Command: officialaccount.AfterCreateOfficialAccountCommand, Doc: "1047/60796",
			Summary: "official account created", Dedup: []string{"Official_Account", "EventTime"}},
		{Command: officialaccount.AfterOfficialAccountInfoChangedCommand, Doc: "1047/60797",
			Summary: "official account profile changed",
			Note:    "Sent when the name, introduction, avatar or organization changes through the REST API."},
		{Command: officialaccount.AfterOfficialAccountDestroyedCommand, Doc: "1047/60798",
			Summary: "official account destroyed", Dedup: []string{"Official_Account", "EventTime"}},
		{Command: officialaccount.BeforeAddSubscriberCommand, Doc: "trtc.io 60799",
			Summary: "before users subscribe",
			Note:    "The refused list is sent as both RefusedMembers_Account and RefusedSubscribers_Account: the page's text and sample disagree (docs/protocol.md §3.4)."},
		{Command: officialaccount.AfterAddSubscriberCommand, Doc: "1047/60800",
			Summary: "users subscribed"},
		{Command: officialaccount.AfterOfficialAccountFullCommand, Doc: "1047/60801",
			Summary: "official account reached its subscriber limit"},
		{Command: officialaccount.AfterDeleteSubscriberCommand, Doc: "1047/60802",
			Summary: "users unsubscribed"},
		{Command: officialaccount.BeforeSendMsgCommand, Doc: "1047/60803",
			Summary: "before an official-account message is delivered", DenyCodes: msgCodes, CanDrop: true,
			Note: "Deny (1) makes the sender get 10016."},
		{Command: officialaccount.AfterSendMsgCommand, Doc: "1047/60804",
			Summary: "official-account message sent", Dedup: []string{"Official_Account", "MsgKey"}},
		{Command: officialaccount.AfterMsgWithDrawCommand, Doc: "1047/60805",
			Summary: "official-account messages recalled", Dedup: []string{"Official_Account", "WithdrawMsgList[].MsgKey"}},

		// §4.10 Push (batched)
		{Command: push.OfflinePushCommand, Doc: "1047/67552", Batched: true,
			Summary: "offline push results of C2C and group messages",
			Dedup:   []string{"Events[].PushID", "Events[].To_Account", "Events[].PushPlatform", "Events[].PushStage"},
			Note:    "Events carry GroupID (capital D); GroupId is accepted too. Times are in seconds."},
		{Command: push.AllMemberPushCommand, Doc: "1047/67551", Batched: true,
			Summary: "results of all-user, tag and single-user push tasks",
			Dedup:   []string{"Events[].TaskId", "Events[].To_Account", "Events[].EventType", "Events[].PushPlatform", "Events[].PushStage"},
			Note:    "Times are in seconds."},
	}
}
