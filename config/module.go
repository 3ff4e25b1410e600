package config

import (
	"go.uber.org/fx"
)

// Module provides the validated *Config. It reads the Source supplied to
// the app (fx.Supply(config.Source{File: path})) or, without one, the
// environment alone.
var Module = fx.Module("config", fx.Provide(provide))

type sourceIn struct {
	fx.In
	Source Source `optional:"true"`
}

func provide(in sourceIn) (*Config, error) { return Load(in.Source) }
