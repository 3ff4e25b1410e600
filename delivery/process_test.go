package delivery_test

import (
	"net"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/imcallback/imcallback/imtest"
)

// natsProcess is a nats-server process of the test's own, on a free port
// and a store of its own, that a test may kill and start again (with
// other flags) on the same port and store.
type natsProcess struct {
	t        *testing.T
	bin      string
	addr     string
	storeDir string
	cmd      *exec.Cmd
	done     chan struct{}
}

// startNATSProcess starts a nats-server with JetStream and flags, or skips
// the test when none is installed. It is killed at cleanup.
func startNATSProcess(t *testing.T, flags ...string) *natsProcess {
	t.Helper()
	bin, err := exec.LookPath("nats-server")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/nats-server"); serr != nil {
			t.Skip("nats-server is not installed: this fault test needs a server process of its own")
		}
		bin = "/usr/sbin/nats-server"
	}
	n := &natsProcess{t: t, bin: bin, addr: imtest.FreeAddr(t), storeDir: t.TempDir()}
	n.start(flags...)
	t.Cleanup(n.kill)
	return n
}

func (n *natsProcess) url() string { return "nats://" + n.addr }

// start runs the server (again) with flags and waits until it listens.
func (n *natsProcess) start(flags ...string) {
	n.t.Helper()
	host, port, _ := net.SplitHostPort(n.addr)
	args := append([]string{"-a", host, "-p", port, "-js", "-sd", n.storeDir}, flags...)
	n.cmd = exec.Command(n.bin, args...)
	n.done = make(chan struct{})
	if err := n.cmd.Start(); err != nil {
		n.t.Fatal(err)
	}
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(n.cmd, n.done)
	deadline := time.Now().Add(30 * time.Second)
	for {
		if c, err := net.Dial("tcp", n.addr); err == nil {
			c.Close()
			return
		}
		select {
		case <-n.done:
			n.t.Fatalf("nats-server %v exited at start", args)
		default:
		}
		if time.Now().After(deadline) {
			n.t.Fatal("nats-server did not listen within 30s")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill stops the server with SIGKILL and waits for it to exit.
func (n *natsProcess) kill() {
	if n.cmd == nil {
		return
	}
	_ = n.cmd.Process.Kill()
	<-n.done
	n.cmd = nil
}
