package delivery

import (
	"context"
	"errors"
	"runtime"
	"testing"
)

// TestStatusReadOutlivesACallerThatLeft: a request that leaves while the
// counts are read (its client went away) does not fail the others waiting
// for the read; when every one has left, the read is cancelled and the
// next request makes a new one.
func TestStatusReadOutlivesACallerThatLeft(t *testing.T) {
	tests := []struct {
		name   string
		others int // callers that stay
	}{
		{"one of two leaves", 1},
		{"every caller leaves", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c statusCounts
			started, release := make(chan struct{}, 2), make(chan struct{})
			cancelled := make(chan struct{}, 2)
			want := &commandCounts{pending: map[string]int{"C": 3}}
			read := func(ctx context.Context) (*commandCounts, error) {
				started <- struct{}{}
				select {
				case <-release:
					return want, nil
				case <-ctx.Done():
					cancelled <- struct{}{}
					return nil, ctx.Err()
				}
			}
			leaving, leave := context.WithCancel(context.Background())
			left := make(chan error, 1)
			go func() {
				_, err := c.get(leaving, read)
				left <- err
			}()
			<-started
			stayed := make(chan *commandCounts, tt.others)
			for range tt.others {
				go func() {
					got, err := c.get(context.Background(), read)
					if err != nil {
						t.Errorf("a caller that stayed: %v", err)
					}
					stayed <- got
				}()
			}
			for waiting := 0; waiting != 1+tt.others; { // no sleep: the callers are counted
				c.mu.Lock()
				waiting = c.run.callers
				c.mu.Unlock()
				runtime.Gosched()
			}
			leave()
			if err := <-left; !errors.Is(err, context.Canceled) {
				t.Fatalf("the caller that left got %v, want its own cancellation", err)
			}
			if tt.others == 0 {
				<-cancelled // the read nobody waits for
				close(release)
				if got, err := c.get(context.Background(), read); err != nil || got != want {
					t.Fatalf("the next caller got %v, %v: want a new read", got, err)
				}
				return
			}
			close(release)
			for range tt.others {
				if got := <-stayed; got != want {
					t.Errorf("a caller that stayed got %v, want the read's counts", got)
				}
			}
			select {
			case <-cancelled:
				t.Error("the read was cancelled while callers waited for it")
			default:
			}
		})
	}
}
