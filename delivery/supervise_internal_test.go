package delivery

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"
	"go.uber.org/zap"

	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/internal/filelock"
	"github.com/imcallback/imcallback/internal/leakwait"
)

// verifyNoLeak fails t if goroutines other than those ignore names are
// still running, asked again for up to leakwait.Wait: the embedded
// server's connection's read loop and the Stop a test ran on a goroutine
// of its own end only once scheduled after the close or the send, which
// goleak's own retries (about 0.4 s) need not see on a loaded machine; a
// server or supervisor Stop left running keeps its goroutines for good.
func verifyNoLeak(t *testing.T, ignore goleak.Option) {
	t.Helper()
	if err := leakwait.Find(ignore); err != nil {
		t.Errorf("goroutines outlive the stop: %v", err)
	}
}

// errStoreFails is the verdict of a check the tests make fail.
var errStoreFails = errors.New("the store refuses writes")

// supervisorEvent is what a supervisor under test does next: begin a wait
// (fire ends it) or a check (verdict answers it).
type supervisorEvent struct {
	wait    time.Duration
	fire    chan<- time.Time
	verdict chan<- error
}

// scriptedSupervisor runs a service's supervisor whose timers and checks
// are events the test takes in turn: the test decides when time passes and
// what each check finds, so it sees every check the supervisor makes.
type scriptedSupervisor struct {
	t      *testing.T
	s      *Service
	events chan supervisorEvent
	checks int
}

