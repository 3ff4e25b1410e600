// Command gen writes docs/commands.md, the command reference, from the
// catalogue. Run it through `go generate ./...`.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/imcallback/imcallback/commands/catalogue"
)

func main() {
	out := flag.String("o", "docs/commands.md", "file to write")
	flag.Parse()
	if err := os.WriteFile(*out, render(catalogue.All()), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}
