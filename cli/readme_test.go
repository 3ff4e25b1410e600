package cli

import (
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// readmeCommand is one line of the README's Command line block: the
// command path and the flags it shows.
type readmeCommand struct {
	path  string
	flags []string
}

// readmeFlag finds the flags a line of the block shows.
var readmeFlag = regexp.MustCompile(`--[a-z][a-z-]*`)

// readmeCommands reads the README's Command line block: "imcallback
// events list|get ... [--json]" gives events list and events get, each
// with --json; [serve] is a command path too.
func readmeCommands(t *testing.T) []readmeCommand {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## Command line\n")
	if !ok {
		t.Fatal("README.md has no ## Command line section")
	}
	_, block, ok := strings.Cut(section, "```\n")
	if !ok {
		t.Fatal("README.md's Command line section has no ``` block")
	}
	block, _, _ = strings.Cut(block, "```")
	var out []readmeCommand
	for _, line := range strings.Split(strings.TrimSpace(block), "\n") {
		usage, _, _ := strings.Cut(line, "  ") // the description follows two spaces
		words := strings.Fields(usage)
		if len(words) == 0 || words[0] != "imcallback" {
			t.Fatalf("README.md's Command line block: %q does not start with imcallback", line)
		}
		var path []string
		for _, w := range words[1:] {
			w = strings.TrimSuffix(strings.TrimPrefix(w, "["), "]")
			if strings.HasPrefix(w, "-") {
				break
			}
			path = append(path, w)
		}
		flags := readmeFlag.FindAllString(usage, -1)
		last := len(path) - 1
		if last < 0 {
			t.Fatalf("README.md's Command line block: %q names no command", line)
		}
		for _, leaf := range strings.Split(path[last], "|") {
			out = append(out, readmeCommand{path: strings.Join(append(slices.Clone(path[:last]), leaf), " "), flags: flags})
		}
	}
	return out
}

// leafCommands are the runnable commands under root by path (root's own
// name left out), help and completion aside (cobra's own).
func leafCommands(root *cobra.Command) map[string]*cobra.Command {
	out := map[string]*cobra.Command{}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			if sub.Name() == "help" || sub.Name() == "completion" || sub.Hidden {
				continue
			}
			if sub.HasSubCommands() {
				walk(sub)
				continue
			}
			out[strings.TrimPrefix(sub.CommandPath(), root.Name()+" ")] = sub
		}
	}
	walk(root)
	return out
}

// TestREADMECommandLineMatchesTheCLI: every command of the binary is in
// the README's Command line block and every command there exists, with
// the flags the block shows.
func TestREADMECommandLineMatchesTheCLI(t *testing.T) {
	leaves := leafCommands(newRootCmd(io.Discard, io.Discard))
	documented := map[string]bool{}
	for _, rc := range readmeCommands(t) {
		documented[rc.path] = true
		c, ok := leaves[rc.path]
		if !ok {
			t.Errorf("README.md's Command line block lists imcallback %s, which the CLI lacks", rc.path)
			continue
		}
		for _, f := range rc.flags {
			if c.Flag(strings.TrimPrefix(f, "--")) == nil { // its own or inherited
				t.Errorf("README.md's Command line block shows imcallback %s %s, a flag it lacks", rc.path, f)
			}
		}
	}
	for path := range leaves {
		if !documented[path] {
			t.Errorf("the CLI has imcallback %s, which README.md's Command line block lacks", path)
		}
	}
}
