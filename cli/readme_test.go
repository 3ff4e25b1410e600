package cli

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
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

// docInvocation is a command line shown in a document: a backticked span
// or a line of a ```sh block that starts with imcallback.
type docInvocation struct {
	file, text string
}

// invocationStart finds the program of a shown command line; what follows
// is its arguments.
var invocationStart = regexp.MustCompile(`^(?:imcallback|go run \./cmd/imcallback)\s+`)

// intendedMistakes are command lines the documents show as mistakes.
var intendedMistakes = map[string]bool{"imcallback delivery pase": true}

// docInvocations are the command lines README.md and docs/*.md show:
// each backticked span that starts with imcallback, or with one of the
// commands and holds a flag (`events replay --dead`), and each line of a
// ```sh block that starts with imcallback (its continuation lines joined).
func docInvocations(t *testing.T, commands []string) []docInvocation {
	t.Helper()
	files, err := filepath.Glob("../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	span := regexp.MustCompile("`([^`\n]+)`")
	var out []docInvocation
	for _, file := range append([]string{"../README.md"}, files...) {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimPrefix(file, "../")
		text := string(b)
		for _, block := range strings.Split(text, "```sh\n")[1:] {
			block, _, _ = strings.Cut(block, "```")
			block = strings.ReplaceAll(block, "\\\n", " ")
			for _, line := range strings.Split(block, "\n") {
				line, _, _ = strings.Cut(line, " #")
				if line = strings.TrimSpace(line); invocationStart.MatchString(line) {
					out = append(out, docInvocation{name, line})
				}
			}
			text = strings.Replace(text, block, "", 1) // its spans are shell, not command lines
		}
		for _, m := range span.FindAllStringSubmatch(text, -1) {
			s := strings.TrimSpace(m[1])
			first, _, _ := strings.Cut(s, " ")
			if invocationStart.MatchString(s) || slices.Contains(commands, first) && strings.Contains(s, " --") {
				out = append(out, docInvocation{name, s})
			}
		}
	}
	return out
}

// docInvocationProblem says what is wrong with a shown command line: a
// command that does not exist, or a flag the command lacks. Brackets,
// alternatives (list|get, --cursor C | --all) and placeholders are read
// as the Command line block writes them.
func docInvocationProblem(root *cobra.Command, text string) string {
	args := strings.Fields(invocationStart.ReplaceAllString(text, ""))
	cmds := []*cobra.Command{root}
	i := 0
	for ; i < len(args); i++ {
		word := strings.Trim(args[i], "[]")
		if strings.HasPrefix(word, "-") || word == "|" {
			break
		}
		var next []*cobra.Command
		for _, alt := range strings.Split(word, "|") {
			for _, c := range cmds {
				if sub, _, err := c.Find([]string{alt}); err == nil && sub != c {
					next = append(next, sub)
				}
			}
		}
		if len(next) == 0 {
			break
		}
		cmds = next
	}
	if cmds[0] == root {
		return "names no command"
	}
	if i < len(args) && !strings.HasPrefix(strings.Trim(args[i], "[]"), "-") && cmds[0].HasSubCommands() && !intendedMistakes[text] {
		return fmt.Sprintf("%s has no command %s", cmds[0].CommandPath(), args[i])
	}
	for _, arg := range args[i:] {
		for _, f := range strings.Split(strings.Trim(arg, "[]"), "/") {
			name, ok := strings.CutPrefix(f, "--")
			if !ok {
				continue
			}
			name, _, _ = strings.Cut(name, "=")
			for _, c := range cmds {
				if c.Flag(name) == nil {
					return fmt.Sprintf("%s has no flag --%s", c.CommandPath(), name)
				}
			}
		}
	}
	return ""
}

// TestDocsShowCommandLinesTheCLITakes: every command line README.md and
// docs/*.md show outside the Command line block (in running text and
// examples) names commands and flags the CLI has.
func TestDocsShowCommandLinesTheCLITakes(t *testing.T) {
	root := newRootCmd(io.Discard, io.Discard)
	var commands []string
	for _, c := range root.Commands() {
		commands = append(commands, c.Name())
	}
	shown := docInvocations(t, commands)
	if len(shown) < 20 {
		t.Fatalf("only %d command lines found in the documents: were they read as expected?", len(shown))
	}
	for _, inv := range shown {
		if p := docInvocationProblem(root, inv.text); p != "" {
			t.Errorf("%s shows `%s`: %s", inv.file, inv.text, p)
		}
	}
}

// TestDocInvocationProblemFindsMistakes: the check finds a command, a
// subcommand or a flag that does not exist, and takes the forms the
// documents write.
func TestDocInvocationProblemFindsMistakes(t *testing.T) {
	root := newRootCmd(io.Discard, io.Discard)
	tests := []struct {
		text string
		ok   bool
	}{
		{"imcallback events replay --dead --seq N", true},
		{"events replay --since/--command", true},
		{"imcallback topics list [--appid A] [--cursor C | --all]", true},
		{"imcallback events list|get", true},
		{"go run ./cmd/imcallback topics list", true},
		{"imcallback delivery pase", true}, // shown as a mistake
		{"imcallback delivery paws", false},
		{"imcallback frobnicate", false},
		{"imcallback events replay --deadd", false},
		{"imcallback events list|get --limit 5", false}, // get has no --limit
		{"events dead --since 1h", false},
	}
	for _, tt := range tests {
		if p := docInvocationProblem(root, tt.text); (p == "") != tt.ok {
			t.Errorf("docInvocationProblem(%q) = %q, want ok %v", tt.text, p, tt.ok)
		}
	}
}
