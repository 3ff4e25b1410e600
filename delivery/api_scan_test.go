package delivery_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/imcallback/imcallback/delivery"
	"github.com/imcallback/imcallback/dispatcher"
)

// TestAdminReadsAreBoundedByWhatTheyShow: GET /v1/delivery reads only the
// events above the ack floor, and a page of GET /v1/events reads about a
// page from the stream's end, not the whole stream; the pages are the
// same as a full read would give, for every filter.
func TestAdminReadsAreBoundedByWhatTheyShow(t *testing.T) {
	const total = 400
	s := withProcessedEvents(t, total, 50, 7, "e") // a rare command, 8 events

	get := adminGet(t, s)

	var status struct {
		Commands []delivery.CommandState `json:"commands"`
	}
	if read := get("/v1/delivery", &status); read != 0 {
		t.Errorf("GET /v1/delivery with nothing pending read %d events, want 0", read)
	}
	if len(status.Commands) != 2 || status.Commands[0].Pending+status.Commands[1].Pending != 0 {
		t.Errorf("status %+v", status.Commands)
	}

	// Every event, oldest first, from a full read.
	evs, err := s.Events()
	if err != nil {
		t.Fatal(err)
	}
	var all []delivery.Event
	if err := evs.List(context.Background(), delivery.Filter{}, func(ev delivery.Event) error {
		all = append(all, ev)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(all) != total {
		t.Fatalf("%d events stored, want %d", len(all), total)
	}
	newest := func(limit int, beforeSeq uint64, keep func(delivery.Event) bool) []uint64 {
		var seqs []uint64
		for i := len(all) - 1; i >= 0 && len(seqs) < limit; i-- {
			if (beforeSeq == 0 || all[i].Seq < beforeSeq) && keep(all[i]) {
				seqs = append(seqs, all[i].Seq)
			}
		}
		return seqs
	}
	any := func(delivery.Event) bool { return true }
	rare := func(ev delivery.Event) bool { return ev.Command == otherCommand }
	mid := all[total/2].Seq
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	tests := []struct {
		name     string
		query    string
		want     []uint64
		maxReads uint64
	}{
		{"the newest page", "limit=10", newest(10, 0, any), 4 * 11},
		{"a page before a sequence", fmt.Sprintf("limit=10&before_seq=%d", mid), newest(10, mid, any), 4 * 11},
		{"a rare command", "limit=3&command=" + otherCommand, newest(3, 0, rare), total},
		{"a state", "limit=5&state=processed", newest(5, 0, any), 4 * 6},
		{"an app", "limit=5&app=1400000000", newest(5, 0, any), 4 * 6},
		{"another app", "limit=5&app=1400000001", nil, total},
		{"since an hour ago", "limit=5&since=1h", newest(5, 0, any), 4 * 6},
		{"since later", "limit=5&since=" + future, nil, total},
		{"the whole log", "limit=1000", newest(1000, 0, any), total},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var page struct {
				Events []delivery.EventInfo `json:"events"`
				Next   uint64               `json:"next_before_seq"`
			}
			read := get("/v1/events?"+tt.query, &page)
			var got []uint64
			for _, ev := range page.Events {
				got = append(got, ev.Seq)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("page %v, want %v", got, tt.want)
			}
			if read > tt.maxReads {
				t.Errorf("read %d events for the page, want at most %d", read, tt.maxReads)
			}
		})
	}

	// A backlog: the status reads it and no more.
	if err := s.PauseCommand(testCommand); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		accept(t, s, request(testCommand, fmt.Sprint("held", i)))
	}
	read := get("/v1/delivery", &status)
	pendingOf := map[string]int{}
	for _, c := range status.Commands {
		pendingOf[c.Command] = c.Pending
	}
	if pendingOf[testCommand] != 5 || pendingOf[otherCommand] != 0 || read != 5 {
		t.Errorf("pending %v after reading %d events, want 5 of %s read from 5", pendingOf, read, testCommand)
	}
}

// TestAnEventPageHoldsAboutAPage: a page of GET /v1/events holds about
// limit events in memory however many match in the stretch of the stream
// it reads back to find them: here a command whose events are all older
// than many of another's, so that the window which reaches them holds
// dozens of matches for a page of one.
func TestAnEventPageHoldsAboutAPage(t *testing.T) {
	o := options(t, backend{name: "embedded"})
	s := start(t, o, dispatcherFor(t, newRecorder(), otherCommand))
	const older, newer = 200, 200
	for i := range older {
		accept(t, s, request(otherCommand, fmt.Sprint("o", i)))
	}
	for i := range newer {
		accept(t, s, request(testCommand, fmt.Sprint("n", i)))
	}
	get := adminGet(t, s)
	var page struct {
		Events []delivery.EventInfo `json:"events"`
		Next   uint64               `json:"next_before_seq"`
	}
	get("/v1/events?limit=1&command="+otherCommand, &page)
	if len(page.Events) != 1 || page.Events[0].Seq != older || page.Next != older {
		t.Fatalf("the newest %s: %+v, want event %d and next_before_seq %d", otherCommand, page, older, older)
	}
	get(fmt.Sprintf("/v1/events?limit=1&command=%s&before_seq=%d", otherCommand, page.Next), &page)
	if len(page.Events) != 1 || page.Events[0].Seq != older-1 {
		t.Fatalf("the next page: %+v, want event %d", page, older-1)
	}
	// A page of one asks for two matches (one more tells whether a page
	// follows); holding twice that is the bound.
	if held := s.MostPageHeld(); held > 4 {
		t.Errorf("a page of 1 event held %d events at once, want at most 4", held)
	}
}

