package cli

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"regexp"
	"testing"
	"time"

	"github.com/imcallback/imcallback/plugins/topicsync"
)

// TestTopicsListNextPageKeepsTheFilters: the line under a cut `topics
// list` and the error of a listing that stopped named only --cursor, which
// is a position and not a selection: followed, it listed every group's
// and app's topics from there, deleted ones left out, at the default page
// size. Both now repeat --appid, --group, --include-deleted and --limit
// (quoted for a shell); the test runs the named flags, as a shell splits
// them, and checks the service is asked for the same selection.
func TestTopicsListNextPageKeepsTheFilters(t *testing.T) {
	created := time.Date(2024, 11, 26, 10, 0, 0, 0, time.UTC)
	next := topicsync.EncodeCursor(&topicsync.Position{CreatedAt: created, SdkAppID: "1400000001", TopicID: "@TGS#_g@TOPIC#_t0"})
	var q queries
	srv := httptest.NewServer(q.record(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("cursor") != "" { // the second page fails, for --all
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"error":"the store is down"}`))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(topicsync.ListResponse{Topics: []topicsync.Topic{{SdkAppID: "1400000001",
			TopicID: "@TGS#_g@TOPIC#_t0", GroupID: "@TGS#_g", CustomData: []topicsync.CustomField{}, CreatedAt: created, UpdatedAt: created}},
			NextCursor: next})
	}))
	defer srv.Close()
	hint := regexp.MustCompile(`more topics follow: --all lists every page, (.*) the next one`)
	stopped := regexp.MustCompile(`\((.*) goes on from there\)`)
	for _, tt := range []struct {
		name string
		args []string
	}{
		{"group", []string{"--group", "@TGS#_g"}},
		{"app", []string{"--appid", "1400000001"}},
		{"legacy app", []string{"--appid", ""}},
		{"deleted and limit", []string{"--include-deleted", "--limit", "1"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, all := range []bool{false, true} {
				args := append([]string{"--admin", srv.URL, "topics", "list"}, tt.args...)
				re := hint
				if all {
					args, re = append(args, "--all"), stopped
				}
				out, err := runCLI(t, args...)
				if err != nil {
					out += err.Error()
				}
				first := q.back(0)
				if all { // the first page's, not the one that failed
					first = q.back(1)
				}
				m := re.FindStringSubmatch(out)
				if m == nil {
					t.Fatalf("%v: no next page named:\n%s", args, out)
				}
				again := shellWords(t, m[1])
				_, _ = runCLI(t, append([]string{"--admin", srv.URL, "topics", "list"}, again...)...)
				second := q.back(0)
				for _, key := range []string{"sdk_app_id", "group_id", "include_deleted", "limit"} {
					if first[key] == nil != (second[key] == nil) || first.Get(key) != second.Get(key) {
						t.Errorf("%v, then %q: %s=%q, then %q", args, again, key, first[key], second[key])
					}
				}
				if second.Get("cursor") != next {
					t.Errorf("%v, then %q: cursor %q, want %q", args, again, second.Get("cursor"), next)
				}
			}
		})
	}
}
