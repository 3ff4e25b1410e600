package imsend

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Load describes a load run: Requests callbacks sent by Concurrency
// clients, each with its own keep-alive connection (through the proxy
// HTTP_PROXY, HTTPS_PROXY and NO_PROXY name, as Send's, unless the
// Sender has a Client). Check says which settings it needs.
type Load struct {
	// Command is the CallbackCommand of every request. Required.
	Command string
	// Body returns the body of request i (0-based), e.g. with a unique
	// TopicId. Required. The Concurrency clients call it at once, each
	// for its next request: unlike Progress, it must be safe for
	// concurrent use.
	Body func(i int) []byte
	// Requests is the total number of requests, at least 1; math.MaxInt
	// sends until ctx ends. Run's memory grows with the requests sent. The
	// requests ctx's end cuts off are LoadReport.Interrupted.
	Requests int
	// Concurrency is the number of clients sending at once; 0 is 1.
	Concurrency int
	// Timeout bounds each request, from its send (Body has built it) to
	// its answer read; 0 leaves it to ctx.
	Timeout time.Duration
	// Progress, when set, is called after every request with the number
	// done: one call at a time, with 1, 2, 3 … in order, so it need not
	// be safe for concurrent use.
	Progress func(done int)
}

// LoadReport summarises a load run.
type LoadReport struct {
	// Requests counts the requests that got an answer or failed, not
	// those Interrupted.
	Requests   int
	Failures   int           // transport errors or answers that are not OK
	Statuses   map[int]int   // answers by HTTP status; -1 counts the requests without an answer
	Elapsed    time.Duration // wall time of the run
	RPS        float64       // answered requests per second (a request without an answer has no latency, and would flatter it)
	P50, P99   time.Duration // latency percentiles (nearest rank) of the answered requests, Body's time left out
	Max        time.Duration // the longest latency of the answered requests
	FirstError string        // one failure, to show what went wrong
	// Interrupted counts the requests sent but cut off without an answer
	// when ctx ended the run: the run stopped, the endpoint did not fail,
	// so they are in neither Requests nor Failures (nor Statuses).
	Interrupted int
}

// String renders the report on one line.
func (r LoadReport) String() string {
	s := fmt.Sprintf("%d requests in %v: %.0f req/s, p50 %v, p99 %v, max %v, failures %d",
		r.Requests, r.Elapsed.Round(time.Millisecond), r.RPS, r.P50.Round(time.Microsecond),
		r.P99.Round(time.Microsecond), r.Max.Round(time.Microsecond), r.Failures)
	if r.Interrupted > 0 {
		s += fmt.Sprintf(", interrupted %d", r.Interrupted)
	}
	return s
}

// Check reports the first setting of l that Run cannot work with: an
// empty Command, a nil Body, Requests under 1, a negative Concurrency or
// Timeout.
func (l Load) Check() error {
	switch {
	case l.Command == "":
		return errors.New("imsend: Load.Command is empty: name the CallbackCommand to send")
	case l.Body == nil:
		return errors.New("imsend: Load.Body is nil: give the function that returns request i's body")
	case l.Requests < 1:
		return fmt.Errorf("imsend: Load.Requests is %d: it must be at least 1", l.Requests)
	case l.Concurrency < 0:
		return fmt.Errorf("imsend: Load.Concurrency is %d: it must not be negative (0 is 1)", l.Concurrency)
	case l.Timeout < 0:
		return fmt.Errorf("imsend: Load.Timeout is %v: it must not be negative (0 leaves it to ctx)", l.Timeout)
	}
	return nil
}

// tally counts the requests one client of a load run sent.
type tally struct {
	requests, failures int
	interrupted        int             // as LoadReport.Interrupted
	statuses           map[int]int     // as LoadReport.Statuses
	answered           []time.Duration // latencies of the answered requests
}

// failure describes a failed request: its error, else the answer.
func failure(res *Result, err error) string {
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("HTTP %d %s", res.Status, excerpt(res.Body))
}

