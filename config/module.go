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

type moduleIn struct {
	fx.In
	Source   Source        `optional:"true"`
	Sections []SectionInfo `group:"config_sections"`
}

func provide(in moduleIn) (*Config, error) { return LoadWith(in.Source, in.Sections...) }
