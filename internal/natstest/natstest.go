// Package natstest runs nats-server processes of a test's own, for the
// fault tests that kill, freeze or restart the server under the service.
// The shared server the other tests use is never touched. Its servers, and
// the other processes the e2e tests start through DieWithTest, end with
// the test process, also when its -timeout ends it without cleanups.
package natstest

import (
	"net"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/imcallback/imcallback/imtest"
)

// Server is a nats-server with JetStream on a free port and a store of its
// own, which a test may kill, freeze and start again (with other flags) on
// the same port and store.
type Server struct {
	t        testing.TB
	bin      string
	addr     string
	storeDir string
	cmd      *exec.Cmd
	done     chan struct{}
	frozen   bool
}

// Binary is the nats-server to run: the one on the PATH, else Debian's at
// /usr/sbin/nats-server; without either the test is skipped.
func Binary(t testing.TB) string {
	t.Helper()
	if path, err := exec.LookPath("nats-server"); err == nil {
		return path
	}
	if _, err := os.Stat("/usr/sbin/nats-server"); err == nil {
		return "/usr/sbin/nats-server"
	}
	t.Skip("nats-server is not installed (apt-get install nats-server): this fault test needs a server process of its own")
	return ""
}

// Start runs a server with flags and waits until it listens; it is thawed
// and killed at cleanup, also when it does not listen in time and Start
// fails the test.
func Start(t testing.TB, flags ...string) *Server {
	t.Helper()
	s := &Server{t: t, bin: Binary(t), addr: imtest.FreeAddr(t), storeDir: t.TempDir()}
	// Before the start: a server that runs but does not listen within
	// listenWithin fails the test in Restart, and must not outlive it.
	t.Cleanup(func() {
		s.Thaw()
		s.Kill()
	})
	s.Restart(flags...)
	return s
}

// listenWithin bounds the wait of Restart for the server to listen,
// generous for a start on a loaded machine.
var listenWithin = 30 * time.Second

// URL is the server's nats:// URL.
func (s *Server) URL() string { return "nats://" + s.addr }

// Addr is the server's host:port.
func (s *Server) Addr() string { return s.addr }

// Restart runs the server (again, after Kill) with flags on the same port
// and store, and waits until it listens.
func (s *Server) Restart(flags ...string) {
	s.t.Helper()
	host, port, _ := net.SplitHostPort(s.addr)
	args := append([]string{"-a", host, "-p", port, "-js", "-sd", s.storeDir}, flags...)
	cmd := exec.Command(s.bin, args...)
	DieWithTest(cmd)
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err) // no process: Kill at cleanup has none to kill
	}
	s.cmd, s.done = cmd, make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(s.cmd, s.done)
	deadline := time.Now().Add(listenWithin)
	for {
		if c, err := net.Dial("tcp", s.addr); err == nil {
			c.Close()
			return
		}
		select {
		case <-s.done:
			s.t.Fatalf("nats-server %v exited at start", args)
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("nats-server did not listen on %s within %v", s.addr, listenWithin)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Kill stops the server with SIGKILL and waits for it to exit.
func (s *Server) Kill() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}
