package forward_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/imcallback/imcallback/config"
	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/forward"
	"github.com/imcallback/imcallback/imtest"
)

// TestErrorOfAnEchoedRequestLineHidesTheURL: a destination that answers
// with the request line it read (no HTTP server at all) fails the
// exchange with an error that quotes that line: the URL's path and query,
// where a webhook URL keeps its key, are redacted from it, as everywhere
// else the error goes (the log, last_error, a dead letter).
func TestErrorOfAnEchoedRequestLineHidesTheURL(t *testing.T) {
	const key, token = "hk_9f2c1e7a", "tok_5b8d3a"
	url := "http://" + imtest.EchoLine(t) + "/hooks/" + key + "?token=" + token
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

// TestShortTargetIsHiddenOnlyWhereItIsQuoted: the request target of a
// short webhook URL ("/h", "/1", a query "on") is also part of ordinary
// words of the error ("net/http", "HTTP/1.x", "connection"): it was
// replaced there too, which garbled the error in the log, last_error and
// a dead letter. It is hidden where the echoed line quotes it, and the
// rest of the error reads as Go wrote it.
func TestShortTargetIsHiddenOnlyWhereItIsQuoted(t *testing.T) {
	addr := imtest.EchoLine(t)
	tests := []struct {
		target string // path and query
		hidden string // as the error quotes it
		keep   []string
	}{
		{"/h", `"/h"`, []string{"net/http: ", "transport connection broken"}},
		{"/1", `"/1"`, []string{"net/http: HTTP/1.x transport"}},
		{"/?on", `"/?on"`, []string{"transport connection broken"}},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			f, err := forward.New([]config.ForwardConfig{destination("a", "http://"+addr+tt.target, afterCommand)}, catalogueAll(), nopLogger(), newRegistry())
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			err = f.Deliver(context.Background(), "a", &dispatcher.Request{Command: afterCommand, Body: []byte(`{}`), Target: "a"})
			if err == nil {
				t.Fatal("an echoed request line was taken for an answer")
			}
			msg := err.Error()
			if strings.Contains(msg, tt.hidden) || !strings.Contains(msg, `"[redacted]"`) {
				t.Errorf("the target is not hidden where the error quotes it: %v", err)
			}
			for _, want := range tt.keep {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q lost %q", msg, want)
				}
			}
		})
	}
}

// TestAnswerEchoingTheRequestHidesTheURL: a destination whose 2xx answer
// to a before-callback is the request it read, as an HTTP echo service
// answers (a mistyped port that reaches one), is no envelope, and the
// error refusing it quotes the answer's start: the URL's path and query,
// where a webhook URL keeps its key, are redacted from that quote too.
func TestAnswerEchoingTheRequestHidesTheURL(t *testing.T) {
	tests := []struct{ name, key, token string }{
		{"plain", "hk_9f2c1e7a", "tok_5b8d3a"},
		// The refusal quotes the answer's start, escaping these.
		{"quoted by the refusal", "hk_9f2c1e7a", `tok\5b8d"3a`},
		// The refusal quotes only the answer's start: a long URL is cut
		// there, and its start must not show either.
		{"longer than the quote", "hk_9f2c1e7a" + strings.Repeat("0", 64), "tok_5b8d3a"},
		// Escaped in the URL; the destination answers with it decoded.
		{"decoded by the destination", "hk_9f2c1e7a", "%22tok_5b8d3a%22"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if strings.Contains(r.URL.RawQuery, "%22") { // as an express app's "Cannot POST" page
					q, _ := url.QueryUnescape(r.URL.RawQuery)
					fmt.Fprintf(w, "Cannot POST %s?%s", r.URL.Path, q)
					return
				}
				fmt.Fprintf(w, "%s %s %s\r\n", r.Method, r.RequestURI, r.Proto)
			}))
			defer srv.Close()
			f, err := forward.New([]config.ForwardConfig{destination("a", srv.URL+"/hooks/"+tt.key+"?token="+tt.token, beforeCommand)},
				catalogueAll(), nopLogger(), newRegistry())
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_, err = f.Decide(ctx, "a", &dispatcher.Request{Command: beforeCommand, Body: []byte(`{}`)})
			if err == nil {
				t.Fatal("an echoed request was taken for an envelope")
			}
			msg := err.Error()
			for _, secret := range []string{tt.key, tt.token, "5b8d", "hk_9f2c1e7a"} {
				if strings.Contains(msg, secret) {
					t.Errorf("the error quotes the URL's %q: %v", secret, err)
				}
			}
		})
	}
}
