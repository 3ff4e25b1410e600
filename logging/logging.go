// Package logging builds the service's zap logger from the configuration.
//
// Sampling is off on purpose: zap's production preset keeps only every 100th
// repeat of a message after the first 100 a second, which would silently
// drop access-log lines under load.
package logging

import (
	"fmt"
	"os"

	"go.uber.org/fx"
	"go.uber.org/fx/fxevent"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/imcallback/imcallback/config"
)

// Module provides the *zap.Logger.
var Module = fx.Module("logging", fx.Provide(New))

// FxLogger routes fx's own events to the service logger at debug level,
// its errors too: a failed start is reported once, by the caller that got
// the error (cli.Main prints it), not three times by fx's provide, start
// and rollback events. Add it at the top level of fx.New: fx.WithLogger
// applies to the module it sits in.
var FxLogger = fx.WithLogger(func(log *zap.Logger) fxevent.Logger {
	l := &fxevent.ZapLogger{Logger: log.Named("fx")}
	l.UseLogLevel(zapcore.DebugLevel)
	l.UseErrorLevel(zapcore.DebugLevel)
	return l
})

// New builds a logger writing to stderr in the configured format and level.
func New(cfg *config.Config) (*zap.Logger, error) {
	level, err := zapcore.ParseLevel(cfg.LogLevel)
	if err != nil {
		return nil, fmt.Errorf("logging: %w", err)
	}
	return NewWithSink(level, cfg.LogFormat, zapcore.Lock(os.Stderr)), nil
}

// NewWithSink builds a logger writing to w; format is json or console.
func NewWithSink(level zapcore.Level, format string, w zapcore.WriteSyncer) *zap.Logger {
	enc := zap.NewProductionEncoderConfig()
	enc.EncodeTime = zapcore.ISO8601TimeEncoder
	var encoder zapcore.Encoder
	if format == "console" {
		enc.EncodeLevel = zapcore.CapitalColorLevelEncoder
		encoder = zapcore.NewConsoleEncoder(enc)
	} else {
		encoder = zapcore.NewJSONEncoder(enc)
	}
	core := zapcore.NewCore(encoder, w, level)
	return zap.New(core, zap.ErrorOutput(w))
}
