package topicsync_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/labstack/echo/v4"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/imcallback/imcallback/plugins/topicsync"
)

// The outage tests put a TCP proxy between the PostgreSQL store and the
// server, in a database of their own, and fail the connections through it
// as a network or a server can: cut (every connection closed, new ones
// refused), hung (nothing answered, new connections held), then back. During
// the outage a write fails within its context (an inline callback's budget),
// as does the readiness check; once the server is back, both succeed again
// without reopening the store, and every write that returned nil is stored,
// once.

// inlineBudget is an inline after-handler's deadline (IMCALLBACK_INLINE_TIMEOUT's default).
const inlineBudget = 1500 * time.Millisecond

// checkBudget is a readiness check's deadline (server.CheckTimeout).
const checkBudget = 2 * time.Second

// freshDatabase creates a database of its own on the server of
// IMCALLBACK_TEST_POSTGRES_DSN, dropped when the test ends, and returns
// the DSN naming it.
func freshDatabase(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv(postgresDSNEnv)
	if dsn == "" {
		t.Skip("set IMCALLBACK_TEST_POSTGRES_DSN (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable) to run the PostgreSQL store tests")
	}
	name := "imcb_outage_" + randomHex(t)
	adminExec(t, dsn, "CREATE DATABASE "+name+" ENCODING 'UTF8' TEMPLATE template0")
	t.Cleanup(func() { adminExec(t, dsn, "DROP DATABASE "+name+" WITH (FORCE)") })
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// adminExec runs sql on a connection of its own to dsn's database.
func adminExec(t *testing.T, dsn, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// faultProxy forwards TCP connections to a server and fails them on
// demand: cut closes every connection and refuses new ones until restore;
// hang stops forwarding on every connection and holds new ones unanswered,
// as a hung server does, until thaw forwards again; failover forwards new
// connections while those held by the hang stay hung (the hung server's,
// once the address leads to another one).
type faultProxy struct {
	addr, target string
	ln           net.Listener
	wg           sync.WaitGroup

	mu     sync.Mutex
	cutOff bool
	hung   chan struct{} // while hung: closed by thaw
	links  map[*link]struct{}
}

// link is one proxied connection.
type link struct {
	client, server net.Conn      // server nil until dialled
	hung           chan struct{} // the hang holding it, nil while it forwards
	closed         chan struct{}
	closeOnce      sync.Once
}

// close closes both sides; p.mu is held.
func (l *link) close() {
	l.closeOnce.Do(func() {
		close(l.closed)
		l.client.Close()
		if l.server != nil {
			l.server.Close()
		}
	})
}

func startFaultProxy(t *testing.T, target string) *faultProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &faultProxy{addr: ln.Addr().String(), target: target, ln: ln, links: map[*link]struct{}{}}
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.wg.Go(func() { p.serve(c) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		p.cut()
		p.wg.Wait()
	})
	return p
}

// through is dsn with its host replaced by the proxy's.
func (p *faultProxy) through(t *testing.T, dsn string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	u.Host = p.addr
	return u.String()
}

func (p *faultProxy) serve(c net.Conn) {
	l := &link{client: c, closed: make(chan struct{})}
	p.mu.Lock()
	if p.cutOff {
		p.mu.Unlock()
		c.Close()
		return
	}
	l.hung = p.hung
	p.links[l] = struct{}{}
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		l.close()
		delete(p.links, l)
		p.mu.Unlock()
	}()
	if !p.forwarding(l) { // a connection made while hung is answered once thawed
		return
	}
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	p.mu.Lock()
	select {
	case <-l.closed:
		p.mu.Unlock()
		up.Close()
		return
	default:
	}
	l.server = up
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { p.pump(l, up, c); done <- struct{}{} }()
	go func() { p.pump(l, c, up); done <- struct{}{} }()
	<-done
	p.mu.Lock()
	l.close()
	p.mu.Unlock()
	<-done
}

