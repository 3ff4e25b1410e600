// Package content holds the typed payload and command descriptor of
// ContentCallback.ResultNotify, the cloud moderation result (docs/protocol.md §4.7).
package content

import (
	"encoding/json"

	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/protocol"
)

// CommandResultNotify is the CallbackCommand of the moderation result.
const CommandResultNotify = "ContentCallback.ResultNotify"

// ResultNotifyCommand is the typed descriptor of ContentCallback.ResultNotify.
var ResultNotifyCommand = dispatcher.NewAfterCommand[ResultNotify](CommandResultNotify)

// Contact is the conversation the moderated content belongs to.
type Contact struct {
	// ContactType is 1 for C2C, 2 for a group.
	ContactType int64 `json:"ContactType"`
	// ToAccount is the peer of a C2C conversation.
	ToAccount string `json:"To_Account"`
	// ToGroupID is the group of a group conversation.
	ToGroupID string `json:"ToGroupId"`
}

// ResultNotify is the body of ContentCallback.ResultNotify (CN 269/95616,
// docs/protocol.md §4.7). By default only violating results are sent. Fields
// whose type the docs leave unclear are kept as raw JSON.
type ResultNotify struct {
	// CallbackCommand is the command name.
	CallbackCommand string `json:"CallbackCommand"`
	// SdkAppID is the application as the body names it (note the capital
	// I). Nothing verifies it: the verified app is Event.AppID, from the
	// signed URL; choose per-app clients or data by that, never by this.
	SdkAppID protocol.FlexInt `json:"SdkAppId"`
	// Scene is C2C, C2CCustom, Group, GroupCustom, GroupInfo, GroupMemberInfo, RelationChain or UserInfo.
	Scene string `json:"Scene"`
	// FromAccount produced the content.
	FromAccount string `json:"From_Account"`
	// ContactItem is the conversation.
	ContactItem Contact `json:"ContactItem"`
	// ContentType is the kind of content moderated.
	ContentType string `json:"ContentType"`
	// TextContent is the moderated text, as received.
	TextContent json.RawMessage `json:"TextContent"`
	// FileURL is the moderated file when ContentType is Image, Audio or Video.
	FileURL string `json:"FileURL"`
	// MsgID identifies the message, for message scenes; for group scenes it
	// is the message's MsgSeq, which may arrive as a bare number.
	MsgID protocol.FlexString `json:"MsgID"`
	// CtxcbResult is the moderation verdict, as received.
	CtxcbResult json.RawMessage `json:"CtxcbResult"`
	// CtxcbRequestID identifies the moderation request.
	CtxcbRequestID string `json:"CtxcbRequestId"`
	// CtxcbKeywords lists the keywords hit.
	CtxcbKeywords []string `json:"CtxcbKeywords"`
	// CtxcbSuggestion is the suggested action.
	CtxcbSuggestion string `json:"CtxcbSuggestion"`
	// CtxcbLabel is the violation category.
	CtxcbLabel string `json:"CtxcbLabel"`
	// CtxcbSubLabel is the violation sub-category.
	CtxcbSubLabel string `json:"CtxcbSubLabel"`
	// CtxcbSubLabelDesc describes the sub-category.
	CtxcbSubLabelDesc string `json:"CtxcbSubLabelDesc"`
	// CtxcbLibName is the keyword library hit.
	CtxcbLibName string `json:"CtxcbLibName"`
	// CloudCustomData is the message's custom data.
	CloudCustomData string `json:"CloudCustomData"`
}

// DedupKey is the natural key of the result: the moderation request ID.
func (p ResultNotify) DedupKey() string { return p.CtxcbRequestID }
