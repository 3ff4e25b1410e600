package main

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imcallback/imcallback/config"
)

// wrkOutput is wrk --latency's report with the given Requests/sec, 99%
// latency and extra lines (errors) before Requests/sec.
func wrkOutput(rps, p99, extra string) string {
	return `Running 10s test @ http://127.0.0.1:40000/im/callback?x=1
  1 threads and 64 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.02ms  512.00us  20.00ms   90.00%
    Req/Sec    62.1k     3.2k    70.0k    80.00%
  Latency Distribution
     50%  800.00us
     75%    1.10ms
     90%    1.60ms
     99%  ` + p99 + `
  621000 requests in 10.00s, 80.00MB read
` + extra + `Requests/sec:  ` + rps + `
Transfer/sec:      8.00MB
`
}

func TestParseWrk(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		rps     float64
		p99     time.Duration
		wantErr string
	}{
		{"microseconds", wrkOutput("62100.45", "950.00us", ""), 62100.45, 950 * time.Microsecond, ""},
		{"milliseconds", wrkOutput("62100.45", "3.27ms", ""), 62100.45, 3270 * time.Microsecond, ""},
		{"seconds", wrkOutput("1200.00", "1.02s", ""), 1200, 1020 * time.Millisecond, ""},
		{"minutes", wrkOutput("10.00", "1.50m", ""), 10, 90 * time.Second, ""},
		{"non-2xx", wrkOutput("90000.00", "1.00ms", "  Non-2xx or 3xx responses: 12\n"), 0, 0, "2xx"},
		{"timeouts", wrkOutput("500.00", "1.90s", "  Socket errors: connect 0, read 0, write 0, timeout 37\n"), 0, 0, "timeout 37"},
		{"connect errors", wrkOutput("500.00", "1.00ms", "  Socket errors: connect 3, read 0, write 0, timeout 0\n"), 0, 0, "connect 3"},
		{"no requests", wrkOutput("0.00", "0.00us", ""), 0, 0, "Requests/sec"},
		{"no latency distribution", strings.Replace(wrkOutput("100.00", "1.00ms", ""), "     99%  1.00ms\n", "", 1), 0, 0, "99%"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := parseWrk(tt.text)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseWrk: err %v, want one mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseWrk: %v", err)
			}
			if r.rps != tt.rps || r.p99 != tt.p99 {
				t.Fatalf("parseWrk = %v req/s, p99 %v; want %v, %v", r.rps, r.p99, tt.rps, tt.p99)
			}
		})
	}
}

func TestMedian(t *testing.T) {
	tests := []struct {
		in   []float64
		want float64
	}{
		{[]float64{0.7}, 0.7},
		{[]float64{0.9, 0.5, 0.7}, 0.7},
		{[]float64{0.8, 0.2, 0.6, 0.4}, 0.5},
		{[]float64{1, 4}, 2.5},
	}
	for _, tt := range tests {
		if got := median(tt.in); got != tt.want {
			t.Errorf("median(%v) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// TestBacklogPeakCountsTheLastSample: a backlog still growing when the
// round ends peaks at its last sample, so the peak is never below the
// backlog at the end.
func TestBacklogPeakCountsTheLastSample(t *testing.T) {
	admin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "# TYPE imcallback_delivery_pending gauge\nimcallback_delivery_pending 1234\n")
	}))
	defer admin.Close()
	// Stopped before the first 500 ms sample: the last sample is the only one.
	b := watchBacklog(strings.TrimPrefix(admin.URL, "http://")).stop()
	if b.last != 1234 || b.peak != 1234 {
		t.Fatalf("backlog peak %v, at the end %v; want 1234 both", b.peak, b.last)
	}
}

