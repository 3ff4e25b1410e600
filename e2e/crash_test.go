package e2e_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imcallback/imcallback/imtest"
	"github.com/imcallback/imcallback/internal/natstest"
)

const (
	crashToken   = "crash-test-token"
	crashCommand = "Group.CallbackAfterCreateTopic"
	crashGroup   = "@TGS#_crash"
	// crashEvents are sent before and during the kill; crashClients send them at once.
	crashEvents  = 3000
	crashClients = 32
	// afterRestart are sent once the restarted service is ready.
	afterRestart = 200
)

// TestKill9LosesNoAcknowledgedEvent sends signed topic callbacks to the
// real binary in durable mode (embedded JetStream), kills it with SIGKILL
// while requests are in flight, restarts it on the same data directory and
// checks that every event answered 200 OK ends up in the topic store exactly
// once.
func TestKill9LosesNoAcknowledgedEvent(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	dir := t.TempDir()
	svc := &crashService{
		t:    t,
		bin:  buildBinary(t, "./cmd/imcallback"),
		data: filepath.Join(dir, "data"),
		pub:  imtest.FreeAddr(t),
		adm:  imtest.FreeAddr(t),
		logs: filepath.Join(dir, "service.log"),
	}
	svc.start()
	t.Cleanup(svc.kill)

	client := &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: crashClients, MaxConnsPerHost: crashClients},
	}
	defer client.CloseIdleConnections()

	var (
		acked    sync.Map // topic id → struct{}: answered 200 with an OK envelope
		nAcked   atomic.Int64
		nFailed  atomic.Int64
		killedAt atomic.Int64 // acknowledged count when the kill was sent
	)
	send := func(ids <-chan string) {
		for id := range ids {
			if svc.post(client, id) {
				acked.Store(id, struct{}{})
				nAcked.Add(1)
			} else {
				nFailed.Add(1)
			}
		}
	}
	ids := make(chan string)
	var wg sync.WaitGroup
	for range crashClients {
		wg.Go(func() { send(ids) })
	}
	// Kill -9 half-way, with every client mid-request. answered is closed
	// once every request of this phase has its answer or failure.
	killed, answered := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(killed)
		for nAcked.Load() < crashEvents/2 {
			select {
			case <-answered: // fewer than half acknowledged: no kill, reported below
				return
			case <-time.After(time.Millisecond):
			}
		}
		killedAt.Store(nAcked.Load())
		svc.kill()
	}()
	for i := range crashEvents {
		ids <- crashTopicID(i)
	}
	close(ids)
	wg.Wait()
	close(answered)
	<-killed
	if killedAt.Load() == 0 {
		t.Fatalf("the kill was never sent: only %d of %d events acknowledged, %d failed", nAcked.Load(), crashEvents, nFailed.Load())
	}
	t.Logf("phase 1: %d sent, %d acknowledged (%d when SIGKILL was sent), %d failed",
		crashEvents, nAcked.Load(), killedAt.Load(), nFailed.Load())
	if nFailed.Load() == 0 {
		t.Fatal("no request failed: the kill did not hit requests in flight")
	}

	svc.start() // same data directory
	if ids, err := svc.topics(client); err == nil {
		pending, _ := svc.pending(client)
		t.Logf("after the restart: %d stored, %v pending (events whose handler the kill interrupted come back after the ack wait)", len(ids), pending)
	}
	ids = make(chan string)
	for range crashClients {
		wg.Go(func() { send(ids) })
	}
	for i := range afterRestart {
		ids <- crashTopicID(crashEvents + i)
	}
	close(ids)
	wg.Wait()

	stored := svc.waitDrained(client)
	seen := make(map[string]int, len(stored))
	for _, id := range stored {
		seen[id]++
	}
	var lost, dup []string
	acked.Range(func(k, _ any) bool {
		if seen[k.(string)] == 0 {
			lost = append(lost, k.(string))
		}
		return true
	})
	for id, n := range seen {
		if n > 1 {
			dup = append(dup, id)
		}
	}
	total := crashEvents + afterRestart
	t.Logf("sent %d, acknowledged %d, stored %d (%d stored without an answer: cut off by the kill), lost %d, duplicates %d",
		total, nAcked.Load(), len(seen), len(seen)-int(nAcked.Load()), len(lost), len(dup))
	if len(lost) > 0 {
		t.Errorf("%d acknowledged events are not stored, e.g. %v", len(lost), lost[:min(5, len(lost))])
	}
	if len(dup) > 0 {
		t.Errorf("%d topics listed more than once, e.g. %v", len(dup), dup[:min(5, len(dup))])
	}
	if nAcked.Load() < int64(afterRestart) {
		t.Errorf("only %d events acknowledged", nAcked.Load())
	}
}

