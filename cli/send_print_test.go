package cli

import (
	"bytes"
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
