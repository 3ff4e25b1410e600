package e2e_test

// The cluster test: three imcallback replicas (the real binary) on a
// three-node NATS cluster with streams of three replicas and one
// PostgreSQL topic store, under a steady load, with one replica and the
// stream's leader node killed with SIGKILL mid-run and restarted.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/imcallback/imcallback/imtest"
	"github.com/imcallback/imcallback/internal/natstest"
)

// natsNode is one nats-server of the test's cluster, killed and started
// again on the same ports and store.
type natsNode struct {
	t                    *testing.T
	bin, name            string
	client, cluster, dir string
	routes               []string
	cmd                  *exec.Cmd
	done                 chan struct{}
}

func (n *natsNode) start() {
	n.t.Helper()
	host, port, _ := net.SplitHostPort(n.client)
	n.cmd = exec.Command(n.bin, "-n", n.name, "-a", host, "-p", port, "-js", "-sd", n.dir,
		"--cluster_name", "imcallback-test", "--cluster", "nats://"+n.cluster, "--routes", strings.Join(n.routes, ","))
	natstest.DieWithTest(n.cmd)
	n.done = make(chan struct{})
	if err := n.cmd.Start(); err != nil {
		n.t.Fatal(err)
	}
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(n.cmd, n.done)
}

func (n *natsNode) kill() {
	if n.cmd == nil {
		return
	}
	_ = n.cmd.Process.Kill()
	<-n.done
	n.cmd = nil
}

// newCluster makes count nodes routed to each other, none started: the
// test starts them, so the service can meet a cluster without a leader.
func newCluster(t *testing.T, count int) []*natsNode {
	bin := natstest.Binary(t)
	nodes := make([]*natsNode, count)
	var routes []string
	for i := range nodes {
		nodes[i] = &natsNode{t: t, bin: bin, name: fmt.Sprintf("n%d", i+1), client: imtest.FreeAddr(t), cluster: imtest.FreeAddr(t),
			dir: t.TempDir()}
		routes = append(routes, "nats://"+nodes[i].cluster)
	}
	for _, n := range nodes {
		n.routes = routes
		t.Cleanup(n.kill)
	}
	return nodes
}

func clusterURL(nodes []*natsNode) string {
	var urls []string
	for _, n := range nodes {
		urls = append(urls, "nats://"+n.client)
	}
	return strings.Join(urls, ",")
}

// clusterDatabase creates a fresh PostgreSQL database for the test and
// returns its DSN, or skips when IMCALLBACK_TEST_POSTGRES_DSN is unset.
func clusterDatabase(t *testing.T) string {
	dsn := os.Getenv("IMCALLBACK_TEST_POSTGRES_DSN")
	if dsn == "" {
		t.Skip("set IMCALLBACK_TEST_POSTGRES_DSN (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable) to run the cluster test")
	}
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	name := "imcb_cluster_" + hex.EncodeToString(b[:])
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = admin.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		_ = admin.Close(context.Background())
	})
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// replica is one imcallback process of the cluster test.
type replica struct{ p *process }

// startReplica starts the binary on env; with waitReady until /readyz is
// 200, else until the admin listener answers at all.
func startReplica(t *testing.T, env []string, waitReady bool) *replica {
	t.Helper()
	r := &replica{}
	if waitReady {
		r.p = startProcess(t, buildBinary(t, "./cmd/imcallback"), env, true, "serve")
		return r
	}
	// Not ready yet is expected: wait for the admin listener only.
	a, l := imtest.FreeAddr(t), imtest.FreeAddr(t)
	p := &process{log: &strings.Builder{}, done: make(chan struct{}), public: "http://" + l, admin: "http://" + a}
	p.cmd = exec.Command(buildBinary(t, "./cmd/imcallback"), "serve")
	natstest.DieWithTest(p.cmd)
	p.cmd.Env = serviceEnv(append(env, "IMCALLBACK_LISTEN="+l, "IMCALLBACK_ADMIN_LISTEN="+a)...)
	out := &syncWriter{b: p.log} // one writer, one lock: output reads under it
	p.cmd.Stdout, p.cmd.Stderr = out, out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(p.kill)
	if !waitFor(30*time.Second, func() bool { return ready(p) != 0 }) {
		t.Fatalf("replica did not answer /readyz within 30s:\n%s", p.output())
	}
	r.p = p
	return r
}

