// Command wrkload is the load step of `make bench`: wrk against the real
// service binary (bench/service) and against a bare echo server
// (bench/echo), the same seconds each, in alternating rounds, one row per
// configuration. It prints each round's req/s, p99 and ratio, then a table
// of median ratios with the service's peak RSS.
//
//	go run ./bench/wrkload [-rounds 3] [-seconds 10] [-connections 64] [-rows chain-unknown,durable-sqlite]
//
// The PostgreSQL row runs when IMCALLBACK_TEST_POSTGRES_DSN is set. wrk
// comes from Debian's wrk package; without it the step says so and exits 0.
package main

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/imcallback/imcallback/imsend"
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
	}
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
	flag.Parse()
	if *rounds < 3 {
		fail("-rounds must be at least 3")
	}
	wrk, err := exec.LookPath("wrk")
	if err != nil {
		fmt.Println("wrkload: wrk is not installed (apt-get install -y wrk): the wrk load step is skipped")
		return
	}
	root, err := repoRoot()
	if err != nil {
		fail(err.Error())
	}
	dir, err := os.MkdirTemp("", "imcallback-wrkload-")
	if err != nil {
		fail(err.Error())
	}
	defer os.RemoveAll(dir)
	service := build(root, dir, "./bench/service")
	echo := build(root, dir, "./bench/echo")

	echoProc := start(echo, []string{"IMCALLBACK_LISTEN=" + freeAddr()}, filepath.Join(dir, "echo.log"), "")
	defer echoProc.stop()

	nonce := make([]byte, 4)
	_, _ = rand.Read(nonce)
	pg := os.Getenv("IMCALLBACK_TEST_POSTGRES_DSN")
	var results []string
	fmt.Printf("wrk -t1 -c%d, %d s per run, %d alternating rounds per row; service: bench/service (the stock binary plus a trivial allow handler), JSON logs to a file\n\n",
		*conns, *seconds, *rounds)
	for _, r := range rows(pg) {
		if *only != "" && !slices.Contains(strings.Split(*only, ","), r.name) {
			continue
		}
		if r.needPG && pg == "" {
			fmt.Printf("%s: skipped (set IMCALLBACK_TEST_POSTGRES_DSN to run it)\n\n", r.name)
			continue
		}
		data := filepath.Join(dir, r.name)
		env := append([]string{"IMCALLBACK_SDKAPPID=" + appID, "IMCALLBACK_TOKENS=" + token, "IMCALLBACK_DATA_DIR=" + data,
			"IMCALLBACK_LISTEN=" + freeAddr(), "IMCALLBACK_ADMIN_LISTEN=" + freeAddr(), "IMCALLBACK_LOG_FORMAT=json"}, r.env...)
		svc := start(service, env, filepath.Join(dir, r.name+".log"), "serve")
		var ratios []float64
		fmt.Printf("%s (%s)\n", r.name, r.command)
		for i := range *rounds {
			script, body := filepath.Join(root, "bench/wrk/fixed.lua"), r.body
			if r.unique {
				script = filepath.Join(root, "bench/wrk/unique.lua")
			}
			runNonce := fmt.Sprintf("%s-%s-%d", hex.EncodeToString(nonce), r.name, i)
			e := runWrk(wrk, *conns, *seconds, script, body, runNonce+"-echo", echoProc.url(r.command))
			s := runWrk(wrk, *conns, *seconds, script, body, runNonce, svc.url(r.command))
			ratio := s.rps / e.rps
			ratios = append(ratios, ratio)
			fmt.Printf("  round %d: echo %8.0f req/s p99 %-9v  service %8.0f req/s p99 %-9v  ratio %.2f\n",
				i+1, e.rps, e.p99, s.rps, s.p99, ratio)
		}
		peak := svc.peakRSS()
		svc.stop()
		slices.Sort(ratios)
		median := ratios[len(ratios)/2]
		fmt.Printf("  median ratio %.2f, service peak RSS %.0f MiB\n\n", median, float64(peak)/(1<<20))
		results = append(results, fmt.Sprintf("| %s | %.2f | %.0f MiB |", r.name, median, float64(peak)/(1<<20)))
	}
	fmt.Println("| row | median share of bare echo req/s | service peak RSS |")
	fmt.Println("|---|---:|---:|")
	for _, l := range results {
		fmt.Println(l)
	}
}

// runWrk runs wrk once and reads req/s and the p99 latency.
func runWrk(wrk string, conns, seconds int, script, body, nonce, target string) round {
	cmd := exec.Command(wrk, "-t1", fmt.Sprintf("-c%d", conns), fmt.Sprintf("-d%ds", seconds), "--latency", "-s", script, target)
	cmd.Env = append(os.Environ(), "BENCH_BODY="+body, "BENCH_NONCE="+nonce)
	out, err := cmd.CombinedOutput()
	if err != nil {
		fail(fmt.Sprintf("wrk: %v\n%s", err, out))
	}
	text := string(out)
	var r round
	if m := regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`).FindStringSubmatch(text); m != nil {
		r.rps, _ = strconv.ParseFloat(m[1], 64)
	}
	if m := regexp.MustCompile(`(?m)^\s+99%\s+(\S+)`).FindStringSubmatch(text); m != nil {
		r.p99 = parseWrkDuration(m[1])
	}
	if strings.Contains(text, "Non-2xx or 3xx responses") || r.rps == 0 {
		fail(fmt.Sprintf("wrk against %s: not every answer was 2xx:\n%s", target, text))
	}
	return r
}

// parseWrkDuration reads wrk's "1.23ms", "850.00us", "1.02s".
func parseWrkDuration(s string) time.Duration {
	d, err := time.ParseDuration(strings.Replace(s, "us", "µs", 1))
	if err != nil {
		return 0
	}
	return d.Round(10 * time.Microsecond)
}

// proc is a started server.
type proc struct {
	cmd  *exec.Cmd
	addr string
}

func start(bin string, env []string, logFile, arg string) *proc {
	var listen string
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "IMCALLBACK_LISTEN="); ok {
			listen = v
		}
	}
	f, err := os.Create(logFile)
	if err != nil {
		fail(err.Error())
	}
	args := []string{}
	if arg != "" {
		args = append(args, arg)
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		fail(err.Error())
	}
	p := &proc{cmd: cmd, addr: listen}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get("http://" + listen + "/")
		if err == nil {
			resp.Body.Close()
			return p
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(logFile)
			fail(fmt.Sprintf("%s did not start:\n%s", bin, b))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// url is the signed callback URL for command, signed now.
func (p *proc) url(command string) string {
	params := protocol.Params{SdkAppid: appID, CallbackCommand: command, ContentType: "json", ClientIP: "127.0.0.1", OptPlatform: "RESTAPI"}
	params.Sign, params.RequestTime = protocol.SignAt(token, time.Now())
	u := url.URL{Scheme: "http", Host: p.addr, Path: "/im/callback", RawQuery: params.Encode()}
	return u.String()
}

// peakRSS is the process's peak resident set (VmHWM).
func (p *proc) peakRSS() int64 {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

func (p *proc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		_ = p.cmd.Process.Kill()
		<-done
	}
}

func build(root, dir, pkg string) string {
	out := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-trimpath", "-o", out, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
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

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "wrkload:", msg)
	os.Exit(1)
}
