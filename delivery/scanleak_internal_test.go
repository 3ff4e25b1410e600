package delivery

import (
	"context"
	"testing"
	"time"

	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestAScanLeavesNoSubscriptionWhileTheConnectionIsDown: nats.go's Fetch
// subscribes its reply inbox before it sends the pull request, and returns
// the send's error (refused at once while the connection is down) without
// unsubscribing, so a scan of the event log whose connection dropped after
// its consumer was made left a subscription on the connection for good,
// subscribed again at every reconnect. The scan makes no fetch then.
func TestAScanLeavesNoSubscriptionWhileTheConnectionIsDown(t *testing.T) {
	srv, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: natsserver.RANDOM_PORT,
		JetStream: true, StoreDir: t.TempDir(), NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	t.Cleanup(srv.Shutdown)
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server did not start")
	}
	nc, err := nats.Connect(srv.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond),
		nats.ReconnectBufSize(-1)) // as the service's connection: a publish while down is refused at once
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "SCANLEAK", Subjects: []string{"scanleak.>"}}); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if _, err := js.Publish(ctx, "scanleak.x", []byte("{}")); err != nil {
			t.Fatal(err)
		}
	}
	cons, err := js.CreateConsumer(ctx, "SCANLEAK", jetstream.ConsumerConfig{AckPolicy: jetstream.AckNonePolicy, HeadersOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	before := nc.NumSubscriptions()

	srv.Shutdown()
	deadline := time.Now().Add(30 * time.Second)
	for nc.Status() == nats.CONNECTED && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if nc.Status() == nats.CONNECTED {
		t.Fatal("the connection did not notice the server was gone")
	}
	e := &Events{js: js, nc: nc}
	for range 3 {
		err := e.readScan(ctx, "SCANLEAK", cons, scanRange{}, 3, 1, func(jetstream.Msg, *jetstream.MsgMetadata) error { return nil })
		if err == nil {
			t.Fatal("a scan while the connection is down succeeded")
		}
	}
	if after := nc.NumSubscriptions(); after != before {
		t.Errorf("%d subscriptions after three scans while the connection was down, %d before: the scans left some behind", after, before)
	}
}
