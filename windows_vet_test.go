package imcallback_test

import (
	"os"
	"os/exec"
	"testing"
)

// TestVetPassesForWindows runs go vet over the whole module, tests
// included, as built for Windows: every product package builds there, and
// tests that called what only unix has (syscall.Kill, SIGSTOP) broke
// `GOOS=windows go vet ./...`. Such code goes into a //go:build unix file,
// with a _unix.go/_other.go pair where a caller needs a stub; a stub that a
// test calls skips the test there. The first run compiles the module and
// its dependencies for Windows, minutes on a busy machine (hardly more for
// the whole module than for the few packages with unix-only code, as the
// dependencies dominate); later runs take seconds from the build cache.
func TestVetPassesForWindows(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go vet for Windows; skipped with -short")
	}
	cmd := exec.Command("go", "vet", "./...")
	cmd.Env = append(os.Environ(), "GOOS=windows", "GOARCH=amd64", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("GOOS=windows go vet ./...: %v\n%s\nmove the code only unix has into a //go:build unix file (with an _other.go stub where a caller needs one)", err, out)
	}
}
