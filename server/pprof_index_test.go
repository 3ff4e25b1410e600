package server

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx/fxtest"
	"go.uber.org/zap"

	"github.com/imcallback/imcallback/config"
)

// TestEveryPprofIndexLinkAnswers: the profiler's index page at
// /debug/pprof/ links every profile it knows, cmdline and symbol among
// them. Those two are handlers of their own in net/http/pprof, not
// profiles, and the index's catch-all route answered them "Unknown
// profile" (404), so `go tool pprof` could not symbolize through the
// admin listener. Every link of the index answers now; profile and trace
// collect for seconds and have tests of their own.
func TestEveryPprofIndexLinkAnswers(t *testing.T) {
	cfg := config.Default()
	cfg.AdminListen = "127.0.0.1:0"
	lc := fxtest.NewLifecycle(t)
	a, err := newAdmin(adminIn{Lifecycle: lc, Config: &cfg, Log: zap.NewNop(), Registry: prometheus.NewRegistry()})
	if err != nil {
		t.Fatal(err)
	}
	lc.RequireStart()
	defer lc.RequireStop()
	base := "http://" + a.Addr().String() + "/debug/pprof/"
	index := getBody(t, http.MethodGet, base)
	links := regexp.MustCompile(`href='?"?([a-z]+)[?'"]`).FindAllStringSubmatch(index, -1)
	seen := map[string]bool{}
	for _, l := range links {
		seen[l[1]] = true
	}
	for _, want := range []string{"cmdline", "symbol", "goroutine", "heap"} {
		if !seen[want] {
			t.Fatalf("the index links %v; want %q among them", seen, want)
		}
	}
	for name := range seen {
		if name == "profile" || name == "trace" {
			continue
		}
		t.Run(name, func(t *testing.T) { getBody(t, http.MethodGet, base+name) })
	}
	// go tool pprof symbolizes with a POST of addresses to symbol.
	if got := getBody(t, http.MethodPost, base+"symbol"); !strings.Contains(got, "num_symbols") {
		t.Fatalf("POST symbol answered %q; want the symbol count line", got)
	}
}

// getBody fetches url and fails the test unless it answers 200.
func getBody(t *testing.T, method, url string) string {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s answered %d %q; want 200", method, url, resp.StatusCode, body)
	}
	return string(body)
}
