package delivery

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/protocol"
)

// TestACountCutShortIsGoneOnFrom: the pending counts of GET /v1/delivery
// are read whole at first (every event above the ack floor: the README
// measures 8 s of CPU for 500,000), and a read every caller left (the console gives up after
// 20 s, the CLI after 60 s, a request's answer has 35 s to be written) was
// cancelled and thrown away: with a backlog that takes longer to read than
// the callers wait, every poll started the read again from the floor, the
// counts never came, and the admin API read the backlog without end. A
// read cut short now keeps what it counted, and the next goes on from
// there, also when that one is cut short in turn.
func TestACountCutShortIsGoneOnFrom(t *testing.T) {
	o := DefaultOptions()
	o.StoreDir = t.TempDir()
	s, err := New(o, zap.NewNop(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	startTillCleanup(t, s, 60*time.Second)
	const command = "Test.CallbackAfterThing"
	s.setCommands([]string{command})
	const total = 3 * scanBatch // no workers: every event is pending
	for i := range total {
		r := &dispatcher.Request{Command: command, ReceivedAt: time.Now(),
			Params: protocol.Params{SdkAppid: "1400000000", RequestTime: "1700000000"},
			Body:   fmt.Appendf(nil, `{"Id":%d}`, i)}
		if err := s.Accept(t.Context(), r); err != nil {
			t.Fatal(err)
		}
	}
	// Two reads cut short, each once it counted its first event: its scan
	// ends at its next fetch, a batch later.
	for cut := range 2 {
		ctx, cancel := context.WithCancel(t.Context())
		s.status.counting = cancel
		before := s.eventsRead.Load()
		if _, err := s.readCounts(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("read %d, cut short: %v, want it cancelled", cut+1, err)
		}
		if read := s.eventsRead.Load() - before; read >= total {
			t.Fatalf("read %d, cut short, read %d events: the whole backlog (%d)", cut+1, read, total)
		}
	}
	s.status.counting = nil
	before := s.eventsRead.Load()
	counts, err := s.readCounts(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if counts.pending[command] != total {
		t.Errorf("pending %v, want %d of %s", counts.pending, total, command)
	}
	// The reads cut short counted a batch each: the last one reads the
	// rest, not the whole backlog again.
	if read := s.eventsRead.Load() - before; read >= total {
		t.Errorf("the read after two cut short read %d events, want the %d they left", read, total-2*scanBatch)
	}
}