// callbacksTotal is the sum of a replica's imcallback_callbacks_total.
func callbacksTotal(t *testing.T, p *process) float64 {
	t.Helper()
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(p.admin + "/metrics")
	if err != nil {
		t.Fatalf("scraping %s: %v", p.admin, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	sum := 0.0
	for _, m := range regexp.MustCompile(`(?m)^imcallback_callbacks_total\{[^}]*\} (\S+)$`).FindAllStringSubmatch(string(body), -1) {
		v, _ := strconv.ParseFloat(m[1], 64)
		sum += v
	}
	return sum
}

// clusterLoad sends signed creates with unique topic ids round-robin to
// the replicas that are in rotation, at a steady rate.
type clusterLoad struct {
	group  string
	sender imtest.Sender

	mu          sync.Mutex
	targets     []string       // public URLs in rotation
	inflight    map[string]int // requests sent to each URL and not yet answered
	sent        int
	answered    int // any HTTP answer
	acked       []string
	unavailable int
	refused     int // no answer (a replica being killed)
	other       map[string]int
}

func (l *clusterLoad) setTargets(urls ...string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.targets = urls
}

// idle reports whether every request sent to target has its answer (or
// its failure).
func (l *clusterLoad) idle(target string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.inflight[target] == 0
}

func (l *clusterLoad) send(i int) {
	l.mu.Lock()
	target := l.targets[i%len(l.targets)]
	l.inflight[target]++
	l.mu.Unlock()
	topicID := fmt.Sprintf("%s@TOPIC#_%06d", l.group, i)
	body, _ := json.Marshal(map[string]any{"CallbackCommand": "Group.CallbackAfterCreateTopic", "GroupId": l.group,
		"TopicId": topicID, "Name": topicID, "Type": "Community", "Owner_Account": "cluster"})
	s := l.sender
	s.URL = target + "/im/callback"
	res, err := s.Send(context.Background(), "Group.CallbackAfterCreateTopic", body)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.inflight[target]--
	l.sent++
	switch {
	case err != nil:
		l.refused++
	case res.OK():
		l.answered++
		l.acked = append(l.acked, topicID)
	case res.Status == http.StatusServiceUnavailable:
		l.answered++
		l.unavailable++
	default:
		l.answered++
		l.other[strconv.Itoa(res.Status)]++
	}
}

func TestClusterReplicasKilledUnderLoad(t *testing.T) {
	skipShort(t)
	dsn := clusterDatabase(t)
	nodes := newCluster(t, 3)
	nodes[0].start() // alone: no JetStream leader yet
	// A small pool per replica: four of them (one restarted while the
	// killed one's connections linger) and the other packages' tests share
	// the server's max_connections.
	sep := "?"
	if strings.Contains(dsn, "?") {
		sep = "&"
	}
	shared := []string{"IMCALLBACK_NATS_URL=" + clusterURL(nodes), "IMCALLBACK_STREAM_REPLICAS=3",
		"IMCALLBACK_STORE_DSN=" + dsn + sep + "pool_max_conns=6"}
	env := func() []string { return faultEnv(t, shared...) } // each replica its own data dir

	// The service starts on a cluster that has no leader, says not ready,
	// and becomes ready by itself once the cluster forms.
	first := startReplica(t, env(), false)
	if code := ready(first.p); code != http.StatusServiceUnavailable {
		t.Fatalf("replica on a cluster without a leader: /readyz %d, want 503\n%s", code, tail(first.p.output(), 20))
	}
	nodes[1].start()
	nodes[2].start()
	formed := time.Now()
	if !waitFor(60*time.Second, func() bool { return ready(first.p) == http.StatusOK }) {
		t.Fatalf("replica not ready 60s after the cluster formed:\n%s", tail(first.p.output(), 30))
	}
	t.Logf("ready %.1fs after the cluster formed", time.Since(formed).Seconds())
	replicas := []*replica{first, startReplica(t, env(), true), startReplica(t, env(), true)}

	nc, err := nats.Connect(clusterURL(nodes), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	info := func() (*jetstream.StreamInfo, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		st, err := js.Stream(ctx, "IMCALLBACK")
		if err != nil {
			return nil, err
		}
		return st.Info(ctx)
	}
	var si *jetstream.StreamInfo
	if !waitFor(30*time.Second, func() bool { si, err = info(); return err == nil }) {
		t.Fatalf("stream info: %v", err)
	}
	if si.Config.Replicas != 3 {
		t.Fatalf("stream: %+v, want 3 replicas", si)
	}

	// Seconds without a stream leader: the time between samples (every
	// 100ms, or as long as a stream info request takes) that found none.
	var leaderless time.Duration
	stopWatch := make(chan struct{})
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		prev := time.Now()
		for {
			select {
			case <-stopWatch:
				return
			case <-time.After(100 * time.Millisecond):
			}
			si, err := info()
			now := time.Now()
			if err != nil || si.Cluster == nil || si.Cluster.Leader == "" {
				leaderless += now.Sub(prev)
			}
			prev = now
		}
	}()

	var b [4]byte
	_, _ = rand.Read(b[:])
	l := &clusterLoad{group: "@TGS#_cluster" + hex.EncodeToString(b[:]), other: map[string]int{}, inflight: map[string]int{},
		// A generous client timeout: a request the replica answered but
		// the client gave up on would be in its count and in no answer.
		sender: imtest.Sender{AppID: imtest.AppID, Token: faultToken, Client: &http.Client{Timeout: 30 * time.Second}}}
	l.setTargets(replicas[0].p.public, replicas[1].p.public, replicas[2].p.public)
	const rate = 150 // requests per second
	const run = 24 * time.Second
	var wg sync.WaitGroup
	stopLoad := make(chan struct{})
	wg.Go(func() {
		tick := time.NewTicker(time.Second / rate)
		defer tick.Stop()
		var senders sync.WaitGroup
		defer senders.Wait()
		for i := 0; ; i++ {
			select {
			case <-stopLoad:
				return
			case <-tick.C:
				senders.Go(func() { l.send(i) })
			}
		}
	})

	// Mid-run: take the second replica out of rotation, read its count,
	// kill -9 it and the stream's leader node; restart both 4 s later.
	time.Sleep(7 * time.Second)
	l.setTargets(replicas[0].p.public, replicas[2].p.public)
	// Its count is read once every request sent to it is answered: one
	// answered later would be in the load's answers and in no replica's count.
	if !waitFor(10*time.Second, func() bool { return l.idle(replicas[1].p.public) }) {
		t.Fatal("the second replica still has requests in flight 10 s after it left the rotation")
	}
	killedCount := callbacksTotal(t, replicas[1].p)
	replicas[1].p.kill()
	// One stream info may time out on a loaded machine: ask until one
	// names the leader.
	if !waitFor(30*time.Second, func() bool {
		si, err = info()
		return err == nil && si.Cluster != nil && si.Cluster.Leader != ""
	}) {
		t.Fatalf("no stream leader to kill: %v", err)
	}
	var leader *natsNode
	for _, n := range nodes {
		if n.name == si.Cluster.Leader {
			leader = n
		}
	}
	if leader == nil {
		t.Fatalf("stream leader %q is none of the test's nodes", si.Cluster.Leader)
	}
	leader.kill()
	t.Logf("killed replica 2 (it had answered %.0f callbacks) and NATS node %s, the stream leader", killedCount, leader.name)
	time.Sleep(4 * time.Second)
	leader.start()
	replicas[1] = startReplica(t, env(), true)
	l.setTargets(replicas[0].p.public, replicas[1].p.public, replicas[2].p.public)
	time.Sleep(run - 11*time.Second - 500*time.Millisecond)
	close(stopLoad)
	wg.Wait()
	close(stopWatch)
	<-watchDone

	// Every event processed: the shared consumer has nothing pending and
	// every acknowledged topic is in PostgreSQL. Both, as the consumer can
	// count nothing pending just after the last append, before the server
	// tells it of the event.
	ctx := context.Background()
	db, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)
	counts := map[string]int{}
	var pending uint64
	var readErr error
	drained := waitFor(90*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		c, err := js.Consumer(ctx, "IMCALLBACK", "imcallback")
		if err != nil {
			return false
		}
		ci, err := c.Info(ctx)
		if err != nil {
			return false
		}
		pending = ci.NumPending + uint64(ci.NumAckPending) + uint64(ci.NumRedelivered)
		if counts, readErr = topicCounts(ctx, db, l.group); readErr != nil {
			return false
		}
		for _, id := range l.acked {
			if counts[id] == 0 {
				return false
			}
		}
		return pending == 0
	})
	if !drained && readErr != nil {
		t.Fatalf("reading the stored topics: %v", readErr)
	}
	if !drained {
		t.Errorf("after 90 s the consumer has %d events pending", pending)
	}

	// Every acknowledged topic is in PostgreSQL exactly once.
	lost, twice := 0, 0
	for _, id := range l.acked {
		switch counts[id] {
		case 0:
			lost++
		case 1:
		default:
			twice++
		}
	}
	if lost > 0 || twice > 0 {
		t.Errorf("of %d acknowledged topics, %d are not stored and %d stored more than once", len(l.acked), lost, twice)
	}

	// No dead letters.
	if dead, err := js.Stream(ctx, "IMCALLBACK_DEAD"); err != nil {
		t.Errorf("dead-letter stream: %v", err)
	} else if di, err := dead.Info(ctx); err != nil || di.State.Msgs != 0 {
		t.Errorf("dead letters: %+v %v, want none", di, err)
	}

	// The replicas' counts add up to the requests answered.
	total := killedCount
	for _, r := range replicas {
		total += callbacksTotal(t, r.p)
	}
	if int(total) != l.answered {
		t.Errorf("the replicas counted %.0f callbacks, the load got %d answers", total, l.answered)
	}
	if len(l.other) > 0 {
		t.Errorf("unexpected answers: %v", l.other)
	}
	t.Logf("cluster: sent %d, acknowledged %d, stored %d, answered 503 %d, no answer (replica killed) %d, "+
		"%.1f s without a stream leader", l.sent, len(l.acked), len(l.acked)-lost, l.unavailable, l.refused, leaderless.Seconds())
}

// topicCounts is how many rows each topic of group has in PostgreSQL.
func topicCounts(ctx context.Context, db *pgx.Conn, group string) (map[string]int, error) {
	rows, err := db.Query(ctx, "SELECT topic_id, count(*) FROM topics WHERE group_id = $1 GROUP BY topic_id", group)
	if err != nil {
		return nil, err
	}
	counts := map[string]int{}
	for rows.Next() {
		var id string
		var n int
		if err := rows.Scan(&id, &n); err != nil {
			return nil, err
		}
		counts[id] = n
	}
	return counts, rows.Err()
}
