package logging_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/imcallback/imcallback/config"
	"github.com/imcallback/imcallback/logging"
)

// sink is a WriteSyncer the test reads; it counts the calls to Sync.
type sink struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	syncs atomic.Int32
}

func (s *sink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *sink) Sync() error {
	s.syncs.Add(1)
	return nil
}

func (s *sink) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

// newApp is an app whose logger writes JSON to out through a buffer of
// the given interval (0: none), with the test's own options.
func newApp(t *testing.T, out *sink, buffer time.Duration, opts ...fx.Option) *fxtest.App {
	return fxtest.New(t, append([]fx.Option{
		fx.Supply(&config.Config{LogLevel: "info", LogFormat: "json", LogBuffer: buffer}),
		fx.Provide(func(lc fx.Lifecycle, cfg *config.Config) (*zap.Logger, error) {
			return logging.NewBuffered(lc, cfg, zapcore.AddSync(out))
		}),
	}, opts...)...)
}

// TestAStopHookThatPanicsKeepsTheLines: with Module's logger and FxLogger,
// the lines logged while the app ran and by a stop hook that then panics
// are in the output, although the panic ends the process before any flush
// (fx runs stop hooks on a goroutine of its own; a start hook's panic is
// the start's error, and the rollback's stop flushes). The app runs in a
// child process, with a buffer of an hour.
func TestAStopHookThatPanicsKeepsTheLines(t *testing.T) {
	if os.Getenv("LOGGING_TEST_PANIC_AT_STOP") != "" {
		panicAtStop()
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestAStopHookThatPanicsKeepsTheLines$")
	cmd.Env = append(os.Environ(), "LOGGING_TEST_PANIC_AT_STOP=1")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "panic: the hook fails") {
		t.Fatalf("the child did not panic in its stop hook (%v):\n%s", err, out)
	}
	for _, w := range []string{"a line while the app runs", "the hook's line before its panic"} {
		if !strings.Contains(string(out), w) {
			t.Errorf("the output lacks %q:\n%s", w, out)
		}
	}
}

// panicAtStop runs an app that logs a line while it runs, and whose stop
// hook logs one, then panics.
func panicAtStop() {
	var log *zap.Logger
	app := fx.New(
		fx.Supply(&config.Config{LogLevel: "info", LogFormat: "json", LogBuffer: time.Hour}),
		logging.Module,
		logging.FxLogger,
		fx.Populate(&log),
		fx.Invoke(func(lc fx.Lifecycle, log *zap.Logger) {
			lc.Append(fx.StopHook(func() {
				log.Warn("the hook's line before its panic")
				panic("the hook fails")
			}))
		}),
	)
	ctx := context.Background()
	if err := app.Start(ctx); err != nil {
		os.Exit(3)
	}
	log.Info("a line while the app runs")
	// fx's deferred send ends Stop while the panic is still on its way
	// out: wait for it to end the process.
	_ = app.Stop(ctx)
	time.Sleep(time.Minute)
	os.Exit(4)
}

// TestBufferedLinesAreWrittenAtStop: with a buffer interval far longer
// than the test, a line logged before the stop, and one logged by another
// component's stop hook, are in the output once the app stopped.
func TestBufferedLinesAreWrittenAtStop(t *testing.T) {
	for _, tc := range []struct {
		buffer   time.Duration
		buffered bool
	}{{time.Hour, true}, {0, false}} {
		out := &sink{}
		var log *zap.Logger
		app := newApp(t, out, tc.buffer,
			fx.Invoke(func(lc fx.Lifecycle, l *zap.Logger) {
				log = l
				lc.Append(fx.StopHook(func() { l.Info("the last line, from a stop hook") }))
			}),
		)
		app.RequireStart()
		log.Info("a line before the stop")
		if got := strings.Contains(out.String(), "a line before the stop"); got == tc.buffered {
			t.Errorf("buffer %v: the line was written at once: %v", tc.buffer, got)
		}
		app.RequireStop()
		for _, want := range []string{"a line before the stop", "the last line, from a stop hook"} {
			if !strings.Contains(out.String(), want) {
				t.Errorf("buffer %v: %q is not in the output after the stop:\n%s", tc.buffer, want, out.String())
			}
		}
		log.Info("after the stop")
		if !strings.Contains(out.String(), "after the stop") {
			t.Errorf("buffer %v: a line logged after the stop was kept in the buffer", tc.buffer)
		}
	}
}

