package forward_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/imcallback/imcallback/config"
	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/forward"
	"github.com/imcallback/imcallback/imtest"
)

// TestCallerGoneIsNoFailureOfTheDestination: a request whose caller gives
// up while the destination is still answering (IM closed the connection
// of a before-callback; the service stopping under a delivery) is not
// the destination's failure: it is counted in no result, so its success
// rate does not fall. It was counted as an error, as if the destination
// were unreachable.
func TestCallerGoneIsNoFailureOfTheDestination(t *testing.T) {
	tests := []struct {
		name    string
		command string
		headers bool // the destination sends its status, then holds the body
		call    func(ctx context.Context, f *forward.Forwarder, r *dispatcher.Request) error
	}{
		{"before, no answer yet", beforeCommand, false, func(ctx context.Context, f *forward.Forwarder, r *dispatcher.Request) error {
			_, err := f.Decide(ctx, "a", r)
			return err
		}},
		{"before, the answer's body held", beforeCommand, true, func(ctx context.Context, f *forward.Forwarder, r *dispatcher.Request) error {
			_, err := f.Decide(ctx, "a", r)
			return err
		}},
		{"after, no answer yet", afterCommand, false, func(ctx context.Context, f *forward.Forwarder, r *dispatcher.Request) error {
			return f.Deliver(ctx, "a", r)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			arrived, release := make(chan struct{}, 1), make(chan struct{})
			d := newDest(t, func(w http.ResponseWriter, _ int) {
				if tt.headers {
					w.WriteHeader(http.StatusOK)
					_, _ = io.WriteString(w, `{"ActionStatus":`)
					http.NewResponseController(w).Flush()
				}
				arrived <- struct{}{}
				<-release
			})
			t.Cleanup(func() { close(release) }) // before d.Close, which waits for the held request
			c := destination("a", d.URL, tt.command)
			c.Timeout = time.Hour
			f, err := forward.New([]config.ForwardConfig{c}, catalogueAll(), nopLogger(), newRegistry())
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
			defer cancel()
			go func() { <-arrived; cancel() }()
			r := &dispatcher.Request{Command: tt.command, Body: []byte(`{}`), Target: "a"}
			r.Params.SdkAppid = imtest.AppID
			within(t, tt.name, func() { err = tt.call(ctx, f, r) })
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("error %v, want the caller's cancellation", err)
			}
			for result, n := range f.Info()[0].Requests {
				if n != 0 {
					t.Errorf("counted %v as %s: the caller gave up, the destination did not fail", n, result)
				}
			}
		})
	}
}

// TestBeforeCallbackWithNoTimeLeftIsNotTheDestinationsTimeout: a
// before-callback that reaches Decide with less of its deadline left than
// the margin kept for the answer (IM's body came slowly, the service is
// loaded) is not sent, and is counted in no result: the destination was
// never asked. It was counted as the destination's timeout, lowering its
// success rate and raising a timeout alert against a destination that
// had no part in it.
func TestBeforeCallbackWithNoTimeLeftIsNotTheDestinationsTimeout(t *testing.T) {
	tests := []struct {
		name string
		left time.Duration // of the before deadline when Decide is called
	}{
		{"within the margin", time.Millisecond},
		{"already past", -time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDest(t, func(w http.ResponseWriter, _ int) {
				_, _ = io.WriteString(w, `{"ActionStatus":"OK","ErrorCode":0}`)
			})
			f, err := forward.New([]config.ForwardConfig{destination("a", d.URL, beforeCommand)}, catalogueAll(), nopLogger(), newRegistry())
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(tt.left))
			defer cancel()
			r := &dispatcher.Request{Command: beforeCommand, Body: []byte(`{}`)}
			r.Params.SdkAppid = imtest.AppID
			_, err = f.Decide(ctx, "a", r)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("error %v, want a missed deadline", err)
			}
			if n := len(d.requests()); n != 0 {
				t.Errorf("the destination got %d requests, want none", n)
			}
			for result, n := range f.Info()[0].Requests {
				if n != 0 {
					t.Errorf("counted %v as %s: the destination was never asked", n, result)
				}
			}
		})
	}
}
