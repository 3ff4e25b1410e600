//go:build linux

package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// openPTY opens a pseudo-terminal: master reads what is written to the
// terminal, slave, which term.IsTerminal reports as one.
func openPTY(t *testing.T) (master, slave *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { master.Close() })
	var unlock int32
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, master.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); errno != 0 {
		t.Skipf("no pseudo-terminal: unlock: %v", errno)
	}
	var n uint32
	if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, master.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); errno != 0 {
		t.Skipf("no pseudo-terminal: number: %v", errno)
	}
	slave, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal: %v", err)
	}
	return master, slave
}

// TestSendStoppedRunClearsTheProgressBar: on a terminal, a --repeat run
// stopped early (Ctrl-C) left its progress bar drawn, as the bar clears
// itself only when full, and the summary was written on the bar's line,
// after its text. The bar is cleared before the summary is printed.
func TestSendStoppedRunClearsTheProgressBar(t *testing.T) {
	master, slave := openPTY(t)
	var screen bytes.Buffer
	read := make(chan struct{})
	go func() {
		defer close(read)
		_, _ = io.Copy(&screen, master) // until the slave is closed (EIO)
	}()
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var served atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // so that the client's end cancels r's context
		if served.Add(1) > 3 {
			stop() // the third answered, the fourth is cut off by the stop
			<-r.Context().Done()
			return
		}
		fmt.Fprint(w, `{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}`)
	}))
	defer srv.Close()
	f := sendFlags{url: srv.URL, appID: "1400000000", command: "Group.CallbackAfterCreateTopic", sample: true,
		platform: "RESTAPI", repeat: 10, concurrency: 1, timeout: 10 * time.Second}
	err := runSend(ctx, slave, slave, f, catalogueSamples{})
	slave.Close()
	select {
	case <-read:
	case <-time.After(time.Minute):
		t.Fatal("the terminal's output did not end")
	}
	if err == nil {
		t.Fatal("a stopped run exited zero")
	}
	out := screen.String()
	i := strings.Index(out, "3 of 10 requests (stopped early)")
	if i < 0 {
		t.Fatalf("no summary of a stopped run on the terminal:\n%q", out)
	}
	if !strings.Contains(out[:i], "%") {
		t.Fatalf("no progress bar was drawn before the summary:\n%q", out)
	}
	if c := out[i-1]; c != '\r' && c != '\n' {
		t.Errorf("the summary is written after the progress bar's text, on its line:\n%q", out[max(0, i-120):i+40])
	}
}