// TestPeriodicFlushDoesNotSync: the buffer's periodic flush writes the
// lines without syncing the file (a sync would hold every logging request
// behind the disk); the stop syncs it once.
func TestPeriodicFlushDoesNotSync(t *testing.T) {
	out := &sink{}
	var log *zap.Logger
	app := newApp(t, out, time.Millisecond, fx.Populate(&log))
	app.RequireStart()
	// Two flushes: once the second line is out, the first flush has
	// finished, including the sync it must not make.
	for _, line := range []string{"first flush", "second flush"} {
		log.Info(line)
		for giveUp := time.Now().Add(10 * time.Second); !strings.Contains(out.String(), line); {
			if time.Now().After(giveUp) {
				t.Fatalf("the periodic flush never wrote %q", line)
			}
			time.Sleep(time.Millisecond)
		}
	}
	if n := out.syncs.Load(); n != 0 {
		t.Errorf("the periodic flush synced the file %d times", n)
	}
	app.RequireStop()
	if n := out.syncs.Load(); n != 1 {
		t.Errorf("the stop synced the file %d times, want 1", n)
	}
}

// TestFatalLineIsWritten: zap syncs the core on a fatal line before it
// exits, so a fatal line logged while the buffer is on is written, with
// the lines buffered before it, and the file is synced.
func TestFatalLineIsWritten(t *testing.T) {
	out := &sink{}
	var log *zap.Logger
	app := newApp(t, out, time.Hour, fx.Populate(&log))
	app.RequireStart()
	defer app.RequireStop()
	l := log.WithOptions(zap.WithFatalHook(zapcore.WriteThenGoexit))
	l.Info("before")
	if strings.Contains(out.String(), "before") {
		t.Fatal("the line before the fatal one was not buffered")
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.Fatal("fatal: the store is gone")
	}()
	<-done
	if s := out.String(); !strings.Contains(s, "fatal: the store is gone") || !strings.Contains(s, "before") {
		t.Errorf("after a fatal line the output is:\n%s", s)
	}
	if out.syncs.Load() == 0 {
		t.Error("the fatal line did not sync the file")
	}
}

// TestConsoleFormatWithoutATerminalHasNoColours: a console log written to
// a file or a pipe carries no escape codes.
func TestConsoleFormatWithoutATerminalHasNoColours(t *testing.T) {
	var out sink
	log := logging.NewWithSink(zapcore.InfoLevel, "console", &out)
	log.Warn("careful")
	if got := out.String(); strings.Contains(got, "\x1b[") || !strings.Contains(got, "WARN") {
		t.Errorf("console line %q, want WARN without escape codes", got)
	}
}

// TestModuleWritesToATeeAtItsOwnLevel: a Tee supplied beside Module gets
// the lines its core enables, those the configured level hides too; the
// configured level still decides stderr's. Without a Tee, Module starts
// as before.
func TestModuleWritesToATeeAtItsOwnLevel(t *testing.T) {
	for _, tt := range []struct {
		name string
		tee  *logging.Tee
		want []string // the messages the tee records
	}{
		{"a tee at warn", &logging.Tee{}, []string{"a warning", "an error"}},
		{"no tee", nil, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			core, logs := observer.New(zapcore.WarnLevel)
			opts := []fx.Option{fx.Supply(&config.Config{LogLevel: "error", LogFormat: "json"}), logging.Module}
			if tt.tee != nil {
				tt.tee.Core = core
				opts = append(opts, fx.Supply(tt.tee))
			}
			var log *zap.Logger
			app := fxtest.New(t, append(opts, fx.NopLogger, fx.Populate(&log))...)
			app.RequireStart()
			defer app.RequireStop()
			log.Info("an info line")
			log.Warn("a warning")
			log.Error("an error")
			var got []string
			for _, e := range logs.All() {
				got = append(got, e.Message)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("the tee recorded %q, want %q", got, tt.want)
			}
			if !log.Core().Enabled(zapcore.ErrorLevel) {
				t.Fatal("the logger no longer writes errors")
			}
		})
	}
}

// flaky is a sink whose writes fail while failing is set, as a log file's
// do on a full disk until space is freed.
type flaky struct {
	sink
	failing atomic.Bool
}

// errDiskFull is what flaky's failing writes return.
var errDiskFull = errors.New("no space left on device")

func (f *flaky) Write(p []byte) (int, error) {
	if f.failing.Load() {
		return 0, errDiskFull
	}
	return f.sink.Write(p)
}

// TestBufferKeepsWritingAfterAFailedWrite: a write of the buffer that
// fails (a full disk) loses the lines it held, as an unbuffered write
// loses its line, and is reported by the next Sync; the lines logged once
// the writer works again are written, by the next flush as by the stop.
// The buffer's writer must not keep the error for good: every line until
// the stop would be dropped.
func TestBufferKeepsWritingAfterAFailedWrite(t *testing.T) {
	for _, tc := range []struct {
		name  string
		flush func(*zap.Logger, *fxtest.App) // writes the buffer once the writer works
	}{
		{"the next sync", func(log *zap.Logger, _ *fxtest.App) { _ = log.Sync() }},
		{"the stop", func(_ *zap.Logger, app *fxtest.App) { _ = app.Stop(context.Background()) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := &flaky{}
			var log *zap.Logger
			app := fxtest.New(t,
				fx.Supply(&config.Config{LogLevel: "info", LogFormat: "json", LogBuffer: time.Hour}),
				fx.Provide(func(lc fx.Lifecycle, cfg *config.Config) (*zap.Logger, error) {
					return logging.NewBuffered(lc, cfg, out)
				}),
				fx.Populate(&log))
			app.RequireStart()
			defer func() { _ = app.Stop(context.Background()) }()
			out.failing.Store(true)
			log.Info("lost on the full disk")
			if err := log.Sync(); !errors.Is(err, errDiskFull) {
				t.Errorf("Sync with a failing writer returned %v, want %v", err, errDiskFull)
			}
			out.failing.Store(false)
			log.Info("written once there is space again")
			tc.flush(log, app)
			if got := out.String(); !strings.Contains(got, "written once there is space again") {
				t.Errorf("after a failed write, a later line was never written; the output is:\n%s", got)
			}
		})
	}
}

