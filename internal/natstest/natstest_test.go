package natstest

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestMain runs the tests, or, started as "nats-server" (the stand-in of
// TestStartKillsAServerThatDoesNotListen), a server that never listens
// and waits to be killed.
func TestMain(m *testing.M) {
	if filepath.Base(os.Args[0]) == "nats-server" {
		time.Sleep(time.Hour)
		os.Exit(1)
	}
	os.Exit(m.Run())
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
			_ = syscall.Kill(pid, syscall.SIGKILL)
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
