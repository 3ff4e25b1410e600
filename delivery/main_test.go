package delivery_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/imcallback/imcallback/delivery"
	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/internal/leakwait"
	"github.com/imcallback/imcallback/metrics"
	"github.com/imcallback/imcallback/protocol"
)

func TestMain(m *testing.M) {
	leakwait.VerifyTestMain(m)
}

// natsURLEnv names the NATS server the backend suite also runs against.
const natsURLEnv = "IMCALLBACK_TEST_NATS_URL"

// backend is where a test's streams live: an embedded server in a
// temporary directory, or the NATS server of IMCALLBACK_TEST_NATS_URL.
type backend struct {
	name string
	url  string
}

func backends() []backend {
	return []backend{{name: "embedded"}, {name: "nats", url: os.Getenv(natsURLEnv)}}
}

// forEachBackend runs fn as a subtest per backend; the NATS one is skipped
// without IMCALLBACK_TEST_NATS_URL.
func forEachBackend(t *testing.T, fn func(t *testing.T, b backend)) {
	t.Helper()
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			if b.name == "nats" && b.url == "" {
				t.Skipf("set %s (e.g. nats://127.0.0.1:4222) to run against a real NATS server with JetStream", natsURLEnv)
			}
			fn(t, b)
		})
	}
}

// options are fast test settings on b: a fresh directory for the embedded
// server, or a stream and subject prefix unique to this test on a real
// server, deleted at cleanup.
func options(t *testing.T, b backend) delivery.Options {
	t.Helper()
	o := delivery.DefaultOptions()
	o.Workers = 4
	o.HandlerTimeout = 2 * time.Second
	o.Backoff = []time.Duration{20 * time.Millisecond}
	o.MaxDeliveries = 3
	o.ShutdownTimeout = 5 * time.Second
	o.ReconnectWait = 50 * time.Millisecond
	o.RetryWait = 100 * time.Millisecond
	o.Retention = time.Hour
	o.DedupWindow = time.Minute
	if b.url == "" {
		o.StoreDir = t.TempDir()
		return o
	}
	id := randomID(t)
	o.URL = b.url
	o.Stream = "IMCBTEST_" + strings.ToUpper(id)
	o.SubjectPrefix = "imcbtest_" + id
	o.Consumer = "imcbtest"
	t.Cleanup(func() { deleteStreams(t, o) })
	return o
}

func randomID(t *testing.T) string {
	var b [6]byte
	if _, err := rand.Read(b[:]); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b[:])
}

// helperWait bounds the test helpers' own connection to a NATS server and
// their requests on it: generous, as the shared server of
// IMCALLBACK_TEST_NATS_URL answers the tests of every package and run at
// once on a loaded machine (nats.go's default connect timeout is 2 s);
// only a server that does not answer reaches it.
const helperWait = 30 * time.Second

func deleteStreams(t *testing.T, o delivery.Options) {
	nc, err := nats.Connect(o.URL, nats.Timeout(helperWait))
	if err != nil {
		t.Errorf("cleanup: connect: %v", err)
		return
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Errorf("cleanup: %v", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), helperWait)
	defer cancel()
	for _, name := range []string{o.Stream, o.Stream + "_DEAD"} {
		if err := js.DeleteStream(ctx, name); err != nil && !errors.Is(err, jetstream.ErrStreamNotFound) {
			t.Errorf("cleanup: delete stream %s: %v", name, err)
		}
	}
}

// testLogger collects the log in memory and prints it when the test
// failed; a buffer (not t.Log) is safe for goroutines that outlive the test.
func testLogger(t *testing.T) *zap.Logger {
	var buf syncBuffer
	core := zapcore.NewCore(zapcore.NewConsoleEncoder(zap.NewDevelopmentEncoderConfig()), &buf, zapcore.InfoLevel)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log:\n%s", buf.String())
		}
	})
	return zap.New(core)
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) Sync() error { return nil }

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testCommand is the after-command the recorder handles.
const testCommand = "Test.CallbackAfterThing"

// thing is testCommand's payload.
type thing struct {
	ID string `json:"Id"`
}

// recorder is an idempotent application: it stores each id once however
// often it is applied, and records every call.
type recorder struct {
	mu      sync.Mutex
	calls   map[string][]time.Time
	applied map[string]int
	stored  map[string]bool
	delay   time.Duration
	fail    func(id string, call int) error
	started chan string
	// running is how many handler calls are under way, maxRunning the most at once.
	running, maxRunning int
}

func newRecorder() *recorder {
	return &recorder{calls: map[string][]time.Time{}, applied: map[string]int{}, stored: map[string]bool{}, started: make(chan string, 1024)}
}

func (r *recorder) handle(ctx context.Context, ev *dispatcher.Event[thing]) error {
	id := ev.Payload.ID
	r.mu.Lock()
	r.calls[id] = append(r.calls[id], time.Now())
	call, delay, fail := len(r.calls[id]), r.delay, r.fail
	r.running++
	r.maxRunning = max(r.maxRunning, r.running)
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.running--
		r.mu.Unlock()
	}()
	select {
	case r.started <- id:
	default:
	}
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	if fail != nil {
		if err := fail(id, call); err != nil {
			return err
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.applied[id]++
	r.stored[id] = true
	return nil
}

func (r *recorder) set(delay time.Duration, fail func(string, int) error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.delay, r.fail = delay, fail
}

func (r *recorder) callTimes(id string) []time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Time(nil), r.calls[id]...)
}