func crashTopicID(i int) string { return fmt.Sprintf("%s@TOPIC#_%05d", crashGroup, i) }

// crashService runs the binary; start and kill may alternate.
type crashService struct {
	t                   *testing.T
	bin, data, pub, adm string
	logs                string
	mu                  sync.Mutex
	cmd                 *exec.Cmd
	waited              chan struct{}
}

func (s *crashService) start() {
	s.t.Helper()
	logf, err := os.OpenFile(s.logs, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		s.t.Fatal(err)
	}
	cmd := exec.Command(s.bin, "serve")
	natstest.DieWithTest(cmd)
	cmd.Env = serviceEnv(
		"IMCALLBACK_SDKAPPID="+imtest.AppID,
		"IMCALLBACK_TOKENS="+crashToken,
		"IMCALLBACK_LISTEN="+s.pub,
		"IMCALLBACK_ADMIN_LISTEN="+s.adm,
		"IMCALLBACK_DATA_DIR="+s.data,
		"IMCALLBACK_DELIVERY=durable",
		"IMCALLBACK_LOG_LEVEL=warn",
		// Events whose handler was running at the kill come back after the
		// ack wait, HandlerTimeout + 5s: keep it short for the test.
		"IMCALLBACK_HANDLER_TIMEOUT=2s",
	)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	waited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(waited)
	}()
	s.mu.Lock()
	s.cmd, s.waited = cmd, waited
	s.mu.Unlock()
	s.t.Cleanup(func() {
		if s.t.Failed() {
			b, _ := os.ReadFile(s.logs)
			s.t.Logf("service log (tail):\n%s", crashTail(string(b), 4000))
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := client.Get("http://" + s.adm + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-waited:
			s.t.Fatalf("the service exited at start; see %s", s.logs)
		default:
		}
		if time.Now().After(deadline) {
			s.t.Fatal("the service did not become ready within 60s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// kill sends SIGKILL and waits for the process to be gone.
func (s *crashService) kill() {
	s.mu.Lock()
	cmd, waited := s.cmd, s.waited
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-waited
}

// post sends one signed create-topic callback and reports whether it was
// answered 200 with an OK envelope.
func (s *crashService) post(client *http.Client, topicID string) bool {
	sender := imtest.Sender{URL: "http://" + s.pub + "/im/callback", AppID: imtest.AppID, Token: crashToken,
		ClientIP: "203.0.113.7", Client: client}
	body, _ := json.Marshal(map[string]any{
		"CallbackCommand":  crashCommand,
		"GroupId":          crashGroup,
		"TopicId":          topicID,
		"Operator_Account": "admin",
		"Owner_Account":    "admin",
		"Type":             "Community",
		"Name":             "topic " + topicID,
	})
	res, err := sender.Send(context.Background(), crashCommand, body)
	return err == nil && res.OK()
}

// waitDrained polls until the consumer has nothing pending and the topic
// count stopped changing, and returns the listed topic ids.
func (s *crashService) waitDrained(client *http.Client) []string {
	s.t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	last, stable := -1, 0
	for {
		ids, err := s.topics(client)
		if err != nil {
			s.t.Fatal(err)
		}
		pending, err := s.pending(client)
		if err != nil {
			s.t.Fatal(err)
		}
		if pending == 0 && len(ids) == last {
			stable++
		} else {
			stable = 0
		}
		if stable >= 3 {
			return ids
		}
		last = len(ids)
		if time.Now().After(deadline) {
			s.t.Fatalf("not drained after 2 minutes: %d topics, %v pending", len(ids), pending)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

func (s *crashService) topics(client *http.Client) ([]string, error) {
	return topicIDs(client, s.adm, "")
}

// pending reads imcallback_delivery_pending from /metrics.
func (s *crashService) pending(client *http.Client) (float64, error) {
	resp, err := client.Get("http://" + s.adm + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "imcallback_delivery_pending "); ok {
			return strconv.ParseFloat(v, 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, io.ErrUnexpectedEOF
}

func crashTail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}
