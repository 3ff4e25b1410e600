package imtest

import (
	"fmt"
	"sync/atomic"
	"testing"

	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/imcallback/imcallback/logging"
)

// startLog records what the service logs at warn level and above while
// Start builds and starts it, for the test's log: Start's log level
// (error) hides the warnings, and those of the start say what the
// configuration or the options do that the test may not mean. It stops
// recording at report, so a long test does not pile up its warnings.
type startLog struct {
	over atomic.Bool
	core zapcore.Core
	logs *observer.ObservedLogs
}

func newStartLog() *startLog {
	core, logs := observer.New(zapcore.WarnLevel)
	return &startLog{core: core, logs: logs}
}

// tee is the logger's destination that records the lines.
func (l *startLog) tee() *logging.Tee {
	return &logging.Tee{Core: untilOver{Core: l.core, over: &l.over}}
}

// report stops the recording and logs each line recorded, once.
func (l *startLog) report(t testing.TB) {
	t.Helper()
	if l.over.Swap(true) {
		return
	}
	for _, e := range l.logs.TakeAll() {
		t.Log("imtest: the service logged at start: " + formatEntry(e))
	}
}

// formatEntry is a log line as the test's log shows it: the level, the
// logger's name, the message and the fields.
func formatEntry(e observer.LoggedEntry) string {
	line := e.Level.CapitalString() + " "
	if e.LoggerName != "" {
		line += e.LoggerName + ": "
	}
	line += e.Message
	if fields := e.ContextMap(); len(fields) > 0 {
		line += fmt.Sprintf(" %v", fields)
	}
	return line
}

// untilOver is a core that takes lines until over is set.
type untilOver struct {
	zapcore.Core
	over *atomic.Bool
}

func (u untilOver) Enabled(level zapcore.Level) bool {
	return !u.over.Load() && u.Core.Enabled(level)
}

func (u untilOver) With(fields []zapcore.Field) zapcore.Core {
	return untilOver{Core: u.Core.With(fields), over: u.over}
}

func (u untilOver) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if u.over.Load() {
		return ce
	}
	return u.Core.Check(e, ce)
}
