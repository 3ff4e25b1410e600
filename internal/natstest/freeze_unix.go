//go:build unix

package natstest

import "syscall"

// Freeze stops the server with SIGSTOP: it keeps its connections but
// answers nothing.
func (s *Server) Freeze() {
	if s.cmd != nil {
		_ = s.cmd.Process.Signal(syscall.SIGSTOP)
		s.frozen = true
	}
}

// Thaw resumes a frozen server with SIGCONT.
func (s *Server) Thaw() {
	if s.frozen && s.cmd != nil {
		_ = s.cmd.Process.Signal(syscall.SIGCONT)
		s.frozen = false
	}
}
