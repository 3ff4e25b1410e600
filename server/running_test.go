package server

import (
	"io"
	"net/http"
	"runtime"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx/fxtest"
	"go.uber.org/zap"

	"github.com/imcallback/imcallback/config"
)

// TestAStoppedListenerLeavesNoGoroutineRunning: the stop of a listener
// returns once its own goroutines (the server's Serve, the connections'
// reaper, the goroutine net/http serves each connection on) have ended.
// It returned while they were still ending (an idle keep-alive connection's
// goroutine, its connection closed by the drain, had yet to wake up and
// end), so a goroutine-leak check right after the stop (imtest's doc
// suggests one in a t.Cleanup registered before Start) could see them on a
// busy machine. One snapshot right after the stop, on one processor (so
// nothing else runs meanwhile), finds none of them.
func TestAStoppedListenerLeavesNoGoroutineRunning(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	for _, tc := range []struct {
		name string
		idle bool // whether a keep-alive connection is left idle at the stop
	}{
		{"no connection", false},
		{"an idle connection", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := serveGoroutines()
			for round := range 20 {
				cfg := config.Default()
				cfg.AdminListen = "127.0.0.1:0"
				lc := fxtest.NewLifecycle(t)
				a, err := newAdmin(adminIn{Lifecycle: lc, Config: &cfg, Log: zap.NewNop(), Registry: prometheus.NewRegistry()})
				if err != nil {
					t.Fatal(err)
				}
				lc.RequireStart()
				client := &http.Client{Transport: &http.Transport{}}
				if tc.idle {
					resp, err := client.Get("http://" + a.Addr().String() + "/healthz")
					if err != nil {
						t.Fatal(err)
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close() // the connection goes back to the client's pool, idle
				}
				lc.RequireStop()
				left := listenerGoroutines(before)
				client.CloseIdleConnections()
				if left != "" {
					t.Fatalf("round %d: the listener's goroutines still run after its stop:\n%s", round+1, left)
				}
			}
		})
	}
}

// serveGoroutines returns the stacks of the running goroutines, by their
// header line ("goroutine 7 [running]:" without its state), that
// listenerGoroutines would report: those that ran before a test began
// are not the test's listener's.
func serveGoroutines() map[string]bool {
	found := map[string]bool{}
	for _, g := range goroutineStacks() {
		if isListenerGoroutine(g) {
			found[goroutineID(g)] = true
		}
	}
	return found
}

// listenerGoroutines returns the stacks of the goroutines running a
// Listener's serve, a connLimit's run or net/http's serving of a
// connection, but those in before; "" when there are none.
func listenerGoroutines(before map[string]bool) string {
	var found []string
	for _, g := range goroutineStacks() {
		if isListenerGoroutine(g) && !before[goroutineID(g)] {
			found = append(found, g)
		}
	}
	return strings.Join(found, "\n\n")
}

func goroutineStacks() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	return strings.Split(string(buf), "\n\n")
}

func isListenerGoroutine(g string) bool {
	return strings.Contains(g, "server.(*Listener).serve") || strings.Contains(g, "server.(*connLimit).run") ||
		strings.Contains(g, "net/http.(*conn).serve")
}

// goroutineID is "goroutine 7" of g's header.
func goroutineID(g string) string {
	id, _, _ := strings.Cut(g, " [")
	return id
}
