package imcallback_test

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestREADMESaysHowToRequireTheModule: "Write your own command module"
// starts with what a program outside this repository needs first: the
// `go get` of the module's path, the Go version its go.mod asks for, and
// the import paths of the packages the section uses, each a folder that
// exists. The section once began with the example module, and a
// newcomer's own module had neither the requirement nor the paths.
func TestREADMESaysHowToRequireTheModule(t *testing.T) {
	mod, err := os.ReadFile("go.mod")
	if err != nil {
		t.Fatal(err)
	}
	path := regexp.MustCompile(`(?m)^module (\S+)$`).FindSubmatch(mod)
	version := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(mod)
	if path == nil || version == nil {
		t.Fatalf("go.mod has no module or go line:\n%s", mod)
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## Write your own command module\n")
	if !ok {
		t.Fatal(`README.md has no section "## Write your own command module"`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	intro, _, _ := strings.Cut(section, "`examples/moderation` is a complete module")
	intro = strings.Join(strings.Fields(intro), " ") // lines wrap anywhere
	for _, want := range []string{
		"go get " + string(path[1]),
		"Go " + string(version[1]) + " or later",
		"`" + string(path[1]) + "/dispatcher`",
	} {
		if !strings.Contains(intro, want) {
			t.Errorf("README.md's \"Write your own command module\" does not say %q before the example:\n%s", want, intro)
		}
	}
	// "…/config" is a folder of the module, as the first path is written.
	imports := regexp.MustCompile("`(?:" + regexp.QuoteMeta(string(path[1])) + "|…)/([a-z/]+)`")
	for _, m := range imports.FindAllStringSubmatch(intro, -1) {
		if fi, err := os.Stat(m[1]); err != nil || !fi.IsDir() {
			t.Errorf("README.md's \"Write your own command module\" imports %s, which is no package folder of the module", m[0])
		}
	}
}
