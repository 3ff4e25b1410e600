package imcallback_test

import (
	"bufio"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// module is the module path the import graph is read under.
const module = "github.com/imcallback/imcallback"

// layerRule is one row of the README's architecture table: a folder
// pattern ("commands/<area>" matches any one folder for <area>; "" is the
// module root) and its layer.
type layerRule struct {
	pattern string
	layer   int
}

// readLayers reads the folder and layer columns of the README's
// architecture table.
func readLayers(t *testing.T) []layerRule {
	t.Helper()
	f, err := os.Open("README.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rules []layerRule
	in := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "## Architecture":
			in = true
			continue
		case in && strings.HasPrefix(line, "## "):
			in = false
		}
		if !in || !strings.HasPrefix(line, "| `") {
			continue
		}
		cols := strings.Split(line, "|")
		if len(cols) < 4 {
			t.Fatalf("architecture row without a layer: %s", line)
		}
		layer, err := strconv.Atoi(strings.TrimSpace(cols[2]))
		if err != nil {
			t.Fatalf("architecture row %q: layer %q is not a number", line, cols[2])
		}
		for _, folder := range strings.Split(cols[1], ",") {
			folder = strings.Trim(strings.TrimSpace(folder), "`")
			if folder == "imcallback.go" {
				folder = ""
			}
			rules = append(rules, layerRule{pattern: strings.TrimSuffix(folder, "/"), layer: layer})
		}
	}
	if len(rules) == 0 {
		t.Fatal("README.md has no architecture table")
	}
	return rules
}

// layerOf is the layer of the package at path rel (relative to the
// module root): the rule whose pattern matches the most leading folders,
// a literal folder winning over a <wildcard> one.
func layerOf(rules []layerRule, rel string) (int, bool) {
	segs := strings.Split(rel, "/")
	if rel == "" {
		segs = nil
	}
	best, bestScore := 0, -1
	for _, r := range rules {
		var pat []string
		if r.pattern != "" {
			pat = strings.Split(r.pattern, "/")
		}
		if len(pat) > len(segs) || (len(pat) == 0 && len(segs) != 0) {
			continue
		}
		score, ok := 0, true
		for i, p := range pat {
			switch {
			case strings.HasPrefix(p, "<") && strings.HasSuffix(p, ">"):
				score += 1
			case p == segs[i]:
				score += 2
			default:
				ok = false
			}
		}
		if ok && score > bestScore {
			best, bestScore = r.layer, score
		}
	}
	return best, bestScore >= 0
}

// pkg is one package of the import graph.
type pkg struct {
	path    string // relative to the module root
	imports []string
}

// violations lists every import of a module package from a higher layer,
// and every package the table does not place.
func violations(rules []layerRule, pkgs []pkg) []string {
	var out []string
	for _, p := range pkgs {
		from, ok := layerOf(rules, p.path)
		if !ok {
			out = append(out, fmt.Sprintf("%s has no row in the README's architecture table", show(p.path)))
			continue
		}
		for _, imp := range p.imports {
			rel, ours := strings.CutPrefix(imp, module)
			if !ours {
				continue
			}
			rel = strings.TrimPrefix(rel, "/")
			to, ok := layerOf(rules, rel)
			if ok && to > from {
				out = append(out, fmt.Sprintf("%s (layer %d) imports %s (layer %d), a higher layer", show(p.path), from, show(rel), to))
			}
		}
	}
	return out
}

func show(rel string) string {
	if rel == "" {
		return "the root package"
	}
	return rel
}

// goList runs go list with a template over patterns.
func goList(t *testing.T, args ...string) []string {
	t.Helper()
	out, err := exec.Command("go", append([]string{"list"}, args...)...).Output()
	if err != nil {
		t.Fatalf("go list %v: %v", args, err)
	}
	return strings.Fields(strings.ReplaceAll(string(out), "\n", " \n "))
}

// importGraph is every package of the module with its direct imports (not
// its tests' imports: a test may use the kit of a higher layer).
func importGraph(t *testing.T) []pkg {
	t.Helper()
	out, err := exec.Command("go", "list", "-f", "{{.ImportPath}}{{range .Imports}} {{.}}{{end}}", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var pkgs []pkg
	for line := range strings.Lines(string(out)) {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(f[0], module), "/")
		pkgs = append(pkgs, pkg{path: rel, imports: f[1:]})
	}
	return pkgs
}

func TestLayers(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list; skipped with -short")
	}
	for _, v := range violations(readLayers(t), importGraph(t)) {
		t.Error(v)
	}
}

func TestLayerRuleCatchesUpwardImports(t *testing.T) {
	rules := []layerRule{{"protocol", 0}, {"admin", 0}, {"dispatcher", 2}, {"commands/<area>", 3}, {"delivery", 3},
		{"commands/catalogue", 4}, {"server", 5}, {"", 6}, {"imtest", 7}, {"cmd", 8}}
	tests := []struct {
		name string
		pkgs []pkg
		want int
	}{
		{"downward imports", []pkg{{"cmd/imcallback", []string{module, module + "/server"}}, {"commands/c2c", []string{module + "/dispatcher"}}}, 0},
		{"same layer", []pkg{{"commands/push", []string{module + "/commands/group"}}}, 0},
		{"a literal folder beats the wildcard", []pkg{{"commands/catalogue", []string{module + "/commands/c2c"}}}, 0},
		{"a command package importing the server", []pkg{{"commands/topic", []string{module + "/server", module + "/admin"}}}, 1},
		{"delivery importing the server", []pkg{{"delivery", []string{module + "/server"}}}, 1},
		{"the server importing the root", []pkg{{"server", []string{module}}}, 1},
		{"the binary's kit importing the test kit", []pkg{{"", []string{module + "/imtest"}}}, 1},
		{"protocol importing the dispatcher", []pkg{{"protocol", []string{module + "/dispatcher", "net/http"}}}, 1},
		{"a package the table lacks", []pkg{{"elsewhere", nil}}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := violations(rules, tt.pkgs); len(got) != tt.want {
				t.Fatalf("%d violations %q, want %d", len(got), got, tt.want)
			}
		})
	}
}

