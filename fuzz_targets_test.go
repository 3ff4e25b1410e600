package imcallback_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// fuzzFunc finds the fuzz targets of a test file.
var fuzzFunc = regexp.MustCompile(`(?m)^func (Fuzz\w+)\(f \*testing\.F\)`)

// eachTestFile calls fn with the path and text of each _test.go file of
// the module, outside hidden folders and testdata.
func eachTestFile(t *testing.T, fn func(path string, src []byte)) {
	t.Helper()
	eachGoFile(t, true, fn)
}

// eachGoFile calls fn with the path and text of each .go file of the
// module, outside hidden folders and testdata: the _test.go files when
// tests is true, the others when it is false.
func eachGoFile(t *testing.T, tests bool, fn func(path string, src []byte)) {
	t.Helper()
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") != tests {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		fn(path, src)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestMakeFuzzRunsEveryTarget: `make fuzz` runs each fuzz target, so its
// list names every Fuzz function of the module and no other.
func TestMakeFuzzRunsEveryTarget(t *testing.T) {
	var found []string
	eachTestFile(t, func(path string, src []byte) {
		for _, m := range fuzzFunc.FindAllStringSubmatch(string(src), -1) {
			found = append(found, "./"+filepath.ToSlash(filepath.Dir(path))+":"+m[1])
		}
	})
	makefile, err := os.ReadFile("Makefile")
	if err != nil {
		t.Fatal(err)
	}
	_, list, ok := strings.Cut(strings.ReplaceAll(string(makefile), "\\\n", " "), "FUZZ_TARGETS :=")
	if !ok {
		t.Fatal("the Makefile has no FUZZ_TARGETS")
	}
	list, _, _ = strings.Cut(list, "\n")
	listed := strings.Fields(list)
	slices.Sort(found)
	slices.Sort(listed)
	if !slices.Equal(found, listed) {
		t.Errorf("FUZZ_TARGETS lists\n%s\nthe module's fuzz targets are\n%s", strings.Join(listed, "\n"), strings.Join(found, "\n"))
	}
}
