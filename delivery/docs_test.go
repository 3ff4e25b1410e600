package delivery_test

import (
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/imcallback/imcallback/delivery"
)

// docsRow is the row of docs/delivery.md's table whose first cell is name.
func docsRow(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("../docs/delivery.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "| "+name+" |") {
			return line
		}
	}
	t.Fatalf("docs/delivery.md has no table row %q", name)
	return ""
}

// TestDocsNameEveryHeader: docs/delivery.md's table names every header an
// event message and a dead letter carry, so a header added to the code is
// not missing from the description of the stored format.
func TestDocsNameEveryHeader(t *testing.T) {
	message := docsRow(t, "Message")
	for _, h := range []string{delivery.HeaderCommand, delivery.HeaderQuery, delivery.HeaderReceivedAt,
		delivery.HeaderRequestID, delivery.HeaderReplayOf, delivery.HeaderTarget} {
		if !strings.Contains(message, "`"+h+"`") {
			t.Errorf("docs/delivery.md's Message row does not name the header %s", h)
		}
	}
	dead := docsRow(t, "Dead letters")
	for _, h := range []string{delivery.HeaderDeadError, delivery.HeaderDeadDeliveries, delivery.HeaderDeadStream,
		delivery.HeaderDeadSeq, delivery.HeaderDeadSubject, delivery.HeaderDeadMsgID, delivery.HeaderDeadAt} {
		short := "`-" + strings.TrimPrefix(h, "Imcallback-Dead-") + "`"
		if !strings.Contains(dead, "`"+h+"`") && !strings.Contains(dead, short) {
			t.Errorf("docs/delivery.md's Dead letters row does not name the header %s", h)
		}
	}
}

// TestDocsNameTheReplayBounds: README.md and docs/delivery.md give the
// bounds of a replay of every dead letter as the code has them: the
// number, then the constant's name in brackets.
func TestDocsNameTheReplayBounds(t *testing.T) {
	bounds := map[string]int{"ReplayDeadPage": delivery.ReplayDeadPage, "ReplayListMost": delivery.ReplayListMost}
	for _, doc := range []string{"../README.md", "../docs/delivery.md"} {
		b, err := os.ReadFile(doc)
		if err != nil {
			t.Fatal(err)
		}
		text := strings.Join(strings.Fields(string(b)), " ") // lines wrap anywhere
		for name, n := range bounds {
			want := regexp.MustCompile(regexp.QuoteMeta(thousands(n)) + " [^()]{0,40}\\(`delivery\\." + name + "`")
			if !want.MatchString(text) {
				t.Errorf("%s does not give %s as %s", doc, name, thousands(n))
			}
		}
	}
}

// thousands is n written with commas between its thousands, as the docs
// write numbers.
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// TestDocsSayAPauseEndsWithItsProcess: a pause of all delivery, like one
// command's, is kept in the memory of the process that was asked (a new
// Service starts its workers), and docs/delivery.md says so where it
// describes the pause, rather than that pausing all delivery has none of
// the per-command pause's limits, which read as a pause that outlives a
// restart (the deploy of the fixed handler) or holds every replica.
func TestDocsSayAPauseEndsWithItsProcess(t *testing.T) {
	b, err := os.ReadFile("../docs/delivery.md")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Join(strings.Fields(string(b)), " ")
	start := strings.Index(text, "### Pausing delivery")
	end := strings.Index(text, "Limits of the per-command pause")
	if start < 0 || end < start {
		t.Fatal("docs/delivery.md has no section \"Pausing delivery\" with the limits of the per-command pause")
	}
	intro := text[start:end]
	for _, want := range []string{"ends with it", "each replica", "a restart of the process"} {
		if !strings.Contains(intro, want) {
			t.Errorf("docs/delivery.md's description of a pause of all delivery does not say %q", want)
		}
	}
	if strings.Contains(text, "pausing all delivery has none of them") {
		t.Error("docs/delivery.md says pausing all delivery has none of the per-command pause's limits, but it too ends with its process")
	}
}
