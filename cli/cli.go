// Package cli is the imcallback command line, for the stock binary and for
// a program of your own: Main gives it `serve` (with --config and --dev),
// `config check`, `version`, `send`, `events`, `topics`, `delivery`,
// `allowlist` and `health`, with the stock stop timeout, GC setting and
// signal handling. The modules passed are added to the service that
// `serve` runs:
//
//	func main() { cli.Main(topicsync.Module, mymodule.Module) }
//
// IMCALLBACK_DELIVERY chooses the delivery module: durable wires
// delivery.Module, inline leaves it out. Main wires imcallback.Module and
// delivery.Module itself: pass neither (serve refuses a module wired twice,
// naming the type provided twice).
//
// serve decorates fx.Lifecycle at the top level of its app, to time each
// hook; the modules passed sit, with the service, in a module below it,
// so a module may decorate fx.Lifecycle too (its decoration wraps serve's).
// A decoration passed to Main itself applies to every module of the
// service, but not to the logger of fx's own events; one inside an
// fx.Module of the program's applies to that module only.
package cli

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"go.uber.org/fx"

	"github.com/imcallback/imcallback/internal/fxresult"
)

// Main runs the command line of os.Args with modules added to the
// service, and exits: 0 on success, 1 with one message on standard error
// on failure. It goes by the binary's name (a program of your own built
// as moderated is `moderated` in its help, its examples, the commands its
// messages name and the prefix of its errors), as Run does.
func Main(modules ...fx.Option) {
	name := programName(os.Args[0])
	if err := runNamed(name, os.Args[1:], os.Stdout, os.Stderr, modules...); err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(1)
	}
}

// defaultName is the name the command line goes by when os.Args names no
// binary (programName).
const defaultName = "imcallback"

// programName is the name of the binary run as argv0 (os.Args[0]): its
// base name without Windows' .exe, defaultName when it has none.
func programName(argv0 string) string {
	name := strings.TrimSuffix(filepath.Base(argv0), ".exe")
	if name == "" || name == "." || name == string(filepath.Separator) {
		return defaultName
	}
	return name
}

// Run runs the command line args (without the program name), writing to
// stdout and stderr, with modules added to the service. Like Main it goes
// by the name of the binary running it (os.Args[0]): a program of your own
// built as moderated that passes it os.Args[1:] is `moderated` in its
// help, its examples, the commands its messages name and version, not
// imcallback, which its user's shell may not have. A write to stdout
// that fails (a full disk, a closed pipe's reader) fails the command with
// the write's error, whichever command printed (help too): its output is
// cut, and a script must not go on as if it were whole. A nil module (an
// fx.Option variable left unset) fails it at once, saying which.
func Run(args []string, stdout, stderr io.Writer, modules ...fx.Option) error {
	name := defaultName
	if len(os.Args) > 0 { // a program may have emptied it
		name = programName(os.Args[0])
	}
	return runNamed(name, args, stdout, stderr, modules...)
}

// runNamed is Run of the command line named name.
func runNamed(name string, args []string, stdout, stderr io.Writer, modules ...fx.Option) error {
	if err := fxresult.NilOption("cli", modules); err != nil {
		return err // fx would panic on it, in whichever command builds an app
	}
	out := &outputWriter{w: stdout}
	root := newNamedRootCmd(name, out, stderr, modules...)
	var refused error // --help after an unknown command
	refuseUnknownCommandHelp(root, &refused)
	root.SetArgs(args)
	if err := root.Execute(); err != nil {
		return err
	}
	if refused != nil {
		return refused
	}
	return out.err
}

// outputWriter writes to w until a write fails, and from then on fails
// every write with that write's error, which err keeps: a table or JSON is
// not written on past a hole, and Run fails with it even when the command
// dropped it (a tabwriter's line, a summary's Fprintf).
type outputWriter struct {
	w   io.Writer
	err error
}

func (o *outputWriter) Write(p []byte) (int, error) {
	if o.err != nil {
		return 0, o.err
	}
	n, err := o.w.Write(p)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	if err != nil {
		o.err = err
	}
	return n, err
}
