package forward_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imcallback/imcallback/config"
	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/forward"
	"github.com/imcallback/imcallback/imtest"
)

// trickling answers with status, then the start of a body whose rest never
// comes: the handler holds it until the client closes the connection or
// the test ends.
func trickling(t *testing.T, status int) *dest {
	release := make(chan struct{})
	d := newDest(t, func(w http.ResponseWriter, _ int) {
		w.WriteHeader(status)
		_, _ = io.WriteString(w, `{"ok":`)
		http.NewResponseController(w).Flush()
		<-release
	})
	t.Cleanup(func() { close(release) }) // before d.Close, which waits for the held request
	return d
}

// within runs fn and fails the test if it has not returned in 15 s, far
// less than the hour of the timeouts the tests give (an answer's body
// waited for would hold it that long).
// deliverWithin forwards one after-callback to url, as destination "a"
// with a timeout of an hour, and fails the test unless Deliver returns
// within the test's hang limit (within).
func deliverWithin(t *testing.T, url string) (err error) {
	t.Helper()
	c := destination("a", url, afterCommand)
	c.Timeout = time.Hour
	f, err := forward.New([]config.ForwardConfig{c}, catalogueAll(), nopLogger(), newRegistry())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	within(t, "Deliver", func() {
		err = f.Deliver(context.Background(), "a", &dispatcher.Request{Command: afterCommand, Body: []byte(`{}`), Target: "a"})
	})
	return err
}

// decideWithin forwards one before-callback to url, as destination "a",
// with an hour to answer, and fails the test unless Decide returns within
// the test's hang limit (within); f is closed at the test's end.
func decideWithin(t *testing.T, url string) (f *forward.Forwarder, err error) {
	t.Helper()
	f, err = forward.New([]config.ForwardConfig{destination("a", url, beforeCommand)}, catalogueAll(), nopLogger(), newRegistry())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	r := &dispatcher.Request{Command: beforeCommand, Body: []byte(`{}`)}
	r.Params.SdkAppid = imtest.AppID
	within(t, "Decide", func() { _, err = f.Decide(ctx, "a", r) })
	return f, err
}

func within(t *testing.T, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		t.Fatalf("%s: still waiting for the answer's body after 15s", what)
	}
}

// TestAfterAnswerBodyIsNotWaitedFor: the status is the whole answer to an
// after-callback, so a destination that sends it and then trickles its
// body (or never ends it) does not hold the worker until the timeout: the
// delivery is decided by the status at once.
func TestAfterAnswerBodyIsNotWaitedFor(t *testing.T) {
	tests := []struct {
		status int
		want   string // the error; "" for none
	}{
		{http.StatusOK, ""},
		{http.StatusServiceUnavailable, "a answered HTTP 503"},
		{http.StatusGone, "a answered HTTP 410"},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.status), func(t *testing.T) {
			err := deliverWithin(t, trickling(t, tc.status).URL)
			if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("Deliver: %v, want %q", err, tc.want)
			}
		})
	}
}

// TestBeforeFailureStatusIsNotWaitedFor: a before-callback answered with
// a failure status gets the fallback on the status, counted as status,
// without waiting for the body until the before deadline.
func TestBeforeFailureStatusIsNotWaitedFor(t *testing.T) {
	d := trickling(t, http.StatusInternalServerError)
	f, err := decideWithin(t, d.URL)
	if err == nil || !strings.Contains(err.Error(), "a answered HTTP 500") {
		t.Errorf("Decide: %v, want the HTTP 500", err)
	}
	if got := f.Info()[0].Requests; got[forward.ResultStatus] != 1 {
		t.Errorf("counted as %v, want one status", got)
	}
}

// TestAnswerKeepsItsConnection: a short body that comes with the headers
// is read to its end, so the connection is kept for the next request,
// whatever the status and however the body is framed.
func TestAnswerKeepsItsConnection(t *testing.T) {
	tests := []struct {
		name   string
		answer func(w http.ResponseWriter)
	}{
		{"204", func(w http.ResponseWriter) { w.WriteHeader(http.StatusNoContent) }},
		{"200 with a length", func(w http.ResponseWriter) {
			w.Header().Set("Content-Length", "11")
			_, _ = io.WriteString(w, `{"ok":true}`)
		}},
		{"200 chunked", func(w http.ResponseWriter) { // past the server's buffer: no length
			_, _ = io.WriteString(w, strings.Repeat("x", 3<<10))
		}},
		{"200 with the largest body read", func(w http.ResponseWriter) {
			_, _ = io.WriteString(w, strings.Repeat("x", 4<<10))
		}},
		{"503 with a page", func(w http.ResponseWriter) { http.Error(w, "down for a moment", http.StatusServiceUnavailable) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var conns atomic.Int32
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				tc.answer(w)
			}))
			srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
				if s == http.StateNew {
					conns.Add(1)
				}
			}
			srv.Start()
			defer srv.Close()
			f, err := forward.New([]config.ForwardConfig{destination("a", srv.URL, afterCommand)}, catalogueAll(), nopLogger(), newRegistry())
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			for range 3 {
				_ = f.Deliver(context.Background(), "a", &dispatcher.Request{Command: afterCommand, Body: []byte(`{}`), Target: "a"})
			}
			if n := conns.Load(); n != 1 {
				t.Errorf("3 deliveries opened %d connections, want 1", n)
			}
		})
	}
}

