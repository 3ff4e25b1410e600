package server

import (
	"go/ast"
	"go/build"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"testing"
)

// TestOpenFileLimitBuildsOnMacOSAndFreeBSD type-checks rlimit_unix.go,
// which every unix builds, as built for macOS and FreeBSD: syscall.Rlimit's
// fields are a uint64 on Linux and macOS but an int64 on FreeBSD (and
// DragonFly), where returning the soft limit as it is failed the build of
// the package (`GOOS=freebsd go vet ./...`, and the service's own build).
// Only the file and syscall are type-checked, from source, without
// compiling anything for those systems; Linux, where the tests run,
// builds the file anyway.
func TestOpenFileLimitBuildsOnMacOSAndFreeBSD(t *testing.T) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "rlimit_unix.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	prev := build.Default
	t.Cleanup(func() { build.Default = prev })
	for _, target := range []struct{ goos, goarch string }{{"darwin", "arm64"}, {"freebsd", "amd64"}} {
		// The source importer reads the packages as build.Default selects
		// their files.
		build.Default.GOOS, build.Default.GOARCH, build.Default.CgoEnabled = target.goos, target.goarch, false
		conf := types.Config{Importer: importer.ForCompiler(fset, "source", nil)}
		if _, err := conf.Check("server", fset, []*ast.File{f}, nil); err != nil {
			t.Errorf("rlimit_unix.go as built for %s/%s: %v", target.goos, target.goarch, err)
		}
	}
}
