package forward

import (
	"strings"
	"testing"

	"github.com/imcallback/imcallback/commands/catalogue"
	"github.com/imcallback/imcallback/internal/tooling"
)

// TestAnswerNamingAFieldTwiceIsRefused: an answer that names an envelope
// field (or a reply field, at any depth) twice says two things, and which one a reader
// takes is its own choice (Go's the last, others the first): a
// destination refusing with ErrorCode 1 followed by a stray 0 must not
// allow the callback, so the answer is refused as bad_response (the
// fallback) rather than read as either.
func TestAnswerNamingAFieldTwiceIsRefused(t *testing.T) {
	accepts := reply{fields: map[string]bool{}}
	for _, tc := range []struct {
		name, body string
	}{
		{"ErrorCode", `{"ActionStatus":"OK","ErrorCode":1,"ErrorInfo":"blocked","ErrorCode":0}`},
		{"ActionStatus", `{"ActionStatus":"FAIL","ErrorCode":0,"ActionStatus":"OK"}`},
		{"ErrorInfo", `{"ActionStatus":"OK","ErrorInfo":"a","ErrorCode":0,"ErrorInfo":"b"}`},
		{"escaped", `{"ActionStatus":"OK","ErrorCode":1,"Error\u0043ode":0}`},
		{"dropped field", `{"ActionStatus":"OK","ErrorCode":0,"x":1,"x":2}`},
		{"per-target ResultCode", `{"ActionStatus":"OK","ErrorCode":0,"ResultItem":[{"To_Account":"a","ResultCode":30515,"ResultCode":0}]}`},
		{"deeper", `{"ActionStatus":"OK","x":[[{"a":{"b":1,"b":2}}]]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dec, _, err := parseAnswer([]byte(tc.body), accepts)
			if err == nil {
				t.Fatalf("answer %s taken as %+v", tc.body, dec)
			}
			if !strings.Contains(err.Error(), "twice") {
				t.Fatalf("answer %s refused with %q, which does not say a name is repeated", tc.body, err)
			}
		})
	}
	// Distinct names, and the same name inside a nested value, are fine.
	for _, body := range []string{
		`{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}`,
		`{"ActionStatus":"OK","ErrorCode":0,"x":{"a":1},"y":{"a":2}}`,
		`{"ActionStatus":"OK","ErrorCode":0,"x":[{"a":1,"b":[]},{"a":2,"b":{}}],"a":"x"}`,
		`{"ActionStatus":"OK","ErrorCode":0,"x":["a","a",{"a":"a"}],"y":{}}`,
	} {
		if _, _, err := parseAnswer([]byte(body), accepts); err != nil {
			t.Fatalf("answer %s refused: %v", body, err)
		}
	}
}

// TestAnswerNamingAReplyFieldTwiceInAnotherCaseIsRefused: Go decodes a
// reply field's object into the command's reply type matching names in
// any case, the last one given winning: a per-target ResultCode 38001
// followed by a stray "resultCode":0 would allow the target. Such an
// answer says two things too, and is refused as one naming a field twice.
func TestAnswerNamingAReplyFieldTwiceInAnotherCaseIsRefused(t *testing.T) {
	const friend = "Sns.CallbackPrevFriendAdd"
	var accepts reply
	for _, e := range catalogue.All() {
		if e.Name() == friend {
			typ := e.Command.Tooling(tooling.K).ReplyType()
			accepts = reply{typ: typ, fields: replyFields(typ)}
		}
	}
	if accepts.typ == nil {
		t.Fatalf("%s has no reply type", friend)
	}
	for _, body := range []string{
		`{"ActionStatus":"OK","ErrorCode":0,"ResultItem":[{"To_Account":"b","ResultCode":38001,"resultCode":0}]}`,
		`{"ActionStatus":"OK","ErrorCode":0,"ResultItem":[{"To_Account":"b","ResultCode":38001,"RESULTCODE":0}]}`,
		`{"ActionStatus":"OK","ErrorCode":0,"ResultItem":[{"To_Account":"b","to_account":"c","ResultCode":38001}]}`,
	} {
		dec, _, err := parseAnswer([]byte(body), accepts)
		if err == nil {
			t.Errorf("answer %s taken as %+v", body, dec)
		} else if !strings.Contains(err.Error(), "twice") {
			t.Errorf("answer %s refused with %q, which does not say a name is repeated", body, err)
		}
	}
	// One spelling in another case alone is read as Go reads it; the same
	// name in two targets is no repetition.
	body := `{"ActionStatus":"OK","ErrorCode":0,"ResultItem":[{"To_Account":"b","resultCode":38001},{"To_Account":"c","ResultCode":0}]}`
	if _, _, err := parseAnswer([]byte(body), accepts); err != nil {
		t.Errorf("answer %s refused: %v", body, err)
	}
}
