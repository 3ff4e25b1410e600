// Package logging builds the service's zap logger from the configuration.
//
// Sampling is off on purpose: zap's production preset keeps only every 100th
// repeat of a message after the first 100 a second, which would silently
// drop access-log lines under load.
package logging

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
	"time"

	"go.uber.org/dig"
	"go.uber.org/fx"
	"go.uber.org/fx/fxevent"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/term"

	"github.com/imcallback/imcallback/config"
	"github.com/imcallback/imcallback/internal/fxresult"
)

// Module provides the *zap.Logger New builds.
var Module = fx.Module("logging", fx.Provide(newForModule))

// moduleLogger is what Module provides: the logger, and its buffer for
// FxLogger.
type moduleLogger struct {
	fx.Out
	Log    *zap.Logger
	Buffer *buffered
}

// Tee is a destination of the logger Module provides besides stderr,
// whose core decides its own level: supply one (fx.Supply(&logging.Tee{
// Core: core})) to see lines the configured level hides. imtest.Start
// does, to show a test the warnings of the start. At most one is supplied.
type Tee struct {
	// Core receives every line of the logger that it enables itself,
	// whatever the configured level; nil adds no destination.
	Core zapcore.Core
}

// moduleIn are the dependencies of newForModule.
type moduleIn struct {
	fx.In
	Lifecycle fx.Lifecycle
	Config    *config.Config
	Tee       *Tee `optional:"true"`
}

func newForModule(in moduleIn) (moduleLogger, error) {
	log, b, err := newStderr(in.Lifecycle, in.Config)
	if err == nil && in.Tee != nil && in.Tee.Core != nil {
		tee := in.Tee.Core
		log = log.WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core { return zapcore.NewTee(c, tee) }))
	}
	return moduleLogger{Log: log, Buffer: b}, err
}

// fxLoggerIn is what FxLogger's events go to once the app has it: the
// logger, and Module's buffer when there is one.
type fxLoggerIn struct {
	fx.In
	Log    *zap.Logger
	Buffer *buffered `optional:"true"`
}

// fxEventsIn is what FxLogger's event logger is built of, which nothing
// can fail: whether the caller reports the start's and the stop's errors.
type fxEventsIn struct {
	fx.In
	Reported *StartStopReported `optional:"true"`
}

// StartStopReported, supplied beside FxLogger
// (fx.Supply(&logging.StartStopReported{})), says that the caller of the
// app's Start and Stop reports their errors itself, as cli.Main prints
// them: FxLogger then leaves those at debug level too, so each is
// reported once.
type StartStopReported struct{}

// FxLogger routes fx's own events to the service logger at debug level,
// their errors too (a failed start is not reported three times, by fx's
// provide, start and rollback events), but for the error of the start
// and of the stop, an error line ("start failed", "stop failed") written
// at once: fx's Run prints nothing of its own and exits with status 1, so
// that line is all that says why. For an app that does not build, its
// error is the failing constructor's own, not dig's account of the wiring. A caller that reports those errors
// itself supplies StartStopReported. Add it at the top level of fx.New,
// before the modules: fx.WithLogger applies to the module it sits in.
//
// The service logger needs the configuration, which may not load (a
// variable or a module's section that does not validate): fx's events are
// held until the app has built the logger, which FxLogger asks for before
// the modules' own invokes, and an app that fails before then writes its
// "start failed" line alone, as JSON to standard error, where fx would
// print all of its events, a line per constructor.
//
// With Module's logger, log lines are also written at once, not buffered,
// while any start or stop hook runs: fx runs hooks on a goroutine of its
// own, so a panicking hook ends the process before any flush, and the
// lines lost would be the ones that explain it.
var FxLogger = fx.Options(
	fx.WithLogger(func(in fxEventsIn) fxevent.Logger {
		return &fxEvents{reported: in.Reported != nil}
	}),
	// A module of its own, whose invokes run before those of the modules
	// after it (fx runs a module's invokes after its submodules').
	fx.Module("fxlogger", fx.Invoke(func(l fxevent.Logger, in fxLoggerIn) {
		if events, ok := l.(*fxEvents); ok {
			events.attach(in.Log, in.Buffer)
		}
	})),
)

// fxEvents is FxLogger's event logger: it holds fx's events until attach
// gives it the service's logger, then passes them on to that. Without
// one, it writes the error of a failed start or stop alone (unless the
// caller reports it), and drops the rest.
type fxEvents struct {
	reported bool

	mu     sync.Mutex
	events fxevent.Logger // nil until attach
	held   []fxevent.Event
}

