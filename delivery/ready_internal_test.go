package delivery

import (
	"context"
	"testing"
	"time"

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
