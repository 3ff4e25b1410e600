package config

import (
	"go.uber.org/fx"
)

// Module provides the validated *Config, with every section the app
// declares (Section) read and validated too, whether or not a constructor
// takes it (LoadAll). It reads the Source supplied to
// the app (fx.Supply(config.Source{File: path})) or, without one, the
// environment alone. Given Reuse, it loads what Reuse's Source read of the
// file instead of reading the file again.
var Module = fx.Module("config", fx.Provide(provide))

type sourceIn struct {
	fx.In
	Source Source            `optional:"true"`
	Reads  []*readFileResult `group:"config_reads"`
}

type moduleIn struct {
	fx.In
	Source   Source            `optional:"true"`
	Reads    []*readFileResult `group:"config_reads"`
	Sections []SectionInfo     `group:"config_sections"`
}

// provide loads the core settings and every declared section (LoadAll),
// as `serve` does: a program of its own (fx.New with imcallback.Module)
// refuses a section that `serve` refuses, also when no constructor takes it.
func provide(in moduleIn) (*Config, error) {
	cfg, _, err := LoadAll(reusing(in.Source, in.Reads), in.Sections...)
	return cfg, err
}

// Reuse is an option for an app of Module (and of Section's) under which
// every load of the supplied Source takes the bytes that read (a Source
// returned by Source.Read) holds of its file, instead of reading the file
// again, when the supplied Source names that file and has not read it
// itself. A program that loads the configuration before the app does
// (imcallback.Timeouts does, to bound the start and the stop) must hand
// the app its read so: a file that can be read once only (a pipe, as a
// shell's --config <(envsubst < c.yaml) or /dev/stdin gives) is empty the
// second time, so the service would run without the file's settings, its
// tokens and allowlist among them. A read of another file, or a Source
// without a File, changes nothing.
func Reuse(read Source) fx.Option {
	if !read.hasRead() {
		return fx.Options()
	}
	return fx.Supply(fx.Annotated{Group: "config_reads", Target: read.read})
}

// reusing is src loading from the read among reads of its file, when it
// has not read that file itself.
func reusing(src Source, reads []*readFileResult) Source {
	if src.File == "" || src.hasRead() {
		return src
	}
	for _, r := range reads {
		if r.path == src.File {
			src.read = r
			break
		}
	}
	return src
}
