package dispatcher

import "fmt"

// CodeRange is an inclusive range of custom deny codes.
type CodeRange struct {
	Min, Max int // the lowest and the highest code; Min 0 makes the range empty
}

// Contains reports whether code is inside the range.
func (r CodeRange) Contains(code int) bool { return r.Min != 0 && code >= r.Min && code <= r.Max }

// String writes the range as the documentation does, "10100–10200", or
// "none" for the empty range.
func (r CodeRange) String() string {
	if r.Min == 0 {
		return "none"
	}
	return fmt.Sprintf("%d–%d", r.Min, r.Max)
}

// sentDeny is the error of a decision the rule does not accept and turned
// into a plain deny: why, then what was sent. New reads why alone, for a
// fallback that is checked at start and sent nowhere.
type sentDeny struct{ why string }

func (e sentDeny) Error() string { return e.why + "; sent deny" }

// Rule says which answers IM accepts from one before-command.
type Rule struct {
	// DenyCodes is the custom deny-code range; the zero value allows none.
	DenyCodes CodeRange
	// CanDrop is true for message commands, which accept ErrorCode 2.
	CanDrop bool
	// PerTarget, when set, marks a command whose top-level ErrorCode IM
	// ignores by default: it decides per target in the reply fields
	// (Sns.CallbackPrevFriendAdd and Sns.CallbackPrevFriendResponse). A
	// deny, the handler's or the fallback's, is then also sent as the
	// refusal of every target, so that it refuses.
	PerTarget *PerTarget
	// RequiredReply, when set, is the reply fields sent with every answer
	// that carries none: a command whose page makes its reply fields
	// required (Chatbot.OnC2CSignalMessage's RspData) gets them with an
	// allow without Modify, a deny and the fallback alike. It must marshal
	// to a JSON object.
	RequiredReply any
}

// PerTarget turns a deny into reply fields that refuse every target, and
// checks the per-target decisions of a reply.
type PerTarget struct {
	// Deny returns the reply fields refusing every target named in body
	// with code (inside the rule's DenyCodes) and info.
	Deny func(body []byte, code int, info string) (reply any, err error)
	// Check, when set, returns reply with every per-target decision IM
	// would not accept made acceptable, and an error saying what changed.
	Check func(reply any) (any, error)
	// Allow, when set, returns the reply fields of an allow: reply (the
	// handler's, nil when it gave none) when it already decides per
	// target, else the allowance of every target named in body, since the
	// command's page makes the per-target list required.
	Allow func(body []byte, reply any) (any, error)
}

// Rules maps each known before-command to its rule; the command catalogue
// (commands/catalogue) provides them. A command without a rule accepts
// allow, deny and modify only, and a command with one is a before-command:
// registering an after-handler for it is refused.
type Rules map[string]Rule

// check returns the decision IM will accept, and a non-nil error describing
// what was changed when the handler's decision was not acceptable.
func (r Rule) check(d Decision) (Decision, error) {
	switch {
	case d.refusal && (d.Code == CodeAllow || d.Code == CodeDrop):
		codes := "1"
		if r.DenyCodes.Min != 0 {
			codes = fmt.Sprintf("1 or in %v", r.DenyCodes)
		}
		return Decision{Code: CodeDeny, Info: d.Info}, sentDeny{fmt.Sprintf("DenyWithCode(%d) is no refusal code (a deny code is %s)", d.Code, codes)}
	case d.Code == CodeAllow || d.Code == CodeDeny:
	case d.Code == CodeDrop && r.CanDrop:
	case d.Code == CodeDrop:
		return Decision{Code: CodeDeny, Info: d.Info}, sentDeny{"silent drop (2) is not supported by this command"}
	case r.DenyCodes.Contains(d.Code):
	case r.DenyCodes.Min == 0:
		// A command the catalogue lacks has no rule, so no range either.
		return Decision{Code: CodeDeny, Info: d.Info}, sentDeny{fmt.Sprintf(
			"deny code %d: the command takes no custom deny code (the catalogue documents none for it), only Deny (1)", d.Code)}
	default:
		return Decision{Code: CodeDeny, Info: d.Info}, sentDeny{fmt.Sprintf("deny code %d is outside the allowed range %v", d.Code, r.DenyCodes)}
	}
	if d.Reply != nil && d.Code != CodeAllow {
		return Decision{Code: d.Code, Info: d.Info}, fmt.Errorf("reply fields are only sent with allow (0); dropped them")
	}
	if d.Reply != nil && r.PerTarget != nil && r.PerTarget.Check != nil {
		reply, err := r.PerTarget.Check(d.Reply)
		d.Reply = reply
		return d, err
	}
	return d, nil
}
