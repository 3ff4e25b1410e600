// Command wrkload is the load step of `make bench`: wrk against the real
// service binary (bench/service) and against a bare echo server
// (bench/echo), the same seconds each, in alternating rounds, one row per
// configuration. It prints each round's req/s, p99 and ratio, then a table
// of median ratios with the service's peak RSS.
//
//	go run ./bench/wrkload [-rounds 3] [-seconds 10] [-connections 64] [-rows chain-unknown,durable-sqlite]
//
// With -baseline-root DIR the rounds alternate with bench/service built
// from another checkout instead of bare echo: an A/B run of two versions
// in one sequence, so the machine's drift between runs does not decide it.
//
// The durable-paused row pauses the workers for each service round: the
// acknowledgement path alone, the most the durable row could reach here
// if processing took no CPU while loaded.
//
// The PostgreSQL row runs when IMCALLBACK_TEST_POSTGRES_DSN is set, each
// of its services storing in a fresh schema of that database, dropped when
// the step ends. wrk
// comes from Debian's wrk package; without it the step says so and exits 0
// (-sustained, which offers its rates with a Go client, runs without it).
package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/imcallback/imcallback/config"
	"github.com/imcallback/imcallback/imsend"
	"github.com/imcallback/imcallback/internal/pgtest"
	"github.com/imcallback/imcallback/protocol"
)

const (
	appID = "1400000000"
	token = "bench-token"
)

// row is one configuration of the service under load.
type row struct {
	name    string
	command string   // CallbackCommand of the requests
	body    string   // the body; with unique, "%s" marks where the TopicId's suffix goes
	unique  bool     // a unique TopicId per request (bench/wrk/unique.lua)
	env     []string // the service's settings besides the common ones
	needPG  bool
	// pause stops the durable workers (POST /v1/delivery/pause) for each
	// service round and resumes them after it: the acknowledgement path
	// alone, the ceiling of the durable row on this machine.
	pause bool
}

func rows(pgDSN string) []row {
	topic := `{"CallbackCommand":"Group.CallbackAfterCreateTopic","GroupId":"@TGS#2J4SZEAEL",` +
		`"TopicId":"@TGS#_@TGS#cQVLVHIM62CJ@TOPIC#_bench-%s","Operator_Account":"group_root","Owner_Account":"leckie",` +
		`"Type":"Community","Name":"MyFirstTopic","UserDefinedDataList":[{"Key":"UserDefined1","Value":"hello"},` +
		`{"Key":"UserDefined2","Value":"world"}]}`
	before, err := imsend.Sample("C2C.CallbackBeforeSendMsg")
	if err != nil {
		panic(err)
	}
	return []row{
		{name: "chain-unknown", command: "Bench.CallbackUnknown", body: `{"CallbackCommand":"Bench.CallbackUnknown","EventTime":1700000000000}`,
			env: []string{"IMCALLBACK_DELIVERY=inline"}},
		{name: "chain-before-allow", command: "C2C.CallbackBeforeSendMsg", body: string(before), env: []string{"IMCALLBACK_DELIVERY=inline"}},
		{name: "inline-sqlite", command: "Group.CallbackAfterCreateTopic", body: topic, unique: true, env: []string{"IMCALLBACK_DELIVERY=inline"}},
		{name: "inline-postgres", command: "Group.CallbackAfterCreateTopic", body: topic, unique: true, needPG: true,
			env: []string{"IMCALLBACK_DELIVERY=inline", "IMCALLBACK_STORE_DSN=" + pgDSN}},
		{name: "durable-sqlite", command: "Group.CallbackAfterCreateTopic", body: topic, unique: true, env: []string{"IMCALLBACK_DELIVERY=durable"}},
		{name: "durable-paused", command: "Group.CallbackAfterCreateTopic", body: topic, unique: true, env: []string{"IMCALLBACK_DELIVERY=durable"},
			pause: true},
	}
}

// sustainedRow is the row -sustained offers its fixed rates to.
const sustainedRow = "durable-sqlite"

// selectRows is the rows to run: those only names (comma-separated; all
// when empty), and with sustained the durable row alone, which is the one
// it measures. An unknown name is an error rather than a row silently
// left out.
func selectRows(all []row, only string, sustained bool) ([]row, error) {
	var names []string
	for n := range strings.SplitSeq(only, ",") {
		if n = strings.TrimSpace(n); n != "" {
			names = append(names, n)
		}
	}
	for _, n := range names {
		if !slices.ContainsFunc(all, func(r row) bool { return r.name == n }) {
			known := make([]string, len(all))
			for i, r := range all {
				known[i] = r.name
			}
			return nil, fmt.Errorf("-rows: no row %q (the rows: %s)", n, strings.Join(known, ", "))
		}
	}
	if sustained {
		if len(names) > 0 && !slices.Contains(names, sustainedRow) {
			return nil, fmt.Errorf("-sustained measures the %s row; -rows leaves it out", sustainedRow)
		}
		names = []string{sustainedRow}
	}
	var out []row
	for _, r := range all {
		if len(names) == 0 || slices.Contains(names, r.name) {
			out = append(out, r)
		}
	}
	return out, nil
}