// TestBacklogProcessedCountsOnlySuccessfulRuns: the durable row's
// processed rate counted every handler run, failed ones (an error, an
// undecodable event, retried again and again) included, so a row whose
// handler failed reported the failures as processed events. It counts the
// runs with outcome ok, and the failed runs apart.
func TestBacklogProcessedCountsOnlySuccessfulRuns(t *testing.T) {
	var scrapes atomic.Int64
	admin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		ok, failed := 0, 0
		if scrapes.Add(1) > 1 { // after the round's first scrape
			ok, failed = 10, 1000
		}
		_, _ = fmt.Fprintf(w, "# TYPE imcallback_delivery_processed_total counter\n"+
			"imcallback_delivery_processed_total{command=\"Group.CallbackAfterCreateTopic\",outcome=\"error\"} %d\n"+
			"imcallback_delivery_processed_total{command=\"Group.CallbackAfterCreateTopic\",outcome=\"ok\"} %d\n"+
			"imcallback_delivery_processed_total{command=\"Group.CallbackAfterCreateTopic\",outcome=\"undecodable\"} 0\n"+
			"imcallback_delivery_pending 0\n", failed, ok)
	}))
	defer admin.Close()
	b := watchBacklog(strings.TrimPrefix(admin.URL, "http://")).stop()
	if b.processed != 10 || b.failed != 1000 {
		t.Fatalf("the round processed %v events and failed %v runs; want 10 and 1000", b.processed, b.failed)
	}
}

// TestDivertedAnswersStopTheRound: wrk counts every 200 as a good answer,
// but the service also answers 200 when a before-callback's handler did
// not decide (its body did not decode, it ran out of time, too many ran:
// the fallback decision), and a durable event found stored already is
// acknowledged without being stored. A round of those measured another
// path than its row's; the step reads the service's counters after each
// round and stops on any, but for one fallback per connection and round:
// wrk's stop cuts the requests in flight short, and their handlers'
// context ends (cause canceled).
func TestDivertedAnswersStopTheRound(t *testing.T) {
	const clean = "imcallback_callbacks_total{app=\"1400000000\",command=\"C2C.CallbackBeforeSendMsg\",outcome=\"allow\"} 5000\n" +
		"imcallback_callbacks_total{app=\"1400000000\",command=\"C2C.CallbackBeforeSendMsg\",outcome=\"fallback\"} 0\n" +
		"imcallback_callbacks_total{app=\"1400000000\",command=\"C2C.CallbackBeforeSendMsg\",outcome=\"overloaded\"} 0\n" +
		"imcallback_delivery_duplicates_total{command=\"Group.CallbackAfterCreateTopic\"} 0\n"
	for _, tt := range []struct {
		name, metrics, wantErr string
	}{
		{"the row's path", clean, ""},
		{"fallbacks of requests cut short", strings.Replace(clean, `outcome="fallback"} 0`, `outcome="fallback"} 10`, 1), ""},
		{"fallbacks", strings.Replace(clean, `outcome="fallback"} 0`, `outcome="fallback"} 12`, 1), "12 before-callbacks answered with the fallback"},
		{"overloaded", strings.Replace(clean, `outcome="overloaded"} 0`, `outcome="overloaded"} 3`, 1), "3 before-callbacks answered with the fallback"},
		{"duplicates", strings.Replace(clean, `AfterCreateTopic"} 0`, `AfterCreateTopic"} 7`, 1), "7 events stored already"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			admin := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				_, _ = io.WriteString(w, tt.metrics)
			}))
			defer admin.Close()
			err := divertedAnswers(strings.TrimPrefix(admin.URL, "http://"), 10)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("divertedAnswers: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("divertedAnswers: err %v, want one mentioning %q", err, tt.wantErr)
			}
		})
	}
}