// TestBufferedLinesAreWrittenAfterARestart: fx starts a stopped app again;
// the lines of the second run are written, by the periodic flush and by
// the second stop, as those of the first. The buffer of the first run
// is stopped for good, so the second must not write into it: nothing
// would flush it.
func TestBufferedLinesAreWrittenAfterARestart(t *testing.T) {
	for _, tc := range []struct {
		name   string
		buffer time.Duration
		flush  func(*fxtest.App, *sink, string) bool // whether the line is written
	}{
		{"the second stop", time.Hour, func(app *fxtest.App, out *sink, line string) bool {
			app.RequireStop()
			return strings.Contains(out.String(), line)
		}},
		{"the periodic flush", time.Millisecond, func(app *fxtest.App, out *sink, line string) bool {
			defer app.RequireStop()
			for giveUp := time.Now().Add(10 * time.Second); time.Now().Before(giveUp); time.Sleep(time.Millisecond) {
				if strings.Contains(out.String(), line) {
					return true
				}
			}
			return false
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := &sink{}
			var log *zap.Logger
			app := newApp(t, out, tc.buffer, fx.Populate(&log))
			app.RequireStart()
			log.Info("a line of the first run")
			app.RequireStop()
			app.RequireStart()
			log.Info("a line of the second run")
			if !tc.flush(app, out, "a line of the second run") {
				t.Errorf("a line of the second run was never written; the output is:\n%s", out.String())
			}
		})
	}
}

// fullDisk is a sink with room for a number of bytes, as a log file on a
// disk that is nearly full: a write longer than the room writes what fits
// and fails, as write(2) does once the disk fills in the middle of it.
type fullDisk struct {
	sink
	mu   sync.Mutex
	room int // the bytes that still fit; negative: no limit
}

func (d *fullDisk) Write(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.room < 0 {
		return d.sink.Write(p)
	}
	if len(p) <= d.room {
		d.room -= len(p)
		return d.sink.Write(p)
	}
	n, _ := d.sink.Write(p[:d.room])
	d.room = 0
	return n, errDiskFull
}

func (d *fullDisk) setRoom(n int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.room = n
}

// TestALineCutShortByAFullDiskDoesNotSwallowTheNext: a write that the disk
// filled in its middle leaves the log ending in a line cut short; the first
// line written once there is room again starts on a line of its own, so
// that it is whole JSON to a log reader, rather than glued to the cut one
// (a line lost that no report counted). Buffered or not.
func TestALineCutShortByAFullDiskDoesNotSwallowTheNext(t *testing.T) {
	for _, buffer := range []time.Duration{time.Hour, 0} {
		t.Run(fmt.Sprintf("buffer %v", buffer), func(t *testing.T) {
			out := &fullDisk{room: -1}
			var log *zap.Logger
			app := fxtest.New(t,
				fx.Supply(&config.Config{LogLevel: "info", LogFormat: "json", LogBuffer: buffer}),
				fx.Provide(func(lc fx.Lifecycle, cfg *config.Config) (*zap.Logger, error) {
					return logging.NewBuffered(lc, cfg, out)
				}),
				fx.Populate(&log))
			app.RequireStart()
			defer app.RequireStop()
			out.setRoom(20)
			log.Info("a line the full disk cuts short")
			_ = log.Sync() // the buffer's write; its error is the full disk's
			if got := out.String(); len(got) != 20 || strings.Contains(got, "\n") {
				t.Fatalf("the full disk took %q, want the first 20 bytes of the line", got)
			}
			out.setRoom(-1)
			const next = "the first line once there is room"
			log.Info(next)
			_ = log.Sync()
			found := false
			for line := range strings.SplitSeq(out.String(), "\n") {
				if !strings.Contains(line, next) {
					continue
				}
				found = true
				var e struct{ Msg string }
				if err := json.Unmarshal([]byte(line), &e); err != nil || e.Msg != next {
					t.Errorf("the line after the cut one is %q: %v; want it whole, on a line of its own", line, err)
				}
			}
			if !found {
				t.Fatalf("%q was never written; the output is:\n%s", next, out.String())
			}
		})
	}
}