// round is one wrk run's result.
type round struct {
	rps float64
	p99 time.Duration
}

func main() {
	rounds := flag.Int("rounds", 3, "alternating rounds per row (at least 3)")
	seconds := flag.Int("seconds", 10, "seconds of each wrk run")
	conns := flag.Int("connections", 64, "wrk connections (-c); one wrk thread (-t1)")
	only := flag.String("rows", "", "comma-separated rows to run (default all)")
	extraEnv := flag.String("env", "", "comma-separated extra NAME=value settings for the service (e.g. IMCALLBACK_LOG_BUFFER=0,IMCALLBACK_BACKOFF=10ms,100ms: a comma not followed by NAME= stays in the value)")
	serviceRoot := flag.String("service-root", "", "build bench/service from this checkout instead (to compare two versions; it must have bench/service)")
	baselineRoot := flag.String("baseline-root", "", "alternate with bench/service built from this checkout instead of bare echo (an A/B run of two versions; it must have bench/service)")
	sustainedRates := flag.String("sustained", "", "comma-separated fixed rates (events/s) to offer the durable row instead of its wrk rounds, each for -sustained-seconds; prints the highest at which the backlog stays flat")
	sustainedSeconds := flag.Int("sustained-seconds", 60, "seconds at each -sustained rate")
	sustainedConns := flag.Int("sustained-connections", 256, "connections of the -sustained load (enough that a fixed rate is offered even while answers wait for the stream)")
	profileDir := flag.String("profile", "", "save a CPU profile of the service's last round of each row in this folder (<row>.pprof)")
	flag.Parse()
	var rates []float64
	for _, f := range strings.FieldsFunc(*sustainedRates, func(r rune) bool { return r == ',' }) {
		rate, err := strconv.ParseFloat(f, 64)
		if err != nil || rate <= 0 {
			fail(fmt.Sprintf("-sustained: %q is not a positive rate", f))
		}
		rates = append(rates, rate)
	}
	if len(rates) > 0 && *sustainedSeconds < 20 {
		fail("-sustained-seconds must be at least 20 (the backlog is compared from 10 s in)")
	}
	if *rounds < 3 {
		fail("-rounds must be at least 3")
	}
	if *seconds > maxSeconds {
		fail(fmt.Sprintf("-seconds must be at most %d: the service's sign window, the run's length plus a minute, may be at most %v",
			maxSeconds, config.MaxSignWindow))
	}
	if *baselineRoot != "" && len(rates) > 0 {
		fail("-baseline-root compares wrk rounds; it does not combine with -sustained")
	}
	extra, err := splitEnv(*extraEnv)
	if err != nil {
		fail(err.Error())
	}
	if picked, err := selectRows(rows(""), *only, len(rates) > 0); err != nil {
		fail(err.Error())
	} else if err := durableSecondsProblem(picked, *seconds, extra); err != nil {
		fail(err.Error())
	}
	var wrk string
	if len(rates) == 0 { // -sustained offers its rates with a Go client
		if wrk, err = exec.LookPath("wrk"); err != nil {
			fmt.Println("wrkload: wrk is not installed (apt-get install -y wrk): the wrk load step is skipped")
			return
		}
	}
	root, err := repoRoot()
	if err != nil {
		fail(err.Error())
	}
	defer stopOnSignals()()
	dir := workDir()
	defer os.RemoveAll(dir)
	defer dropSchemas() // after the services' stops, deferred or in the loop
	serviceSrc := root
	if *serviceRoot != "" {
		serviceSrc = *serviceRoot
	}
	service := build(serviceSrc, dir, "./bench/service")
	baselineName := "echo"
	var baseline string
	var echoProc *proc
	if *baselineRoot != "" {
		baselineName = "baseline"
		baseline = build(*baselineRoot, filepath.Join(dir, "baseline"), "./bench/service")
	} else {
		echoProc = start(build(root, dir, "./bench/echo"), freeAddr(), nil, filepath.Join(dir, "echo.log"), "")
		defer echoProc.stop()
	}

	nonce := make([]byte, 4)
	_, _ = rand.Read(nonce)
	pg := os.Getenv("IMCALLBACK_TEST_POSTGRES_DSN")
	var results []string
	if len(rates) == 0 {
		fmt.Printf("wrk -t1 -c%d, %d s per run, %d alternating rounds per row; service: bench/service (the stock binary plus a trivial allow handler), JSON logs to a file\n",
			*conns, *seconds, *rounds)
		if baseline != "" {
			fmt.Printf("baseline (instead of bare echo): bench/service from %s, the same settings\n", *baselineRoot)
		}
		fmt.Println()
	}
	selected, err := selectRows(rows(pg), *only, len(rates) > 0)
	if err != nil {
		fail(err.Error())
	}
	for _, r := range selected {
		if r.needPG && pg == "" {
			fmt.Printf("%s: skipped (set IMCALLBACK_TEST_POSTGRES_DSN to run it)\n\n", r.name)
			continue
		}
		serviceEnv := func(data, admin string) []string { return serviceEnv(r, data, admin, *seconds, extra) }
		admin := freeAddr()
		durable := slices.Contains(r.env, "IMCALLBACK_DELIVERY=durable")
		svc := start(service, freeAddr(), serviceEnv(filepath.Join(dir, r.name), admin), filepath.Join(dir, r.name+".log"), "serve")
		other, otherAdmin := echoProc, ""
		if baseline != "" {
			otherAdmin = freeAddr()
			other = start(baseline, freeAddr(), serviceEnv(filepath.Join(dir, r.name+"-baseline"), otherAdmin),
				filepath.Join(dir, r.name+"-baseline.log"), "serve")
		}
		if durable && len(rates) > 0 && !r.pause {
			sustained(rates, *sustainedSeconds, *sustainedConns, svc, admin, r.command, r.body, hex.EncodeToString(nonce))
			fmt.Printf("  memory at the end: %s; peak RSS %.0f MiB\n", svc.memory(admin), float64(svc.peakRSS())/(1<<20))
			svc.stop()
			return
		}
		var ratios []float64
		var backlogs []backlog
		fmt.Printf("%s (%s)\n", r.name, r.command)
		for i := range *rounds {
			script, body := filepath.Join(root, "bench/wrk/fixed.lua"), r.body
			if r.unique {
				script = filepath.Join(root, "bench/wrk/unique.lua")
			}
			runNonce := fmt.Sprintf("%s-%s-%d", hex.EncodeToString(nonce), r.name, i)
			if durable { // the workers' drain would take the echo round's CPU
				waitDrained(admin)
			}
			pauseBaseline := r.pause && baseline != "" // the same ceiling of the other version
			if pauseBaseline {
				adminPost(otherAdmin, "/v1/delivery/pause")
			}
			e := runWrk(wrk, *conns, *seconds, script, body, runNonce+"-"+baselineName, other.url(r.command))
			if pauseBaseline {
				adminPost(otherAdmin, "/v1/delivery/resume")
			}
			if baseline != "" {
				checkAnswers(r.name+", the baseline's round", otherAdmin, i+1, *conns)
			}
			if durable && baseline != "" { // nor the baseline's drain the service round's
				waitDrained(otherAdmin)
			}
			if r.pause {
				adminPost(admin, "/v1/delivery/pause")
			}
			var watch *backlogWatch
			if durable {
				watch = watchBacklog(admin)
			}
			var prof chan error
			if *profileDir != "" && i == *rounds-1 {
				prof = saveProfile(admin, *seconds-1, filepath.Join(*profileDir, r.name+".pprof"))
			}
			s := runWrk(wrk, *conns, *seconds, script, body, runNonce, svc.url(r.command))
			if prof != nil {
				if err := <-prof; err != nil {
					fmt.Printf("  profile: %v\n", err)
				}
			}
			if watch != nil {
				w := watch.stop()
				failed := ""
				if w.failed > 0 {
					failed = fmt.Sprintf(" (and %.0f failed handler runs, retried)", w.failed)
				}
				fmt.Printf("  round %d durable: acknowledged %.0f/s, processed %.0f/s while loaded%s, backlog peak %.0f, %.0f at the end\n",
					i+1, s.rps, w.processedRate, failed, w.peak, w.last)
				backlogs = append(backlogs, w)
			}
			if r.pause {
				adminPost(admin, "/v1/delivery/resume")
			}
			checkAnswers(r.name+", the service's round", admin, i+1, *conns) // once the watch has its figures of the round alone
			ratio := s.rps / e.rps
			ratios = append(ratios, ratio)
			fmt.Printf("  round %d: %s %8.0f req/s p99 %-9v  service %8.0f req/s p99 %-9v  ratio %.2f\n",
				i+1, baselineName, e.rps, e.p99, s.rps, s.p99, ratio)
		}
		if durable {
			pending0 := metric(admin, "imcallback_delivery_pending")
			took := waitDrained(admin)
			fmt.Printf("  drain after the last round: %.0f events in %.1f s (%.0f/s)\n", pending0, took.Seconds(), pending0/took.Seconds())
		}
		peak := svc.peakRSS()
		fmt.Printf("  memory at the end: %s\n", svc.memory(admin))
		if *profileDir != "" {
			if err := saveHeapProfile(admin, filepath.Join(*profileDir, r.name+".heap.pprof")); err != nil {
				fmt.Printf("  heap profile: %v\n", err)
			}
		}
		svc.stop()
		if baseline != "" {
			other.stop()
		}
		med := median(ratios)
		fmt.Printf("  median ratio %.2f, service peak RSS %.0f MiB\n\n", med, float64(peak)/(1<<20))
		results = append(results, fmt.Sprintf("| %s | %.2f | %.0f MiB |", r.name, med, float64(peak)/(1<<20)))
	}
	share := "bare echo"
	if baseline != "" {
		share = "the baseline's"
	}
	fmt.Printf("| row | median share of %s req/s | service peak RSS |\n", share)
	fmt.Println("|---|---:|---:|")
	for _, l := range results {
		fmt.Println(l)
	}
}

