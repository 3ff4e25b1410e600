package tracing

import (
	"errors"
	"log"
	"os"
	"strings"
	"testing"

	"go.opentelemetry.io/otel"
	"go.uber.org/fx/fxtest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// tracingApp is the tracing of one app in the test: its lifecycle and
// what its logger received.
type tracingApp struct {
	lc   *fxtest.Lifecycle
	logs *observer.ObservedLogs
}

// newTracingApp builds the tracing of an app (started when start is set).
func newTracingApp(t *testing.T, start bool) *tracingApp {
	t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	a := &tracingApp{lc: fxtest.NewLifecycle(t), logs: logs}
	if tr, err := newFromEnv(envIn{Lifecycle: a.lc, Log: zap.New(core)}); err != nil || tr == nil {
		t.Fatalf("newFromEnv: %v, %v", tr, err)
	}
	if start {
		a.lc.RequireStart()
	}
	return a
}

// got reports whether the app's logger warned of an OpenTelemetry error
// saying text.
func (a *tracingApp) got(text string) bool {
	for _, e := range a.logs.FilterLevelExact(zapcore.WarnLevel).All() {
		if s, _ := e.ContextMap()["error"].(string); s == text {
			return true
		}
	}
	return false
}

// TestOpenTelemetryErrorsLeaveAStoppedApp: OpenTelemetry's error handler
// is the process's, and its first setting makes the default handler
// forward to it for good, so setting the previous one back at the stop
// still logged through the stopped app's logger. An error reported once
// an app stopped (or, its start never run, will never stop) goes to the
// logger of an app whose tracing still runs, else to the standard logger
// as OpenTelemetry's default does; never to a stopped app's.
func TestOpenTelemetryErrorsLeaveAStoppedApp(t *testing.T) {
	prev := otel.GetErrorHandler()
	t.Cleanup(func() { otel.SetErrorHandler(prev) })
	var std lockedBuffer
	log.SetOutput(&std)
	t.Cleanup(func() { log.SetOutput(os.Stderr) })
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:1") // no span is exported

	first := newTracingApp(t, true)
	second := newTracingApp(t, true)
	first.lc.RequireStop()
	otel.Handle(errors.New("while the second runs"))
	if first.got("while the second runs") || !second.got("while the second runs") {
		t.Errorf("an error while only the second app runs: logged by the first %v, by the second %v; want the second alone",
			first.got("while the second runs"), second.got("while the second runs"))
	}
	second.lc.RequireStop()
	notStarted := newTracingApp(t, false) // a later constructor failed: fx runs no hook of it
	otel.Handle(errors.New("after the stops"))
	for name, a := range map[string]*tracingApp{"first": first, "second": second, "never started": notStarted} {
		if a.got("after the stops") {
			t.Errorf("the %s app's logger got an error reported after its stop", name)
		}
	}
	if s := std.String(); !strings.Contains(s, "after the stops") {
		t.Errorf("with no tracing running, the standard logger wrote %q; want the error, as OpenTelemetry's default", s)
	}
}
