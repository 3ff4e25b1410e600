package forward_test

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/imcallback/imcallback/config"
	"github.com/imcallback/imcallback/delivery"
	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/forward"
	"github.com/imcallback/imcallback/imtest"
)

// TestDeliverCarriesRetryAfter: a destination's failure answer with a
// Retry-After (delay-seconds or an HTTP date) says, through the error,
// how long to wait before the next attempt (a delay too long to count in
// seconds is as long as one can ask for); none, one in the past or one
// that does not parse says nothing, and the error still names the status.
func TestDeliverCarriesRetryAfter(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		retryAfter string
		want       time.Duration // the least expected; 0: none
		most       time.Duration
	}{
		{"seconds", http.StatusServiceUnavailable, "120", 120 * time.Second, 120 * time.Second},
		{"429 with seconds", http.StatusTooManyRequests, " 7 ", 7 * time.Second, 7 * time.Second},
		{"an HTTP date", http.StatusServiceUnavailable, time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat), 85 * time.Second, 91 * time.Second},
		{"a date in the past", http.StatusServiceUnavailable, time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat), 0, 0},
		{"more seconds than an int64 holds", http.StatusServiceUnavailable, "99999999999999999999", time.Hour, 24 * time.Hour},
		{"zero", http.StatusServiceUnavailable, "0", 0, 0},
		{"negative", http.StatusServiceUnavailable, "-5", 0, 0},
		{"not a delay", http.StatusServiceUnavailable, "soon", 0, 0},
		{"absent", http.StatusInternalServerError, "", 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := deliverAnswered(t, tc.status, tc.retryAfter)
			if err == nil || !strings.Contains(err.Error(), "a answered HTTP "+strconv.Itoa(tc.status)) {
				t.Fatalf("Deliver: %v, want an error naming HTTP %d", err, tc.status)
			}
			if got := dispatcher.RetryAfter(err); got < tc.want || got > tc.most {
				t.Errorf("RetryAfter %v, want %v to %v", got, tc.want, tc.most)
			}
		})
	}
}

// TestDurableCopyHonoursRetryAfter: a stored copy whose destination
// answered 503 with Retry-After is not tried again before that delay,
// although the first backoff is shorter (the longest, which bounds what a
// destination can ask for, is longer), and under the same webhook-id.
func TestDurableCopyHonoursRetryAfter(t *testing.T) {
	d := newDest(t, func(w http.ResponseWriter, n int) {
		if n == 1 {
			w.Header().Set("Retry-After", "1")
			http.Error(w, "busy", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	s := imtest.Start(t, []string{"IMCALLBACK_FORWARD_URL=" + d.URL, "IMCALLBACK_FORWARD_SECRET=" + secret,
		"IMCALLBACK_FORWARD_MATCH=" + afterCommand, "IMCALLBACK_BACKOFF=50ms,2s"}, delivery.Module)
	if res := s.Send(t, afterCommand, mustSample(t, afterCommand)); !res.OK() {
		t.Fatalf("answered %d %s", res.Status, res.Body)
	}
	waitFor(t, "the second attempt", func() bool { return len(d.requests()) == 2 })
	got := d.requests()
	if gap := got[1].at.Sub(got[0].at); gap < time.Second {
		t.Errorf("the retry came %v after the 503, before its Retry-After of 1s", gap)
	}
	if got[0].header.Get("webhook-id") != got[1].header.Get("webhook-id") {
		t.Errorf("webhook-ids %s and %s, want one", got[0].header.Get("webhook-id"), got[1].header.Get("webhook-id"))
	}
}

// TestRefusalWithRetryAfterIsRetried: a 4xx that is otherwise a refusal
// retrying cannot help (413, 400) but comes with a Retry-After asking for
// a delay says the condition is temporary (RFC 9110 §15.5.14: a 413
// "SHOULD" carry one then): it is retried after that delay, not
// dead-lettered at once. Without one it stays a refusal.
func TestRefusalWithRetryAfterIsRetried(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		retryAfter string
		permanent  bool
		want       time.Duration
	}{
		{"413 with seconds", http.StatusRequestEntityTooLarge, "30", false, 30 * time.Second},
		{"400 with seconds", http.StatusBadRequest, "5", false, 5 * time.Second},
		{"413 alone", http.StatusRequestEntityTooLarge, "", true, 0},
		{"413 with no delay", http.StatusRequestEntityTooLarge, "0", true, 0},
		{"410 with one that does not parse", http.StatusGone, "later", true, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := deliverAnswered(t, tc.status, tc.retryAfter)
			if err == nil {
				t.Fatal("Deliver: nil, want the status's error")
			}
			if got := errors.Is(err, dispatcher.ErrPermanent); got != tc.permanent {
				t.Errorf("Deliver: %v, permanent %v, want %v", err, got, tc.permanent)
			}
			if got := dispatcher.RetryAfter(err); got != tc.want {
				t.Errorf("RetryAfter %v, want %v", got, tc.want)
			}
		})
	}
}

// deliverAnswered delivers an after-callback to a destination that
// answers status, with retryAfter as its Retry-After unless empty, and
// returns Deliver's error.
func deliverAnswered(t *testing.T, status int, retryAfter string) error {
	t.Helper()
	d := newDest(t, func(w http.ResponseWriter, _ int) {
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		w.WriteHeader(status)
	})
	f, err := forward.New([]config.ForwardConfig{destination("a", d.URL, afterCommand)}, catalogueAll(), nopLogger(), newRegistry())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := &dispatcher.Request{Command: afterCommand, Body: []byte(`{}`), Target: "a"}
	return f.Deliver(context.Background(), "a", r)
}
