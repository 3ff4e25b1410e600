package imsend

import (
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
