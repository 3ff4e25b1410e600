package group

import (
	"strconv"
	"strings"

	"github.com/imcallback/imcallback/commands/customdata"
	"github.com/imcallback/imcallback/commands/member"
	"github.com/imcallback/imcallback/commands/message"
	"github.com/imcallback/imcallback/protocol"
)

// BeforeCreateGroup is the body of Group.CallbackBeforeCreateGroup
// (1047/34368, docs/protocol.md §4.6). The group does not exist yet: there
// is no GroupId.
type BeforeCreateGroup struct {
	// CallbackCommand is the command name.
	CallbackCommand string `json:"CallbackCommand"`
	// OperatorAccount requested the creation.
	OperatorAccount string `json:"Operator_Account"`
	// OwnerAccount will own the group.
	OwnerAccount string `json:"Owner_Account"`
	// Type is the group type (Private/Work, Public, ChatRoom/Meeting, AVChatRoom, Community).
	Type string `json:"Type"`
	// Name is the requested group name.
	Name string `json:"Name"`
	// CreateGroupNum is how many groups of this type the user already
	// created; read from CreatedNum, an earlier page's spelling, when a
	// body has no CreateGroupNum (or 0).
	CreateGroupNum int64 `json:"CreateGroupNum"`
	// MemberList holds the initial members.
	MemberList member.List `json:"MemberList"`
	// EventTime is the event time in milliseconds.
	EventTime protocol.FlexInt `json:"EventTime"`
}

// AfterCreateGroup is the body of Group.CallbackAfterCreateGroup
// (1047/34369, docs/protocol.md §4.6, §5.1). "GroupID" is accepted for "GroupId".
type AfterCreateGroup struct {
	// CallbackCommand is the command name.
	CallbackCommand string `json:"CallbackCommand"`
	// GroupID is the new group.
	GroupID string `json:"GroupId"`
	// OperatorAccount created the group.
	OperatorAccount string `json:"Operator_Account"`
	// OwnerAccount owns the group.
	OwnerAccount string `json:"Owner_Account"`
	// Type is the group type.
	Type string `json:"Type"`
	// Name is the group name.
	Name string `json:"Name"`
	// MemberList holds the initial members.
	MemberList member.List `json:"MemberList"`
	// UserDefinedDataList holds the group's custom fields, when configured.
	UserDefinedDataList customdata.List `json:"UserDefinedDataList"`
	// EventTime is the event time in milliseconds.
	EventTime protocol.FlexInt `json:"EventTime"`
}

// DedupKey is the natural key of the event: the group ID and EventTime.
// An app may choose its group IDs and create a group again under the ID of
// one it dismissed: the ID alone would make that second creation look like
// a resend of the first. A resend repeats EventTime; a payload without one
// gets 0 there, and its key then tells a new creation from a resend no
// better than the ID.
func (p AfterCreateGroup) DedupKey() string { return protocol.KeyAt(p.GroupID, p.EventTime) }

// BeforeApplyJoinGroup is the body of Group.CallbackBeforeApplyJoinGroup
// (1047/34370, docs/protocol.md §4.6).
type BeforeApplyJoinGroup struct {
	// CallbackCommand is the command name.
	CallbackCommand string `json:"CallbackCommand"`
	// GroupID is the group applied to.
	GroupID string `json:"GroupId"`
	// Type is the group type.
	Type string `json:"Type"`
	// RequestorAccount is the applicant.
	RequestorAccount string `json:"Requestor_Account"`
	// EventTime is the event time in milliseconds.
	EventTime protocol.FlexInt `json:"EventTime"`
}

// BeforeInviteJoinGroup is the body of Group.CallbackBeforeInviteJoinGroup
// (1047/34371, docs/protocol.md §4.6).
type BeforeInviteJoinGroup struct {
	// CallbackCommand is the command name.
	CallbackCommand string `json:"CallbackCommand"`
	// GroupID is the group.
	GroupID string `json:"GroupId"`
	// Type is the group type.
	Type string `json:"Type"`
	// OperatorAccount invites.
	OperatorAccount string `json:"Operator_Account"`
	// DestinationMembers are the users invited.
	DestinationMembers member.List `json:"DestinationMembers"`
	// EventTime is the event time in milliseconds.
	EventTime protocol.FlexInt `json:"EventTime"`
}

