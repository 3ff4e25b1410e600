package imtest

import (
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
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
// one process; where no such port is free it falls back to port 0.
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	lo := ephemeralLow()
	for range 200 {
		if lo <= minTestPort {
			break
		}
		port := minTestPort + rand.IntN(lo-minTestPort)
		if _, taken := handedOut.LoadOrStore(port, true); taken {
			continue
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if ln, err := net.Listen("tcp", addr); err == nil {
			ln.Close()
			return addr
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// minTestPort is the lowest port FreeAddr picks, above the well-known
// services' ports.
const minTestPort = 10000

// handedOut holds the ports FreeAddr returned, by number.
var handedOut sync.Map

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
