package imcallback_test

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestNoBuildOutputTracked fails when the repository tracks a compiled
// program (an ELF, Mach-O or PE file): `go build ./bench/wrkload` at the
// root leaves ./wrkload, which a commit then carries (tens of megabytes in
// every clone, and in the image's build context) though nothing reads it.
func TestNoBuildOutputTracked(t *testing.T) {
	git, err := exec.LookPath("git")
	if err != nil {
		t.Skip("git is not installed: the tracked files were not listed")
	}
	out, err := exec.Command(git, "ls-files", "-z").Output()
	if err != nil {
		t.Skipf("not a git checkout (%v): the tracked files were not listed", err)
	}
	magics := [][]byte{{0x7f, 'E', 'L', 'F'}, {0xcf, 0xfa, 0xed, 0xfe}, {0xce, 0xfa, 0xed, 0xfe}, {'M', 'Z'}}
	for _, name := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		f, err := os.Open(name)
		if err != nil {
			continue // removed in the work tree, not yet in the index
		}
		head := make([]byte, 4)
		n, _ := f.Read(head)
		f.Close()
		for _, m := range magics {
			if bytes.HasPrefix(head[:n], m) {
				t.Errorf("%s is a compiled program: remove it (git rm --cached %s) and ignore it in .gitignore", name, name)
			}
		}
	}
}
