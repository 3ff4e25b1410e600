//go:build unix

package imcallback_test

import (
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/imcallback/imcallback"
	"github.com/imcallback/imcallback/config"
	"github.com/imcallback/imcallback/examples/moderation"
)

// TestTimeoutsAndTheAppReadTheFileOnce: a program that passes one Source
// to imcallback.Timeouts and to fx.Supply, as the package's doc wires it,
// read its file twice: Timeouts to bound the start and the stop, then the
// app. A file that can be read once only (a pipe: --config <(envsubst …),
// /dev/stdin) was empty the second time, so the service ran without the
// file's tokens, allowlist and sections, accepting unsigned callbacks from
// anywhere. The app now loads what Timeouts read, whether the program
// supplied the Source as it was or read (Source.Read) already.
func TestTimeoutsAndTheAppReadTheFileOnce(t *testing.T) {
	const file = "sdkappid: [\"1400000000\"]\ntokens: [filetoken]\nallow_cidrs: [192.0.2.0/24]\n" +
		"shutdown_timeout: 20s\nmoderation: {words: [spam]}\n"
	for _, tt := range []struct {
		name string
		read bool // the program read the Source itself before passing it
	}{
		{"a Source as written", false},
		{"a Source read already", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			src := config.Source{File: fifoWrittenOnce(t, file), Environ: func() []string { return nil }}
			if tt.read {
				src = src.Read()
			}
			var cfg *config.Config
			var words moderation.Config
			mine := []fx.Option{moderation.Module}
			app := fx.New(fx.NopLogger, imcallback.Timeouts(src, mine...), fx.Supply(src), config.Module,
				fx.Options(mine...), fx.Populate(&cfg, &words))
			if err := app.Err(); err != nil {
				t.Fatal(err)
			}
			if got, want := app.StopTimeout(), 4*20*time.Second+15*time.Second; got != want {
				t.Errorf("stop bounded by %v, want %v (the file's shutdown_timeout)", got, want)
			}
			if !slices.Equal(cfg.Tokens, []string{"filetoken"}) || !slices.Equal(cfg.AllowCIDRs, []string{"192.0.2.0/24"}) {
				t.Errorf("the app read %d tokens and allow_cidrs %v, want the file's one token and 192.0.2.0/24",
					len(cfg.Tokens), cfg.AllowCIDRs)
			}
			if !slices.Equal(words.Words, []string{"spam"}) {
				t.Errorf("the app's section read words %q, want the file's [spam]", words.Words)
			}
		})
	}
}

// fifoWrittenOnce is a FIFO whose first reader reads content and every
// later one nothing, as a pipe is read again: a goroutine opens it for
// writing once per reader, writing content the first time only, until
// the test ends.
func fifoWrittenOnce(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "c.yaml")
	if err := syscall.Mkfifo(path, 0o600); err != nil {
		t.Fatal(err)
	}
	done, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		for first := true; ; first = false {
			w, err := os.OpenFile(path, os.O_WRONLY, 0) // waits for a reader
			if err != nil {
				t.Error(err)
				return
			}
			select {
			case <-done:
				w.Close()
				return
			default:
			}
			if first {
				if _, err := w.WriteString(content); err != nil {
					t.Error(err)
				}
			}
			w.Close()
		}
	}()
	t.Cleanup(func() {
		close(done)
		// A reader of its own lets the goroutine's open return, and see done.
		r, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
		if err != nil {
			t.Error(err)
			return
		}
		<-finished
		r.Close()
	})
	return path
}
