package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/imcallback/imcallback/imtest"
	"github.com/imcallback/imcallback/internal/natstest"
)

// builds caches the binaries built in this test process, by package path.
var builds sync.Map

// TestMain removes the binaries built for the tests once they ran: they
// outlive each test, so no test's temporary directory holds them.
func TestMain(m *testing.M) {
	code := m.Run()
	builds.Range(func(_, path any) bool {
		_ = os.RemoveAll(filepath.Dir(path.(string)))
		return true
	})
	os.Exit(code)
}

// buildBinary builds pkg (e.g. "./cmd/imcallback") once per test process.
func buildBinary(tb testing.TB, pkg string) string {
	tb.Helper()
	if path, ok := builds.Load(pkg); ok {
		return path.(string)
	}
	dir, err := os.MkdirTemp("", "imcallback-e2e-")
	if err != nil {
		tb.Fatal(err)
	}
	out := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("go build %s: %v\n%s", pkg, err, msg)
	}
	builds.Store(pkg, out)
	return out
}

// client is the tests' HTTP client: its timeout turns a service that
// accepts a request and never answers into a failure, not a hang.
var client = &http.Client{Timeout: 10 * time.Second}

// runTimeout bounds one run of the CLI, so a hung command fails the test.
const runTimeout = time.Minute

// serviceEnv is the environment of a binary a test runs: the test
// process's without its IMCALLBACK_ variables, then env. A setting left
// exported in the shell (IMCALLBACK_DELIVERY, _STORE_DSN, _NATS_URL,
// _ADMIN_TOKEN) would otherwise run the test on another configuration
// than its own.
func serviceEnv(env ...string) []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "IMCALLBACK_") {
			out = append(out, kv)
		}
	}
	return append(out, env...)
}

// process is a running binary.
type process struct {
	cmd    *exec.Cmd
	log    *strings.Builder
	done   chan struct{}
	public string // http://host:port of IMCALLBACK_LISTEN
	admin  string // http://host:port of IMCALLBACK_ADMIN_LISTEN, if any
}

// startProcess runs bin with env (plus IMCALLBACK_LISTEN and, when admin
// is true, IMCALLBACK_ADMIN_LISTEN on free ports) and waits until it answers.
func startProcess(tb testing.TB, bin string, env []string, admin bool, args ...string) *process {
	tb.Helper()
	p := &process{log: &strings.Builder{}, done: make(chan struct{})}
	listen := imtest.FreeAddr(tb)
	p.public = "http://" + listen
	env = append(env, "IMCALLBACK_LISTEN="+listen)
	if admin {
		a := imtest.FreeAddr(tb)
		p.admin = "http://" + a
		env = append(env, "IMCALLBACK_ADMIN_LISTEN="+a)
	}
	p.cmd = exec.Command(bin, args...)
	natstest.DieWithTest(p.cmd)
	p.cmd.Env = serviceEnv(env...)
	out := &syncWriter{b: p.log} // one writer, one lock: output reads under it
	p.cmd.Stdout, p.cmd.Stderr = out, out
	if err := p.cmd.Start(); err != nil {
		tb.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	tb.Cleanup(p.kill)
	probe := p.public + "/"
	if admin {
		probe = p.admin + "/readyz"
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := client.Get(probe)
		if err == nil {
			resp.Body.Close()
			if !admin || resp.StatusCode == http.StatusOK {
				return p
			}
		}
		select {
		case <-p.done:
			tb.Fatalf("%s exited at start:\n%s", bin, p.output())
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s not ready after 30s:\n%s", bin, p.output())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kill ends the process at once (SIGKILL) and waits for it.
func (p *process) kill() {
	_ = p.cmd.Process.Kill()
	<-p.done
}

// stop sends SIGTERM and waits up to timeout for a clean exit.
func (p *process) stop(timeout time.Duration) error {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	select {
	case <-p.done:
		if code := p.cmd.ProcessState.ExitCode(); code != 0 {
			return fmt.Errorf("exit code %d", code)
		}
		return nil
	case <-ctx.Done():
		p.kill()
		return fmt.Errorf("did not stop within %v", timeout)
	}
}

func (p *process) output() string {
	w := p.cmd.Stderr.(*syncWriter)
	w.mu.Lock()
	defer w.mu.Unlock()
	return p.log.String()
}

type syncWriter struct {
	mu sync.Mutex
	b  *strings.Builder
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// topicIDs reads every page of the admin listener's /v1/topics, of one
// group unless group is "".
func topicIDs(client *http.Client, admin, group string) ([]string, error) {
	var ids []string
	for cursor := ""; ; {
		resp, err := client.Get("http://" + admin + "/v1/topics?limit=1000&group_id=" + url.QueryEscape(group) +
			"&cursor=" + url.QueryEscape(cursor))
		if err != nil {
			return nil, err
		}
		var page struct {
			Topics []struct {
				TopicID string `json:"topic_id"`
			} `json:"topics"`
			NextCursor string `json:"next_cursor"`
		}
		err = json.NewDecoder(resp.Body).Decode(&page)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("GET /v1/topics: HTTP %d: %v", resp.StatusCode, err)
		}
		for _, tp := range page.Topics {
			ids = append(ids, tp.TopicID)
		}
		if page.NextCursor == "" {
			return ids, nil
		}
		cursor = page.NextCursor
	}
}