// AfterNewMemberJoin is the body of Group.CallbackAfterNewMemberJoin
// (1047/34372, docs/protocol.md §4.6).
type AfterNewMemberJoin struct {
	// CallbackCommand is the command name.
	CallbackCommand string `json:"CallbackCommand"`
	// GroupID is the group.
	GroupID string `json:"GroupId"`
	// Type is the group type.
	Type string `json:"Type"`
	// JoinType is "Apply" (joined by request) or "Invited" (invited/added).
	JoinType string `json:"JoinType"`
	// OperatorAccount made the change.
	OperatorAccount string `json:"Operator_Account"`
	// NewMemberList holds the members who joined.
	NewMemberList member.List `json:"NewMemberList"`
	// EventTime is the event time in milliseconds.
	EventTime protocol.FlexInt `json:"EventTime"`
}

// AfterMemberExit is the body of Group.CallbackAfterMemberExit
// (1047/34373, docs/protocol.md §4.6).
type AfterMemberExit struct {
	// CallbackCommand is the command name.
	CallbackCommand string `json:"CallbackCommand"`
	// GroupID is the group.
	GroupID string `json:"GroupId"`
	// Type is the group type.
	Type string `json:"Type"`
	// ExitType is "Kicked" or "Quit".
	ExitType string `json:"ExitType"`
	// OperatorAccount made the change.
	OperatorAccount string `json:"Operator_Account"`
	// ExitMemberList holds the members who left.
	ExitMemberList member.List `json:"ExitMemberList"`
	// EventTime is the event time in milliseconds.
	EventTime protocol.FlexInt `json:"EventTime"`
}

// BeforeSendMsg is the body of Group.CallbackBeforeSendMsg
// (1047/34374, docs/protocol.md §4.6). MsgSeq and MsgTime are assigned only
// after it.
type BeforeSendMsg struct {
	// CallbackCommand is the command name.
	CallbackCommand string `json:"CallbackCommand"`
	// GroupID is the group.
	GroupID string `json:"GroupId"`
	// Type is the group type.
	Type string `json:"Type"`
	// FromAccount is the sender.
	FromAccount string `json:"From_Account"`
	// OperatorAccount initiated the request (differs from the sender for admin/REST sends).
	OperatorAccount string `json:"Operator_Account"`
	// Random is the message's 32-bit random number.
	Random uint32 `json:"Random"`
	// MsgID is the client-side unique message ID.
	MsgID string `json:"MsgId"`
	// OnlineOnlyFlag is 1 for an online-only message (always 0 in AVChatRoom).
	OnlineOnlyFlag int64 `json:"OnlineOnlyFlag"`
	// MsgBody is the message body.
	MsgBody message.Body `json:"MsgBody"`
	// CloudCustomData is the message's custom data.
	CloudCustomData string `json:"CloudCustomData"`
	// TopicID is the topic, for messages sent in a topic.
	TopicID string `json:"TopicId"`
	// EventTime is the event time in milliseconds.
	EventTime protocol.FlexInt `json:"EventTime"`
}

// AtInfo is one GroupAtInfo entry: an @-mention.
type AtInfo struct {
	// GroupAtAllFlag is 1 for @all, 0 for one member.
	GroupAtAllFlag int64 `json:"GroupAtAllFlag"`
	// GroupAtAccount is the member mentioned.
	GroupAtAccount string `json:"GroupAt_Account"`
}

// AfterSendMsg is the body of Group.CallbackAfterSendMsg (1047/34375,
// docs/protocol.md §4.6).
type AfterSendMsg struct {
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
	// Random is the message's 32-bit random number.
	Random uint32 `json:"Random"`
	// MsgSeq is the group message sequence, the ordering key within the group or topic.
	MsgSeq uint64 `json:"MsgSeq"`
	// MsgID is the client-side unique message ID.
	MsgID string `json:"MsgId"`
	// MsgTime is the send time in seconds.
	MsgTime protocol.FlexInt `json:"MsgTime"`
	// OnlineOnlyFlag is 1 for an online-only message.
	OnlineOnlyFlag int64 `json:"OnlineOnlyFlag"`
	// MsgBody is the message body (as modified by a before-callback).
	MsgBody message.Body `json:"MsgBody"`
	// CloudCustomData is the message's custom data.
	CloudCustomData string `json:"CloudCustomData"`
	// TopicID is the topic, for messages sent in a topic.
	TopicID string `json:"TopicId"`
	// EventTime is the event time in milliseconds.
	EventTime protocol.FlexInt `json:"EventTime"`
	// GroupAtInfo lists the @-mentions.
	GroupAtInfo []AtInfo `json:"GroupAtInfo"`
}