// TestAScanThatGetsNothingSaysSo: a scan whose consumer holds messages but
// delivers none (here: paused) ends with an error the admin API answers
// 503, not with a list that silently stops short.
func TestAScanThatGetsNothingSaysSo(t *testing.T) {
	o := options(t, backend{name: "embedded"})
	s := start(t, o, nil)
	for i := range 3 {
		accept(t, s, request(testCommand, fmt.Sprint("s", i)))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	js := s.Conn().JS
	until := time.Now().Add(time.Hour)
	c, err := js.CreateConsumer(ctx, s.Options().Stream, jetstream.ConsumerConfig{
		AckPolicy: jetstream.AckNonePolicy, HeadersOnly: true, MemoryStorage: true, PauseUntil: &until,
	})
	if err != nil {
		t.Fatal(err)
	}
	evs, err := s.Events()
	if err != nil {
		t.Fatal(err)
	}
	n, err := evs.ReadScan(ctx, c, 3)
	if n != 0 || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "3 still to read") {
		t.Errorf("a scan of a consumer that delivers nothing: %d read, %v", n, err)
	}
	// The same consumer resumed reads all three.
	if _, err := js.ResumeConsumer(ctx, s.Options().Stream, c.CachedInfo().Name); err != nil {
		t.Fatal(err)
	}
	if n, err := evs.ReadScan(ctx, c, 3); n != 3 || err != nil {
		t.Errorf("the resumed scan: %d read, %v", n, err)
	}
}

// TestEventPagesReadOnlyNewDeadLetters: dead letters have no age limit, and
// every page of the event log, every event and the delivery status need
// them. After the first read each request reads only the dead letters
// stored since, and a replay (which removes its dead letter) is seen at once.
func TestEventPagesReadOnlyNewDeadLetters(t *testing.T) {
	o := options(t, backend{name: "embedded"})
	o.MaxDeliveries = 1
	rec := newRecorder()
	failing := true
	var mu sync.Mutex
	rec.set(0, func(string, int) error {
		mu.Lock()
		defer mu.Unlock()
		if failing {
			return errors.New("down")
		}
		return nil
	})
	s := start(t, o, dispatcherFor(t, rec))
	const dead = 200
	for i := range dead {
		accept(t, s, request(testCommand, fmt.Sprint("d", i)))
	}
	ev := events(t, s)
	// Terminated too: a worker terminates its event after storing the
	// dead letter, and an event whose termination is still in flight is
	// above the ack floor, which GET /v1/delivery reads from.
	eventually(t, 30*time.Second, "every event dead-lettered and terminated", func() bool {
		return len(deadLetters(t, ev)) == dead && pending(t, s) == 0
	})

	get := adminGet(t, s)
	var page struct {
		Events []delivery.EventInfo `json:"events"`
	}
	var one delivery.EventInfo
	var status struct {
		Commands []delivery.CommandState `json:"commands"`
	}
	if read := get("/v1/events?limit=1", &page); read < dead {
		t.Fatalf("the first page read %d headers; the dead letters are %d", read, dead)
	}
	if read := get("/v1/events?limit=1", &page); read > 8 {
		t.Errorf("the next page read %d headers, want about a page", read)
	}
	if read := get("/v1/events/1", &one); read != 0 || one.State != delivery.StateDead {
		t.Errorf("GET /v1/events/1 read %d headers and says %q, want none and dead", read, one.State)
	}
	if read := get("/v1/delivery", &status); read != 0 || len(status.Commands) == 0 || status.Commands[0].DeadLetters != dead {
		t.Errorf("GET /v1/delivery read %d headers, commands %+v, want none and %d dead letters", read, status.Commands, dead)
	}

	accept(t, s, request(testCommand, "one more"))
	eventually(t, 10*time.Second, "one more dead letter", func() bool { return len(deadLetters(t, ev)) == dead+1 })
	if read := get("/v1/events?limit=1", &page); read > 9 {
		t.Errorf("a page after one more dead letter read %d headers, want about a page and the new letter", read)
	}

	mu.Lock()
	failing = false
	mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if res, err := ev.ReplayDeadOf(ctx, []uint64{1}, nil); err != nil || res.Replayed != 1 {
		t.Fatalf("ReplayDeadOf(1) = %+v, %v", res, err)
	}
	if get("/v1/events/1", &one); one.State == delivery.StateDead {
		t.Error("event 1 is still shown dead after its dead letter was replayed")
	}
	get("/v1/delivery", &status)
	if status.Commands[0].DeadLetters != dead {
		t.Errorf("the delivery status counts %d dead letters after one of %d was replayed", status.Commands[0].DeadLetters, dead+1)
	}
}

