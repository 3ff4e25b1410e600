//go:build unix

package cli

import (
	"bufio"
	"errors"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// logReaderGoneChild, set in the environment of the test binary run
// again, makes TestAStopOutlivesItsLogReader play serve.
const logReaderGoneChild = "CLI_TEST_LOG_READER_GONE_CHILD"

// TestAStopOutlivesItsLogReader: `imcallback serve 2>&1 | tee serve.log`
// stopped with Ctrl-C. The terminal's SIGINT ends tee at once, and the
// service's graceful stop writes its lines to a pipe nobody reads any
// more: the first of them killed the process with SIGPIPE (Go's default
// for a write to standard error), in the middle of the stop, without the
// drain or the stores' close, exit status 141. The stop now goes on
// without its lines, and serve exits 0.
func TestAStopOutlivesItsLogReader(t *testing.T) {
	if os.Getenv(logReaderGoneChild) != "" {
		if err := Run([]string{"serve"}, io.Discard, os.Stderr); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^TestAStopOutlivesItsLogReader$")
	cmd.Env = append(os.Environ(), logReaderGoneChild+"=1",
		"IMCALLBACK_SDKAPPID=1400000000", "IMCALLBACK_TOKENS=secret",
		"IMCALLBACK_LISTEN=127.0.0.1:0", "IMCALLBACK_ADMIN_LISTEN=127.0.0.1:0", "IMCALLBACK_DATA_DIR="+t.TempDir(),
		"IMCALLBACK_DELIVERY=inline", "IMCALLBACK_LOG_LEVEL=info")
	cmd.Stderr = w
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	listening := make(chan bool, 1)
	go func() {
		for sc := bufio.NewScanner(r); sc.Scan(); {
			if strings.Contains(sc.Text(), `"msg":"listening","listener":"public"`) {
				listening <- true
				return
			}
		}
		listening <- false
	}()
	select {
	case ok := <-listening:
		if !ok {
			t.Fatalf("serve ended before its public listener listened: %v", <-exited)
		}
	case <-time.After(time.Minute): // a bound only broken code reaches
		_ = cmd.Process.Kill()
		t.Fatalf("serve did not log that its public listener listens: %v", <-exited)
	}
	r.Close() // the reader of the log goes away, as tee at Ctrl-C
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err = <-exited:
	case <-time.After(time.Minute): // a bound only broken code reaches
		_ = cmd.Process.Kill()
		t.Fatalf("serve did not stop at SIGINT: %v", <-exited)
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		if status, ok := exit.Sys().(syscall.WaitStatus); ok && status.Signaled() {
			t.Fatalf("serve was killed by %v during its stop, once its log's reader had gone", status.Signal())
		}
	}
	if err != nil {
		t.Fatalf("serve's stop failed once its log's reader had gone: %v", err)
	}
}
