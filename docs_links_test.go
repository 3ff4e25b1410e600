package imcallback_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

var (
	// inlineLink is the target of a Markdown link or image:
	// [text](docs/delivery.md#the-window "title").
	inlineLink = regexp.MustCompile(`\]\(([^()\s]+)(?:\s+"[^"]*")?\)`)
	// referenceLink is the target of a reference definition: [name]: target.
	referenceLink = regexp.MustCompile(`(?m)^ {0,3}\[[^\]]+\]:[ \t]*(\S+)`)
	// urlScheme starts a link that leaves the repository: https:, mailto:.
	urlScheme = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*:|^//`)
	// headingLine is an ATX heading and its text, closing #s aside.
	headingLine = regexp.MustCompile(`(?m)^#{1,6}[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$`)
	// linkInHeading is a link inside a heading, whose text alone counts.
	linkInHeading = regexp.MustCompile(`\[([^\]]*)\]\([^)]*\)`)
	// htmlAnchor is an anchor a document sets itself: <a name="x">, <a id="x">.
	htmlAnchor = regexp.MustCompile(`<a\s+(?:name|id)="([^"]+)"`)
	// sectionCite is a section of docs/protocol.md cited by number: §3.2.
	sectionCite = regexp.MustCompile(`§(\d+(?:\.\d+)*)`)
	// protocolSection is a numbered heading of docs/protocol.md:
	// "## 1. Transport", "### 3.2 Before-callbacks: …".
	protocolSection = regexp.MustCompile(`(?m)^#{2,6} (\d+(?:\.\d+)*)\.? `)
)

