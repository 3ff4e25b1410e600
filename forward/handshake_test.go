package forward_test

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/imcallback/imcallback/config"
	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/forward"
)

// TestStalledTLSHandshakeIsAbandoned: an https destination that accepts
// the connection and never answers the handshake (a hung TLS terminator,
// a port forward to nothing) times the request out, and its connection is
// then given up too. Go goes on dialing after the request that began the
// dial has given up, so that a later request can use the connection: with
// no bound on the handshake, each such dial held one of the destination's
// 128 connections for as long as the destination kept it open, and once
// they were all held every request waited for a connection until its
// timeout, long after the destination had recovered.
func TestStalledTLSHandshakeIsAbandoned(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	closed := make(chan struct{})
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		_, _ = io.Copy(io.Discard, conn) // the ClientHello, unanswered, until the client closes
		close(closed)
	}()
	c := destination("a", "https://"+ln.Addr().String()+"/hook", afterCommand)
	c.Timeout = 100 * time.Millisecond
	f, err := forward.New([]config.ForwardConfig{c}, catalogueAll(), nopLogger(), newRegistry())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close() // would cancel the dial: the test must see it given up before
	err = f.Deliver(context.Background(), "a", &dispatcher.Request{Command: afterCommand, Body: []byte(`{}`), Target: "a"})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Deliver: %v, want the timeout", err)
	}
	select {
	case <-closed:
	case <-time.After(30 * time.Second):
		t.Fatal("the stalled handshake's connection is still open 30s after the request timed out")
	}
}
