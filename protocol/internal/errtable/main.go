// Command errtable rewrites the error-code table of the README given as
// its argument from protocol.AllErrors. The table sits between the lines
// <!-- errors:begin --> and <!-- errors:end -->.
//
//	go run ./protocol/internal/errtable README.md
package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/imcallback/imcallback/protocol"
)

// Markers around the generated table.
const (
	begin = "<!-- errors:begin -->"
	end   = "<!-- errors:end -->"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: errtable README.md")
		os.Exit(2)
	}
	if err := rewrite(os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, "errtable:", err)
		os.Exit(1)
	}
}

// render is the table, one row per rejection, in code order.
func render() string {
	var b strings.Builder
	b.WriteString("| code | HTTP | reason | ErrorInfo | when |\n|---|---|---|---|---|\n")
	for _, e := range protocol.AllErrors() {
		fmt.Fprintf(&b, "| %d | %d | `%s` | %s | %s |\n", e.Code, e.Status, e.Reason, e.Info, e.When)
	}
	return b.String()
}

// replace returns doc with the text between the markers set to table.
func replace(doc []byte, table string) ([]byte, error) {
	i := bytes.Index(doc, []byte(begin))
	j := bytes.Index(doc, []byte(end))
	if i < 0 || j < i {
		return nil, errors.New("the README has no " + begin + " … " + end + " section")
	}
	var out bytes.Buffer
	out.Write(doc[:i+len(begin)])
	out.WriteString("\n")
	out.WriteString(table)
	out.Write(doc[j:])
	return out.Bytes(), nil
}

func rewrite(path string) error {
	doc, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	out, err := replace(doc, render())
	if err != nil {
		return err
	}
	return os.WriteFile(path, out, 0o644)
}
