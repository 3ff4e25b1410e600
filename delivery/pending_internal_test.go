package delivery

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/protocol"
)

// TestAWholeFetchOfLargeEventsIsNoSlowConsumer: the workers fetch one
// message per free worker, and the embedded server buffers what a client
// has not read yet up to its max_pending, past which it closes the
// connection as a slow consumer. Under NATS's default 64 MB a backlog of
// large events (a raised IMCALLBACK_BODY_LIMIT: 64 workers of 3 MB bodies)
// overran it: the service's connection was closed, the appends under way
// answered 503, the acknowledgements of events just processed lost (they
// ran again), and the same again at the next fetch. Here a client makes
// the workers' fetch and reads nothing yet, so that the whole batch waits
// in the server's buffer: it is not cut off.
//
// The client reading nothing, the server would also close it once its
// write deadline (10 s) passed: on a busy machine the server takes longer
// than that to deliver the whole batch. The deadline is raised here, so
// that only the buffer's bound can cut the client off.
func TestAWholeFetchOfLargeEventsIsNoSlowConsumer(t *testing.T) {
	saved := embeddedWriteDeadline
	embeddedWriteDeadline = 10 * time.Minute
	t.Cleanup(func() { embeddedWriteDeadline = saved })
	o := DefaultOptions()
	o.StoreDir = t.TempDir()
	o.Listen = "127.0.0.1:0"
	o.Workers = 64
	o.BodyLimit = 4 << 20
	o.MaxPayload = maxPayloadFor(o.BodyLimit)
	o.PublishTimeout = 30 * time.Second // 3 MB appends on a busy machine
	s, err := New(o, zap.NewNop(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	startTillCleanup(t, s, 60*time.Second)
	// No deadline shared by the appends and the wait for the fetch: each
	// 3 MB append takes the in-process server about half a second under
	// -race on an idle machine, several on a busy one, so that a minute
	// for all 32 (and the wait after them) ran out under load. Each append
	// is bounded by PublishTimeout, each request below by its own.
	ctx := t.Context()
	pad := strings.Repeat("x", 3<<20)
	const n = 32 // 100 MB: past NATS's default of 64 MiB with the sockets' buffers full
	for i := range n {
		r := &dispatcher.Request{Command: "Test.CallbackAfterThing", ReceivedAt: time.Now(),
			Params: protocol.Params{SdkAppid: "1400000000", RequestTime: "1700000000"},
			Body:   fmt.Appendf(nil, "%d %s", i, pad)}
		if err := s.Accept(ctx, r); err != nil {
			t.Fatal(err)
		}
	}

	emb := s.Conn().embedded
	u, err := url.Parse(emb.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	raw, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	if _, err := bufio.NewReader(raw).ReadString('\n'); err != nil { // INFO
		t.Fatal(err)
	}
	// The fetch waits as long as the wait for its messages below, which a
	// busy machine may need (100 MB from the in-process server under -race).
	const fetchWait = 5 * time.Minute
	pull := fmt.Sprintf(`{"batch":%d,"expires":%d}`, o.Workers, fetchWait.Nanoseconds())
	fmt.Fprintf(raw, "CONNECT {\"verbose\":false,\"pedantic\":false,\"headers\":true,\"no_responders\":true}\r\n"+
		"SUB _INBOX.fetch 1\r\nPUB $JS.API.CONSUMER.MSG.NEXT.%s.%s _INBOX.fetch %d\r\n%s\r\n",
		o.Stream, "imcallback", len(pull), pull)

	rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	cons, err := s.Conn().JS.Consumer(rctx, o.Stream, "imcallback")
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(fetchWait)
	for {
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		info, err := cons.Info(rctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		if info.NumAckPending == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d events delivered to the fetch", info.NumAckPending, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := emb.srv.NumSlowConsumersClients(); got != 0 {
		t.Errorf("the server cut off %d clients as slow consumers while a whole fetch waited for them", got)
	}
}