// pump copies src to dst, holding what it read while l is hung.
func (p *faultProxy) pump(l *link, dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.forwarding(l) {
				return
			}
			if _, err := dst.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// forwarding waits while l is hung; false when it was closed.
func (p *faultProxy) forwarding(l *link) bool {
	for {
		p.mu.Lock()
		h := l.hung
		p.mu.Unlock()
		if h == nil {
			return true
		}
		select {
		case <-h:
		case <-l.closed:
			return false
		}
	}
}

// cut closes every connection and refuses new ones until restore.
func (p *faultProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cutOff = true
	for l := range p.links {
		l.close()
	}
}

func (p *faultProxy) restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cutOff = false
}

// hang stops forwarding on every connection, and holds new ones.
func (p *faultProxy) hang() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hung = make(chan struct{})
	for l := range p.links {
		l.hung = p.hung
	}
}

// thaw forwards again on every connection, what was held first.
func (p *faultProxy) thaw() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for l := range p.links {
		if l.hung == p.hung {
			l.hung = nil
		}
	}
	close(p.hung)
	p.hung = nil
}

// failover forwards new connections; those the hang holds stay hung.
func (p *faultProxy) failover() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hung = nil
}

// openThrough opens the PostgreSQL store of dsn, closed when the test ends.
func openThrough(t *testing.T, dsn string) topicsync.Store {
	t.Helper()
	s, err := topicsync.OpenPostgres(t.Context(), dsn, zaptest.NewLogger(t))
	if err != nil {
		t.Fatalf("OpenPostgres: %v", err)
	}
	t.Cleanup(func() { closeStore(t, s) })
	return s
}

// writes creates topics of one group from a few writers, each write under
// an inline callback's budget, until stopped, and keeps what each returned.
type writes struct {
	s     topicsync.Store
	group string
	stopc chan struct{}
	wg    sync.WaitGroup

	mu                sync.Mutex
	attempted, stored map[string]bool // stored: the writes that returned nil
	lastOK, lastFail  time.Time
}

func startWrites(t *testing.T, s topicsync.Store, group string) *writes {
	w := &writes{s: s, group: group, stopc: make(chan struct{}), attempted: map[string]bool{}, stored: map[string]bool{}}
	for n := range 4 {
		w.wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-w.stopc:
					return
				default:
				}
				w.create(fmt.Sprintf("%s@TOPIC#_w%d_%06d", group, n, i))
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
	t.Cleanup(w.stop)
	return w
}

// create writes topic id under an inline callback's budget and notes the outcome.
func (w *writes) create(id string) error {
	ctx, cancel := context.WithTimeout(context.Background(), inlineBudget)
	defer cancel()
	w.mu.Lock()
	w.attempted[id] = true
	w.mu.Unlock()
	err := w.s.Create(ctx, topicsync.Topic{SdkAppID: testApp, GroupID: w.group, TopicID: id, Name: id, CreatedAt: time.Now()})
	w.mu.Lock()
	defer w.mu.Unlock()
	if err == nil {
		w.stored[id] = true
		w.lastOK = time.Now()
	} else {
		w.lastFail = time.Now()
	}
	return err
}

func (w *writes) stop() {
	select {
	case <-w.stopc:
	default:
		close(w.stopc)
	}
	w.wg.Wait()
}

// since reports whether a write failed, and one succeeded, after t.
func (w *writes) since(t time.Time) (failed, ok bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lastFail.After(t), w.lastOK.After(t)
}

// check stops the writes and checks the group's rows: every write that
// returned nil is stored, and no topic is there twice or unasked.
func (w *writes) check(t *testing.T) {
	t.Helper()
	w.stop()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rows, err := w.s.List(ctx, topicsync.ListFilter{GroupID: w.group, IncludeDeleted: true})
	if err != nil {
		t.Fatalf("List after the outage: %v", err)
	}
	seen := map[string]bool{}
	for _, r := range rows {
		if seen[r.TopicID] {
			t.Errorf("topic %s listed twice", r.TopicID)
		}
		seen[r.TopicID] = true
		if !w.attempted[r.TopicID] {
			t.Errorf("topic %s stored, never written", r.TopicID)
		}
	}
	lost := 0
	for id := range w.stored {
		if !seen[id] {
			lost++
		}
	}
	if lost > 0 {
		t.Errorf("%d of %d writes that returned nil are not stored", lost, len(w.stored))
	}
	t.Logf("writes: %d attempted, %d returned nil, %d rows", len(w.attempted), len(w.stored), len(rows))
}

