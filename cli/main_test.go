package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/fx"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/imcallback/imcallback/allowlist"
	"github.com/imcallback/imcallback/commands/c2c"
	"github.com/imcallback/imcallback/config"
	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/imsend"
	"github.com/imcallback/imcallback/imtest"
	"github.com/imcallback/imcallback/internal/certtest"
	"github.com/imcallback/imcallback/logging"
	"github.com/imcallback/imcallback/plugins/topicsync"
)

// run executes the CLI with args and returns its output and error.
func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	root := newRootCmd(&out, &out)
	root.SetArgs(args)
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

func TestVersion(t *testing.T) {
	out, err := runCLI(t, "version")
	if err != nil || !strings.HasPrefix(out, "imcallback ") {
		t.Fatalf("%q %v", out, err)
	}
}

func TestConfigCheck(t *testing.T) {
	t.Setenv("IMCALLBACK_SDKAPPID", "1400000000")
	t.Setenv("IMCALLBACK_TOKENS", "very-secret")
	out, err := runCLI(t, "config", "check")
	if err != nil || !strings.Contains(out, "configuration is valid") || !strings.Contains(out, "[redacted]") || strings.Contains(out, "very-secret") {
		t.Fatalf("%q %v", out, err)
	}
	if strings.Contains(out, "no token") {
		t.Fatalf("a note about tokens although one is set: %q", out)
	}
	t.Setenv("IMCALLBACK_BODY_LIMIT", "-1")
	if _, err := runCLI(t, "config", "check"); err == nil || !strings.Contains(err.Error(), "IMCALLBACK_BODY_LIMIT") {
		t.Fatalf("bad config: %v", err)
	}
}

// TestConfigCheckRefusesWhatServeRefuses: the OTEL_* variables are read
// where the tracer is built, and serve refuses an exporter or protocol it
// does not have; config check said the configuration was valid.
func TestConfigCheckRefusesWhatServeRefuses(t *testing.T) {
	tests := []struct{ name, value, want string }{
		{"OTEL_TRACES_EXPORTER", "zipkin", "only otlp"},
		{"OTEL_EXPORTER_OTLP_PROTOCOL", "grpc", "only OTLP over HTTP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("IMCALLBACK_SDKAPPID", "1400000000")
			t.Setenv("IMCALLBACK_TOKENS", "t")
			t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318") // a protocol alone configures no exporter
			t.Setenv(tt.name, tt.value)
			if out, err := runCLI(t, "config", "check"); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("config check with %s=%s: %q, %v; want an error saying %q", tt.name, tt.value, out, err, tt.want)
			}
		})
	}
}

// TestConfigCheckNotes: config check says when no token is configured and
// names a misspelt variable with the real one.
func TestConfigCheckNotes(t *testing.T) {
	t.Setenv("IMCALLBACK_SDKAPPID", "1400000000")
	t.Setenv("IMCALLBACK_TOKENS", "")
	t.Setenv("IMCALLBACK_TOKEN", "singular")
	out, err := runCLI(t, "config", "check")
	if err != nil || !strings.Contains(out, "note: no token is configured") ||
		!strings.Contains(out, "IMCALLBACK_TOKEN is not a setting; did you mean IMCALLBACK_TOKENS?") ||
		!strings.Contains(out, "configuration is valid") {
		t.Fatalf("%q %v", out, err)
	}
}

// TestUnlistedFileAppsAreSaid: with apps entries in the file and an
// IMCALLBACK_SDKAPPID that lists only some, the others are accepted all
// the same (the union); config check notes them and the start warns.
func TestUnlistedFileAppsAreSaid(t *testing.T) {
	file := filepath.Join(t.TempDir(), "imcallback.yaml")
	if err := writeFile(file, "apps:\n  - sdkappid: \"1400000001\"\n    tokens: [tokA]\n  - sdkappid: \"1400000002\"\n    tokens: [tokB]\n"); err != nil {
		t.Fatal(err)
	}
	t.Setenv("IMCALLBACK_SDKAPPID", "1400000001")
	const want = "app 1400000002 is accepted though IMCALLBACK_SDKAPPID (1400000001) does not list it"
	out, err := runCLI(t, "--config", file, "config", "check")
	if err != nil || !strings.Contains(out, "note: "+want) || !strings.Contains(out, "configuration is valid") {
		t.Fatalf("config check: %q %v", out, err)
	}
	cfg, err := config.Load(config.Source{File: file})
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zapcore.InfoLevel)
	logConfigNotes(cfg, zap.New(core))
	if n := logs.FilterLevelExact(zapcore.WarnLevel).FilterMessageSnippet(want).Len(); n != 1 {
		t.Fatalf("%d start warnings %q, want one", n, want)
	}
}

// TestConfigCheckNotesAnExpiringCertificate: config check accepts an
// expired certificate, or one expiring within 14 days (the service
// serves it), but notes it.
func TestConfigCheckNotesAnExpiringCertificate(t *testing.T) {
	tests := []struct {
		name                string
		notBefore, notAfter time.Time // notBefore zero: valid before now
		want                string    // in the note; "": no note
	}{
		{"expired yesterday", time.Time{}, time.Now().Add(-24 * time.Hour), "note: IMCALLBACK_TLS_CERT "},
		{"expiring in 3 days", time.Time{}, time.Now().Add(3 * 24 * time.Hour), "note: IMCALLBACK_TLS_CERT "},
		{"valid for a year", time.Time{}, time.Now().AddDate(1, 0, 0), ""},
		// Clients refuse it as they refuse an expired one.
		{"valid from in 4 days", time.Now().Add(4 * 24 * time.Hour), time.Now().AddDate(1, 0, 0), "its certificate is not valid until "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			certFile, keyFile, _ := certtest.WriteFrom(t, tt.notBefore, tt.notAfter)
			t.Setenv("IMCALLBACK_SDKAPPID", "1400000000")
			t.Setenv("IMCALLBACK_TOKENS", "t")
			t.Setenv("IMCALLBACK_TLS_CERT", certFile)
			t.Setenv("IMCALLBACK_TLS_KEY", keyFile)
			out, err := runCLI(t, "config", "check")
			if err != nil || !strings.Contains(out, "configuration is valid") {
				t.Fatalf("%q %v", out, err)
			}
			if tt.want == "" {
				if strings.Contains(out, "note:") {
					t.Fatalf("a note about a certificate valid for a year: %q", out)
				}
				return
			}
			if !strings.Contains(out, tt.want) {
				t.Fatalf("no note %q: %q", tt.want, out)
			}
		})
	}
}

// TestConfigCheckDoesNotNoteTheClientsVariables: IMCALLBACK_ADMIN_URL,
// which the command line reads as the admin API's address, is no setting
// but no typo either; config check does not note it.
func TestConfigCheckDoesNotNoteTheClientsVariables(t *testing.T) {
	t.Setenv("IMCALLBACK_SDKAPPID", "1400000000")
	t.Setenv("IMCALLBACK_TOKENS", "t")
	t.Setenv("IMCALLBACK_ADMIN_URL", "http://127.0.0.1:9090")
	out, err := runCLI(t, "config", "check")
	if err != nil || strings.Contains(out, "note:") || !strings.Contains(out, "configuration is valid") {
		t.Fatalf("%q %v", out, err)
	}
}

// TestClientVariablesAreNotNoted finds every IMCALLBACK_* variable this
// package reads by name (os.Getenv, os.LookupEnv): each must be a setting
// or one of config's client variables, or config check, the start and
// /v1/config would call it a typo.
func TestClientVariablesAreNotNoted(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var names []string
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, file, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok || len(call.Args) != 1 {
				return true
			}
			fn, ok := call.Fun.(*ast.SelectorExpr)
			if !ok || (fn.Sel.Name != "Getenv" && fn.Sel.Name != "LookupEnv") {
				return true
			}
			if pkg, ok := fn.X.(*ast.Ident); !ok || pkg.Name != "os" {
				return true
			}
			if lit, ok := call.Args[0].(*ast.BasicLit); ok && lit.Kind == token.STRING {
				name, _ := strconv.Unquote(lit.Value)
				if strings.HasPrefix(name, "IMCALLBACK_") {
					names = append(names, name)
				}
			}
			return true
		})
	}
	if !slices.Contains(names, "IMCALLBACK_ADMIN_URL") {
		t.Fatalf("found %q, not IMCALLBACK_ADMIN_URL: the search misses how the package reads variables", names)
	}
	for _, name := range names {
		if notes := config.UnknownEnv([]string{name + "=x"}); len(notes) > 0 {
			t.Errorf("the command line reads %s, but the configuration notes it: %q", name, notes)
		}
	}
}

func TestServeRejectsBadConfigBeforeStarting(t *testing.T) {
	t.Setenv("IMCALLBACK_SDKAPPID", "")
	if _, err := runCLI(t, "serve"); err == nil || !strings.Contains(err.Error(), "IMCALLBACK_SDKAPPID") {
		t.Fatalf("serve without SdkAppid: %v", err)
	}
}

