package delivery

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/protocol"
)

// TestAProbeAfterARefusedAppendIsAsLargeAsTheEvent: a store with room for
// the readiness probe's tiny message but not for an event (a stream's
// max_bytes under discard new, an account's storage limit, each counting
// the message's size) refused the event while the probe that followed was
// stored: readiness said ready again, and the load balancer kept sending
// callbacks answered 503. After a refused append the probe is now at least
// as large as the largest event refused, so readiness stays failed until
// the store takes such an event again, and probes are small again after.
func TestAProbeAfterARefusedAppendIsAsLargeAsTheEvent(t *testing.T) {
	const room = 2 << 10 // what the stream can still take, in bytes
	for _, tc := range []struct {
		name  string
		body  int
		ready bool // the event is stored and readiness holds
	}{
		{"an event the store has room for", 64, true},
		{"an event larger than the room left", 8 << 10, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := DefaultOptions()
			o.StoreDir = t.TempDir()
			s, err := New(o, zap.NewNop(), prometheus.NewRegistry())
			if err != nil {
				t.Fatal(err)
			}
			// The supervisor's checks left out: they lift the stream's limit.
			s.check = func(context.Context) error { return nil }
			startTillCleanup(t, s, 30*time.Second)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			js := s.Conn().JS
			setMaxBytes := func(room int64) {
				t.Helper()
				st, err := js.Stream(ctx, s.opts.Stream)
				if err != nil {
					t.Fatal(err)
				}
				cfg := st.CachedInfo().Config
				cfg.MaxBytes, cfg.Discard = -1, jetstream.DiscardOld
				if room >= 0 {
					cfg.MaxBytes, cfg.Discard = int64(st.CachedInfo().State.Bytes)+room, jetstream.DiscardNew
				}
				if _, err := js.UpdateStream(ctx, cfg); err != nil {
					t.Fatal(err)
				}
			}
			setMaxBytes(room)

			r := &dispatcher.Request{Command: "Group.CallbackAfterSendMsg", ReceivedAt: time.Now(), RequestID: "req-large",
				Params: protocol.Params{SdkAppid: "1400000000", CallbackCommand: "Group.CallbackAfterSendMsg"},
				Body:   bytes.Repeat([]byte("x"), tc.body)}
			if err := s.Accept(ctx, r); (err == nil) != tc.ready {
				t.Fatalf("accept of a %d-byte body: %v, want stored %v", tc.body, err, tc.ready)
			}
			if err := s.Check(ctx); (err == nil) != tc.ready {
				t.Fatalf("check after the append: %v, want ready %v", err, tc.ready)
			}
			if tc.ready {
				return
			}

			setMaxBytes(-1) // the operator makes room
			if err := s.Check(ctx); err != nil {
				t.Fatalf("check once the store has room: %v", err)
			}
			if s.appendFailed() {
				t.Error("the probe that took the event's size did not clear the failure")
			}
			s.refusedMu.Lock()
			size := s.refusedSize
			s.refusedMu.Unlock()
			if size != 0 {
				t.Errorf("the next probe after the recovery is padded to %d bytes, want a tiny one", size)
			}
		})
	}
}
