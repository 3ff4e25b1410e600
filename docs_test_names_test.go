package imcallback_test

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

var (
	// citedTest is a test, fuzz target or benchmark a document names:
	// `TestX`, `BenchmarkY/sub`, `TestStore/*/case`.
	citedTest = regexp.MustCompile("`((?:Test|Fuzz|Benchmark)[A-Z][A-Za-z0-9_]*)(?:/[^`]*)?`")
	// declaredTest is the declaration of one in a _test.go file.
	declaredTest = regexp.MustCompile(`(?m)^func ((?:Test|Fuzz|Benchmark)[A-Za-z0-9_]+)\(`)
)

// TestDocsCiteTestsThatExist: every test, fuzz target and benchmark
// README.md and docs/*.md name as the proof of a claim (docs/reliability.md
// names one per fault and bound) is declared in the module, so a renamed
// or deleted test does not leave a claim citing nothing.
func TestDocsCiteTestsThatExist(t *testing.T) {
	declared := map[string]bool{}
	eachTestFile(t, func(_ string, src []byte) {
		for _, m := range declaredTest.FindAllStringSubmatch(string(src), -1) {
			declared[m[1]] = true
		}
	})
	files, err := filepath.Glob("docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	cited := 0
	for _, file := range append([]string{"README.md"}, files...) {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range citedTest.FindAllStringSubmatch(string(b), -1) {
			cited++
			if !declared[m[1]] {
				t.Errorf("%s cites %s, which no _test.go file of the module declares", file, m[0])
			}
		}
	}
	if cited < 30 {
		t.Errorf("only %d tests cited in the documents: were they read as expected?", cited)
	}
}
