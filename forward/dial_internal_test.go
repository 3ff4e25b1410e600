//go:build linux

package forward

import (
	"context"
	"errors"
	"net"
	"net/http"
	"syscall"
	"testing"
	"time"
)

// TestADialThatIsNeverAnsweredGivesUp: the transport dials on after the
// request that began the dial gave up, and without a dial timeout a
// connect whose SYN is dropped held a pool slot until the kernel gave up
// (about two minutes). The client's dial now gives up on its own,
// whatever context it is given.
func TestADialThatIsNeverAnsweredGivesUp(t *testing.T) {
	addr := silentListener(t)
	tr := newClient(100 * time.Millisecond).Transport.(*http.Transport)
	if tr.DialContext == nil {
		t.Fatal("the transport has no dial of its own: a connect nobody answers is bounded only by the kernel")
	}
	c, err := tr.DialContext(context.Background(), "tcp", addr)
	if c != nil {
		c.Close()
	}
	if ne := net.Error(nil); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("dial: %v, want a timeout", err)
	}
}

// silentListener is the address of a socket listening with a backlog of
// 0, whose one queued connection is never accepted: the kernel drops
// every further SYN, so a connect to it waits as for a host gone dark.
func silentListener(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := (&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: sa.(*syscall.SockaddrInet4).Port}).String()
	// Fill the queue: the first connect completes into it, and is kept.
	first, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { first.Close() })
	return addr
}
