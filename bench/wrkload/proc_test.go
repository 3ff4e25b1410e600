package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/imcallback/imcallback/imtest"
)

// TestMain lets the test binary serve as a started server: with
// WRKLOAD_TEST_SERVE set it answers every request on IMCALLBACK_LISTEN;
// with WRKLOAD_TEST_MAIN set it is the step itself.
func TestMain(m *testing.M) {
	if os.Getenv("WRKLOAD_TEST_MAIN") != "" {
		main()
		os.Exit(0)
	}
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
	endingStep(t, func(code int) { panic(exitCode(code)) })

	p := start(os.Args[0], imtest.FreeAddr(t), []string{"WRKLOAD_TEST_SERVE=1"}, filepath.Join(t.TempDir(), "server.log"), "")
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill() // when fail did not stop it
		<-p.done
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
	select {
	case <-p.done:
	default:
		t.Fatal("the started server still runs after fail")
	}
	p.stop() // stopping a stopped server does nothing
}

// TestFailRemovesTheWorkDirectory: a failed step removes its folder of
// binaries, logs and data as a finished one does, instead of leaving it
// in the temporary directory for each failed run.
func TestFailRemovesTheWorkDirectory(t *testing.T) {
	endingStep(t, func(code int) { panic(exitCode(code)) })
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

// TestASignalEndsTheStepAsAFailureDoes: Ctrl-C (SIGINT), a CI job's
// timeout (SIGTERM) or a closed terminal (SIGHUP) killed the step at once:
// its folder of binaries and the services' stores stayed in the temporary
// directory, and a signal to the step alone left its servers running. The
// step now stops them, removes its folder and exits 128+signal.
func TestASignalEndsTheStepAsAFailureDoes(t *testing.T) {
	raise := signalSelf(t)
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGHUP, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			codes := make(chan int, 1)
			endingStep(t, func(code int) {
				select {
				case codes <- code:
				default:
				}
			})
			t.Setenv("TMPDIR", t.TempDir())
			dir := workDir()
			p := start(os.Args[0], imtest.FreeAddr(t), []string{"WRKLOAD_TEST_SERVE=1"}, filepath.Join(dir, "server.log"), "")
			t.Cleanup(func() {
				_ = p.cmd.Process.Kill() // when the signal did not stop it
				<-p.done
			})
			// A run to its end under way, as wrk's or go build's: a server
			// that never ends stands in for it.
			cmd := exec.Command(os.Args[0])
			cmd.Env = append(os.Environ(), "WRKLOAD_TEST_SERVE=1", "IMCALLBACK_LISTEN="+imtest.FreeAddr(t))
			ran := make(chan error, 1)
			go func() {
				_, err := run(cmd)
				ran <- err
			}()
			t.Cleanup(func() {
				if cmd.Process != nil { // set before run's process joins running, which the test waits for
					_ = cmd.Process.Kill()
				}
			})
			for running.len() < 2 {
				time.Sleep(10 * time.Millisecond)
			}
			stop := stopOnSignals()
			defer stop()
			if err := raise(sig); err != nil {
				t.Fatal(err)
			}
			if code := <-codes; code != 128+int(sig) {
				t.Fatalf("exit %d, want %d", code, 128+int(sig))
			}
			select {
			case <-p.done:
			default:
				t.Error("the started server still runs after the signal")
			}
			select {
			case err := <-ran:
				if err == nil {
					t.Error("the run under way ended without an error")
				}
			case <-time.After(time.Minute): // a guard against the hang, not a measure
				t.Fatal("the run under way still runs after the signal")
			}
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Errorf("the work directory %s is still there after the signal (stat: %v)", dir, err)
			}
		})
	}
}

// len is how many processes run.
func (s *procs) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.procs)
}

// endingStep replaces exit for the test and, at its end, restores it and
// lets the servers of later tests start again.
func endingStep(t *testing.T, replacement func(int)) {
	exit = replacement
	t.Cleanup(func() {
		exit = os.Exit
		running.mu.Lock()
		running.closed = false
		running.mu.Unlock()
	})
}

// TestSustainedRunsWithoutWrk: -sustained offers its rates with a Go
// client, not wrk, but the step skipped it where wrk is not installed.
// Without wrk it now goes on (here to the build of a checkout that does
// not exist, which fails it), while the wrk rounds are still skipped.
func TestSustainedRunsWithoutWrk(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go command: %v", err)
	}
	bin := t.TempDir() // go, and no wrk
	if err := os.Symlink(goBin, filepath.Join(bin, "go")); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		args     []string
		wantSkip bool
	}{
		{"wrk rounds", []string{"-rows", "chain-unknown", "-service-root", filepath.Join(bin, "no-checkout")}, true},
		{"sustained", []string{"-sustained", "1000", "-service-root", filepath.Join(bin, "no-checkout")}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], tt.args...)
			cmd.Env = append(os.Environ(), "WRKLOAD_TEST_MAIN=1", "PATH="+bin, "TMPDIR="+t.TempDir())
			out, err := cmd.CombinedOutput()
			skipped := strings.Contains(string(out), "wrk is not installed")
			if skipped != tt.wantSkip {
				t.Fatalf("skipped for want of wrk: %v, want %v (%v)\n%s", skipped, tt.wantSkip, err, out)
			}
			if !tt.wantSkip && (err == nil || !strings.Contains(string(out), "go build ./bench/service")) {
				t.Fatalf("want the build of the missing checkout to fail the step, got %v:\n%s", err, out)
			}
		})
	}
}