// saveProfile starts a CPU profile of the service for seconds and writes it to path; the
// channel gets the outcome once it is written.
func saveProfile(admin string, seconds int, path string) chan error {
	done := make(chan error, 1)
	go func() {
		done <- download(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", admin, seconds), path, time.Duration(seconds)*time.Second)
	}()
	return done
}

// saveHeapProfile writes the service's heap profile (after a GC) to path.
func saveHeapProfile(admin, path string) error {
	return download("http://"+admin+"/debug/pprof/heap?gc=1", path, 0)
}

// adminTimeout bounds each request of the step to the service (the
// readiness probe, /metrics, the admin posts, the profiles' downloads on
// top of their seconds), so a service that takes a connection and never
// answers fails the step instead of hanging it.
var adminTimeout = 30 * time.Second

// adminClient is an HTTP client whose requests give up after adminTimeout and
// extra.
func adminClient(extra time.Duration) *http.Client {
	return &http.Client{Timeout: adminTimeout + extra}
}

// download writes what a GET of url answers to path, waiting up to
// adminTimeout and extra for it.
func download(url, path string, extra time.Duration) error {
	resp, err := adminClient(extra).Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, resp.Body)
	return errors.Join(err, f.Close())
}

// runWrk runs wrk once and reads req/s and the p99 latency.
func runWrk(wrk string, conns, seconds int, script, body, nonce, target string) round {
	cmd := exec.Command(wrk, "-t1", fmt.Sprintf("-c%d", conns), fmt.Sprintf("-d%ds", seconds), "--latency", "-s", script, target)
	cmd.Env = append(os.Environ(), "BENCH_BODY="+body, "BENCH_NONCE="+nonce)
	out, err := run(cmd)
	if err != nil {
		fail(fmt.Sprintf("wrk: %v\n%s", err, out))
	}
	r, err := parseWrk(out)
	if err != nil {
		fail(fmt.Sprintf("wrk against %s: %v:\n%s", target, err, out))
	}
	return r
}

