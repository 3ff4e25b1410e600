package main

import (
	"os"
	"strings"
	"testing"

	"github.com/imcallback/imcallback/protocol"
)

// TestReadmeTableIsCurrent fails when the README's error-code table is not
// what go generate ./protocol writes.
func TestReadmeTableIsCurrent(t *testing.T) {
	doc, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	want, err := replace(doc, render())
	if err != nil {
		t.Fatal(err)
	}
	if string(want) != string(doc) {
		t.Fatal("README.md's error-code table is stale: run go generate ./protocol")
	}
}

func TestRenderListsEveryError(t *testing.T) {
	table := render()
	for _, e := range protocol.AllErrors() {
		if !strings.Contains(table, "`"+e.Reason+"`") || e.When == "" {
			t.Errorf("%s missing from the table or without its When", e.Reason)
		}
	}
	if _, err := replace([]byte("no markers"), table); err == nil {
		t.Error("a README without markers was accepted")
	}
}