func (r *recorder) appliedCount(id string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.applied[id]
}

// runningCount is how many handler calls are under way; maxRunningCount the most there were at once.
func (r *recorder) runningCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.running
}

func (r *recorder) maxRunningCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.maxRunning
}

func (r *recorder) storedCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.stored)
}

// dispatcherFor is the real dispatcher with the recorder's handler for
// testCommand and for each of also.
func dispatcherFor(t testing.TB, r *recorder, also ...string) *dispatcher.Dispatcher {
	t.Helper()
	cmds := []dispatcher.Command{dispatcher.After(testCommand, r.handle)}
	for _, name := range also {
		cmds = append(cmds, dispatcher.After(name, r.handle))
	}
	d, err := dispatcher.New(cmds, dispatcher.Options{BeforeTimeout: time.Second}, zap.NewNop(), metrics.NewCallbacks(prometheus.NewRegistry()))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// dispatcherOf is the real dispatcher with h as testCommand's handler.
func dispatcherOf(t testing.TB, h func(context.Context, *dispatcher.Event[thing]) error) *dispatcher.Dispatcher {
	t.Helper()
	d, err := dispatcher.New([]dispatcher.Command{dispatcher.After(testCommand, h)}, dispatcher.Options{BeforeTimeout: time.Second},
		zap.NewNop(), metrics.NewCallbacks(prometheus.NewRegistry()))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// request is a verified after-callback for id.
func request(command, id string) *dispatcher.Request {
	return &dispatcher.Request{
		Command: command,
		Params: protocol.Params{SdkAppid: "1400000000", CallbackCommand: command, ContentType: "json",
			ClientIP: "10.0.0.1", OptPlatform: "Web", Sign: "feedface", RequestTime: "1700000000"},
		Body:       fmt.Appendf(nil, `{"CallbackCommand":%q,"Id":%q}`, command, id),
		ReceivedAt: time.Now(),
		RequestID:  "req-" + id,
	}
}

// started is a running service with its registry.
type started struct {
	*delivery.Service
	reg *prometheus.Registry
}

// start starts a service on o, with workers on p unless p is nil, and
// stops it at cleanup.
func start(t *testing.T, o delivery.Options, p delivery.Processor) started {
	t.Helper()
	return startLogged(t, o, testLogger(t), p)
}

// startLogged is start with the service logging to log.
func startLogged(t *testing.T, o delivery.Options, log *zap.Logger, p delivery.Processor) started {
	t.Helper()
	return startTuned(t, o, log, p, nil)
}

// startTuned is startLogged with tune (when not nil) called on the service
// before it starts, for the settings tests change (export_test.go).
func startTuned(t *testing.T, o delivery.Options, log *zap.Logger, p delivery.Processor, tune func(*delivery.Service)) started {
	t.Helper()
	reg := prometheus.NewRegistry()
	s, err := delivery.New(o, log, reg)
	if err != nil {
		t.Fatal(err)
	}
	if tune != nil {
		tune(s)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := s.Stop(ctx); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
	if p != nil {
		if err := s.StartWorkers(p); err != nil {
			t.Fatal(err)
		}
	}
	return started{s, reg}
}

func accept(t *testing.T, s started, r *dispatcher.Request) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Accept(ctx, r); err != nil {
		t.Fatalf("accept %s: %v", r.RequestID, err)
	}
}

// eventually polls cond until it holds or timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// metric reads one sample of name with the given labels (0 when absent).
func metric(t *testing.T, reg prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if hasLabels(m, labels) {
				switch {
				case m.Counter != nil:
					return m.Counter.GetValue()
				case m.Gauge != nil:
					return m.Gauge.GetValue()
				case m.Histogram != nil:
					return float64(m.Histogram.GetSampleCount())
				}
			}
		}
	}
	return 0
}

func hasLabels(m *dto.Metric, pairs []string) bool {
	for i := 0; i+1 < len(pairs); i += 2 {
		found := false
		for _, l := range m.GetLabel() {
			if l.GetName() == pairs[i] && l.GetValue() == pairs[i+1] {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// pending is the consumer's unprocessed count, failing the test on error.
//
// It can read 0 just after an append: the server answers the append
// before it tells the consumer of the event, so a condition that the
// events were all processed pairs it with a count of handled events.
func pending(t *testing.T, s started) uint64 {
	t.Helper()
	// A bound, not a wait: conditions poll it, and a loaded server (the
	// shared NATS of IMCALLBACK_TEST_NATS_URL) may take seconds to answer.
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	n, err := s.Pending(ctx)
	if err != nil {
		t.Fatalf("pending: %v", err)
	}
	return n
}

func events(t *testing.T, s started) *delivery.Events {
	t.Helper()
	e, err := s.Events()
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func listEvents(t *testing.T, e *delivery.Events, f delivery.Filter) []delivery.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []delivery.Event
	if err := e.List(ctx, f, func(ev delivery.Event) error { out = append(out, ev); return nil }); err != nil {
		t.Fatalf("list: %v", err)
	}
	return out
}

func deadLetters(t *testing.T, e *delivery.Events) []delivery.DeadLetter {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []delivery.DeadLetter
	if err := e.Dead(ctx, func(d delivery.DeadLetter) error { out = append(out, d); return nil }); err != nil {
		t.Fatalf("dead: %v", err)
	}
	return out
}