// DedupKey is the natural key of the message: GroupId, TopicId, MsgSeq and
// MsgTime. An app may dismiss a group (or delete a topic) and create it
// again under the same ID, whose messages count MsgSeq from 1 again: the
// send time tells the new group's message from the old one's of the same
// sequence, and a resend repeats it.
// protocol.JoinKey joins the fields, so an ID holding a '|' cannot make
// two events share a key.
func (p AfterSendMsg) DedupKey() string {
	return protocol.JoinKey(p.GroupID, p.TopicID, strconv.FormatUint(p.MsgSeq, 10), strconv.FormatInt(int64(p.MsgTime), 10))
}

// AfterGroupFull is the body of Group.CallbackAfterGroupFull (1047/34376,
// docs/protocol.md §4.6).
type AfterGroupFull struct {
	// CallbackCommand is the command name.
	CallbackCommand string `json:"CallbackCommand"`
	// GroupID is the group that reached its member limit.
	GroupID string `json:"GroupId"`
	// TopicID is the topic that reached its member limit, when a topic of a
	// community is concerned; empty for a group.
	TopicID string `json:"TopicId"`
	// EventTime is the event time in milliseconds.
	EventTime protocol.FlexInt `json:"EventTime"`
}

// AfterGroupDestroyed is the body of Group.CallbackAfterGroupDestroyed
// (1047/34377, docs/protocol.md §4.6).
type AfterGroupDestroyed struct {
	// CallbackCommand is the command name.
	CallbackCommand string `json:"CallbackCommand"`
	// GroupID is the dismissed group.
	GroupID string `json:"GroupId"`
	// Type is the group type.
	Type string `json:"Type"`
	// OwnerAccount owned the group.
	OwnerAccount string `json:"Owner_Account"`
	// Name is the group name.
	Name string `json:"Name"`
	// MemberList holds the members; omitted for Community groups.
	MemberList member.List `json:"MemberList"`
	// EventTime is the event time in milliseconds.
	EventTime protocol.FlexInt `json:"EventTime"`
}

// DedupKey is the natural key of the event: the group ID and EventTime,
// since a group ID an app chose can be dismissed again after a later
// creation (see AfterCreateGroup.DedupKey).
func (p AfterGroupDestroyed) DedupKey() string { return protocol.KeyAt(p.GroupID, p.EventTime) }

// AfterGroupInfoChanged is the body of Group.CallbackAfterGroupInfoChanged
// (1047/34378, docs/protocol.md §5.1). Only changed fields are sent: nil
// means unchanged, distinct from a value changed to "".
type AfterGroupInfoChanged struct {
	// CallbackCommand is the command name.
	CallbackCommand string `json:"CallbackCommand"`
	// GroupID is the group.
	GroupID string `json:"GroupId"`
	// Type is the group type.
	Type string `json:"Type"`
	// OperatorAccount made the change.
	OperatorAccount string `json:"Operator_Account"`
	// Name is the new name, when changed.
	Name *string `json:"Name"`
	// Introduction is the new introduction, when changed.
	Introduction *string `json:"Introduction"`
	// Notification is the new notification, when changed.
	Notification *string `json:"Notification"`
	// FaceURL is the new avatar URL, when changed.
	FaceURL *string `json:"FaceUrl"`
	// EventTime is the event time in milliseconds.
	EventTime protocol.FlexInt `json:"EventTime"`
}

// RecalledMsg is one MsgSeqList entry of a recall.
type RecalledMsg struct {
	// MsgSeq is the recalled message's sequence.
	MsgSeq uint64 `json:"MsgSeq"`
	// MsgID is its client-side ID.
	MsgID string `json:"MsgId"`
}

