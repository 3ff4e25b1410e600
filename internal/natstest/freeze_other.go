//go:build !unix

package natstest

import "runtime"

// Freeze skips the test: a frozen server needs SIGSTOP, which this
// system does not have.
func (s *Server) Freeze() {
	s.t.Helper()
	s.t.Skipf("freezing nats-server needs SIGSTOP, which %s does not have", runtime.GOOS)
}

// Thaw does nothing: Freeze never froze the server here.
func (s *Server) Thaw() {}
