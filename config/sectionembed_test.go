package config_test

import (
	"strings"
	"testing"

	"go.uber.org/fx"

	"github.com/imcallback/imcallback/config"
)

// Shared is a struct a module embeds in its section.
type Shared struct {
	Host string `koanf:"host"`
}

type embedsShared struct {
	Shared
	Port int `koanf:"port"`
}

func (embedsShared) Validate() error { return nil }

type squashesShared struct {
	Shared `koanf:",squash"`
	Port   int `koanf:"port"`
}

func (squashesShared) Validate() error { return nil }

type namesShared struct {
	Shared `koanf:"shared"`
	Port   int `koanf:"port"`
}

func (namesShared) Validate() error { return nil }

type leavesSharedOut struct {
	Shared `koanf:"-"`
	Port   int `koanf:"port"`
}

func (leavesSharedOut) Validate() error { return nil }

// TestSectionRefusesAnEmbeddedStructItCannotSet: a struct embedded in a
// section without a koanf tag had its fields set by nothing, silently (a
// variable for one was noted as no setting, the file's key refused as
// unknown), where Section's doc says an exported field without a tag
// fails the start; koanf:",squash", the decoder's flattening, was refused
// with the advice to tag it koanf:"squash", a key of that name. Both now
// fail the start saying that the section does not flatten an embedded
// struct and what to write; a named or a "-" tag is as before.
func TestSectionRefusesAnEmbeddedStructItCannotSet(t *testing.T) {
	for _, tt := range []struct {
		name    string
		section fx.Option
		want    string
	}{
		{"untagged", config.Section("em", embedsShared{}),
			`config: section "em": field Shared is embedded without a koanf tag, so neither the file nor a variable sets its fields`},
		{"squashed", config.Section("em", squashesShared{}),
			`config: section "em": field Shared is embedded with koanf:",squash", so neither the file nor a variable sets its fields`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.DeclaredSections(tt.section)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), `tag it koanf:"shared"`) {
				t.Fatalf("error %v, want one saying %q and what to tag", err, tt.want)
			}
		})
	}
	got, err := config.LoadSection(config.Source{File: yamlFile(t, "em:\n  shared: {host: h}\n  port: 1\n"), Environ: env()}, "em", namesShared{})
	if err != nil || got.Host != "h" || got.Port != 1 {
		t.Fatalf("a named embedded struct: %+v, %v", got, err)
	}
	if _, err := config.LoadSection(config.Source{Environ: env("IMCALLBACK_EM_PORT=1")}, "em", leavesSharedOut{}); err != nil {
		t.Fatalf("an embedded struct tagged koanf:\"-\": %v", err)
	}
}
