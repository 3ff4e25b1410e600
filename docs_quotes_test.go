package imcallback_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

var (
	// quotedPhrase is a phrase a document quotes in double quotes, as what
	// the service logs or answers: "event dead-lettered at once: …". It
	// starts with a letter and is long enough to be a message, not a word.
	quotedPhrase = regexp.MustCompile("\"([A-Za-z][^\"`{}]{10,200})\"")
	// codeSpan is a Markdown code span or fenced block: code, which the
	// other drift tests check, not a quoted message.
	codeSpan = regexp.MustCompile("(?s)```.*?```|`[^`]*`")
	// concatenation joins the string literals of a message split over
	// lines: "a: "+\n\t"b".
	concatenation = regexp.MustCompile(`"\s*\+\s*"`)
	// sectionName is what a quote may name instead of a message: a
	// heading's text or a bold run-in (see "Several apps").
	sectionName = regexp.MustCompile(`(?m)^#+ (.+)$|\*\*([^*]+)\*\*`)
)

// quotedElsewhere are the quotes that are not the module's own messages,
// each with what it is.
var quotedElsewhere = map[string]string{
	"database or disk is full":                        "SQLite's error text, which the topic store passes on",
	"deliver policy can not be updated":               "nats-server's refusal of a consumer update",
	"no answer within 2s: timed out, still running …": "server/checks.go's message as it reads with the 2 s deadline filled in",
	"the types of that area":                          "prose: what a package path means",
}

// eachSourceFile calls fn with the path and text of each non-test .go
// file of the module, outside hidden folders and testdata.
func eachSourceFile(t *testing.T, fn func(path string, src []byte)) {
	t.Helper()
	eachGoFile(t, false, fn)
}

// docQuotes are the phrases README.md and docs/*.md quote in running
// text, their lines joined (a quote wraps anywhere), by file, and the
// names of their sections, which a quote may refer to.
func docQuotes(t *testing.T) (quotes map[string][]string, sections map[string]bool) {
	t.Helper()
	files, err := filepath.Glob("docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	quotes, sections = map[string][]string{}, map[string]bool{}
	for _, file := range append([]string{"README.md"}, files...) {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range sectionName.FindAllStringSubmatch(string(b), -1) {
			sections[strings.TrimSpace(m[1]+m[2])] = true
		}
		text := codeSpan.ReplaceAllString(string(b), " ")
		text = strings.Join(strings.Fields(text), " ")
		for _, m := range quotedPhrase.FindAllStringSubmatch(text, -1) {
			quotes[file] = append(quotes[file], m[1])
		}
	}
	return quotes, sections
}

// TestDocsQuoteWhatTheCodeWrites: every phrase README.md and docs/*.md
// quote (a log line an operator greps for, an error an answer carries:
// "event dead-lettered at once: retrying cannot help") is written by the
// module's code, so a quote is what the operator will see. A quote may
// also name a section (a heading or a bold run-in), or be one of
// quotedElsewhere. docs/delivery.md
// once quoted a dead-lettering's log line with words the service never
// logs.
func TestDocsQuoteWhatTheCodeWrites(t *testing.T) {
	var sources strings.Builder
	eachSourceFile(t, func(_ string, src []byte) {
		sources.Write(concatenation.ReplaceAll(src, nil))
		sources.WriteByte('\n')
	})
	code := sources.String()
	quotes, sections := docQuotes(t)
	checked := 0
	for file, quoted := range quotes {
		for _, q := range quoted {
			checked++
			if !strings.Contains(code, q) && !sections[q] && quotedElsewhere[q] == "" {
				t.Errorf("%s quotes %q, which no .go file of the module writes: quote the message as the code has it", file, q)
			}
		}
	}
	if checked < 20 {
		t.Errorf("only %d quoted phrases found in the documents: were they read as expected?", checked)
	}
}
