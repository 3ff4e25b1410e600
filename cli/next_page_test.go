package cli

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// TestEventsListNextPageKeepsTheFilters: the hint under a cut `events
// list` named only --since and --before-seq: followed, it listed every
// command's events, 100 at a time, instead of the next page of the
// selection. It now repeats --command (quoted for a shell: a pattern's
// '*' would be expanded) and --limit; the test runs the hint's words, as
// a shell splits them, and checks the service is asked for the same
// selection, one page on.
func TestEventsListNextPageKeepsTheFilters(t *testing.T) {
	var q queries
	srv := httptest.NewServer(q.record(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Date", "Fri, 04 Dec 2026 16:00:00 GMT")
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"events":[{"seq":9,"command":"C2C.CallbackAfterSendMsg","app_id":"1400000000","state":"processed"}],"next_before_seq":9}`)
	}))
	defer srv.Close()
	hint := regexp.MustCompile(`the next page: (.*)\)`)
	for _, tt := range []struct {
		name  string
		args  []string
		since string // asked for on the next page
	}{
		{"command", []string{"--command", "Group.CallbackAfterCreateTopic"}, ""},
		{"a pattern", []string{"--command", "Group.*"}, ""},
		{"a quote", []string{"--command", "it's $HOME"}, ""},
		{"limit", []string{"--limit", "1"}, ""},
		{"all", []string{"--command", "C2C.*", "--since", "1h", "--limit", "5"}, "2026-12-04T15:00:00Z"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, err := runCLI(t, append([]string{"--admin", srv.URL, "events", "list"}, tt.args...)...)
			if err != nil {
				t.Fatalf("%v: %v\n%s", tt.args, err, out)
			}
			first := q.back(0)
			m := hint.FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("%v: no hint of the next page:\n%s", tt.args, out)
			}
			next := shellWords(t, m[1])
			if out, err := runCLI(t, append([]string{"--admin", srv.URL, "events", "list"}, next...)...); err != nil {
				t.Fatalf("the next page %q: %v\n%s", next, err, out)
			}
			second := q.back(0)
			for _, key := range []string{"command", "limit"} {
				if first.Get(key) != second.Get(key) {
					t.Errorf("the next page %q asked %s=%q, the first %s=%q", next, key, second.Get(key), key, first.Get(key))
				}
			}
			if second.Get("since") != tt.since || second.Get("before_seq") != "9" {
				t.Errorf("the next page %q asked since=%q before_seq=%q, want %q and 9", next, second.Get("since"), second.Get("before_seq"), tt.since)
			}
		})
	}
}

// queries records the query of each request a test server is asked.
type queries struct {
	mu    sync.Mutex
	asked []url.Values
}

// record is h, recording each request's query before h answers it.
func (q *queries) record(h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q.mu.Lock()
		q.asked = append(q.asked, r.URL.Query())
		q.mu.Unlock()
		h(w, r)
	})
}

// back is the query of the request n before the last one (0: the last).
func (q *queries) back(n int) url.Values {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.asked[len(q.asked)-1-n]
}

// shellWords is the words sh makes of s, with nothing expanded.
func shellWords(t *testing.T, s string) []string {
	t.Helper()
	words, err := exec.Command("sh", "-c", `for w in `+s+`; do printf '%s\0' "$w"; done`).Output()
	if err != nil {
		t.Fatalf("%q is no shell words: %v", s, err)
	}
	return strings.Split(strings.TrimSuffix(string(words), "\x00"), "\x00")
}
