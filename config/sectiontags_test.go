package config_test

import (
	"strings"
	"testing"

	"github.com/imcallback/imcallback/config"
)

// twoFieldsOneKey is a section whose second field was copied from the
// first, its tag left as it was.
type twoFieldsOneKey struct {
	MaxLen int `koanf:"max_len"`
	MinLen int `koanf:"max_len"`
}

func (twoFieldsOneKey) Validate() error { return nil }

// TestSectionRefusesTwoFieldsOfOneKey: two fields of a section tagged
// with one key were both set by its one value (IMCALLBACK_T_MAX_LEN set
// MinLen too), and nothing set the second on its own, silently; the start
// now stops naming both fields and the key.
func TestSectionRefusesTwoFieldsOfOneKey(t *testing.T) {
	_, err := config.DeclaredSections(config.Section("t", twoFieldsOneKey{}))
	want := `config: section "t": fields MaxLen and MinLen are both tagged koanf:"max_len"`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("error %v, want one saying %q", err, want)
	}
}