// AfterRecallMsg is the body of Group.CallbackAfterRecallMsg (1047/46979,
// docs/protocol.md §4.6).
type AfterRecallMsg struct {
	// CallbackCommand is the command name.
	CallbackCommand string `json:"CallbackCommand"`
	// OperatorAccount recalled the messages.
	OperatorAccount string `json:"Operator_Account"`
	// Type is the group type.
	Type string `json:"Type"`
	// GroupID is the group.
	GroupID string `json:"GroupId"`
	// MsgSeqList lists the recalled messages.
	MsgSeqList []RecalledMsg `json:"MsgSeqList"`
	// TopicID is the topic, for messages in a topic.
	TopicID string `json:"TopicId"`
	// EventTime is the event time in milliseconds.
	EventTime protocol.FlexInt `json:"EventTime"`
}

// DedupKey is the natural key of the recall: GroupId, TopicId, the
// recalled sequences and EventTime, since a group (or topic) created again
// under the ID of a dismissed one counts MsgSeq from 1 again (see
// AfterSendMsg.DedupKey); a payload without EventTime gets 0 there.
// protocol.JoinKey joins the fields, so an ID holding a '|' cannot make
// two events share a key.
func (p AfterRecallMsg) DedupKey() string {
	seqs := make([]string, len(p.MsgSeqList))
	for i, m := range p.MsgSeqList {
		seqs[i] = strconv.FormatUint(m.MsgSeq, 10)
	}
	return protocol.JoinKey(p.GroupID, p.TopicID, protocol.KeyList(seqs), strconv.FormatInt(int64(p.EventTime), 10))
}

// OnMemberStateChange is the body of Group.CallbackOnMemberStateChange
// (AVChatRoom member online state, 1047/48734).
type OnMemberStateChange struct {
	// CallbackCommand is the command name.
	CallbackCommand string `json:"CallbackCommand"`
	// GroupID is the audio-video group.
	GroupID string `json:"GroupId"`
	// EventType is "Offline" (disconnected) or "Online" (reconnected).
	EventType string `json:"EventType"`
	// EventCause is HeartbeatInterrupt, HeartbeatRecover, Join or Quit.
	EventCause string `json:"EventCause"`
	// MemberList holds the members concerned.
	MemberList member.List `json:"MemberList"`
	// EventTime is the event time in milliseconds.
	EventTime protocol.FlexInt `json:"EventTime"`
}

// SendMsgException is the body of Group.CallbackSendMsgException: a group
// message could not be delivered (1047/49462).
type SendMsgException struct {
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
	// Random is the message's 32-bit random number.
	Random uint32 `json:"Random"`
	// OnlineOnlyFlag is 1 for an online-only message.
	OnlineOnlyFlag int64 `json:"OnlineOnlyFlag"`
	// MsgBody is the message body.
	MsgBody message.Body `json:"MsgBody"`
	// CloudCustomData is the message's custom data.
	CloudCustomData string `json:"CloudCustomData"`
	// ErrorCode is the IM error code of the failure (part of the request, not the answer).
	ErrorCode int64 `json:"ErrorCode"`
	// ErrorInfo describes the failure.
	ErrorInfo string `json:"ErrorInfo"`
	// EventTime is the event time in milliseconds.
	EventTime protocol.FlexInt `json:"EventTime"`
}

// BeforeCreateTopic is the body of Group.CallbackBeforeCreateTopic
// (1047/49463). The documented sample names no group; GroupId is read
// when present.
type BeforeCreateTopic struct {
	// CallbackCommand is the command name.
	CallbackCommand string `json:"CallbackCommand"`
	// GroupID is the community, when IM sends it (not in the documented sample).
	GroupID string `json:"GroupId"`
	// OperatorAccount requested the topic.
	OperatorAccount string `json:"Operator_Account"`
	// Type is the group type, "Community".
	Type string `json:"Type"`
	// Name is the requested topic name.
	Name string `json:"Name"`
	// EventTime is the event time in milliseconds.
	EventTime protocol.FlexInt `json:"EventTime"`
}

