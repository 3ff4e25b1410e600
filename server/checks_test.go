package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx/fxtest"
	"go.uber.org/goleak"
	"go.uber.org/zap"

	"github.com/imcallback/imcallback/admin"
	"github.com/imcallback/imcallback/config"
	"github.com/imcallback/imcallback/internal/leakwait"
)

// stuckCheck is a check that ignores its deadline: each run blocks until
// release is closed. It counts its runs and the runs not yet returned.
type stuckCheck struct {
	release  chan struct{}
	runs     atomic.Int64
	inFlight atomic.Int64
}

func (s *stuckCheck) check(context.Context) error {
	s.runs.Add(1)
	s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	<-s.release
	return nil
}

// TestReadyzRunsAStuckCheckOnceAtATime: /readyz needs no token, and each
// request ran every check in a goroutine of its own; a check that ignores
// its deadline left one goroutine behind per request, for anyone to pile
// up. Now a request that comes while the check's run has not returned
// joins that run: however many requests (/readyz, /v1/status and
// /metrics alike), one run is in flight, each request answers not ready
// naming the check as still running, and once the check returns the next
// request answers ready and nothing is left behind.
func TestReadyzRunsAStuckCheckOnceAtATime(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	stuck := &stuckCheck{release: make(chan struct{})}
	released := false
	release := func() {
		if !released {
			released = true
			close(stuck.release)
		}
	}
	defer release() // a failed test leaves no goroutine blocked
	cfg := config.Default()
	a, err := newAdmin(adminIn{Lifecycle: fxtest.NewLifecycle(t), Config: &cfg, Log: zap.NewNop(),
		Registry: prometheus.NewRegistry(), Checks: []admin.Check{
			{Name: "stuck", Check: stuck.check},
			{Name: "fine", Check: func(context.Context) error { return nil }},
		}})
	if err != nil {
		t.Fatal(err)
	}
	get := func(path string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.Host = "127.0.0.1" // the listener has no token: loopback only
		rec := httptest.NewRecorder()
		a.echo.ServeHTTP(rec, req)
		return rec
	}
	// Two rounds of concurrent requests, the second while the first's run
	// is still stuck; each round waits CheckTimeout + CheckGrace.
	rounds := [][]string{
		{"/readyz", "/readyz", "/readyz", "/readyz", "/readyz", "/readyz", "/readyz", "/readyz"},
		{"/readyz", "/readyz", "/readyz", "/readyz", "/v1/status", "/v1/status", "/metrics", "/metrics"},
	}
	for i, paths := range rounds {
		answers := make([]*httptest.ResponseRecorder, len(paths))
		var wg sync.WaitGroup
		for j, path := range paths {
			wg.Add(1)
			go func() {
				defer wg.Done()
				answers[j] = get(path)
			}()
		}
		wg.Wait()
		if runs, inFlight := stuck.runs.Load(), stuck.inFlight.Load(); runs != 1 || inFlight != 1 {
			t.Fatalf("after round %d (%d requests in all) the stuck check was started %d times, %d runs not returned; want 1 and 1",
				i+1, (i+1)*len(paths), runs, inFlight)
		}
		for j, rec := range answers {
			if paths[j] != "/readyz" {
				continue
			}
			var body struct {
				Status string            `json:"status"`
				Checks map[string]string `json:"checks"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("round %d: /readyz answered %d %q: %v", i+1, rec.Code, rec.Body, err)
			}
			if rec.Code != http.StatusServiceUnavailable || body.Status != "not ready" ||
				!strings.Contains(body.Checks["stuck"], "still running") || body.Checks["fine"] != "ok" {
				t.Fatalf("round %d: /readyz answered %d %s; want 503 naming stuck as still running, fine ok",
					i+1, rec.Code, rec.Body)
			}
		}
	}
	release()
	if rec := get("/readyz"); rec.Code != http.StatusOK {
		t.Fatalf("once the check returned, /readyz answered %d %s; want 200", rec.Code, rec.Body)
	}
	// Asked again for up to 10 s: the check's run ends once scheduled
	// after the release, which goleak's own retries (about 0.4 s) need not
	// see on a loaded machine.
	if err := leakwait.Find(ignore); err != nil {
		t.Errorf("goroutines outlive the released check: %v", err)
	}
}

// TestAJoinedRunIsSharedAndTheNextStartsAfterIt: joins while a run is in
// flight return that run and its one answer; a join after it has returned
// starts a new run.
func TestAJoinedRunIsSharedAndTheNextStartsAfterIt(t *testing.T) {
	stuck := &stuckCheck{release: make(chan struct{})}
	r := newCheckRunners([]admin.Check{{Name: "stuck", Check: stuck.check}})[0]
	first := r.join(time.Hour)
	for range 3 {
		if run := r.join(time.Hour); run != first {
			t.Fatal("a join while the run is in flight started another run")
		}
	}
	close(stuck.release)
	<-first.done
	if first.state != "ok" || stuck.runs.Load() != 1 {
		t.Fatalf("state %q after %d runs; want ok after 1", first.state, stuck.runs.Load())
	}
	next := r.join(time.Hour)
	<-next.done
	if next == first || stuck.runs.Load() != 2 {
		t.Fatalf("a join after the run returned did not start a new one (%d runs)", stuck.runs.Load())
	}
}

// TestAWaitCutShortSaysSoNotTimedOut: a wait for the checks that ended
// with its request (the stop, or the caller gone) reported every check
// that had not answered yet as "timed out", though its deadline had not
// passed: /readyz and /v1/status said so at every stop. It says the
// request ended instead, and a check past its deadline is still timed out.
func TestAWaitCutShortSaysSoNotTimedOut(t *testing.T) {
	stuck := &stuckCheck{release: make(chan struct{})}
	defer close(stuck.release)
	runners := newCheckRunners([]admin.Check{{Name: "stuck", Check: stuck.check}})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	got := runChecks(ctx, runners, time.Hour)["stuck"]
	if !strings.Contains(got, "before the request ended") || strings.Contains(got, "timed out") {
		t.Errorf("a wait cut short by its request reports %q; want it to say the request ended, not that the check timed out", got)
	}
}

// TestAPanickingCheckFailsItsRun: a check runs on a goroutine of its own,
// where its panic ended the process; it fails its run instead, naming the
// panic, and the next join runs it again.
func TestAPanickingCheckFailsItsRun(t *testing.T) {
	var runs atomic.Int64
	r := newCheckRunners([]admin.Check{{Name: "broken", Check: func(context.Context) error {
		runs.Add(1)
		panic("nil map")
	}}})[0]
	for i := range 2 {
		run := r.join(time.Hour)
		<-run.done
		if want := "the check panicked: nil map"; run.state != want {
			t.Fatalf("run %d: state %q, want %q", i+1, run.state, want)
		}
	}
	if runs.Load() != 2 {
		t.Fatalf("the check ran %d times, want 2", runs.Load())
	}
}

// TestReadyzShowsWhyOnlyWithTheToken: /readyz needs no token, and a
// failing check's text can name a database's address; with an admin token
// configured, a request without it reads the status and the names of the
// checks, the reasons only with the token. Without a token configured,
// everyone reads them.
func TestReadyzShowsWhyOnlyWithTheToken(t *testing.T) {
	const token = "an-admin-token-of-some-length"
	const why = "dial tcp db.internal:5432: user imcallback: connection refused"
	tests := []struct {
		name       string
		configured string // the admin token configured
		sent       string // the Authorization header
		want       string
	}{
		{"token configured, none sent", token, "", FailingWithoutToken},
		{"token configured, a wrong one sent", token, "Bearer not-the-token", FailingWithoutToken},
		{"token configured and sent", token, "Bearer " + token, why},
		{"no token configured", "", "", why},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := config.Default()
			cfg.AdminToken = tt.configured
			a, err := newAdmin(adminIn{Lifecycle: fxtest.NewLifecycle(t), Config: &cfg, Log: zap.NewNop(),
				Registry: prometheus.NewRegistry(), Checks: []admin.Check{
					{Name: "store", Check: func(context.Context) error { return errors.New(why) }},
					{Name: "fine", Check: func(context.Context) error { return nil }},
				}})
			if err != nil {
				t.Fatal(err)
			}
			req := httptest.NewRequest(http.MethodGet, "/readyz", nil)
			req.Host = "127.0.0.1"
			if tt.sent != "" {
				req.Header.Set("Authorization", tt.sent)
			}
			rec := httptest.NewRecorder()
			a.echo.ServeHTTP(rec, req)
			var body struct {
				Status string            `json:"status"`
				Checks map[string]string `json:"checks"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
				t.Fatalf("/readyz answered %d %q: %v", rec.Code, rec.Body, err)
			}
			if rec.Code != http.StatusServiceUnavailable || body.Status != "not ready" ||
				body.Checks["store"] != tt.want || body.Checks["fine"] != "ok" {
				t.Fatalf("/readyz answered %d %s; want 503 with store %q, fine ok", rec.Code, rec.Body, tt.want)
			}
		})
	}
}
