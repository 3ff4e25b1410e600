package forward_test

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/imcallback/imcallback/delivery"
	"github.com/imcallback/imcallback/imtest"
)

// TestFailingDestinationLeavesTheWindowToTheOthers: the consumer's window
// (its MaxAckPending) is shared by every destination's copies. A
// destination that keeps failing, whose copies would wait an hour for
// their retries, must not take all of it: from three quarters held its
// failed copies are dead-lettered at once, the healthy destination gets
// every callback, and once the failing one is back the dead letters, all
// of that destination, replay to it alone.
func TestFailingDestinationLeavesTheWindowToTheOthers(t *testing.T) {
	a := newDest(t, ok)
	b := newDest(t, ok)
	b.fail.Store(true)
	var svc *delivery.Service
	s := imtest.Start(t, []string{"IMCALLBACK_WORKERS=2", "IMCALLBACK_BACKOFF=1h", "IMCALLBACK_MAX_DELIVERIES=10"},
		delivery.Module, fx.Populate(&svc),
		withDestinations(destination("a", a.URL, afterCommand), destination("b", b.URL, afterCommand)))

	// The stock window is 10,000 events; narrow the consumer's to 8 (its
	// minimum with 2 workers), as an operator editing the consumer would:
	// the workers read the limit from the server.
	const window = 8
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	o := svc.Options()
	cons, err := svc.Conn().JS.Consumer(ctx, o.Stream, o.Consumer)
	if err != nil {
		t.Fatal(err)
	}
	cfg := cons.CachedInfo().Config
	cfg.MaxAckPending = window
	if _, err := svc.Conn().JS.UpdateConsumer(ctx, o.Stream, cfg); err != nil {
		t.Fatal(err)
	}

	// Three times the window: without shedding, b's copies waiting for
	// their retries would fill it and a would get about a handful.
	const n = 3 * window
	for i := range n {
		body := fmt.Sprintf(`{"CallbackCommand":%q,"GroupId":"g","TopicId":"t%d"}`, afterCommand, i)
		if res := s.Send(t, afterCommand, []byte(body)); !res.OK() {
			t.Fatalf("callback %d answered %d %s", i, res.Status, res.Body)
		}
	}
	waitFor(t, "a's copy of every callback", func() bool { return len(a.requests()) == n })

	type deadLetter struct {
		Seq         uint64 `json:"seq"`
		Destination string `json:"destination"`
		Deliveries  int    `json:"deliveries"`
		LastError   string `json:"last_error"`
	}
	var dead struct {
		DeadLetters   []deadLetter   `json:"dead_letters"`
		Total         int            `json:"total"`
		ByDestination map[string]int `json:"by_destination"`
	}
	// b's copies under three quarters of the window wait for their
	// retries; every later one is shed. Wait until each of them is one or
	// the other.
	var retries, shed int
	waitFor(t, "each of b's copies waiting or shed", func() bool {
		m := s.Metrics(t)
		retries = counter(t, m, "imcallback_delivery_retries_total", afterCommand)
		shed = counter(t, m, "imcallback_delivery_dead_letters_total", afterCommand)
		return retries+shed == n
	})
	// Up to three quarters of the window less one, and one more: a failure
	// that comes while the other worker's reading is in flight takes its
	// answer, which may not count the later failure's copy.
	if retries > window*3/4 {
		t.Errorf("%d of b's copies wait for their retries, want at most three quarters of the window of %d", retries, window)
	}
	s.GetJSON(t, "/v1/dead-letters", 200, &dead)
	if dead.Total != shed {
		t.Fatalf("%d dead letters, want the %d shed", dead.Total, shed)
	}
	if len(dead.DeadLetters) != shed || dead.ByDestination["b"] != shed || len(dead.ByDestination) != 1 {
		t.Errorf("%d dead letters listed of %d, by destination %v, want all of b", len(dead.DeadLetters), shed, dead.ByDestination)
	}
	for _, d := range dead.DeadLetters {
		if d.Destination != "b" || d.Deliveries != 1 || !strings.Contains(d.LastError, "HTTP 500") ||
			!strings.Contains(d.LastError, "without waiting for its retry") || !strings.Contains(d.LastError, fmt.Sprintf("of the %d events", window)) {
			t.Errorf("dead letter %+v, want b's HTTP 500 shed after 1 delivery from a window of %d", d, window)
		}
	}

	b.fail.Store(false)
	before := len(b.requests())
	resp, err := http.Post(s.AdminURL+"/v1/events/replay", "application/json", strings.NewReader(`{"dead":true}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("replay answered %d", resp.StatusCode)
	}
	waitFor(t, "b's shed copies replayed to it", func() bool { return len(b.requests()) == before+shed })
	waitFor(t, "no dead letters left", func() bool {
		s.GetJSON(t, "/v1/dead-letters", 200, &dead)
		return dead.Total == 0
	})
	if got := len(a.requests()); got != n {
		t.Errorf("a got %d requests after b's replay, want still %d", got, n)
	}
	ids := map[string]bool{}
	for _, r := range b.requests()[before:] {
		verify(t, r)
		ids[r.header.Get("webhook-id")] = true
	}
	if len(ids) != shed {
		t.Errorf("the replay sent %d distinct events to b, want the %d shed", len(ids), shed)
	}
}

// counter is the value of name{command="command"} in the metrics text m.
func counter(t *testing.T, m, name, command string) int {
	t.Helper()
	prefix := fmt.Sprintf("%s{command=%q} ", name, command)
	for _, line := range strings.Split(m, "\n") {
		if v, ok := strings.CutPrefix(line, prefix); ok {
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return n
		}
	}
	return 0
}