// eventually polls cond every 20 ms until it holds, or fails the test
// after timeout saying what did not happen.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ping is the readiness check's call: Ping under its deadline.
func ping(s topicsync.Store) error {
	ctx, cancel := context.WithTimeout(context.Background(), checkBudget)
	defer cancel()
	return s.Ping(ctx)
}

// TestPostgresStoreThroughACut: the connections to the server cut under
// load and new ones refused for a while, then accepted again: the writes
// and the readiness check fail meanwhile, and succeed again once the
// server can be reached, on the same store.
func TestPostgresStoreThroughACut(t *testing.T) {
	db := freshDatabase(t)
	p := startFaultProxy(t, hostOf(t, db))
	s := openThrough(t, p.through(t, db))
	w := startWrites(t, s, "@TGS#_cut")
	start := time.Now()
	eventually(t, 20*time.Second, "a write succeeds before the cut", func() bool { _, ok := w.since(start); return ok })

	p.cut()
	cut := time.Now()
	eventually(t, 20*time.Second, "a write fails after the cut", func() bool { failed, _ := w.since(cut); return failed })
	if err := ping(s); err == nil {
		t.Error("Ping while every connection is refused = nil, want an error")
	}
	time.Sleep(500 * time.Millisecond)

	p.restore()
	back := time.Now()
	eventually(t, 30*time.Second, "a write succeeds once the server can be reached", func() bool { _, ok := w.since(back); return ok })
	eventually(t, 30*time.Second, "Ping succeeds once the server can be reached", func() bool { return ping(s) == nil })
	w.check(t)
}

// TestPostgresStoreThroughAHungServer: the server hung (it takes
// connections, and answers nothing on any), then answering again, or
// replaced by another server while it stays hung (a failover). Writes and
// the readiness check fail within their deadlines meanwhile, and succeed
// again afterwards on the same store. Before, the failover left the store
// failing every write for up to two minutes more: the connection attempts
// made while the server hung went on for pgxpool's own bound, 2 minutes,
// and they held every slot of the pool.
func TestPostgresStoreThroughAHungServer(t *testing.T) {
	t.Run("answering again", func(t *testing.T) {
		db := freshDatabase(t)
		p := startFaultProxy(t, hostOf(t, db))
		s := openThrough(t, p.through(t, db))
		w := startWrites(t, s, "@TGS#_thaw")
		start := time.Now()
		eventually(t, 20*time.Second, "a write succeeds before the hang", func() bool { _, ok := w.since(start); return ok })

		p.hang()
		hung := time.Now()
		eventually(t, 20*time.Second, "a write fails while the server hangs", func() bool { failed, _ := w.since(hung); return failed })
		if err := ping(s); err == nil {
			t.Error("Ping while the server hangs = nil, want an error")
		}

		p.thaw()
		back := time.Now()
		eventually(t, 30*time.Second, "a write succeeds once the server answers", func() bool { _, ok := w.since(back); return ok })
		eventually(t, 30*time.Second, "Ping succeeds once the server answers", func() bool { return ping(s) == nil })
		w.check(t)
	})

	t.Run("failed over", func(t *testing.T) {
		defer topicsync.SetPostgresConnectTimeout(3 * time.Second)() // shorter than the default, for a quick test
		db := freshDatabase(t)
		p := startFaultProxy(t, hostOf(t, db))
		s := openThrough(t, p.through(t, db))
		w := &writes{s: s, group: "@TGS#_failover", stopc: make(chan struct{}), attempted: map[string]bool{}, stored: map[string]bool{}}
		// Asked until one succeeds: one write under the inline budget
		// (1.5 s) may outlast it on a loaded machine, as the server is
		// shared by every package's tests.
		eventually(t, 30*time.Second, "a write succeeds before the hang", func() bool {
			return w.create("@TGS#_failover@TOPIC#_before") == nil
		})
		// A hang under steady load ends with every slot of the pool taken
		// by a connection attempt made during it: those of the connections
		// the hang broke are freed within 15 s (pgx's bound on closing
		// them), and taken again. Begin where that ends: no connection.
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		if err := topicsync.ClosePostgresConns(ctx, s); err != nil {
			t.Fatal(err)
		}

		p.hang()
		var wg sync.WaitGroup
		errs := make([]error, 40) // more than the pool's 32 connections
		for i := range errs {
			wg.Go(func() { errs[i] = w.create(fmt.Sprintf("@TGS#_failover@TOPIC#_hung%02d", i)) })
		}
		wg.Wait()
		for i, err := range errs {
			if err == nil {
				t.Errorf("write %d while the server hangs = nil, want an error", i)
			}
		}
		if err := ping(s); err == nil {
			t.Error("Ping while the server hangs = nil, want an error")
		}

		p.failover()
		deadline := time.Now().Add(30 * time.Second)
		for i := 0; ; i++ {
			err := w.create(fmt.Sprintf("@TGS#_failover@TOPIC#_after%04d", i))
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("no write succeeded within 30 s of the failover (%d tried): %v", i+1, err)
			}
			time.Sleep(200 * time.Millisecond)
		}
		eventually(t, 30*time.Second, "Ping succeeds after the failover", func() bool { return ping(s) == nil })
		w.check(t)
	})
}

