// Package state holds the typed payload and command descriptor of
// State.StateChange, the online-status callback (docs/protocol.md §4.2, §1.2).
package state

import (
	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/protocol"
)

// CommandStateChange is the CallbackCommand of the status callback.
const CommandStateChange = "State.StateChange"

// StateChangeCommand is the typed descriptor of State.StateChange.
var StateChangeCommand = dispatcher.NewAfterCommand[StateChange](CommandStateChange)

// Action values of Info.Action.
const (
	ActionLogin              = "Login"
	ActionLogout             = "Logout"
	ActionDisconnect         = "Disconnect"
	ActionCustomStatusChange = "CustomStatusChange"
)

// Platform is a platform name as IM sends it; IM is inconsistent about
// casing (IOS/iOS, Mac/macOS), so the raw string is kept.
type Platform string

// Normalized returns the platform in one spelling per platform (see
// protocol.NormalizePlatform): "IOS" becomes "iOS", "macOS" becomes "Mac".
func (p Platform) Normalized() string { return protocol.NormalizePlatform(string(p)) }

// Info says whose state changed and how.
type Info struct {
	// Action is Login, Logout, Disconnect or CustomStatusChange.
	Action string `json:"Action"`
	// ToAccount is the user whose state changed.
	ToAccount string `json:"To_Account"`
	// Reason is Register, Unregister, LinkClose, TimeOut or SetCustomStatus.
	Reason string `json:"Reason"`
	// CustomStatus is the new custom status, when sent inside Info (Tencent's
	// pages place it either here or at top level).
	CustomStatus string `json:"CustomStatus"`
}

// KickedDevice is a device logged out by a new login.
type KickedDevice struct {
	// Platform is the kicked device's platform (iOS, Android, Web, Windows, iPad, Mac, Linux).
	Platform Platform `json:"Platform"`
}

// StateChange is the body of State.StateChange. Remember: this command's
// OptPlatform query parameter says "IOS" (upper case).
type StateChange struct {
	// CallbackCommand is the command name.
	CallbackCommand string `json:"CallbackCommand"`
	// EventTime is the event time in milliseconds.
	EventTime protocol.FlexInt `json:"EventTime"`
	// Info describes the change.
	Info Info `json:"Info"`
	// CustomStatus is the new custom status, when sent at top level (Tencent's
	// pages place it either here or inside Info).
	CustomStatus string `json:"CustomStatus"`
	// KickedDevice lists the devices a Login kicked off.
	KickedDevice []KickedDevice `json:"KickedDevice"`
}

// Status returns the custom status wherever IM put it.
func (p StateChange) Status() string {
	if p.Info.CustomStatus != "" {
		return p.Info.CustomStatus
	}
	return p.CustomStatus
}
