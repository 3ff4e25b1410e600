package protocol_test

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/imcallback/imcallback/protocol"
)

func TestSignVectors(t *testing.T) {
	tests := []struct {
		name, token, time, want string
	}{
		{"published vector", "xxxxyyyy", "1669872112", "17773bc39a671d7b9aa835458704d2a6db81360a5940292b587d6d760d484061"},
		{"doc erratum token is a different token", "xxxyyy", "1669872112", "e78a85473bed2cdc8d6fa8c4d5a4ba4735fd64156e15a99516b9890293e135de"},
		{"extra vector", "my-test-token", "1700000000", "fc1e663f67aa5b954969c5985e54361c5bc3f204a69ee917c6aef2984e22cb4e"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := protocol.Sign(tt.token, tt.time); got != tt.want {
				t.Fatalf("Sign(%q, %q) = %s, want %s", tt.token, tt.time, got, tt.want)
			}
			if !protocol.VerifySign([]string{tt.token}, tt.time, tt.want) {
				t.Fatal("VerifySign rejected the vector")
			}
		})
	}
	// Concatenating in the wrong order must not verify.
	reversed := "0467c8f6ff787df0cb0a15d44d03531a236485e20b11f233f299933854693c8a"
	if protocol.VerifySign([]string{"xxxxyyyy"}, "1669872112", reversed) {
		t.Fatal("the reversed-order signature verified")
	}
}

func TestSignAt(t *testing.T) {
	sign, rt := protocol.SignAt("xxxxyyyy", time.Unix(1669872112, 0))
	if rt != "1669872112" || sign != "17773bc39a671d7b9aa835458704d2a6db81360a5940292b587d6d760d484061" {
		t.Fatalf("SignAt = %s, %s", sign, rt)
	}
}