// attach passes fx's events, those held first, on to log at debug level
// (but for a failed start's or stop's error), telling b when a hook runs.
func (f *fxEvents) attach(log *zap.Logger, b *buffered) {
	log = log.Named("fx")
	l := &fxevent.ZapLogger{Logger: log}
	l.UseLogLevel(zapcore.DebugLevel)
	l.UseErrorLevel(zapcore.DebugLevel)
	var events fxevent.Logger = l
	if !f.reported {
		events = outcomeErrors{Logger: l, log: log}
	}
	if b != nil {
		events = hookEvents{Logger: events, buffer: b}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = events
	for _, e := range f.held {
		events.LogEvent(e)
	}
	f.held = nil
}

func (f *fxEvents) LogEvent(e fxevent.Event) {
	f.mu.Lock()
	events := f.events
	if events == nil {
		f.held = append(f.held, e)
	}
	f.mu.Unlock()
	if events != nil {
		events.LogEvent(e)
		return
	}
	if f.reported {
		return
	}
	switch e := e.(type) {
	case *fxevent.Started:
		if e.Err != nil {
			unattachedError("start failed", e.Err)
		}
	case *fxevent.Stopped:
		if e.Err != nil {
			unattachedError("stop failed", e.Err)
		}
	}
}

// unattachedError writes the error line of a start or stop that failed
// before the service's logger was built, as JSON to standard error.
func unattachedError(msg string, err error) {
	w := &lineEnds{WriteSyncer: zapcore.Lock(stderr{os.Stderr})}
	log := newLogger(zapcore.ErrorLevel, newEncoder("json", false), w).Named("fx")
	log.Error(msg, zap.Error(readableCause(err)))
	_ = log.Sync() // a failed write is the log's own to report
}

// outcomeErrors passes fx's events on, but for a failed start or stop:
// that error is logged at error level, and the log flushed, since a stop
// that ran out of time skipped the buffer's flush, and fx's Run exits
// right after.
type outcomeErrors struct {
	fxevent.Logger
	log *zap.Logger
}

func (o outcomeErrors) LogEvent(e fxevent.Event) {
	switch e := e.(type) {
	case *fxevent.Started:
		if e.Err != nil {
			o.failed("start failed", e.Err)
			return
		}
	case *fxevent.Stopped:
		if e.Err != nil {
			o.failed("stop failed", e.Err)
			return
		}
	}
	o.Logger.LogEvent(e)
}

func (o outcomeErrors) failed(msg string, err error) {
	o.log.Error(msg, zap.Error(readableCause(err)))
	_ = o.log.Sync() // a failed write is the log's own to report
}

// readableCause is err as the failed line says it: for an app that did
// not build, the constructor's own error (a module's section that does not
// validate), not dig's account of the wiring that led to it, about a
// kilobyte of function names and build paths, as cli.Main and imtest say
// it; dig's own message when that names what matters (a type provided
// twice, or that nothing provides). Any other error is err itself.
func readableCause(err error) error {
	if _, missing := fxresult.MissingType(err); missing {
		return err
	}
	if _, twice := fxresult.ProvidedTwice(err); twice {
		return err
	}
	return dig.RootCause(err)
}

// hookEvents passes fx's events on, and tells the buffer when a hook
// starts and ends.
type hookEvents struct {
	fxevent.Logger
	buffer *buffered
}

func (h hookEvents) LogEvent(e fxevent.Event) {
	switch e.(type) {
	case *fxevent.OnStartExecuting, *fxevent.OnStopExecuting:
		h.buffer.hookRuns()
	case *fxevent.OnStartExecuted, *fxevent.OnStopExecuted:
		h.buffer.hookDone()
	}
	h.Logger.LogEvent(e)
}

// New builds a logger writing to stderr in the configured format and
// level, through a buffer flushed every IMCALLBACK_LOG_BUFFER (and when
// the app stops, and on a fatal line) unless that is 0.
func New(lc fx.Lifecycle, cfg *config.Config) (*zap.Logger, error) {
	log, _, err := newStderr(lc, cfg)
	return log, err
}

// newStderr is New, also returning its buffer (nil without one).
func newStderr(lc fx.Lifecycle, cfg *config.Config) (*zap.Logger, *buffered, error) {
	// Coloured levels on a terminal only: a pipe, journald or a file gets no
	// escape codes.
	// One writer for the lines and the reports of failed writes: a report
	// written after a cut line ends it too.
	w := &lineEnds{WriteSyncer: zapcore.Lock(stderr{os.Stderr})}
	return newBuffered(lc, cfg, w, w, term.IsTerminal(int(os.Stderr.Fd())))
}

// stderr is the process's standard error as a WriteSyncer whose Sync
// ignores what a pipe or a terminal answers to fsync (EINVAL, ENOTTY):
// there is nothing to sync there, and a stop must not fail for it.
type stderr struct{ *os.File }

func (s stderr) Sync() error {
	if err := s.File.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) && !errors.Is(err, syscall.ENOTTY) {
		return err
	}
	return nil
}

