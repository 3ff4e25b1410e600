package forward

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/imcallback/imcallback/commands/catalogue"
	"github.com/imcallback/imcallback/internal/tooling"
	"github.com/imcallback/imcallback/protocol"
)

// FuzzParseAnswer: whatever a destination answers a before-callback, the
// reading never panics; an answer taken is a JSON object whose
// ActionStatus is "OK", its decision is what IM gets in the envelope
// sent (UTF-8, whatever bytes the answer held), and that envelope reads back as the same decision.
func FuzzParseAnswer(f *testing.F) {
	var replies []reply
	for _, e := range catalogue.All() {
		if e.Kind() == catalogue.After {
			continue
		}
		t := e.Command.Tooling(tooling.K).ReplyType()
		replies = append(replies, reply{typ: t, fields: replyFields(t)})
	}
	for i, body := range []string{
		`{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}`,
		`{"ActionStatus":"OK","ErrorCode":"1","ErrorInfo":"no"}`,
		`{"ActionStatus":"OK","ErrorCode":0,"MsgBody":[{"MsgType":"TIMTextElem","MsgContent":{"Text":"hi"}}],"CloudCustomData":"x"}`,
		`{"ActionStatus":"OK","ErrorCode":0,"RefusedMembers_Account":["a"],"RefusedSubscribers_Account":["b"]}`,
		`{"ActionStatus":"OK","RefusedSubscribers_Account":["b"]}`,
		`{"ActionStatus":"OK","ErrorCode":0,"ResultItem":[{"To_Account":"a","ResultCode":38000,"ResultInfo":"x"}]}`,
		`{"ActionStatus":"OK","ErrorCode":0,"RspData":"data"}`,
		`{"ActionStatus":"OK","errorCode":1}`,
		`{"ActionStatus":"OK","ErrorCode":null}`,
		`{"ActionStatus":"FAIL","ErrorCode":0}`,
		"\ufeff" + `{"ActionStatus":"OK","ErrorCode":1}`,
		"{\"ActionStatus\":\"OK\",\"MsgBody\":[{\"MsgType\":\"TIMTextElem\",\"MsgContent\":{\"Text\":\"\xff\"}}]}",
		`null`, `[]`, `"OK"`, ``,
	} {
		for j := range replies {
			f.Add(uint8(i+j), []byte(body))
		}
	}
	f.Fuzz(func(t *testing.T, pick uint8, body []byte) {
		accepts := replies[int(pick)%len(replies)]
		dec, _, err := parseAnswer(body, accepts)
		if err != nil {
			return
		}
		var env struct {
			ActionStatus *string
		}
		if err := json.Unmarshal(bytes.TrimPrefix(body, utf8BOM), &env); err != nil || env.ActionStatus == nil || *env.ActionStatus != protocol.StatusOK {
			t.Fatalf("answer %s taken (%+v), but it is no envelope with ActionStatus OK", body, dec)
		}
		sent, err := protocol.AppendEnvelope(nil, protocol.StatusOK, dec.Code, dec.Info, dec.Reply)
		if err != nil {
			t.Fatalf("answer %s taken as %+v, which cannot be sent: %v", body, dec, err)
		}
		if !utf8.Valid(sent) {
			t.Fatalf("answer %q sent as %q, which is not UTF-8", body, sent)
		}
		again, dropped, err := parseAnswer(sent, accepts)
		if err != nil || len(dropped) > 0 {
			t.Fatalf("answer %s sent as %s, which reads back with %v (dropped %q)", body, sent, err, dropped)
		}
		// Compared as sent: a reply type may fill in fields when encoded
		// (AddSubscriberReply sends its list under both names).
		resent, err := protocol.AppendEnvelope(nil, protocol.StatusOK, again.Code, again.Info, again.Reply)
		if err != nil || !bytes.Equal(resent, sent) {
			t.Fatalf("answer %s sent as %s, which reads back as %+v, sent as %s (%v)", body, sent, again, resent, err)
		}
	})
}

// FuzzRetryAfter: whatever a destination's Retry-After says, the delay is
// between none and maxRetryAfter.
func FuzzRetryAfter(f *testing.F) {
	for _, v := range []string{"120", " 0 ", "-1", "9223372036854775807", "99999999999999999999", "+5",
		"Wed, 21 Oct 2015 07:28:00 GMT", "Sun, 06 Nov 9999 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "soon"} {
		f.Add(v)
	}
	now := time.Date(2024, 11, 26, 10, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, v string) {
		if d := retryAfter(v, now); d < 0 || d > maxRetryAfter {
			t.Fatalf("Retry-After %q asks for %v", v, d)
		}
	})
}
