package delivery

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/imcallback/imcallback/dispatcher"
)

// TestARestartWaitsForTheHandlersOfWorkersBeingStopped: a restart of the
// embedded server while a Pause, or a StopWorkers, still waited for a
// running handler shut the old server down at once, under that handler:
// its acknowledgement, sent once it had succeeded, found the connection
// closed, and the event it had applied ran again. The restart now waits
// for those handlers, as it does for the running workers it stops itself.
func TestARestartWaitsForTheHandlersOfWorkersBeingStopped(t *testing.T) {
	for _, c := range []struct {
		name string
		stop func(*Service) error
	}{
		{"pause", func(s *Service) error { return s.Pause(context.Background()) }},
		{"stop of the workers", func(s *Service) error { return s.StopWorkers(context.Background()) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := DefaultOptions()
			o.StoreDir = t.TempDir()
			o.ShutdownTimeout = time.Second
			s, err := New(o, zap.NewNop(), prometheus.NewRegistry())
			if err != nil {
				t.Fatal(err)
			}
			s.check = func(context.Context) error { return nil } // no restart but the test's
			// The handler finishes once the old server is stopped or, if the
			// restart waits for it, once the stop cancels it; it succeeds
			// either way, as one that completed its write does.
			oldStopped := make(chan struct{})
			s.onRestart = func(_ context.Context, step restartStep) {
				if step == restartOldStopped {
					close(oldStopped)
				}
			}
			startTillCleanup(t, s, 30*time.Second)
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			started := make(chan struct{}, 1)
			if err := s.StartWorkers(processorFunc(func(hctx context.Context, _ *dispatcher.Request) error {
				started <- struct{}{}
				select {
				case <-oldStopped:
				case <-hctx.Done():
				}
				return nil
			})); err != nil {
				t.Fatal(err)
			}
			if err := s.Accept(ctx, &dispatcher.Request{Command: "Test.CallbackAfterThing",
				Body: []byte(`{"CallbackCommand":"Test.CallbackAfterThing"}`), ReceivedAt: time.Now(), RequestID: "r1"}); err != nil {
				t.Fatal(err)
			}
			select {
			case <-started:
			case <-ctx.Done():
				t.Fatal("the event did not run")
			}

			stopped := make(chan error, 1)
			go func() { stopped <- c.stop(s) }()
			for retired := false; !retired; { // the workers taken out of service, their handler still running
				s.mu.Lock()
				retired = s.workers == nil
				s.mu.Unlock()
				select {
				case <-ctx.Done():
					t.Fatal("the workers were not taken out of service")
				case <-time.After(10 * time.Millisecond):
				}
			}
			if err := s.restartEmbedded(context.Background()); err != nil {
				t.Fatalf("restart: %v", err)
			}
			if err := <-stopped; err != nil {
				t.Fatalf("%s: %v", c.name, err)
			}
			cons, err := s.Conn().JS.Consumer(ctx, o.Stream, "imcallback")
			if err != nil {
				t.Fatal(err)
			}
			info, err := cons.Info(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if info.NumAckPending != 0 || info.NumPending != 0 {
				t.Errorf("after the restart the consumer holds %d unacknowledged and %d undelivered events, want none: "+
					"the handler's acknowledgement was lost", info.NumAckPending, info.NumPending)
			}
		})
	}
}
