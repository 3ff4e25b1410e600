package delivery

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"
	"go.uber.org/zap"
)

// errStoreFails is the verdict of a check the tests make fail.
var errStoreFails = errors.New("the store refuses writes")

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
			defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
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
			ctx, cancelStart := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancelStart()
			if err := s.Start(ctx); err != nil {
				t.Fatal(err)
			}
			s.mu.Lock()
			supDone := s.supDone
			s.mu.Unlock()

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
			lock, err := lockDir(filepath.Join(o.StoreDir, "jetstream.lock"))
			if err != nil {
				t.Fatalf("the store is still held after Stop: %v", err)
			}
			lock.release()

			s.check, s.after, s.onRestart = s.repairAndCheck, time.After, nil
			if err := s.Start(ctx); err != nil {
				t.Fatalf("start after stop: %v", err)
			}
			if err := s.Check(ctx); err != nil {
				t.Errorf("not ready after starting again: %v", err)
			}
			if err := s.Stop(ctx); err != nil {
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
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
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
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	s.mu.Lock()
	supDone := s.supDone
	s.mu.Unlock()
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