// TestDeadLettersOfAnotherSubjectPrefix: a dead-letter stream that also
// holds the letters of an earlier IMCALLBACK_SUBJECT_PREFIX (the stream's
// subjects follow the setting, its letters stay) is read like any other:
// the admin API's cache of it compared their count with its own and read
// the stream again and again until the request's deadline.
func TestDeadLettersOfAnotherSubjectPrefix(t *testing.T) {
	o := options(t, backend{name: "embedded"})
	o.MaxDeliveries = 1
	rec := newRecorder()
	rec.set(0, func(string, int) error { return errors.New("boom") })
	first, err := delivery.New(o, testLogger(t), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := first.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := first.StartWorkers(dispatcherFor(t, rec)); err != nil {
		t.Fatal(err)
	}
	accept(t, started{Service: first}, request(testCommand, "fails"))
	e1, err := first.Events()
	if err != nil {
		t.Fatal(err)
	}
	// Terminated too, before the stop: the termination is sent after the
	// letter is stored, and one the embedded server has not applied when
	// it shuts down is lost with it (a stopping consumer drops the acks it
	// has queued). The event then counts as pending under the old prefix,
	// and the start with the new one is refused.
	eventually(t, 20*time.Second, "dead-lettered and terminated", func() bool {
		return len(deadLetters(t, e1)) == 1 && pending(t, started{Service: first}) == 0
	})
	if err := first.Stop(ctx); err != nil {
		t.Fatal(err)
	}

	o.SubjectPrefix = "imcallback2"
	rec.set(0, nil)
	s := start(t, o, dispatcherFor(t, rec))
	accept(t, s, request(testCommand, "ok"))
	e := echo.New()
	for _, r := range delivery.AdminRoutes(s.Service) {
		e.Add(r.Method, r.Path, r.Handler)
	}
	for _, path := range []string{"/v1/events?limit=10", "/v1/delivery", "/v1/delivery", "/v1/dead-letters?limit=1"} {
		rctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		w := httptest.NewRecorder()
		e.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil).WithContext(rctx))
		cancel()
		if w.Code != http.StatusOK {
			t.Errorf("GET %s: %d %s", path, w.Code, w.Body)
		}
		if strings.HasPrefix(path, "/v1/dead-letters") && !strings.Contains(w.Body.String(), `"total":1`) {
			t.Errorf("GET %s does not list the dead letter of the old prefix: %s", path, w.Body)
		}
	}
	// The dead letter of the old prefix replays under the new one, and is
	// processed: its old subject matches none of the work stream's.
	events, err := s.Events()
	if err != nil {
		t.Fatal(err)
	}
	res, err := events.ReplayDead(ctx, nil)
	if err != nil || res.Replayed != 1 {
		t.Fatalf("replaying the dead letter of the old prefix: %+v, %v", res, err)
	}
	eventually(t, 20*time.Second, "the replayed dead letter processed", func() bool { return rec.appliedCount("fails") == 1 })
	// So does the stored event itself, replayed by its sequence.
	if res, err = events.Replay(ctx, []uint64{1}, nil); err != nil || res.Replayed != 1 {
		t.Fatalf("replaying event 1 of the old prefix: %+v, %v", res, err)
	}
	eventually(t, 20*time.Second, "the replayed event processed", func() bool { return rec.appliedCount("fails") == 2 })
}

// adminGet returns a GET of s's admin API that decodes a 200 answer into v
// (failing t otherwise) and returns how many message headers it read.
func adminGet(t *testing.T, s started) func(path string, v any) uint64 {
	e := echo.New()
	for _, r := range delivery.AdminRoutes(s.Service) {
		e.Add(r.Method, r.Path, r.Handler)
	}
	return func(path string, v any) uint64 {
		t.Helper()
		before := s.EventsRead()
		w := httptest.NewRecorder()
		e.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		if w.Code != http.StatusOK {
			t.Fatalf("GET %s: %d %s", path, w.Code, w.Body)
		}
		if err := json.Unmarshal(w.Body.Bytes(), v); err != nil {
			t.Fatal(err)
		}
		return s.EventsRead() - before
	}
}