var (
	wrkRPS          = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	wrkP99          = regexp.MustCompile(`(?m)^\s+99%\s+(\S+)`)
	wrkSocketErrors = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
)

// parseWrk reads req/s and the p99 latency from wrk's --latency output. A
// run with answers other than 2xx or 3xx, or with socket errors (refused
// connections, resets, requests that timed out), is an error: wrk leaves
// those requests out of its latencies, so the round would look better than
// the service answered.
func parseWrk(text string) (round, error) {
	var r round
	if strings.Contains(text, "Non-2xx or 3xx responses") {
		return r, errors.New("not every answer was 2xx")
	}
	if m := wrkSocketErrors.FindStringSubmatch(text); m != nil && (m[1] != "0" || m[2] != "0" || m[3] != "0" || m[4] != "0") {
		return r, fmt.Errorf("socket errors (connect %s, read %s, write %s, timeout %s)", m[1], m[2], m[3], m[4])
	}
	if m := wrkRPS.FindStringSubmatch(text); m != nil {
		r.rps, _ = strconv.ParseFloat(m[1], 64)
	}
	if r.rps == 0 {
		return r, errors.New("no requests answered (no Requests/sec)")
	}
	m := wrkP99.FindStringSubmatch(text)
	if m == nil {
		return r, errors.New("no 99% latency (wrk ran without --latency?)")
	}
	if r.p99 = parseWrkDuration(m[1]); r.p99 == 0 {
		return r, fmt.Errorf("unreadable 99%% latency %q", m[1])
	}
	return r, nil
}

// parseWrkDuration reads wrk's "850.00us", "1.23ms", "1.02s", "1.50m"
// (0 when it cannot).
func parseWrkDuration(s string) time.Duration {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0
	}
	return d.Round(10 * time.Microsecond)
}

