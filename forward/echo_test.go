package forward_test

import (
	"bufio"
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/imcallback/imcallback/config"
	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/forward"
)

// newEchoDest is a destination that is not HTTP: it writes back the
// first line it reads (the request line), as an echo service on a
// mistyped port does.
func newEchoDest(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				line, err := bufio.NewReader(c).ReadString('\n')
				if err == nil {
					_, _ = c.Write([]byte(line))
				}
			})
		}
	})
	return ln.Addr().String()
}

// TestErrorOfAnEchoedRequestLineHidesTheURL: a destination that answers
// with the request line it read (no HTTP server at all) fails the
// exchange with an error that quotes that line: the URL's path and query,
// where a webhook URL keeps its key, are redacted from it, as everywhere
// else the error goes (the log, last_error, a dead letter).
func TestErrorOfAnEchoedRequestLineHidesTheURL(t *testing.T) {
	const key, token = "hk_9f2c1e7a", "tok_5b8d3a"
	url := "http://" + newEchoDest(t) + "/hooks/" + key + "?token=" + token
	tests := []struct {
		name string
		call func(f *forward.Forwarder) error
	}{
		{"after", func(f *forward.Forwarder) error {
			return f.Deliver(context.Background(), "a", &dispatcher.Request{Command: afterCommand, Body: []byte(`{}`), Target: "a"})
		}},
		{"before", func(f *forward.Forwarder) error {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, err := f.Decide(ctx, "a", &dispatcher.Request{Command: beforeCommand, Body: []byte(`{}`)})
			return err
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := forward.New([]config.ForwardConfig{destination("a", url, afterCommand, beforeCommand)}, catalogueAll(), nopLogger(), newRegistry())
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			err = tc.call(f)
			if err == nil {
				t.Fatal("an echoed request line was taken for an answer")
			}
			if msg := err.Error(); strings.Contains(msg, key) || strings.Contains(msg, token) {
				t.Errorf("the error quotes the URL's key: %v", err)
			}
		})
	}
}
