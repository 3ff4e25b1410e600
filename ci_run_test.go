package imcallback_test

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// ciStubs are the commands .ci/run calls, as scripts that record what
// they were asked and answer as the case wants: PostgreSQL, the package
// manager and make never run for real.
func ciStubs(t *testing.T, pg pgState, makeExit string) (dir, psqlLog, makeEnv string) {
	t.Helper()
	dir = t.TempDir()
	psqlLog, makeEnv = filepath.Join(dir, "psql.log"), filepath.Join(dir, "make.env")
	pgReady, psqlConnects := "exit 2", `echo 'psql: error: connection refused' >&2; exit 2`
	switch pg {
	case pgUp:
		pgReady, psqlConnects = "exit 0", "exit 0"
	case pgPassword:
		// Debian's default pg_hba.conf: scram-sha-256 on 127.0.0.1, and
		// a postgres role without a password. Without -w psql asks for
		// one on the terminal.
		pgReady = "exit 0"
		psqlConnects = `case " $* " in *" -w "*|*" --no-password "*) ;; *) echo 'Password for user postgres: ' >&2 ;; esac
echo 'psql: error: connection to server at "127.0.0.1", port 5432 failed: fe_sendauth: no password supplied' >&2; exit 2`
	}
	stubs := map[string]string{
		"pg_isready":    pgReady,
		"pg_ctlcluster": `echo "pg_ctlcluster: cannot start the cluster" >&2; exit 1`,
		// A freshly installed cluster: the maintenance database postgres,
		// no database named test.
		"psql": `echo "$*" >>` + psqlLog + `
for a in "$@"; do
  case "$a" in test) echo 'psql: error: FATAL:  database "test" does not exist' >&2; exit 2 ;; esac
done
` + psqlConnects,
		"start-stop-daemon": "exit 0",
		"sleep":             "exit 0",
		"apt-get":           "exit 1",
		"chromium":          "exit 0",
		"promtool":          "exit 0",
		"make": `{ echo "DSN=${IMCALLBACK_TEST_POSTGRES_DSN-unset}"; echo "NATS=${IMCALLBACK_TEST_NATS_URL-unset}"; } >` + makeEnv + `
` + makeExit,
	}
	for name, body := range stubs {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/usr/bin/env bash\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir, psqlLog, makeEnv
}

// pgState is how the stubbed PostgreSQL of TestCIRun answers.
type pgState int

const (
	pgDown     pgState = iota // not answering, and not startable
	pgUp                      // answering, postgres connects without a password
	pgPassword                // answering, and asking postgres for a password
)

// TestCIRun runs .ci/run with its services and make stubbed: on a fresh
// PostgreSQL (no database named test) it creates the run's database and
// drops it after make, whatever make's outcome; with PostgreSQL down and
// not startable, or answering but refusing postgres without a password
// (Debian's default for 127.0.0.1), it still runs make, without
// IMCALLBACK_TEST_POSTGRES_DSN (the PostgreSQL tests skip) and says so,
// naming the variable; psql never asks for a password on the terminal.
func TestCIRun(t *testing.T) {
	if testing.Short() {
		t.Skip("runs .ci/run with stubbed services; skipped with -short")
	}
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("bash is not installed: .ci/run was not run")
	}
	for _, tt := range []struct {
		name     string
		pg       pgState
		makeExit string
		wantExit int
		wantDSN  string // a prefix of make's IMCALLBACK_TEST_POSTGRES_DSN, or "unset"
		wantOut  string
	}{
		{"fresh PostgreSQL", pgUp, "exit 0", 0, "postgres://postgres@127.0.0.1:5432/imcallback_ci_", ""},
		{"make fails", pgUp, "exit 2", 2, "postgres://postgres@127.0.0.1:5432/imcallback_ci_", ""},
		{"PostgreSQL down", pgDown, "exit 0", 0, "unset", "IMCALLBACK_TEST_POSTGRES_DSN"},
		{"PostgreSQL asks for a password", pgPassword, "exit 0", 0, "unset", "IMCALLBACK_TEST_POSTGRES_DSN"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir, psqlLog, makeEnv := ciStubs(t, tt.pg, tt.makeExit)
			cmd := exec.Command(bash, ".ci/run")
			cmd.Env = append(os.Environ(), "PATH="+dir+string(os.PathListSeparator)+os.Getenv("PATH"))
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			err := cmd.Run()
			code := 0
			if exit := (*exec.ExitError)(nil); errors.As(err, &exit) {
				code = exit.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			env, _ := os.ReadFile(makeEnv)
			if code != tt.wantExit || len(env) == 0 {
				t.Fatalf(".ci/run exited %d (want %d), make ran with %q:\n%s", code, tt.wantExit, env, out.String())
			}
			dsn, _, _ := strings.Cut(strings.TrimPrefix(string(env), "DSN="), "\n")
			if !strings.HasPrefix(dsn, tt.wantDSN) {
				t.Fatalf("make ran with IMCALLBACK_TEST_POSTGRES_DSN %q, want %q…:\n%s", dsn, tt.wantDSN, out.String())
			}
			if !strings.Contains(out.String(), tt.wantOut) {
				t.Fatalf(".ci/run's output does not mention %q:\n%s", tt.wantOut, out.String())
			}
			if strings.Contains(out.String(), "Password for user") {
				t.Fatalf("psql asked for a password on the terminal, where a run waits for an answer:\n%s", out.String())
			}
			if tt.pg == pgUp {
				db := strings.TrimPrefix(strings.SplitN(dsn, "?", 2)[0], "postgres://postgres@127.0.0.1:5432/")
				calls, _ := os.ReadFile(psqlLog)
				if !strings.Contains(string(calls), "CREATE DATABASE "+db) || !strings.Contains(string(calls), "DROP DATABASE IF EXISTS "+db) {
					t.Fatalf("psql was asked:\n%s\nwant the run's database %s created and dropped", calls, db)
				}
			}
		})
	}
}

