package forward_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/imcallback/imcallback/config"
	"github.com/imcallback/imcallback/delivery"
	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/forward"
	"github.com/imcallback/imcallback/imtest"
)

// TestDeliverRetriesOnlyWhatCanSucceed: an after-callback's answer that
// refuses the request itself (a 4xx other than 401, 403, 404, 408, 409,
// 423, 425 and 429) is an error that wraps dispatcher.ErrPermanent, names
// the status and is counted as refused; every other failure status is
// retried, counted as status.
func TestDeliverRetriesOnlyWhatCanSucceed(t *testing.T) {
	tests := []struct {
		status    int
		permanent bool
	}{
		{http.StatusBadRequest, true},
		{http.StatusMethodNotAllowed, true},
		{http.StatusGone, true},
		{http.StatusRequestEntityTooLarge, true},
		{http.StatusUnsupportedMediaType, true},
		{http.StatusUnprocessableEntity, true},
		{http.StatusUnauthorized, false},        // a secret being rotated
		{http.StatusForbidden, false},           // likewise
		{http.StatusNotFound, false},            // a route being deployed
		{http.StatusRequestTimeout, false},      // try again
		{http.StatusConflict, false},            // an event before the one it depends on
		{http.StatusLocked, false},              // a lock of the moment
		{http.StatusTooEarly, false},            // try again
		{http.StatusTooManyRequests, false},     // try again, after its Retry-After
		{http.StatusInternalServerError, false}, // the destination's fault
		{http.StatusNotImplemented, false},
		{http.StatusServiceUnavailable, false},
		{http.StatusPermanentRedirect, false}, // a URL being moved
	}
	for _, tc := range tests {
		t.Run(strconv.Itoa(tc.status), func(t *testing.T) {
			d := newDest(t, func(w http.ResponseWriter, _ int) { w.WriteHeader(tc.status) })
			f, err := forward.New([]config.ForwardConfig{destination("a", d.URL, afterCommand)}, catalogueAll(), nopLogger(), newRegistry())
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			err = f.Deliver(context.Background(), "a", &dispatcher.Request{Command: afterCommand, Body: []byte(`{}`), Target: "a"})
			if err == nil || !strings.Contains(err.Error(), "a answered HTTP "+strconv.Itoa(tc.status)) {
				t.Fatalf("Deliver: %v, want an error naming HTTP %d", err, tc.status)
			}
			if got := errors.Is(err, dispatcher.ErrPermanent); got != tc.permanent {
				t.Errorf("HTTP %d: permanent %v, want %v (%v)", tc.status, got, tc.permanent, err)
			}
			result, other := forward.ResultStatus, forward.ResultRefused
			if tc.permanent {
				result, other = other, result
			}
			if got := f.Info()[0].Requests; got[result] != 1 || got[other] != 0 {
				t.Errorf("HTTP %d counted as %v, want one %s", tc.status, got, result)
			}
		})
	}
}

// TestRefusedCopyIsDeadLetteredAtOnce: a durable copy its destination
// refuses (HTTP 410) is dead-lettered on its first delivery, not retried
// through every backoff step, its error naming the status; replayed once
// the destination takes it, it is delivered.
func TestRefusedCopyIsDeadLetteredAtOnce(t *testing.T) {
	var refusing atomic.Bool
	refusing.Store(true)
	d := newDest(t, func(w http.ResponseWriter, _ int) {
		if refusing.Load() {
			http.Error(w, "gone", http.StatusGone)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	s := imtest.Start(t, []string{"IMCALLBACK_FORWARD_URL=" + d.URL, "IMCALLBACK_FORWARD_SECRET=" + secret,
		"IMCALLBACK_FORWARD_MATCH=" + afterCommand, "IMCALLBACK_BACKOFF=50ms", "IMCALLBACK_MAX_DELIVERIES=10"}, delivery.Module)
	if res := s.Send(t, afterCommand, mustSample(t, afterCommand)); !res.OK() {
		t.Fatalf("answered %d %s", res.Status, res.Body)
	}
	var dead struct {
		DeadLetters []struct {
			Destination string `json:"destination"`
			Deliveries  int    `json:"deliveries"`
			LastError   string `json:"last_error"`
		} `json:"dead_letters"`
	}
	waitFor(t, "the dead letter", func() bool {
		s.GetJSON(t, "/v1/dead-letters", 200, &dead)
		return len(dead.DeadLetters) == 1
	})
	// Dead-lettered, the copy is terminated: no delivery comes after.
	if dl := dead.DeadLetters[0]; dl.Destination != "default" || dl.Deliveries != 1 || !strings.Contains(dl.LastError, "HTTP 410 Gone") {
		t.Errorf("dead letter %+v, want the default destination's HTTP 410 after one delivery", dl)
	}
	if n := len(d.requests()); n != 1 {
		t.Errorf("the destination got %d requests, want 1", n)
	}
	m := s.Metrics(t)
	for _, want := range []string{`imcallback_forward_requests_total{destination="default",result="refused"} 1`,
		`imcallback_forward_requests_total{destination="default",result="status"} 0`} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}

	refusing.Store(false)
	resp, err := http.Post(s.AdminURL+"/v1/events/replay", "application/json", strings.NewReader(`{"dead":true}`))
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(answer), `"replayed":1`) {
		t.Fatalf("the replay of the dead letter: %d %s, want 200 and one replayed", resp.StatusCode, answer)
	}
	waitFor(t, "the replayed copy delivered", func() bool {
		return strings.Contains(s.Metrics(t), `imcallback_forward_requests_total{destination="default",result="ok"} 1`)
	})
}
