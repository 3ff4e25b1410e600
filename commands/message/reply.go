package message

// SendMsgReply holds the answer fields a before-send callback may return
// to rewrite the message (C2C, group and official-account messages,
// docs/protocol.md §3.4). Unset fields are left out: the message keeps them.
type SendMsgReply struct {
	// MsgBody replaces the message body.
	MsgBody Body `json:"MsgBody,omitempty"`
	// CloudCustomData replaces the message's custom data; nil keeps it.
	CloudCustomData *string `json:"CloudCustomData,omitempty"`
}

// Extension is one message-extension key/value entry of the
// *MsgExtension callbacks.
type Extension struct {
	// Key is the extension key.
	Key string `json:"Key"`
	// Value is the new value; empty when the key was deleted.
	Value string `json:"Value"`
	// Seq is the version number of this key.
	Seq int64 `json:"Seq"`
}

// OperateType values of the *MsgExtension callbacks.
const (
	ExtensionSet    = 1
	ExtensionDelete = 2
	ExtensionClear  = 3
)