// markdownFiles are the .md files of the module, outside hidden folders
// and testdata.
func markdownFiles(t *testing.T) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if !d.IsDir() && strings.HasSuffix(path, ".md") {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// githubAnchor is the anchor GitHub gives a heading: its text (a link's
// and a code span's text kept, their markup dropped) in lower case, each
// space a hyphen, every character but letters, digits, '-' and '_'
// dropped.
func githubAnchor(heading string) string {
	heading = linkInHeading.ReplaceAllString(heading, "$1")
	var b strings.Builder
	for _, r := range strings.ToLower(heading) {
		switch {
		case r == ' ':
			b.WriteByte('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// markdownAnchors are the anchors a document's headings and its own
// <a name> tags give, a repeated heading's numbered as GitHub numbers
// them (x, x-1, x-2).
func markdownAnchors(text string) map[string]bool {
	text = codeSpan.ReplaceAllStringFunc(text, func(code string) string {
		if strings.HasPrefix(code, "```") {
			return "" // a fenced block's # lines are no headings
		}
		return strings.Trim(code, "`")
	})
	anchors, seen := map[string]bool{}, map[string]int{}
	for _, m := range headingLine.FindAllStringSubmatch(text, -1) {
		a := githubAnchor(m[1])
		if n := seen[a]; n > 0 {
			anchors[a+"-"+strconv.Itoa(n)] = true
		} else {
			anchors[a] = true
		}
		seen[a]++
	}
	for _, m := range htmlAnchor.FindAllStringSubmatch(text, -1) {
		anchors[m[1]] = true
	}
	return anchors
}

// linkProblems says what is wrong with each relative link of the
// document file holding text: a file or folder that does not exist, or
// an #anchor no heading of the Markdown file it names gives. read reads
// a linked Markdown file. checked is how many links were looked at.
func linkProblems(file, text string, read func(string) (string, error)) (problems []string, checked int) {
	prose := codeSpan.ReplaceAllString(text, " ")
	var targets []string
	for _, m := range inlineLink.FindAllStringSubmatch(prose, -1) {
		targets = append(targets, m[1])
	}
	for _, m := range referenceLink.FindAllStringSubmatch(prose, -1) {
		targets = append(targets, m[1])
	}
	for _, target := range targets {
		if urlScheme.MatchString(target) {
			continue
		}
		checked++
		path, fragment, _ := strings.Cut(target, "#")
		linked := file
		if path != "" {
			linked = filepath.Join(filepath.Dir(file), filepath.FromSlash(path))
			if _, err := os.Stat(linked); err != nil {
				problems = append(problems, file+" links to "+target+", which does not exist")
				continue
			}
		}
		if fragment == "" || !strings.HasSuffix(linked, ".md") {
			continue
		}
		body, err := read(linked)
		if err != nil {
			problems = append(problems, file+" links to "+target+": "+err.Error())
			continue
		}
		if !markdownAnchors(body)[fragment] {
			problems = append(problems, file+" links to "+target+", but no heading of "+filepath.ToSlash(linked)+" has the anchor #"+fragment)
		}
	}
	return problems, checked
}

// readText reads a file as a string.
func readText(path string) (string, error) {
	b, err := os.ReadFile(path)
	return string(b), err
}

// TestDocsLinksResolve: every relative link of every Markdown file of the
// module (README.md, docs/*.md, CHANGELOG.md, …) names a file or folder
// that exists, and its #anchor is one GitHub gives a heading of the
// linked document, so a renamed section or a moved file leaves no link
// going nowhere. Every section of docs/protocol.md cited by number (§7)
// is one of its numbered headings.
func TestDocsLinksResolve(t *testing.T) {
	protocol, err := readText("docs/protocol.md")
	if err != nil {
		t.Fatal(err)
	}
	sections := map[string]bool{}
	for _, m := range protocolSection.FindAllStringSubmatch(protocol, -1) {
		sections[m[1]] = true
	}
	if len(sections) < 10 {
		t.Fatalf("docs/protocol.md has %d numbered sections: was it read as expected?", len(sections))
	}
	links, cites := 0, 0
	for _, file := range markdownFiles(t) {
		text, err := readText(file)
		if err != nil {
			t.Fatal(err)
		}
		problems, checked := linkProblems(file, text, readText)
		links += checked
		for _, p := range problems {
			t.Error(p)
		}
		for _, m := range sectionCite.FindAllStringSubmatch(codeSpan.ReplaceAllString(text, " "), -1) {
			cites++
			if !sections[m[1]] {
				t.Errorf("%s cites %s, which is no numbered section of docs/protocol.md", file, m[0])
			}
		}
	}
	if links < 20 || cites < 20 {
		t.Errorf("only %d relative links and %d section citations found in the documents: were they read as expected?", links, cites)
	}
}

// TestLinkProblemsFindsMistakes: the check above finds a link to a file
// that does not exist and an anchor no heading gives, and takes the
// anchors GitHub gives (punctuation and code marks dropped, a repeated
// heading numbered).
func TestLinkProblemsFindsMistakes(t *testing.T) {
	docs := map[string]string{
		filepath.Join("docs", "other.md"): "# Other\n\n## The `x` setting: on/off\n\n## Twice\n\n## Twice\n\n```sh\n# not a heading\n```\n",
	}
	read := func(path string) (string, error) {
		if text, ok := docs[path]; ok {
			return text, nil
		}
		return readText(path)
	}
	tests := []struct {
		name, text string
		problems   int
	}{
		{"a file of the module", "[d](delivery.md)", 0},
		{"a missing file", "[d](delivry.md)", 1},
		{"a heading's anchor", "[d](delivery.md#what-an-http-503-means)", 0},
		{"no such heading", "[d](delivery.md#what-an-http-503-mean)", 1},
		{"an anchor of this document", "[x](#the-x-setting-onoff)", 0},
		{"a repeated heading", "[x](#twice-1)", 0},
		{"a repeated heading's third", "[x](#twice-2)", 1},
		{"a fenced block's # line", "[x](#not-a-heading)", 1},
		{"a web page", "[w](https://example.com/x.md#y)", 0},
		{"a link shown as code", "`[d](delivry.md)`", 0},
		{"a reference definition", "[d]: delivery.md#nowhere", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join("docs", "other.md")
			text := docs[file] + "\n" + tt.text + "\n"
			problems, _ := linkProblems(file, text, read)
			if len(problems) != tt.problems {
				t.Errorf("%q: %d problems %q, want %d", tt.text, len(problems), problems, tt.problems)
			}
		})
	}
}
