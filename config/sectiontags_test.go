package config_test

import (
	"strings"
	"testing"

	"go.uber.org/fx"

	"github.com/imcallback/imcallback/config"
)

// twoFieldsOneKey is a section whose second field was copied from the
// first, its tag left as it was.
type twoFieldsOneKey struct {
	MaxLen int `koanf:"max_len"`
	MinLen int `koanf:"max_len"`
}

func (twoFieldsOneKey) Validate() error { return nil }

// lengths is a struct within a section, its second field copied from
// the first.
type lengths struct {
	Max int `koanf:"max"`
	Min int `koanf:"max"`
}

type nestedTwice struct {
	Lengths lengths `koanf:"lengths"`
}

func (nestedTwice) Validate() error { return nil }

type listedTwice struct {
	Rules []struct {
		Name  string  `koanf:"name"`
		Inner lengths `koanf:"inner"`
	} `koanf:"rules"`
}

func (listedTwice) Validate() error { return nil }

type mappedTwice struct {
	Per map[string]*lengths `koanf:"per"`
}

func (mappedTwice) Validate() error { return nil }

// tree is a struct that holds itself, with each key once.
type tree struct {
	Name     string  `koanf:"name"`
	Children []*tree `koanf:"children"`
}

type holdsTree struct {
	Root tree `koanf:"root"`
}

func (holdsTree) Validate() error { return nil }

// TestSectionRefusesTwoFieldsOfOneKey: two fields of a section tagged
// with one key were both set by its one value (IMCALLBACK_T_MAX_LEN set
// MinLen too), and nothing set the second on its own, silently; the start
// now stops naming both fields and the key. So were two fields of a
// struct within a section's field (t: {lengths: {max: 5}} set Min to 5),
// of its list's items or of its map's values: they are refused too.
func TestSectionRefusesTwoFieldsOfOneKey(t *testing.T) {
	_, err := config.DeclaredSections(config.Section("t", twoFieldsOneKey{}))
	want := `config: section "t": fields MaxLen and MinLen are both tagged koanf:"max_len"`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("error %v, want one saying %q", err, want)
	}
	for _, tt := range []struct {
		name    string
		section fx.Option
		want    string
	}{
		{"a struct field", config.Section("t", nestedTwice{}), `fields Max and Min of lengths are both tagged koanf:"max"`},
		{"a list's items", config.Section("t", listedTwice{}), `fields Max and Min of rules.inner are both tagged koanf:"max"`},
		{"a map's values", config.Section("t", mappedTwice{}), `fields Max and Min of per are both tagged koanf:"max"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.DeclaredSections(tt.section)
			if err == nil || !strings.Contains(err.Error(), `config: section "t": `+tt.want) {
				t.Fatalf("error %v, want one saying %q", err, tt.want)
			}
		})
	}
	// A struct that holds itself, each key once, is fine.
	if _, err := config.DeclaredSections(config.Section("t", holdsTree{})); err != nil {
		t.Fatalf("a struct that holds itself: %v", err)
	}
}
