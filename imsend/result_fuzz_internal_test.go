package imsend

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/imcallback/imcallback/protocol"
)

// FuzzNewResult: whatever the service answers, reading it never panics,
// keeps the body, and an answer taken is an envelope of OK or FAIL whose
// reply fields leave the envelope's out, read as IM reads it.
func FuzzNewResult(f *testing.F) {
	for _, s := range []string{
		`{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}`,
		`{"ActionStatus":"FAIL","ErrorCode":60002,"ErrorInfo":"bad sign"}`,
		`{"ActionStatus":"OK","ErrorCode":0,"MsgBody":[],"CloudCustomData":"x"}`,
		`{"ActionStatus":"OK","ErrorCode":"1"}`,
		`{"ActionStatus":"OK","errorCode":120001}`,
		`{"message":"Not Found"}`,
		`null`, `[]`, ``, `<html>`,
	} {
		f.Add(200, []byte(s))
	}
	f.Add(403, []byte(`{"ActionStatus":"FAIL","ErrorCode":1}`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		r, err := newResult("C2C.CallbackBeforeSendMsg", status, http.Header{}, body)
		if r == nil || string(r.Body) != string(body) || r.Status != status {
			t.Fatalf("answer %q read as %+v", body, r)
		}
		if err != nil {
			return
		}
		if s := r.Envelope.ActionStatus; s != protocol.StatusOK && s != protocol.StatusFail {
			t.Fatalf("answer %q taken with ActionStatus %q", body, s)
		}
		// The envelope as IM reads it: its names as spelled.
		var exact struct {
			ActionStatus json.RawMessage
			ErrorCode    json.RawMessage
			ErrorInfo    json.RawMessage
		}
		var fields map[string]json.RawMessage
		_ = json.Unmarshal(body, &fields)
		exact.ActionStatus, exact.ErrorCode, exact.ErrorInfo = fields["ActionStatus"], fields["ErrorCode"], fields["ErrorInfo"]
		var want protocol.Envelope
		_ = json.Unmarshal(exact.ActionStatus, &want.ActionStatus)
		if exact.ErrorCode != nil {
			_ = json.Unmarshal(exact.ErrorCode, &want.ErrorCode)
		}
		if exact.ErrorInfo != nil {
			_ = json.Unmarshal(exact.ErrorInfo, &want.ErrorInfo)
		}
		if r.Envelope != want {
			t.Fatalf("answer %q read as %+v; IM reads %+v", body, r.Envelope, want)
		}
		for _, k := range []string{"ActionStatus", "ErrorCode", "ErrorInfo"} {
			if _, ok := r.Reply[k]; ok {
				t.Fatalf("answer %q: reply fields hold %s", body, k)
			}
		}
		_, _ = r.Denied()
		_, _ = r.IgnoredError()
		_, _, _ = r.Rejected()
	})
}
