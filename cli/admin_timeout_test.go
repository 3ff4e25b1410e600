package cli

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

// TestAdminWritesGiveUpAtTheirTimeout: delivery pause and resume, and a
// replay by filter or of every dead letter, waited for the service's
// answer however long it took, so a hung service (a deadlocked process
// that still holds its connections) held the command forever: a cron
// job's never ended. --timeout now bounds each (a replay by --seq, each
// of its requests), and one that runs out fails naming it.
func TestAdminWritesGiveUpAtTheirTimeout(t *testing.T) {
	srv := hangingServer(t) // never answers until the test's cleanup
	for _, tt := range []struct {
		args []string
		want []string
	}{
		{[]string{"delivery", "pause"}, []string{"POST /v1/delivery/pause", "(--timeout)", "may still be running there", "delivery status"}},
		{[]string{"delivery", "pause", "--command", "Group.CallbackAfterCreateTopic"}, []string{"POST /v1/delivery/pause", "(--timeout)"}},
		{[]string{"delivery", "resume"}, []string{"POST /v1/delivery/resume", "(--timeout)"}},
		{[]string{"events", "replay", "--since", "1h"}, []string{"POST /v1/events/replay", "--timeout", "stops the replay where it got to", "events list"}},
		{[]string{"events", "replay", "--dead"}, []string{"POST /v1/events/replay", "--timeout", "stops the replay where it got to", "events replay --dead"}},
		{[]string{"events", "replay", "--seq", "1"}, []string{"POST /v1/events/replay", "(--timeout)"}},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			args := append([]string{"--admin", srv.URL}, tt.args...)
			out, err := runCLI(t, append(args, "--timeout", hangTimeout.String())...)
			if !errors.Is(err, errSlow) {
				t.Fatalf("%v: %v, want the service's answer not come in time\n%s", tt.args, err, out)
			}
			for _, want := range append(tt.want, hangTimeout.String(), srv.URL) {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("%v: the error does not say %q:\n%v", tt.args, want, err)
				}
			}
		})
	}
	for _, args := range [][]string{{"delivery", "pause", "--timeout", "0s"}, {"delivery", "resume", "--timeout", "-1s"},
		{"events", "replay", "--dead", "--timeout", "0s"}} {
		if _, err := runCLI(t, append([]string{"--admin", srv.URL}, args...)...); err == nil || !strings.Contains(err.Error(), "must be positive") {
			t.Errorf("%v: %v, want the --timeout refused", args, err)
		}
	}
}

// TestPauseWaitsForTheShutdownTimeoutByDefault: without --timeout, delivery
// pause and resume wait as long as a pause may take there (the running
// handlers, up to IMCALLBACK_SHUTDOWN_TIMEOUT) and a margin, then fail
// naming where that limit comes from, instead of forever.
func TestPauseWaitsForTheShutdownTimeoutByDefault(t *testing.T) {
	c := &cobra.Command{}
	var timeout time.Duration
	c.Flags().DurationVar(&timeout, "timeout", 0, "")
	wait, limit, err := pauseWait(c, timeout, 5*time.Minute)
	if err != nil || wait != 5*time.Minute+pauseMargin || !strings.Contains(limit, "IMCALLBACK_SHUTDOWN_TIMEOUT 5m0s") ||
		!strings.Contains(limit, "--timeout") {
		t.Errorf("the default wait: %v %q %v; want IMCALLBACK_SHUTDOWN_TIMEOUT + %v, named", wait, limit, err, pauseMargin)
	}
	if err := c.Flags().Set("timeout", "2h"); err != nil {
		t.Fatal(err)
	}
	if wait, limit, err := pauseWait(c, timeout, 5*time.Minute); err != nil || wait != 2*time.Hour || limit != " (--timeout)" {
		t.Errorf("--timeout 2h: %v %q %v", wait, limit, err)
	}
}

// TestSlowReadIsNotCalledUnderWay: a read (events list, topics list,
// delivery status …) that the service took but did not answer in time
// changes nothing there, so its error must not say that it may still be
// running there nor send the operator to `delivery status` or `events
// list` "before asking again", as a write's does: asking again is safe.
func TestSlowReadIsNotCalledUnderWay(t *testing.T) {
	srv := hangingServer(t)
	a := &adminClient{base: srv.URL, http: &http.Client{Timeout: hangTimeout}}
	for _, path := range []string{"/v1/events?limit=100", "/v1/topics?limit=100", "/v1/delivery", "/v1/dead-letters?limit=1000"} {
		t.Run(path, func(t *testing.T) {
			err := a.call(context.Background(), http.MethodGet, path, nil, &struct{}{})
			if !errors.Is(err, errSlow) {
				t.Fatalf("GET %s: %v, want the service's answer not come in time", path, err)
			}
			for _, want := range []string{"GET " + path, srv.URL, "within " + hangTimeout.String(), "asking again is safe"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("GET %s: the error does not say %q:\n%v", path, want, err)
				}
			}
			for _, wrong := range []string{"may still be running", "before asking again", "delivery status"} {
				if strings.Contains(err.Error(), wrong) {
					t.Errorf("GET %s: the error says %q, as of a write:\n%v", path, wrong, err)
				}
			}
		})
	}
}