func TestVerifySign(t *testing.T) {
	good := protocol.Sign("new-token", "1700000000")
	tests := []struct {
		name   string
		tokens []string
		sign   string
		want   bool
	}{
		{"single token", []string{"new-token"}, good, true},
		{"rotation: old and new", []string{"old-token", "new-token"}, good, true},
		{"upper-case hex accepted", []string{"new-token"}, strings.ToUpper(good), true},
		{"wrong token", []string{"old-token"}, good, false},
		{"no tokens", nil, good, false},
		{"empty sign", []string{"new-token"}, "", false},
		{"short sign", []string{"new-token"}, good[:10], false},
		{"not hex", []string{"new-token"}, strings.Repeat("zz", 32), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := protocol.VerifySign(tt.tokens, "1700000000", tt.sign); got != tt.want {
				t.Fatalf("VerifySign = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseParams(t *testing.T) {
	tests := []struct {
		name  string
		query string
		want  protocol.Params
	}{
		{
			name:  "documented casing",
			query: "SdkAppid=888888&CallbackCommand=Group.CallbackAfterNewMemberJoin&contenttype=json&ClientIP=1.2.3.4&OptPlatform=iOS&Sign=ab&RequestTime=17",
			want: protocol.Params{SdkAppid: "888888", CallbackCommand: "Group.CallbackAfterNewMemberJoin",
				ContentType: "json", ClientIP: "1.2.3.4", OptPlatform: "iOS", Sign: "ab", RequestTime: "17"},
		},
		{
			name:  "other casings and order",
			query: "RequestTime=17&SDKAppID=1&callbackcommand=X.Y&CONTENTTYPE=JSON",
			want:  protocol.Params{SdkAppid: "1", CallbackCommand: "X.Y", ContentType: "JSON", RequestTime: "17"},
		},
		{
			name:  "SdkAppId spelling of the Live product",
			query: "SdkAppId=2",
			want:  protocol.Params{SdkAppid: "2"},
		},
		{
			name:  "first value wins and unknown names are ignored",
			query: "SdkAppid=1&SdkAppid=2&foo=bar&&=x",
			want:  protocol.Params{SdkAppid: "1"},
		},
		{
			name:  "an empty value does not count as the first",
			query: "Sign=&Sign=abc&SdkAppid=&SdkAppid=1",
			want:  protocol.Params{Sign: "abc", SdkAppid: "1"},
		},
		{
			name:  "escaped values are decoded",
			query: "ClientIP=%3A%3A1&OptPlatform=Windows+Phone",
			want:  protocol.Params{ClientIP: "::1", OptPlatform: "Windows Phone"},
		},
		{
			name:  "bad escape kept as sent",
			query: "OptPlatform=%zz",
			want:  protocol.Params{OptPlatform: "%zz"},
		},
		{name: "empty", query: "", want: protocol.Params{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := protocol.ParseParams(tt.query); got != tt.want {
				t.Fatalf("ParseParams(%q) = %+v, want %+v", tt.query, got, tt.want)
			}
		})
	}
}

func TestParamsEncodeRoundTrip(t *testing.T) {
	p := protocol.Params{SdkAppid: "1400000000", CallbackCommand: "Group.CallbackAfterCreateTopic",
		ContentType: "json", ClientIP: "127.0.0.1", OptPlatform: "RESTAPI", Sign: "abc", RequestTime: "1"}
	q := p.Encode()
	if !strings.HasPrefix(q, "SdkAppid=1400000000&CallbackCommand=Group.CallbackAfterCreateTopic&contenttype=json") {
		t.Fatalf("Encode = %s", q)
	}
	if got := protocol.ParseParams(q); got != p {
		t.Fatalf("round trip = %+v, want %+v", got, p)
	}
}

func TestNormalizePlatform(t *testing.T) {
	for in, want := range map[string]string{
		"IOS": "iOS", "iOS": "iOS", "ios": "iOS", "Mac": "Mac", "macOS": "Mac",
		"Android": "Android", "RESTAPI": "RESTAPI", "Linux": "Linux", "": "",
	} {
		if got := protocol.NormalizePlatform(in); got != want {
			t.Errorf("NormalizePlatform(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestAppendEnvelope(t *testing.T) {
	tests := []struct {
		name    string
		status  string
		code    int
		info    string
		reply   any
		want    string
		wantErr error
	}{
		{name: "ok", status: "OK", want: `{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}`},
		{name: "deny with quoted info", status: "OK", code: 10101, info: `say "no"`,
			want: `{"ActionStatus":"OK","ErrorCode":10101,"ErrorInfo":"say \"no\""}`},
		{name: "reply struct", status: "OK", reply: struct {
			CloudCustomData string `json:"CloudCustomData"`
		}{"x"}, want: `{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","CloudCustomData":"x"}`},
		{name: "reply map", status: "OK", reply: map[string]any{"RspData": "r"},
			want: `{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","RspData":"r"}`},
		{name: "empty reply object", status: "OK", reply: map[string]any{},
			want: `{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}`},
		// The status is written as JSON writes a string, not as Go quotes
		// one: Go's \x01 and \U000f0000 are no JSON escapes.
		{name: "status with a control character", status: "FAIL\x01",
			want: `{"ActionStatus":"FAIL\u0001","ErrorCode":0,"ErrorInfo":""}`},
		{name: "status with a character Go escapes", status: "FAIL\U000f0000",
			want: "{\"ActionStatus\":\"FAIL\U000f0000\",\"ErrorCode\":0,\"ErrorInfo\":\"\"}"},
		{name: "reply not an object", status: "OK", reply: []int{1}, wantErr: protocol.ErrReplyNotObject},
		{name: "reply overrides the envelope", status: "OK", reply: map[string]any{"ErrorCode": 1}, wantErr: protocol.ErrReplyNotObject},
		// A reader that matches keys in any case, as Go's encoding/json
		// does, would take either for the envelope's own field.
		{name: "reply overrides the envelope in another case", status: "OK", reply: map[string]any{"errorcode": 1}, wantErr: protocol.ErrReplyNotObject},
		{name: "reply overrides the status in another case", status: "OK", reply: struct {
			Status string `json:"actionstatus"`
		}{"FAIL"}, wantErr: protocol.ErrReplyNotObject},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := protocol.AppendEnvelope(nil, tt.status, tt.code, tt.info, tt.reply)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil || string(got) != tt.want {
				t.Fatalf("AppendEnvelope = %s, %v; want %s", got, err, tt.want)
			}
			if !json.Valid(got) {
				t.Fatal("not valid JSON")
			}
		})
	}
	if string(protocol.OKBody) != `{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}` {
		t.Fatalf("OKBody = %s", protocol.OKBody)
	}
}

func TestErrorsAreDistinct(t *testing.T) {
	codes := map[int]bool{}
	reasons := map[string]bool{}
	for _, e := range protocol.AllErrors() {
		if codes[e.Code] || reasons[e.Reason] {
			t.Fatalf("duplicate code or reason: %+v", e)
		}
		codes[e.Code], reasons[e.Reason] = true, true
		if e.Status/100 != 4 && e.Status/100 != 5 || e.Code/100 != e.Status {
			t.Fatalf("code %d does not follow its status %d", e.Code, e.Status)
		}
	}
	wrapped := errors.Join(errors.New("x"), protocol.ErrBadSign)
	if !errors.Is(wrapped, protocol.ErrBadSign) || errors.Is(wrapped, protocol.ErrStaleRequest) {
		t.Fatal("errors.Is does not tell rejections apart")
	}
}

// TestAllErrorsAreInCodeOrder: AllErrors lists the rejections by code, as
// the README's generated error-code table promises; 43101 was listed
// between 41301 and 41701, and 50101 and 50501 before the 503xx codes.
func TestAllErrorsAreInCodeOrder(t *testing.T) {
	all := protocol.AllErrors()
	for i := 1; i < len(all); i++ {
		if all[i-1].Code >= all[i].Code {
			t.Errorf("AllErrors lists %d (%s) before %d (%s)", all[i-1].Code, all[i-1].Reason, all[i].Code, all[i].Reason)
		}
	}
}

func TestFlexStrings(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		err  bool
	}{
		{`["@TGS#_g@TOPIC#_a","@TGS#_g@TOPIC#_b"]`, []string{"@TGS#_g@TOPIC#_a", "@TGS#_g@TOPIC#_b"}, false},
		{`"@TGS#_g@TOPIC#_a"`, []string{"@TGS#_g@TOPIC#_a"}, false},
		{`"@TGS#_g@TOPIC#_a, @TGS#_g@TOPIC#_b"`, []string{"@TGS#_g@TOPIC#_a", "@TGS#_g@TOPIC#_b"}, false},
		{`"@TGS#_g@TOPIC#_a,@TGS#_g@TOPIC#_b,"`, []string{"@TGS#_g@TOPIC#_a", "@TGS#_g@TOPIC#_b"}, false},
		// An app chooses the part after @TOPIC#_, and nothing keeps a comma out of it:
		// a string splits only into parts that each look like a topic id.
		{`"@TGS#_g@TOPIC#_a,b"`, []string{"@TGS#_g@TOPIC#_a,b"}, false},
		{`"@TGS#_g@TOPIC#_1,000 members"`, []string{"@TGS#_g@TOPIC#_1,000 members"}, false},
		{`"@TGS#_g@TOPIC#_a,b, @TGS#_g@TOPIC#_c"`, []string{"@TGS#_g@TOPIC#_a,b, @TGS#_g@TOPIC#_c"}, false},
		{`" @TGS#_g@TOPIC#_a "`, []string{"@TGS#_g@TOPIC#_a"}, false},
		{`"a,b"`, []string{"a,b"}, false},
		{`" , "`, nil, false},
		{`""`, nil, false},
		{`null`, nil, false},
		{`[]`, []string{}, false},
		{`12`, nil, true},
		{`[1]`, nil, true},
	}
	for _, tt := range tests {
		var got struct {
			L protocol.FlexStrings `json:"l"`
		}
		err := json.Unmarshal([]byte(`{"l":`+tt.in+`}`), &got)
		if (err != nil) != tt.err || !tt.err && !slices.Equal(got.L, tt.want) {
			t.Errorf("%s: %q, %v; want %q (error %v)", tt.in, got.L, err, tt.want, tt.err)
		}
	}
}

func TestFlexInt(t *testing.T) {
	tests := []struct {
		in      string
		want    protocol.FlexInt
		wantErr bool
	}{
		{`1670574414123`, 1670574414123, false},
		{`"1670574414123"`, 1670574414123, false},
		{`" 42 "`, 42, false},
		{`null`, 0, false},
		{`""`, 0, false},
		{`1.7e3`, 1700, false},
		{`"\u0031\u0032"`, 12, false},                     // a numeric string, its digits escaped
		{`12345678901234567.0`, 12345678901234567, false}, // exactly, not rounded through a float
		{`"1e2"`, 100, false},
		{`1.0000000000000000001`, 0, true}, // no integer, however close
		{`"0x1p4"`, 0, true},               // no decimal number
		{`"Infinity"`, 0, true},
		{`"abc"`, 0, true},
		{`1.5`, 0, true},
		{`true`, 0, true},
	}
	for _, tt := range tests {
		var v struct {
			EventTime protocol.FlexInt `json:"EventTime"`
		}
		err := json.Unmarshal([]byte(`{"EventTime":`+tt.in+`}`), &v)
		if (err != nil) != tt.wantErr || (!tt.wantErr && v.EventTime != tt.want) {
			t.Errorf("decode %s = %d, %v; want %d, err %v", tt.in, v.EventTime, err, tt.want, tt.wantErr)
		}
	}
	out, _ := json.Marshal(protocol.FlexInt(7))
	if string(out) != "7" {
		t.Fatalf("marshal = %s", out)
	}
}

func TestFlexString(t *testing.T) {
	tests := []struct {
		in      string
		want    protocol.FlexString
		wantErr bool
	}{
		{`"1434460578_4137340972_1661154487"`, "1434460578_4137340972_1661154487", false},
		{`5821`, "5821", false},
		{` 18446744073709551615 `, "18446744073709551615", false},
		{`null`, "", false},
		{`""`, "", false},
		{`true`, "", true},
		{`{"Seq":1}`, "", true},
		{`[1]`, "", true},
	}
	for _, tt := range tests {
		var v struct {
			MsgID protocol.FlexString `json:"MsgID"`
		}
		err := json.Unmarshal([]byte(`{"MsgID":`+tt.in+`}`), &v)
		if (err != nil) != tt.wantErr || (!tt.wantErr && v.MsgID != tt.want) {
			t.Errorf("decode %s = %q, %v; want %q, err %v", tt.in, v.MsgID, err, tt.want, tt.wantErr)
		}
	}
	out, _ := json.Marshal(protocol.FlexString("5821"))
	if string(out) != `"5821"` {
		t.Fatalf("marshal = %s", out)
	}
}

func FuzzParseParams(f *testing.F) {
	f.Add("SdkAppid=1&CallbackCommand=A.B&Sign=x&RequestTime=1")
	f.Add("%zz=%zz&&&=")
	f.Add("sdkappid=1;x=2")
	f.Fuzz(func(t *testing.T, q string) {
		p := protocol.ParseParams(q)
		// Whatever was parsed survives an encode/parse round trip.
		if again := protocol.ParseParams(p.Encode()); again != p {
			t.Fatalf("round trip changed %+v into %+v", p, again)
		}
	})
}

func FuzzFlexInt(f *testing.F) {
	for _, s := range []string{`1`, `"2"`, `null`, `""`, `1e3`, `"x"`, `-9223372036854775808`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var n protocol.FlexInt
		if err := n.UnmarshalJSON([]byte(s)); err != nil {
			return
		}
		var back protocol.FlexInt
		out, _ := n.MarshalJSON()
		if err := back.UnmarshalJSON(out); err != nil || back != n {
			t.Fatalf("%s decoded to %d, which does not round-trip: %v", s, n, err)
		}
	})
}

// FuzzFlexString: a value either decodes or is refused, never panics, and
// what it decodes to round-trips through its encoding.
func FuzzFlexString(f *testing.F) {
	for _, s := range []string{`"5821"`, `5821`, `-1.5e3`, `null`, ` "a\u00e9" `, `"\ud800"`, `true`, `{}`, `"x`, `1 2`, ``} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var v protocol.FlexString
		if err := v.UnmarshalJSON([]byte(s)); err != nil {
			return
		}
		out, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("%s decoded to %q, which does not encode: %v", s, v, err)
		}
		var back protocol.FlexString
		if err := back.UnmarshalJSON(out); err != nil || back != v {
			t.Fatalf("%s decoded to %q, which does not round-trip (%s → %q): %v", s, v, out, back, err)
		}
	})
}

