package natstest

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestMain runs the tests, or, started as "nats-server" (the stand-in of
// TestStartKillsAServerThatDoesNotListen and
// TestServersEndWithTheTestProcess), a server that waits to be killed:
// one that never listens, or with standInListens set one that listens on
// its -a and -p.
func TestMain(m *testing.M) {
	if filepath.Base(os.Args[0]) == "nats-server" {
		if os.Getenv(standInListens) != "" {
			host, port := "", ""
			for i := 1; i+1 < len(os.Args); i++ {
				switch os.Args[i] {
				case "-a":
					host = os.Args[i+1]
				case "-p":
					port = os.Args[i+1]
				}
			}
			ln, err := net.Listen("tcp", net.JoinHostPort(host, port))
			if err != nil {
				os.Exit(1)
			}
			defer ln.Close()
		}
		time.Sleep(time.Hour)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// standInListens makes the stand-in nats-server listen.
const standInListens = "NATSTEST_STAND_IN_LISTENS"

// abandonServer makes TestAbandonAServer start a server and exit at once.
const abandonServer = "NATSTEST_ABANDON_A_SERVER"

// standIn puts a stand-in "nats-server" (this test binary) first on the
// PATH and returns its path.
func standIn(t *testing.T) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	fake := filepath.Join(dir, "nats-server")
	if err := os.Symlink(exe, fake); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	return fake
}

// TestAbandonAServer is TestServersEndWithTheTestProcess's test process:
// it starts a server and exits without its cleanups, as a test binary
// does when its -timeout runs out. Otherwise it does nothing.
func TestAbandonAServer(t *testing.T) {
	if os.Getenv(abandonServer) == "" {
		return
	}
	Start(t)
	os.Exit(0)
}

// TestServersEndWithTheTestProcess: a test process that ends without its
// cleanups (its -timeout ran out: it panics and exits) takes the servers it
// started with it, instead of leaving them running, their stores in the
// temporary directory, after the run.
func TestServersEndWithTheTestProcess(t *testing.T) {
	if _, err := os.Stat("/proc/self/cmdline"); err != nil {
		t.Skipf("no /proc to find the server's process in: %v", err)
	}
	fake := standIn(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^TestAbandonAServer$")
	cmd.Env = append(os.Environ(), abandonServer+"=1", standInListens+"=1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the test process: %v\n%s", err, out)
	}
	t.Cleanup(func() {
		for _, pid := range processesOf(t, fake) {
			killPID(pid)
		}
	})
	// The kernel ends the server as its parent exits; give it a moment.
	deadline := time.Now().Add(10 * time.Second)
	for len(processesOf(t, fake)) > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if pids := processesOf(t, fake); len(pids) > 0 {
		t.Fatalf("the server of a test process that exited still runs (pids %v)", pids)
	}
}

// fatalTB ends the goroutine that calls Fatal or Fatalf, sending the
// message, instead of failing the test.
type fatalTB struct {
	testing.TB
	msg chan string
}

func (f *fatalTB) Fatal(args ...any) {
	f.msg <- fmt.Sprint(args...)
	runtime.Goexit()
}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg <- fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// TestStartKillsAServerThatDoesNotListen: a server that runs but does not
// listen in time fails Start's test, and is killed at the test's cleanup
// like one that started; the cleanup was registered after the start, which
// the failure never returned from, and the server outlived the test.
func TestStartKillsAServerThatDoesNotListen(t *testing.T) {
	if _, err := os.Stat("/proc/self/cmdline"); err != nil {
		t.Skipf("no /proc to find the server's process in: %v", err)
	}
	fake := standIn(t)
	defer func(d time.Duration) { listenWithin = d }(listenWithin)
	listenWithin = 0 // the stand-in never listens: no wait makes it fail sooner

	t.Run("start", func(t *testing.T) {
		tb := &fatalTB{TB: t, msg: make(chan string, 1)}
		go func() {
			Start(tb)
			tb.msg <- "listening"
		}()
		if msg := <-tb.msg; !strings.Contains(msg, "did not listen") {
			t.Fatalf("Start: %q, want it to fail saying the server did not listen", msg)
		}
	})
	// The subtest and its cleanups are over.
	if pids := processesOf(t, fake); len(pids) > 0 {
		for _, pid := range pids {
			killPID(pid)
		}
		t.Errorf("the server Start failed on still runs after the test (pids %v)", pids)
	}
}

// processesOf lists the running processes started as program.
func processesOf(t *testing.T, program string) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue // gone meanwhile
		}
		if arg0, _, _ := bytes.Cut(cmdline, []byte{0}); string(arg0) == program {
			pids = append(pids, pid)
		}
	}
	return pids
}

// killPID kills the process pid (SIGKILL), when it still runs.
func killPID(pid int) {
	if p, err := os.FindProcess(pid); err == nil {
		_ = p.Kill()
		_ = p.Release()
	}
}

// TestStartFailsCleanlyOnAServerThatDoesNotRun: a nats-server that does
// not run at all (not a program, or gone) fails Start's test with the
// error; its cleanup then killed a process that never started: a nil
// pointer panic ended the whole test binary.
func TestStartFailsCleanlyOnAServerThatDoesNotRun(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "nats-server"), []byte("not a program\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Run("start", func(t *testing.T) {
		tb := &fatalTB{TB: t, msg: make(chan string, 1)}
		go func() {
			Start(tb)
			tb.msg <- "listening"
		}()
		if msg := <-tb.msg; msg == "listening" {
			t.Fatal("Start returned a server that is not a program")
		}
	})
}