// TestMakeBenchInstallsWrk runs `make bench` with go stubbed and no wrk
// on the PATH, on a machine whose package lists were never fetched (a
// fresh container): wrk is installed, which takes an apt-get update first.
func TestMakeBenchInstallsWrk(t *testing.T) {
	if testing.Short() {
		t.Skip("runs make with stubbed commands; skipped with -short")
	}
	makeBin, err := exec.LookPath("make")
	if err != nil {
		t.Skip("make is not installed: the Makefile was not run")
	}
	chmod, err := exec.LookPath("chmod")
	if err != nil {
		t.Skip("chmod is not installed: the Makefile was not run")
	}
	dir := t.TempDir()
	log := filepath.Join(dir, "calls.log")
	stubs := map[string]string{
		"go": `echo "go $*" >>` + log,
		// Empty package lists until an update: wrk is not found before.
		"apt-get": `echo "apt-get $*" >>` + log + `
case " $* " in
  *" update "*) : >` + filepath.Join(dir, "lists") + `; exit 0 ;;
  *" install "*)
    [ -e ` + filepath.Join(dir, "lists") + ` ] || { echo "E: Unable to locate package wrk" >&2; exit 100; }
    printf '#!/bin/sh\nexit 0\n' >` + filepath.Join(dir, "wrk") + ` && ` + chmod + ` +x ` + filepath.Join(dir, "wrk") + ` ;;
esac`,
	}
	for name, body := range stubs {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	grep, err := exec.LookPath("grep")
	if err != nil {
		t.Skip("grep is not installed: the Makefile was not run")
	}
	if err := os.Symlink(grep, filepath.Join(dir, "grep")); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(makeBin, "--no-print-directory", "bench", "GO=go")
	cmd.Env = append(os.Environ(), "PATH="+dir) // no wrk, whatever this machine has
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make bench: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "wrk")); err != nil {
		calls, _ := os.ReadFile(log)
		t.Fatalf("make bench did not install wrk:\n%s\ncalls:\n%s", out, calls)
	}
}

// TestCIRunInstallsACompiler runs .ci/run on a machine without a C
// compiler (a fresh container with Go from its tarball): make test runs
// the race detector, which needs cgo and so the compiler of `go env CC`,
// and would fail every package's build; .ci/run installs gcc as it does
// chromium, or says why make test is about to fail.
func TestCIRunInstallsACompiler(t *testing.T) {
	if testing.Short() {
		t.Skip("runs .ci/run with stubbed services; skipped with -short")
	}
	dir, _, makeEnv := ciStubs(t, pgUp, "exit 0")
	aptLog := filepath.Join(dir, "apt-get.log")
	for name, body := range map[string]string{
		"go":      `[ "$*" = "env CC" ] && echo gcc`,
		"apt-get": `echo "$*" >>` + aptLog + `; [ "$1" = update ]`, // no package installs
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/usr/bin/env bash\n"+body+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// The tools .ci/run needs besides the stubs, and no compiler,
	// whatever this machine has.
	tools := t.TempDir()
	for _, name := range []string{"bash", "basename", "dirname", "seq", "date"} {
		p, err := exec.LookPath(name)
		if err != nil {
			t.Skipf("%s is not installed: .ci/run was not run", name)
		}
		if err := os.Symlink(p, filepath.Join(tools, name)); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(filepath.Join(tools, "bash"), ".ci/run")
	cmd.Env = append(os.Environ(), "PATH="+dir+string(os.PathListSeparator)+tools)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf(".ci/run: %v\n%s", err, out)
	}
	if env, _ := os.ReadFile(makeEnv); len(env) == 0 {
		t.Fatalf("make did not run:\n%s", out)
	}
	calls, _ := os.ReadFile(aptLog)
	if !strings.Contains(string(calls), "install -y -qq gcc") {
		t.Fatalf("apt-get was asked:\n%s\nwant gcc installed, for make test's race detector:\n%s", calls, out)
	}
	if !strings.Contains(string(out), "gcc") || !strings.Contains(string(out), "-race") {
		t.Fatalf(".ci/run did not say that make test's -race needs the C compiler it could not install:\n%s", out)
	}
}