// TestSignWindowOutlastsTheRun: the service accepts the URL signed as a
// wrk run starts until the run ends, with a minute to spare.
func TestSignWindowOutlastsTheRun(t *testing.T) {
	for _, tt := range []struct {
		seconds int
		want    string
	}{
		{10, "IMCALLBACK_SIGN_WINDOW=70s"},
		{60, "IMCALLBACK_SIGN_WINDOW=120s"},
		{300, "IMCALLBACK_SIGN_WINDOW=360s"},
	} {
		if got := signWindowEnv(tt.seconds); got != tt.want {
			t.Errorf("signWindowEnv(%d) = %s, want %s", tt.seconds, got, tt.want)
		}
	}
	// The longest run -seconds allows gets a window the service takes;
	// one a second longer would get one it refuses. With durable delivery
	// the window may be no longer than the duplicate window the rows keep
	// (the default), so the durable rows' longest run is shorter.
	load := func(seconds int, delivery string) error {
		_, err := config.Load(config.Source{Environ: func() []string {
			return []string{"IMCALLBACK_SDKAPPID=" + appID, signWindowEnv(seconds), "IMCALLBACK_DELIVERY=" + delivery}
		}})
		return err
	}
	for _, tt := range []struct {
		delivery string
		longest  int
	}{{"inline", maxSeconds}, {"durable", maxDurableSeconds}} {
		if err := load(tt.longest, tt.delivery); err != nil {
			t.Errorf("%s: the window of a run of -seconds %d: %v", tt.delivery, tt.longest, err)
		}
		if err := load(tt.longest+1, tt.delivery); err == nil {
			t.Errorf("%s: the window of a run of -seconds %d is taken: %d is not the longest", tt.delivery, tt.longest+1, tt.longest)
		}
	}
	// The step refuses a run its durable rows' services would refuse to
	// start for, before it builds anything.
	all := rows("")
	inline, _ := selectRows(all, "chain-unknown,inline-sqlite", false)
	durable, _ := selectRows(all, "chain-unknown,durable-paused", false)
	if err := durableSecondsProblem(inline, maxSeconds, nil); err != nil {
		t.Errorf("inline rows, -seconds %d: %v", maxSeconds, err)
	}
	if err := durableSecondsProblem(durable, maxDurableSeconds, nil); err != nil {
		t.Errorf("a durable row, -seconds %d: %v", maxDurableSeconds, err)
	}
	if err := durableSecondsProblem(durable, maxDurableSeconds+1, nil); err == nil || !strings.Contains(err.Error(), "durable-paused") {
		t.Errorf("a durable row, -seconds %d: %v, want a refusal naming the row", maxDurableSeconds+1, err)
	}
	// A duplicate window of the run's own (-env) moves the bound with it,
	// as the service's refusal moves: an hour takes the longest run, whose
	// window the service takes beside it.
	hour := []string{"IMCALLBACK_DEDUP_WINDOW=1h"}
	if err := durableSecondsProblem(durable, maxSeconds, hour); err != nil {
		t.Errorf("a durable row with -env %s, -seconds %d: %v", hour[0], maxSeconds, err)
	}
	if _, err := config.Load(config.Source{Environ: func() []string {
		return []string{"IMCALLBACK_SDKAPPID=" + appID, signWindowEnv(maxSeconds), "IMCALLBACK_DELIVERY=durable", hour[0]}
	}}); err != nil {
		t.Errorf("the service refuses the run durableSecondsProblem takes: %v", err)
	}
	short := []string{"IMCALLBACK_DEDUP_WINDOW=2m"}
	if err := durableSecondsProblem(durable, 61, short); err == nil || !strings.Contains(err.Error(), "2m0s") {
		t.Errorf("a durable row with -env %s, -seconds 61: %v, want a refusal naming the window", short[0], err)
	}
}

// TestDrainReportsAStuckOrUnreadableBacklog: the wait before a round does
// not pass as drained when the backlog stays or cannot be read.
func TestDrainReportsAStuckOrUnreadableBacklog(t *testing.T) {
	stuck := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "imcallback_delivery_pending{stream=\"a\"} 3\nimcallback_delivery_pending{stream=\"b\"} 4\n")
	}))
	defer stuck.Close()
	drained := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "imcallback_delivery_pending 0\n")
	}))
	defer drained.Close()
	broken := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	defer broken.Close()
	host := func(s *httptest.Server) string { return strings.TrimPrefix(s.URL, "http://") }
	for _, tt := range []struct {
		name, admin, wantErr string
	}{
		{"drained", host(drained), ""},
		{"stuck", host(stuck), "7 events still pending"},
		{"metrics refused", host(broken), "503"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := drain(tt.admin, 0, time.Millisecond)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("drain: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("drain: err %v, want one mentioning %q", err, tt.wantErr)
			}
		})
	}
}

func TestSelectRows(t *testing.T) {
	all := rows("postgres://x")
	names := func(rs []row) string {
		var n []string
		for _, r := range rs {
			n = append(n, r.name)
		}
		return strings.Join(n, ",")
	}
	for _, tt := range []struct {
		name, only string
		sustained  bool
		want       string // the rows, or the error's text
		wantErr    bool
	}{
		{"all", "", false, names(all), false},
		{"some, in the table's order", "durable-sqlite, chain-unknown", false, "chain-unknown,durable-sqlite", false},
		{"unknown row", "chain-unknwon", false, `no row "chain-unknwon"`, true},
		{"sustained runs the durable row alone", "", true, "durable-sqlite", false},
		{"sustained with it named", "chain-unknown,durable-sqlite", true, "durable-sqlite", false},
		{"sustained without it", "chain-unknown", true, "leaves it out", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := selectRows(all, tt.only, tt.sustained)
			if tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("selectRows: err %v, want one mentioning %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("selectRows: %v", err)
			}
			if names(got) != tt.want {
				t.Fatalf("selectRows = %s, want %s", names(got), tt.want)
			}
		})
	}
}