// TestDeadLetterListIsBounded: GET /v1/dead-letters answers at most limit
// (default 1000) dead letters, the oldest first as a full read lists them,
// with how many there are and whether more exist; it reads about that
// many from the stream, and counts per destination all of them. A bad
// limit is a 400 that changes nothing.
func TestDeadLetterListIsBounded(t *testing.T) {
	o := options(t, backend{name: "embedded"})
	o.MaxDeliveries = 1
	rec := newRecorder()
	rec.set(0, func(string, int) error { return errors.New("down") })
	s := start(t, o, dispatcherFor(t, rec))
	const dead = 60
	for i := range dead {
		r := request(testCommand, fmt.Sprint("d", i))
		if i%20 == 3 {
			r.Targets = []string{"backend"} // a gateway-mode copy: no destination answers it
		}
		accept(t, s, r)
	}
	ev := events(t, s)
	eventually(t, 30*time.Second, "every event dead-lettered", func() bool { return len(deadLetters(t, ev)) == dead })
	var want []uint64 // oldest first, as a full read lists them
	toBackend := 0
	for _, d := range deadLetters(t, ev) {
		want = append(want, d.OriginalSeq)
		if d.Destination == "backend" {
			toBackend++
		}
	}
	if toBackend != 3 {
		t.Fatalf("%d dead letters for destination backend, want 3", toBackend)
	}

	type answer struct {
		DeadLetters   []delivery.DeadLetterInfo `json:"dead_letters"`
		Total         int                       `json:"total"`
		Truncated     bool                      `json:"truncated"`
		ByDestination map[string]int            `json:"by_destination"`
	}
	seqs := func(a answer) []uint64 {
		var out []uint64
		for _, d := range a.DeadLetters {
			out = append(out, d.Seq)
		}
		return out
	}
	get := adminGet(t, s)
	for _, tt := range []struct {
		query     string
		n         int
		truncated bool
	}{
		{"", dead, false}, // the default, 1000
		{"?limit=10000", dead, false},
		{fmt.Sprintf("?limit=%d", dead), dead, false},
		{fmt.Sprintf("?limit=%d", dead-1), dead - 1, true},
		{"?limit=10", 10, true},
		{"?limit=1", 1, true},
	} {
		var a answer
		get("/v1/dead-letters"+tt.query, &a)
		if got := seqs(a); !slices.Equal(got, want[:tt.n]) || a.Total != dead || a.Truncated != tt.truncated {
			t.Errorf("GET /v1/dead-letters%s: seqs %v, total %d, truncated %v; want the oldest %d %v, total %d, truncated %v",
				tt.query, got, a.Total, a.Truncated, tt.n, want[:tt.n], dead, tt.truncated)
		}
		if a.ByDestination["backend"] != toBackend || len(a.ByDestination) != 1 {
			t.Errorf("GET /v1/dead-letters%s: by_destination %v, want backend: %d of all of them", tt.query, a.ByDestination, toBackend)
		}
	}

	// Once the dead letters were read, a short list reads about its length.
	if read := get("/v1/dead-letters?limit=5", new(answer)); read > 12 {
		t.Errorf("GET /v1/dead-letters?limit=5 read %d headers of %d dead letters, want about 5", read, dead)
	}

	// The letters keep their fields, in their order; nothing is added to them.
	w := httptest.NewRecorder()
	e := echo.New()
	for _, r := range delivery.AdminRoutes(s.Service) {
		e.Add(r.Method, r.Path, r.Handler)
	}
	e.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/v1/dead-letters?limit=1", nil))
	var raw struct {
		DeadLetters []json.RawMessage `json:"dead_letters"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &raw); err != nil || len(raw.DeadLetters) != 1 {
		t.Fatalf("GET /v1/dead-letters?limit=1: %v %s", err, w.Body)
	}
	keys := jsonKeys(t, raw.DeadLetters[0])
	if len(keys) > 0 && keys[len(keys)-1] == "destination" { // a gateway-mode copy's
		keys = keys[:len(keys)-1]
	}
	if !slices.Equal(keys, []string{"seq", "command", "app_id", "failed_at", "deliveries", "last_error"}) {
		t.Errorf("a dead letter's fields are %v", keys)
	}

	for _, limit := range []string{"0", "-1", "10001", "abc", "1.5", "1e3", "%20"} {
		w := httptest.NewRecorder()
		e.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/v1/dead-letters?limit="+limit, nil))
		// The admin listener's error handler answers {"error":…}; a bare echo {"message":…}.
		if w.Code != http.StatusBadRequest || !json.Valid(w.Body.Bytes()) || !strings.Contains(w.Body.String(), `"limit must be from 1 to 10000"`) {
			t.Errorf("GET /v1/dead-letters?limit=%s: %d %s, want a 400 saying the range", limit, w.Code, w.Body)
		}
	}
	var a answer
	get("/v1/dead-letters", &a)
	if !slices.Equal(seqs(a), want) || a.Total != dead || len(deadLetters(t, ev)) != dead {
		t.Errorf("after the bad limits: %d dead letters listed of %d, want all %d", len(a.DeadLetters), a.Total, dead)
	}
}

// jsonKeys are the keys of a JSON object, in their order.
func jsonKeys(t *testing.T, obj json.RawMessage) []string {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(obj))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not an object: %s", obj)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, tok.(string))
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
	}
	return keys
}

// TestDeadLetterDetailsAreBounded: with the details of only a few dead
// letters held, the admin API still answers every event right (dead, with
// its deliveries and error, or processed) and counts every dead letter,
// while what it holds stays within the limit.
func TestDeadLetterDetailsAreBounded(t *testing.T) {
	o := options(t, backend{name: "embedded"})
	o.MaxDeliveries = 1
	rec := newRecorder()
	rec.set(0, func(id string, _ int) error {
		if n, _ := strconv.Atoi(strings.TrimPrefix(id, "e")); n%3 == 0 {
			return nil // every third one succeeds
		}
		return errors.New("down for " + id)
	})
	s := start(t, o, dispatcherFor(t, rec))
	const limit = 10
	s.SetDeadCacheLetters(limit)
	const total = 300
	for i := range total {
		accept(t, s, request(testCommand, fmt.Sprint("e", i)))
	}
	ev := events(t, s)
	dead := total - (total+2)/3
	eventually(t, 30*time.Second, "every failing event dead-lettered", func() bool {
		return len(deadLetters(t, ev)) == dead && pending(t, s) == 0
	})
	want := map[uint64]delivery.DeadLetter{}
	for _, d := range deadLetters(t, ev) {
		want[d.OriginalSeq] = d
	}

	get := adminGet(t, s)
	var status struct {
		Commands []delivery.CommandState `json:"commands"`
	}
	get("/v1/delivery", &status)
	if len(status.Commands) != 1 || status.Commands[0].DeadLetters != dead || status.Commands[0].Pending != 0 {
		t.Errorf("GET /v1/delivery: %+v, want %d dead letters and nothing pending", status.Commands, dead)
	}
	check := func(in delivery.EventInfo) {
		t.Helper()
		d, isDead := want[in.Seq]
		switch {
		case isDead && (in.State != delivery.StateDead || in.LastError != d.Error || in.Deliveries != d.Deliveries):
			t.Errorf("event %d: %s, %d deliveries, %q; want dead, %d, %q", in.Seq, in.State, in.Deliveries, in.LastError, d.Deliveries, d.Error)
		case !isDead && in.State != delivery.StateProcessed:
			t.Errorf("event %d: %s, want processed", in.Seq, in.State)
		}
	}
	for seq := uint64(1); seq <= total; seq++ {
		var one delivery.EventInfo
		get(fmt.Sprint("/v1/events/", seq), &one)
		check(one)
	}
	var page struct {
		Events []delivery.EventInfo `json:"events"`
	}
	get("/v1/events?limit=1000", &page)
	if len(page.Events) != total {
		t.Fatalf("GET /v1/events listed %d events, want %d", len(page.Events), total)
	}
	for _, in := range page.Events {
		check(in)
	}
	get("/v1/events?state=dead&limit=1000", &page)
	if len(page.Events) != dead {
		t.Errorf("GET /v1/events?state=dead listed %d events, want %d", len(page.Events), dead)
	}
	var list struct {
		Total int `json:"total"`
	}
	get("/v1/dead-letters?limit=5", &list)
	if list.Total != dead {
		t.Errorf("GET /v1/dead-letters: total %d, want %d", list.Total, dead)
	}
	if held, _, _ := s.DeadCacheHeld(); held > limit {
		t.Errorf("%d dead letters' details held, want at most %d", held, limit)
	}

	// An old letter replayed (and failing again): the counts stay exact,
	// the event's copy is dead in its turn.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if res, err := ev.ReplayDeadOf(ctx, []uint64{2}, nil); err != nil || res.Replayed != 1 {
		t.Fatalf("ReplayDeadOf(2) = %+v, %v", res, err)
	}
	eventually(t, 30*time.Second, "the replayed copy dead-lettered", func() bool {
		return len(deadLetters(t, ev)) == dead && pending(t, s) == 0
	})
	var one delivery.EventInfo
	if get("/v1/events/2", &one); one.State == delivery.StateDead {
		t.Error("event 2 is still shown dead after its dead letter was replayed")
	}
	get("/v1/delivery", &status)
	if status.Commands[0].DeadLetters != dead {
		t.Errorf("GET /v1/delivery counts %d dead letters after a replay that failed again, want %d", status.Commands[0].DeadLetters, dead)
	}
	if held, _, _ := s.DeadCacheHeld(); held > limit {
		t.Errorf("%d dead letters' details held after a full read again, want at most %d", held, limit)
	}
}

// storeDeadLetters stores dead letters of the work-stream sequences from
// from to to (inclusive) straight into s's dead-letter stream. Each is
// published on its own and its acknowledgement awaited: the connection's
// asynchronous publishes time out after the service's PublishTimeout and
// stall at MaxPendingAppends, which thousands of letters published at once
// outlast on a loaded machine.
func storeDeadLetters(t *testing.T, s started, from, to uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	js := s.Conn().JS
	for orig := from; orig <= to; orig++ {
		m := nats.NewMsg(s.Options().DeadPrefix() + ".1400000000." + testCommand)
		m.Header.Set(delivery.HeaderCommand, testCommand)
		m.Header.Set(delivery.HeaderDeadSeq, fmt.Sprint(orig))
		m.Header.Set(delivery.HeaderDeadMsgID, fmt.Sprint("id-", orig))
		m.Header.Set(delivery.HeaderDeadDeliveries, "1")
		m.Header.Set(delivery.HeaderDeadError, "down")
		if _, err := js.PublishMsg(ctx, m); err != nil {
			t.Fatalf("dead letter of %d: %v", orig, err)
		}
	}
}

// TestDeadLetterLookUpThroughAnEarlierViewIsBounded: a request looks the
// dead letters up through the view it took, while another request's read
// may meanwhile have let go of the details of many more letters. Every
// look-up still holds at most DeadChunk sequences' letters, and together
// they find every letter.
func TestDeadLetterLookUpThroughAnEarlierViewIsBounded(t *testing.T) {
	o := options(t, backend{name: "embedded"})
	s := start(t, o, nil)
	const limit = 10
	s.SetDeadCacheLetters(limit)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	storeDeadLetters(t, s, 1, 2*limit)
	view, err := s.DeadLetterView(ctx) // letters 1 to 10 no longer held
	if err != nil {
		t.Fatal(err)
	}
	const more = delivery.DeadChunk + 100
	storeDeadLetters(t, s, 2*limit+1, 2*limit+more)
	if _, err := s.DeadLetterView(ctx); err != nil { // another request's read
		t.Fatal(err)
	}
	most, found, err := view.LettersFrom(ctx, limit+1)
	if err != nil {
		t.Fatal(err)
	}
	if found != limit+more {
		t.Errorf("the look-ups found %d letters from sequence %d on, want %d", found, limit+1, limit+more)
	}
	if most > delivery.DeadChunk {
		t.Errorf("one look-up held %d letters, want at most %d", most, delivery.DeadChunk)
	}
}

// TestAListingParameterGivenTwiceIsRefused: GET /v1/events and
// /v1/dead-letters read the first of a parameter given twice and answered
// 200 with that page: a script that appends "&before_seq=<next>" to the URL
// of the page before got its second page again and again, never the last,
// and two states or commands listed one of them. A parameter given twice is
// now a 400 naming it, as GET /v1/topics answers a repeated sdk_app_id.
// So are an unknown parameter, on one event's route too, and an app filter
// no SdkAppid can be.
func TestAListingParameterGivenTwiceIsRefused(t *testing.T) {
	o := options(t, backend{name: "embedded"})
	s := start(t, o, nil)
	for i := range 3 {
		accept(t, s, request(testCommand, fmt.Sprint("twice", i)))
	}
	e := echo.New()
	for _, r := range delivery.AdminRoutes(s.Service) {
		e.Add(r.Method, r.Path, r.Handler)
	}
	for _, tt := range []struct{ query, param string }{
		{"/v1/events?limit=1&before_seq=3&before_seq=2", "before_seq"},
		{"/v1/events?limit=1&limit=2", "limit"},
		{"/v1/events?state=pending&state=dead", "state"},
		{"/v1/events?command=" + testCommand + "&command=" + otherCommand, "command"},
		{"/v1/events?app=1400000000&app=1400000001", "app"},
		{"/v1/events?since=1h&since=1m", "since"},
		{"/v1/dead-letters?limit=1&limit=2", "limit"},
	} {
		w := httptest.NewRecorder()
		e.ServeHTTP(w, httptest.NewRequest(http.MethodGet, tt.query, nil))
		if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), tt.param+" is given more than once") {
			t.Errorf("GET %s: %d %s, want a 400 saying %s is given more than once", tt.query, w.Code, w.Body, tt.param)
		}
	}
	// A parameter the listing does not read (a misspelt filter) listed
	// everything, unfiltered, as a 200.
	for _, tt := range []struct{ query, param string }{
		{"/v1/events?app_id=1400000001", "app_id"},
		{"/v1/events?sdk_app_id=1400000001", "sdk_app_id"},
		{"/v1/events?stat=dead", "stat"},
		{"/v1/dead-letters?command=" + testCommand, "command"},
		// One event's route reads none: /v1/events/2?state=dead showed the
		// event, whatever the caller meant to ask.
		{"/v1/events/2?state=dead", "state"},
		{"/v1/events/2?pretty&app=1400000000", "app"},
	} {
		w := httptest.NewRecorder()
		e.ServeHTTP(w, httptest.NewRequest(http.MethodGet, tt.query, nil))
		if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), `unknown parameter \"`+tt.param+`\"`) {
			t.Errorf("GET %s: %d %s, want a 400 naming the unknown parameter %s", tt.query, w.Code, w.Body, tt.param)
		}
	}
	// An app filter that no SdkAppid can be (a name, a leading zero, a
	// sign, past 2^64-1) matched nothing and listed an empty page, as if the app had
	// no events.
	for _, app := range []string{"myapp", "01400000000", "+1400000000", "1400000000%20", "-1", "18446744073709551616"} {
		w := httptest.NewRecorder()
		e.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/v1/events?app="+app, nil))
		if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "app must be an SdkAppid") {
			t.Errorf("GET /v1/events?app=%s: %d %s, want a 400 saying what an app id is", app, w.Code, w.Body)
		}
	}
	// Each once, an empty value and echo's ?pretty still list.
	for _, query := range []string{"/v1/events?limit=1&before_seq=3&state=&command=" + testCommand, "/v1/dead-letters?limit=1", "/v1/events?pretty", "/v1/events?app=1400000000"} {
		w := httptest.NewRecorder()
		e.ServeHTTP(w, httptest.NewRequest(http.MethodGet, query, nil))
		if w.Code != http.StatusOK {
			t.Errorf("GET %s: %d %s", query, w.Code, w.Body)
		}
	}
	// An empty value is an absent one, so a repeat of it is no second
	// value: limit=&limit=1 was a 400 "limit is given more than once". It
	// lists one event now, as limit=1 does.
	for _, query := range []string{"/v1/events?limit=&limit=1", "/v1/events?limit=1&limit=&state=&state=pending"} {
		w := httptest.NewRecorder()
		e.ServeHTTP(w, httptest.NewRequest(http.MethodGet, query, nil))
		var page struct {
			Events []delivery.EventInfo `json:"events"`
		}
		if w.Code != http.StatusOK || json.Unmarshal(w.Body.Bytes(), &page) != nil || len(page.Events) != 1 {
			t.Errorf("GET %s: %d %s, want one event", query, w.Code, w.Body)
		}
	}
	w := httptest.NewRecorder()
	e.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/v1/dead-letters?limit=&limit=1", nil))
	if w.Code != http.StatusOK {
		t.Errorf("GET /v1/dead-letters?limit=&limit=1: %d %s", w.Code, w.Body)
	}
}

