package delivery

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

// TestEmbeddedStartWaitsAsLongAsTheStartAllows: the embedded server's
// start (JetStream's recovery of its store included) is bounded by the
// caller's deadline, the service's IMCALLBACK_START_TIMEOUT, not by a
// fixed minute: a recovery longer than that minute (here the fixed bound
// shortened to nothing, as a large store outlasts it) failed the start
// however long the setting allowed.
func TestEmbeddedStartWaitsAsLongAsTheStartAllows(t *testing.T) {
	saved := embeddedReadyTimeout
	embeddedReadyTimeout = 0
	t.Cleanup(func() { embeddedReadyTimeout = saved })
	o := DefaultOptions()
	o.StoreDir = t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := Connect(ctx, o, zap.NewNop())
	if err != nil {
		t.Fatalf("the start within its deadline failed: %v", err)
	}
	if err := conn.Close(ctx); err != nil {
		t.Error(err)
	}
}

// TestEmbeddedRestartWaitsAsLongAsTheStartAllows: the supervisor's restart
// of the embedded server recovers the same store a start does, so it is
// bounded by IMCALLBACK_START_TIMEOUT (Options.StartTimeout) too, not by
// the fixed minute: a store whose recovery the operator gave a longer
// start failed every restart, each cut short in the middle of recovery.
func TestEmbeddedRestartWaitsAsLongAsTheStartAllows(t *testing.T) {
	saved := embeddedReadyTimeout
	t.Cleanup(func() { embeddedReadyTimeout = saved })
	o := DefaultOptions()
	o.StoreDir = t.TempDir()
	o.StartTimeout = 2 * time.Minute
	s, err := New(o, zap.NewNop(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	startTillCleanup(t, s, 30*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The fixed bound shortened to nothing, as a large store outlasts it.
	embeddedReadyTimeout = -ensureTimeout
	if err := s.restartEmbedded(context.Background()); err != nil {
		t.Fatalf("the restart within the start's time failed: %v", err)
	}
	if err := s.Check(ctx); err != nil {
		t.Errorf("not ready after the restart: %v", err)
	}
}

// TestAnAppendFailedDuringAProbeStillCounts: a probe's success answers for
// the appends that failed before it wrote, not for one that failed while it
// ran. It cleared that failure too, and for the second after it readiness
// said ready without probing, and the supervisor's check, which the failure
// asked for, found nothing.
func TestAnAppendFailedDuringAProbeStillCounts(t *testing.T) {
	o := DefaultOptions()
	o.StoreDir = t.TempDir()
	s, err := New(o, zap.NewNop(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	// The supervisor's checks left out: only the test's probe.
	s.check = func(context.Context) error { return nil }
	var duringProbe atomic.Bool
	s.onProbe = func() {
		if duringProbe.Swap(false) {
			s.appendFailedWith(errors.New("an append failed while the probe ran"), 0)
		}
	}
	startTillCleanup(t, s, 30*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s.appendFailedWith(errors.New("an append failed before the probe"), 0)
	duringProbe.Store(true)
	if err := s.Check(ctx); err != nil {
		t.Fatalf("check: %v", err)
	}
	if !s.appendFailed() {
		t.Error("the append that failed while the probe ran no longer counts")
	}
	if s.wroteRecently() {
		t.Error("the next check takes the probe's success without probing again")
	}
	if err := s.Check(ctx); err != nil {
		t.Fatalf("second check: %v", err)
	}
	if s.appendFailed() {
		t.Error("a probe that began after the failure did not clear it")
	}
}
