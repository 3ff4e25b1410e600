package forward

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/imcallback/imcallback/commands/catalogue"
	"github.com/imcallback/imcallback/config"
	"github.com/imcallback/imcallback/dispatcher"
)

// silencer is a TCP proxy to target whose connections can be silenced:
// from then on, what either side sends is swallowed, and neither is told
// (a load balancer or firewall that lost the connection's state, a path
// that went dark). closed is closed when the client closes a silenced
// connection.
type silencer struct {
	ln     net.Listener
	mu     sync.Mutex
	mute   []*atomic.Bool
	closed chan struct{}
	once   sync.Once
}

func newSilencer(t *testing.T, target string) *silencer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &silencer{ln: ln, closed: make(chan struct{})}
	t.Cleanup(func() { ln.Close() })
	go func() {
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
			t.Cleanup(func() { client.Close(); server.Close() })
			mute := new(atomic.Bool)
			s.mu.Lock()
			s.mute = append(s.mute, mute)
			s.mu.Unlock()
			pipe := func(dst, src net.Conn, fromClient bool) {
				buf := make([]byte, 32<<10)
				for {
					n, err := src.Read(buf)
					if err != nil {
						if fromClient && mute.Load() {
							s.once.Do(func() { close(s.closed) })
						}
						dst.Close()
						return
					}
					if !mute.Load() {
						_, _ = dst.Write(buf[:n])
					}
				}
			}
			go pipe(server, client, true)
			go pipe(client, server, false)
		}
	}()
	return s
}

// silence silences the connections made so far; later ones pass.
func (s *silencer) silence() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.mute {
		m.Store(true)
	}
}

// TestSilentHTTP2ConnectionIsClosed: over HTTP/2, every request to a
// destination shares one connection, and a request that times out does
// not close it (as it does its own connection over HTTP/1.1). A
// connection that went silent (the destination's load balancer lost it,
// say, while new connections work) is found out by a ping and closed, and
// the next requests get a new one; before, Go kept sending requests on it
// until as many had timed out as the destination's stream limit (250 for
// a Go server): minutes of fallbacks for a destination that gets a
// before-callback a second, and the connection itself was kept until TCP
// gave up on it.
func TestSilentHTTP2ConnectionIsClosed(t *testing.T) {
	var h2 atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor == 2 {
			h2.Add(1)
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	proxy := newSilencer(t, srv.Listener.Addr().String())
	c := config.ForwardConfig{Name: "a", URL: "https://" + proxy.ln.Addr().String() + "/", Match: []string{"Group.CallbackAfterCreateTopic"},
		Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", Timeout: time.Minute}
	f, err := New([]config.ForwardConfig{c}, catalogue.All(), zap.NewNop(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	f.dests[0].after.Transport.(*http.Transport).TLSClientConfig = &tls.Config{RootCAs: roots, ServerName: "example.com"}
	r := &dispatcher.Request{Command: c.Match[0], Body: []byte(`{}`), Target: "a"}
	if err := f.Deliver(context.Background(), "a", r); err != nil {
		t.Fatal(err)
	}
	if h2.Load() != 1 {
		t.Fatal("the destination was not reached over HTTP/2")
	}
	proxy.silence()
	// The destination's timeout is generous, so that the deliveries that
	// must succeed (each dials and shakes hands over TLS, slow on a busy
	// machine) do; the one over the silenced connection is cut short by
	// its caller instead, which ends its request the same way.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := f.Deliver(ctx, "a", r); err == nil {
		t.Fatal("Deliver over the silenced connection succeeded")
	}
	select {
	case <-proxy.closed:
	case <-time.After(30 * time.Second):
		t.Fatal("the silent connection is still in use 30s after a request timed out on it")
	}
	if err := f.Deliver(context.Background(), "a", r); err != nil {
		t.Errorf("Deliver after the silent connection was closed: %v, want a new connection", err)
	}
}