func TestSend(t *testing.T) {
	type msg struct {
		Text string `json:"Text"`
	}
	s := imtest.Start(t, []string{"IMCALLBACK_DELIVERY=inline"}, fx.Provide(dispatcher.AsCommand(func() dispatcher.Command {
		c := dispatcher.NewBeforeCommand[msg, c2c.SendMsgReply]("C2C.CallbackBeforeSendMsg")
		return c.Handle(func(_ context.Context, e *dispatcher.Event[msg]) (dispatcher.Reply[c2c.SendMsgReply], error) {
			if e.Payload.Text == "bad" {
				return c.DenyWithCode(120002, "bad word"), nil
			}
			return c.Modify(c2c.SendMsgReply{CloudCustomData: new("seen")}), nil
		})
	})))
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := writeFile(p, body); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good, bad := write("good.json", `{"Text":"hi"}`), write("bad.json", `{"Text":"bad"}`)
	base := []string{"send", "--url", s.Sender.URL, "--appid", imtest.AppID, "--token", imtest.Token, "--command", "C2C.CallbackBeforeSendMsg"}
	tests := []struct {
		name    string
		args    []string
		wantErr error
		want    []string
	}{
		{"modified", []string{"--file", good}, nil, []string{"HTTP 200", `"CloudCustomData":"seen"`, "allowed, modified: CloudCustomData"}},
		{"denied is not a rejection", []string{"--file", bad}, nil, []string{"denied: code 120002: bad word"}},
		{"wrong token is a rejection", []string{"--file", good, "--token", "nope"}, errRejected, []string{"rejected: HTTP 401, code 40102"}},
		{"platform and repeat", []string{"--file", good, "--platform", "iOS", "--repeat", "40", "--concurrency", "4"}, nil, []string{"40 requests", "req/s", "p99", "HTTP 200: 40"}},
		{"catalogue sample", []string{"--sample"}, nil, []string{"HTTP 200", "allowed, modified"}},
		{"repeat with failures", []string{"--file", good, "--appid", "1", "--repeat", "5", "--concurrency", "2"}, errRejected,
			[]string{"5 requests in ", ": 0 accepted, 5 rejected\n", "HTTP 403: 5"}},
		// --timeout 0 is no timeout, for one request as for several.
		{"timeout 0", []string{"--file", good, "--timeout", "0"}, nil, []string{"HTTP 200", "allowed, modified"}},
		{"timeout 0 and repeat", []string{"--file", good, "--timeout", "0", "--repeat", "3"}, nil, []string{"3 requests", "HTTP 200: 3"}},
		// A query string of the URL's own is kept; the parameters follow it.
		{"URL with a query string", []string{"--file", good, "--url", s.Sender.URL + "?tenant=a"}, nil, []string{"HTTP 200", "allowed, modified"}},
		{"URL with a query string and repeat", []string{"--file", good, "--url", s.Sender.URL + "?tenant=a", "--repeat", "3"}, nil,
			[]string{"3 requests", "HTTP 200: 3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := runCLI(t, append(append([]string{}, base...), tt.args...)...)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v\n%s", err, tt.wantErr, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
	// A query string naming a callback parameter is refused before anything is sent.
	for _, extra := range [][]string{{"--file", good}, {"--file", good, "--repeat", "3"}} {
		args := append(append(append([]string{}, base...), extra...), "--url", s.Sender.URL+"?sign=x")
		if out, err := runCLI(t, args...); err == nil || !strings.Contains(err.Error(), `--url: imsend: the URL's query string sets "sign"`) ||
			strings.Contains(out, "HTTP") {
			t.Errorf("send %v: %v\n%s", extra, err, out)
		}
	}
	// A --url that is not an http(s) URL with a host is refused, naming
	// the flag, before anything is sent.
	for _, bad := range []string{"127.0.0.1:8080/im/callback", "localhost:8080/im/callback", "ftp://127.0.0.1/im/callback",
		"http:///im/callback", "/im/callback", "http://[::1/im/callback"} {
		for _, extra := range [][]string{{"--file", good}, {"--file", good, "--repeat", "3"}} {
			args := append(append(append([]string{}, base...), extra...), "--url", bad)
			if out, err := runCLI(t, args...); err == nil || !strings.Contains(err.Error(), "--url") ||
				!strings.Contains(err.Error(), "http:// or https://") || out != "" {
				t.Errorf("send --url %s %v: %v\n%s", bad, extra, err, out)
			}
		}
	}
	// Without --appid and --token, the service's own environment is used;
	// its SdkAppid differs from send's built-in default, so both are read.
	other := imtest.Start(t, []string{"IMCALLBACK_DELIVERY=inline", "IMCALLBACK_SDKAPPID=1400000077"})
	t.Setenv("IMCALLBACK_TOKENS", imtest.Token+",next-token")
	t.Setenv("IMCALLBACK_SDKAPPID", "1400000077,1400000078")
	if out, err := runCLI(t, "send", "--url", other.Sender.URL, "--command", "Group.CallbackAfterBrandNew", "--file", good); err != nil {
		t.Fatalf("send with the environment's app id and token: %v\n%s", err, out)
	}
	// --token "" sends unsigned even when IMCALLBACK_TOKENS is set.
	out, err := runCLI(t, "send", "--url", other.Sender.URL, "--token", "", "--command", "Group.CallbackAfterBrandNew", "--file", good)
	if !errors.Is(err, errRejected) || !strings.Contains(out, "rejected: HTTP 401, code 40101") {
		t.Fatalf("send --token \"\": %v\n%s", err, out)
	}
	out, err = runCLI(t, "send", "--list")
	if err != nil || strings.Count(out, "\n") != 2*61 || !strings.Contains(out, "Group.CallbackAfterCreateTopic\n  {") {
		t.Fatalf("send --list: %v\n%s", err, out)
	}
	for _, args := range [][]string{
		{"send", "--command", "No.Such", "--sample"},
		{"send", "--file", good},                                 // no command
		{"send", "--command", "X.Y"},                             // no body
		{"send", "--command", "X.Y", "--file", good, "--sample"}, // both
		{"send", "--command", "X.Y", "--file", filepath.Join(dir, "missing.json")},
	} {
		if _, err := runCLI(t, args...); err == nil {
			t.Errorf("%v: accepted", args)
		}
	}
	for _, repeat := range []string{"1", "3"} {
		_, err := runCLI(t, append(append([]string{}, base...), "--file", good, "--timeout", "-1s", "--repeat", repeat)...)
		if err == nil || !strings.Contains(err.Error(), "--timeout") {
			t.Errorf("--timeout -1s --repeat %s: %v, want an error naming --timeout", repeat, err)
		}
	}
}

// TestSendListTakesNoOtherFlag: --list prints every sample and sends
// nothing, so a flag beside it (--command for one command's sample, --url
// to send) would be ignored: it is refused, naming the flag.
func TestSendListTakesNoOtherFlag(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"command", []string{"--command", "C2C.CallbackBeforeSendMsg"}},
		{"sample", []string{"--sample"}},
		{"url", []string{"--url", "http://127.0.0.1:1/im/callback"}},
		{"token", []string{"--token", "t"}},
		{"repeat", []string{"--repeat", "3"}},
		{"platform given its default", []string{"--platform", "RESTAPI"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := runCLI(t, append([]string{"send", "--list"}, tt.args...)...)
			if err == nil || !strings.Contains(err.Error(), tt.args[0]) || !strings.Contains(err.Error(), "--list") || out != "" {
				t.Fatalf("send --list %v: %v\n%s\nwant an error naming %s, nothing printed", tt.args, err, out, tt.args[0])
			}
		})
	}
}

// TestSendReadsTheConfigFile: with --config, send signs for the file's
// first app with its token and posts to its listener, as the service built
// from the file verifies; flags still win.
func TestSendReadsTheConfigFile(t *testing.T) {
	s := imtest.Start(t, []string{"IMCALLBACK_DELIVERY=inline", "IMCALLBACK_SDKAPPID=1400000077,1400000078",
		"IMCALLBACK_TOKENS=file-token", "IMCALLBACK_APP_1400000078_TOKENS=own-token"})
	addr := strings.TrimPrefix(s.PublicURL, "http://")
	file := filepath.Join(t.TempDir(), "imcallback.yaml")
	if err := writeFile(file, "sdkappid: [1400000077, 1400000078]\ntokens: [file-token]\nlisten: "+addr+
		"\napps:\n  - sdkappid: \"1400000078\"\n    tokens: [own-token]\n"); err != nil {
		t.Fatal(err)
	}
	send := []string{"send", "--config", file, "--command", "Group.CallbackAfterCreateTopic", "--sample"}
	for _, extra := range [][]string{nil, {"--appid", "1400000078"}} {
		if out, err := runCLI(t, append(append([]string{}, send...), extra...)...); err != nil || !strings.Contains(out, "HTTP 200") {
			t.Errorf("send --config %v: %v\n%s", extra, err, out)
		}
	}
	out, err := runCLI(t, append(send, "--token", "wrong")...)
	if !errors.Is(err, errRejected) || !strings.Contains(out, "40102") {
		t.Errorf("--token over the file: %v\n%s", err, out)
	}
	if _, err := runCLI(t, "send", "--config", filepath.Join(t.TempDir(), "none.yaml"), "--command", "X.Y", "--sample"); err == nil {
		t.Error("a missing --config file was accepted")
	}
	// A file without an app (make run's, whose app --dev supplies) says
	// what send reads and that --dev is make run's app.
	noApp := filepath.Join(t.TempDir(), "dev.yaml")
	if err := writeFile(noApp, "listen: "+addr+"\n"); err != nil {
		t.Fatal(err)
	}
	if _, err := runCLI(t, "send", "--config", noApp, "--command", "X.Y", "--sample"); err == nil ||
		!strings.Contains(err.Error(), "IMCALLBACK_SDKAPPID") || !strings.Contains(err.Error(), "--dev") {
		t.Errorf("send --config of a file without an app: %v, want the missing SdkAppid and --dev named", err)
	}
}

// hangingServer is a server that takes every request and never answers
// it; the test's cleanup lets the requests go and closes it.
func hangingServer(t *testing.T) *httptest.Server {
	t.Helper()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close) // runs after close(release), registered below
	t.Cleanup(func() { close(release) })
	return srv
}

// hangTimeout is the time limit the tests that expect hangingServer's
// missing answer give their request. The connection must be made within
// it too: a request that got none is told as no service there, not a
// slow one, and a dial on a loaded machine (the dialing goroutine
// descheduled, the race detector, the other packages' tests) need not be
// done within a few hundred milliseconds.
const hangTimeout = time.Second

// TestSendRepeatAnswers: --repeat bounds each request by --timeout (a
// hanging server is a transport error, not a hang), and counts an answer
// that is not an envelope under its HTTP status.
func TestSendRepeatAnswers(t *testing.T) {
	hanging := hangingServer(t)
	html := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		fmt.Fprint(w, "<html>502 Bad Gateway</html>")
	}))
	defer html.Close()
	// The HTML answer has a generous --timeout: on a loaded machine the
	// server may take longer than the hanging one's 200ms to answer.
	tests := []struct {
		name, url string
		timeout   string
		want      string
		wantErr   error
	}{
		{"a hanging server", hanging.URL, "200ms", "transport error: 2", errNoAnswer},
		{"an HTML answer", html.URL, "20s", "HTTP 502: 2", errRejected},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			type outcome struct {
				out string
				err error
			}
			done := make(chan outcome, 1)
			go func() {
				out, err := runCLI(t, "send", "--url", tt.url, "--token", "", "--command", "Group.CallbackAfterCreateTopic", "--sample",
					"--repeat", "2", "--timeout", tt.timeout)
				done <- outcome{out, err}
			}()
			var o outcome
			select {
			case o = <-done:
			case <-time.After(time.Minute):
				t.Fatalf("send --repeat is still waiting after a minute with --timeout %s", tt.timeout)
			}
			if !errors.Is(o.err, tt.wantErr) || !strings.Contains(o.out, tt.want) || strings.Contains(o.out, "same body") {
				t.Errorf("err %v, output:\n%s\nwant %q", o.err, o.out, tt.want)
			}
		})
	}
}

