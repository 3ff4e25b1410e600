// Package alert holds the typed payload and command descriptor of
// Alert.RequestOverLimit, the REST rate alert (docs/protocol.md §4.1).
package alert

import (
	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/protocol"
)

// CommandRequestOverLimit is the CallbackCommand of the rate alert.
const CommandRequestOverLimit = "Alert.RequestOverLimit"

// RequestOverLimitCommand is the typed descriptor of Alert.RequestOverLimit.
var RequestOverLimitCommand = dispatcher.NewAfterCommand[RequestOverLimit](CommandRequestOverLimit)

// RequestOverLimit is the body of Alert.RequestOverLimit: a REST API is
// called above 80 % of its rate limit (trtc.io 60256). No EventTime.
type RequestOverLimit struct {
	// CallbackCommand is the command name.
	CallbackCommand string `json:"CallbackCommand"`
	// ServiceName is the REST service, e.g. "openim".
	ServiceName string `json:"ServiceName"`
	// Command is the REST command, e.g. "sendmsg".
	Command string `json:"Command"`
	// Request is the current rate (requests per second).
	Request protocol.FlexInt `json:"Request"`
	// Limit is the configured limit (requests per second).
	Limit protocol.FlexInt `json:"Limit"`
}