// TestSplitEnv: -env's settings are split at the commas that start another
// NAME=value; a comma inside a value (a list such as IMCALLBACK_BACKOFF's)
// stays in it, and an entry that is no setting is refused.
func TestSplitEnv(t *testing.T) {
	for _, tt := range []struct {
		in      string
		want    []string
		wantErr string
	}{
		{"", nil, ""},
		{"IMCALLBACK_LOG_BUFFER=0", []string{"IMCALLBACK_LOG_BUFFER=0"}, ""},
		{"IMCALLBACK_WORKERS=1,IMCALLBACK_LOG_BUFFER=0", []string{"IMCALLBACK_WORKERS=1", "IMCALLBACK_LOG_BUFFER=0"}, ""},
		{"IMCALLBACK_BACKOFF=10ms,100ms,1s,IMCALLBACK_WORKERS=2",
			[]string{"IMCALLBACK_BACKOFF=10ms,100ms,1s", "IMCALLBACK_WORKERS=2"}, ""},
		{"IMCALLBACK_WORKERS=1,", []string{"IMCALLBACK_WORKERS=1"}, ""},
		{"100ms,IMCALLBACK_WORKERS=2", nil, `"100ms"`},
		{"=1", nil, `"=1"`},
	} {
		got, err := splitEnv(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("splitEnv(%q): %v, %v; want an error mentioning %s", tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("splitEnv(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

// TestAdminReadsGiveUpOnAServiceThatNeverAnswers: a service that takes
// the connection and never answers (stopped in a debugger, its admin
// listener wedged) made readMetric, and with it the whole step, wait for
// ever. The step's reads give up after adminTimeout with an error.
func TestAdminReadsGiveUpOnAServiceThatNeverAnswers(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	defer func(d time.Duration) { adminTimeout = d }(adminTimeout)
	adminTimeout = 100 * time.Millisecond
	done := make(chan error, 1)
	go func() {
		_, err := readMetric(strings.TrimPrefix(srv.URL, "http://"), "x")
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("readMetric of a service that never answered read a value")
		}
	case <-time.After(20 * time.Second): // a guard against the hang, not a measure
		t.Fatal("readMetric still waits for a service that never answers")
	}
}

// TestServersGetOnlyTheRowsSettings: the services of a row took every
// IMCALLBACK_ setting of the shell that ran the step besides the row's
// own, so an IMCALLBACK_STORE_DSN or IMCALLBACK_NATS_URL left exported
// (from trying the service by hand) had the SQLite rows measure
// PostgreSQL, or the durable rows another NATS server, under the rows'
// names. A service now gets only the row's settings and -env's; the rest of
// the environment (PATH, GOMAXPROCS, GOGC) is still passed on.
func TestServersGetOnlyTheRowsSettings(t *testing.T) {
	t.Setenv("IMCALLBACK_STORE_DSN", "postgres://elsewhere/db")
	t.Setenv("IMCALLBACK_NATS_URL", "nats://elsewhere:4222")
	t.Setenv("IMCALLBACK_LISTEN", "0.0.0.0:8080")
	t.Setenv("GOMAXPROCS", "2")
	env := serverEnv("127.0.0.1:1234", []string{"IMCALLBACK_DELIVERY=inline", "IMCALLBACK_LOG_BUFFER=0"})
	var settings []string
	for _, kv := range env {
		if strings.HasPrefix(kv, "IMCALLBACK_") {
			settings = append(settings, kv)
		}
	}
	want := []string{"IMCALLBACK_LISTEN=127.0.0.1:1234", "IMCALLBACK_DELIVERY=inline", "IMCALLBACK_LOG_BUFFER=0"}
	if !slices.Equal(settings, want) {
		t.Errorf("the service's settings are %q, want %q", settings, want)
	}
	if !slices.Contains(env, "GOMAXPROCS=2") {
		t.Errorf("GOMAXPROCS of the step's environment is not passed on: %q", env)
	}
}