// TestPostgresStartWhileTheServerHangs: a start against a hung server
// fails (the process manager starts the service again) rather than
// waiting on, and leaves no connection attempt running.
func TestPostgresStartWhileTheServerHangs(t *testing.T) {
	db := freshDatabase(t)
	p := startFaultProxy(t, hostOf(t, db))
	p.hang()
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	s, err := topicsync.OpenPostgres(ctx, p.through(t, db), zaptest.NewLogger(t))
	if err == nil {
		closeStore(t, s)
		t.Fatal("OpenPostgres on a hung server succeeded")
	}
	t.Logf("error: %v", err)
	p.thaw()
	openThrough(t, p.through(t, db)) // and once it answers, it opens
}

// TestReadOfAStoreThatDoesNotAnswerIs503: a read of the read API that the
// store does not answer (a hung PostgreSQL server takes the query and never
// replies) held the request, and a connection of the pool, until the client
// gave up, past the admin listener's write timeout: no answer at all, where
// README promises a 503 to try again. A read now gives up after
// topicsync.ReadTimeout and is answered 503, also when the store still
// answers a ping (a read held by a lock, say), rather than a 500.
func TestReadOfAStoreThatDoesNotAnswerIs503(t *testing.T) {
	defer topicsync.SetReadTimeout(time.Second)()
	tests := []struct {
		name  string
		store func(t *testing.T) topicsync.Store // a store whose reads are not answered
		want  string                             // in the 503's error
	}{
		{"a hung server", func(t *testing.T) topicsync.Store {
			db := freshDatabase(t)
			p := startFaultProxy(t, hostOf(t, db))
			s := openThrough(t, p.through(t, db))
			if err := ping(s); err != nil { // a connection in the pool, which the hang then holds
				t.Fatal(err)
			}
			p.hang()
			t.Cleanup(p.thaw) // before the store closes: its close waits for its connections
			return s
		}, "not reachable"},
		{"a read past its time, the store answering a ping", func(t *testing.T) topicsync.Store {
			return unansweredReads{Store: openSQLite(t)}
		}, "did not answer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := echo.New()
			for _, r := range topicsync.Routes(tt.store(t)) {
				e.Add(r.Method, r.Path, r.Handler)
			}
			for _, path := range []string{"/v1/topics", "/v1/topics/t1", "/v1/topics/t1?sdk_app_id=1400000001"} {
				answered := make(chan *httptest.ResponseRecorder, 1)
				go func() {
					rec := httptest.NewRecorder()
					e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
					answered <- rec
				}()
				var rec *httptest.ResponseRecorder
				select {
				case rec = <-answered:
				case <-time.After(time.Minute): // a guard against a hang, not a time limit on the answer
					t.Fatalf("GET %s: no answer within a minute", path)
				}
				if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), tt.want) {
					t.Errorf("GET %s: %d %s, want 503 saying %q", path, rec.Code, rec.Body, tt.want)
				}
			}
		})
	}
}

