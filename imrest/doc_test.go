package imrest_test

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/imcallback/imcallback/"

// moduleImports are the packages of this module that the non-test Go
// files of dir import, by their path in the module.
func moduleImports(t *testing.T, dir string) map[string]bool {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if rest, ok := strings.CutPrefix(p, module); ok {
				out[rest] = true
			}
		}
	}
	return out
}

// TestDocNamesThePackagesOfTheModuleItImports: the package doc tells a
// program what imrest brings along; every package of the module it
// imports is named there and imports none of the module itself.
func TestDocNamesThePackagesOfTheModuleItImports(t *testing.T) {
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Join(strings.Fields(string(doc)), " ")
	imports := moduleImports(t, ".")
	if len(imports) > 0 && strings.Contains(text, "imports nothing of imcallback") {
		t.Errorf("doc.go says the package imports nothing of imcallback; it imports %v", imports)
	}
	for p := range imports {
		if !strings.Contains(text, p) {
			t.Errorf("doc.go does not name %s, which the package imports", p)
		}
		if deeper := moduleImports(t, filepath.Join("..", filepath.FromSlash(p))); len(deeper) > 0 {
			t.Errorf("%s, which the package imports, imports %v of the module", p, deeper)
		}
	}
}
