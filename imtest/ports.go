package imtest

import (
	"errors"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/imcallback/imcallback/internal/filelock"
)

// FreeAddr returns a loopback address ("127.0.0.1:port") nobody listens on
// right now, for a server a test starts later on it, or stops and starts
// again on it.
//
// The port is taken at random between 10000 and the start of the kernel's
// ephemeral range, not from listening on port 0: the kernel hands out the
// ephemeral range to every listen on port 0 and every outgoing connection,
// those of the test packages running in parallel included, so a port of
// it left unused for a while (a server started after its client, a server
// killed and restarted) can be taken in between. Below the range only an
// explicit bind takes a port. FreeAddr never returns the same port twice in
// one process, nor, where flock(2) exists, a port it returned in another
// process still running (the test binaries of other packages, which go
// test runs in parallel): a lock file per port under the temporary
// directory, held until the process ends, claims it. Where no such port
// is free it falls back to a port the kernel chooses (port 0), which it
// records and claims too.
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	lo, hi := testPorts()
	for range 200 {
		if hi <= lo {
			break
		}
		port := lo + rand.IntN(hi-lo)
		if _, taken := handedOut.LoadOrStore(port, true); taken || !claimPort(port) {
			continue
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if ln, err := net.Listen("tcp", addr); err == nil {
			ln.Close()
			return addr
		}
	}
	return fallbackAddr(tb)
}

// fallbackAddr is FreeAddr's answer where no port of the test range is
// free: a port the kernel chooses that FreeAddr has not handed out, as
// the range's ports are recorded and claimed. The kernel may choose a port
// it chose for an earlier fallback, free again once its test's server has
// stopped; then it is asked again, the listeners on the ports refused
// kept open until one is taken, so that it does not choose them again.
func fallbackAddr(tb testing.TB) string {
	tb.Helper()
	for {
		ln, err := listenAnyPort()
		if err != nil {
			tb.Fatal(err)
		}
		defer ln.Close() // refused or taken, closed once one is taken
		addr, ok := ln.Addr().(*net.TCPAddr)
		if !ok {
			tb.Fatalf("imtest: listening on %s, not TCP", ln.Addr())
		}
		if _, taken := handedOut.LoadOrStore(addr.Port, true); !taken && claimPort(addr.Port) {
			return addr.String()
		}
	}
}

// listenAnyPort listens on a loopback port the kernel chooses, for
// FreeAddr's fallback.
var listenAnyPort = func() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }

// testPorts is the range [lo, hi) FreeAddr picks from: from minTestPort
// to the start of the kernel's ephemeral range.
var testPorts = func() (lo, hi int) { return minTestPort, ephemeralLow() }

// minTestPort is the lowest port FreeAddr picks, above the well-known
// services' ports.
const minTestPort = 10000

// handedOut holds the ports FreeAddr tried, by number.
var handedOut sync.Map

// claimed holds the locks of the ports claimPort claimed, by number: they
// last as long as the process, as they are never released.
var claimed sync.Map

// claimPort claims port for this process among the processes on the
// machine that call FreeAddr (test binaries of other packages running in
// parallel): a lock on a file named after the port (filelock), held until
// the process ends, when the kernel drops it. It reports false when
// another process holds the port; where the lock cannot be taken at all
// (no writable temporary directory) it reports true, as FreeAddr did
// before it claimed ports, and so it does where filelock locks nothing.
func claimPort(port int) bool {
	dir := filepath.Join(os.TempDir(), "imtest-ports-"+strconv.Itoa(os.Getuid()))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return true
	}
	lock, err := filelock.Try(filepath.Join(dir, strconv.Itoa(port)))
	if err != nil {
		return !errors.Is(err, filelock.ErrLocked)
	}
	claimed.Store(port, lock)
	return true
}

// ephemeralLow is the first port of the kernel's ephemeral range (32768
// when it cannot be read).
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 32768
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 32768
	}
	n, err := strconv.Atoi(f[0])
	if err != nil {
		return 32768
	}
	return n
}
