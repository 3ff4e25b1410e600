package moderation_test

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestREADMEShowsTheModule: the README's "Write your own command module"
// shows this example's Module declaration; comments aside, it is the code
// of moderation.go. The README once left out the config.Section line, and
// a module written from it failed to start (no Config for NewFilter).
func TestREADMEShowsTheModule(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile("moderation.go")
	if err != nil {
		t.Fatal(err)
	}
	shown, ok := moduleDecl(string(readme))
	if !ok {
		t.Fatal(`README.md shows no "var Module = fx.Module(\"moderation\"" declaration`)
	}
	real, ok := moduleDecl(string(src))
	if !ok {
		t.Fatal(`moderation.go has no "var Module = fx.Module(\"moderation\"" declaration`)
	}
	if shown != real {
		t.Fatalf("the README's Module, comments aside:\n%s\nmoderation.go's:\n%s", shown, real)
	}
}

var lineComment = regexp.MustCompile(`//[^\n]*`)

// moduleDecl is the declaration of Module from its first line to the
// closing parenthesis at the start of a line, without comments or spaces.
func moduleDecl(text string) (string, bool) {
	const start = `var Module = fx.Module("moderation",`
	i := strings.Index(text, start)
	if i < 0 {
		return "", false
	}
	decl, _, ok := strings.Cut(text[i:], "\n)")
	if !ok {
		return "", false
	}
	return strings.Join(strings.Fields(lineComment.ReplaceAllString(decl, "")), ""), true
}
