package forward_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imcallback/imcallback/config"
	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/forward"
	"github.com/imcallback/imcallback/imtest"
)

// closingDest is a destination whose first connection answers one
// request, kept alive, then reads the next and closes after writing
// crossing (nothing, as a server closing an idle keep-alive connection does
// when a request crosses its close, or an answer that breaks off). Every
// later connection answers each request with answer. ids holds the
// webhook-id of each request, by connection.
type closingDest struct {
	url   string
	conns atomic.Int32
	mu    sync.Mutex
	ids   map[int32][]string
	keyed atomic.Bool // a request carried an Idempotency-Key header
}

func newClosingDest(t *testing.T, crossing, answer string) *closingDest {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	d := &closingDest{url: "http://" + ln.Addr().String() + "/", ids: map[int32][]string{}}
	var wg sync.WaitGroup
	var open sync.Map
	t.Cleanup(func() {
		ln.Close()
		open.Range(func(c, _ any) bool { c.(net.Conn).Close(); return true })
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			open.Store(c, true)
			n := d.conns.Add(1)
			wg.Go(func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for i := 0; ; i++ {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					_, _ = io.Copy(io.Discard, req.Body)
					if _, ok := req.Header["Idempotency-Key"]; ok {
						d.keyed.Store(true)
					}
					d.mu.Lock()
					d.ids[n] = append(d.ids[n], req.Header.Get(forward.HeaderID))
					d.mu.Unlock()
					switch {
					case n == 1 && i == 0:
						_, _ = io.WriteString(c, "HTTP/1.1 204 No Content\r\n\r\n")
					case n == 1:
						_, _ = io.WriteString(c, crossing)
						return // the request crossed the close
					default:
						_, _ = fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(answer), answer)
					}
				}
			})
		}
	})
	return d
}

// TestRequestCrossingAKeepAliveCloseIsSentAgain: a destination closes a
// kept-alive connection just as a request goes out on it (as Node.js does
// after 5 s idle, gunicorn after 2 s): the request, which got no answer at
// all, is sent again at once on a new connection, under the same
// webhook-id, instead of a before-callback getting the fallback (or an
// after-callback waiting for its retry).
func TestRequestCrossingAKeepAliveCloseIsSentAgain(t *testing.T) {
	// send sends the n-th request of a kind.
	send := func(f *forward.Forwarder, kind dispatcher.Kind, n int) error {
		body := []byte(fmt.Sprintf(`{"n":%d}`, n))
		if kind == dispatcher.KindAfter {
			return f.Deliver(context.Background(), "a", &dispatcher.Request{Command: afterCommand, Body: body, Target: "a"})
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		r := &dispatcher.Request{Command: beforeCommand, Body: body}
		r.Params.SdkAppid = imtest.AppID
		dec, err := f.Decide(ctx, "a", r)
		if err == nil && dec.Code != 120001 {
			return fmt.Errorf("decision %d, want the destination's 120001", dec.Code)
		}
		return err
	}
	for _, kind := range []dispatcher.Kind{dispatcher.KindBefore, dispatcher.KindAfter} {
		t.Run(kind.String(), func(t *testing.T) {
			d := newClosingDest(t, "", `{"ActionStatus":"OK","ErrorCode":120001,"ErrorInfo":"no"}`)
			f, err := forward.New([]config.ForwardConfig{destination("a", d.url, beforeCommand, afterCommand)}, catalogueAll(), nopLogger(), newRegistry())
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			// The first request leaves its connection idle in the kind's
			// pool (a 204 has no body to wait for), so the next one is sent
			// on it. A 204 is no envelope: to a before-callback, an error.
			if err := send(f, kind, 1); err != nil && kind == dispatcher.KindAfter {
				t.Fatal(err)
			}
			if err := send(f, kind, 2); err != nil {
				t.Fatalf("the request that crossed the close: %v", err)
			}
			if d.keyed.Load() {
				t.Error("an Idempotency-Key header was sent")
			}
			d.mu.Lock()
			defer d.mu.Unlock()
			if len(d.ids[1]) != 2 || len(d.ids[2]) != 1 || d.ids[2][0] != d.ids[1][1] {
				t.Errorf("webhook-ids by connection %v: want the second request on the first connection, then again on the second", d.ids)
			}
		})
	}
}

// TestARequestWhoseAnswerBrokeOffIsNotSentAgain: a request on a kept-alive
// connection whose answer began to arrive and then failed (a malformed
// header, headers too large) was handled by its destination: it fails, as
// on a new connection, and is not sent a second time.
func TestARequestWhoseAnswerBrokeOffIsNotSentAgain(t *testing.T) {
	for _, crossing := range []string{
		"HTTP/1.1 200 OK\r\nthis line is no header\r\n\r\n",
		"HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("a", 1<<20) + "\r\n\r\n",
		"HTTP/1.1 2",
	} {
		t.Run(fmt.Sprintf("%.24q", crossing), func(t *testing.T) {
			d := newClosingDest(t, crossing, `{"ActionStatus":"OK","ErrorCode":0}`)
			f, err := forward.New([]config.ForwardConfig{destination("a", d.url, afterCommand)}, catalogueAll(), nopLogger(), newRegistry())
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			deliver := func(n int) error {
				body := []byte(fmt.Sprintf(`{"n":%d}`, n))
				return f.Deliver(context.Background(), "a", &dispatcher.Request{Command: afterCommand, Body: body, Target: "a"})
			}
			if err := deliver(1); err != nil {
				t.Fatal(err)
			}
			if err := deliver(2); err == nil {
				t.Fatal("the request whose answer broke off succeeded")
			}
			d.mu.Lock()
			defer d.mu.Unlock()
			if len(d.ids[1]) != 2 || len(d.ids[2]) != 0 {
				t.Errorf("webhook-ids by connection %v: want two requests on the first connection and none sent again", d.ids)
			}
		})
	}
}

// TestARequestThatDropsItsConnectionIsSentAgainOnce: a request that makes
// the destination drop its connection without an answer (a crashing
// handler) is sent at most twice, not once on every idle connection of the
// pool in turn.
func TestARequestThatDropsItsConnectionIsSentAgainOnce(t *testing.T) {
	const idle = 8
	var poisoned atomic.Int32
	arrived := make(chan struct{}, idle)
	all := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if strings.Contains(string(body), "poison") {
			poisoned.Add(1)
			c, _, err := http.NewResponseController(w).Hijack()
			if err == nil {
				c.Close() // no answer at all
			}
			return
		}
		arrived <- struct{}{}
		<-all // every warm-up request on a connection of its own
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	f, err := forward.New([]config.ForwardConfig{destination("a", srv.URL, afterCommand)}, catalogueAll(), nopLogger(), newRegistry())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	deliver := func(body string) error {
		return f.Deliver(context.Background(), "a", &dispatcher.Request{Command: afterCommand, Body: []byte(body), Target: "a"})
	}
	var warm sync.WaitGroup
	for i := range idle {
		warm.Go(func() {
			if err := deliver(fmt.Sprintf(`{"n":%d}`, i)); err != nil {
				t.Error(err)
			}
		})
	}
	for range idle {
		<-arrived
	}
	close(all)
	warm.Wait() // idle connections in the pool now
	if err := deliver(`{"poison":true}`); err == nil {
		t.Fatal("the dropped request succeeded")
	}
	if n := poisoned.Load(); n != 2 {
		t.Errorf("the destination got the dropped request %d times, want 2 (once, and once again)", n)
	}
}