// median is the middle of xs, the mean of the two middle values for an
// even count (xs is sorted in place).
func median(xs []float64) float64 {
	slices.Sort(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

// envName is the NAME= that starts a setting of -env.
var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)

// splitEnv reads -env: NAME=value settings separated by commas. A comma
// starts another setting only where NAME= follows it; otherwise it belongs
// to the value, which may be a list (IMCALLBACK_BACKOFF=10ms,100ms). Text
// before the first setting is an error, not an entry the service ignores.
func splitEnv(s string) ([]string, error) {
	var env []string
	for _, piece := range strings.Split(s, ",") {
		switch {
		case envName.MatchString(piece):
			env = append(env, piece)
		case len(env) > 0:
			env[len(env)-1] += "," + piece
		case piece != "":
			return nil, fmt.Errorf("-env: %q is not a NAME=value setting", piece)
		}
	}
	for i, e := range env {
		env[i] = strings.TrimSuffix(e, ",") // a trailing comma ends the list
	}
	return env, nil
}

// serviceEnv is the settings of row r's service with its data in data and
// its admin listener on admin, for wrk runs of seconds, with the step's
// extra settings last. A PostgreSQL row's service gets a fresh schema of
// the DSN's database (storeSchema).
func serviceEnv(r row, data, admin string, seconds int, extra []string) []string {
	env := append([]string{"IMCALLBACK_SDKAPPID=" + appID, "IMCALLBACK_TOKENS=" + token, "IMCALLBACK_DATA_DIR=" + data,
		"IMCALLBACK_ADMIN_LISTEN=" + admin, "IMCALLBACK_LOG_FORMAT=json", signWindowEnv(seconds)}, r.env...)
	if r.needPG { // a schema of this service's own, not the DSN's
		for i, kv := range env {
			if dsn, ok := strings.CutPrefix(kv, "IMCALLBACK_STORE_DSN="); ok {
				env[i] = "IMCALLBACK_STORE_DSN=" + storeSchema(dsn)
			}
		}
	}
	return append(env, extra...)
}

// signWindowEnv is the service's IMCALLBACK_SIGN_WINDOW for wrk runs of
// seconds: wrk sends one URL, signed as the run starts, for the whole run,
// so the window must outlast it (the default minute would refuse every
// request of a longer run with 401 from then on).
func signWindowEnv(seconds int) string {
	return fmt.Sprintf("IMCALLBACK_SIGN_WINDOW=%ds", seconds+60)
}

// maxSeconds is the longest -seconds: the window signWindowEnv gives its
// run is at most config.MaxSignWindow, the longest the service takes.
const maxSeconds = int(config.MaxSignWindow/time.Second) - 60

// maxDurableSeconds is the longest -seconds with a durable row: with
// durable delivery the service refuses a sign window longer than its
// duplicate window (IMCALLBACK_DEDUP_WINDOW), and the rows keep the
// default one, whose memory (rate × window) the durable row measures,
// unless -env sets another (durableSecondsProblem).
var maxDurableSeconds = int(config.Default().DedupWindow/time.Second) - 60

// durableSecondsProblem refuses -seconds past the longest run a durable
// row of rows takes: its service would refuse to start. That is
// maxDurableSeconds, or with a duplicate window set in extra (-env
// IMCALLBACK_DEDUP_WINDOW=…) that window less a minute.
func durableSecondsProblem(rows []row, seconds int, extra []string) error {
	window, longest := config.Default().DedupWindow, maxDurableSeconds
	for _, e := range extra {
		if v, ok := strings.CutPrefix(e, "IMCALLBACK_DEDUP_WINDOW="); ok {
			if d, err := config.ParseDuration(v); err == nil { // one that does not parse the service refuses itself
				window, longest = d, int(d/time.Second)-60
			}
		}
	}
	for _, r := range rows {
		if slices.Contains(r.env, "IMCALLBACK_DELIVERY=durable") && seconds > longest {
			return fmt.Errorf("-seconds must be at most %d with the %s row: the service's sign window, the run's length plus a minute, "+
				"may be no longer than its duplicate window, %v (leave the durable rows out with -rows for longer runs, or "+
				"raise the window with -env IMCALLBACK_DEDUP_WINDOW=…)",
				longest, r.name, window)
		}
	}
	return nil
}

// proc is a started process: a server, or wrk.
type proc struct {
	cmd  *exec.Cmd
	addr string
	done chan struct{} // closed once the process has exited
	err  error         // what Wait returned, once done is closed
}

// launch starts cmd, waits for it in the background and adds it to
// running. It starts nothing once the step is ending (a failure or a
// signal stopped the running processes): the process would outlive it.
func launch(cmd *exec.Cmd, addr string) (*proc, error) {
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &proc{cmd: cmd, addr: addr, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	if !running.add(p) {
		_ = cmd.Process.Kill()
		<-p.done
		return nil, errors.New("the step is ending")
	}
	return p, nil
}

// run runs cmd to its end as one of the running processes, so that a
// failure or a signal that ends the step ends it too, and returns its
// output (stdout and stderr) and how it ended.
func run(cmd *exec.Cmd) (string, error) {
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	p, err := launch(cmd, "")
	if err != nil {
		return "", err
	}
	<-p.done
	running.remove(p)
	return out.String(), p.err
}

// start runs bin (with arg, when set) listening on listen, with env added
// to this process's, and waits until it answers; a server that exits
// first fails the step with its log.
func start(bin, listen string, env []string, logFile, arg string) *proc {
	f, err := os.Create(logFile)
	if err != nil {
		fail(err.Error())
	}
	defer f.Close() // the process has its own descriptor
	args := []string{}
	if arg != "" {
		args = append(args, arg)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = serverEnv(listen, env)
	cmd.Stdout, cmd.Stderr = f, f
	p, err := launch(cmd, listen)
	if err != nil {
		fail(err.Error())
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := adminClient(0).Get("http://" + listen + "/")
		if err == nil {
			resp.Body.Close()
			return p
		}
		select {
		case <-p.done:
			b, _ := os.ReadFile(logFile)
			fail(fmt.Sprintf("%s exited at start (%v):\n%s", bin, p.err, b))
		default:
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(logFile)
			fail(fmt.Sprintf("%s did not start:\n%s", bin, b))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// serverEnv is the environment of a server start starts: this process's
// without its IMCALLBACK_ variables, then IMCALLBACK_LISTEN set to listen
// and env (the row's settings and -env's). A setting left exported in the
// shell (IMCALLBACK_STORE_DSN, IMCALLBACK_NATS_URL) would otherwise change
// what a row measures under the row's name.
func serverEnv(listen string, env []string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "IMCALLBACK_") {
			out = append(out, kv)
		}
	}
	return append(append(out, "IMCALLBACK_LISTEN="+listen), env...)
}

// url is the signed callback URL for command, signed now.
func (p *proc) url(command string) string {
	params := protocol.Params{SdkAppid: appID, CallbackCommand: command, ContentType: "json", ClientIP: "127.0.0.1", OptPlatform: "RESTAPI"}
	params.Sign, params.RequestTime = protocol.SignAt(token, time.Now())
	u := url.URL{Scheme: "http", Host: p.addr, Path: "/im/callback", RawQuery: params.Encode()}
	return u.String()
}

// peakRSS is the process's peak resident set (VmHWM).
func (p *proc) peakRSS() int64 { return p.status("VmHWM") }

// status is a size in bytes from the process's /proc status file.
func (p *proc) status(field string) int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// memory says where the process's resident memory is now: what the Go
// runtime holds (bounded by GOMEMLIMIT), its heap and stacks, and the
// resident anonymous and file-backed pages.
func (p *proc) memory(admin string) string {
	mib := func(b float64) string { return fmt.Sprintf("%.0f MiB", b/(1<<20)) }
	return fmt.Sprintf("RSS %s (anonymous %s, files %s); Go runtime %s, of it heap in use %s, stacks %s",
		mib(float64(p.status("VmRSS"))), mib(float64(p.status("RssAnon"))), mib(float64(p.status("RssFile"))),
		mib(metric(admin, "go_memstats_sys_bytes")), mib(metric(admin, "go_memstats_heap_inuse_bytes")),
		mib(metric(admin, "go_memstats_stack_inuse_bytes")))
}

// stop ends the process (SIGTERM, then SIGKILL after 60 s) and waits for it.
// Stopping a stopped process does nothing.
func (p *proc) stop() {
	if !running.remove(p) {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// build builds pkg of the module at root into dir and returns the
// binary. go build keeps its own work folder (GOTMPDIR) in dir: a build
// that a signal ends (SIGTERM removes nothing) goes with the step's folder.
func build(root, dir, pkg string) string {
	goTmp := filepath.Join(dir, "go-tmp")
	if err := os.MkdirAll(goTmp, 0o755); err != nil {
		fail(err.Error())
	}
	out := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOTMPDIR="+goTmp)
	if b, err := run(cmd); err != nil {
		fail(fmt.Sprintf("go build %s: %v\n%s", pkg, err, b))
	}
	return out
}

func repoRoot() (string, error) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		return "", errors.New("run from the repository (go list -m failed)")
	}
	return strings.TrimSpace(string(out)), nil
}

func freeAddr() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fail(err.Error())
	}
	defer l.Close()
	return l.Addr().String()
}

// procs is the set of started processes not yet stopped.
type procs struct {
	mu     sync.Mutex
	procs  []*proc
	closed bool // stopAll ran: the step is ending
}

// running holds every process launch has started and stop has not
// stopped, so fail ends them: os.Exit skips the deferred stops, and the
// servers would otherwise outlive the step, holding their ports and CPU.
var running procs

// add puts p in the set, or reports false once stopAll has run.
func (s *procs) add(p *proc) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.procs = append(s.procs, p)
	return true
}

// remove takes p out of the set and reports whether it was in it.
func (s *procs) remove(p *proc) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.Index(s.procs, p)
	if i < 0 {
		return false
	}
	s.procs = slices.Delete(s.procs, i, i+1)
	return true
}

