package config_test

import (
	"strings"
	"testing"

	"go.uber.org/fx"

	"github.com/imcallback/imcallback/config"
)

// TestDeclaredSectionsRefusesANilModule: a nil module (an fx.Option
// variable left unset) among those DeclaredSections lists, as
// imcallback.Timeouts and the command line pass a program's modules,
// panicked inside fx.New; it is an error saying which.
func TestDeclaredSectionsRefusesANilModule(t *testing.T) {
	_, err := config.DeclaredSections(config.Section("words", wordsDefaults), nil)
	if want := "option #2 of 2 is nil"; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("DeclaredSections with a nil module: %v, want an error saying %q", err, want)
	}
	if infos, err := config.DeclaredSections(config.Section("words", wordsDefaults), fx.Options()); err != nil || len(infos) != 1 {
		t.Fatalf("DeclaredSections with fx.Options(): %v, %v", infos, err)
	}
}