// TestProtocolNeedsOnlyTheStandardLibrary keeps protocol importable by
// anything: no module outside the standard library, nothing of ours.
func TestProtocolNeedsOnlyTheStandardLibrary(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list; skipped with -short")
	}
	for _, imp := range goList(t, "-f", "{{range .Imports}}{{.}} {{end}}", "./protocol") {
		if first, _, _ := strings.Cut(imp, "/"); strings.Contains(first, ".") {
			t.Errorf("protocol imports %s; it may use the standard library only", imp)
		}
	}
}

// TestBinariesLinkNoTestCode checks the commands' dependencies hold no
// testing package.
func TestBinariesLinkNoTestCode(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list; skipped with -short")
	}
	for _, main := range []string{"./cmd/imcallback", "./examples/moderation/cmd/moderated"} {
		deps := goList(t, "-deps", "-f", "{{.ImportPath}}", main)
		for _, bad := range []string{"testing", "go.uber.org/fx/fxtest", module + "/imtest"} {
			if slices.Contains(deps, bad) {
				t.Errorf("%s links %s", main, bad)
			}
		}
	}
}

// TestNoInitFunctions keeps registration explicit: commands, middleware,
// sections, routes and checks reach the service through fx modules, never
// through an init function that fills a global registry on import.
func TestNoInitFunctions(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list; skipped with -short")
	}
	out, err := exec.Command("go", "list", "-f", `{{$d := .Dir}}{{range .GoFiles}}{{$d}}/{{.}} {{end}}`, "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	files := strings.Fields(string(out))
	if len(files) == 0 {
		t.Fatal("go list named no file")
	}
	fset := token.NewFileSet()
	for _, path := range files {
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			if fn, ok := d.(*ast.FuncDecl); ok && fn.Recv == nil && fn.Name.Name == "init" {
				t.Errorf("%s: func init(); register through an fx module instead", fset.Position(fn.Pos()))
			}
		}
	}
}

// TestExportedNamesAreDocumented: every exported name of every package of
// the module (the root's fx modules, imtest, imsend, the examples, the
// commands, internal packages and mains alike; testdata and generated
// files aside) has a doc comment, struct fields included, so go doc
// answers what each one means.
func TestExportedNamesAreDocumented(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list; skipped with -short")
	}
	dirs := goList(t, "-f", "{{.Dir}}", "./...")
	if len(dirs) < 2 {
		t.Fatalf("go list named %d package folders: was it run in the module?", len(dirs))
	}
	root, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	files := 0
	for _, dir := range dirs {
		if rel, err := filepath.Rel(root, dir); err == nil {
			dir = rel // positions relative to the module, as go vet prints them
		}
		// Every .go file of the folder, those another platform builds
		// (filelock_other.go) included.
		paths, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, path := range paths {
			if strings.HasSuffix(path, "_test.go") {
				continue
			}
			f, err := parser.ParseFile(fset, path, nil, parser.ParseComments|parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			if ast.IsGenerated(f) {
				continue
			}
			files++
			for _, name := range undocumented(f) {
				t.Errorf("%s: %s has no doc comment", fset.Position(name.Pos()), name.Name)
			}
		}
	}
	if files < len(dirs) {
		t.Errorf("read %d files in %d package folders: were they found as expected?", files, len(dirs))
	}
}

// undocumented returns the exported names of f declared without a doc
// comment: functions, methods of exported types, types, constants,
// variables (a group's doc covers its names) and struct fields (a doc or a
// line comment).
func undocumented(f *ast.File) []*ast.Ident {
	var names []*ast.Ident
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			if d.Doc == nil && d.Name.IsExported() && (d.Recv == nil || exportedReceiver(d.Recv.List[0].Type)) {
				names = append(names, d.Name)
			}
		case *ast.GenDecl:
			for _, spec := range d.Specs {
				switch s := spec.(type) {
				case *ast.TypeSpec:
					if !s.Name.IsExported() {
						continue
					}
					if s.Doc == nil && d.Doc == nil {
						names = append(names, s.Name)
					}
					if st, ok := s.Type.(*ast.StructType); ok {
						for _, field := range st.Fields.List {
							for _, n := range field.Names {
								if n.IsExported() && field.Doc == nil && field.Comment == nil {
									names = append(names, n)
								}
							}
						}
					}
				case *ast.ValueSpec:
					for _, n := range s.Names {
						if n.IsExported() && s.Doc == nil && s.Comment == nil && d.Doc == nil {
							names = append(names, n)
						}
					}
				}
			}
		}
	}
	return names
}

// exportedReceiver reports a method receiver of an exported type (T, *T,
// T[P]).
func exportedReceiver(expr ast.Expr) bool {
	if star, ok := expr.(*ast.StarExpr); ok {
		expr = star.X
	}
	switch e := expr.(type) {
	case *ast.IndexExpr:
		expr = e.X
	case *ast.IndexListExpr:
		expr = e.X
	}
	id, ok := expr.(*ast.Ident)
	return ok && id.IsExported()
}