// TestBeforeAnswerIsReadWholeWithinItsBound: the answer to a
// before-callback is its decision: read whole within the deadline, in
// however many parts it comes, up to 64 KiB; a longer one is refused,
// counted as bad_response.
func TestBeforeAnswerIsReadWholeWithinItsBound(t *testing.T) {
	envelope := func(info string) string {
		return `{"ActionStatus":"OK","ErrorCode":120001,"ErrorInfo":"` + info + `"}`
	}
	tests := []struct {
		name   string
		answer string
		want   string // the error; "" for the destination's 120001
	}{
		{"short", envelope("no"), ""},
		{"64 KiB", envelope(strings.Repeat("x", 64<<10-len(envelope("")))), ""},
		{"a byte over 64 KiB", envelope(strings.Repeat("x", 64<<10-len(envelope(""))+1)), "answer over 65536 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := newDest(t, func(w http.ResponseWriter, _ int) {
				half := len(tc.answer) / 2
				_, _ = io.WriteString(w, tc.answer[:half])
				http.NewResponseController(w).Flush()
				_, _ = io.WriteString(w, tc.answer[half:])
			})
			f, dec, err := decideAt(t, d.URL)
			switch {
			case tc.want == "" && (err != nil || dec.Code != 120001):
				t.Errorf("Decide: %+v, %v; want the destination's 120001", dec, err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Errorf("Decide: %v, want an error with %q", err, tc.want)
			case tc.want != "" && f.Info()[0].Requests[forward.ResultBadResponse] != 1:
				t.Errorf("counted as %v, want one bad_response", f.Info()[0].Requests)
			}
		})
	}
}

// TestRefusedAnswerIsQuotedShort: the error refusing an answer that is
// not the envelope (logged at every before-callback it fails) quotes the
// value at fault cut short, not the tens of KiB a destination may put in
// it, while still naming what is wrong.
func TestRefusedAnswerIsQuotedShort(t *testing.T) {
	long := strings.Repeat("x", 60<<10)
	tests := []struct {
		name, answer, want string
	}{
		{"ActionStatus", `{"ActionStatus":"` + long + `","ErrorCode":0}`, `ActionStatus is "xxx`},
		{"ErrorCode", `{"ActionStatus":"OK","ErrorCode":"` + long + `"}`, `ErrorCode "xxx`},
		// An answer that is no JSON at all (a web server's page, a bare
		// "ok") is quoted too, so the log shows what the destination said.
		{"not JSON", "<html>\n" + long, `not a JSON object: "<html>\nxxx`},
		{"a bare word", "ok", `not a JSON object: "ok"`},
		{"empty", "", `not a JSON object: ""`},
		// A number that is no 64-bit integer is named as such, not as no number.
		{"a fractional ErrorCode", `{"ActionStatus":"OK","ErrorCode":0.5}`, `ErrorCode 0.5 is not a 64-bit integer`},
		{"an ErrorCode too large", `{"ActionStatus":"OK","ErrorCode":99999999999999999999}`, `ErrorCode 99999999999999999999 is not a 64-bit integer`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := newDest(t, func(w http.ResponseWriter, _ int) { _, _ = io.WriteString(w, tc.answer) })
			_, _, err := decideAt(t, d.URL)
			switch {
			case err == nil || !strings.Contains(err.Error(), tc.want):
				t.Errorf("Decide: %.200v…, want an error with %q", err, tc.want)
			case len(err.Error()) > 1<<10:
				t.Errorf("Decide's error is %d bytes long: %.200s…", len(err.Error()), err)
			}
		})
	}
}

// decideAt asks one before-callback's decision of a new forwarder whose
// one destination is url, and returns the forwarder (closed with the test)
// for its counts.
func decideAt(t *testing.T, url string) (*forward.Forwarder, dispatcher.Decision, error) {
	t.Helper()
	f, err := forward.New([]config.ForwardConfig{destination("a", url, beforeCommand)}, catalogueAll(), nopLogger(), newRegistry())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r := &dispatcher.Request{Command: beforeCommand, Body: []byte(`{}`)}
	r.Params.SdkAppid = imtest.AppID
	dec, err := f.Decide(ctx, "a", r)
	return f, dec, err
}

// TestDecideWithoutADeadlineIsBoundedByTheTimeout: the dispatcher always
// gives Decide the before deadline, but a program of its own may call it
// with a context that has none; a destination that never answers then
// held the call for good. The destination's timeout bounds it instead,
// as it bounds Deliver.
func TestDecideWithoutADeadlineIsBoundedByTheTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select { // never answers
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release) // before srv.Close, which waits for the held request
	c := destination("a", srv.URL, beforeCommand)
	c.Timeout = 100 * time.Millisecond
	f, err := forward.New([]config.ForwardConfig{c}, catalogueAll(), nopLogger(), newRegistry())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := &dispatcher.Request{Command: beforeCommand, Body: []byte(`{}`)}
	r.Params.SdkAppid = imtest.AppID
	within(t, "Decide", func() { _, err = f.Decide(context.Background(), "a", r) })
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Decide: %v, want the destination's timeout (context.DeadlineExceeded)", err)
	}
}
