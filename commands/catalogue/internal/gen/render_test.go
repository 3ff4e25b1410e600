package main

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imcallback/imcallback/commands/catalogue"
)

// docsPath is docs/commands.md relative to this package.
const docsPath = "../../../../docs/commands.md"

func TestDocsUpToDate(t *testing.T) {
	want := render(catalogue.All())
	got, err := os.ReadFile(docsPath)
	if err != nil {
		t.Fatalf("%v: run `go generate ./...` to write docs/commands.md", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("docs/commands.md is out of date with the catalogue: run `go generate ./...`")
	}
}

func TestRenderOneRowPerCommand(t *testing.T) {
	doc := string(render(catalogue.All()))
	for _, e := range catalogue.All() {
		if n := strings.Count(doc, "| `"+e.Name()+"`"); n != 1 {
			t.Errorf("%s: %d rows", e.Name(), n)
		}
	}
	for _, want := range []string{"`RefusedMembers_Account`[], `RefusedSubscribers_Account`[]", "`MsgBody`[]{`MsgType`, `MsgContent` (raw JSON)}",
		"120001–130000", "`Events[].PushID`"} {
		if !strings.Contains(doc, want) {
			t.Errorf("the reference lacks %q", want)
		}
	}
}

// TestDescriptorNamesAreDeclared parses each command package and checks
// the descriptor name the reference prints is a variable declared there.
func TestDescriptorNamesAreDeclared(t *testing.T) {
	declared := map[string]bool{}
	fset := token.NewFileSet()
	for _, e := range catalogue.All() {
		area := e.Area()
		if _, done := declared[area]; !done {
			declared[area] = true
			dir := filepath.Join("..", "..", "..", area)
			matches, err := filepath.Glob(filepath.Join(dir, "*.go"))
			if err != nil || len(matches) == 0 {
				t.Fatalf("no sources for %s in %s", area, dir)
			}
			for _, m := range matches {
				f, err := parser.ParseFile(fset, m, nil, 0)
				if err != nil {
					t.Fatal(err)
				}
				for name, obj := range f.Scope.Objects {
					if obj.Kind == ast.Var {
						declared[area+"."+name] = true
					}
				}
			}
		}
		if name := descriptorName(e); !declared[name] {
			t.Errorf("%s: descriptor %s is not declared", e.Name(), name)
		}
	}
}