// TestPrintLoad: the --repeat summary counts the requests by outcome, gives
// a rate and latency only for the answered ones, says that the bodies were
// the same only when accepted requests repeated one, and fails when any
// request did.
func TestPrintLoad(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name    string
		rep     imsend.LoadReport
		unique  bool
		repeat  int     // --repeat; 0: as many as were sent
		wantErr []error // errors.Is each; nil: no error
		want    []string
		notWant []string
	}{
		{"all accepted", imsend.LoadReport{Requests: 4, Statuses: map[int]int{200: 4}, Elapsed: 100 * ms, P50: ms, P99: 2 * ms, Max: 3 * ms},
			false, 0, nil,
			[]string{"4 requests in 100ms: 4 accepted\n", "answered 4: 40 req/s, p50 1ms, p99 2ms, max 3ms", "HTTP 200: 4\n",
				"all 4 requests had the same body"},
			[]string{"rejected", "failure"}},
		{"all accepted, unique", imsend.LoadReport{Requests: 4, Statuses: map[int]int{200: 4}, Elapsed: 100 * ms}, true, 0, nil,
			[]string{"4 accepted"}, []string{"same body"}},
		{"all rejected", imsend.LoadReport{Requests: 3, Failures: 3, Statuses: map[int]int{403: 3}, Elapsed: 30 * ms, P50: ms, P99: ms, Max: ms,
			FirstError: "HTTP 403 {}"}, false, 0, []error{errRejected},
			[]string{"3 requests in 30ms: 0 accepted, 3 rejected\n", "answered 3: 100 req/s", "HTTP 403: 3\n", "first failure: HTTP 403 {}"},
			[]string{"same body", "without an answer"}},
		{"no answer at all", imsend.LoadReport{Requests: 3, Failures: 3, Statuses: map[int]int{-1: 3}, Elapsed: 2 * ms, FirstError: "connection refused"},
			false, 0, []error{errNoAnswer},
			[]string{"3 requests in 2ms: 0 accepted, 3 without an answer\n", "answered none: no rate or latency to report", "transport error: 3\n"},
			[]string{"req/s", "p50", "same body", "rejected"}},
		{"one accepted among failures", imsend.LoadReport{Requests: 5, Failures: 4, Statuses: map[int]int{-1: 1, 200: 2, 403: 2}, Elapsed: 10 * ms},
			false, 0, []error{errRejected, errNoAnswer},
			[]string{"5 requests in 10ms: 1 accepted, 3 rejected, 1 without an answer\n", "HTTP 200: 1\n",
				"HTTP 200, not accepted (ActionStatus FAIL, or no envelope): 1\n", "HTTP 403: 2\n"},
			[]string{"same body"}}, // one accepted request repeats nothing
		{"accepted and not", imsend.LoadReport{Requests: 6, Failures: 3, Statuses: map[int]int{-1: 1, 200: 4, 502: 1}, Elapsed: 10 * ms},
			false, 0, []error{errRejected, errNoAnswer},
			[]string{"6 requests in 10ms: 3 accepted, 2 rejected, 1 without an answer\n", "answered 5: 500 req/s", "HTTP 200: 3\n",
				"HTTP 200, not accepted (ActionStatus FAIL, or no envelope): 1\n", "HTTP 502: 1\n", "transport error: 1\n",
				"the 3 accepted requests had the same body"}, nil},
		{"stopped early", imsend.LoadReport{Requests: 2, Statuses: map[int]int{200: 2}, Elapsed: 10 * ms}, false, 10, nil,
			[]string{"2 of 10 requests (stopped early) in 10ms: 2 accepted"}, nil},
		{"stopped with requests in flight", imsend.LoadReport{Requests: 2, Interrupted: 3, Statuses: map[int]int{200: 2}, Elapsed: 10 * ms},
			false, 10, nil,
			[]string{"2 of 10 requests (stopped early) in 10ms: 2 accepted\n", "  3 more cut off by the stop, their answers not awaited\n"},
			[]string{"without an answer", "failure"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			repeat := tt.repeat
			if repeat == 0 {
				repeat = tt.rep.Requests
			}
			err := printLoad(&out, tt.rep, sendFlags{repeat: repeat, unique: tt.unique}, repeatsDuplicates)
			if (err != nil) != (tt.wantErr != nil) {
				t.Errorf("err = %v, want one: %v", err, tt.wantErr != nil)
			}
			for _, want := range tt.wantErr {
				if !errors.Is(err, want) {
					t.Errorf("err = %v, not %v", err, want)
				}
			}
			if err != nil && !strings.Contains(err.Error(), fmt.Sprintf("of %d requests failed", tt.rep.Requests)) {
				t.Errorf("err = %v", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(out.String(), w) {
					t.Errorf("output has %q:\n%s", w, out.String())
				}
			}
		})
	}
}