// superviseScripted starts the supervisor of a service that is not
// started (an external URL: no embedded server to restart); it stops at
// the end of the test.
func superviseScripted(t *testing.T) *scriptedSupervisor {
	o := DefaultOptions()
	o.URL = "nats://127.0.0.1:1"
	s, err := New(o, zap.NewNop(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ss := &scriptedSupervisor{t: t, s: s, events: make(chan supervisorEvent)}
	quit := make(chan struct{})
	s.after = func(d time.Duration) <-chan time.Time {
		fire := make(chan time.Time, 1)
		select {
		case ss.events <- supervisorEvent{wait: d, fire: fire}:
		case <-quit:
		}
		return fire
	}
	s.check = func(context.Context) error {
		verdict := make(chan error, 1)
		select {
		case ss.events <- supervisorEvent{verdict: verdict}:
		case <-quit:
			return nil
		}
		select {
		case err := <-verdict:
			return err
		case <-quit:
			return nil
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go s.supervise(ctx, done)
	t.Cleanup(func() {
		close(quit)
		cancel()
		<-done
	})
	return ss
}

// next is the supervisor's next event; the bound only keeps a broken
// supervisor from hanging the test.
func (ss *scriptedSupervisor) next() supervisorEvent {
	ss.t.Helper()
	select {
	case e := <-ss.events:
		return e
	case <-time.After(30 * time.Second):
		ss.t.Fatal("the supervisor neither waits nor checks")
		return supervisorEvent{}
	}
}

// waits takes the supervisor's next event, which must be a wait of d.
func (ss *scriptedSupervisor) waits(d time.Duration) supervisorEvent {
	ss.t.Helper()
	e := ss.next()
	if e.verdict != nil {
		ss.t.Fatalf("the supervisor checked (check %d) where it should wait %v", ss.checks+1, d)
	}
	if e.wait != d {
		ss.t.Fatalf("the supervisor waits %v, want %v", e.wait, d)
	}
	return e
}

// elapse takes a wait of d and lets it pass.
func (ss *scriptedSupervisor) elapse(d time.Duration) {
	ss.t.Helper()
	ss.waits(d).fire <- time.Time{}
}

// checksWith takes the supervisor's next event, which must be a check, and
// answers it with err.
func (ss *scriptedSupervisor) checksWith(err error) {
	ss.t.Helper()
	e := ss.next()
	if e.verdict == nil {
		ss.t.Fatalf("the supervisor waits %v where it should check", e.wait)
	}
	ss.checks++
	e.verdict <- err
}

// TestKicksDuringAnOutageCheckOncePerGap: every append refused during an
// outage kicks the supervisor. A kick after a quiet spell checks at once;
// the kicks within kickGap of the last check add no check of their own,
// only one at the gap's end. Before, each kick cut the unhealthy wait
// short, so a stream of refused callbacks ran a check (a probe publish,
// stream lookups) per request.
func TestKicksDuringAnOutageCheckOncePerGap(t *testing.T) {
	ss := superviseScripted(t)
	kicks := 0
	kick := func(n int) {
		for range n {
			ss.s.kickSupervisor()
			kicks++
		}
	}

	// Healthy: the first failed append is looked at at once.
	ss.elapse(kickGap)
	ss.waits(healthyEvery - kickGap)
	kick(1)
	ss.checksWith(errStoreFails)

	// The outage: bursts of refused appends, each while a gap runs.
	const gaps, perGap = 20, 50
	for range gaps {
		gap := ss.waits(kickGap)
		kick(perGap)
		gap.fire <- time.Time{}
		ss.waits(unhealthyEvery - kickGap) // the kick the channel kept ends it at once:
		ss.checksWith(errStoreFails)
	}

	// No kick: the unhealthy wait runs out, and the stream is back.
	ss.elapse(kickGap)
	ss.elapse(unhealthyEvery - kickGap)
	ss.checksWith(nil)

	// Healthy again: the next failed append is looked at at once.
	ss.elapse(kickGap)
	ss.waits(healthyEvery - kickGap)
	kick(1)
	ss.checksWith(errStoreFails)

	if want := gaps + 3; ss.checks != want {
		t.Errorf("%d kicks ran %d checks, want %d", kicks, ss.checks, want)
	}
}

// noWait is a timer run out already: a supervisor with it never waits.
func noWait(time.Duration) <-chan time.Time {
	c := make(chan time.Time, 1)
	c <- time.Time{}
	return c
}

// expired is a context done already, as a stop's is once its timeout ran out.
func expired() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

// startTillCleanup starts s, its start bounded by within, and stops it at
// cleanup.
func startTillCleanup(t *testing.T, s *Service, within time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Stop(context.Background()); err != nil {
			t.Errorf("stop: %v", err)
		}
	})
}

// startSupervised starts s, its start bounded by 30 s, and returns the
// channel its supervisor closes when it returns.
func startSupervised(t *testing.T, s *Service) (supDone <-chan struct{}) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.supDone
}

// TestStopWaitsForARestartOfTheEmbeddedServer stops the service while the
// supervisor restarts its embedded server, with a context already done (a
// stop timeout that ran out): Stop returned at once, and the restart went
// on after it, starting a server, workers and goroutines under a process
// on its way out. Stop now cuts the restart short and waits for it; the
// store is free and nothing runs once it returns. A Start while Stop waits
// is refused (it started a second server and supervisor, which Stop then
// left running), and one after Stop starts the service again.
func TestStopWaitsForARestartOfTheEmbeddedServer(t *testing.T) {
	for _, step := range []restartStep{restartOldStopped, restartNewStarted} {
		t.Run(string(step), func(t *testing.T) {
			defer verifyNoLeak(t, goleak.IgnoreCurrent())
			o := DefaultOptions()
			o.StoreDir = t.TempDir()
			s, err := New(o, zap.NewNop(), prometheus.NewRegistry())
			if err != nil {
				t.Fatal(err)
			}
			// Every check fails and no wait lasts: the supervisor restarts
			// the server at once.
			s.check = func(context.Context) error { return errStoreFails }
			s.after = noWait
			stopped := make(chan error, 1)
			startDuring := make(chan error, 1)
			s.onRestart = func(ctx context.Context, at restartStep) {
				if at != step {
					return
				}
				go func() { stopped <- s.Stop(expired()) }()
				<-ctx.Done() // Stop began
				startDuring <- s.Start(context.Background())
			}
			supDone := startSupervised(t, s)

			if err := <-stopped; err != nil {
				t.Errorf("stop: %v", err)
			}
			select {
			case <-supDone:
			default:
				t.Fatal("Stop returned while the supervisor was still restarting the server")
			}
			if err := <-startDuring; err == nil {
				t.Error("a Start while Stop waited for the restart succeeded")
			}
			if s.Conn() != nil {
				t.Error("a connection is left after Stop")
			}
			lock, err := filelock.Try(filepath.Join(o.StoreDir, "jetstream.lock"))
			if err != nil {
				t.Fatalf("the store is still held after Stop: %v", err)
			}
			lock.Release()

			s.check, s.after, s.onRestart = s.repairAndCheck, time.After, nil
			startSupervised(t, s)
			if err := s.Check(context.Background()); err != nil {
				t.Errorf("not ready after starting again: %v", err)
			}
			if err := s.Stop(context.Background()); err != nil {
				t.Errorf("stop: %v", err)
			}
		})
	}
}

// TestStopCutsTheSupervisorsCheckShort stops the service while the
// supervisor checks a stream that does not answer. The check ran on to its
// own deadline (10 s): Stop waited for it, or, its context done first,
// returned with the check still running on a connection being closed. Stop
// now cancels the check and returns once the supervisor has.
func TestStopCutsTheSupervisorsCheckShort(t *testing.T) {
	defer verifyNoLeak(t, goleak.IgnoreCurrent())
	o := DefaultOptions()
	o.StoreDir = t.TempDir()
	s, err := New(o, zap.NewNop(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	checking := make(chan struct{}, 1)
	ended := make(chan error, 1)
	s.check = func(ctx context.Context) error { // the server does not answer
		select {
		case checking <- struct{}{}:
		default:
		}
		<-ctx.Done()
		select {
		case ended <- ctx.Err():
		default:
		}
		return ctx.Err()
	}
	s.after = noWait
	supDone := startSupervised(t, s)
	<-checking

	if err := s.Stop(expired()); err != nil && !errors.Is(err, context.Canceled) {
		t.Errorf("stop: %v", err)
	}
	select {
	case <-supDone:
	default:
		t.Fatal("Stop returned while the supervisor was still checking")
	}
	if err := <-ended; !errors.Is(err, context.Canceled) {
		t.Errorf("the check ended with %v, want it cancelled by Stop", err)
	}
}

// processorFunc is a Processor of a function.
type processorFunc func(context.Context, *dispatcher.Request) error

func (f processorFunc) Process(ctx context.Context, r *dispatcher.Request) error { return f(ctx, r) }

// TestWorkersLeaveAMissingStreamToTheSupervisor: workers whose consumer
// lookup found the work stream missing created it at once. The server
// takes a stream out of its lookups before it moves the stream's files
// away, so a stream created while a deletion was still under way had its
// files moved away with the old ones, and every append failed ("no such
// file or directory") until the supervisor restarted the embedded server.
// The workers now ask the supervisor, which sets the stream up at a later
// check, and they process events again once it has.
func TestWorkersLeaveAMissingStreamToTheSupervisor(t *testing.T) {
	o := DefaultOptions()
	o.StoreDir = t.TempDir()
	o.RetryWait = 50 * time.Millisecond
	s, err := New(o, zap.NewNop(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	// Only a kick runs a check, and the first one waits for the test.
	s.after = func(d time.Duration) <-chan time.Time {
		if d == kickGap {
			return noWait(d)
		}
		return nil
	}
	asked, answer := make(chan struct{}), make(chan struct{})
	var first sync.Once
	s.check = func(ctx context.Context) error {
		first.Do(func() {
			close(asked)
			select {
			case <-answer:
			case <-ctx.Done():
			}
		})
		return s.repairAndCheck(ctx)
	}
	startTillCleanup(t, s, 60*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	processed := make(chan string, 16)
	if err := s.StartWorkers(processorFunc(func(_ context.Context, r *dispatcher.Request) error {
		processed <- r.RequestID
		return nil
	})); err != nil {
		t.Fatal(err)
	}
	js := s.Conn().JS
	if err := js.DeleteStream(ctx, o.Stream); err != nil {
		t.Fatal(err)
	}

	for waiting := true; waiting; {
		select {
		case <-asked:
			waiting = false
		case <-ctx.Done():
			t.Fatal("the workers did not ask the supervisor to set the work stream up")
		case <-time.After(20 * time.Millisecond):
			if _, err := js.Stream(ctx, o.Stream); err == nil {
				t.Fatal("the workers set the work stream up again themselves")
			}
		}
	}
	if _, err := js.Stream(ctx, o.Stream); !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Fatalf("the work stream was set up again before the supervisor's check: %v", err)
	}
	close(answer)

	r := &dispatcher.Request{Command: "Test.CallbackAfterThing", Body: []byte(`{"CallbackCommand":"Test.CallbackAfterThing"}`),
		ReceivedAt: time.Now(), RequestID: "after-the-deletion"}
	for s.Accept(ctx, r) != nil { // refused until the supervisor has set the stream up
		select {
		case <-ctx.Done():
			t.Fatal("the work stream was not set up again")
		case <-time.After(50 * time.Millisecond):
		}
	}
	select {
	case id := <-processed:
		if id != r.RequestID {
			t.Errorf("processed %q, want %q", id, r.RequestID)
		}
	case <-ctx.Done():
		t.Fatal("the event accepted once the stream was back was not processed")
	}
}
