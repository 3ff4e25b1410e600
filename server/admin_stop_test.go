package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx/fxtest"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/imcallback/imcallback/admin"
	"github.com/imcallback/imcallback/config"
)

// TestAnAdminRequestInFlightEndsAtTheStop: an admin route that works until
// its work is done or its request's context ends (delivery's replay of a
// large selection takes minutes, a plugin's may wait on anything) held the
// admin listener's drain, which does not end a request's context, until
// IMCALLBACK_SHUTDOWN_TIMEOUT ran out: the process exited 1 with "admin
// listener drain: context deadline exceeded", and the client lost its
// answer when the connection was cut. Only the profiler's requests were
// ended at the stop. Now every admin request's context ends at the stop:
// the route answers what it did, and the drain succeeds.
func TestAnAdminRequestInFlightEndsAtTheStop(t *testing.T) {
	entered := make(chan struct{})
	cfg := config.Default()
	cfg.AdminListen = "127.0.0.1:0"
	cfg.ShutdownTimeout = 10 * time.Second // the drain would run out long before the route's work is done
	lc := fxtest.NewLifecycle(t)
	a, err := newAdmin(adminIn{Lifecycle: lc, Config: &cfg, Log: zap.NewNop(), Registry: prometheus.NewRegistry(),
		Routes: []admin.Route{{Method: http.MethodPost, Path: "/v1/long", Handler: func(c echo.Context) error {
			close(entered)
			select {
			case <-c.Request().Context().Done():
				return c.JSON(http.StatusOK, map[string]string{"stopped": "part way"})
			case <-time.After(time.Hour):
				return c.JSON(http.StatusOK, map[string]string{"stopped": "done"})
			}
		}}}})
	if err != nil {
		t.Fatal(err)
	}
	lc.RequireStart()
	done := sendInBackground(http.MethodPost, "http://"+a.Addr().String()+"/v1/long")
	awaitRoute(t, entered, done)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := lc.Stop(ctx); err != nil {
		t.Fatalf("the stop with an admin request in flight failed: %v; want the request ended and the drain done", err)
	}
	got := <-done
	var body map[string]string
	if got.err != nil || got.status != http.StatusOK || json.Unmarshal(got.body, &body) != nil || body["stopped"] != "part way" {
		t.Fatalf("the request ended with %d %s %v; want 200 with the route's answer of what it did", got.status, got.body, got.err)
	}
}

// TestAScrapeWaitingOnAStuckCheckEndsAtTheStop: /metrics runs the
// readiness checks for imcallback_ready and waits for their answers (up
// to CheckTimeout + CheckGrace) outside any request's context, so the
// stop did not end it: with IMCALLBACK_SHUTDOWN_TIMEOUT below that wait,
// a scrape in flight while a check ignored its deadline failed the admin
// listener's drain (exit 1). The scrape now stops waiting at the stop,
// answering the check as not answered before the request ended, and the
// drain succeeds.
func TestAScrapeWaitingOnAStuckCheckEndsAtTheStop(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	defer close(release)
	var once sync.Once
	stuck := admin.Check{Name: "stuck", Check: func(context.Context) error {
		once.Do(func() { close(entered) })
		<-release // ignores its deadline
		return nil
	}}
	cfg := config.Default()
	cfg.AdminListen = "127.0.0.1:0"
	// Well below CheckTimeout + CheckGrace, so that a scrape waiting the
	// checks out (since before the stop) still runs when the drain gives
	// up; and long enough for a scrape that stops waiting at the stop to
	// be answered on a busy machine: 300 ms was not, with six copies of
	// this package's tests under the race detector on one core.
	cfg.ShutdownTimeout = time.Second
	lc := fxtest.NewLifecycle(t)
	a, err := newAdmin(adminIn{Lifecycle: lc, Config: &cfg, Log: zap.NewNop(), Registry: prometheus.NewRegistry(),
		Checks: []admin.Check{stuck}})
	if err != nil {
		t.Fatal(err)
	}
	lc.RequireStart()
	done := getInBackground("http://" + a.Addr().String() + "/metrics")
	<-entered
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := lc.Stop(ctx); err != nil {
		t.Fatalf("the stop with a scrape waiting on a stuck check failed: %v; want the scrape answered and the drain done", err)
	}
	if a := <-done; a.err != nil || a.status != http.StatusOK {
		t.Fatalf("the scrape ended with %d %v; want 200", a.status, a.err)
	}
}

// answered is how a request made in the background ended.
type answered struct {
	status int
	body   []byte
	err    error // of the request or of reading its whole body
}

// getInBackground GETs url on a goroutine of its own, reads the whole
// answer, and sends how it ended.
func getInBackground(url string) <-chan answered {
	return sendInBackground(http.MethodGet, url)
}

// sendInBackground sends a request of method, without a body, to url on
// a goroutine of its own, reads the whole answer, and sends how it ended.
func sendInBackground(method, url string) <-chan answered {
	return sendInBackgroundContext(context.Background(), method, url)
}

