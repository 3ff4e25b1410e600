package cli

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"
)

// TestJSONText: the JSON the CLI prints escapes every character that is
// not graphic (a C1 control such as U+009B, CSI to a terminal; a format
// character such as U+202E; DEL; one past the Basic Multilingual Plane as a
// surrogate pair) and every byte that is not UTF-8, and keeps the rest,
// the white space between values included, as it is.
func TestJSONText(t *testing.T) {
	tests := []struct{ in, want string }{
		{"{\n  \"name\": \"话题 ✓\"\n}\n", "{\n  \"name\": \"话题 ✓\"\n}\n"},
		{`{"a":"x` + "\u009b" + `2J"}`, `{"a":"x\u009b2J"}`},
		{`"abc` + "\u202e" + `dcba"`, `"abc\u202edcba"`},
		{`"del ` + "\x7f" + `"`, `"del \u007f"`},
		{`"tag ` + "\U000e0041" + `"`, `"tag \udb40\udc41"`},
		{`"bad ` + "\xff" + ` byte"`, `"bad \ufffd byte"`},
		{`"already \u001b escaped"`, `"already \u001b escaped"`},
		{"", ""},
	}
	for _, tt := range tests {
		got := string(jsonText([]byte(tt.in)))
		if got != tt.want {
			t.Errorf("jsonText(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestJSONOutputEscapesWhatUsersWrote: an event's body and a topic's name
// are what IM's users wrote; printed as JSON (events get always, topics
// list --json) their C1 controls and format characters are escaped, so
// that none reaches the terminal raw, and the JSON decodes to the same
// values the admin API answered.
func TestJSONOutputEscapesWhatUsersWrote(t *testing.T) {
	const text = "x\u009b2J\u009b31mred\u202eevil\u007f"
	raw, err := json.Marshal(text) // as the admin API writes it: these characters raw
	if err != nil || !strings.Contains(string(raw), "\u009b") {
		t.Fatalf("json.Marshal(%q) = %s, %v", text, raw, err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/v1/events/7":
			fmt.Fprintf(w, `{"seq":7,"command":"Group.CallbackAfterCreateTopic","body":{"Name":%s}}`, raw)
		case "/v1/topics":
			fmt.Fprintf(w, `{"topics":[{"sdk_app_id":"1400000000","topic_id":"t","name":%s}],"next_cursor":""}`, raw)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	for _, args := range [][]string{{"events", "get", "7"}, {"topics", "list", "--json"}} {
		out, err := runCLI(t, append([]string{"--admin", srv.URL}, args...)...)
		if err != nil {
			t.Fatalf("%s: %v", strings.Join(args, " "), err)
		}
		if strings.ContainsAny(out, "\u009b\u202e\u007f") || !utf8.ValidString(out) {
			t.Errorf("%s: a control or format character reached the terminal raw:\n%q", strings.Join(args, " "), out)
		}
		var v any
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Fatalf("%s: not JSON: %v\n%s", strings.Join(args, " "), err, out)
		}
		if !strings.Contains(fmt.Sprint(v), text) {
			t.Errorf("%s: the JSON does not decode to the value answered:\n%s", strings.Join(args, " "), out)
		}
	}
}
