package server

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/imcallback/imcallback/admin"
)

// checkRunner runs one readiness check with at most one run in flight.
// /readyz needs no token, so its requests are anyone's: a check that
// ignores its deadline would otherwise leave one more goroutine behind at
// each of them. A request that comes while a run has not returned joins
// that run instead of starting another, and takes its answer if it comes
// within the request's own deadline. /readyz, /v1/status and the health
// metrics share the runners of the admin listener.
type checkRunner struct {
	check admin.Check

	mu  sync.Mutex
	run *checkRun // the run in flight; nil when none
}

// checkRun is one run of a check, shared by every request that joins it.
type checkRun struct {
	started time.Time
	done    chan struct{} // closed when the check has returned
	state   string        // "ok" or the error's text; read only after done
}

// newCheckRunners gives each check its runner.
func newCheckRunners(checks []admin.Check) []*checkRunner {
	runners := make([]*checkRunner, len(checks))
	for i, ch := range checks {
		runners[i] = &checkRunner{check: ch}
	}
	return runners
}

// join returns the run in flight, or starts one under timeout when none is.
// The run belongs to no request: one that goes away does not cancel it
// for the others.
func (r *checkRunner) join(timeout time.Duration) *checkRun {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.run != nil {
		return r.run
	}
	run := &checkRun{started: time.Now(), done: make(chan struct{})}
	r.run = run
	go r.do(run, timeout)
	return run
}

// do runs the check once and lets the next join start a new run. A
// check that panics fails its run, with the panic's value as its state:
// it runs on a goroutine of its own, where a panic would end the process,
// and /readyz is anyone's to call.
func (r *checkRunner) do(run *checkRun, timeout time.Duration) {
	defer func() {
		if p := recover(); p != nil {
			run.state = fmt.Sprintf("the check panicked: %v", p)
		}
		r.mu.Lock()
		r.run = nil
		r.mu.Unlock()
		close(run.done)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	run.state = "ok"
	if err := r.check.Check(ctx); err != nil {
		run.state = err.Error()
	}
}

// runChecks runs every check at once, each under its own deadline
// (joining its run in flight, if any), and returns "ok" or the error text
// by check name. A check whose run has not returned within timeout (and
// CheckGrace) is reported as timed out and still running; it is not run
// again until that run returns. ctx ends the wait early (the stop, or the
// caller gone), and the checks that have not answered by then are
// reported as still running when the wait ended, not as timed out: their
// deadline need not have passed.
func runChecks(ctx context.Context, runners []*checkRunner, timeout time.Duration) map[string]string {
	runs := make([]*checkRun, len(runners))
	for i, r := range runners {
		runs[i] = r.join(timeout)
	}
	// A check that honours its deadline answers a moment after it: the
	// grace keeps a busy machine from reporting it as one that ignored it.
	late := time.NewTimer(timeout + CheckGrace)
	defer late.Stop()
	waiting, cut := true, false
	out := make(map[string]string, len(runners))
	for i, run := range runs {
		if waiting {
			select {
			case <-run.done:
			case <-late.C:
				waiting = false
			case <-ctx.Done():
				waiting, cut = false, true
			}
		}
		select {
		case <-run.done:
			out[runners[i].check.Name] = run.state
		default:
			running := time.Since(run.started).Round(time.Millisecond)
			if cut {
				out[runners[i].check.Name] = fmt.Sprintf("no answer before the request ended (the service is stopping, or the "+
					"caller left): still running after %v, within its %v", running, timeout)
				continue
			}
			out[runners[i].check.Name] = fmt.Sprintf("no answer within %v: timed out, still running after %v "+
				"(no new run of the check starts until this one returns)", timeout, running)
		}
	}
	return out
}
