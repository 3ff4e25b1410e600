package metrics

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestHistorySample(t *testing.T) {
	cb := NewCallbacks(prometheus.NewRegistry(), "1400000001", "1400000002")
	cb.Total.WithLabelValues("C2C.CallbackBeforeSendMsg", "1400000001", "allow").Add(3)
	cb.Total.WithLabelValues("C2C.CallbackBeforeSendMsg", "1400000002", "deny").Add(2)
	cb.Total.WithLabelValues("Group.CallbackAfterCreateTopic", "1400000001", "queued").Add(5)
	cb.Unknown.WithLabelValues("State.StateChange").Add(4)
	cb.Rejections.WithLabelValues("bad_signature", "1400000001").Add(1)
	cb.Rejections.WithLabelValues("bad_signature", OtherApp).Add(2)
	cb.Rejections.WithLabelValues("ip_not_allowed", "1400000002").Add(6)
	cb.Duration.WithLabelValues("C2C.CallbackBeforeSendMsg", "before").Observe(0.0003)
	cb.Duration.WithLabelValues("Group.CallbackAfterCreateTopic", "after").Observe(0.02)
	cb.Duration.WithLabelValues("Group.CallbackAfterCreateTopic", "after").Observe(3)

	h := NewHistory(cb, time.Second, time.Minute)
	at := time.Date(2026, 12, 1, 8, 0, 0, 0, time.FixedZone("CST", 8*3600))
	h.Sample(at)
	got := h.Samples()
	if len(got) != 1 {
		t.Fatalf("%d samples, want 1", len(got))
	}
	s := got[0]
	if !s.Time.Equal(at) || s.Time.Location() != time.UTC {
		t.Errorf("time %v, want %v in UTC", s.Time, at)
	}
	for _, c := range []struct {
		name string
		got  map[string]float64
		key  string
		want float64
	}{
		{"commands", s.Commands, "C2C.CallbackBeforeSendMsg", 5},
		{"commands", s.Commands, "Group.CallbackAfterCreateTopic", 5},
		{"commands", s.Commands, "State.StateChange", 4},
		{"outcomes", s.Outcomes, "allow", 3},
		{"outcomes", s.Outcomes, "deny", 2},
		{"outcomes", s.Outcomes, "queued", 5},
		{"outcomes", s.Outcomes, OutcomeUnknown, 4},
		{"outcomes", s.Outcomes, OutcomeRejected, 9},
		{"rejections", s.Rejections, "bad_signature", 3},
		{"rejections", s.Rejections, "ip_not_allowed", 6},
		{"rejections", s.Rejections, "stale_request", 0},
		{"duration_buckets", s.DurationBuckets, "0.0005", 1},
		{"duration_buckets", s.DurationBuckets, "0.025", 2},
		{"duration_buckets", s.DurationBuckets, "2", 2},
		{"duration_buckets", s.DurationBuckets, "+Inf", 3},
	} {
		v, ok := c.got[c.key]
		if !ok || v != c.want {
			t.Errorf("%s[%q] = %v (present %v), want %v", c.name, c.key, v, ok, c.want)
		}
	}
	if _, ok := s.Commands[""]; ok {
		t.Error("rejections were counted under an empty command")
	}
}

func TestHistoryKeepsTheWindow(t *testing.T) {
	cb := NewCallbacks(prometheus.NewRegistry(), "1400000001")
	h := NewHistory(cb, 10*time.Second, time.Minute) // 6 intervals: 7 samples
	if h.Window() != time.Minute || h.Interval() != 10*time.Second {
		t.Fatalf("window %v interval %v", h.Window(), h.Interval())
	}
	start := time.Unix(1_800_000_000, 0)
	for i := range 20 {
		cb.Total.WithLabelValues("C2C.CallbackBeforeSendMsg", "1400000001", "allow").Inc()
		h.Sample(start.Add(time.Duration(i) * 10 * time.Second))
	}
	got := h.Samples()
	if len(got) != 7 {
		t.Fatalf("%d samples kept, want 7", len(got))
	}
	for i, s := range got {
		if want := start.Add(time.Duration(13+i) * 10 * time.Second); !s.Time.Equal(want) {
			t.Errorf("sample %d at %v, want %v", i, s.Time, want)
		}
		if want := float64(14 + i); s.Outcomes["allow"] != want {
			t.Errorf("sample %d counts %v, want %v", i, s.Outcomes["allow"], want)
		}
	}
	// A copy: the caller's slice does not move with later samples.
	h.Sample(start.Add(time.Hour))
	if !got[0].Time.Equal(start.Add(130 * time.Second)) {
		t.Error("Samples returned a view that later samples changed")
	}
}

func TestHistoryDefaults(t *testing.T) {
	h := NewHistory(NewCallbacks(prometheus.NewRegistry()), 0, 0)
	if h.Interval() != HistoryInterval || h.Window() != HistoryWindow {
		t.Errorf("interval %v window %v, want %v and %v", h.Interval(), h.Window(), HistoryInterval, HistoryWindow)
	}
}

func TestHistoryRun(t *testing.T) {
	h := NewHistory(NewCallbacks(prometheus.NewRegistry()), time.Millisecond, time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.Run(ctx)
	}()
	deadline := time.Now().Add(5 * time.Second)
	for len(h.Samples()) < 3 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-done
	if n := len(h.Samples()); n < 3 {
		t.Fatalf("%d samples after running, want at least 3", n)
	}
}

// TestHistoryHookSamplesAtStart: the first sample is taken by the start
// hook itself, before the app serves a callback. Taken later on the
// sampling goroutine, it could hold the first callbacks as its baseline,
// and the console's window would leave them out (20 of 21 counted).
func TestHistoryHookSamplesAtStart(t *testing.T) {
	cb := NewCallbacks(prometheus.NewRegistry(), "1400000001")
	h := NewHistory(cb, time.Hour, 24*time.Hour)
	hook := h.Hook()
	if err := hook.OnStart(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := hook.OnStop(context.Background()); err != nil {
			t.Error(err)
		}
	}()
	if got := h.Samples(); len(got) != 1 {
		t.Fatalf("%d samples when the start hook returned, want the first", len(got))
	}
}

// TestHistoryHookRunsAgainAfterARestart: fx starts a stopped app again;
// the hook samples through the second run as through the first, and
// both stops end the sampling.
func TestHistoryHookRunsAgainAfterARestart(t *testing.T) {
	h := NewHistory(NewCallbacks(prometheus.NewRegistry()), time.Millisecond, time.Hour)
	hook := h.Hook()
	for run := 1; run <= 2; run++ {
		if err := hook.OnStart(context.Background()); err != nil {
			t.Fatal(err)
		}
		// The start hook's own sample, then at least two of the goroutine's.
		want := len(h.Samples()) + 2
		for giveUp := time.Now().Add(10 * time.Second); len(h.Samples()) < want && time.Now().Before(giveUp); {
			time.Sleep(time.Millisecond)
		}
		if err := hook.OnStop(context.Background()); err != nil {
			t.Fatal(err)
		}
		if n := len(h.Samples()); n < want {
			t.Fatalf("run %d: %d samples, want at least %d: the sampling did not run", run, n, want)
		}
	}
}
