package imsend

import (
	"net/http"
	"testing"

	"github.com/imcallback/imcallback/protocol"
)

// FuzzNewResult: whatever the service answers, reading it never panics,
// keeps the body, and an answer taken is an envelope of OK or FAIL whose
// reply fields leave the envelope's out.
func FuzzNewResult(f *testing.F) {
	for _, s := range []string{
		`{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}`,
		`{"ActionStatus":"FAIL","ErrorCode":60002,"ErrorInfo":"bad sign"}`,
		`{"ActionStatus":"OK","ErrorCode":0,"MsgBody":[],"CloudCustomData":"x"}`,
		`{"ActionStatus":"OK","ErrorCode":"1"}`,
		`{"message":"Not Found"}`,
		`null`, `[]`, ``, `<html>`,
	} {
		f.Add(200, []byte(s))
	}
	f.Add(403, []byte(`{"ActionStatus":"FAIL","ErrorCode":1}`))
	f.Fuzz(func(t *testing.T, status int, body []byte) {
		r, err := newResult(status, http.Header{}, body)
		if r == nil || string(r.Body) != string(body) || r.Status != status {
			t.Fatalf("answer %q read as %+v", body, r)
		}
		if err != nil {
			return
		}
		if s := r.Envelope.ActionStatus; s != protocol.StatusOK && s != protocol.StatusFail {
			t.Fatalf("answer %q taken with ActionStatus %q", body, s)
		}
		for _, k := range []string{"ActionStatus", "ErrorCode", "ErrorInfo"} {
			if _, ok := r.Reply[k]; ok {
				t.Fatalf("answer %q: reply fields hold %s", body, k)
			}
		}
		_, _ = r.Denied()
		_, _, _ = r.Rejected()
	})
}