// stopAll stops every running process, and add refuses any started after.
func (s *procs) stopAll() {
	s.mu.Lock()
	s.closed = true
	ps := slices.Clone(s.procs)
	s.mu.Unlock()
	for _, p := range ps {
		p.stop()
	}
}

// exit ends the step; tests replace it.
var exit = os.Exit

// work is the step's folder of binaries, logs and data (workDir), which
// fail removes too: os.Exit skips the deferred removal.
var work struct {
	mu  sync.Mutex
	dir string
}

// workDir makes the step's temporary folder.
func workDir() string {
	dir, err := os.MkdirTemp("", "imcallback-wrkload-")
	if err != nil {
		fail(err.Error())
	}
	work.mu.Lock()
	defer work.mu.Unlock()
	work.dir = dir
	return dir
}

// fail prints msg, stops the processes the step started, removes its
// folder and exits 1.
func fail(msg string) { end(msg, 1) }

// ending lets one end run: another (the main goroutine failing as a
// signal's end stops its wrk) waits for it, and so for its exit.
var ending sync.Mutex

// end prints msg, stops the processes the step started, removes its
// folder and exits with code.
func end(msg string, code int) {
	ending.Lock()
	defer ending.Unlock() // exit returns only in tests
	fmt.Fprintln(os.Stderr, "wrkload:", msg)
	running.stopAll()
	dropSchemas()
	work.mu.Lock()
	dir := work.dir
	work.mu.Unlock()
	if dir != "" {
		_ = os.RemoveAll(dir)
	}
	exit(code)
}

