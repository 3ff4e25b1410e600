// Package profile holds the typed payload and command descriptor of
// Profile.CallbackPortraitSet, the profile-updated callback (docs/protocol.md §4.3).
package profile

import (
	"encoding/json"

	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/protocol"
)

// CommandPortraitSet is the CallbackCommand of the profile callback.
const CommandPortraitSet = "Profile.CallbackPortraitSet"

// PortraitSetCommand is the typed descriptor of Profile.CallbackPortraitSet.
var PortraitSetCommand = dispatcher.NewAfterCommand[PortraitSet](CommandPortraitSet)

// Item is one updated profile field.
type Item struct {
	// Tag names the field, e.g. "Tag_Profile_IM_Nick" or a Tag_Profile_Custom_* field.
	Tag string `json:"Tag"`
	// Value is the new value as received: a string or a number depending on the tag.
	Value json.RawMessage `json:"Value"`
}

// PortraitSet is the body of Profile.CallbackPortraitSet (1047/48733).
type PortraitSet struct {
	// CallbackCommand is the command name.
	CallbackCommand string `json:"CallbackCommand"`
	// OperatorAccount made the update.
	OperatorAccount string `json:"Operator_Account"`
	// FromAccount is the user whose profile changed.
	FromAccount string `json:"From_Account"`
	// ProfileItem lists the fields updated.
	ProfileItem []Item `json:"ProfileItem"`
	// EventTime is the event time in milliseconds.
	EventTime protocol.FlexInt `json:"EventTime"`
}
