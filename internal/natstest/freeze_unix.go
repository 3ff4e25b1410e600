//go:build unix

package natstest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// stopWithin bounds Freeze's wait for the server's threads to stop,
// generous for a loaded machine.
const stopWithin = 30 * time.Second

// Freeze stops the server with SIGSTOP: it keeps its connections but
// answers nothing. It returns once every thread of the server is stopped:
// kill(2) returns once the signal is sent, and the server's threads stop
// only as each is next scheduled, meanwhile answering what comes, so a
// request made right after the signal was still answered now and then.
func (s *Server) Freeze() {
	if s.cmd == nil {
		return
	}
	s.t.Helper()
	_ = s.cmd.Process.Signal(syscall.SIGSTOP)
	s.frozen = true
	deadline := time.Now().Add(stopWithin)
	for !stopped(s.cmd.Process.Pid) {
		if time.Now().After(deadline) {
			s.t.Fatalf("nats-server (pid %d) did not stop within %v of SIGSTOP", s.cmd.Process.Pid, stopWithin)
		}
		time.Sleep(time.Millisecond)
	}
}

// Thaw resumes a frozen server with SIGCONT.
func (s *Server) Thaw() {
	if s.frozen && s.cmd != nil {
		_ = s.cmd.Process.Signal(syscall.SIGCONT)
		s.frozen = false
	}
}

// stopped reports whether every thread of the process pid is stopped (or
// gone): from /proc where there is one, each thread's own state, else the
// process's state as ps(1) reports it.
func stopped(pid int) bool {
	tasks, err := filepath.Glob(filepath.Join("/proc", strconv.Itoa(pid), "task", "*", "stat"))
	if err != nil || len(tasks) == 0 {
		if _, err := os.Stat("/proc/self/stat"); err == nil {
			return true // a /proc without the process: it is gone
		}
		out, err := exec.Command("ps", "-o", "stat=", "-p", strconv.Itoa(pid)).Output()
		state := strings.TrimSpace(string(out))
		return err != nil || state == "" || state[0] == 'T' || state[0] == 'Z'
	}
	for _, task := range tasks {
		b, err := os.ReadFile(task)
		if err != nil {
			continue // the thread ended meanwhile
		}
		// pid (comm) state ...: comm may hold spaces and parentheses.
		stat := string(b)
		fields := strings.Fields(stat[strings.LastIndexByte(stat, ')')+1:])
		if len(fields) == 0 {
			return false
		}
		switch fields[0] {
		case "T", "t", "Z", "X": // stopped, traced, dead
		default:
			return false
		}
	}
	return true
}
