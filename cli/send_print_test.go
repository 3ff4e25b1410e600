package cli

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
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
			Envelope: protocol.Envelope{ActionStatus: "FAIL", ErrorCode: 1, ErrorInfo: info}}, true)
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
		{"dropped", imsend.Result{Command: "C2C.CallbackBeforeSendMsg", Status: 200, Envelope: env("OK", 2, "")}},
		{"denied", imsend.Result{Status: 200, Envelope: env("OK", 120001, "bad word")}},
		{"an after-callback's error", imsend.Result{Command: "Group.CallbackAfterCreateTopic", Status: 200, Envelope: env("OK", 1, "db down")}},
		{"rejected", imsend.Result{Status: 401, Envelope: env("FAIL", 40101, "bad_signature")}},
		{"FAIL on HTTP 200", imsend.Result{Status: 200, Envelope: env("FAIL", 1, "refused")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			printResult(&out, &tt.res, true)
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

// TestSendAnswerWithoutEnvelope: an answer that is not IM's JSON envelope
// (a proxy's HTML page, an empty HTTP 200, a gateway's JSON without
// ActionStatus) has no ErrorCode or ErrorInfo: send must not print it as
// the envelope its zero value would be, "failed: code 0" (which the README
// gives as ActionStatus FAIL) or "rejected: HTTP 502, code 0", but say
// there is no envelope, as the README lists, and exit non-zero with the
// error naming the answer.
func TestSendAnswerWithoutEnvelope(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, _ := strings.Cut(string(readme), "**From the shell**")
	section, _, _ = strings.Cut(section, "\n## ")
	tests := []struct {
		name   string
		status int
		body   string
		want   string // the meaning line
		readme string // as the README lists it
	}{
		{"an HTML page on HTTP 200", 200, "<html>hi</html>", "failed: no envelope", "`failed: no envelope`"},
		{"an empty HTTP 200", 200, "", "failed: no envelope", "`failed: no envelope`"},
		{"JSON without ActionStatus", 200, `{"message":"Not Found"}`, "failed: no envelope", "`failed: no envelope`"},
		{"an envelope name in another case", 200, `{"actionstatus":"OK"}`, "failed: no envelope", "`failed: no envelope`"},
		{"a proxy's 502 page", 502, "<html>Bad Gateway</html>", "rejected: HTTP 502, no envelope", "`rejected: HTTP <status>, no envelope`"},
		{"an empty 204", 204, "", "rejected: HTTP 204, no envelope", "`rejected: HTTP <status>, no envelope`"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.WriteHeader(tt.status)
				fmt.Fprint(w, tt.body)
			}))
			defer srv.Close()
			out, err := runCLI(t, "send", "--url", srv.URL, "--token", "", "--command", "Group.CallbackAfterCreateTopic", "--sample")
			if err == nil || errors.Is(err, errRejected) || !strings.Contains(err.Error(), "envelope") && !strings.Contains(err.Error(), "JSON object") {
				t.Errorf("err = %v, want the answer's error", err)
			}
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if got := lines[len(lines)-1]; got != tt.want || strings.Contains(out, "code 0") {
				t.Errorf("output:\n%s\nwant it to end in %q", out, tt.want)
			}
			if !strings.Contains(section, tt.readme) {
				t.Errorf("README.md's **From the shell** paragraph does not list %s", tt.readme)
			}
		})
	}
}

// TestSendDoesNotCallAnAfterCallbacksErrorADeny: IM ignores what an
// after-callback answers, so a non-zero ErrorCode there (an endpoint's
// "receiver-side error") denies nothing: send must say what the answer
// is, its code and info, and that IM ignores it, not "denied", which it
// prints for a before-command's or an unknown command's deny, whose
// answer decides.
func TestSendDoesNotCallAnAfterCallbacksErrorADeny(t *testing.T) {
	tests := []struct {
		name, command string
		want          string // the meaning line
	}{
		{"an after-command", "Group.CallbackAfterCreateTopic", "error, ignored by IM: code 1: db down"},
		{"a before-command", "Group.CallbackBeforeCreateTopic", "denied: code 1: db down"},
		{"a command the catalogue lacks", "X.CallbackBeforeY", "denied: code 1: db down"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			printResult(&out, &imsend.Result{Command: tt.command, Status: 200,
				Envelope: protocol.Envelope{ActionStatus: "OK", ErrorCode: 1, ErrorInfo: "db down"}}, true)
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			if got := lines[len(lines)-1]; !strings.HasPrefix(got, tt.want) {
				t.Errorf("output:\n%s\nwant its last line to start with %q", out.String(), tt.want)
			}
		})
	}
}