// bufferSize is the most a log buffer holds before it is written early.
const bufferSize = 256 << 10

// NewBuffered is New writing to w. The buffer is flushed by the app's last
// stop hook (logging is provided first, so its hook runs after every
// other's), so a line logged while stopping is written too. A write of the
// buffer to w that fails is reported on standard error at once, then at
// most once a minute while writes keep failing. A line that a failed write
// to w cut short is ended before the next line is written.
func NewBuffered(lc fx.Lifecycle, cfg *config.Config, w zapcore.WriteSyncer) (*zap.Logger, error) {
	log, _, err := newBuffered(lc, cfg, &lineEnds{WriteSyncer: w}, zapcore.Lock(stderr{os.Stderr}), false)
	return log, err
}

// newBuffered is NewBuffered, reporting the buffer's failed writes to
// report, with coloured levels in the console format when color is set,
// also returning the buffer (nil without one).
func newBuffered(lc fx.Lifecycle, cfg *config.Config, w, report zapcore.WriteSyncer, color bool) (*zap.Logger, *buffered, error) {
	level, err := zapcore.ParseLevel(cfg.LogLevel)
	if err != nil {
		return nil, nil, fmt.Errorf("logging: %w", err)
	}
	encoder := newEncoder(cfg.LogFormat, color)
	var b *buffered
	if cfg.LogBuffer > 0 {
		out := &writeOnly{WriteSyncer: w, report: report, enc: encoder.Clone(), now: time.Now}
		b = &buffered{interval: cfg.LogBuffer, out: out, direct: w}
		lc.Append(fx.StartStopHook(b.start, b.stop))
		w = b
	}
	return newLogger(level, encoder, w), b, nil
}

// lineEnds is a log's writer that starts a line of its own after a write
// that ended in the middle of one: a write the disk filled part way
// through (write(2) writes what fits, then fails with ENOSPC) leaves the
// log ending in a line cut short, and the next line written once there is
// room again was glued to it, unreadable to a JSON log reader, and lost
// without a word (a report counts the bytes not written only). A newline
// now ends the cut line first. It is safe for concurrent use.
type lineEnds struct {
	zapcore.WriteSyncer

	mu  sync.Mutex
	cut bool // the last write ended in the middle of a line
}

// newline ends a cut line.
var newline = []byte{'\n'}

func (l *lineEnds) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cut && len(p) > 0 {
		if n, err := l.WriteSyncer.Write(newline); n != 1 {
			if err == nil {
				err = io.ErrShortWrite
			}
			return 0, err // still cut: the next write ends it
		}
		l.cut = false
	}
	n, err := l.WriteSyncer.Write(p)
	if n > 0 && n <= len(p) {
		l.cut = p[n-1] != '\n'
	}
	return n, err
}

// NewWithSink builds a logger writing to w; format is json or console
// (without colours).
func NewWithSink(level zapcore.Level, format string, w zapcore.WriteSyncer) *zap.Logger {
	return newLogger(level, newEncoder(format, false), w)
}

func newLogger(level zapcore.Level, encoder zapcore.Encoder, w zapcore.WriteSyncer) *zap.Logger {
	core := zapcore.NewCore(encoder, w, level)
	return zap.New(core, zap.ErrorOutput(w))
}

// newEncoder is the encoder of format, json or console (with coloured
// levels when color is set).
func newEncoder(format string, color bool) zapcore.Encoder {
	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = new(secondCache).encode
	if format == "console" {
		enc.EncodeLevel = zapcore.CapitalLevelEncoder
		if color {
			enc.EncodeLevel = zapcore.CapitalColorLevelEncoder
		}
		return zapcore.NewConsoleEncoder(enc)
	}
	return zapcore.NewJSONEncoder(enc)
}

// buffered writes through a BufferedWriteSyncer while the app runs, and
// straight to the underlying writer before it started and after it
// stopped: a start that fails leaves no flush goroutine behind, and
// nothing logged after the flush at stop waits in a buffer nobody flushes.
// While a hook runs (hooks > 0, told by FxLogger) it writes straight too.
type buffered struct {
	mu        sync.Mutex
	interval  time.Duration                // of the periodic flush
	buf       *zapcore.BufferedWriteSyncer // of the current run; nil before the first start
	out       *writeOnly                   // buf's writer, which keeps its failed writes' error
	direct    zapcore.WriteSyncer
	buffering bool
	hooks     int
}

