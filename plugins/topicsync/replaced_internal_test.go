package topicsync

import "testing"

// TestReplacedByDecoder: an id holding U+FFFD is the decoder's reading of
// invalid UTF-8 or half a surrogate pair unless the body sends U+FFFD
// itself; a U+FFFD the body sends in another field (a name) used to take
// every id of the callback at its word, so two ids the decoder replaced
// alike named one topic.
func TestReplacedByDecoder(t *testing.T) {
	const id = "@TGS#ff@TOPIC#_a\uFFFD"
	tests := []struct {
		name string
		raw  string
		want bool
	}{
		{"a lone high surrogate", `{"TopicId":"@TGS#ff@TOPIC#_a\ud800"}`, true},
		{"a lone low surrogate", `{"TopicId":"@TGS#ff@TOPIC#_a\udc00"}`, true},
		{"invalid UTF-8", "{\"TopicId\":\"@TGS#ff@TOPIC#_a\xff\"}", true},
		{"U+FFFD sent as UTF-8", "{\"TopicId\":\"@TGS#ff@TOPIC#_a\uFFFD\"}", false},
		{"U+FFFD sent as an escape", `{"TopicId":"@TGS#ff@TOPIC#_a\uFFFD"}`, false},
		{"U+FFFD sent as a lower-case escape", `{"TopicId":"@TGS#ff@TOPIC#_a\ufffd"}`, false},
		// The finding: a U+FFFD of the body's own elsewhere.
		{"a lone surrogate, U+FFFD in the name", `{"TopicId":"@TGS#ff@TOPIC#_a\ud800","Name":"first \ufffd"}`, true},
		{"invalid UTF-8, U+FFFD in the name", "{\"Name\":\"\uFFFD\",\"TopicId\":\"@TGS#ff@TOPIC#_a\xfe\"}", true},
		{"a lone surrogate in a list, U+FFFD in the type", `{"TopicIdList":["x","@TGS#ff@TOPIC#_a\udc00"],"Type":"\ufffd"}`, true},
		{"U+FFFD sent, and in the name too", `{"TopicId":"@TGS#ff@TOPIC#_a\ufffd","Name":"\ufffd"}`, false},
		// A number a float64 cannot hold ended the scan before the id.
		{"a number beyond float64 before the id", `{"Name":"\ufffd","N":1e999,"TopicIdList":["@TGS#ff@TOPIC#_a\ud800"]}`, true},
	}
	for _, tt := range tests {
		if got := replacedByDecoder([]byte(tt.raw), "@TGS#ff", id); got != tt.want {
			t.Errorf("%s: %s: replaced %v, want %v", tt.name, tt.raw, got, tt.want)
		}
	}
	if replacedByDecoder(nil, id) {
		t.Error("an event without its body: replaced, want taken at its word")
	}
}

// TestReplacedInLiteral: what of a JSON string literal a decoder reads as
// U+FFFD without the text sending it.
func TestReplacedInLiteral(t *testing.T) {
	tests := []struct {
		lit  string
		want bool
	}{
		{`"plain"`, false},
		{`"\ud83d\ude00"`, false}, // a pair: 😀
		{`"a\\ud800"`, false},     // an escaped backslash, then text
		{`"\"\ud800"`, true},
		{`"\ud800"`, true},
		{`"\ud800x"`, true},
		{`"\ud800\u0041"`, true}, // a high surrogate and no low one
		{`"\udfff"`, true},
		{`"\ud83d\ude00\udc00"`, true},
		{"\"\xc3\"", true},
		{`"\ufffd"`, false},
		{`"\n\t\u00e9"`, false},
	}
	for _, tt := range tests {
		if got := replacedInLiteral([]byte(tt.lit)); got != tt.want {
			t.Errorf("%s: replaced %v, want %v", tt.lit, got, tt.want)
		}
	}
}
