package delivery

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// ackWaitMsg models the server's side of a message's ack wait: each
// in-progress notice that reaches the server starts the wait again, and a
// notice that comes once it has run out comes too late, the message
// delivered again meanwhile. Its first failing notices fail (a connection
// blip).
type ackWaitMsg struct {
	jetstream.Msg
	ackWait time.Duration

	mu      sync.Mutex
	failing int       // notices still to fail
	last    time.Time // the delivery, or the last notice the server took
	notices int
	late    bool // the ack wait ran out before a notice came
	done    chan struct{}
	want    int // notices after which done is closed
}

func (m *ackWaitMsg) InProgress() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := time.Now()
	if now.Sub(m.last) >= m.ackWait {
		m.late = true
	}
	m.notices++
	if m.notices == m.want {
		close(m.done)
	}
	if m.failing > 0 {
		m.failing--
		return errors.New("nats: connection closed")
	}
	m.last = now
	return nil
}

// TestFailedInProgressNoticeIsRetriedBeforeTheAckWaitRunsOut: a handler
// runs longer than the consumer's ack wait (a shorter one set by another
// replica), kept from redelivery by in-progress notices, and one notice
// fails. It was tried again only a whole notice period later, past the
// ack wait: the event was delivered again while its handler still ran.
// A failed notice is now retried soon, well within the ack wait.
func TestFailedInProgressNoticeIsRetriedBeforeTheAckWaitRunsOut(t *testing.T) {
	o := DefaultOptions()
	o.HandlerTimeout = 20 * time.Second // this replica's ack wait: 25 s
	w := &workers{opts: o, log: zap.NewNop()}
	const ackWait = 2 * time.Second // another replica's
	w.ackWait.Store(int64(ackWait))
	m := &ackWaitMsg{ackWait: ackWait, failing: 1, last: time.Now(), done: make(chan struct{}), want: 3}
	stop := w.keepWhileRunning(m, "Group.CallbackAfterCreateGroup", 1)
	select {
	case <-m.done:
	case <-time.After(30 * time.Second):
		t.Fatal("no more in-progress notices were sent")
	}
	stop()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.late {
		t.Errorf("the ack wait (%v) ran out after a failed in-progress notice: the event was redelivered while its handler ran", ackWait)
	}
}
