package delivery_test

import (
	"context"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/imcallback/imcallback/imtest"
)

// TestEventsDeliveredAsAFetchEndsAreNotLeftToTheAckWait: a fetch gave up
// at a deadline of its own, of which nats.go gives the server's pull 90 %:
// an event the server delivered in the pull's last tenth of a second was
// still on its way when the fetch ended, so no worker ran it, and it came
// back only after the ack wait, that delivery counted as an attempt. With
// 200 ms between the service and its NATS server, about one event in ten.
// The events are spread out (not synchronisation) so that some reach the
// end of a pull; each must be delivered once.
func TestEventsDeliveredAsAFetchEndsAreNotLeftToTheAckWait(t *testing.T) {
	addr := imtest.FreeAddr(t)
	natsServer(t, addr, 0)
	o := options(t, backend{name: "embedded"})
	o.StoreDir = ""
	o.URL = "nats://" + latencyProxy(t, addr, 100*time.Millisecond)
	o.PublishTimeout = 3 * time.Second
	o.Workers = 16 // more than the events a pull gets: it ends at its expiry
	rec := newRecorder()
	s := start(t, o, dispatcherFor(t, rec))
	const n = 40
	for i := range n {
		accept(t, s, request(testCommand, strconv.Itoa(i)))
		time.Sleep(230 * time.Millisecond)
	}
	eventually(t, 60*time.Second, "every event applied", func() bool {
		for i := range n {
			if rec.appliedCount(strconv.Itoa(i)) == 0 {
				return false
			}
		}
		return true
	})
	ctx, cancel := context.WithTimeout(context.Background(), helperWait)
	defer cancel()
	c, err := s.Conn().JS.Consumer(ctx, o.Stream, s.Options().Consumer)
	if err != nil {
		t.Fatal(err)
	}
	if got := c.CachedInfo().Delivered.Consumer; got != n {
		t.Errorf("%d deliveries of %d events, want one each: the others were lost on the way to a fetch that had ended", got, n)
	}
}

// latencyProxy forwards each TCP connection it takes to target, every byte
// delayed by d in each direction; it stops at the end of the test.
func latencyProxy(t *testing.T, target string, d time.Duration) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	// forward copies src to dst, each read written d after it was read.
	forward := func(dst, src net.Conn) {
		defer wg.Done()
		type chunk struct {
			due  time.Time
			data []byte
		}
		queue := make(chan chunk, 1<<12)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer dst.Close()
			failed := false
			for c := range queue { // read to its end, so that forward never blocks on it
				if failed {
					continue
				}
				time.Sleep(time.Until(c.due))
				_, err := dst.Write(c.data)
				failed = err != nil
			}
		}()
		defer close(queue)
		for {
			buf := make([]byte, 32<<10)
			n, err := src.Read(buf)
			if n > 0 {
				queue <- chunk{time.Now().Add(d), buf[:n]}
			}
			if err != nil {
				return
			}
		}
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("tcp", target)
			if err != nil {
				client.Close()
				continue
			}
			mu.Lock()
			conns = append(conns, client, server)
			mu.Unlock()
			wg.Add(2)
			go forward(server, client)
			go forward(client, server)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}
