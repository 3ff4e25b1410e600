//go:build unix

package config_test

import (
	"io"
	"os"
	"strings"
	"testing"

	"github.com/imcallback/imcallback/config"
)

// dupEnvChild, set, makes TestANameGivenTwiceReachesTheProcessOnce the
// child that loads the configuration of its own environment and prints it.
const dupEnvChild = "IMCALLBACK_CONFIG_TEST_DUP_ENV_CHILD"

// TestANameGivenTwiceReachesTheProcessOnce: the README says that one
// variable name given twice in the process's environment reaches the
// service once, with its first value: Go's runtime drops the later one
// before os.Environ, so the check that refuses it in a Source's Environ
// (TestVariableSetTwice, "one name twice") never sees it in a process's.
// The test runs itself with such an environment.
func TestANameGivenTwiceReachesTheProcessOnce(t *testing.T) {
	if os.Getenv(dupEnvChild) != "" {
		c, err := config.Load(config.Source{})
		if err != nil {
			t.Fatalf("child: %v", err)
		}
		os.Stdout.WriteString("\nlisten=" + c.Listen + "\n")
		return
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	// os.StartProcess passes the list as it is; os/exec would drop the
	// first of the two itself.
	env := []string{dupEnvChild + "=1", "IMCALLBACK_SDKAPPID=1400000000",
		"IMCALLBACK_LISTEN=127.0.0.1:7001", "IMCALLBACK_LISTEN=127.0.0.1:7002"}
	p, err := os.StartProcess(exe, []string{exe, "-test.run=^TestANameGivenTwiceReachesTheProcessOnce$", "-test.count=1"},
		&os.ProcAttr{Env: env, Files: []*os.File{nil, w, w}})
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(r)
	state, err := p.Wait()
	if err != nil || !state.Success() {
		t.Fatalf("the child: %v %v\n%s", state, err, out)
	}
	if !strings.Contains(string(out), "\nlisten=127.0.0.1:7001\n") {
		t.Errorf("the child did not load the first of the two values:\n%s", out)
	}
}
