package server

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/fx/fxtest"
	"go.uber.org/goleak"
	"go.uber.org/zap"

	"github.com/imcallback/imcallback/config"
	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/internal/leakwait"
	"github.com/imcallback/imcallback/metrics"
	"github.com/imcallback/imcallback/middleware"
	"github.com/imcallback/imcallback/protocol"
)

// TestRefusalsInFlightEndAtTheStop: a peer outside the source allowlist
// is answered by a goroutine of its own, outside the listener's server,
// which the server's Shutdown does not know. Such an answer still waiting
// for its request's header when the app stopped ran on after the stop,
// with its socket, until its grace ran out (a second). The stop now ends
// them, and returns once they have ended.
func TestRefusalsInFlightEndAtTheStop(t *testing.T) {
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.AllowCIDRs = []string{"192.0.2.0/24"} // 127.0.0.1 is outside
	m := metrics.NewCallbacks(prometheus.NewRegistry())
	d, err := dispatcher.New(nil, dispatcher.Options{BeforeTimeout: time.Second}, zap.NewNop(), m)
	if err != nil {
		t.Fatal(err)
	}
	ignore := goleak.IgnoreCurrent()
	lc := fxtest.NewLifecycle(t)
	p, err := newPublic(publicIn{Lifecycle: lc, Config: &cfg, Log: zap.NewNop(), Metrics: m, Chain: middleware.Chain{}, Dispatcher: d})
	if err != nil {
		t.Fatal(err)
	}
	if p.limit.admit == nil {
		t.Fatal("no peer check with an allowlist")
	}
	p.limit.refuseGrace = time.Hour // a refusal outlives any stop unless the stop ends it
	lc.RequireStart()
	c, err := net.Dial("tcp", p.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _ = io.WriteString(c, "POST /im/callback HTTP/1.1\r\nHost: x\r\n") // a header that never ends
	// Wait until the refusal is answering it.
	for p.limit.answering() == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	lc.RequireStop()
	// Asked again for up to 10 s: a refusal's goroutine ends once
	// scheduled after the Done the stop waited for, which goleak's own
	// retries (about 0.4 s) need not see on a loaded machine; a refusal
	// the stop left running lasts refuseGrace, an hour here.
	if err := leakwait.Find(ignore); err != nil {
		t.Errorf("a refusal outlives the stop: %v", err)
	}
	_ = c.SetReadDeadline(time.Now().Add(time.Minute)) // a guard, not a time limit
	if _, err := c.Read(make([]byte, 1)); errors.Is(err, os.ErrDeadlineExceeded) {
		t.Errorf("the refused connection is still open after the stop")
	}
}

// answering is how many connections refuseSource is answering.
func (l *connLimit) answering() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.refused)
}

// TestRefusalsAreBounded: at most maxRefusing refused connections are
// answered at once, and none once the stop has begun; the others are
// closed unanswered.
func TestRefusalsAreBounded(t *testing.T) {
	l := newConnLimit(8, true, time.Second, func(*protocol.Error, net.Addr) {})
	pipe := func() net.Conn {
		a, b := net.Pipe()
		t.Cleanup(func() { a.Close(); b.Close() })
		return a
	}
	for i := range maxRefusing {
		if !l.track(pipe()) {
			t.Fatalf("refusal %d of %d not answered", i+1, maxRefusing)
		}
	}
	if l.track(pipe()) {
		t.Errorf("refusal %d answered: want at most %d at once", maxRefusing+1, maxRefusing)
	}
	for c := range l.refused {
		l.untrack(c)
		l.refusers.Done()
		break
	}
	if !l.track(pipe()) {
		t.Error("no refusal answered once one of the others ended")
	}
	for range l.refused {
		l.refusers.Done() // the goroutines' part, which this test plays
	}
	l.stopRefusing()
	if l.track(pipe()) {
		t.Error("a refusal answered after the stop began")
	}
}
