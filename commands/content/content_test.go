package content_test

import (
	"strings"
	"testing"

	"github.com/imcallback/imcallback/commands/content"
	"github.com/imcallback/imcallback/dispatcher"
)

// TestResultNotifyDecodes checks the typed payload against moderation
// results as CN 269/95616 documents them: text results carry the text,
// image, audio and video results the moderated file's URL in FileURL.
func TestResultNotifyDecodes(t *testing.T) {
	tests := []struct {
		name, body string
		want       func(content.ResultNotify) bool
	}{
		{"text", `{"Scene":"C2C","SdkAppId":1400187352,"From_Account":"jared","ContactItem":{"ContactType":1,"To_Account":"Jonh"},"ContentType":"Text","TextContent":["aaabbbccc","1234567"],"MsgID":"1434460578_4137340972_1661154487","CtxcbResult":1,"CtxcbRequestId":"241ed925-4c56-4357-95dd-1e6e7798f214"}`,
			func(p content.ResultNotify) bool {
				return p.ContentType == "Text" && string(p.TextContent) == `["aaabbbccc","1234567"]` && p.FileURL == "" && p.SdkAppID == 1400187352
			}},
		{"image", `{"Scene":"Group","SdkAppId":"1400187352","From_Account":"u_dave","ContactItem":{"ContactType":2,"ToGroupId":"@TGS#1QxYz7AB"},"ContentType":"Image","FileURL":"https://cos.example.com/im/img-5821.jpg","MsgID":"5821","CtxcbResult":1,"CtxcbRequestId":"7c1f0e8a-2b3d-4e5f-8a9b-0c1d2e3f4a5b","CtxcbSuggestion":"Block","CtxcbLabel":"Porn"}`,
			func(p content.ResultNotify) bool {
				return p.ContentType == "Image" && p.FileURL == "https://cos.example.com/im/img-5821.jpg" &&
					p.ContactItem.ToGroupID == "@TGS#1QxYz7AB" && p.DedupKey() == "7c1f0e8a-2b3d-4e5f-8a9b-0c1d2e3f4a5b"
			}},
		{"group scene, MsgID the MsgSeq as a bare number", `{"Scene":"Group","ContactItem":{"ContactType":2,"ToGroupId":"@TGS#1QxYz7AB"},"ContentType":"Text","TextContent":["x"],"MsgID":5821,"CtxcbResult":1,"CtxcbRequestId":"r-4"}`,
			func(p content.ResultNotify) bool {
				return p.MsgID == "5821" && p.CtxcbRequestID == "r-4" && string(p.TextContent) == `["x"]`
			}},
		{"MsgID null, lower-case keys", `{"scene":"C2C","msgid":null,"ctxcbrequestid":"r-5","contactitem":{"contacttype":1,"to_account":"u_bob"}}`,
			func(p content.ResultNotify) bool {
				return p.MsgID == "" && p.Scene == "C2C" && p.CtxcbRequestID == "r-5" && p.ContactItem.ToAccount == "u_bob"
			}},
		{"video, unknown extra fields", `{"Scene":"C2C","From_Account":"u_alice","ContactItem":{"ContactType":1,"To_Account":"u_bob"},"ContentType":"Video","FileURL":"https://cos.example.com/im/v.mp4","CtxcbResult":0,"CtxcbRequestId":"r-3","FutureField":{"x":1}}`,
			func(p content.ResultNotify) bool { return p.FileURL == "https://cos.example.com/im/v.mp4" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := dispatcher.NewEvent[content.ResultNotify](&dispatcher.Request{Command: content.CommandResultNotify, Body: []byte(tt.body)})
			if err != nil {
				t.Fatal(err)
			}
			if !tt.want(ev.Payload) {
				t.Errorf("decoded %+v", ev.Payload)
			}
		})
	}
}

// TestResultNotifyRefusesAnMsgIDOfAnotherKind: a MsgID that is neither a
// string nor a number (an object, true) still fails, saying so.
func TestResultNotifyRefusesAnMsgIDOfAnotherKind(t *testing.T) {
	for _, id := range []string{`{"Seq":1}`, `true`, `[1]`} {
		_, err := dispatcher.NewEvent[content.ResultNotify](&dispatcher.Request{Command: content.CommandResultNotify,
			Body: []byte(`{"Scene":"Group","MsgID":` + id + `,"CtxcbRequestId":"r"}`)})
		if err == nil || !strings.Contains(err.Error(), "neither a string nor a number") {
			t.Errorf("MsgID %s: err %v, want a decoding error", id, err)
		}
	}
}
