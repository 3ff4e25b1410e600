package forward_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imcallback/imcallback/config"
	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/forward"
	"github.com/imcallback/imcallback/imtest"
)

// TestAnswerHeadersAreBounded: a destination's answer headers are read
// up to a bound, as its body is: headers of a megabyte are a failed
// exchange, not a delivery, and ordinary ones pass.
func TestAnswerHeadersAreBounded(t *testing.T) {
	tests := []struct {
		name   string
		size   int
		wantOK bool
	}{
		{"ordinary", 1 << 10, true},
		{"a megabyte", 1 << 20, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := newDest(t, func(w http.ResponseWriter, _ int) {
				w.Header().Set("X-Padding", strings.Repeat("x", tc.size))
				w.WriteHeader(http.StatusNoContent)
			})
			f, err := forward.New([]config.ForwardConfig{destination("a", d.URL, afterCommand)}, catalogueAll(), nopLogger(), newRegistry())
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			err = f.Deliver(context.Background(), "a", &dispatcher.Request{Command: afterCommand, Body: []byte(`{}`), Target: "a"})
			if (err == nil) != tc.wantOK {
				t.Errorf("Deliver with %d bytes of headers: %v, want success %v", tc.size, err, tc.wantOK)
			}
		})
	}
}

// TestHeldAfterCallbacksLeaveBeforeCallbacksAConnection: a destination
// that takes both kinds and holds every after-callback it gets, as many
// as the pool's connections (a slow backend under inline delivery, or
// more workers than connections), still gets a before-callback at once:
// it would otherwise wait for a connection until the before deadline and
// get the fallback.
func TestHeldAfterCallbacksLeaveBeforeCallbacksAConnection(t *testing.T) {
	const held = 128 // the pool's connections
	release := make(chan struct{})
	arrived := make(chan struct{}, held)
	d := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(forward.HeaderKind) == "after" {
			arrived <- struct{}{}
			<-release
			w.WriteHeader(http.StatusNoContent)
			return
		}
		fmt.Fprint(w, `{"ActionStatus":"OK","ErrorCode":120001,"ErrorInfo":"no"}`)
	}))
	defer d.Close()
	c := destination("a", d.URL, beforeCommand, afterCommand)
	c.Timeout = time.Minute
	f, err := forward.New([]config.ForwardConfig{c}, catalogueAll(), nopLogger(), newRegistry())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var wg sync.WaitGroup
	defer wg.Wait()
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	defer free() // before wg.Wait: the held requests end
	for range held {
		wg.Go(func() {
			_ = f.Deliver(context.Background(), "a", &dispatcher.Request{Command: afterCommand, Body: []byte(`{}`), Target: "a"})
		})
	}
	for range held {
		<-arrived
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r := &dispatcher.Request{Command: beforeCommand, Body: []byte(`{}`)}
	r.Params.SdkAppid = imtest.AppID
	if dec, err := f.Decide(ctx, "a", r); err != nil || dec.Code != 120001 {
		t.Errorf("Decide with %d after-callbacks held: %+v, %v; want the destination's 120001", held, dec, err)
	}
}