// stopOnSignals ends the step on SIGINT (Ctrl-C), SIGTERM (a CI job's
// timeout) or SIGHUP as a failure ends it, with exit code 128+signal:
// otherwise the signal kills the step at once, its folder (binaries, the
// services' stores) stays in the temporary directory, and when the step
// alone gets it, its servers run on. It returns the function that stops
// watching, which waits for an end under way (it exits instead).
func stopOnSignals() (stop func()) {
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		select {
		case sig := <-sigs:
			code := 1
			if s, ok := sig.(syscall.Signal); ok {
				code = 128 + int(s)
			}
			end(fmt.Sprintf("%v: the step is stopped", sig), code)
		case <-done:
		}
	}()
	return func() {
		signal.Stop(sigs)
		close(done)
		ending.Lock() // main returning would exit 0 in the middle of a signal's end
		ending.Unlock()
	}
}

// backlog is what the durable row's watch saw during one service round.
type backlog struct {
	processed     float64 // events processed (handler runs with outcome ok) while loaded
	failed        float64 // handler runs that did not succeed (their events are retried) while loaded
	processedRate float64 // processed per second
	peak, last    float64 // pending events
}

// processedOK selects the handler runs that succeeded among
// imcallback_delivery_processed_total's outcomes: a failed run (an error,
// an undecodable event) is no processed event, and its retry runs again.
const processedOK = `outcome="ok"`

// backlogWatch samples the durable service's pending count and processed
// total every 500 ms while wrk runs.
type backlogWatch struct {
	admin string
	done  chan struct{}
	res   chan backlog
}

func watchBacklog(admin string) *backlogWatch {
	w := &backlogWatch{admin: admin, done: make(chan struct{}), res: make(chan backlog, 1)}
	go func() {
		runs := func() (ok, all float64) { // from one scrape: a run between two would count as failed
			all, ok, _ = readMetricWhere(admin, "imcallback_delivery_processed_total", processedOK)
			return ok, all
		}
		start := time.Now()
		ok0, all0 := runs()
		var b backlog
		for {
			select {
			case <-w.done:
				ok, all := runs()
				b.processed, b.failed = ok-ok0, (all-ok)-(all0-ok0)
				b.processedRate = b.processed / time.Since(start).Seconds()
				b.last = metric(admin, "imcallback_delivery_pending")
				b.peak = max(b.peak, b.last) // the last sample is one of the round's too
				w.res <- b
				return
			case <-time.After(500 * time.Millisecond):
				b.peak = max(b.peak, metric(admin, "imcallback_delivery_pending"))
			}
		}
	}()
	return w
}

func (w *backlogWatch) stop() backlog {
	close(w.done)
	return <-w.res
}

// metric is the sum of every series of name in the admin listener's
// /metrics, 0 when it cannot be read.
func metric(admin, name string) float64 {
	v, _ := readMetric(admin, name)
	return v
}

// readMetric is the sum of every series of name in the admin listener's /metrics.
func readMetric(admin, name string) (float64, error) {
	all, _, err := readMetricWhere(admin, name, "")
	return all, err
}

// readMetricWhere reads the admin listener's /metrics once and returns
// the sum of every series of name, and the sum of those with label
// (name="value") among their labels.
func readMetricWhere(admin, name, label string) (all, matching float64, err error) {
	resp, err := adminClient(0).Get("http://" + admin + "/metrics")
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, 0, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name) {
			continue
		}
		rest := line[len(name):]
		if rest == "" || (rest[0] != ' ' && rest[0] != '{') {
			continue
		}
		end := strings.LastIndex(rest, "}")
		fields := strings.Fields(rest[end+1:])
		if len(fields) == 0 {
			continue
		}
		v, _ := strconv.ParseFloat(fields[0], 64)
		all += v
		if label != "" && end > 0 && strings.Contains(","+rest[1:end]+",", ","+label+",") {
			matching += v
		}
	}
	return all, matching, sc.Err()
}

