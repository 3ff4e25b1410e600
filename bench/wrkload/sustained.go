package main

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The sustained-rate step: wrk sends as fast as it can, so it measures the
// peak rate at which callbacks are acknowledged, not the rate the workers
// keep up with. This step offers the durable service a fixed rate, one
// rate after another, and watches the backlog: the sustained rate is the
// highest one at which the backlog stays flat.

// sustainedResult is what one fixed-rate run saw.
type sustainedResult struct {
	offered, achieved float64 // requests per second
	backlogAt10s      float64 // pending events 10 s in, once the run has settled (NaN: unreadable)
	backlogEnd        float64 // pending events at the end (NaN: unreadable)
	failed            int64   // answers other than 200
}

// verdict is "flat" when the service kept up: every offered request was
// sent and answered 200, and the backlog grew by less than one second of
// ingest between 10 s in and the end; otherwise it says what went wrong.
// A backlog that could not be read is no flat one.
func (r sustainedResult) verdict() string {
	switch {
	case r.failed > 0:
		return "answers failed"
	case r.achieved < 0.98*r.offered:
		return "not offered in full (the service answers too slowly)"
	case math.IsNaN(r.backlogAt10s) || math.IsNaN(r.backlogEnd):
		return "backlog unreadable (JetStream or /metrics did not answer)"
	case r.backlogEnd-r.backlogAt10s >= r.offered:
		return "grows"
	}
	return "flat"
}

// runSustained offers rate requests/s for seconds over conns connections.
// url is called for every request (it returns a URL signed within the
// last second); body gets a unique suffix per request.
func runSustained(rate float64, seconds, conns int, url func() string, admin, body, nonce string) sustainedResult {
	tokens := make(chan struct{}, conns)
	var sent, failed atomic.Int64
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns}, Timeout: 10 * time.Second}
	defer client.CloseIdleConnections()
	var wg sync.WaitGroup
	var counter atomic.Int64
	for range conns {
		wg.Go(func() {
			for range tokens {
				b := fmt.Sprintf(body, fmt.Sprintf("%s-%d", nonce, counter.Add(1)))
				resp, err := client.Post(url(), "application/json", strings.NewReader(b))
				if err != nil {
					failed.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					failed.Add(1)
				}
				sent.Add(1)
			}
		})
	}
	res := sustainedResult{offered: rate}
	start := time.Now()
	tick := time.NewTicker(time.Millisecond)
	owed := 0.0
	last := start
	sampled := false
	for now := range tick.C {
		elapsed := now.Sub(start)
		if elapsed >= time.Duration(seconds)*time.Second {
			break
		}
		if !sampled && elapsed >= 10*time.Second {
			res.backlogAt10s, sampled = pendingNow(admin), true
		}
		owed += rate * now.Sub(last).Seconds()
		last = now
		for ; owed >= 1; owed-- {
			select {
			case tokens <- struct{}{}:
			default: // every connection busy: the request is not offered, and achieved falls short
			}
		}
	}
	tick.Stop()
	close(tokens)
	wg.Wait()
	res.achieved = float64(sent.Load()) / time.Since(start).Seconds()
	res.backlogEnd = pendingNow(admin)
	res.failed = failed.Load()
	return res
}

// pendingNow is the durable service's backlog, NaN when it cannot be read
// (the service's gauge is NaN itself when JetStream does not answer): not
// 0, which would pass for a flat backlog.
func pendingNow(admin string) float64 {
	v, err := readMetric(admin, "imcallback_delivery_pending")
	if err != nil {
		return math.NaN()
	}
	return v
}

// sustained runs the rates in order against the durable service until one
// is not flat, waiting for the backlog to drain between rates, and prints
// each run and the highest flat rate.
func sustained(rates []float64, seconds, conns int, svc *proc, admin, command, body, nonce string) {
	url := (&signer{svc: svc, command: command}).url
	fmt.Printf("durable-sqlite, sustained rate: %d s at each fixed rate over %d connections (Go client, same cores)\n", seconds, conns)
	best := 0.0
	for i, rate := range rates {
		waitDrained(admin)
		r := runSustained(rate, seconds, conns, url, admin, body, fmt.Sprintf("%s-sustained-%d", nonce, i))
		verdict := r.verdict()
		fmt.Printf("  offered %6.0f/s: sent %6.0f/s, %d failed, backlog %.0f at 10 s, %.0f at the end: %s\n",
			r.offered, r.achieved, r.failed, r.backlogAt10s, r.backlogEnd, verdict)
		if verdict != "flat" {
			break
		}
		best = rate
	}
	fmt.Printf("  sustained rate: %.0f events/s (the highest rate tried with a flat backlog)\n\n", best)
}

// signer hands out the callback URL, signed again once it is a second old
// (the service refuses a RequestTime outside its window).
type signer struct {
	svc     *proc
	command string

	mu     sync.Mutex
	signed time.Time
	last   string
}

func (s *signer) url() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if time.Since(s.signed) >= time.Second {
		s.last, s.signed = s.svc.url(s.command), time.Now()
	}
	return s.last
}
