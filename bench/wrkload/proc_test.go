package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMain lets the test binary serve as a started server: with
// WRKLOAD_TEST_SERVE set it answers every request on IMCALLBACK_LISTEN.
func TestMain(m *testing.M) {
	if os.Getenv("WRKLOAD_TEST_SERVE") != "" {
		_ = http.ListenAndServe(os.Getenv("IMCALLBACK_LISTEN"), http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// exitCode is what the replaced exit panics with.
type exitCode int

// TestFailStopsStartedServers: a failure after a server started stops it
// before exiting, instead of leaving it running.
func TestFailStopsStartedServers(t *testing.T) {
	exit = func(code int) { panic(exitCode(code)) }
	t.Cleanup(func() { exit = os.Exit })

	p := start(os.Args[0], freeAddr(), []string{"WRKLOAD_TEST_SERVE=1"}, filepath.Join(t.TempDir(), "server.log"), "")
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Kill()
			_ = p.cmd.Wait()
		}
	})

	admin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "no", http.StatusInternalServerError)
	}))
	defer admin.Close()
	func() {
		defer func() {
			if got := recover(); got != exitCode(1) {
				t.Fatalf("adminPost against a failing admin: recovered %v, want exit 1", got)
			}
		}()
		adminPost(strings.TrimPrefix(admin.URL, "http://"), "/v1/delivery/pause")
	}()
	if p.cmd.ProcessState == nil {
		t.Fatal("the started server still runs after fail")
	}
	p.stop() // stopping a stopped server does nothing
}

// TestFailRemovesTheWorkDirectory: a failed step removes its folder of
// binaries, logs and data as a finished one does, instead of leaving it
// in the temporary directory for each failed run.
func TestFailRemovesTheWorkDirectory(t *testing.T) {
	exit = func(code int) { panic(exitCode(code)) }
	t.Cleanup(func() { exit = os.Exit })
	t.Setenv("TMPDIR", t.TempDir())

	dir := workDir()
	if err := os.WriteFile(filepath.Join(dir, "service.log"), []byte("log"), 0o600); err != nil {
		t.Fatal(err)
	}
	func() {
		defer func() {
			if got := recover(); got != exitCode(1) {
				t.Fatalf("fail: recovered %v, want exit 1", got)
			}
		}()
		fail("wrk: exit status 1")
	}()
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("the work directory %s is still there after fail (stat: %v)", dir, err)
	}
}