func (b *buffered) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.buffering || b.hooks > 0 {
		return b.direct.Write(p)
	}
	return b.buf.Write(p)
}

func (b *buffered) Sync() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.buffering {
		return b.direct.Sync()
	}
	flushed := b.buf.Sync()
	return errors.Join(flushed, b.out.failed(), b.direct.Sync())
}

// hookRuns writes what the buffer holds, and every line straight until
// hookDone.
func (b *buffered) hookRuns() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.hooks++
	if b.buffering {
		_ = b.buf.Sync() // a failed write is reported by writeOnly, and returned by the next Sync or stop
	}
}

// hookDone ends what hookRuns began.
func (b *buffered) hookDone() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.hooks > 0 {
		b.hooks--
	}
}

// writeOnly is the buffer's writer: the periodic flush hands the lines to
// the kernel, where a crash of the process cannot lose them, but does not
// fsync the file. That fsync ran under the buffer's lock, so every request
// waited for the disk at each flush. An explicit Sync (at stop, on a
// fatal line) still reaches the file.
//
// A failed write is not returned to the buffer: its bufio.Writer keeps
// the first error for good and drops every later line, so one failed
// write (a full disk, freed since) would lose every line until the stop.
// The lines of that write are lost, as an unbuffered write loses its
// line; the error is returned by the buffered writer's next Sync or stop
// (failed), and reported at once, at most once a minute (lostLines).
type writeOnly struct {
	zapcore.WriteSyncer

	report zapcore.WriteSyncer // where a failed write is reported
	enc    zapcore.Encoder     // of the report's line
	now    func() time.Time

	mu       sync.Mutex
	err      error     // of the first failed write not returned by failed yet
	lost     lostLines // the failed writes not reported yet
	reported time.Time // of the last report; zero before the first
}

// lostLines are failed writes of the buffer not reported yet.
type lostLines struct {
	writes int
	bytes  int
	err    error // the first one's
}

// reportEvery is the least time between two reports of failed writes: a
// writer that fails at every flush is reported once a minute, with the
// count of writes it failed since the last report, not at each flush.
const reportEvery = time.Minute

// lostLinesMessage is the message of the report of failed writes.
const lostLinesMessage = "log lines lost: writing the log failed"

func (w *writeOnly) Write(p []byte) (int, error) {
	n, err := w.WriteSyncer.Write(p)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if err != nil {
		if w.err == nil {
			w.err = err
		}
		if w.lost.writes == 0 {
			w.lost.err = err
		}
		w.lost.writes++
		w.lost.bytes += len(p) - max(n, 0) // a short write wrote its first n
	}
	// A failure is reported at once, on report (the writer is what
	// fails); failures not reported yet (too soon after the last report,
	// or report failed too) are reported by the next write a minute
	// after the last report, into the log itself if that write succeeded.
	if w.lost.writes > 0 && (w.reported.IsZero() || w.now().Sub(w.reported) >= reportEvery) {
		to := w.report
		if err == nil {
			to = w.WriteSyncer
		}
		if w.reportLost(to) {
			w.reported = w.now()
			w.lost = lostLines{}
		}
	}
	return len(p), nil
}

// reportLost writes the line that reports w.lost to to, and says whether
// it was written.
func (w *writeOnly) reportLost(to zapcore.WriteSyncer) bool {
	line, err := w.enc.EncodeEntry(zapcore.Entry{Level: zapcore.ErrorLevel, Time: w.now(), LoggerName: "logging",
		Message: lostLinesMessage}, []zapcore.Field{
		zap.Error(w.lost.err), zap.Int("failed_writes", w.lost.writes), zap.Int("lost_bytes", w.lost.bytes)})
	if err != nil {
		return false
	}
	defer line.Free()
	n, err := to.Write(line.Bytes())
	return err == nil && n == line.Len()
}

func (*writeOnly) Sync() error { return nil }

// failed returns the error of the first write that failed since the last
// call, if any, and forgets it.
func (w *writeOnly) failed() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	err := w.err
	w.err = nil
	return err
}

// start buffers from now on, in a buffer of its own: fx starts a stopped
// app again, and the last run's buffer, stopped, has no flush any more.
func (b *buffered) start() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.buffering {
		return
	}
	b.buf = &zapcore.BufferedWriteSyncer{WS: b.out, Size: bufferSize, FlushInterval: b.interval}
	b.buffering = true
}

// stop flushes the buffer and writes directly from then on.
func (b *buffered) stop() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.buffering {
		return nil
	}
	b.buffering = false
	stopped := b.buf.Stop()
	return errors.Join(stopped, b.out.failed(), b.direct.Sync())
}