// sendInBackgroundContext is sendInBackground with the request's context:
// ending ctx is its caller leaving.
func sendInBackgroundContext(ctx context.Context, method, url string) <-chan answered {
	done := make(chan answered, 1)
	go func() {
		req, err := http.NewRequestWithContext(ctx, method, url, nil)
		if err != nil {
			done <- answered{err: err}
			return
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- answered{err: err}
			return
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		done <- answered{status: resp.StatusCode, body: body, err: err}
	}()
	return done
}

// awaitRoute waits until the route of the request done reports entered,
// and fails t if the request ended first.
func awaitRoute(t *testing.T, entered <-chan struct{}, done <-chan answered) {
	t.Helper()
	select {
	case <-entered:
	case a := <-done:
		t.Fatalf("the request ended before its route ran: %d %s %v", a.status, a.body, a.err)
	}
}

// TestAPluginRouteCutShortByTheStopIs503: a plugin's route that gives up
// when the stop ends its request's context, returning that context's
// error, was answered 500 "internal error" and logged as for a bug, where
// the events API and the topics answer such a request 503 to try again
// (another replica, or this one started again, answers). The admin
// listener now answers it so for every route.
func TestAPluginRouteCutShortByTheStopIs503(t *testing.T) {
	entered := make(chan struct{})
	cfg := config.Default()
	cfg.AdminListen = "127.0.0.1:0"
	lc := fxtest.NewLifecycle(t)
	a, err := newAdmin(adminIn{Lifecycle: lc, Config: &cfg, Log: zap.NewNop(), Registry: prometheus.NewRegistry(),
		Routes: []admin.Route{{Method: http.MethodGet, Path: "/v1/wait", Handler: func(c echo.Context) error {
			close(entered)
			<-c.Request().Context().Done()
			return fmt.Errorf("waiting for the store: %w", c.Request().Context().Err())
		}}}})
	if err != nil {
		t.Fatal(err)
	}
	lc.RequireStart()
	done := sendInBackground(http.MethodGet, "http://"+a.Addr().String()+"/v1/wait")
	awaitRoute(t, entered, done)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := lc.Stop(ctx); err != nil {
		t.Fatalf("the stop: %v", err)
	}
	got := <-done
	var body ErrorBody
	if got.err != nil || got.status != http.StatusServiceUnavailable || json.Unmarshal(got.body, &body) != nil || !strings.Contains(body.Error, "cut short (the service is stopping)") {
		t.Fatalf("the route cut short by the stop was answered %d %s %v; want 503 saying the stop cut the request short", got.status, got.body, got.err)
	}
}

// TestAnAdminRequestWhoseCallerLeftIsNoFailure: a route that gives up when
// its caller leaves (Ctrl-C on `imcallback events replay`, which the
// runbook gives as the way to stop a replay; a --timeout; the console
// giving up after 120 s) was logged at error level as "admin request
// failed … the request was cut short (the service is stopping)" while the
// service ran on: an alert on error lines fired, and the log named a stop
// that never came. It is now logged at info level as cut short by its
// caller. A route failing on a cancellation of something else than its
// request (neither the stop nor its caller) is still a failure, and says
// neither.
func TestAnAdminRequestWhoseCallerLeftIsNoFailure(t *testing.T) {
	tests := []struct {
		name    string
		leave   bool                            // the caller leaves once the route runs
		route   func(ctx context.Context) error // the route's work
		message string                          // the line logged
		level   zapcore.Level
	}{
		{"the route gives up when its caller leaves", true, func(ctx context.Context) error {
			<-ctx.Done()
			return fmt.Errorf("replaying: %w", ctx.Err())
		}, "admin request cut short: its caller left", zap.InfoLevel},
		{"something else the route waited for was canceled", false, func(context.Context) error {
			return fmt.Errorf("replaying: %w", context.Canceled) // not its request's, which runs on
		}, "admin request failed", zap.ErrorLevel},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			entered, returned := make(chan struct{}), make(chan struct{})
			core, logs := observer.New(zap.InfoLevel)
			cfg := config.Default()
			cfg.AdminListen = "127.0.0.1:0"
			lc := fxtest.NewLifecycle(t)
			a, err := newAdmin(adminIn{Lifecycle: lc, Config: &cfg, Log: zap.New(core), Registry: prometheus.NewRegistry(),
				Routes: []admin.Route{{Method: http.MethodPost, Path: "/v1/long", Handler: func(c echo.Context) error {
					close(entered)
					defer close(returned)
					return tt.route(c.Request().Context())
				}}}})
			if err != nil {
				t.Fatal(err)
			}
			lc.RequireStart()
			ctx, leave := context.WithCancel(context.Background())
			defer leave()
			done := sendInBackgroundContext(ctx, http.MethodPost, "http://"+a.Addr().String()+"/v1/long")
			<-entered
			if tt.leave {
				leave()
			}
			<-returned
			got := <-done
			// The stop waits for the request in flight, whose error is
			// logged before it ends.
			lc.RequireStop()
			if !tt.leave {
				var body ErrorBody
				if got.status != http.StatusServiceUnavailable || json.Unmarshal(got.body, &body) != nil || body.Error != "the request was cut short, try again" {
					t.Errorf("answered %d %s %v; want 503 saying the request was cut short, neither by the stop nor by its caller", got.status, got.body, got.err)
				}
			}
			var lines []observer.LoggedEntry
			for _, e := range logs.All() {
				if e.Message == "admin request failed" || e.Message == "admin request cut short: its caller left" {
					lines = append(lines, e)
				}
			}
			if len(lines) != 1 || lines[0].Message != tt.message || lines[0].Level != tt.level {
				t.Fatalf("the request was logged %v; want one %v line %q", lines, tt.level, tt.message)
			}
		})
	}
}