// TestAnEventPastTheRetentionPointsToItsDeadLetter: GET /v1/events/<seq>
// of an event the work stream no longer holds (its retention dropped it)
// whose dead letter is kept says so, and how to replay it, rather than
// "never stored"; an event never stored is still only not found.
func TestAnEventPastTheRetentionPointsToItsDeadLetter(t *testing.T) {
	o := options(t, backend{name: "embedded"})
	rec := newRecorder()
	rec.set(0, func(string, int) error {
		return fmt.Errorf("destination answered HTTP 410: %w", dispatcher.ErrPermanent)
	})
	s := start(t, o, dispatcherFor(t, rec))
	accept(t, s, request(testCommand, "old"))
	var dead []delivery.DeadLetter
	eventually(t, 30*time.Second, "the event dead-lettered and terminated", func() bool {
		dead = deadLetters(t, events(t, s))
		return len(dead) == 1 && pending(t, s) == 0
	})
	seq := dead[0].OriginalSeq
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	st, err := s.Conn().JS.Stream(ctx, s.Options().Stream)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.DeleteMsg(ctx, seq); err != nil { // as the retention would
		t.Fatal(err)
	}

	e := echo.New()
	for _, r := range delivery.AdminRoutes(s.Service) {
		e.Add(r.Method, r.Path, r.Handler)
	}
	for _, tt := range []struct {
		seq        uint64
		want, fail string
	}{
		{seq, fmt.Sprintf(`its dead letter is kept (dead-letter sequence %d): GET /v1/dead-letters lists it, `+
			`POST /v1/events/replay with {\"dead\":true,\"seqs\":[%d]} replays it`, dead[0].Seq, seq), "never stored"},
		{seq + 1000, "never stored, or past the retention", "dead letter"},
	} {
		w := httptest.NewRecorder()
		e.ServeHTTP(w, httptest.NewRequest(http.MethodGet, fmt.Sprint("/v1/events/", tt.seq), nil))
		if w.Code != http.StatusNotFound || !strings.Contains(w.Body.String(), tt.want) || strings.Contains(w.Body.String(), tt.fail) {
			t.Errorf("GET /v1/events/%d: %d %s, want 404 saying %q", tt.seq, w.Code, w.Body, tt.want)
		}
	}
}

