package imsend

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"

	"github.com/imcallback/imcallback/commands/catalogue"
	"github.com/imcallback/imcallback/internal/jsonnames"
	"github.com/imcallback/imcallback/internal/textcut"
	"github.com/imcallback/imcallback/protocol"
)

// Result is an answer read back.
type Result struct {
	// Command is the CallbackCommand the request was sent for: Dropped and
	// Denied read ErrorCode 2 by it, a silent drop on a message command
	// only, and Denied and IgnoredError a non-zero code, no deny on an
	// after-command.
	Command string
	// Status is the HTTP status.
	Status int
	// Header holds the response headers.
	Header http.Header
	// Envelope is the answer's ActionStatus, ErrorCode and ErrorInfo. In
	// a Result returned with an error of an answer that is no envelope,
	// its ActionStatus is never OK, so the Result reads as no allow, deny
	// or drop.
	Envelope protocol.Envelope
	// Reply holds the fields beyond the envelope (MsgBody, CloudCustomData …).
	Reply map[string]json.RawMessage
	// Body is the raw answer.
	Body []byte
}

// envelopeNames are the fields of IM's envelope, spelled as IM reads them.
var envelopeNames = []string{"ActionStatus", "ErrorCode", "ErrorInfo"}

// newResult reads an answer: an error, returned with the Result, when the
// body is not a JSON object with an ActionStatus of OK or FAIL and an
// integer ErrorCode (not null, not missing), spells an envelope name in
// another case (IM would not read it, and a case-insensitive decode
// would), or gives a name twice, at any depth (which value counts is the
// reader's choice).
func newResult(command string, status int, header http.Header, body []byte) (*Result, error) {
	r := &Result{Command: command, Status: status, Header: header, Body: body}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		return r, fmt.Errorf("imsend: answer (HTTP %d) is not a JSON object: %q", status, excerpt(body))
	}
	// Go keeps the last value of a name given twice, another reader (IM's,
	// perhaps) the first: {"ErrorCode":120001,…,"ErrorCode":0} would read
	// as an allow here and may be a deny there. The gateway refuses such an
	// answer from a destination as not the envelope; so does this.
	if name, twice := jsonnames.Repeated(body, false); twice {
		return r, fmt.Errorf("imsend: answer (HTTP %d) is not an envelope IM reads: it names %q twice, "+
			"which one reader takes the first of and another the last: %q", status, textcut.Cut(name, maxExcerpt), excerpt(body))
	}
	// IM reads the envelope's names as spelled, and so does the decode
	// below only when no other spelling is there to be taken instead.
	for k := range fields {
		for _, name := range envelopeNames {
			if k != name && strings.EqualFold(k, name) {
				return r, fmt.Errorf("imsend: answer (HTTP %d) is not an envelope IM reads: %q is not %s, the envelope's names are case-sensitive: %q",
					status, k, name, excerpt(body))
			}
		}
	}
	if err := json.Unmarshal(body, &r.Envelope); err != nil {
		// The decode stopped at a field of the wrong type ("ErrorCode":"1")
		// with the fields before it set: an ActionStatus OK read there
		// would make this Result, returned with its error, an allow.
		r.Envelope = protocol.Envelope{}
		return r, fmt.Errorf("imsend: answer (HTTP %d) is not an envelope (%v): %q", status, err, excerpt(body))
	}
	// JSON null decodes into both without an error, and an object without
	// ActionStatus (a gateway's {"message":"Not Found"}) into a zero
	// Envelope: neither is an answer IM would read, and a Result of either
	// would read as nothing at all (not OK, not rejected on HTTP 200).
	if _, has := fields["ActionStatus"]; !has {
		return r, fmt.Errorf("imsend: answer (HTTP %d) is not an envelope, it has no ActionStatus: %q", status, excerpt(body))
	}
	if s := r.Envelope.ActionStatus; s != protocol.StatusOK && s != protocol.StatusFail {
		return r, fmt.Errorf("imsend: answer (HTTP %d) is not an envelope, its ActionStatus %q is neither %s nor %s: %q",
			status, s, protocol.StatusOK, protocol.StatusFail, excerpt(body))
	}
	// IM's envelope requires ErrorCode, an integer (docs/protocol.md §3.1).
	// The decode above reads a null one, as a missing one, as 0: an allow,
	// where the gateway (forward) refuses a destination's null code as no
	// code. Any other value that is no integer failed the decode.
	if raw, has := fields["ErrorCode"]; !has || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		r.Envelope = protocol.Envelope{} // not an allow: see the decode's error above
		what := "it has no ErrorCode"
		if has {
			what = "its ErrorCode is null, not an integer"
		}
		return r, fmt.Errorf("imsend: answer (HTTP %d) is not an envelope, %s: %q", status, what, excerpt(body))
	}
	delete(fields, "ActionStatus")
	delete(fields, "ErrorCode")
	delete(fields, "ErrorInfo")
	if len(fields) > 0 {
		r.Reply = fields
	}
	return r, nil
}

