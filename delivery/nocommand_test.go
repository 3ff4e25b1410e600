package delivery_test

import (
	"context"
	"testing"
	"time"

	"github.com/imcallback/imcallback/delivery"
)

// TestDeliveryStatusCountsDeadLettersWithoutACommandApart: a work-stream
// message without the Imcallback-Command header (published to the
// stream's subjects by something else) is no event; the workers
// dead-letter it. GET /v1/delivery showed its letters as a line of
// command "" among the after-commands, a command that does not exist and
// cannot be paused. They are left out of the commands' lines and counted
// apart, in dead_letters_without_command, so that the total stays visible.
func TestDeliveryStatusCountsDeadLettersWithoutACommandApart(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		o := options(t, b)
		rec := newRecorder()
		s := start(t, o, nil)
		if err := s.StartWorkers(dispatcherFor(t, rec)); err != nil {
			t.Fatal(err)
		}
		publishNonEvents(t, s, o) // two messages without a command
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		eventually(t, 20*time.Second, "both non-events dead-lettered", func() bool {
			n, err := s.DeadLetters(ctx)
			return err == nil && n == 2
		})
		var st struct {
			Commands                  []delivery.CommandState `json:"commands"`
			DeadLettersWithoutCommand *int                    `json:"dead_letters_without_command"`
		}
		adminGet(t, s)("/v1/delivery", &st)
		for _, c := range st.Commands {
			if c.Command == "" {
				t.Errorf("GET /v1/delivery has a line of no command: %+v", c)
			}
		}
		if st.DeadLettersWithoutCommand == nil || *st.DeadLettersWithoutCommand != 2 {
			t.Errorf("dead_letters_without_command = %v, want 2", st.DeadLettersWithoutCommand)
		}
		var dead struct {
			Total int `json:"total"`
		}
		adminGet(t, s)("/v1/dead-letters", &dead)
		if dead.Total != 2 {
			t.Errorf("GET /v1/dead-letters total %d, want the 2 letters without a command", dead.Total)
		}
	})
}