// TestReplayOfADeadLetterReadsOnlyWhereItCanBe: POST /v1/events/replay
// with {"dead":true,"seqs":[…]} (the console's Replay button) scanned the
// whole dead-letter stream to find the latest letter of each sequence:
// after an outage with millions of letters one click cost seconds. It now
// locates them as the admin API's other reads do: a held letter from
// memory, an older one from the few stretches of the stream that can hold
// it. The later of two letters of one sequence (the work stream
// recreated) is still the one replayed, and once it is gone the earlier.
func TestReplayOfADeadLetterReadsOnlyWhereItCanBe(t *testing.T) {
	o := options(t, backend{name: "embedded"})
	s := start(t, o, nil)
	s.SetDeadCacheLetters(10)
	storeDeadLetters(t, s, 1, 1000)
	storeDeadLetters(t, s, 5, 5) // a later letter of 5: dead-letter sequence 1001
	storeDeadLetters(t, s, 1001, 2000)
	const letters = 2001
	ev := events(t, s)

	get := adminGet(t, s)
	var list struct {
		Total int `json:"total"`
	}
	if get("/v1/dead-letters?limit=1", &list); list.Total != letters { // the admin API's read of the stream
		t.Fatalf("GET /v1/dead-letters: total %d, want %d", list.Total, letters)
	}
	admin := echo.New()
	for _, r := range delivery.AdminRoutes(s.Service) {
		admin.Add(r.Method, r.Path, r.Handler)
	}
	type answer struct {
		Replayed        int      `json:"replayed"`
		Missing         []uint64 `json:"missing"`
		AlreadyReplayed []uint64 `json:"already_replayed"`
	}
	replay := func(body string) (answer, uint64) {
		t.Helper()
		before := s.EventsRead()
		w := httptest.NewRecorder()
		admin.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/v1/events/replay", strings.NewReader(body)))
		var got answer
		if err := json.Unmarshal(w.Body.Bytes(), &got); w.Code != http.StatusOK || err != nil {
			t.Fatalf("POST %s: %d %s", body, w.Code, w.Body)
		}
		return got, s.EventsRead() - before
	}
	left := func() (int, map[uint64][]uint64) { // the letters, and the dead-letter sequences of each work-stream one
		m := map[uint64][]uint64{}
		all := deadLetters(t, ev)
		for _, d := range all {
			m[d.OriginalSeq] = append(m[d.OriginalSeq], d.Seq)
		}
		return len(all), m
	}

	// 5 no longer held (both letters in the index), 1995 held, 999999 none.
	got, read := replay(`{"dead":true,"seqs":[5,1995,999999]}`)
	if got.Replayed != 2 || !slices.Equal(got.Missing, []uint64{999999}) || len(got.AlreadyReplayed) != 0 {
		t.Errorf("the replay answered %+v, want 2 replayed and 999999 missing", got)
	}
	// The stretches that can hold a letter of 5, of 64 letters each before
	// any merge: the first, and the one of its later letter.
	if read > 2*64 {
		t.Errorf("the replay of two letters read %d message headers, want no more than the two stretches (%d) that can hold them, not the %d letters",
			read, 2*64, letters)
	}
	if n, m := left(); n != letters-2 || !slices.Equal(m[5], []uint64{5}) || len(m[1995]) != 0 {
		t.Errorf("%d letters left (want %d); those of 5 at %v (want the earlier, #5, not #1001), of 1995 at %v (want none)",
			n, letters-2, m[5], m[1995])
	}

	// Letters removed by the replay, taken off what the admin API keeps:
	// the one letter left of 5 is its latest now.
	if got, _ = replay(`{"dead":true,"seqs":[5]}`); got.Replayed != 1 || len(got.Missing) != 0 || len(got.AlreadyReplayed) != 0 {
		t.Errorf("the replay of 5 again answered %+v, want its earlier letter replayed", got)
	}
	if n, m := left(); n != letters-3 || len(m[5]) != 0 {
		t.Errorf("%d letters left (want %d); those of 5 at %v (want none)", n, letters-3, m[5])
	}
}

