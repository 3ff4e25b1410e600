package dispatcher_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/metrics"
	"github.com/imcallback/imcallback/protocol"
)

// recordingForwarder takes its commands for the apps listed (every app
// when none) and records each delivery; "gone" is not configured.
type recordingForwarder struct {
	commands []string
	apps     []string
	mu       sync.Mutex
	sent     []string // destination names
}

func (f *recordingForwarder) Commands() []string { return f.commands }
func (f *recordingForwarder) Destinations(_ string, app string) []string {
	if len(f.apps) > 0 && !slices.Contains(f.apps, app) {
		return nil
	}
	return []string{"backend"}
}
func (f *recordingForwarder) Decide(context.Context, string, *dispatcher.Request) (dispatcher.Decision, error) {
	return dispatcher.Decision{}, nil
}
func (f *recordingForwarder) Deliver(_ context.Context, dest string, _ *dispatcher.Request) error {
	if dest == "gone" {
		return dispatcher.ErrUnroutable
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sent = append(f.sent, dest)
	return nil
}

// TestStoredCopiesFollowTheirTarget: a destination's stored copy goes to
// that destination only, whatever changed in the configuration since; the
// Go handler's copy never reaches a destination.
func TestStoredCopiesFollowTheirTarget(t *testing.T) {
	const cmd = "Group.CallbackAfterCreateTopic"
	var handled int
	goHandler := dispatcher.After(cmd, func(context.Context, *dispatcher.Event[map[string]any]) error {
		handled++
		return nil
	})
	req := func(target, app string) *dispatcher.Request {
		return &dispatcher.Request{Command: cmd, Body: []byte(`{}`), Target: target, ReceivedAt: time.Now(),
			Params: paramsFor(app, cmd)}
	}
	limited := dispatcher.After(cmd, func(context.Context, *dispatcher.Event[map[string]any]) error {
		handled++
		return nil
	}, dispatcher.ForApps("2"))
	tests := []struct {
		name      string
		handler   bool     // a Go handler is registered
		only2     bool     // the Go handler is limited to app 2 (ForApps)
		forwarded []string // commands the forwarder takes
		apps      []string // apps the destination takes
		r         *dispatcher.Request
		wantErr   error
		wantSent  int
		wantGo    int
	}{
		{"a destination's copy with a Go handler too", true, false, []string{cmd}, nil, req("backend", "1"), nil, 1, 0},
		{"a destination's copy, the command no longer forwarded", true, false, nil, nil, req("backend", "1"), nil, 1, 0},
		{"a destination's copy, its app no longer forwarded", false, false, []string{cmd}, []string{"2"}, req("backend", "1"), nil, 1, 0},
		{"a removed destination's copy", true, false, []string{cmd}, nil, req("gone", "1"), dispatcher.ErrUnroutable, 0, 0},
		{"the Go handler's copy", true, false, []string{cmd}, nil, req("", "1"), nil, 0, 1},
		{"the Go handler's copy, the handler removed", false, false, []string{cmd}, nil, req("", "1"), dispatcher.ErrNoHandler, 0, 0},
		// Stored before the handler was limited to app 2; a destination
		// takes the command for app 1 now: the handler is not app 1's.
		{"the Go handler's copy, the handler now limited to another app", true, true, []string{cmd}, nil, req("", "1"), dispatcher.ErrNoHandler, 0, 0},
		{"the Go handler's copy of the app it is limited to", true, true, []string{cmd}, nil, req("", "2"), nil, 0, 1},
		{"the Go handler's copy, limited to another app, not forwarded", true, true, nil, nil, req("", "1"), dispatcher.ErrNoHandler, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			handled = 0
			var cmds []dispatcher.Command
			switch {
			case tc.handler && tc.only2:
				cmds = append(cmds, limited)
			case tc.handler:
				cmds = append(cmds, goHandler)
			}
			f := &recordingForwarder{commands: tc.forwarded, apps: tc.apps}
			d, err := dispatcher.New(cmds, dispatcher.Options{BeforeTimeout: time.Second, Forwarder: f}, zap.NewNop(),
				metrics.NewCallbacks(prometheus.NewRegistry()))
			if err != nil {
				t.Fatal(err)
			}
			err = d.Process(context.Background(), tc.r)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Errorf("Process: %v, want %v", err, tc.wantErr)
			}
			if len(f.sent) != tc.wantSent || handled != tc.wantGo {
				t.Errorf("sent to %v, Go handler ran %d times; want %d and %d", f.sent, handled, tc.wantSent, tc.wantGo)
			}
		})
	}
}

// paramsFor are the verified parameters of a callback of app.
func paramsFor(app, command string) protocol.Params {
	return protocol.Params{SdkAppid: app, CallbackCommand: command}
}

// panickingForwarder takes Group.CallbackAfterCreateTopic and panics on
// every delivery.
type panickingForwarder struct{ recordingForwarder }

func (*panickingForwarder) Deliver(context.Context, string, *dispatcher.Request) error {
	panic("boom in Deliver")
}

// TestInlineDeliveryPanicIsAFailure: a destination's delivery runs on a
// goroutine of its own in inline mode; its panic is the request's failure
// (503), not the process's end.
func TestInlineDeliveryPanicIsAFailure(t *testing.T) {
	h := newHarness(t, dispatcher.Options{Forwarder: &panickingForwarder{recordingForwarder{commands: []string{"Group.CallbackAfterCreateTopic"}}}})
	rec, out := h.do("Group.CallbackAfterCreateTopic", `{}`)
	if rec.Code != http.StatusServiceUnavailable || out["ActionStatus"] != "FAIL" {
		t.Errorf("answered %d %s, want 503 FAIL", rec.Code, rec.Body)
	}
}
