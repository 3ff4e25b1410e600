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

// shared is an unexported struct a module embeds in its section.
type shared struct {
	Host string `koanf:"host"`
}

type embedsUnexported struct {
	shared
	Port int `koanf:"port"`
}

func (embedsUnexported) Validate() error { return nil }

// helper is an unexported struct of no setting's.
type helper struct{ n int }

type embedsHelper struct {
	helper
	Port int `koanf:"port"`
}

func (embedsHelper) Validate() error { return nil }

// TestSectionRefusesAnEmbeddedStructItCannotSet: a struct embedded in a
// section without a koanf tag had its fields set by nothing, silently (a
// variable for one was noted as no setting, the file's key refused as
// unknown), where Section's doc says an exported field without a tag
// fails the start; koanf:",squash", the decoder's flattening, was refused
// with the advice to tag it koanf:"squash", a key of that name. Both now
// fail the start saying that the section does not flatten an embedded
// struct and what to write; so does an unexported one with tagged fields,
// which nothing refused. A named or a "-" tag is as before.
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
	// An unexported one with tagged fields was not refused at all: its
	// variable (IMCALLBACK_EM_HOST) set nothing without a word.
	for _, load := range []func() error{
		func() error { _, err := config.DeclaredSections(config.Section("em", embedsUnexported{})); return err },
		func() error {
			_, err := config.LoadSection(config.Source{Environ: env("IMCALLBACK_EM_HOST=h")}, "em", embedsUnexported{})
			return err
		},
	} {
		want := `config: section "em": field shared is embedded without a koanf tag and not exported, so neither the file nor a variable sets its fields`
		if err := load(); err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("an unexported embedded struct: %v, want an error saying %q", err, want)
		}
	}
	// One with no tagged field is no setting's, and left alone.
	if _, err := config.LoadSection(config.Source{Environ: env("IMCALLBACK_EM_PORT=1")}, "em", embedsHelper{helper: helper{n: 1}}); err != nil {
		t.Fatalf("an unexported embedded struct of no setting's: %v", err)
	}
	got, err := config.LoadSection(config.Source{File: yamlFile(t, "em:\n  shared: {host: h}\n  port: 1\n"), Environ: env()}, "em", namesShared{})
	if err != nil || got.Host != "h" || got.Port != 1 {
		t.Fatalf("a named embedded struct: %+v, %v", got, err)
	}
	if _, err := config.LoadSection(config.Source{Environ: env("IMCALLBACK_EM_PORT=1")}, "em", leavesSharedOut{}); err != nil {
		t.Fatalf("an embedded struct tagged koanf:\"-\": %v", err)
	}
}
