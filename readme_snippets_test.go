package imcallback_test

import (
	"encoding/json"
	"fmt"
	"go/doc/comment"
	"go/parser"
	"go/token"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// snippetHarness makes a compilable file of a README snippet: the
// imports and the declarations the snippet takes for granted around it.
// {{code}} stands for the snippet.
type snippetHarness struct {
	// key is text only this snippet holds; it picks the harness.
	key  string
	file string
}

// fencedHarnesses are the harnesses of the README's ```go blocks. A
// block no harness takes fails the test: add one, so that every snippet
// a user copies is compiled against the current API.
var fencedHarnesses = []snippetHarness{
	{key: `var Module = fx.Module("moderation",`, file: `package snippet

import (
	"go.uber.org/fx"

	"github.com/imcallback/imcallback/config"
	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/examples/moderation"
)

type Config = moderation.Config

const (
	DefaultDenyCode = moderation.DefaultDenyCode
	DefaultMaxJoins = moderation.DefaultMaxJoins
)

var (
	NewJoins        = moderation.NewJoins
	NewFilter       = moderation.NewFilter
	NewJoinRecorder = moderation.NewJoinRecorder
)

{{code}}
`},
	{key: `cmd := c2c.BeforeSendMsgCommand`, file: `package snippet

import (
	"context"
	"strings"

	"github.com/imcallback/imcallback/commands/c2c"
	"github.com/imcallback/imcallback/dispatcher"
)

func containsBlockedWord(text string) bool { return strings.Contains(text, "spam") }

func NewFilter() dispatcher.Command {
	checked := "{}"
{{code}}
}
`},
	{key: `func main() { cli.Main(moderation.Module) }`, file: `package main

import (
	"github.com/imcallback/imcallback/cli"
	"github.com/imcallback/imcallback/examples/moderation"
)

{{code}}
`},
	{key: `sig := <-app.Wait()`, file: `package main

import (
	"context"
	"os"

	"go.uber.org/fx"

	"github.com/imcallback/imcallback"
	"github.com/imcallback/imcallback/config"
	"github.com/imcallback/imcallback/delivery"
	"github.com/imcallback/imcallback/examples/moderation"
	"github.com/imcallback/imcallback/logging"
	"github.com/imcallback/imcallback/server"
)

func main() {
	mine := []fx.Option{delivery.Module, moderation.Module}
{{code}}
}
`},
	{key: `middleware.AsMiddleware(`, file: `package snippet

import (
	"github.com/labstack/echo/v4"
	"go.uber.org/fx"

	"github.com/imcallback/imcallback/middleware"
)

func audit(next echo.HandlerFunc) echo.HandlerFunc { return next }

var Module = {{code}}
`},
	{key: `func NewEcho(clients *imrest.Clients) dispatcher.Command {`, file: `package snippet

import (
	"context"

	"github.com/imcallback/imcallback/commands/bot"
	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/imrest"
)

{{code}}
`},
	{key: `var tracer = otel.Tracer("moderation")`, file: `package snippet

import (
	"context"

	"go.opentelemetry.io/otel"

	"github.com/imcallback/imcallback/commands/c2c"
	"github.com/imcallback/imcallback/dispatcher"
)

{{code}}
`},
}

// inlineSnippets are code in the README's and docs' running text, each
// with the file that compiles it. The text must still be in the
// document (spaces and line breaks aside), so that a changed example is
// checked here again.
var inlineSnippets = []struct {
	doc, text string
	file      string
}{
	{doc: "README.md", text: `dispatcher.WithFallback(cmd.Deny("try later"))`, file: `package snippet

import "github.com/imcallback/imcallback/commands/c2c"
import "github.com/imcallback/imcallback/dispatcher"

var cmd = c2c.BeforeSendMsgCommand
var _ = {{code}}
`},
	{doc: "README.md", text: `cmd := dispatcher.NewBeforeCommand[MyPayload, dispatcher.NoReply]("X.CallbackBeforeY")`, file: `package snippet

import (
	"context"

	"github.com/imcallback/imcallback/dispatcher"
)

type MyPayload struct{ Text string }

func NewY() dispatcher.Command {
	{{code}}
	return cmd.Handle(func(ctx context.Context, ev *dispatcher.Event[MyPayload]) (dispatcher.Reply[dispatcher.NoReply], error) {
		return cmd.Deny("no"), nil
	})
}
`},
	{doc: "README.md", text: `fx.New(imcallback.Timeouts(config.Source{}, mine...), imcallback.Module, fx.Options(mine...)).Run()`, file: `package main

import (
	"go.uber.org/fx"

	"github.com/imcallback/imcallback"
	"github.com/imcallback/imcallback/config"
	"github.com/imcallback/imcallback/delivery"
	"github.com/imcallback/imcallback/examples/moderation"
)

func main() {
	mine := []fx.Option{delivery.Module, moderation.Module}
	{{code}}
}
`},
	{doc: "README.md", text: `fx.Invoke(func(t *tracing.Tracer) { otel.SetTracerProvider(t.TracerProvider()) })`, file: `package snippet

import (
	"go.opentelemetry.io/otel"
	"go.uber.org/fx"

	"github.com/imcallback/imcallback/tracing"
)

var _ = {{code}}
`},
	{doc: "README.md", text: `dispatcher.ForApps("1400000001")`, file: `package snippet

import (
	"context"

	"github.com/imcallback/imcallback/commands/group"
	"github.com/imcallback/imcallback/dispatcher"
)

var _ = group.AfterCreateTopicCommand.Handle(func(context.Context, *dispatcher.Event[group.AfterCreateTopic]) error { return nil },
	{{code}})
`},
	{doc: "README.md", text: `config.Section("moderation", Config{DenyCode: 120001})`, file: `package snippet

import (
	"github.com/imcallback/imcallback/config"
	. "github.com/imcallback/imcallback/examples/moderation"
)

var _ = {{code}}
`},
	// imtest.Start leaves the Sender's Client nil: over TLS the test sets
	// one trusting SelfSigned's pool.
	{doc: "README.md", text: `s.Sender.Client = imtest.NewClient(4, &tls.Config{RootCAs: pool})`, file: `package snippet

import (
	"crypto/tls"
	"testing"

	"github.com/imcallback/imcallback/imtest"
)

func TestTLS(t *testing.T) {
	certFile, keyFile, pool := imtest.SelfSigned(t)
	s := imtest.Start(t, []string{"IMCALLBACK_TLS_CERT=" + certFile, "IMCALLBACK_TLS_KEY=" + keyFile})
	{{code}}
}
`},
	// config.Section's doc: a command constructor given to fx.Provide
	// without dispatcher.AsCommand is in no group and never runs.
	{doc: "config/section.go", text: `fx.Provide(dispatcher.AsCommand(NewFilter)), // takes Settings, returns a dispatcher.Command`, file: `package snippet

import (
	"go.uber.org/fx"

	"github.com/imcallback/imcallback/config"
	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/examples/moderation"
)

type Settings = moderation.Config

var NewFilter = moderation.NewFilter

var Module = fx.Module("moderation",
	config.Section("moderation", Settings{DenyCode: 120001}),
	{{code}}
)
`},
	{doc: "docs/commands.md", text: `c2c.BeforeSendMsgCommand.Handle(fn)`, file: `package snippet

import (
	"context"

	"github.com/imcallback/imcallback/commands/c2c"
	"github.com/imcallback/imcallback/dispatcher"
)

var fn = func(context.Context, *dispatcher.Event[c2c.BeforeSendMsg]) (dispatcher.Reply[c2c.SendMsgReply], error) {
	return c2c.BeforeSendMsgCommand.Allow(), nil
}

var _ = {{code}}
`},
}

// packageDocHarnesses are the harnesses of the code blocks of a package's
// doc (its godoc overview), keyed like fencedHarnesses. Every code block
// of each doc listed must have one.
var packageDocHarnesses = []struct {
	dir string // the package's folder, relative to the module
	snippetHarness
}{
	{dir: "imtest", snippetHarness: snippetHarness{key: `s := imtest.Start(t,`, file: `package snippet

import (
	"testing"

	"github.com/imcallback/imcallback/examples/moderation"
	"github.com/imcallback/imcallback/imtest"
)

{{code}}
`}},
	// The root package's doc: a program with its own command line.
	{dir: ".", snippetHarness: snippetHarness{key: `fx.New(imcallback.Timeouts(config.Source{}, mine...)`, file: `package main

import (
	"context"

	"go.uber.org/fx"

	"github.com/imcallback/imcallback"
	"github.com/imcallback/imcallback/commands/c2c"
	"github.com/imcallback/imcallback/config"
	"github.com/imcallback/imcallback/delivery"
	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/logging"
)

func NewMyHandler() dispatcher.Command {
	return c2c.BeforeSendMsgCommand.Handle(func(context.Context, *dispatcher.Event[c2c.BeforeSendMsg]) (dispatcher.Reply[c2c.SendMsgReply], error) {
		return c2c.BeforeSendMsgCommand.Allow(), nil
	})
}

func main() {
	{{code}}
}
`}},
	// imsend's doc: a Sender of one's own; "…" is the test's own check.
	{dir: "imsend", snippetHarness: snippetHarness{key: `s := imsend.Sender{URL:`, file: `package snippet

import (
	"context"

	"github.com/imcallback/imcallback/imsend"
)

func send(ctx context.Context, body []byte) error {
	{{code}}
	return err
}
`}},
}

// docName names the compiled file of a package doc's block after the
// package's folder, the module's root being "root".
func docName(dir string) string {
	if dir == "." {
		return "root"
	}
	return strings.ReplaceAll(dir, "/", "_")
}

// packageDocCode returns the code blocks of the package doc in dir.
func packageDocCode(t *testing.T, dir string) []string {
	t.Helper()
	pkgs, err := parser.ParseDir(token.NewFileSet(), dir, func(fi fs.FileInfo) bool {
		return !strings.HasSuffix(fi.Name(), "_test.go")
	}, parser.ParseComments|parser.PackageClauseOnly)
	if err != nil {
		t.Fatal(err)
	}
	var blocks []string
	for _, pkg := range pkgs {
		for _, f := range pkg.Files {
			if f.Doc == nil {
				continue
			}
			var p comment.Parser
			for _, b := range p.Parse(f.Doc.Text()).Content {
				if c, ok := b.(*comment.Code); ok {
					blocks = append(blocks, c.Text)
				}
			}
		}
	}
	return blocks
}

var goFence = regexp.MustCompile("(?s)\n```go\n(.*?)\n```")

// TestDocSnippetsCompile compiles every Go block of README.md and the
// Go examples in the running text of README.md and docs/commands.md (and
// of a doc comment a user copies, config.Section's), and the code blocks
// of the package docs of packageDocHarnesses,
// each inside the declarations it assumes, against the current API: a
// change of the API that breaks an example fails here rather than in a
// user's editor.
func TestDocSnippetsCompile(t *testing.T) {
	if testing.Short() {
		t.Skip("builds packages")
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{} // package folder, relative to the module, → source
	used := map[string]bool{}
	for i, m := range goFence.FindAllStringSubmatch(string(readme), -1) {
		code := m[1]
		var h *snippetHarness
		for j := range fencedHarnesses {
			if strings.Contains(code, fencedHarnesses[j].key) {
				h = &fencedHarnesses[j]
			}
		}
		if h == nil {
			t.Errorf("README.md's Go block #%d has no harness in readme_snippets_test.go; add one:\n%s", i+1, code)
			continue
		}
		used[h.key] = true
		code = strings.ReplaceAll(code, "…", "_ = ctx\n\treturn c2c.BeforeSendMsgCommand.Allow(), nil")
		files[fmt.Sprintf("block%02d", i+1)] = strings.Replace(h.file, "{{code}}", code, 1)
	}
	for _, h := range fencedHarnesses {
		if !used[h.key] {
			t.Errorf("no Go block of README.md holds %q any more: update readme_snippets_test.go", h.key)
		}
	}
	for i, s := range inlineSnippets {
		doc, err := os.ReadFile(s.doc)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(strings.Join(strings.Fields(string(doc)), " "), s.text) {
			t.Errorf("%s no longer says %s: update readme_snippets_test.go", s.doc, s.text)
			continue
		}
		files[fmt.Sprintf("inline%02d", i+1)] = strings.Replace(s.file, "{{code}}", s.text, 1)
	}
	for _, h := range packageDocHarnesses {
		blocks := packageDocCode(t, h.dir)
		found := false
		for i, code := range blocks {
			if !strings.Contains(code, h.key) {
				t.Errorf("package %s's doc has a code block without a harness in readme_snippets_test.go; add one:\n%s", h.dir, code)
				continue
			}
			found = true
			code = strings.ReplaceAll(code, "{ … }", "{\n}") // an elided body, as the docs write it
			files[fmt.Sprintf("%sdoc%02d", docName(h.dir), i+1)] = strings.Replace(h.file, "{{code}}", code, 1)
		}
		if !found {
			t.Errorf("no code block of package %s's doc holds %q any more: update readme_snippets_test.go", h.dir, h.key)
		}
	}
	if len(files) == 0 {
		t.Fatal("README.md has no Go example")
	}
	buildOverlay(t, files)
}

// buildOverlay builds each source as the one file of its own package
// under internal/docsnippets, through go build's -overlay, so nothing is
// written into the module. A compile error fails the test with the
// compiler's messages, which name the package (the block's or inline
// example's number) and the line.
func buildOverlay(t *testing.T, files map[string]string) {
	t.Helper()
	root, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	replace := map[string]string{}
	args := []string{"build"}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		tmp := filepath.Join(dir, name+".go")
		if err := os.WriteFile(tmp, []byte(files[name]), 0o600); err != nil {
			t.Fatal(err)
		}
		replace[filepath.Join(root, "internal", "docsnippets", name, "snippet.go")] = tmp
		args = append(args, "./internal/docsnippets/"+name)
	}
	ov, err := json.Marshal(map[string]any{"Replace": replace})
	if err != nil {
		t.Fatal(err)
	}
	ovPath := filepath.Join(dir, "overlay.json")
	if err := os.WriteFile(ovPath, ov, 0o600); err != nil {
		t.Fatal(err)
	}
	args = slices.Insert(args, 1, "-overlay", ovPath)
	if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
		var shown strings.Builder
		for _, name := range slices.Sorted(maps.Keys(files)) {
			fmt.Fprintf(&shown, "--- %s:\n%s\n", name, files[name])
		}
		t.Fatalf("a doc example does not compile: %v\n%s\nthe files compiled:\n%s", err, out, shown.String())
	}
}
