package delivery

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// TestEmbeddedConnectionLogsNoAddress: the service's connection to its
// embedded server is in-process, without a listener (unless
// IMCALLBACK_NATS_LISTEN sets one), so the log names no address for it.
// It once said "NATS connected" to nats://127.0.0.1:4222, the address of
// no listener of the service: on a host where a NATS server listens there,
// the operator read that the service used that server.
func TestEmbeddedConnectionLogsNoAddress(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	o := DefaultOptions()
	o.StoreDir = t.TempDir()
	c, err := Connect(context.Background(), o, zap.New(core))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	// The handler runs on nats.go's goroutine of callbacks, after the
	// connection is made: wait for its line.
	for i := 0; i < 1000 && logs.FilterMessageSnippet("NATS conn").Len() == 0; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	var connected int
	for _, e := range logs.All() {
		if !strings.HasPrefix(e.Message, "NATS conn") {
			continue
		}
		connected++
		url, _ := e.ContextMap()["url"].(string)
		if strings.Contains(url, "://") {
			t.Errorf("%q names the address %q, but the connection is in-process: %v", e.Message, url, e.ContextMap())
		}
	}
	if connected == 0 {
		t.Fatalf("no connection line logged: %v", logs.All())
	}
}
