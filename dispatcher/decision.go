package dispatcher

// Decision is a before-handler's answer. Build one with Allow, Deny, Drop,
// DenyWithCode or Modify.
type Decision struct {
	// Code is the envelope's ErrorCode: 0 allow, 1 deny, 2 silent drop, or a
	// custom deny code inside the command's allowed range.
	Code int
	// Info is the envelope's ErrorInfo, shown to the client on a custom deny.
	Info string
	// Reply holds extra answer fields (MsgBody, CloudCustomData,
	// RefusedMembers_Account, ResultItem, RspData …). It must marshal to a
	// JSON object; it is sent only with Code 0.
	Reply any
}

// Documented ErrorCode values of before-callbacks (docs/protocol.md §3.2).
const (
	CodeAllow = 0
	CodeDeny  = 1
	CodeDrop  = 2
)

// Allow lets the action proceed unchanged.
func Allow() Decision { return Decision{Code: CodeAllow} }

// Deny refuses the action; IM returns its fixed error to the caller.
func Deny(info string) Decision { return Decision{Code: CodeDeny, Info: info} }

// Drop silently discards a message: the sender is told it succeeded.
// Only message commands support it; elsewhere it is sent as Deny.
func Drop() Decision { return Decision{Code: CodeDrop} }

// DenyWithCode refuses the action and passes code and info through to the
// client. The code must be inside the command's allowed range; outside it
// the dispatcher logs the mistake and sends a plain Deny.
func DenyWithCode(code int, info string) Decision { return Decision{Code: code, Info: info} }

// Modify lets the action proceed with the reply fields applied.
func Modify(reply any) Decision { return Decision{Code: CodeAllow, Reply: reply} }

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
