package leakwait_test

import (
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/imcallback/imcallback/internal/leakwait"
)

// TestFindWaitsPastGoleaksOwnRetries: a goroutine that ends a second
// after the check began, longer than goleak's own retries (about 0.4 s),
// is not reported.
func TestFindWaitsPastGoleaksOwnRetries(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	done := make(chan struct{})
	go func() {
		defer close(done)
		time.Sleep(time.Second)
	}()
	if err := leakwait.Find(ignore); err != nil {
		t.Fatalf("a goroutine that ends was reported: %v", err)
	}
	<-done
}
