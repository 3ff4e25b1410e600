package leakwait

import (
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// runFunc is a TestingM whose Run is a function.
type runFunc func() int

func (f runFunc) Run() int { return f() }

// TestVerifyTestMainWaitsPastGoleaksOwnRetries: the check after a
// package's tests does not report a goroutine of the last test that ends
// a second after the tests did, longer than goleak's own retries (about
// 0.4 s); it does report one that is still running after Wait, and a run
// that failed keeps its code.
func TestVerifyTestMainWaitsPastGoleaksOwnRetries(t *testing.T) {
	for _, tc := range []struct {
		name     string
		code     int
		lingers  time.Duration
		want     int
		reported bool
	}{
		{"a goroutine that ends a second after the tests", 0, time.Second, 0, false},
		{"a goroutine still running after Wait", 0, Wait + 2*time.Second, 1, true},
		{"failed tests", 3, 0, 3, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ignore := goleak.IgnoreCurrent()
			done := make(chan struct{})
			release := make(chan struct{})
			defer func() { close(release); <-done }()
			m := runFunc(func() int {
				go func() {
					defer close(done)
					select {
					case <-time.After(tc.lingers):
					case <-release:
					}
				}()
				return tc.code
			})
			var out strings.Builder
			if got := exitCode(m, &out, ignore); got != tc.want {
				t.Errorf("exit code %d, want %d; reported:\n%s", got, tc.want, out.String())
			}
			if reported := strings.Contains(out.String(), "goleak: Errors on successful test run"); reported != tc.reported {
				t.Errorf("leak reported: %v, want %v:\n%s", reported, tc.reported, out.String())
			}
		})
	}
}