// FuzzFlexStrings: the same for lists, which also decode from a string.
func FuzzFlexStrings(f *testing.F) {
	for _, s := range []string{`["a","b"]`, `"g@TOPIC#_1, g@TOPIC#_2"`, `"a,b"`, `null`, `[]`, `""`, `[1]`, `" , "`, `["",null]`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var l protocol.FlexStrings
		if err := l.UnmarshalJSON([]byte(s)); err != nil {
			return
		}
		out, err := json.Marshal(l)
		if err != nil {
			t.Fatalf("%s decoded to %q, which does not encode: %v", s, l, err)
		}
		var back protocol.FlexStrings
		if err := back.UnmarshalJSON(out); err != nil || !slices.Equal(back, l) {
			t.Fatalf("%s decoded to %q, which does not round-trip (%s → %q): %v", s, l, out, back, err)
		}
	})
}

// TestKeyAt: an ID names one event together with its time; an ID without
// '|' or '\' gives the key of before the escaping, and IDs holding them
// still give distinct keys.
func TestKeyAt(t *testing.T) {
	tests := []struct {
		id   string
		at   protocol.FlexInt
		want string
	}{
		{"room_42", 1732600000456, "room_42|1732600000456"},
		{"room_42", 0, "room_42|0"},
		{"a|1", 2, `a\|1|2`},
		{`a\`, 2, `a\\|2`},
	}
	for _, tt := range tests {
		if got := protocol.KeyAt(tt.id, tt.at); got != tt.want {
			t.Errorf("KeyAt(%q, %d) = %q, want %q", tt.id, tt.at, got, tt.want)
		}
	}
	if protocol.KeyAt("a|1", 2) == protocol.KeyAt("a", 12) || protocol.KeyAt("x", 1) == protocol.KeyAt("x", 2) {
		t.Error("two different (id, time) pairs share a key")
	}
}
