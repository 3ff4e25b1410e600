package dispatcher

// Decision is a before-handler's answer as the dispatcher checks and sends
// it. Handlers do not build one: they answer with the verbs of their
// command's descriptor (Allow, Deny, DenyWithCode, Drop, Modify), whose
// typed Reply converts to a Decision.
type Decision struct {
	// Code is the envelope's ErrorCode: 0 allow, 1 deny, 2 silent drop, or a
	// custom deny code inside the command's allowed range.
	Code int
	// Info is the envelope's ErrorInfo, shown to the client on a custom deny.
	Info string
	// Reply holds extra answer fields (MsgBody, CloudCustomData,
	// RefusedMembers_Account, ResultItem, RspData …). It must marshal to a
	// JSON object; it is sent only with Code 0, except the refusal of every
	// target that a Rule's PerTarget adds to a deny and a Rule's
	// RequiredReply, which every answer without fields gets.
	Reply any

	// refusal marks a decision built as a deny (DenyWithCode): whatever its
	// code, it refuses.
	refusal bool
}

// Documented ErrorCode values of before-callbacks (docs/protocol.md §3.2).
const (
	CodeAllow = 0
	CodeDeny  = 1
	CodeDrop  = 2
)

// Outcome names the decision for metrics and logs.
func (d Decision) Outcome() string {
	switch {
	case d.Code == CodeAllow && d.Reply != nil:
		return "modify"
	case d.Code == CodeAllow:
		return "allow"
	case d.Code == CodeDrop:
		return "drop"
	}
	return "deny"
}