// TestSendRepeatStopsOnInterrupt: Ctrl-C (SIGINT) during `send --repeat`
// ends the run early with its summary and an error saying so, instead of
// killing the process with nothing printed. The test catches SIGINT itself
// too, so that without the handling the run goes on until the test's own
// bound instead of ending the test binary.
func TestSendRepeatStopsOnInterrupt(t *testing.T) {
	raise := signalSelf(t)
	caught := make(chan os.Signal, 1)
	signal.Notify(caught, os.Interrupt)
	defer signal.Stop(caught)
	var once sync.Once
	var seen atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if seen.Add(1) == 20 {
			once.Do(func() { _ = raise(syscall.SIGINT) })
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}`)
	}))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second) // a bound, not a timing
	defer cancel()
	var out bytes.Buffer
	root := newRootCmd(&out, io.Discard)
	root.SetArgs([]string{"send", "--url", srv.URL, "--token", "", "--command", "Group.CallbackAfterCreateTopic", "--sample",
		"--repeat", "100000000", "--concurrency", "2"})
	err := root.ExecuteContext(ctx)
	if ctx.Err() != nil {
		t.Fatalf("send --repeat did not stop on SIGINT (ended by the test's bound); err %v", err)
	}
	if !errors.Is(err, errInterrupted) || !strings.Contains(err.Error(), "of 100000000 requests") {
		t.Errorf("err = %v, want the interruption with the count", err)
	}
	if !strings.Contains(out.String(), "of 100000000 requests (stopped early)") || !strings.Contains(out.String(), "accepted") {
		t.Errorf("no summary of the stopped run:\n%s", out.String())
	}
}

// TestSendUnique sends one sample ten times with --unique: the handler sees
// ten different topic ids, and the output no longer says the bodies were
// all the same (it does without --unique).
func TestSendUnique(t *testing.T) {
	type topic struct {
		TopicID string `json:"TopicId"`
	}
	var mu sync.Mutex
	seen := map[string]bool{}
	s := imtest.Start(t, nil, fx.Provide(dispatcher.AsCommand(func() dispatcher.Command {
		return dispatcher.After("Group.CallbackAfterCreateTopic", func(_ context.Context, e *dispatcher.Event[topic]) error {
			mu.Lock()
			defer mu.Unlock()
			seen[e.Payload.TopicID] = true
			return nil
		})
	})))
	base := []string{"send", "--url", s.Sender.URL, "--appid", imtest.AppID, "--token", imtest.Token,
		"--command", "Group.CallbackAfterCreateTopic", "--sample", "--repeat", "10", "--concurrency", "3"}
	out, err := runCLI(t, append(base, "--unique")...)
	if err != nil || strings.Contains(out, "had the same body") {
		t.Fatalf("%v\n%s", err, out)
	}
	mu.Lock()
	n := len(seen)
	mu.Unlock()
	if n != 10 {
		t.Fatalf("%d different topic ids, want 10", n)
	}
	// Without --repeat there is nothing to make unique or concurrent: refused
	// before anything is sent, not ignored.
	for _, extra := range [][]string{{"--unique"}, {"--concurrency", "4"}} {
		one := append([]string{"send", "--url", s.Sender.URL, "--appid", imtest.AppID, "--token", imtest.Token,
			"--command", "Group.CallbackAfterCreateTopic", "--sample"}, extra...)
		if out, err := runCLI(t, one...); err == nil || !strings.Contains(err.Error(), "apply to --repeat runs") {
			t.Errorf("%v: err = %v\n%s", extra, err, out)
		}
	}
	mu.Lock()
	n = len(seen)
	mu.Unlock()
	if n != 10 {
		t.Errorf("the refused sends stored %d topic ids, want the 10 of before", n)
	}
	out, err = runCLI(t, base...)
	// The topic sample has no EventTime: its repeats are told apart by RequestTime.
	if err != nil || !strings.Contains(out, "all 10 requests had the same body, with no EventTime") {
		t.Fatalf("%v\n%s", err, out)
	}
}

// TestPrintLoadOfAnUndatedBody: repeats of a body without EventTime are
// stored once per second (of their RequestTime, or unsigned of their
// arrival), and the summary says so instead of calling every one after the
// first a duplicate.
func TestPrintLoadOfAnUndatedBody(t *testing.T) {
	rep := imsend.LoadReport{Requests: 4, Statuses: map[int]int{200: 4}, Elapsed: 100 * time.Millisecond}
	for _, tt := range []struct {
		note      repeatNote
		want, not string
	}{
		{repeatsDuplicates, "every one after the first was a duplicate", "RequestTime"},
		{repeatsPerSecond, "(their RequestTime or, unsigned, their arrival), so those of the same second were duplicates and the others were stored as new events", "every one after the first"},
	} {
		var out bytes.Buffer
		if err := printLoad(&out, rep, sendFlags{repeat: 4}, tt.note); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out.String(), "all 4 requests had the same body") || !strings.Contains(out.String(), tt.want) ||
			strings.Contains(out.String(), tt.not) {
			t.Errorf("note %v:\n%s", tt.note, out.String())
		}
	}
}

// TestSendRepeatUnsignedUndated: an unsigned body without EventTime sent
// again is not all duplicates either (durable delivery tells the repeats
// apart by the second they arrived in), and the summary does not say it is.
func TestSendRepeatUnsignedUndated(t *testing.T) {
	s := imtest.Start(t, []string{"IMCALLBACK_TOKENS="})
	out, err := runCLI(t, "send", "--url", s.Sender.URL, "--appid", imtest.AppID, "--token", "",
		"--command", "Group.CallbackAfterCreateTopic", "--sample", "--repeat", "3")
	if err != nil || !strings.Contains(out, "all 3 requests had the same body, with no EventTime") ||
		strings.Contains(out, "every one after the first was a duplicate") {
		t.Fatalf("%v\n%s", err, out)
	}
}

func TestUniqueBody(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{`{"TopicId":"t","GroupId":"g","MsgKey":"k","Name":"n","EventTime":5}`, `{"EventTime":107,"GroupId":"g_100_7","MsgKey":"k_100_7","Name":"n","TopicId":"t_100_7"}`},
		{`{"Count":1}`, `{"Count":1,"ImcallbackSendSeq":"100_7"}`},
		{`{"Events":[{"Id":"e"}]}`, `{"Events":[{"Id":"e"}],"ImcallbackSendSeq":"100_7"}`},
		{`{}`, `{"ImcallbackSendSeq":"100_7"}`},
		// A body whose one varied field would be EventTime: another run's
		// base+i can be the same.
		{`{"EventTime":5,"Info":{"To_Account":"u"}}`, `{"EventTime":107,"ImcallbackSendSeq":"100_7","Info":{"To_Account":"u"}}`},
		// '<', '>' and '&' stay as IM sends them, in the fields varied and
		// in the others: a handler reading the raw body sees IM's bytes.
		{`{"GroupId":"a&b","Text":"<b>hi</b> & bye"}`, `{"GroupId":"a&b_100_7","Text":"<b>hi</b> & bye"}`},
	}
	for _, tt := range tests {
		if got, ok := uniqueBody([]byte(tt.in), 7, 100); string(got) != tt.want || !ok {
			t.Errorf("uniqueBody(%s) = %s %v, want %s", tt.in, got, ok, tt.want)
		}
	}
	for _, in := range []string{`[1]`, `null`, `"s"`, `{`} {
		if got, ok := uniqueBody([]byte(in), 7, 100); string(got) != in || ok {
			t.Errorf("uniqueBody(%s) = %s %v, want it unchanged and not ok", in, got, ok)
		}
	}
	// Every sample becomes a different body for each request.
	samples := catalogueSamples{}
	for _, command := range samples.Commands() {
		sample, _ := samples.Sample(command)
		a, _ := uniqueBody(sample, 1, 100)
		b, _ := uniqueBody(sample, 2, 100)
		if bytes.Equal(a, b) {
			t.Errorf("%s: requests 1 and 2 have the same body %s", command, a)
		}
		// And for each request of a run started later, while the dedup
		// window still holds this one's: the same number, or the same
		// EventTime (base+i).
		for _, later := range [][2]int64{{1, 200}, {0, 101}} {
			if c, _ := uniqueBody(sample, int(later[0]), later[1]); bytes.Equal(a, c) {
				t.Errorf("%s: request 1 of a run at 100 and request %d of a run at %d have the same body %s", command, later[0], later[1], a)
			}
		}
	}
}

func TestSendHelpNeverShowsTheToken(t *testing.T) {
	t.Setenv("IMCALLBACK_TOKENS", "supersecret-token")
	out, err := runCLI(t, "send", "--help")
	if err != nil || strings.Contains(out, "supersecret-token") || !strings.Contains(out, "--token") {
		t.Fatalf("%v\n%s", err, out)
	}
}

// offlineTopicStore points the CLI's offline mode at a new data folder
// (SQLite, no DSN) and opens the topic store there, for a test to fill and
// close before it runs the CLI.
func offlineTopicStore(t *testing.T) (string, topicsync.Store) {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("IMCALLBACK_DATA_DIR", dir)
	t.Setenv("IMCALLBACK_STORE_DSN", "")
	store, err := topicsync.OpenStore(context.Background(), "", dir, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	return dir, store
}

func TestTopicsCommands(t *testing.T) {
	dir, store := offlineTopicStore(t)
	var err error
	id := "@TGS#_@TGS#cQVLVHIM62CJ@TOPIC#_@TOPIC#cRTE3HIM62C5"
	err = store.Create(context.Background(), topicsync.Topic{TopicID: id, GroupID: "@TGS#2J4SZEAEL", Name: "MyFirstTopic",
		CustomData: []topicsync.CustomField{{Key: "k", Value: "v"}}, CreatedAt: time.Now()})
	store.Close()
	if err != nil {
		t.Fatal(err)
	}
	out, err := runCLI(t, "--offline", "topics", "list")
	if err != nil || !strings.Contains(out, "TOPIC ID") || !strings.Contains(out, id) || !strings.Contains(out, "MyFirstTopic") {
		t.Fatalf("list: %v\n%s", err, out)
	}
	out, err = runCLI(t, "--offline", "topics", "list", "--group", "@TGS#other", "--json")
	var list topicsync.ListResponse
	if err != nil || json.Unmarshal([]byte(out), &list) != nil || len(list.Topics) != 0 {
		t.Fatalf("list --group --json: %v\n%s", err, out)
	}
	out, err = runCLI(t, "--offline", "topics", "get", id)
	var got topicsync.Topic
	if err != nil || json.Unmarshal([]byte(out), &got) != nil || got.TopicID != id || got.CustomData[0].Value != "v" {
		t.Fatalf("get: %v\n%s", err, out)
	}
	if _, err := runCLI(t, "--offline", "topics", "get", "@TGS#none"); !errors.Is(err, topicsync.ErrNotFound) {
		t.Fatalf("get unknown: %v", err)
	}
	// An empty id names no topic: not the store's only one; it is refused
	// before the store is read.
	if out, err := runCLI(t, "--offline", "topics", "get", ""); err == nil || !strings.Contains(err.Error(), "<TopicId> is empty") {
		t.Fatalf("get of an empty id: %v, want it refused\n%s", err, out)
	}

	// The same TopicId under an app: --appid picks one; without it, get asks which.
	store, err = topicsync.OpenStore(context.Background(), "", dir, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	err = store.Create(context.Background(), topicsync.Topic{SdkAppID: "1400000002", TopicID: id, GroupID: "@TGS#2J4SZEAEL",
		Name: "App two's", CreatedAt: time.Now()})
	store.Close()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := runCLI(t, "--offline", "topics", "get", id); !errors.Is(err, topicsync.ErrAmbiguous) || !strings.Contains(err.Error(), "--appid") {
		t.Fatalf("get of an id two apps hold: %v, want ErrAmbiguous naming --appid", err)
	}
	tests := []struct {
		args     []string
		wantApps []string
	}{
		{[]string{"list"}, []string{"", "1400000002"}},
		{[]string{"list", "--appid", "1400000002"}, []string{"1400000002"}},
		{[]string{"list", "--appid", ""}, []string{""}},
		{[]string{"list", "--appid", "1400000003"}, []string{}},
		{[]string{"get", "--appid", "1400000002", id}, []string{"1400000002"}},
		{[]string{"get", "--appid", "", id}, []string{""}},
	}
	for _, tt := range tests {
		args := append([]string{"--offline", "topics"}, tt.args...)
		if tt.args[0] == "list" {
			args = append(args, "--json")
		}
		out, err := runCLI(t, args...)
		if err != nil {
			t.Fatalf("%v: %v\n%s", tt.args, err, out)
		}
		var topics []topicsync.Topic
		if tt.args[0] == "list" {
			var res topicsync.ListResponse
			err = json.Unmarshal([]byte(out), &res)
			topics = res.Topics
		} else {
			var one topicsync.Topic
			err = json.Unmarshal([]byte(out), &one)
			topics = []topicsync.Topic{one}
		}
		apps := []string{}
		for _, tp := range topics {
			apps = append(apps, tp.SdkAppID)
		}
		if err != nil || fmt.Sprintf("%q", apps) != fmt.Sprintf("%q", tt.wantApps) {
			t.Errorf("%v: apps %q, %v; want %q\n%s", tt.args, apps, err, tt.wantApps, out)
		}
	}
	for _, bad := range [][]string{{"list", "--appid", "abc"}, {"get", "--appid", "14000000011400000001x", id}} {
		if _, err := runCLI(t, append([]string{"--offline", "topics"}, bad...)...); err == nil || !strings.Contains(err.Error(), "--appid") {
			t.Errorf("topics %v: error %v, want one naming --appid", bad, err)
		}
	}
}

func TestTopicsListPages(t *testing.T) {
	_, store := offlineTopicStore(t)
	var err error
	base := time.Now().Add(-time.Hour)
	for i := range 5 {
		err = errors.Join(err, store.Create(context.Background(), topicsync.Topic{TopicID: fmt.Sprintf("@TGS#_g@TOPIC#_t%d", i),
			GroupID: "@TGS#_g", Name: fmt.Sprint(i), CreatedAt: base.Add(time.Duration(i) * time.Second)}))
	}
	store.Close()
	if err != nil {
		t.Fatal(err)
	}
	page := func(args ...string) topicsync.ListResponse {
		t.Helper()
		out, err := runCLI(t, append([]string{"--offline", "topics", "list", "--json"}, args...)...)
		var res topicsync.ListResponse
		if err != nil || json.Unmarshal([]byte(out), &res) != nil {
			t.Fatalf("topics list %v: %v\n%s", args, err, out)
		}
		return res
	}
	first := page("--limit", "2")
	if len(first.Topics) != 2 || first.NextCursor == "" || first.Topics[0].Name != "0" {
		t.Fatalf("first page %+v", first)
	}
	second := page("--limit", "2", "--cursor", first.NextCursor)
	if len(second.Topics) != 2 || second.Topics[0].Name != "2" {
		t.Fatalf("second page %+v", second)
	}
	all := page("--limit", "2", "--all")
	if len(all.Topics) != 5 || all.NextCursor != "" || all.Topics[4].Name != "4" {
		t.Fatalf("--all %+v", all)
	}
	// --all from a --cursor (the one a stopped --all names) lists the rest.
	rest := page("--limit", "2", "--all", "--cursor", first.NextCursor)
	if len(rest.Topics) != 3 || rest.NextCursor != "" || rest.Topics[0].Name != "2" || rest.Topics[2].Name != "4" {
		t.Fatalf("--all --cursor %+v", rest)
	}
	// --cursor "" is the next_cursor of the last page: a script paging on
	// it must stop, not be given the first page again.
	for _, bad := range [][]string{{"--limit", "0"}, {"--limit", "1001"}, {"--cursor", "not a cursor"}, {"--cursor", ""}, {"--cursor= "}} {
		if _, err := runCLI(t, append([]string{"--offline", "topics", "list"}, bad...)...); err == nil || !strings.Contains(err.Error(), strings.TrimSuffix(bad[0], "= ")) {
			t.Errorf("topics list %q: %v; want a refusal naming %s", bad, err, bad[0])
		}
	}
}

// TestTopicsTableEscapesWhatUsersWrote: topic names and ids come from IM's
// users; the table shows a control or format character escaped, so a name
// can neither forge rows nor send escape sequences to the terminal.
func TestTopicsTableEscapesWhatUsersWrote(t *testing.T) {
	_, store := offlineTopicStore(t)
	var err error
	names := map[string]string{
		"@TGS#_g@TOPIC#_rows":  "x\n1400000009\t@TGS#_g@TOPIC#_forged\t@TGS#_g\tforged",
		"@TGS#_g@TOPIC#_esc":   "\x1b]0;owned\x07\x1b[2Jred",
		"@TGS#_g@TOPIC#_bidi":  "abc\u202edcba",
		"@TGS#_g@TOPIC#_plain": "话题 一\u3000二",
	}
	for id, name := range names {
		err = errors.Join(err, store.Create(context.Background(), topicsync.Topic{SdkAppID: "1400000001", TopicID: id,
			GroupID: "@TGS#_g", Name: name, OwnerAccount: "o\tx", CreatedAt: time.Now()}))
	}
	store.Close()
	if err != nil {
		t.Fatal(err)
	}
	out, err := runCLI(t, "--offline", "topics", "list")
	if err != nil {
		t.Fatal(err)
	}
	if lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n"); len(lines) != 1+len(names) {
		t.Errorf("%d lines, want a header and one per topic:\n%s", len(lines), out)
	}
	if strings.ContainsAny(out, "\x1b\x07\u202e\t") {
		t.Errorf("a control or format character reached the terminal:\n%q", out)
	}
	if !strings.Contains(out, "话题 一\u3000二") {
		t.Errorf("a printable name is not shown as it is:\n%s", out)
	}
}

func writeFile(path, body string) error { return os.WriteFile(path, []byte(body), 0o600) }

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// TestTuneGC checks the service's GC defaults: GOGC=400 and a soft memory
// limit of defaultMemoryLimit, each only where the environment sets none.
// A variable set to the empty string sets none: the Go runtime reads it as
// unset (GOGC 100, no limit), as an env file or compose's ${VAR} of an
// unset VAR writes it, so the service's defaults apply then too.
func TestTuneGC(t *testing.T) {
	prevPercent := debug.SetGCPercent(100)
	defer debug.SetGCPercent(prevPercent)
	prevLimit := debug.SetMemoryLimit(math.MaxInt64)
	defer debug.SetMemoryLimit(prevLimit)
	const unset = "\x00unset"
	for _, tc := range []struct {
		name, gogc, gomemlimit string // unset leaves the variable unset
		wantPercent            int
		wantLimit              int64
	}{
		{"neither set", unset, unset, defaultGCPercent, defaultMemoryLimit},
		{"GOGC set", "150", unset, 100, defaultMemoryLimit},
		{"GOMEMLIMIT set", unset, "1GiB", defaultGCPercent, math.MaxInt64},
		{"both set", "150", "1GiB", 100, math.MaxInt64},
		{"both set empty", "", "", defaultGCPercent, defaultMemoryLimit},
		{"GOMEMLIMIT empty, GOGC set", "150", "", 100, defaultMemoryLimit},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for name, v := range map[string]string{"GOGC": tc.gogc, "GOMEMLIMIT": tc.gomemlimit} {
				if v == unset {
					t.Setenv(name, "") // restores the variable afterwards
					os.Unsetenv(name)
					continue
				}
				t.Setenv(name, v)
			}
			debug.SetGCPercent(100)
			debug.SetMemoryLimit(math.MaxInt64)
			tuneGC()
			if got := debug.SetGCPercent(100); got != tc.wantPercent {
				t.Errorf("GC percent %d, want %d", got, tc.wantPercent)
			}
			if got := debug.SetMemoryLimit(-1); got != tc.wantLimit {
				t.Errorf("memory limit %d, want %d", got, tc.wantLimit)
			}
		})
	}
}

func TestCommandToNamesTheDestination(t *testing.T) {
	for _, tc := range []struct{ command, destination, want string }{
		{"Group.CallbackAfterCreateTopic", "", "Group.CallbackAfterCreateTopic"},
		{"Group.CallbackAfterCreateTopic", "backend", "Group.CallbackAfterCreateTopic → backend"},
	} {
		if got := commandTo(tc.command, tc.destination); got != tc.want {
			t.Errorf("commandTo(%q, %q) = %q, want %q", tc.command, tc.destination, got, tc.want)
		}
	}
}

// TestRunFlushesTheLogWhenTheStopRunsOut: a stop hook that outlives the
// stop deadline keeps fx from running the logging module's flush; run
// flushes the buffer itself, so the hook's own line is not lost.
func TestRunFlushesTheLogWhenTheStopRunsOut(t *testing.T) {
	cfg := config.Default()
	cfg.LogBuffer = time.Hour // no periodic flush during the test
	var sink zaptest.Buffer   // written only by the flush in run, on this goroutine
	var log *zap.Logger
	app := fx.New(fx.NopLogger,
		fx.Supply(&cfg),
		fx.Provide(func(lc fx.Lifecycle, cfg *config.Config) (*zap.Logger, error) {
			return logging.NewBuffered(lc, cfg, &sink)
		}),
		fx.Invoke(func(lc fx.Lifecycle, log *zap.Logger) {
			lc.Append(fx.StopHook(func(ctx context.Context) error {
				log.Warn("drain timed out")
				<-ctx.Done() // past the stop deadline
				return ctx.Err()
			}))
		}),
		fx.Populate(&log),
		fx.StopTimeout(hookTimeout)) // the hook must be reached before it runs out (hookguard_test.go)
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // stop right after the start
	err := run(ctx, app, watchStopSignals(), service{flushLog: func() { _ = log.Sync() }})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("run: %v, want the stop's deadline", err)
	}
	if !strings.Contains(sink.String(), "drain timed out") {
		t.Fatalf("the stop hook's line was lost; the log holds %q", sink.String())
	}
}

// TestASignalDuringTheStartStopsIt: SIGTERM while a start hook still runs
// stops the app as soon as the start is done, every started part with its
// stop hook, and skips the drain delay.
func TestASignalDuringTheStartStopsIt(t *testing.T) {
	raise := signalSelf(t)
	starting, release := make(chan struct{}), make(chan struct{})
	var stopped atomic.Int32
	app := fx.New(fx.NopLogger,
		fx.Invoke(func(lc fx.Lifecycle) {
			lc.Append(fx.StopHook(func() { stopped.Add(1) }))
			lc.Append(fx.Hook{
				OnStart: func(context.Context) error {
					close(starting) // run's signal handler is installed by now
					<-release       // a start that waits on a dependency
					return nil
				},
				OnStop: func(context.Context) error { stopped.Add(1); return nil },
			})
		}))
	seen := make(chan struct{})
	signalTaken = func() { close(seen) }
	t.Cleanup(func() { signalTaken = nil })
	done := make(chan error, 1)
	drained := false
	go func() {
		done <- run(context.Background(), app, watchStopSignals(), service{drain: func() { drained = true }})
	}()
	<-starting
	if err := raise(syscall.SIGTERM); err != nil {
		close(release)
		t.Fatal(err)
	}
	// The signal is handled while the start waits: only then does the
	// start finish, so run never sees the signal and the start's end at once.
	select {
	case <-seen:
	case <-time.After(30 * time.Second): // a bound only broken code reaches
		close(release)
		t.Fatal("run did not take the SIGTERM sent during the start for one")
	}
	close(release)
	if err := waitRun(t, done, "the start finished with a SIGTERM pending"); err != nil {
		t.Errorf("run: %v", err)
	}
	if n := stopped.Load(); n != 2 || drained {
		t.Errorf("%d stop hooks ran, drain %v; want both hooks and no drain", n, drained)
	}
}

// TestASignalWhileServeBuildsTheServiceStopsIt: SIGTERM while serve reads
// the configuration and builds the service (before any start hook runs)
// killed the process, with status 143 and the start's log lines still in
// their buffer; serve now takes it as one during the start: the service
// stops as soon as it has started, every started part with its stop hook,
// and serve succeeds.
func TestASignalWhileServeBuildsTheServiceStopsIt(t *testing.T) {
	raise := signalSelf(t)
	t.Setenv("IMCALLBACK_SDKAPPID", "1400000000")
	t.Setenv("IMCALLBACK_TOKENS", "t")
	t.Setenv("IMCALLBACK_DATA_DIR", t.TempDir())
	t.Setenv("IMCALLBACK_DELIVERY", "inline")
	t.Setenv("IMCALLBACK_LISTEN", "127.0.0.1:0")
	t.Setenv("IMCALLBACK_ADMIN_LISTEN", "127.0.0.1:0")
	t.Setenv("IMCALLBACK_LOG_LEVEL", "error")
	t.Setenv("GOGC", "100")       // serve leaves the test binary's collector alone
	t.Setenv("GOMEMLIMIT", "off") // (tuneGC)
	var once sync.Once
	var started, stopped atomic.Int32
	// The module's invoke runs as serve builds the service (when it lists
	// the modules' sections, and again when it builds the app): the signal
	// is sent once, before any start hook.
	signalWhileBuilt := fx.Invoke(func(lc fx.Lifecycle) error {
		var err error
		once.Do(func() { err = raise(syscall.SIGTERM) })
		lc.Append(fx.Hook{
			OnStart: func(context.Context) error { started.Add(1); return nil },
			OnStop:  func(context.Context) error { stopped.Add(1); return nil },
		})
		return err
	})
	var out bytes.Buffer
	root := newRootCmd(&out, &out, signalWhileBuilt)
	root.SetArgs([]string{"serve"})
	// serve returns only once it has taken the signal: nothing else stops it.
	if err := root.ExecuteContext(context.Background()); err != nil {
		t.Fatalf("serve: %v\n%s", err, out.String())
	}
	if s, st := started.Load(), stopped.Load(); s != 1 || st != 1 {
		t.Errorf("start hook ran %d time(s), stop hook %d; want each once", s, st)
	}
}

// sighupIgnoredAtExec: the tests themselves run under nohup (or another
// parent that ignores SIGHUP), read before any test changes the disposition.
var sighupIgnoredAtExec = signal.Ignored(syscall.SIGHUP)

// skipUnderNohup skips a test of SIGHUP's default disposition when the
// test binary did not get it: the service rightly keeps SIGHUP ignored then.
func skipUnderNohup(t *testing.T) {
	t.Helper()
	if sighupIgnoredAtExec {
		t.Skip("SIGHUP is ignored by the process running the tests (nohup?): its default disposition cannot be tested")
	}
}

// TestSIGHUPIgnoredStaysIgnored: under nohup (SIGHUP ignored at exec) the
// service does not take SIGHUP for a stop signal.
func TestSIGHUPIgnoredStaysIgnored(t *testing.T) {
	skipUnderNohup(t)
	if !slices.Contains(stopSignals(), os.Signal(syscall.SIGHUP)) {
		t.Fatal("SIGHUP is no stop signal with its default disposition")
	}
	signal.Ignore(syscall.SIGHUP)
	defer func() {
		// Reset alone leaves the signal marked ignored; a Notify clears the mark.
		signal.Notify(make(chan os.Signal, 1), syscall.SIGHUP)
		signal.Reset(syscall.SIGHUP)
	}()
	if slices.Contains(stopSignals(), os.Signal(syscall.SIGHUP)) {
		t.Error("SIGHUP is a stop signal although the process ignores it (nohup)")
	}
}

// TestRunDrainsBeforeTheStop: the drain (IMCALLBACK_SHUTDOWN_DELAY) runs
// after the stop signal and before the first stop hook.
func TestRunDrainsBeforeTheStop(t *testing.T) {
	var order []string
	app := fx.New(fx.NopLogger, fx.Invoke(func(lc fx.Lifecycle) {
		lc.Append(fx.StopHook(func() { order = append(order, "stop") }))
	}))
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the stop is asked for right after the start
	if err := run(ctx, app, watchStopSignals(), service{drain: func() { order = append(order, "drain") }}); err != nil {
		t.Fatal(err)
	}
	if strings.Join(order, ",") != "drain,stop" {
		t.Errorf("order %v, want the drain before the stop", order)
	}
}

// TestAServiceThatCannotServeOnStopsWithItsFault: when a listener stops
// serving on its own (server.Drain.Fail), run stops the app, with its stop
// hooks and without the delay, and returns the fault, so that the process
// exits non-zero for its supervisor to start it again.
func TestAServiceThatCannotServeOnStopsWithItsFault(t *testing.T) {
	var order []string
	started := make(chan struct{})
	app := fx.New(fx.NopLogger, fx.Invoke(func(lc fx.Lifecycle) {
		lc.Append(fx.Hook{
			OnStart: func(context.Context) error { close(started); return nil },
			OnStop:  func(context.Context) error { order = append(order, "stop"); return nil },
		})
	}))
	fault := errors.New("server: the public listener stopped serving: accept: cannot allocate memory")
	failed := make(chan struct{})
	core, logs := observer.New(zapcore.ErrorLevel)
	s := service{
		log:      zap.New(core),
		stopping: func() { order = append(order, "stopping") },
		drain:    func() { order = append(order, "drain") },
		failed:   failed,
		fault:    func() error { return fault },
	}
	done := make(chan error, 1)
	go func() { done <- run(context.Background(), app, watchStopSignals(), s) }()
	<-started
	close(failed)
	if err := waitRun(t, done, "the fault"); !errors.Is(err, fault) {
		t.Errorf("run: %v, want the fault", err)
	}
	if got := strings.Join(order, ","); got != "stopping,stop" {
		t.Errorf("order %v, want stopping then the stop hooks, without the delay", got)
	}
	if logs.FilterMessage("the service cannot serve on; stopping it").FilterField(zap.Error(fault)).Len() != 1 {
		t.Errorf("log %v, want one error line with the fault", logs.All())
	}
}

// TestAFaultDuringTheDelayStopsWithIt: a listener that stops serving
// during IMCALLBACK_SHUTDOWN_DELAY (server.Drain.Fail after the stop
// signal) is no clean stop: run returns the fault, logged, so that the
// process exits non-zero. It was ignored, and the process exited 0.
func TestAFaultDuringTheDelayStopsWithIt(t *testing.T) {
	fault := errors.New("server: the public listener stopped serving: accept: too many open files")
	failed := make(chan struct{})
	core, logs := observer.New(zapcore.ErrorLevel)
	app := fx.New(fx.NopLogger)
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the stop is asked for right after the start
	s := service{
		log:    zap.New(core),
		drain:  func() { close(failed) }, // the listener fails during the delay
		failed: failed,
		fault:  func() error { return fault },
	}
	if err := run(ctx, app, watchStopSignals(), s); !errors.Is(err, fault) {
		t.Errorf("run: %v, want the fault of the delay", err)
	}
	if logs.FilterMessage("the service cannot serve on; stopping it").FilterField(zap.Error(fault)).Len() != 1 {
		t.Errorf("log %v, want one error line with the fault", logs.All())
	}
}

// TestAFailedBuildSaysItsCause: a constructor's error is what run returns,
// without fx's and dig's wiring around it.
func TestAFailedBuildSaysItsCause(t *testing.T) {
	type store struct{}
	app := fx.New(fx.NopLogger,
		fx.Provide(func() (*store, error) {
			return nil, errors.New("topic store: dial tcp 127.0.0.1:1: connection refused")
		}),
		fx.Invoke(func(*store) {}))
	err := run(context.Background(), app, watchStopSignals(), service{})
	if err == nil || err.Error() != "topic store: dial tcp 127.0.0.1:1: connection refused" {
		t.Errorf("run: %v, want the constructor's error alone", err)
	}
}

// waitRun is run's result from done, failing t if it does not come within
// 30 s after what.
func waitRun(t *testing.T, done <-chan error, what string) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(30 * time.Second):
		t.Fatalf("still running 30 s after %s", what)
		return nil
	}
}

// TestSIGHUPStopsGracefully: SIGHUP (a closed terminal, a service
// manager's reload) stops the service like SIGTERM, with its stop hooks,
// instead of killing it.
func TestSIGHUPStopsGracefully(t *testing.T) {
	skipUnderNohup(t)
	raise := signalSelf(t)
	started, stopped := make(chan struct{}), make(chan struct{})
	app := fx.New(fx.NopLogger, fx.Invoke(func(lc fx.Lifecycle) {
		lc.Append(fx.Hook{
			OnStart: func(context.Context) error { close(started); return nil },
			OnStop:  func(context.Context) error { close(stopped); return nil },
		})
	}))
	done := make(chan error, 1)
	go func() { done <- run(context.Background(), app, watchStopSignals(), service{}) }()
	<-started
	if err := raise(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	if err := waitRun(t, done, "SIGHUP"); err != nil {
		t.Errorf("run: %v", err)
	}
	select {
	case <-stopped:
	default:
		t.Error("the stop hook did not run")
	}
}

// TestServeWarnsAboutSettings: the start warns about a valid setting that
// is probably not meant, as config check notes it: a wide sign window and
// a forward timeout longer than the deadline that cuts each attempt.
func TestServeWarnsAboutSettings(t *testing.T) {
	tests := []struct {
		name    string
		environ []string
		file    string // the YAML file's content; none when empty
		want    string
	}{
		// A duplicate window of an hour too: with durable delivery a sign
		// window longer than the duplicate window is refused.
		{name: "wide sign window", environ: []string{"IMCALLBACK_SIGN_WINDOW=1h", "IMCALLBACK_DEDUP_WINDOW=1h"},
			want: "IMCALLBACK_SIGN_WINDOW 1h0m0s is wide"},
		{name: "forward timeout past the deadline", environ: []string{"IMCALLBACK_HANDLER_TIMEOUT=2s"},
			file: "forward:\n  - name: backend\n    url: http://127.0.0.1:1/im\n    match: [\"Group.*\"]\n" +
				"    secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n    timeout: 10s\n",
			want: `forward destination "backend": its timeout 10s (for after-callbacks) is longer than IMCALLBACK_HANDLER_TIMEOUT 2s`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			environ := append([]string{"IMCALLBACK_SDKAPPID=1400000001", "IMCALLBACK_TOKENS=secret"}, tt.environ...)
			src := config.Source{Environ: func() []string { return environ }}
			if tt.file != "" {
				src.File = filepath.Join(t.TempDir(), "config.yaml")
				if err := os.WriteFile(src.File, []byte(tt.file), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			cfg, err := config.Load(src)
			if err != nil {
				t.Fatal(err)
			}
			core, logs := observer.New(zapcore.InfoLevel)
			logConfigNotes(cfg, zap.New(core))
			var warnings []string
			for _, e := range logs.FilterLevelExact(zapcore.WarnLevel).All() {
				warnings = append(warnings, e.Message)
			}
			if all := strings.Join(warnings, "\n"); !strings.Contains(all, tt.want) {
				t.Fatalf("warnings:\n%s\nwant one containing %q", all, tt.want)
			}
		})
	}
}

// TestServeWarnsAboutIgnoredVariables: the start warns about a variable
// that is no setting and one of an app that is not accepted, and not about
// a declared section's field; a setting's variable set empty, which counts
// as unset, is said at info level.
func TestServeWarnsAboutIgnoredVariables(t *testing.T) {
	section := config.SectionInfo{Key: "moderation", Fields: []string{"words"},
		Load: func(config.Source) (string, error) { return "", nil }}
	environ := []string{"IMCALLBACK_SDKAPPID=1400000001", "IMCALLBACK_TOKENS=",
		"IMCALLBACK_MODERATION_WORDS=spam", "IMCALLBACK_TOKEN=typo", "IMCALLBACK_APP_140000001_TOKENS=x"}
	cfg, err := config.LoadWith(config.Source{Environ: func() []string { return environ }}, section)
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zapcore.InfoLevel)
	logConfigNotes(cfg, zap.New(core))
	var warnings, infos []string
	for _, e := range logs.All() {
		if e.Level == zapcore.InfoLevel {
			infos = append(infos, e.Message)
		} else {
			warnings = append(warnings, e.Message)
		}
	}
	all := strings.Join(warnings, "\n")
	if strings.Contains(all, "MODERATION_WORDS") || !strings.Contains(all, "IMCALLBACK_TOKEN is not a setting") ||
		!strings.Contains(all, "IMCALLBACK_APP_140000001_TOKENS is ignored") || strings.Contains(all, "empty") {
		t.Fatalf("warnings:\n%s", all)
	}
	if want := []string{"IMCALLBACK_TOKENS is set but empty, so it counts as unset: the file's value or the default applies"}; !slices.Equal(infos, want) {
		t.Fatalf("info lines %q, want %q", infos, want)
	}
}

// TestSendSignsWithTheAppsOwnToken: without --token, send signs with the
// app's own token when IMCALLBACK_APP_<appid>_TOKENS has one, as the
// service verifies, and with IMCALLBACK_TOKENS otherwise; an app's list
// set empty counts as unset. A list with an empty item is refused, naming
// the variable, as the service refuses it.
func TestSendSignsWithTheAppsOwnToken(t *testing.T) {
	s := imtest.Start(t, []string{"IMCALLBACK_DELIVERY=inline"})
	appVar := config.AppEnvName(imtest.AppID, "tokens")
	tests := []struct {
		name, global, app string
		err               string // "" when the send is answered 200
	}{
		{"the app's own token", "the-global-one", imtest.Token, ""},
		{"the global token, the app's list empty", imtest.Token, " ", ""},
		{"the app's list starting with a blank", "the-global-one", " , " + imtest.Token, appVar + ": item 1 of 2 is empty"},
		{"the global list ending with a comma", imtest.Token + ",", "", "IMCALLBACK_TOKENS: item 2 of 2 is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("IMCALLBACK_TOKENS", tt.global)
			t.Setenv(appVar, tt.app)
			out, err := runCLI(t, "send", "--url", s.Sender.URL, "--appid", imtest.AppID, "--command", "Group.CallbackAfterCreateTopic", "--sample")
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want %q\n%s", err, tt.err, out)
				}
				return
			}
			if err != nil || !strings.Contains(out, "HTTP 200") {
				t.Fatalf("%v\n%s", err, out)
			}
		})
	}
}

// TestAllowlistSaysWhatItReads: without the service's configuration the
// error says what allowlist needs; with --dev it prints the development app.
func TestAllowlistSaysWhatItReads(t *testing.T) {
	t.Setenv("IMCALLBACK_DATA_DIR", t.TempDir())
	t.Setenv("IMCALLBACK_SDKAPPID", "")
	if _, err := runCLI(t, "allowlist"); err == nil || !strings.Contains(err.Error(), "IMCALLBACK_SDKAPPID") ||
		!strings.Contains(err.Error(), "--dev for make run") {
		t.Errorf("allowlist without an app: %v", err)
	}
	if out, err := runCLI(t, "allowlist", "--dev"); err != nil || !strings.Contains(out, "app "+config.DevSdkAppID) {
		t.Errorf("allowlist --dev: %v\n%s", err, out)
	}
}

// TestConfigCheckSaysWhatItReads: after `make run`, which passes --dev,
// a plain `config check` finds no SdkAppid; its error says it reads the
// service's configuration and names --dev, as allowlist's does, and with
// --dev it validates the development app.
func TestConfigCheckSaysWhatItReads(t *testing.T) {
	t.Setenv("IMCALLBACK_DATA_DIR", t.TempDir())
	t.Setenv("IMCALLBACK_SDKAPPID", "")
	if _, err := runCLI(t, "config", "check"); err == nil || !strings.Contains(err.Error(), "IMCALLBACK_SDKAPPID") ||
		!strings.Contains(err.Error(), "--dev for make run") {
		t.Errorf("config check without an app: %v", err)
	}
	if out, err := runCLI(t, "config", "check", "--dev"); err != nil || !strings.Contains(out, config.DevSdkAppID) {
		t.Errorf("config check --dev: %v\n%s", err, out)
	}
	// With --dev given, the hint would send the user where they are.
	t.Setenv("IMCALLBACK_SIGN_WINDOW", "forever")
	if _, err := runCLI(t, "config", "check", "--dev"); err == nil || !strings.Contains(err.Error(), "IMCALLBACK_SIGN_WINDOW") ||
		strings.Contains(err.Error(), "--dev for make run") {
		t.Errorf("config check --dev of a bad configuration: %v", err)
	}
}

// TestTLSFilesAreReadOnlyWhereServed: config check says the TLS files
// cannot be used, while allowlist, which never serves, runs without them.
func TestTLSFilesAreReadOnlyWhereServed(t *testing.T) {
	t.Setenv("IMCALLBACK_DATA_DIR", t.TempDir())
	t.Setenv("IMCALLBACK_TLS_CERT", "/nonexistent/tls.crt")
	t.Setenv("IMCALLBACK_TLS_KEY", "/nonexistent/tls.key")
	if _, err := runCLI(t, "config", "check", "--dev"); err == nil || !strings.Contains(err.Error(), "/nonexistent/tls.crt") {
		t.Errorf("config check with missing TLS files: %v", err)
	}
	if out, err := runCLI(t, "allowlist", "--dev"); err != nil {
		t.Errorf("allowlist with the service's TLS files elsewhere: %v\n%s", err, out)
	}
}

// wordsSection is a module's configuration section, as config.Section declares one.
type wordsSection struct {
	Words []string `koanf:"words"`
}

func (wordsSection) Validate() error { return nil }

// TestClientCommandsReadTheModulesSections: events, topics and delivery
// read the same file as serve and config check of a program whose modules
// declare a section: the section's keys are no unknown keys there.
func TestClientCommandsReadTheModulesSections(t *testing.T) {
	t.Setenv("IMCALLBACK_DATA_DIR", t.TempDir())
	t.Setenv("IMCALLBACK_ADMIN_URL", "")
	file := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(file, []byte("sdkappid: [\"1400000001\"]\nmoderation:\n  words: [spam]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	admin := "http://" + imtest.FreeAddr(t) // nothing answers there
	module := config.Section("moderation", wordsSection{})
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		root := newRootCmd(&out, &out, module)
		root.SetArgs(args)
		err := root.ExecuteContext(context.Background())
		return out.String(), err
	}
	if out, err := run("config", "check", "--config", file); err != nil {
		t.Fatalf("config check: %v\n%s", err, out)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"delivery", "status", "--admin", admin}, "no imcallback service answers"},
		{[]string{"events", "list", "--admin", admin}, "no imcallback service answers"},
		{[]string{"topics", "list", "--admin", admin}, "no imcallback service answers"},
		{[]string{"topics", "list", "--offline"}, "no topic store"},
	} {
		_, err := run(append(tt.args, "--config", file)...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v: %v, want an error saying %q", tt.args, err, tt.want)
		}
	}
}

// TestUnknownSubcommandFails: a command that only groups others fails on a
// name that is none of its subcommands, as the root does, instead of
// printing its help and succeeding; alone it still prints its help.
func TestUnknownSubcommandFails(t *testing.T) {
	for _, args := range [][]string{{"nosuch"}, {"events", "lst"}, {"delivery", "pase"}, {"topics", "lst"}, {"config", "chek"}} {
		out, err := runCLI(t, args...)
		if err == nil || !strings.Contains(err.Error(), `unknown command "`+args[len(args)-1]+`"`) {
			t.Errorf("%v: %v, want an unknown command error\n%s", args, err, out)
		}
	}
	for _, group := range []string{"events", "delivery", "topics", "config"} {
		out, err := runCLI(t, group)
		if err != nil || !strings.Contains(out, "Available Commands:") {
			t.Errorf("%s alone: %v, want its help\n%s", group, err, out)
		}
	}
}

// TestAllowlistQuotesTheFetchError: the error of the last Tencent list
// fetch may quote a remote server's answer; a control character in it
// (ESC, a newline) is shown escaped, not sent to the terminal or let to
// forge a line of the table.
func TestAllowlistQuotesTheFetchError(t *testing.T) {
	bad := "GetIPList: HTTP 502: \x1b[2J\x1b]0;pwned\x07\napp 1400000009\topen: every source is accepted"
	lists := []allowlist.AppList{
		{App: "1400000001", IPList: true, Closed: true, Error: bad},
		{App: "1400000002", IPList: true, FetchedAt: time.Unix(1700000000, 0), Age: time.Hour, Error: bad},
		{App: "1400000003", IPList: true, FetchedAt: time.Unix(1700000000, 0), Age: time.Hour, Error: "plain error, kept as it is"},
	}
	var out strings.Builder
	if err := writeAllowlist(&out, lists); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	if strings.ContainsAny(got, "\x1b\x07") || strings.Count(got, "\n") != len(lists) {
		t.Fatalf("the fetch error is printed unquoted:\n%q", got)
	}
	if strings.Count(got, strconv.QuoteToGraphic(bad)) != 2 || !strings.Contains(got, "plain error, kept as it is\n") {
		t.Fatalf("the fetch error is not quoted as tableCell quotes:\n%s", got)
	}
}

// TestConfigCheckRefusesAForwardServeRefuses: serve builds the forwarder
// against the catalogue and refuses a glob that matches no command and a
// before-command two destinations could both take; config check called
// both valid.
func TestConfigCheckRefusesAForwardServeRefuses(t *testing.T) {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	tests := []struct{ name, yaml, want string }{
		{"glob matching nothing", `forward:
  - name: backend
    match: ["Grp.*"]
    url: "http://127.0.0.1:1/events"
    secret: "` + secret + `"
`, `match "Grp.*" matches no command`},
		{"before-command of two destinations", `forward:
  - name: backend
    match: ["Group.*"]
    url: "http://127.0.0.1:1/events"
    secret: "` + secret + `"
  - name: moderation
    match: ["Group.CallbackBeforeSendMsg"]
    url: "http://127.0.0.1:1/decide"
    secret: "` + secret + `"
`, "is matched by destinations backend and moderation"},
		{"a before-command destination left no time", `before_timeout: 50ms
forward:
  - name: moderation
    match: ["Group.CallbackBeforeSendMsg"]
    url: "http://127.0.0.1:1/decide"
    secret: "` + secret + `"
`, "IMCALLBACK_BEFORE_TIMEOUT 50ms leaves the destination of Group.CallbackBeforeSendMsg no time to answer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("IMCALLBACK_SDKAPPID", "1400000000")
			t.Setenv("IMCALLBACK_TOKENS", "t")
			t.Setenv("IMCALLBACK_DATA_DIR", t.TempDir())
			t.Setenv("IMCALLBACK_DELIVERY", "inline")
			t.Setenv("IMCALLBACK_LISTEN", "127.0.0.1:0")
			t.Setenv("IMCALLBACK_ADMIN_LISTEN", "127.0.0.1:0")
			file := filepath.Join(t.TempDir(), "forward.yaml")
			if err := os.WriteFile(file, []byte(tt.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			if out, err := runCLI(t, "config", "check", "--config", file); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("config check: %q, %v; want an error saying %q", out, err, tt.want)
			}
			// serve refuses before it listens; a serve that starts is stopped
			// by the context, and its nil error fails the test.
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			var out bytes.Buffer
			root := newRootCmd(&out, &out)
			root.SetArgs([]string{"serve", "--config", file})
			if err := root.ExecuteContext(ctx); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("serve: %q, %v; want an error saying %q", out.String(), err, tt.want)
			}
		})
	}
	t.Run("a short before_timeout, no destination of a before-command", func(t *testing.T) {
		t.Setenv("IMCALLBACK_SDKAPPID", "1400000000")
		t.Setenv("IMCALLBACK_TOKENS", "t")
		t.Setenv("IMCALLBACK_BEFORE_TIMEOUT", "20ms")
		t.Setenv("IMCALLBACK_FORWARD_URL", "http://127.0.0.1:1/events")
		t.Setenv("IMCALLBACK_FORWARD_SECRET", secret)
		t.Setenv("IMCALLBACK_FORWARD_MATCH", "Group.CallbackAfter*")
		if out, err := runCLI(t, "config", "check"); err != nil || !strings.Contains(out, "configuration is valid") {
			t.Fatalf("config check: %q, %v", out, err)
		}
	})
	t.Run("valid", func(t *testing.T) {
		t.Setenv("IMCALLBACK_SDKAPPID", "1400000000")
		t.Setenv("IMCALLBACK_TOKENS", "t")
		t.Setenv("IMCALLBACK_FORWARD_URL", "http://127.0.0.1:1/events")
		t.Setenv("IMCALLBACK_FORWARD_SECRET", secret)
		if out, err := runCLI(t, "config", "check"); err != nil || !strings.Contains(out, "configuration is valid") {
			t.Fatalf("config check: %q, %v", out, err)
		}
	})
}

// TestUnknownCommandSuggestsTheNearest: a mistyped command (servee,
// delivery statu) failed naming only the word; the error now names the
// commands close to it, however the word came (as a command, after help,
// before --help), and none when nothing is close.
func TestUnknownCommandSuggestsTheNearest(t *testing.T) {
	tests := []struct {
		args []string
		want string // the error's end; "" when no command is close
	}{
		{[]string{"servee"}, `unknown command "servee" for "imcallback"; did you mean serve?`},
		{[]string{"delivery", "statu"}, `unknown command "statu" for "imcallback delivery"; did you mean status?`},
		{[]string{"delivery", "pase"}, `unknown command "pase" for "imcallback delivery"; did you mean pause?`},
		{[]string{"evnts", "list"}, `unknown command "evnts" for "imcallback"; did you mean events?`},
		{[]string{"help", "topcs"}, `unknown command "topcs" for "imcallback"; did you mean topics?`},
		{[]string{"config", "chek", "--help"}, `unknown command "chek" for "imcallback config"; did you mean check?`},
		{[]string{"nosuch"}, ""},
	}
	for _, tt := range tests {
		// Run's, named imcallback (Run goes by the test binary's name).
		err := runNamed(defaultName, tt.args, io.Discard, io.Discard)
		switch {
		case err == nil:
			t.Errorf("%v succeeded", tt.args)
		case tt.want != "" && !strings.HasSuffix(err.Error(), tt.want):
			t.Errorf("%v: %v, want an error ending %q", tt.args, err, tt.want)
		case tt.want == "" && strings.Contains(err.Error(), "did you mean"):
			t.Errorf("%v: %v, want no suggestion", tt.args, err)
		}
	}
}

// TestHelpAndCompletionRefuseUnknownTopics: cobra's own help and
// completion commands fail on a command they do not know, as every other
// command does: `completion zssh > file` wrote the help to the file and
// exited 0, and `help delivery pase` printed the delivery group's help.
func TestHelpAndCompletionRefuseUnknownTopics(t *testing.T) {
	tests := []struct {
		args    []string
		unknown string // the unknown command the error names; "" when it succeeds
	}{
		{[]string{"help", "pase"}, "pase"},
		{[]string{"help", "delivery", "pase"}, "pase"},
		{[]string{"completion", "zssh"}, "zssh"},
		{[]string{"help"}, ""},
		{[]string{"help", "events", "list"}, ""},
		// The words after a command that takes arguments are its
		// arguments, no unknown command: its help is shown.
		{[]string{"help", "events", "get", "7"}, ""},
		{[]string{"help", "topics", "get", "@TGS#_g@TOPIC#_t"}, ""},
		{[]string{"help", "events", "pase", "7"}, "pase"},
		{[]string{"completion"}, ""},
		{[]string{"completion", "bash"}, ""},
	}
	for _, tt := range tests {
		out, err := runCLI(t, tt.args...)
		switch {
		case tt.unknown == "" && err != nil:
			t.Errorf("%v: %v\n%s", tt.args, err, out)
		case tt.unknown != "" && (err == nil || !strings.Contains(err.Error(), `unknown command "`+tt.unknown+`"`)):
			t.Errorf("%v: %v, want an unknown command error naming %q\n%s", tt.args, err, tt.unknown, out)
		}
	}
}

// TestHelpFlagRefusesAnUnknownCommand: --help (-h) after a word that
// names no command of a group (or of the root) fails naming it, as the
// command line fails without the flag and as `help delivery pase` does,
// and prints no help: cobra printed the group's help and exited 0, so a
// script probing for a command found one that does not exist. Help of a
// real command, and of a command given its arguments, is still shown.
func TestHelpFlagRefusesAnUnknownCommand(t *testing.T) {
	tests := []struct {
		args    []string
		unknown string // the unknown command the error names; "" when the help is shown
	}{
		{[]string{"delivery", "pase", "--help"}, "pase"},
		{[]string{"pase", "-h"}, "pase"},
		{[]string{"events", "--help", "lst"}, "lst"},
		{[]string{"--help"}, ""},
		{[]string{"delivery", "--help"}, ""},
		{[]string{"delivery", "pause", "--help"}, ""},
		{[]string{"events", "get", "7", "--help"}, ""},
		{[]string{"help", "delivery"}, ""},
	}
	for _, tt := range tests {
		var out, errOut bytes.Buffer
		err := Run(tt.args, &out, &errOut)
		switch {
		case tt.unknown == "" && (err != nil || !strings.Contains(out.String(), "Usage:")):
			t.Errorf("%v: %v, want its help\n%s", tt.args, err, out.String())
		case tt.unknown != "" && (err == nil || !strings.Contains(err.Error(), `unknown command "`+tt.unknown+`"`)):
			t.Errorf("%v: %v, want an unknown command error naming %q", tt.args, err, tt.unknown)
		case tt.unknown != "" && out.Len() > 0:
			t.Errorf("%v: printed %q beside the error", tt.args, out.String())
		}
	}
}

// TestAGOGCTheRuntimeCannotReadIsRefused: the Go runtime reads a GOGC that
// is neither a whole number nor off (400%, OFF, " 400") as its default,
// 100, without a word, and tuneGC, seeing GOGC set, kept its hands off:
// the service ran at GOGC=100 while the operator believed otherwise.
// serve and config check refuse it, naming GOGC and its value; a GOGC the
// runtime reads (a number, off, empty) passes. serve checks it before the
// files the configuration names, so its error here is GOGC's, not the
// missing certificate's.
func TestAGOGCTheRuntimeCannotReadIsRefused(t *testing.T) {
	for _, tc := range []struct {
		gogc    string
		refused bool
	}{
		{"400%", true},
		{"OFF", true},
		{" 400", true},
		{"4e2", true},
		{"99999999999", true}, // past the runtime's 32 bits
		{"400", false},
		{"off", false},
		{"-1", false},
		{"", false},
	} {
		t.Run(tc.gogc, func(t *testing.T) { checkGCVariable(t, "GOGC", tc.gogc, tc.refused) })
	}
}

// checkGCVariable sets the runtime's variable name to value and checks
// that config check and serve refuse it, naming it and its value, when
// refused, and that config check takes it otherwise. serve checks it
// before the files the configuration names, so its error with a missing
// certificate is the variable's.
func checkGCVariable(t *testing.T, name, value string, refused bool) {
	t.Helper()
	t.Setenv("IMCALLBACK_SDKAPPID", "1400000000")
	t.Setenv("IMCALLBACK_TOKENS", "t")
	t.Setenv(name, value)
	named := fmt.Sprintf("%s=%q", name, value)
	_, err := runCLI(t, "config", "check")
	if got := err != nil && strings.Contains(err.Error(), named); got != refused {
		t.Errorf("config check with %s: %v; want refused %v, naming it", named, err, refused)
	}
	if refused {
		dir := t.TempDir()
		t.Setenv("IMCALLBACK_TLS_CERT", filepath.Join(dir, "missing.pem"))
		t.Setenv("IMCALLBACK_TLS_KEY", filepath.Join(dir, "missing.key"))
		if _, err := runCLI(t, "serve"); err == nil || !strings.Contains(err.Error(), named) {
			t.Errorf("serve with %s: %v; want an error naming it", named, err)
		}
	}
}

// TestAMemoryLimitTooSmallToServeIsRefused: GOMEMLIMIT=0 is no "no limit"
// to the Go runtime but a limit of 0 bytes, and a number without a unit
// counts bytes (GOMEMLIMIT=512 for 512 MiB is 512 bytes): below 1 MiB the
// collector runs all the time and takes the CPU the callbacks need. At 0
// the memory watch, which reads 0 as no limit, said nothing, and
// imcallback_memory_limit_bytes read as none. serve and config check
// refuse such a limit, naming it; off, a limit of 1 MiB or more and the
// empty string (the service's default) pass.
func TestAMemoryLimitTooSmallToServeIsRefused(t *testing.T) {
	for _, tc := range []struct {
		gomemlimit string
		refused    bool
	}{
		{"0", true},
		{"0MiB", true},
		{"0B", true},
		{"512", true},
		{"1023KiB", true},
		{"1048575B", true},
		{"1MiB", false},
		{"1048576", false},
		{"190MiB", false},
		{"4GiB", false},
		{"9223372036854775807", false},
		{"off", false},
		{"", false},
	} {
		t.Run(tc.gomemlimit, func(t *testing.T) { checkGCVariable(t, "GOMEMLIMIT", tc.gomemlimit, tc.refused) })
	}
}

// TestSampleOfACommandInAnotherCase: send --sample of a command written in
// another case names the command it may mean, as imsend.Sample does,
// instead of sending the user to --list.
func TestSampleOfACommandInAnotherCase(t *testing.T) {
	for _, tc := range []struct{ command, want string }{
		{"group.callbackaftercreatetopic", `no sample for "group.callbackaftercreatetopic": did you mean Group.CallbackAfterCreateTopic?`},
		{"Group.NoSuchCallback", `no sample for "Group.NoSuchCallback" (see --list)`},
		// What the user wrote is quoted: a control character (an escape
		// sequence, a line break) does not reach the terminal raw.
		{"Group.\x1b[2JX\nY", `no sample for "Group.\x1b[2JX\nY" (see --list)`},
	} {
		_, err := sendBody(sendFlags{sample: true, command: tc.command}, catalogueSamples{})
		if err == nil || err.Error() != tc.want {
			t.Errorf("sendBody(--sample --command %q) = %q, want %q", tc.command, err, tc.want)
		}
	}
}

// TestSendRepeatOfABeforeCommandSaysNothingOfDuplicates: durable delivery
// stores after-callbacks only; a before-callback's handler decides every
// request again, whatever its body. The summary of a --repeat run of one
// once said that "with durable delivery every one after the first was a
// duplicate, answered without being stored again".
func TestSendRepeatOfABeforeCommandSaysNothingOfDuplicates(t *testing.T) {
	s := imtest.Start(t, nil)
	for _, command := range []string{"C2C.CallbackBeforeSendMsg", "Sns.CallbackPrevFriendAdd", "Chatbot.OnC2CSignalMessage"} {
		out, err := runCLI(t, "send", "--url", s.Sender.URL, "--appid", imtest.AppID, "--token", imtest.Token,
			"--command", command, "--sample", "--repeat", "3")
		if err != nil || !strings.Contains(out, "3 requests in") {
			t.Fatalf("%s: %v\n%s", command, err, out)
		}
		if strings.Contains(out, "duplicate") || strings.Contains(out, "stored") {
			t.Errorf("%s: the summary speaks of stored events and duplicates of a before-command:\n%s", command, out)
		}
	}
}