// AfterCreateTopic is the body of Group.CallbackAfterCreateTopic
// (1047/49464, docs/protocol.md §5.2).
type AfterCreateTopic struct {
	// CallbackCommand is the command name.
	CallbackCommand string `json:"CallbackCommand"`
	// GroupID is the community the topic belongs to.
	GroupID string `json:"GroupId"`
	// TopicID is the new topic, "<GroupId>@TOPIC#_<suffix>" by convention.
	TopicID string `json:"TopicId"`
	// OperatorAccount created the topic.
	OperatorAccount string `json:"Operator_Account"`
	// OwnerAccount owns the group.
	OwnerAccount string `json:"Owner_Account"`
	// Type is the group type, "Community".
	Type string `json:"Type"`
	// Name is the topic name.
	Name string `json:"Name"`
	// UserDefinedDataList holds the topic's custom fields, when enabled.
	UserDefinedDataList customdata.List `json:"UserDefinedDataList"`
	// EventTime is the event time in milliseconds (absent from the documented sample).
	EventTime protocol.FlexInt `json:"EventTime"`
}

// DedupKey is the natural key of the event: the topic ID and EventTime.
// An app may choose its topic IDs and create a topic again under the ID of
// one it deleted (docs/protocol.md §5.2); the documented sample has no
// EventTime, and without one (0 in the key) a new creation of the ID cannot
// be told from a resend.
func (p AfterCreateTopic) DedupKey() string { return protocol.KeyAt(p.TopicID, p.EventTime) }

// AfterTopicDestroyed is the body of Group.CallbackAfterTopicDestroyed, the
// "topic deleted" callback (1047/49465, docs/protocol.md §5.2).
type AfterTopicDestroyed struct {
	// CallbackCommand is the command name.
	CallbackCommand string `json:"CallbackCommand"`
	// GroupID is the community the topics belonged to.
	GroupID string `json:"GroupId"`
	// Type is the group type, "Community".
	Type string `json:"Type"`
	// TopicIDList lists the deleted topics. The sample sends an array, the
	// field table says string: both are read, a string split at commas only
	// into parts that each look like a topic id (see protocol.FlexStrings).
	TopicIDList protocol.FlexStrings `json:"TopicIdList"`
	// EventTime is the event time in milliseconds (absent from the documented sample).
	EventTime protocol.FlexInt `json:"EventTime"`
}

// DedupKey is the natural key of the event: GroupId, the deleted topics
// and EventTime, each written with its length (see lengthPrefixed), since
// an app's own part of a topic id may hold any separator:
// "7:@TGS#_g|16:@TGS#_g@TOPIC#_a|13:1732600000000". EventTime is part of it
// because an app can delete a topic it created again under the same ID
// (docs/protocol.md §5.2); without one (0) a second deletion of the same
// IDs cannot be told from a resend.
func (p AfterTopicDestroyed) DedupKey() string {
	parts := make([]string, 0, len(p.TopicIDList)+2)
	parts = append(append(append(parts, p.GroupID), p.TopicIDList...), strconv.FormatInt(int64(p.EventTime), 10))
	return lengthPrefixed(parts)
}

// lengthPrefixed joins parts with '|', each written as its length in bytes,
// ':' and the part, so that two different lists never give the same key
// whatever their parts hold.
func lengthPrefixed(parts []string) string {
	var b strings.Builder
	for i, part := range parts {
		if i > 0 {
			b.WriteByte('|')
		}
		b.WriteString(strconv.Itoa(len(part)))
		b.WriteByte(':')
		b.WriteString(part)
	}
	return b.String()
}

// AfterTopicInfoChanged is the body of Group.CallbackAfterTopicInfoChanged
// (1047/49466, docs/protocol.md §5.2). Tencent's documented sample carries no
// TopicId; it is read when present. Absent fields are nil: unchanged.
type AfterTopicInfoChanged struct {
	// CallbackCommand is the command name.
	CallbackCommand string `json:"CallbackCommand"`
	// GroupID is the community.
	GroupID string `json:"GroupId"`
	// TopicID is the changed topic, when IM sends it (not in Tencent's documented sample).
	TopicID string `json:"TopicId"`
	// Type is the group type, "Community".
	Type string `json:"Type"`
	// OperatorAccount made the change.
	OperatorAccount string `json:"Operator_Account"`
	// Name is the new topic name, when changed.
	Name *string `json:"Name"`
	// Introduction is the new introduction, when changed.
	Introduction *string `json:"Introduction"`
	// Notification is the new notification, when changed.
	Notification *string `json:"Notification"`
	// FaceURL is the new avatar URL, when changed.
	FaceURL *string `json:"FaceUrl"`
	// EventTime is the event time in milliseconds (absent from the documented sample).
	EventTime protocol.FlexInt `json:"EventTime"`
}

