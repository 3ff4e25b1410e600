// Package push holds the typed payloads and command descriptors of the
// batched push-result callbacks Push.OfflinePush and Push.AllMemberPush
// (docs/protocol.md §4.10, §6). One request carries 1 to 100 events; one answer
// acknowledges the whole batch. Times inside the events are in seconds.
package push

import (
	"strconv"

	gojson "github.com/goccy/go-json"

	"github.com/imcallback/imcallback/commands/group"
	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/protocol"
)

// MaxEvents is the documented maximum number of events in one batch.
const MaxEvents = 100

// Typed command descriptors; the handler receives the whole batch.
var (
	OfflinePushCommand   = dispatcher.NewAfterCommand[OfflinePush]("Push.OfflinePush")
	AllMemberPushCommand = dispatcher.NewAfterCommand[AllMemberPush]("Push.AllMemberPush")
)

// PushPlatform values.
const (
	PlatformUnknown = 0
	PlatformAPNs    = 1
	PlatformXiaomi  = 2
	PlatformHuawei  = 3
	PlatformFCM     = 4
	PlatformMeizu   = 5
	PlatformOPPO    = 6
	PlatformVivo    = 7
	PlatformHonor   = 8
)

// PushStage values.
const (
	StageSent      = 1
	StageDelivered = 2
	StageClicked   = 3
)

// OfflinePush is the body of Push.OfflinePush: {"Events":[…]}.
type OfflinePush struct {
	// Events holds 1 to MaxEvents push results.
	Events []OfflinePushEvent `json:"Events"`
}

// DedupKeys returns one natural key per event (PushID, To_Account,
// PushPlatform, PushStage).
func (p OfflinePush) DedupKeys() []string {
	keys := make([]string, len(p.Events))
	for i, e := range p.Events {
		keys[i] = e.DedupKey()
	}
	return keys
}

// OfflinePushEvent is the result of one offline push of a C2C or group message.
type OfflinePushEvent struct {
	// CallbackCommand repeats the command name in every event.
	CallbackCommand string `json:"CallbackCommand"`
	// EventType is 1 for a C2C message, 2 for a group message.
	EventType protocol.FlexInt `json:"EventType"`
	// EventTime is the event time in seconds.
	EventTime protocol.FlexInt `json:"EventTime"`
	// FromAccount sent the message.
	FromAccount string `json:"From_Account"`
	// ToAccount received the push.
	ToAccount string `json:"To_Account"`
	// PushPlatform is the vendor channel (PlatformAPNs …).
	PushPlatform protocol.FlexInt `json:"PushPlatform"`
	// PushStage is StageSent, StageDelivered or StageClicked.
	PushStage protocol.FlexInt `json:"PushStage"`
	// MsgKey identifies a C2C message (C2C only).
	MsgKey string `json:"MsgKey"`
	// GroupID is the group of a group message. Push events spell the key
	// "GroupID"; "GroupId" is accepted too.
	GroupID string `json:"GroupID"`
	// MsgSeq is the message sequence.
	MsgSeq protocol.FlexInt `json:"MsgSeq"`
	// MsgRandom is the message random number (empty for groups).
	MsgRandom protocol.FlexInt `json:"MsgRandom"`
	// MsgTime is the message's send time in seconds.
	MsgTime protocol.FlexInt `json:"MsgTime"`
	// PushID identifies the push.
	PushID string `json:"PushID"`
	// ErrCode is 0 on success.
	ErrCode protocol.FlexInt `json:"ErrCode"`
	// ErrInfo describes the result.
	ErrInfo string `json:"ErrInfo"`
}

// UnmarshalJSON decodes the event, accepting "GroupId" for "GroupID".
func (e *OfflinePushEvent) UnmarshalJSON(b []byte) error {
	type plain OfflinePushEvent
	aux := struct {
		*plain
		// GroupIDMixed catches the "GroupId" spelling.
		GroupIDMixed string `json:"GroupId"`
	}{plain: (*plain)(e)}
	if err := gojson.Unmarshal(b, &aux); err != nil {
		return err
	}
	e.GroupID = group.MergeID(e.GroupID, aux.GroupIDMixed)
	return nil
}

// DedupKey is the natural key of the event: PushID, To_Account,
// PushPlatform and PushStage. The vendor channel is part of it because the
// event names no device: a user's devices on two vendors may each report a
// result of the same push.
func (e OfflinePushEvent) DedupKey() string {
	return protocol.JoinKey(e.PushID, e.ToAccount, strconv.FormatInt(int64(e.PushPlatform), 10),
		strconv.FormatInt(int64(e.PushStage), 10))
}

// AllMemberPush is the body of Push.AllMemberPush: {"Events":[…]}.
type AllMemberPush struct {
	// Events holds 1 to MaxEvents push results.
	Events []AllMemberPushEvent `json:"Events"`
}

// DedupKeys returns one natural key per event (TaskId, To_Account,
// EventType, PushPlatform, PushStage).
func (p AllMemberPush) DedupKeys() []string {
	keys := make([]string, len(p.Events))
	for i, e := range p.Events {
		keys[i] = e.DedupKey()
	}
	return keys
}

// AllMemberPushEvent is the result of one push of an all-user, tag or
// single-user push task.
type AllMemberPushEvent struct {
	// CallbackCommand repeats the command name in every event.
	CallbackCommand string `json:"CallbackCommand"`
	// EventType is 1 for an offline push, 2 for an online push.
	EventType protocol.FlexInt `json:"EventType"`
	// TaskID identifies the push task.
	TaskID string `json:"TaskId"`
	// TaskTime is when the task was created, in seconds.
	TaskTime protocol.FlexInt `json:"TaskTime"`
	// EventTime is the event time in seconds.
	EventTime protocol.FlexInt `json:"EventTime"`
	// ToAccount received the push.
	ToAccount string `json:"To_Account"`
	// PushPlatform is the vendor channel (PlatformAPNs …).
	PushPlatform protocol.FlexInt `json:"PushPlatform"`
	// PushStage is StageSent, StageDelivered or StageClicked.
	PushStage protocol.FlexInt `json:"PushStage"`
	// ErrCode is 0 on success.
	ErrCode protocol.FlexInt `json:"ErrCode"`
	// ErrInfo describes the result.
	ErrInfo string `json:"ErrInfo"`
}

// DedupKey is the natural key of the event: TaskId, To_Account,
// EventType, PushPlatform and PushStage. One task can reach one user both
// as an online push (EventType 2) and as offline pushes through the vendor
// channel of each of the user's devices, and these results carry no push
// ID of their own: without EventType and PushPlatform they would share a key.
func (e AllMemberPushEvent) DedupKey() string {
	return protocol.JoinKey(e.TaskID, e.ToAccount, strconv.FormatInt(int64(e.EventType), 10),
		strconv.FormatInt(int64(e.PushPlatform), 10), strconv.FormatInt(int64(e.PushStage), 10))
}