// TestReadCutShortByTheStopIs503: the admin listener's stop ends the
// context of the requests still running (a read of a hung store, say); such
// a read was answered 500 "internal error" and logged as a failure, as for a
// bug, where the events API answers 503 to try again (another replica, or
// this one once started again, answers). It is now a 503 as well.
func TestReadCutShortByTheStopIs503(t *testing.T) {
	e := echo.New()
	for _, r := range topicsync.Routes(unansweredReads{Store: openSQLite(t)}) {
		e.Add(r.Method, r.Path, r.Handler)
	}
	for _, path := range []string{"/v1/topics", "/v1/topics/t1", "/v1/topics/t1?sdk_app_id=1400000001"} {
		ctx, stop := context.WithCancel(t.Context())
		answered := make(chan *httptest.ResponseRecorder, 1)
		go func() {
			rec := httptest.NewRecorder()
			e.ServeHTTP(rec, httptest.NewRequestWithContext(ctx, http.MethodGet, path, nil))
			answered <- rec
		}()
		stop() // as the stop ends it (the read waits for its context, before or after this)
		rec := <-answered
		if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "cut short") {
			t.Errorf("GET %s cut short: %d %s, want 503 saying it was cut short", path, rec.Code, rec.Body)
		}
	}
}

// unansweredReads is a store whose reads wait until their context ends,
// while it answers a ping.
type unansweredReads struct{ topicsync.Store }

func (unansweredReads) List(ctx context.Context, _ topicsync.ListFilter) ([]topicsync.Topic, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

func (unansweredReads) Get(ctx context.Context, _, _ string) (topicsync.Topic, error) {
	<-ctx.Done()
	return topicsync.Topic{}, ctx.Err()
}

// hostOf is dsn's host:port.
func hostOf(t *testing.T, dsn string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	return u.Host
}

// migrateChildEnv names the database a child process of
// TestPostgresMigrationsOfProcessesStartingTogether opens.
const migrateChildEnv = "IMCALLBACK_TEST_MIGRATE_DSN"

// TestPostgresMigrationsOfProcessesStartingTogether: two processes
// (replicas) opening one empty database at once both open it, the schema
// migrated once, and a third opening it afterwards finds nothing to do.
func TestPostgresMigrationsOfProcessesStartingTogether(t *testing.T) {
	if dsn := os.Getenv(migrateChildEnv); dsn != "" {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		s, err := topicsync.OpenPostgres(ctx, dsn, zap.NewExample())
		if err != nil {
			t.Fatalf("OpenPostgres: %v", err)
		}
		closeStore(t, s)
		return
	}
	db := freshDatabase(t)
	child := func() *exec.Cmd {
		cmd := exec.Command(os.Args[0], "-test.run=^TestPostgresMigrationsOfProcessesStartingTogether$", "-test.count=1")
		cmd.Env = append(os.Environ(), migrateChildEnv+"="+db)
		return cmd
	}
	var wg sync.WaitGroup
	outs := make([][]byte, 2)
	errs := make([]error, 2)
	for i := range outs {
		cmd := child()
		wg.Go(func() { outs[i], errs[i] = cmd.CombinedOutput() })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("process %d: %v\n%s", i, err, outs[i])
		}
	}
	if out, err := child().CombinedOutput(); err != nil {
		t.Errorf("a third process, after them: %v\n%s", err, out)
	}
	if t.Failed() {
		return
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var applied, distinct int
	if err := conn.QueryRow(ctx, `SELECT count(*), count(DISTINCT version_id) FROM topic_goose_db_version WHERE version_id > 0`).
		Scan(&applied, &distinct); err != nil {
		t.Fatal(err)
	}
	if applied != distinct || applied == 0 {
		t.Errorf("the version table records %d migrations applied, of %d versions; want each once", applied, distinct)
	}
	s := openThrough(t, db)
	tp := newTopic("@TGS#_g", "replicas", at(0))
	mustCreate(t, s, tp)
	checkTopic(t, mustGet(t, s, tp.TopicID), tp)
}
