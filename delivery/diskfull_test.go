package delivery_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/imcallback/imcallback/delivery"
	"github.com/imcallback/imcallback/imtest"
)

// TestAppendsWhileTheEmbeddedServerRestartsSaySo fills the embedded
// server's disk (a small tmpfs): the supervisor restarts the server to
// recover its store, and the appends refused meanwhile are answered 503
// with that cause, which the access log and the admin API show. They said
// "not started", as before Start, which sent an operator looking at the
// deployment rather than at the disk. Once the space is freed the service
// takes events again.
func TestAppendsWhileTheEmbeddedServerRestartsSaySo(t *testing.T) {
	data := imtest.TmpFS(t, 48)
	o := options(t, backend{name: "embedded"})
	o.StoreDir = data
	s := start(t, o, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	accept(t, s, request(testCommand, "before"))

	free := imtest.Fill(t, data)
	i := 0
	var last error
	eventually(t, 60*time.Second, "an append refused while the embedded server restarts", func() bool {
		i++
		last = s.Accept(ctx, request(testCommand, fmt.Sprint("during", i)))
		return last != nil && strings.Contains(last.Error(), "restarting")
	})
	if errors.Is(last, delivery.ErrNotStarted) {
		t.Errorf("an append during the restart: %v, which is ErrNotStarted", last)
	}
	if _, err := s.Events(); err == nil || !strings.Contains(err.Error(), "restarting") {
		t.Errorf("the event log during the restart: %v, want the restart named", err)
	}

	free()
	eventually(t, 90*time.Second, "ready once the space is freed", func() bool { return s.Check(ctx) == nil })
	accept(t, s, request(testCommand, "after"))
}

// TestRestartsWhenTheSpaceIsFreed: while the embedded server's disk is
// full, its restarts fail and the pause between them grows (up to 30 s).
// Space freed during a pause was only noticed at the next restart, so the
// service stayed unavailable, every callback answered 503, for up to that
// pause after the operator had freed it. The supervisor now restarts as
// soon as the store's filesystem has space again. Here the pause is an
// hour: the service recovers only by noticing. The event acknowledged
// before the disk filled is still stored.
func TestRestartsWhenTheSpaceIsFreed(t *testing.T) {
	data := imtest.TmpFS(t, 48)
	o := options(t, backend{name: "embedded"})
	o.StoreDir = data
	core, logs := observer.New(zapcore.WarnLevel)
	log := testLogger(t).WithOptions(zap.WrapCore(func(c zapcore.Core) zapcore.Core { return zapcore.NewTee(c, core) }))
	s := startTuned(t, o, log, nil, func(s *delivery.Service) { s.SetRestartPause(time.Hour) })
	ctx, cancel := context.WithTimeout(context.Background(), 150*time.Second)
	defer cancel()
	accept(t, s, request(testCommand, "before"))

	free := imtest.Fill(t, data)
	i := 0
	eventually(t, 60*time.Second, "a restart of the embedded server that failed on the full disk", func() bool {
		i++
		wait, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		_ = s.Accept(wait, request(testCommand, fmt.Sprint("during", i)))
		return logs.FilterMessageSnippet("restarting the embedded NATS server failed").Len() > 0
	})

	free()
	eventually(t, 60*time.Second, "ready once the space is freed, long before the next restart was due", func() bool {
		return s.Check(ctx) == nil
	})
	accept(t, s, request(testCommand, "after"))
	var stored []string
	for _, ev := range listEvents(t, events(t, s), delivery.Filter{}) {
		stored = append(stored, ev.RequestID)
	}
	if !slices.Contains(stored, "req-before") {
		t.Errorf("the event acknowledged before the disk filled is gone: %v", stored)
	}
}
