package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestSustainedBacklogUnreadableIsNotFlat: a backlog the run could not
// read (JetStream not answering the pending gauge within its 500 ms under
// the load, which the gauge reports as NaN, or /metrics failing) compared
// false with every bound and passed as flat: an overloaded rate was
// reported as the sustained one. It is a verdict of its own now.
func TestSustainedBacklogUnreadableIsNotFlat(t *testing.T) {
	for _, tt := range []struct {
		name    string
		metrics http.HandlerFunc
		want    string
	}{
		{"read", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = io.WriteString(w, "imcallback_delivery_pending 0\n")
		}, "flat"},
		{"NaN", func(w http.ResponseWriter, _ *http.Request) {
			_, _ = io.WriteString(w, "imcallback_delivery_pending NaN\n")
		}, "backlog unreadable"},
		{"metrics refused", func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "down", http.StatusServiceUnavailable)
		}, "backlog unreadable"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			admin := httptest.NewServer(tt.metrics)
			defer admin.Close()
			// No seconds: the run offers nothing and reads the backlog at its end.
			r := runSustained(100, 0, 1, func() string { return admin.URL }, strings.TrimPrefix(admin.URL, "http://"), "%s", "n")
			r.achieved = r.offered // nothing was offered in no time; the backlog decides
			if got := r.verdict(); !strings.HasPrefix(got, tt.want) {
				t.Fatalf("verdict %q, want %q", got, tt.want)
			}
		})
	}
}