// AfterMemberFieldChanged is the body of Group.CallbackAfterMemberFieldChanged:
// a member's role or name card changed (1047/60393).
type AfterMemberFieldChanged struct {
	// CallbackCommand is the command name.
	CallbackCommand string `json:"CallbackCommand"`
	// GroupID is the group.
	GroupID string `json:"GroupId"`
	// Type is the group type.
	Type string `json:"Type"`
	// OperatorAccount made the change.
	OperatorAccount string `json:"Operator_Account"`
	// MemberAccount is the member changed. "Modified_Account", the
	// Chinese page's spelling, is accepted too.
	MemberAccount string `json:"Member_Account"`
	// Role is the new role: "Admin" or "Member".
	Role string `json:"Role"`
	// NameCard is the new group name card.
	NameCard string `json:"NameCard"`
	// EventTime is the event time in milliseconds.
	EventTime protocol.FlexInt `json:"EventTime"`
}

// Attr is one group custom attribute; note the lower-case keys.
type Attr struct {
	// Key is the attribute name.
	Key string `json:"key"`
	// Value is its value.
	Value string `json:"value"`
}

// AfterGroupAttrChanged is the body of Group.CallbackAfterGroupAttrChanged
// (1047/60394).
type AfterGroupAttrChanged struct {
	// CallbackCommand is the command name.
	CallbackCommand string `json:"CallbackCommand"`
	// GroupID is the group.
	GroupID string `json:"GroupId"`
	// Type is the group type.
	Type string `json:"Type"`
	// OperatorAccount made the change.
	OperatorAccount string `json:"Operator_Account"`
	// OptionType is "set", "modify", "clear" or "delete".
	OptionType string `json:"OptionType"`
	// GroupAttr lists the attributes concerned.
	GroupAttr []Attr `json:"GroupAttr"`
	// EventTime is the event time in milliseconds.
	EventTime protocol.FlexInt `json:"EventTime"`
}

// MsgReceipt is one GroupMsgReceiptList entry.
type MsgReceipt struct {
	// MsgSeq is the message's sequence.
	MsgSeq uint64 `json:"MsgSeq"`
	// ReadNum counts the members who read it.
	ReadNum int64 `json:"ReadNum"`
	// UnreadNum counts the members who did not.
	UnreadNum int64 `json:"UnreadNum"`
	// ReadReceiptMembers lists the members who read it.
	ReadReceiptMembers member.List `json:"ReadReceiptMembers"`
}

// AfterReadReceipt is the body of Group.CallbackAfterReadReceipt (1047/60395).
type AfterReadReceipt struct {
	// CallbackCommand is the command name.
	CallbackCommand string `json:"CallbackCommand"`
	// GroupID is the group.
	GroupID string `json:"GroupId"`
	// Type is the group type (Community not supported).
	Type string `json:"Type"`
	// GroupMsgReceiptList holds the read receipts.
	GroupMsgReceiptList []MsgReceipt `json:"GroupMsgReceiptList"`
	// EventTime is the event time in milliseconds.
	EventTime protocol.FlexInt `json:"EventTime"`
}

// AfterChangeGroupOwner is the body of Group.CallbackAfterChangeGroupOwner
// (1047/60396).
type AfterChangeGroupOwner struct {
	// CallbackCommand is the command name.
	CallbackCommand string `json:"CallbackCommand"`
	// GroupID is the group.
	GroupID string `json:"GroupId"`
	// Type is the group type.
	Type string `json:"Type"`
	// OperatorAccount made the change.
	OperatorAccount string `json:"Operator_Account"`
	// OldOwnerAccount is the previous owner.
	OldOwnerAccount string `json:"OldOwner_Account"`
	// NewOwnerAccount is the new owner.
	NewOwnerAccount string `json:"NewOwner_Account"`
	// EventTime is the event time in milliseconds.
	EventTime protocol.FlexInt `json:"EventTime"`
}

