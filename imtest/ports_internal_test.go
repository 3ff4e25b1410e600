package imtest

import (
	"net"
	"strconv"
	"testing"
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
