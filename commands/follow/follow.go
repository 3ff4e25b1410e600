// Package follow holds the typed payloads and command descriptors of the
// Follow.* callbacks (docs/protocol.md §4.4).
package follow

import (
	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/protocol"
)

// Typed command descriptors.
var (
	AfterFollowAddCommand    = dispatcher.NewAfterCommand[AfterFollowAdd]("Follow.CallbackAfterFollowAdd")
	AfterFollowDeleteCommand = dispatcher.NewAfterCommand[AfterFollowDelete]("Follow.CallbackAfterFollowDelete")
)

// Target is one FollowList entry.
type Target struct {
	// ToAccount is the user followed.
	ToAccount string `json:"To_Account"`
}

// AfterFollowAdd is the body of Follow.CallbackAfterFollowAdd (1047/70355,
// docs/protocol.md §4.4).
type AfterFollowAdd struct {
	// CallbackCommand is the command name.
	CallbackCommand string `json:"CallbackCommand"`
	// FromAccount followed.
	FromAccount string `json:"From_Account"`
	// FollowList lists the users followed.
	FollowList []Target `json:"FollowList"`
	// EventTime is the event time in milliseconds.
	EventTime protocol.FlexInt `json:"EventTime"`
}

// AfterFollowDelete is the body of Follow.CallbackAfterFollowDelete (1047/70356).
type AfterFollowDelete struct {
	// CallbackCommand is the command name.
	CallbackCommand string `json:"CallbackCommand"`
	// FromAccount unfollowed.
	FromAccount string `json:"From_Account"`
	// ToAccount lists the users unfollowed (an array, unlike elsewhere).
	ToAccount []string `json:"To_Account"`
	// EventTime is the event time in milliseconds.
	EventTime protocol.FlexInt `json:"EventTime"`
}