// TestAnEventPageReadsAtMostItsBudget: a page of GET /v1/events whose
// filter matches few events or none reads at most its budget of the
// stream, not the whole stream back to its start; a page cut short says
// where the walk stopped (next_before_seq), and following it to the end
// lists exactly the events a full read selects, for every filter.
func TestAnEventPageReadsAtMostItsBudget(t *testing.T) {
	const total, budget = 1500, 200
	s := withProcessedEvents(t, total, 300, 11, "b") // a rare command, 5 events
	s.SetEventPageBudget(budget)

	evs, err := s.Events()
	if err != nil {
		t.Fatal(err)
	}
	var all []delivery.Event // oldest first
	if err := evs.List(context.Background(), delivery.Filter{}, func(ev delivery.Event) error {
		all = append(all, ev)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(all) != total {
		t.Fatalf("%d events stored, want %d", len(all), total)
	}
	newest := func(keep func(delivery.Event) bool) []uint64 {
		var seqs []uint64
		for i := len(all) - 1; i >= 0; i-- {
			if keep(all[i]) {
				seqs = append(seqs, all[i].Seq)
			}
		}
		return seqs
	}
	none := func(delivery.Event) bool { return false }
	get := adminGet(t, s)
	type page struct {
		Events []delivery.EventInfo `json:"events"`
		Next   uint64               `json:"next_before_seq"`
	}
	tests := []struct {
		name  string
		query string
		want  []uint64
		// maxReads bounds the headers one page reads: the budget, and with
		// a command filter the matches past a window's end one fetch can
		// bring (scanRange).
		maxReads uint64
	}{
		{"every event", "limit=50", newest(func(delivery.Event) bool { return true }), budget},
		{"an app with none", "limit=10&app=1400000001", nil, budget},
		{"no dead letter", "limit=10&state=dead", nil, budget},
		{"nothing pending", "limit=10&state=pending", nil, budget},
		{"a rare command", "limit=2&command=" + otherCommand, newest(func(ev delivery.Event) bool { return ev.Command == otherCommand }), 2 * budget},
		{"a command with none", "limit=10&command=Test.CallbackAfterNone", newest(none), 2 * budget},
		{"processed", "limit=100&state=processed", newest(func(delivery.Event) bool { return true }), budget},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []uint64
			var p page
			read := get("/v1/events?"+tt.query, &p)
			if len(tt.want) == 0 && (len(p.Events) != 0 || p.Next == 0) {
				t.Fatalf("the first page %+v: want none and a next_before_seq (the walk stopped at its budget, far from the start)", p)
			}
			for pages := 1; ; pages++ {
				if read > tt.maxReads {
					t.Errorf("page %d read %d headers, want at most %d", pages, read, tt.maxReads)
				}
				for _, ev := range p.Events {
					got = append(got, ev.Seq)
				}
				if p.Next == 0 {
					break
				}
				if pages > total {
					t.Fatalf("more than %d pages", total)
				}
				before := p.Next
				p = page{}
				read = get(fmt.Sprintf("/v1/events?%s&before_seq=%d", tt.query, before), &p)
				for _, ev := range p.Events {
					if ev.Seq >= before {
						t.Fatalf("event %d on the page before %d", ev.Seq, before)
					}
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("the pages listed %v, want %v", got, tt.want)
			}
		})
	}
}

// withProcessedEvents starts a service on the embedded server and has it
// store and process total events: each the testCommand's, but for every
// rareEvery-th from rareAt on, which is the otherCommand's; their ids
// are prefix and their number.
func withProcessedEvents(t *testing.T, total, rareEvery, rareAt int, prefix string) started {
	t.Helper()
	rec := newRecorder()
	d := dispatcherFor(t, rec, otherCommand)
	s := start(t, options(t, backend{name: "embedded"}), d)
	s.SetCommands(d.AfterCommands())
	for i := range total {
		command := testCommand
		if i%rareEvery == rareAt {
			command = otherCommand
		}
		accept(t, s, request(command, fmt.Sprint(prefix, i)))
	}
	// The handled count first: the server tells its consumers of an event
	// after answering its append, so the consumer can count nothing
	// pending while the last events are stored and not yet delivered.
	eventually(t, 60*time.Second, "every event processed", func() bool { return rec.storedCount() == total && pending(t, s) == 0 })
	return s
}
