package dispatcher_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/metrics"
)

// nilPointerHandler, nilMapHandler and panicCallHandler are handlers of
// the user's that panic: a nil pointer's dereference and a nil map's write
// are raised inside the runtime, a panic call in the handler itself.
func nilPointerHandler() error {
	var p *sendMsg
	return errors.New(p.Text)
}

func nilMapHandler() error {
	var m map[string]int
	m["x"]++
	return nil
}

func panicCallHandler() error { panic("boom") }

// sitedReply is reply fields whose JSON encoding panics in a method of
// the user's, under the encoder's own recover, which panics again.
type sitedReply struct{}

func (sitedReply) MarshalJSON() ([]byte, error) {
	var m map[string]int
	m["x"]++
	return nil, nil
}

// TestPanicErrorNamesWhereItWasRaised: the error of a handler's recovered
// panic names the function and the file:line that raised it, past the
// runtime's own frames and an encoder's re-panic, for a before-handler
// (in the fallback's log line), an after-handler run by Process and reply
// fields whose encoding panics. Before, it said only the panic's value
// ("runtime error: invalid memory address or nil pointer dereference"),
// and the stack was lost: nothing told where in the handler to look.
func TestPanicErrorNamesWhereItWasRaised(t *testing.T) {
	tests := []struct {
		name, site string
		fn         func() error
	}{
		{"nil pointer", "dispatcher_test.nilPointerHandler", nilPointerHandler},
		{"nil map", "dispatcher_test.nilMapHandler", nilMapHandler},
		{"panic call", "dispatcher_test.panicCallHandler", panicCallHandler},
	}
	for _, tt := range tests {
		t.Run(tt.name+"/before", func(t *testing.T) {
			h := newHarness(t, dispatcher.Options{Fallback: deny("fallback")}, before(func(*dispatcher.Event[sendMsg]) (dispatcher.Decision, error) {
				return allow(), tt.fn()
			}))
			h.do("C2C.CallbackBeforeSendMsg", `{}`)
			logs := h.logs.FilterMessage("before-handler failed; sending the fallback decision").All()
			if len(logs) != 1 {
				t.Fatalf("logged %+v, want the fallback's line", logs)
			}
			checkSite(t, fmt.Sprint(logs[0].ContextMap()["error"]), tt.site)
		})
		t.Run(tt.name+"/after", func(t *testing.T) {
			d, err := dispatcher.New([]dispatcher.Command{
				dispatcher.After("A.After", func(context.Context, *dispatcher.Event[struct{}]) error { return tt.fn() }),
			}, dispatcher.Options{BeforeTimeout: time.Second}, zap.NewNop(), metrics.NewCallbacks(prometheus.NewRegistry()))
			if err != nil {
				t.Fatal(err)
			}
			err = d.Process(context.Background(), &dispatcher.Request{Command: "A.After", Body: []byte(`{}`)})
			if !errors.Is(err, dispatcher.ErrPanic) {
				t.Fatalf("Process = %v, want ErrPanic", err)
			}
			checkSite(t, err.Error(), tt.site)
		})
	}
	t.Run("reply encoding", func(t *testing.T) {
		h := newHarness(t, dispatcher.Options{Fallback: deny("fallback")}, before(func(*dispatcher.Event[sendMsg]) (dispatcher.Decision, error) {
			return modify(sitedReply{}), nil
		}))
		h.do("C2C.CallbackBeforeSendMsg", `{}`)
		logs := h.logs.FilterMessage("before-handler failed; sending the fallback decision").All()
		if len(logs) != 1 {
			t.Fatalf("logged %+v, want the fallback's line", logs)
		}
		checkSite(t, fmt.Sprint(logs[0].ContextMap()["error"]), "dispatcher_test.sitedReply.MarshalJSON")
	})
}

// checkSite fails t unless msg names site, in this file.
func checkSite(t *testing.T, msg, site string) {
	t.Helper()
	if !strings.Contains(msg, "handler panicked") || !strings.Contains(msg, site+", panicsite_test.go:") {
		t.Fatalf("error %q, want it to say the handler panicked at %s, panicsite_test.go:<line>", msg, site)
	}
}
