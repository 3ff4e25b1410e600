package main

import (
	"bytes"
	"os"
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