// maxExcerpt bounds how much of an answer an error quotes: enough to tell a
// proxy's page, and a load run keeps one such error (LoadReport.FirstError).
const maxExcerpt = 512

// excerpt is the start of body, marked when cut: at most maxExcerpt bytes,
// cut before a character that would not fit whole, so a valid UTF-8 answer
// gives a valid UTF-8 excerpt.
func excerpt(body []byte) string {
	return textcut.Cut(string(body[:min(len(body), maxExcerpt+1)]), maxExcerpt) // no copy of a long body
}

// OK reports an HTTP 200 answer with ActionStatus OK.
func (r *Result) OK() bool {
	return r.Status == http.StatusOK && r.Envelope.ActionStatus == protocol.StatusOK
}

// Allowed reports a before-answer that lets the action proceed (ErrorCode 0), modified or not.
func (r *Result) Allowed() bool { return r.OK() && r.Envelope.ErrorCode == 0 }

// Modified reports an allow that carries reply fields. Some commands'
// answers carry them whatever the handler answered: the service sends
// Sns.CallbackPrevFriendAdd's and Sns.CallbackPrevFriendResponse's
// per-target ResultItem and Chatbot.OnC2CSignalMessage's RspData with a
// plain Allow too, as their pages require. For those, Modified does not
// tell a Modify from an Allow: read the fields (ReplyField) instead.
func (r *Result) Modified() bool { return r.Allowed() && len(r.Reply) > 0 }

// Dropped reports a silent drop: ErrorCode 2 on a command that takes one,
// a message command (C2C.CallbackBeforeSendMsg,
// Group.CallbackBeforeSendMsg, OfficialAccount.CallbackBeforeSendMsg;
// the catalogue's drop column, docs/protocol.md §3.2). On any other
// command IM drops nothing for it: it is a deny there (Denied).
func (r *Result) Dropped() bool {
	return r.OK() && r.Envelope.ErrorCode == 2 && canDrop(r.Command)
}

// canDrop reports whether command takes a silent drop (ErrorCode 2).
func canDrop(command string) bool {
	e, ok := catalogue.Lookup(command)
	return ok && e.CanDrop
}

// Denied reports a deny and its code: 1, or a custom code passed to the
// client, or 2 on a command that takes no drop (the service sends a drop
// there as a plain deny). An after-command's answer denies nothing,
// whatever its code, as IM ignores it: IgnoredError reports that code.
func (r *Result) Denied() (code int, denied bool) {
	if !r.OK() || r.Envelope.ErrorCode == 0 || r.Dropped() || isAfter(r.Command) {
		return 0, false
	}
	return r.Envelope.ErrorCode, true
}

// IgnoredError reports an after-command's answer (HTTP 200, ActionStatus
// OK) with a non-zero ErrorCode, and the code: a handler's error, or a
// deny or drop answered for it, which IM ignores, as it ignores every
// after-callback's answer, so it refuses nothing (Denied is false for it).
// A command the catalogue lacks is not known to be an after-command: its
// code reads as a deny.
func (r *Result) IgnoredError() (code int, ignored bool) {
	if !r.OK() || r.Envelope.ErrorCode == 0 || !isAfter(r.Command) {
		return 0, false
	}
	return r.Envelope.ErrorCode, true
}

// isAfter reports whether command is an after-command of the catalogue,
// whose answer IM ignores.
func isAfter(command string) bool {
	e, ok := catalogue.Lookup(command)
	return ok && e.Kind() == catalogue.After
}

// Rejected reports a request the service refused (any HTTP status but 200:
// IM counts every other as a failed callback) with the project's error
// code.
func (r *Result) Rejected() (status, code int, rejected bool) {
	if r.Status == http.StatusOK {
		return 0, 0, false
	}
	return r.Status, r.Envelope.ErrorCode, true
}

// Is reports whether the answer is the rejection e (status and code).
func (r *Result) Is(e *protocol.Error) bool {
	return r.Status == e.Status && r.Envelope.ErrorCode == e.Code && r.Envelope.ActionStatus == protocol.StatusFail
}

// ReplyField decodes one reply field into v. Its error names the field:
// one the answer lacks, with the reply fields it has, or one that does not
// decode into v, quoting it (its start, as sent).
func (r *Result) ReplyField(name string, v any) error {
	raw, ok := r.Reply[name]
	if !ok {
		has := "none"
		if len(r.Reply) > 0 {
			has = textcut.Cut(strings.Join(slices.Sorted(maps.Keys(r.Reply)), ", "), maxExcerpt)
		}
		return fmt.Errorf("imsend: answer has no %s (its reply fields: %s)", name, has)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return fmt.Errorf("imsend: reply field %s is %s: %w", name, excerpt(raw), err)
	}
	return nil
}
