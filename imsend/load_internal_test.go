package imsend

import (
	"context"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"
)

// TestPercentile: P50 and P99 are nearest-rank percentiles, the smallest
// latency that at least that share of the answered requests is at or
// below: of 100 requests P99 is the 99th latency, not the largest, which
// would let one slow request alone make the p99.
func TestPercentile(t *testing.T) {
	ms := func(n int) []time.Duration { // 1ms, 2ms, … n ms
		d := make([]time.Duration, n)
		for i := range d {
			d[i] = time.Duration(i+1) * time.Millisecond
		}
		return d
	}
	tests := []struct {
		n, p int
		want time.Duration
	}{
		{1, 50, time.Millisecond},
		{1, 99, time.Millisecond},
		{2, 50, time.Millisecond},
		{2, 99, 2 * time.Millisecond},
		{3, 50, 2 * time.Millisecond},
		{4, 50, 2 * time.Millisecond},
		{10, 99, 10 * time.Millisecond},
		{100, 50, 50 * time.Millisecond},
		{100, 99, 99 * time.Millisecond},
		{101, 99, 100 * time.Millisecond},
		{200, 99, 198 * time.Millisecond},
		{1000, 99, 990 * time.Millisecond},
	}
	for _, tt := range tests {
		if got := percentile(ms(tt.n), tt.p); got != tt.want {
			t.Errorf("P%d of 1..%d ms = %v, want %v", tt.p, tt.n, got, tt.want)
		}
	}
}

// TestLoadLatencyLeavesOutTheBody: a request's latency is its round trip,
// not the time Load.Body takes to build its body (send --unique rewrites
// every body), which would add to every percentile and to Max. The clock
// here moves only while Body runs: the latencies are zero. Before, each
// was the hour Body took.
func TestLoadLatencyLeavesOutTheBody(t *testing.T) {
	var mu sync.Mutex
	at := time.Unix(1_700_000_000, 0)
	clock = func() time.Time { mu.Lock(); defer mu.Unlock(); return at }
	defer func() { clock = time.Now }()
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}`)
	})
	s := &Sender{URL: "http://im.example/cb", Handler: h, AppID: "1400000000", Now: time.Now}
	rep, err := s.Run(context.Background(), Load{
		Command: "C2C.CallbackAfterSendMsg", Requests: 10, Concurrency: 1, // one client: no other Body runs during a request
		Body: func(int) []byte {
			mu.Lock()
			at = at.Add(time.Hour) // building the body takes an hour
			mu.Unlock()
			return []byte(`{}`)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Requests != 10 || rep.Failures != 0 || rep.P50 != 0 || rep.P99 != 0 || rep.Max != 0 {
		t.Fatalf("report %+v: want 10 requests answered, each in no time of the clock", rep)
	}
}
