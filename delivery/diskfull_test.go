package delivery_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

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
	freed := false
	defer func() {
		if !freed {
			free()
		}
	}()
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
	freed = true
	eventually(t, 90*time.Second, "ready once the space is freed", func() bool { return s.Check(ctx) == nil })
	accept(t, s, request(testCommand, "after"))
}