// divertedAnswers reports the callbacks the service at admin answered 200
// off its row's path, which wrk counts as good answers: before-callbacks
// answered with the fallback decision instead of their handler's (its body
// did not decode, it ran out of time, too many handlers ran) and durable
// events found stored already (acknowledged without being stored, as a
// TopicId sent twice would be). The service is a fresh one per row, so any
// since its start is one of the row's rounds. Up to cut fallbacks are not
// reported: the requests a run's end cut short, which wrk does not count.
// When wrk stops it closes its connections with a request in flight on
// each, and a before-handler whose request ended is answered with the
// fallback (its cause "canceled"), so each round can leave one per
// connection.
func divertedAnswers(admin string, cut float64) error {
	_, fallbacks, err := readMetricWhere(admin, "imcallback_callbacks_total", `outcome="fallback"`)
	if err != nil {
		return err
	}
	_, overloaded, err := readMetricWhere(admin, "imcallback_callbacks_total", `outcome="overloaded"`)
	if err != nil {
		return err
	}
	duplicates, err := readMetric(admin, "imcallback_delivery_duplicates_total")
	if err != nil {
		return err
	}
	var problems []string
	if n := fallbacks + overloaded; fallbacks > cut || overloaded > 0 {
		problems = append(problems, fmt.Sprintf("%.0f before-callbacks answered with the fallback decision, not the handler's, more than the %.0f requests the runs' ends can cut short (see the service's log)", n, cut))
	}
	if duplicates > 0 {
		problems = append(problems, fmt.Sprintf("%.0f events stored already (deduplicated, not stored again)", duplicates))
	}
	if len(problems) > 0 {
		return fmt.Errorf("answered 200 off the row's path: %s", strings.Join(problems, "; "))
	}
	return nil
}

// checkAnswers fails the step when the service at admin answered a
// round's callbacks off its row's path (divertedAnswers), after runs wrk
// runs of conns connections each: the round did not measure the row.
func checkAnswers(who, admin string, runs, conns int) {
	if err := divertedAnswers(admin, float64(runs*conns)); err != nil {
		fail(fmt.Sprintf("%s: %v", who, err))
	}
}

// adminPost posts an empty body to the service's admin path and fails the
// run unless it answers 200.
func adminPost(admin, path string) {
	resp, err := adminClient(0).Post("http://"+admin+path, "application/json", nil)
	if err != nil {
		fail(fmt.Sprintf("POST %s: %v", path, err))
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fail(fmt.Sprintf("POST %s: %s: %s", path, resp.Status, body))
	}
}

// waitDrained waits until the durable service has nothing pending and
// returns how long that took; it fails the run when the backlog cannot be
// read or has not drained in 5 minutes, since a round measured while the
// workers drain is not comparable.
func waitDrained(admin string) time.Duration {
	took, err := drain(admin, 5*time.Minute, 200*time.Millisecond)
	if err != nil {
		fail(err.Error())
	}
	return took
}

// drain polls the service's pending count every poll until it is 0 and
// returns how long that took, or an error once limit has passed or the
// count cannot be read.
func drain(admin string, limit, poll time.Duration) (time.Duration, error) {
	start := time.Now()
	for {
		pending, err := readMetric(admin, "imcallback_delivery_pending")
		if err != nil {
			return 0, fmt.Errorf("reading the backlog: %w", err)
		}
		if pending == 0 {
			return time.Since(start), nil
		}
		if time.Since(start) >= limit {
			return 0, fmt.Errorf("the backlog did not drain in %v: %.0f events still pending", limit, pending)
		}
		time.Sleep(poll)
	}
}

// schemas holds the PostgreSQL schemas the step created for its services'
// stores (storeSchema), which dropSchemas drops as the step ends.
var schemas struct {
	mu   sync.Mutex
	made []madeSchema
}

// madeSchema is one schema storeSchema created, in the database of dsn.
type madeSchema struct{ dsn, name string }

// storeSchema creates a schema for one service's store in the database of
// dsn and returns dsn with search_path set to it: the row measures an
// empty table in each run, whatever earlier runs stored, and leaves
// nothing in the database once dropSchemas has run.
func storeSchema(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		fail("IMCALLBACK_TEST_POSTGRES_DSN is not a postgres:// URL") // err would print the password
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	name := "imcb_wrkload_" + hex.EncodeToString(b)
	if err := pgtest.Exec(dsn, "CREATE SCHEMA "+name); err != nil {
		fail(fmt.Sprintf("IMCALLBACK_TEST_POSTGRES_DSN: create schema %s for the PostgreSQL row: %v", name, err))
	}
	schemas.mu.Lock()
	schemas.made = append(schemas.made, madeSchema{dsn: dsn, name: name})
	schemas.mu.Unlock()
	q := u.Query()
	q.Set("search_path", name)
	u.RawQuery = q.Encode()
	return u.String()
}

// dropSchemas drops the schemas storeSchema created, with what their
// services stored; a schema it cannot drop is named on stderr.
func dropSchemas() {
	schemas.mu.Lock()
	made := schemas.made
	schemas.made = nil
	schemas.mu.Unlock()
	for _, m := range made {
		if err := pgtest.Exec(m.dsn, "DROP SCHEMA IF EXISTS "+m.name+" CASCADE"); err != nil {
			fmt.Fprintf(os.Stderr, "wrkload: drop schema %s: %v\n", m.name, err)
		}
	}
}