// OnDailyGroupQuotaAlarm is the body of Group.CallbackOnDailyGroupQuotaAlarm:
// the daily net group creation passed 70 % of its limit (1047/57455).
type OnDailyGroupQuotaAlarm struct {
	// CallbackCommand is the command name.
	CallbackCommand string `json:"CallbackCommand"`
	// QuotaUsed is today's net number of groups created.
	QuotaUsed protocol.FlexInt `json:"QuotaUsed"`
	// Quota is the daily limit.
	Quota protocol.FlexInt `json:"Quota"`
	// EventTime is the event time in milliseconds.
	EventTime protocol.FlexInt `json:"EventTime"`
}

// AfterGroupMsgExtension is the body of Group.CallbackAfterGroupMsgExtension
// (trtc.io 76007).
type AfterGroupMsgExtension struct {
	// CallbackCommand is the command name.
	CallbackCommand string `json:"CallbackCommand"`
	// GroupID is the group.
	GroupID string `json:"GroupId"`
	// MsgSeq is the extended message's sequence.
	MsgSeq uint64 `json:"MsgSeq"`
	// OperateType is message.ExtensionSet, ExtensionDelete or ExtensionClear.
	OperateType int64 `json:"OperateType"`
	// ExtensionList lists the keys concerned.
	ExtensionList []message.Extension `json:"ExtensionList"`
	// Seq is the latest version of the whole extension set.
	Seq int64 `json:"Seq"`
	// EventTime is the event time in milliseconds.
	EventTime protocol.FlexInt `json:"EventTime"`
}

// DedupKey is the natural key of the change: GroupId, MsgSeq, the extension
// version Seq and EventTime, since a group created again under the ID of a
// dismissed one counts MsgSeq (and its messages' Seq) from 1 again (see
// AfterSendMsg.DedupKey).
// protocol.JoinKey joins the fields, so an ID holding a '|' cannot make
// two events share a key.
func (p AfterGroupMsgExtension) DedupKey() string {
	return protocol.JoinKey(p.GroupID, strconv.FormatUint(p.MsgSeq, 10), strconv.FormatInt(p.Seq, 10), strconv.FormatInt(int64(p.EventTime), 10))
}

// AfterModifyMsg is the body of Group.CallbackAfterModifyMsg: a group or
// topic message was edited (CN 269/129193). Tencent's page lists few
// fields; these mirror C2C.CallbackAfterModifyMsg and Group.CallbackAfterSendMsg,
// and Event.Raw holds the body as sent (docs/protocol.md §7).
type AfterModifyMsg struct {
	// CallbackCommand is the command name.
	CallbackCommand string `json:"CallbackCommand"`
	// GroupID is the group.
	GroupID string `json:"GroupId"`
	// Type is the group type.
	Type string `json:"Type"`
	// TopicID is the topic, for messages in a topic.
	TopicID string `json:"TopicId"`
	// OperatorAccount edited the message.
	OperatorAccount string `json:"Operator_Account"`
	// FromAccount sent the message.
	FromAccount string `json:"From_Account"`
	// MsgSeq is the edited message's sequence.
	MsgSeq uint64 `json:"MsgSeq"`
	// MsgTime is the message's send time in seconds.
	MsgTime protocol.FlexInt `json:"MsgTime"`
	// MsgBody is the new message body.
	MsgBody message.Body `json:"MsgBody"`
	// CloudCustomData is the new custom data.
	CloudCustomData string `json:"CloudCustomData"`
	// EventTime is the event time in milliseconds.
	EventTime protocol.FlexInt `json:"EventTime"`
}

// DedupKey is the natural key of the edit: GroupId, TopicId, MsgSeq and EventTime
// (a message can be edited more than once).
// protocol.JoinKey joins the fields, so an ID holding a '|' cannot make
// two events share a key.
func (p AfterModifyMsg) DedupKey() string {
	return protocol.JoinKey(p.GroupID, p.TopicID, strconv.FormatUint(p.MsgSeq, 10), strconv.FormatInt(int64(p.EventTime), 10))
}
