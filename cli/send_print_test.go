package cli

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/imcallback/imcallback/imsend"
	"github.com/imcallback/imcallback/protocol"
)

// TestSendPrintsNoControlCharacters: send prints the answer of whatever
// endpoint --url names, and one holding terminal escape sequences (in its
// body or its ErrorInfo) must not drive the terminal: set its title, clear
// the screen, or rewrite the line with a carriage return to hide the
// status. They are shown escaped, as the --repeat summary's first failure
// is; line breaks and tabs stay.
func TestSendPrintsNoControlCharacters(t *testing.T) {
	info := "bad\x1b]0;owned\x07 word\r\x1b[2Kok"
	body := `{"ActionStatus":"FAIL","ErrorCode":1,"ErrorInfo":"` + info + "\"}\n<p>\tline two \xff</p>"
	for _, status := range []int{200, 502} {
		var out bytes.Buffer
		printResult(&out, &imsend.Result{Status: status, Body: []byte(body),
			Envelope: protocol.Envelope{ActionStatus: "FAIL", ErrorCode: 1, ErrorInfo: info}})
		got := out.String()
		if strings.ContainsAny(got, "\x1b\x07\r") || strings.Contains(got, "\xff") {
			t.Errorf("HTTP %d: the output holds control characters: %q", status, got)
		}
		for _, want := range []string{`bad\x1b]0;owned\a word\r\x1b[2Kok`, "\n<p>\tline two"} {
			if !strings.Contains(got, want) {
				t.Errorf("HTTP %d: the output lacks %q: %q", status, want, got)
			}
		}
	}
}

// TestREADMENamesEverySendOutcome: the README lists what send prints of an
// answer's meaning, one line per outcome; every line printResult can print
// must be among them, so that a script reading the output knows them all.
func TestREADMENamesEverySendOutcome(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "**From the shell**")
	if !ok {
		t.Fatal("README.md has no **From the shell** paragraph")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	env := func(status string, code int, info string) protocol.Envelope {
		return protocol.Envelope{ActionStatus: status, ErrorCode: code, ErrorInfo: info}
	}
	tests := []struct {
		name string
		res  imsend.Result
	}{
		{"allowed", imsend.Result{Status: 200, Envelope: env("OK", 0, "")}},
		{"modified", imsend.Result{Status: 200, Envelope: env("OK", 0, ""), Reply: map[string]json.RawMessage{"MsgBody": json.RawMessage(`[]`)}}},
		{"dropped", imsend.Result{Status: 200, Envelope: env("OK", 2, "")}},
		{"denied", imsend.Result{Status: 200, Envelope: env("OK", 120001, "bad word")}},
		{"rejected", imsend.Result{Status: 401, Envelope: env("FAIL", 40101, "bad_signature")}},
		{"FAIL on HTTP 200", imsend.Result{Status: 200, Envelope: env("FAIL", 1, "refused")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			printResult(&out, &tt.res)
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			meaning := lines[len(lines)-1]
			want := "`" + meaning + "`" // a line without a detail, as printed
			if label, _, found := strings.Cut(meaning, ":"); found {
				want = "`" + label + ":" // the detail follows as placeholders
			}
			if !strings.Contains(section, want) {
				t.Errorf("send prints %q, but README.md's **From the shell** paragraph does not list it (no %s)", meaning, want)
			}
		})
	}
}
