package delivery

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/protocol"
)

// FuzzDecode: a stream message of any headers and data either decodes or
// is ErrUndecodable, never a panic.
func FuzzDecode(f *testing.F) {
	f.Add("Group.CallbackAfterCreateGroup", "2024-11-26T06:00:00.123456789Z", "SdkAppid=1&CallbackCommand=x", "r1", "", []byte(`{}`))
	f.Add("", "2024-11-26T06:00:00Z", "", "", "", []byte(nil))
	f.Add("C2C.CallbackAfterSendMsg", "yesterday", "%zz", "", "hook", []byte(`{`))
	f.Add("C2C.CallbackAfterSendMsg", "10000-01-01T00:00:00Z", "SdkAppid=%E4%B8%AD", "", "", []byte(`null`))
	f.Fuzz(func(t *testing.T, command, at, query, requestID, target string, data []byte) {
		h := nats.Header{}
		for k, v := range map[string]string{HeaderCommand: command, HeaderReceivedAt: at, HeaderQuery: query,
			HeaderRequestID: requestID, HeaderTarget: target} {
			if v != "" {
				h.Set(k, v)
			}
		}
		r, err := Decode(h, data)
		if err != nil {
			if !errors.Is(err, ErrUndecodable) {
				t.Fatalf("error %v is not ErrUndecodable", err)
			}
			return
		}
		if r.Command != command || !bytes.Equal(r.Body, data) || r.RequestID != requestID || r.Target != target {
			t.Fatalf("decoded %+v from command %q, request id %q, target %q", r, command, requestID, target)
		}
	})
}

// FuzzEventMsgRoundTrip: the message stored for a request decodes back to
// that request, Sign left out and the command and request id on one line.
func FuzzEventMsgRoundTrip(f *testing.F) {
	f.Add("Group.CallbackAfterCreateGroup", "SdkAppid=1&CallbackCommand=Group.CallbackAfterCreateGroup&Sign=s&RequestTime=1", "0123456789abcdef", "", int64(1732600000123456789), []byte(`{"GroupId":"g"}`))
	f.Add("C2C.CallbackAfterSendMsg", "SdkAppid=a%20b&ClientIP=%zz&OptPlatform=Web", "", "hook", int64(0), []byte(nil))
	f.Add("x\r\ny", "contenttype=json", "id\nx", "", int64(-1), []byte(`{"EventTime":1}`))
	o := &Options{Stream: "IMCALLBACK", SubjectPrefix: "imcallback"}
	f.Fuzz(func(t *testing.T, command, query, requestID, target string, nanos int64, body []byte) {
		if command == "" {
			return // no event has none: the dispatcher routes on it
		}
		r := &dispatcher.Request{Command: command, Params: protocol.ParseParams(query), Body: body,
			ReceivedAt: time.Unix(0, nanos), RequestID: requestID}
		msg := newEventMsg(o, r, target)
		got, err := Decode(msg.Header, msg.Data)
		if err != nil {
			t.Fatalf("the message of %+v does not decode: %v", r, err)
		}
		want := *r
		want.Params.Sign = ""
		want.Command = headerValue(r.Command)
		want.RequestID = headerValue(r.RequestID)
		want.Target = target
		if got.Command != want.Command || got.Params != want.Params || !bytes.Equal(got.Body, want.Body) ||
			!got.ReceivedAt.Equal(want.ReceivedAt) || got.RequestID != want.RequestID || got.Target != want.Target {
			t.Fatalf("%+v decoded back as %+v", want, got)
		}
	})
}