// send sends body as a request of l, within l.Timeout when set.
func (s *Sender) send(ctx context.Context, l Load, body []byte) (*Result, error) {
	if l.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, l.Timeout)
		defer cancel()
	}
	return s.Send(ctx, l.Command, body)
}

// clock is the time a load run measures with.
var clock = time.Now

// Run sends the load with s and measures it. Requests are bounded by
// l.Requests and by ctx: the run stops by itself. The error is l.Check's,
// returned before anything is sent.
func (s *Sender) Run(ctx context.Context, l Load) (LoadReport, error) {
	if err := l.Check(); err != nil {
		return LoadReport{}, err
	}
	l.Concurrency = min(max(l.Concurrency, 1), l.Requests)
	if s.Client == nil && s.Handler == nil {
		copied := *s
		copied.Client = NewClient(l.Concurrency, nil)
		defer copied.Client.CloseIdleConnections()
		s = &copied
	}
	// Each client tallies its own requests: the memory grows with the
	// requests sent, not with l.Requests, which may be math.MaxInt for a
	// run that ctx ends.
	tallies := make([]tally, l.Concurrency)
	var next atomic.Int64
	var progressMu sync.Mutex // Progress is called one call at a time
	var done int
	var mu sync.Mutex
	var firstErr string
	var wg sync.WaitGroup
	start := clock()
	for c := range l.Concurrency {
		t := &tallies[c]
		t.statuses = map[int]int{}
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(l.Requests) || ctx.Err() != nil {
					return
				}
				// The body is built before the clock starts: the latency is
				// the round trip, not the time Body takes (a rewrite of
				// every body, as send --unique does), nor does Body use up
				// the Timeout.
				body := l.Body(int(i))
				t0 := clock()
				res, err := s.send(ctx, l, body)
				latency := clock().Sub(t0)
				if res == nil && ctx.Err() != nil {
					// ctx ended the run while this request awaited its
					// answer: cut off by the caller, not failed by the
					// endpoint (a Ctrl-C, a run for a duration).
					t.interrupted++
					return
				}
				status := -1 // no answer
				if res != nil {
					status = res.Status // with an error: an answer, but no envelope
				}
				t.requests++
				t.statuses[status]++
				if status > 0 {
					t.answered = append(t.answered, latency)
				}
				if err != nil || !res.OK() { // a rejection, or a FAIL envelope on HTTP 200
					t.failures++
					mu.Lock()
					if firstErr == "" {
						firstErr = failure(res, err)
					}
					mu.Unlock()
				}
				if l.Progress != nil {
					progressMu.Lock()
					done++
					l.Progress(done)
					progressMu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	rep := LoadReport{Elapsed: clock().Sub(start), Statuses: map[int]int{}, FirstError: firstErr}
	var answered []time.Duration
	for _, t := range tallies {
		rep.Requests += t.requests
		rep.Failures += t.failures
		rep.Interrupted += t.interrupted
		for st, n := range t.statuses {
			rep.Statuses[st] += n
		}
		answered = append(answered, t.answered...)
	}
	if rep.Elapsed > 0 {
		rep.RPS = float64(len(answered)) / rep.Elapsed.Seconds()
	}
	if len(answered) > 0 {
		slices.Sort(answered)
		rep.P50 = percentile(answered, 50)
		rep.P99 = percentile(answered, 99)
		rep.Max = answered[len(answered)-1]
	}
	return rep, nil
}

// percentile is the nearest-rank p-th percentile (0 < p <= 100) of sorted,
// which is not empty: the smallest value that at least p percent of the
// values are at or below. Of 100 latencies P99 is the 99th, not the
// largest, and of two P50 is the first.
func percentile(sorted []time.Duration, p int) time.Duration {
	rank := (len(sorted)*p + 99) / 100 // ⌈n·p/100⌉, 1-based
	return sorted[max(rank, 1)-1]
}
