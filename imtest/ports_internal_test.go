package imtest

import (
	"bufio"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/imcallback/imcallback/internal/filelock"
)

// TestFreeAddr: the addresses are on loopback, free to listen on, below
// the kernel's ephemeral range and never the same twice.
func TestFreeAddr(t *testing.T) {
	lo := ephemeralLow()
	if lo <= minTestPort {
		t.Skipf("the ephemeral range starts at %d, at or below %d: FreeAddr falls back to port 0", lo, minTestPort)
	}
	seen := map[string]bool{}
	for range 50 {
		addr := FreeAddr(t)
		host, p, err := net.SplitHostPort(addr)
		if err != nil {
			t.Fatal(err)
		}
		port, err := strconv.Atoi(p)
		if err != nil {
			t.Fatal(err)
		}
		if host != "127.0.0.1" {
			t.Errorf("%s is not on loopback", addr)
		}
		if port < minTestPort || port >= lo {
			t.Errorf("%s is outside [%d, %d), below the ephemeral range", addr, minTestPort, lo)
		}
		if seen[addr] {
			t.Errorf("%s handed out twice", addr)
		}
		seen[addr] = true
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Errorf("%s is not free: %v", addr, err)
			continue
		}
		ln.Close()
	}
}

// holdPortEnv names the port the child process of
// TestFreeAddrSkipsAPortAnotherProcessHolds takes.
const holdPortEnv = "IMTEST_FREEADDR_HOLD_PORT"

// TestFreeAddrSkipsAPortAnotherProcessHolds: a port FreeAddr handed out
// in another process (another test package running in parallel, which
// starts its server on it later, or restarts one there) is not handed out
// here too while that process runs, though nothing listens on it. Before,
// only the ports of this process were remembered: two test binaries
// could both be given a port, and one's server then failed to listen.
func TestFreeAddrSkipsAPortAnotherProcessHolds(t *testing.T) {
	if held := os.Getenv(holdPortEnv); held != "" { // the child: take the port and keep running
		port, err := strconv.Atoi(held)
		if err != nil {
			t.Fatal(err)
		}
		testPorts = func() (int, int) { return port, port + 1 }
		fmt.Println(FreeAddr(t))
		_, _ = io.Copy(io.Discard, os.Stdin) // until the parent is done
		return
	}
	lo, hi := testPorts()
	if hi <= lo {
		t.Skipf("the ephemeral range starts at %d, at or below %d: FreeAddr falls back to port 0", hi, lo)
	}
	port := 0
	for range 200 {
		p := lo + rand.IntN(hi-lo)
		// Not a port another test binary holds: there the child's claim
		// would fail too, and it would take another port. Claimed here to
		// know, then let go for the child.
		if _, taken := handedOut.Load(p); taken || !claimPort(p) {
			continue
		}
		if f, ok := claimed.LoadAndDelete(p); ok {
			f.(*filelock.Lock).Release()
		}
		if ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p))); err == nil {
			ln.Close()
			port = p
			break
		}
	}
	if port == 0 {
		t.Skip("no free port to try with")
	}
	child := exec.Command(os.Args[0], "-test.run=^TestFreeAddrSkipsAPortAnotherProcessHolds$")
	child.Env = append(os.Environ(), holdPortEnv+"="+strconv.Itoa(port))
	child.Stderr = os.Stderr
	stdin, err := child.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close()
		_, _ = io.Copy(io.Discard, stdout)
		if err := child.Wait(); err != nil {
			t.Errorf("the child: %v", err)
		}
	}()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("the child's address: %v", err)
	}
	want := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if strings.TrimSpace(line) != want {
		t.Fatalf("the child took %q, want %s", line, want)
	}

	restore := testPorts
	defer func() { testPorts = restore }()
	testPorts = func() (int, int) { return port, port + 1 }
	if got := FreeAddr(t); got == want {
		t.Fatalf("FreeAddr handed out %s, which another process holds", got)
	}
}

// TestFreeAddrFallbackNeverRepeatsAPort: where no port of the test range
// is free, FreeAddr falls back to a port the kernel chooses, which may be
// one it chose for an earlier fallback (closed since, and free again).
// The fallback handed that port out a second time, without recording it;
// it now records it and asks the kernel again. The kernel's choice is
// made the first port here, at first, to see that.
func TestFreeAddrFallbackNeverRepeatsAPort(t *testing.T) {
	restorePorts, restoreListen := testPorts, listenAnyPort
	t.Cleanup(func() { testPorts, listenAnyPort = restorePorts, restoreListen })
	testPorts = func() (int, int) { return 0, 0 } // an empty range: the fallback at once

	seen := map[string]bool{FreeAddr(t): true}
	tests := []struct {
		name  string
		again bool // whether the kernel chooses each port handed out so far first
	}{
		{"the kernel chooses the first port again", true},
		{"the kernel chooses both ports handed out again", true},
		{"the kernel chooses no port again", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var chosen []string
			if tt.again {
				chosen = slices.Sorted(maps.Keys(seen))
			}
			listenAnyPort = func() (net.Listener, error) {
				if len(chosen) == 0 {
					return restoreListen()
				}
				addr := chosen[0]
				chosen = chosen[1:]
				return net.Listen("tcp", addr)
			}
			addr := FreeAddr(t)
			if seen[addr] {
				t.Fatalf("%s handed out twice", addr)
			}
			seen[addr] = true
			if len(chosen) != 0 {
				t.Errorf("the kernel was asked %d times fewer than it had to be", len(chosen))
			}
		})
	}
}
