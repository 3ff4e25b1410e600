package logging_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"go.uber.org/fx"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/imcallback/imcallback/config"
	"github.com/imcallback/imcallback/logging"
)

// fxLoggedApp is an app with FxLogger whose logger writes JSON at info
// level to out through a buffer of the given interval, with opts.
func fxLoggedApp(out *sink, buffer time.Duration, opts ...fx.Option) *fx.App {
	return fx.New(append([]fx.Option{
		fx.Supply(&config.Config{LogLevel: "info", LogFormat: "json", LogBuffer: buffer}),
		fx.Provide(func(lc fx.Lifecycle, cfg *config.Config) (*zap.Logger, error) {
			return logging.NewBuffered(lc, cfg, zapcore.AddSync(out))
		}),
		logging.FxLogger,
	}, opts...)...)
}

// errorLine is the line of out at error level with message msg whose
// error says cause; "" when there is none.
func errorLine(out *sink, msg, cause string) string {
	for line := range strings.SplitSeq(out.String(), "\n") {
		var e struct{ Level, Msg, Error string }
		if json.Unmarshal([]byte(line), &e) == nil && e.Level == "error" && e.Msg == msg && strings.Contains(e.Error, cause) {
			return line
		}
	}
	return ""
}

// TestFxLoggerReportsAFailedStartAndStop: fx's Run, as the package
// documentation's program runs the service, prints nothing of its own
// when the start or the stop fails, and exits with status 1: the error
// is only what the event logger says of it. FxLogger had it at debug
// level with fx's other events, so at the default level the process
// ended without a word of why (a port in use, say). It is an error line,
// written at once although the stop that failed never ran the buffer's
// flush; a caller that reports the error itself (cli.Main) supplies
// StartStopReported, and the event stays at debug level, so that the
// error is reported once.
func TestFxLoggerReportsAFailedStartAndStop(t *testing.T) {
	failingStart := fx.Invoke(func(lc fx.Lifecycle) {
		lc.Append(fx.StartHook(func() error { return errors.New("the port is in use") }))
	})
	t.Run("start", func(t *testing.T) {
		out := &sink{}
		if err := fxLoggedApp(out, time.Hour, failingStart).Start(context.Background()); err == nil {
			t.Fatal("the start did not fail")
		}
		if errorLine(out, "start failed", "the port is in use") == "" {
			t.Errorf("no error line says why the start failed; the output is:\n%s", out)
		}
	})
	t.Run("stop", func(t *testing.T) {
		out := &sink{}
		var log *zap.Logger
		app := fxLoggedApp(out, time.Hour, fx.Populate(&log))
		if err := app.Start(context.Background()); err != nil {
			t.Fatal(err)
		}
		log.Info("a line while the app runs")
		// A stop whose time ran out before its hooks ran: the buffer's
		// flush, the last of them, too.
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := app.Stop(ctx); err == nil {
			t.Fatal("the stop did not fail")
		}
		if errorLine(out, "stop failed", context.Canceled.Error()) == "" {
			t.Errorf("no error line says why the stop failed; the output is:\n%s", out)
		}
		if !strings.Contains(out.String(), "a line while the app runs") {
			t.Errorf("the lines the buffer held were not written with the stop's error:\n%s", out)
		}
	})
	t.Run("reported by the caller", func(t *testing.T) {
		out := &sink{}
		app := fxLoggedApp(out, time.Hour, failingStart, fx.Supply(&logging.StartStopReported{}))
		if err := app.Start(context.Background()); err == nil {
			t.Fatal("the start did not fail")
		}
		if strings.Contains(out.String(), "the port is in use") {
			t.Errorf("with StartStopReported, the start's error was logged too, where the caller reports it:\n%s", out)
		}
	})
}
