package delivery_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/imcallback/imcallback/delivery"
)

// TestADeadLetterIsReplayedOnce: two replays of one dead letter (a double
// click in the console, a retried request, a replay whose delete failed)
// store one copy in the work stream, so the handler runs once.
func TestADeadLetterIsReplayedOnce(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		o := options(t, b)
		o.MaxDeliveries = 1
		rec := newRecorder()
		var fixed atomic.Bool
		rec.set(0, func(string, int) error {
			if fixed.Load() {
				return nil
			}
			return errors.New("boom")
		})
		s := start(t, o, dispatcherFor(t, rec))
		accept(t, s, request(testCommand, "once"))
		e := events(t, s)
		eventually(t, 10*time.Second, "a dead letter", func() bool { return len(deadLetters(t, e)) == 1 })
		fixed.Store(true)

		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		js := s.Conn().JS
		dead, err := js.Stream(ctx, o.DeadStream())
		if err != nil {
			t.Fatal(err)
		}
		raw, err := dead.GetMsg(ctx, deadLetters(t, e)[0].Seq)
		if err != nil {
			t.Fatal(err)
		}
		for range 2 { // both replays read the dead letter before either deletes it
			if _, err := js.PublishMsg(ctx, e.Undead(raw)); err != nil {
				t.Fatal(err)
			}
		}
		eventually(t, 10*time.Second, "the replayed event applied", func() bool { return rec.appliedCount("once") == 1 })
		eventually(t, 10*time.Second, "nothing pending", func() bool { return pending(t, s) == 0 })
		copies := 0
		for _, ev := range listEvents(t, e, delivery.Filter{}) {
			if ev.ReplayOf != "" {
				copies++
			}
		}
		if copies != 1 || rec.appliedCount("once") != 1 {
			t.Errorf("%d copies in the work stream, applied %d times; want 1 and 1", copies, rec.appliedCount("once"))
		}
	})
}

// TestReplayCopiesEventsOnly: POST /v1/events/replay republishes events
// only. A work-stream message without the command header (published to the
// stream's subjects by something else; GET /v1/events/N calls it "not an
// event") is reported missing, like a sequence no longer stored, and not
// copied; a replay by since does not select it.
func TestReplayCopiesEventsOnly(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		o := options(t, b)
		s := start(t, o, nil)                       // no workers: the stream keeps what is published
		accept(t, s, request(testCommand, "event")) // sequence 1
		publishNonEvents(t, s, o)                   // 2: no headers at all; 3: headers, but no command
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		st, err := s.Conn().JS.Stream(ctx, o.Stream)
		if err != nil {
			t.Fatal(err)
		}
		last := func() uint64 {
			t.Helper()
			info, err := st.Info(ctx)
			if err != nil {
				t.Fatal(err)
			}
			return info.State.LastSeq
		}
		if n := last(); n != 3 {
			t.Fatalf("the work stream's last sequence is %d, want 3", n)
		}
		admin := echo.New()
		for _, r := range delivery.AdminRoutes(s.Service) {
			admin.Add(r.Method, r.Path, r.Handler)
		}
		tests := []struct {
			name, body string
			replayed   int
			missing    []uint64
		}{
			{"an event", `{"seqs":[1]}`, 1, nil},
			{"no headers", `{"seqs":[2]}`, 0, []uint64{2}},
			{"no command", `{"seqs":[3]}`, 0, []uint64{3}},
			{"events and not", `{"seqs":[1,2,3,99]}`, 1, []uint64{2, 3, 99}},
			{"since", `{"since":"1h"}`, 1, nil}, // 1 once, its two copies left out
		}
		for _, tt := range tests {
			before := last()
			w := httptest.NewRecorder()
			admin.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/v1/events/replay", strings.NewReader(tt.body)))
			var got struct {
				Replayed int      `json:"replayed"`
				Missing  []uint64 `json:"missing"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &got); w.Code != http.StatusOK || err != nil {
				t.Fatalf("%s: %d %s", tt.name, w.Code, w.Body)
			}
			if got.Replayed != tt.replayed || !slices.Equal(got.Missing, tt.missing) {
				t.Errorf("%s: %s, want replayed %d, missing %v", tt.name, w.Body, tt.replayed, tt.missing)
			}
			// What was copied is events only.
			after := last()
			if after-before != uint64(got.Replayed) {
				t.Errorf("%s: %d messages added for %d replayed", tt.name, after-before, got.Replayed)
			}
			for seq := before + 1; seq <= after; seq++ {
				raw, err := st.GetMsg(ctx, seq)
				if err != nil {
					t.Fatal(err)
				}
				if raw.Header.Get(delivery.HeaderCommand) == "" {
					t.Errorf("%s: copy %d has no command; a copy of %s", tt.name, seq, raw.Header.Get(delivery.HeaderReplayOf))
				}
			}
		}
	})
}

// publishNonEvents publishes two work-stream messages that are not events,
// as something else sharing the stream's subjects might: one without
// headers on an event's subject, one with headers but no command.
func publishNonEvents(t *testing.T, s started, o delivery.Options) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	js := s.Conn().JS
	if _, err := js.Publish(ctx, o.SubjectPrefix+".1400000000."+testCommand, []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	m := nats.NewMsg(o.SubjectPrefix + ".other")
	m.Header.Set(delivery.HeaderRequestID, "req-other")
	m.Data = []byte(`{}`)
	if _, err := js.PublishMsg(ctx, m); err != nil {
		t.Fatal(err)
	}
}

// TestListingsShowEventsOnly: GET /v1/events, events list --offline
// (Events.List) and the pending counts of GET /v1/delivery skip a
// work-stream message that is not an event (no command header), as
// GET /v1/events/N ("not an event") and a replay ("missing") treat it,
// instead of showing it as an event with an empty command.
func TestListingsShowEventsOnly(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		o := options(t, b)
		s := start(t, o, nil)                       // no workers: the stream keeps what is published
		publishNonEvents(t, s, o)                   // sequences 1 and 2
		accept(t, s, request(testCommand, "event")) // sequence 3
		publishNonEvents(t, s, o)                   // sequences 4 and 5
		get := adminGet(t, s)
		tests := []struct {
			path string
			want []uint64
			next uint64
		}{
			{"/v1/events", []uint64{3}, 0},
			{"/v1/events?command=" + testCommand, []uint64{3}, 0},
			{"/v1/events?limit=1", []uint64{3}, 0},
			{"/v1/events?before_seq=3", nil, 0},
			{"/v1/events?state=pending", []uint64{3}, 0},
		}
		for _, tt := range tests {
			var page struct {
				Events []delivery.EventInfo `json:"events"`
				Next   uint64               `json:"next_before_seq"`
			}
			get(tt.path, &page)
			var seqs []uint64
			for _, ev := range page.Events {
				seqs = append(seqs, ev.Seq)
				if ev.Command == "" {
					t.Errorf("GET %s listed %d with no command", tt.path, ev.Seq)
				}
			}
			if !slices.Equal(seqs, tt.want) || page.Next != tt.next {
				t.Errorf("GET %s: sequences %v next %d, want %v next %d", tt.path, seqs, page.Next, tt.want, tt.next)
			}
		}
		offline := listEvents(t, events(t, s), delivery.Filter{})
		if len(offline) != 1 || offline[0].Seq != 3 {
			t.Errorf("Events.List gave %+v, want sequence 3 only", offline)
		}
		var status struct {
			Commands []delivery.CommandState `json:"commands"`
		}
		get("/v1/delivery", &status)
		for _, c := range status.Commands {
			if c.Command == "" {
				t.Errorf("GET /v1/delivery counts %d pending of no command", c.Pending)
			}
		}
	})
}

// TestReplayDeadOfReportsWorkStreamSequencesMissing: ReplayDeadOf takes
// work-stream sequences, so a dead letter removed between its selection
// and its copy (another replay took it) is reported missing by its
// work-stream sequence, not by the dead-letter stream's.
func TestReplayDeadOfReportsWorkStreamSequencesMissing(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		o := options(t, b)
		o.MaxDeliveries = 1
		rec := newRecorder()
		rec.set(0, func(id string, _ int) error {
			if id == "ok" {
				return nil
			}
			return errors.New("boom")
		})
		s := start(t, o, dispatcherFor(t, rec))
		// "ok" is processed: the dead letters' work-stream sequences are one
		// above their own, so the test tells the two apart.
		for _, id := range []string{"ok", "a", "b"} {
			accept(t, s, request(testCommand, id))
		}
		e := events(t, s)
		eventually(t, 10*time.Second, "two dead letters", func() bool { return len(deadLetters(t, e)) == 2 })
		if err := s.Pause(context.Background()); err != nil {
			t.Fatal(err)
		}
		dls := deadLetters(t, e)
		slices.SortFunc(dls, func(a, b delivery.DeadLetter) int { return int(a.Seq) - int(b.Seq) })
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		dead, err := s.Conn().JS.Stream(ctx, o.DeadStream())
		if err != nil {
			t.Fatal(err)
		}
		second, third := dls[0], dls[1]
		res, err := e.ReplayDeadOf(ctx, []uint64{second.OriginalSeq, third.OriginalSeq}, func(done, _ int) {
			if done == 1 { // the other replay takes the third's letter meanwhile
				if err := dead.DeleteMsg(ctx, third.Seq); err != nil {
					t.Error(err)
				}
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		if res.Replayed != 1 || !slices.Equal(res.Missing, []uint64{third.OriginalSeq}) {
			t.Errorf("ReplayDeadOf = %+v; want 1 replayed and missing [%d] (the dead letter was #%d)", res, third.OriginalSeq, third.Seq)
		}
	})
}

// TestReplayingADeadLetterAgainIsNoError: replaying a dead letter that a
// replay took already (a double click in the console, a second operator,
// a retried request) is a 200 that says so in "already_replayed", does not
// run the event again, and is not reported missing; an event that never
// had a dead letter still is missing, and a replay of every dead letter
// once none is left replays nothing.
func TestReplayingADeadLetterAgainIsNoError(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		o := options(t, b)
		o.MaxDeliveries = 1
		rec := newRecorder()
		var fixed atomic.Bool
		rec.set(0, func(id string, _ int) error {
			if id == "ok" || fixed.Load() {
				return nil
			}
			return errors.New("boom")
		})
		s := start(t, o, dispatcherFor(t, rec))
		for _, id := range []string{"ok", "a", "b", "c"} {
			accept(t, s, request(testCommand, id))
		}
		e := events(t, s)
		eventually(t, 10*time.Second, "three dead letters", func() bool { return len(deadLetters(t, e)) == 3 })
		eventually(t, 10*time.Second, "ok processed", func() bool { return rec.appliedCount("ok") == 1 })
		fixed.Store(true)
		letters := map[uint64]delivery.DeadLetter{} // by the event's sequence
		for _, d := range deadLetters(t, e) {
			letters[d.OriginalSeq] = d
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		js := s.Conn().JS
		deadStream, err := js.Stream(ctx, o.DeadStream())
		if err != nil {
			t.Fatal(err)
		}
		// otherReplay republishes the letter of the event at seq as another
		// replay does, and, with remove, deletes it as that replay then does.
		replayLetter := asAnotherReplay(t, ctx, js, deadStream, e)
		otherReplay := func(seq uint64, remove bool) {
			t.Helper()
			replayLetter(letters[seq].Seq, remove)
		}
		admin := echo.New()
		for _, r := range delivery.AdminRoutes(s.Service) {
			admin.Add(r.Method, r.Path, r.Handler)
		}
		const okSeq, aSeq, bSeq, cSeq = 1, 2, 3, 4
		tests := []struct {
			name     string
			before   func() // what another replay did first
			body     string
			replayed int
			already  []uint64
			missing  []uint64
		}{
			{"the first replay", nil, `{"dead":true,"seqs":[2]}`, 1, nil, nil},
			{"the second click, after the first's answer", nil, `{"dead":true,"seqs":[2]}`, 0, []uint64{aSeq}, nil},
			{"another replay republished it, not deleted yet", func() { otherReplay(bSeq, false) }, `{"dead":true,"seqs":[3]}`, 0, []uint64{bSeq}, nil},
			{"replayed ones, an event never dead and none", nil, `{"dead":true,"seqs":[1,2,3,99]}`, 0, []uint64{aSeq, bSeq}, []uint64{okSeq, 99}},
			{"another replay took it, all", func() { otherReplay(cSeq, true) }, `{"dead":true}`, 0, nil, nil},
			{"one taken by another replay, by sequence", nil, `{"dead":true,"seqs":[4]}`, 0, []uint64{cSeq}, nil},
		}
		for _, tt := range tests {
			if tt.before != nil {
				tt.before()
			}
			w := httptest.NewRecorder()
			admin.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/v1/events/replay", strings.NewReader(tt.body)))
			var got struct {
				Replayed int      `json:"replayed"`
				Missing  []uint64 `json:"missing"`
				Already  []uint64 `json:"already_replayed"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &got); w.Code != http.StatusOK || err != nil {
				t.Fatalf("%s: %d %s", tt.name, w.Code, w.Body)
			}
			if got.Replayed != tt.replayed || !slices.Equal(got.Already, tt.already) || !slices.Equal(got.Missing, tt.missing) {
				t.Errorf("%s: %s, want replayed %d, already_replayed %v, missing %v", tt.name, w.Body, tt.replayed, tt.already, tt.missing)
			}
		}
		for _, id := range []string{"a", "b", "c"} {
			eventually(t, 10*time.Second, id+" applied", func() bool { return rec.appliedCount(id) == 1 })
		}
		eventually(t, 10*time.Second, "nothing pending", func() bool { return pending(t, s) == 0 })
		if left := deadLetters(t, e); len(left) != 0 {
			t.Errorf("dead letters left: %+v", left)
		}
		copies := map[string]int{}
		for _, ev := range listEvents(t, e, delivery.Filter{}) {
			if ev.ReplayOf != "" {
				copies[ev.ReplayOf]++
			}
		}
		for _, seq := range []uint64{aSeq, bSeq, cSeq} {
			if n := copies[fmt.Sprintf("%s:%d", o.Stream, seq)]; n != 1 {
				t.Errorf("event %d has %d copies in the work stream, want 1", seq, n)
			}
		}
		for _, id := range []string{"ok", "a", "b", "c"} {
			if n := rec.appliedCount(id); n != 1 {
				t.Errorf("%s applied %d times, want 1", id, n)
			}
		}
	})
}

// TestAReplayFindsItsDeadLetterTakenMeanwhile: a replay that read a dead
// letter which another replay then republished and deleted (between its
// read and its own copy) answers it already replayed, without an error:
// its copy is a duplicate, and the letter's deletion, gone already, is done.
func TestAReplayFindsItsDeadLetterTakenMeanwhile(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		o := options(t, b)
		s, e, letter := pausedWithADeadLetter(t, o, testLogger(t), "d")
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		js := s.Conn().JS
		deadStream, err := js.Stream(ctx, o.DeadStream())
		if err != nil {
			t.Fatal(err)
		}
		res, err := e.RepublishDead(ctx, []uint64{letter.Seq}, func(raw *jetstream.RawStreamMsg) {
			if _, err := js.PublishMsg(ctx, e.Undead(raw)); err != nil {
				t.Error(err)
			}
			if err := deadStream.DeleteMsg(ctx, raw.Sequence); err != nil {
				t.Error(err)
			}
		})
		if err != nil || res.Replayed != 0 || !slices.Equal(res.AlreadyReplayed, []uint64{letter.Seq}) || len(res.Missing) != 0 {
			t.Errorf("replay = %+v, %v; want already replayed [%d] and no error", res, err, letter.Seq)
		}
	})
}

// TestReplayingADeadLetterOfAnEventGoneIsNoError: the work stream drops
// events after its Retention while their dead letters stay; replaying such
// a letter a second time (a double click, a second operator) is still
// already_replayed, not missing: the copy is found without the event.
func TestReplayingADeadLetterOfAnEventGoneIsNoError(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		o := options(t, b)
		s, e, letter := pausedWithADeadLetter(t, o, testLogger(t), "gone")
		seq := letter.OriginalSeq
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		work, err := s.Conn().JS.Stream(ctx, o.Stream)
		if err != nil {
			t.Fatal(err)
		}
		if err := work.DeleteMsg(ctx, seq); err != nil { // as its Retention would
			t.Fatal(err)
		}
		tests := []struct {
			name             string
			replayed         int
			already, missing []uint64
		}{
			{"the first replay", 1, nil, nil},
			{"the second", 0, []uint64{seq}, nil},
		}
		for _, tt := range tests {
			res, err := e.ReplayDeadOf(ctx, []uint64{seq}, nil)
			if err != nil || res.Replayed != tt.replayed || !slices.Equal(res.AlreadyReplayed, tt.already) || !slices.Equal(res.Missing, tt.missing) {
				t.Errorf("%s: ReplayDeadOf = %+v, %v; want replayed %d, already_replayed %v, missing %v",
					tt.name, res, err, tt.replayed, tt.already, tt.missing)
			}
		}
	})
}

// TestADeadLetterReplaySearchesTheNewestMessagesOnly: telling a letter
// replayed already from a sequence without one reads no more than the
// copy search's headers of the work stream, newest first, however many
// events follow the sequence asked for: a copy within them is found, one
// stored before them is reported missing, as the docs say.
func TestADeadLetterReplaySearchesTheNewestMessagesOnly(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		o := options(t, b)
		o.MaxDeliveries = 1
		rec := newRecorder()
		rec.set(0, func(id string, _ int) error {
			if id == "d" {
				return errors.New("boom")
			}
			return nil
		})
		const search = 200
		s := start(t, o, dispatcherFor(t, rec))
		s.SetCopySearch(search)
		accept(t, s, request(testCommand, "d"))
		e := events(t, s)
		eventually(t, 10*time.Second, "a dead letter", func() bool { return len(deadLetters(t, e)) == 1 })
		dSeq := deadLetters(t, e)[0].OriginalSeq
		if err := s.Pause(context.Background()); err != nil {
			t.Fatal(err)
		}
		stored := 0
		more := func(n int) func() { // n more events, each its own
			return func() {
				for range n {
					stored++
					accept(t, s, request(testCommand, fmt.Sprintf("ok-%d", stored)))
				}
			}
		}
		okSeq := dSeq + 1 // an event of the same command without a dead letter
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		tests := []struct {
			name             string
			before           func()
			seq              uint64
			replayed         int
			already, missing []uint64
		}{
			{"the first replay, after many events", more(3 * search), dSeq, 1, nil, nil},
			{"no dead letter, many events after it", nil, okSeq, 0, nil, []uint64{okSeq}},
			{"replayed just before", nil, dSeq, 0, []uint64{dSeq}, nil},
			{"replayed before the messages searched", more(search + 1), dSeq, 0, nil, []uint64{dSeq}},
		}
		for _, tt := range tests {
			if tt.before != nil {
				tt.before()
			}
			read := s.EventsRead()
			res, err := e.ReplayDeadOf(ctx, []uint64{tt.seq}, nil)
			if err != nil || res.Replayed != tt.replayed || !slices.Equal(res.AlreadyReplayed, tt.already) || !slices.Equal(res.Missing, tt.missing) {
				t.Errorf("%s: ReplayDeadOf = %+v, %v; want replayed %d, already_replayed %v, missing %v",
					tt.name, res, err, tt.replayed, tt.already, tt.missing)
			}
			// The dead-letter stream holds one letter at most: the rest is the search.
			if n := s.EventsRead() - read; n > search+1 {
				t.Errorf("%s: the replay read %d message headers, want %d at most", tt.name, n, search+1)
			}
		}
	})
}

// TestADeadLetterReplayWhoseSearchFailsIsNoError: a replay whose letters
// are republished and removed is done even when the search for the copies
// of the others then fails: no error (the API's 500 said the replay
// stopped, and to repeat it would repeat the ones done), those sequences
// missing, and a warning says why: in the service (Service.Events) and in
// a tool (NewEvents, as `events replay --offline` reads the streams), whose
// Events log with the connection's logger.
func TestADeadLetterReplayWhoseSearchFailsIsNoError(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		for _, tool := range []bool{false, true} {
			replayWhoseSearchFails(t, b, tool)
		}
	})
}

// replayWhoseSearchFails is TestADeadLetterReplayWhoseSearchFailsIsNoError
// with the Events of the service, or with tool those of NewEvents.
func replayWhoseSearchFails(t *testing.T, b backend, tool bool) {
	t.Run(fmt.Sprintf("tool=%v", tool), func(t *testing.T) {
		o := options(t, b)
		core, logs := observer.New(zapcore.WarnLevel)
		s, e, letter := pausedWithADeadLetter(t, o, zap.New(core), "d")
		dSeq := letter.OriginalSeq
		if tool {
			var err error
			if e, err = delivery.NewEvents(s.Conn(), o); err != nil {
				t.Fatal(err)
			}
		}
		const none = 99 // no dead letter: the search looks for its copy
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		// The request ends once the letter is republished: the search fails.
		res, err := e.ReplayDeadOf(ctx, []uint64{dSeq, none}, func(done, total int) {
			if done == total {
				cancel()
			}
		})
		if err != nil || res.Replayed != 1 || !slices.Equal(res.Missing, []uint64{none}) || len(res.AlreadyReplayed) != 0 {
			t.Errorf("ReplayDeadOf = %+v, %v; want replayed 1, missing [%d] and no error", res, err, none)
		}
		if n := logs.FilterMessageSnippet("cannot tell the events replayed already").Len(); n != 1 {
			t.Errorf("%d warnings of the failed search, want 1: %v", n, logs.All())
		}
	})
}

// pausedWithADeadLetter starts a service on o, logging to log, whose
// handler always fails, stores the event id, waits for its dead letter and
// pauses the workers: the letter stays as it is for a test to replay.
func pausedWithADeadLetter(t *testing.T, o delivery.Options, log *zap.Logger, id string) (started, *delivery.Events, delivery.DeadLetter) {
	t.Helper()
	o.MaxDeliveries = 1
	rec := newRecorder()
	rec.set(0, func(string, int) error { return errors.New("boom") })
	s := startLogged(t, o, log, dispatcherFor(t, rec))
	accept(t, s, request(testCommand, id))
	e := events(t, s)
	eventually(t, 10*time.Second, "a dead letter", func() bool { return len(deadLetters(t, e)) == 1 })
	if err := s.Pause(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s, e, deadLetters(t, e)[0]
}

// pausedWithDeadLetters starts a service on o whose handler fails until
// fixed is set, stores n events ("d0", "d1", …), waits for their dead
// letters and pauses the workers: the letters, oldest first, stay as they
// are for a test to replay.
func pausedWithDeadLetters(t *testing.T, o delivery.Options, n int) (s started, e *delivery.Events, letters []delivery.DeadLetter, rec *recorder, fixed *atomic.Bool) {
	t.Helper()
	o.MaxDeliveries = 1
	rec, fixed = newRecorder(), new(atomic.Bool)
	rec.set(0, func(string, int) error {
		if fixed.Load() {
			return nil
		}
		return errors.New("boom")
	})
	s = start(t, o, dispatcherFor(t, rec))
	for i := range n {
		accept(t, s, request(testCommand, fmt.Sprintf("d%d", i)))
	}
	e = events(t, s)
	eventually(t, 10*time.Second, fmt.Sprintf("%d dead letters", n), func() bool { return len(deadLetters(t, e)) == n })
	if err := s.Pause(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s, e, deadLetters(t, e), rec, fixed
}

// TestReplayOfEveryDeadLetterGoesByPages: a replay of every dead letter
// ({"dead":true}, events replay --dead, the console's Replay all) reads,
// republishes and resolves the letters a page at a time, so that what it
// holds of them is bounded however many the stream holds: each letter is
// replayed once, the outcomes add up across the pages (a letter another
// replay copied before, one another replay took during the replay, one
// removed without a replay), the progress counts the letters the stream
// held when the replay began, and a list past its bound is cut, with the
// count of all.
func TestReplayOfEveryDeadLetterGoesByPages(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		tests := []struct {
			name string
			most int // sequences listed at most; 0: ReplayListMost
			// already and alreadyCount are the AlreadyReplayed and
			// AlreadyReplayedCount wanted, by index of the letter.
			already      []int
			alreadyCount int
		}{
			{"lists whole", 0, []int{1, 6}, 0},
			{"lists cut", 1, []int{1}, 2}, // the first found, and the count of all
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				const letters, page = 7, 3
				o := options(t, b)
				s, e, dls, rec, fixed := pausedWithDeadLetters(t, o, letters)
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				defer cancel()
				js := s.Conn().JS
				deadStream, err := js.Stream(ctx, o.DeadStream())
				if err != nil {
					t.Fatal(err)
				}
				// otherReplay republishes letter i as another replay does and,
				// with remove, deletes it as that replay then does.
				replayLetter := asAnotherReplay(t, ctx, js, deadStream, e)
				otherReplay := func(i int, remove bool) {
					t.Helper()
					replayLetter(dls[i].Seq, remove)
				}
				var pages []int
				e.SetDeadPages(page, tt.most, func(n int) { pages = append(pages, n) })
				otherReplay(6, false) // in the last page: its copy is a duplicate
				var dones, totals []int
				res, err := e.ReplayDead(ctx, func(done, total int) {
					dones, totals = append(dones, done), append(totals, total)
					switch done {
					case 1: // letter 1, in the first page, is taken by another replay
						otherReplay(1, true)
					case 4: // letter 4, in the second page, is removed without a replay
						if err := deadStream.DeleteMsg(ctx, dls[4].Seq); err != nil {
							t.Error(err)
						}
					}
				})
				if err != nil {
					t.Fatal(err)
				}
				var already []uint64
				for _, i := range tt.already {
					already = append(already, dls[i].OriginalSeq)
				}
				slices.Sort(already) // the letters' events came in any order
				if res.Replayed != 4 || !slices.Equal(res.AlreadyReplayed, already) || res.AlreadyReplayedCount != tt.alreadyCount ||
					!slices.Equal(res.Missing, []uint64{dls[4].OriginalSeq}) || res.MissingCount != 0 {
					t.Errorf("ReplayDead = %+v; want replayed 4, already_replayed %v (count %d), missing [%d]",
						res, already, tt.alreadyCount, dls[4].OriginalSeq)
				}
				if !slices.Equal(pages, []int{page, page, 1}) {
					t.Errorf("the pages read %v letters, want [%d %d 1]", pages, page, page)
				}
				wantDones := []int{1, 2, 3, 4, 5, 6, 7}
				if !slices.Equal(dones, wantDones) || slices.ContainsFunc(totals, func(n int) bool { return n != letters }) {
					t.Errorf("progress done %v of %v, want %v of %d", dones, totals, wantDones, letters)
				}
				if left := deadLetters(t, e); len(left) != 0 {
					t.Errorf("dead letters left: %+v", left)
				}
				fixed.Store(true)
				if err := s.Resume(); err != nil {
					t.Fatal(err)
				}
				eventually(t, 10*time.Second, "nothing pending", func() bool { return pending(t, s) == 0 })
				copies := map[string]int{}
				for _, ev := range listEvents(t, e, delivery.Filter{}) {
					if ev.ReplayOf != "" {
						copies[ev.ReplayOf]++
					}
				}
				for i, d := range dls {
					want := 1
					if i == 4 {
						want = 0 // removed without a replay
					}
					id := strings.TrimPrefix(d.RequestID, "req-") // dead-lettered in any order
					eventually(t, 10*time.Second, id+" applied", func() bool { return rec.appliedCount(id) == want })
					if n := copies[fmt.Sprintf("%s:%d", o.Stream, d.OriginalSeq)]; n != want {
						t.Errorf("%s has %d copies in the work stream, want %d", id, n, want)
					}
				}
			})
		}
	})
}

// TestReplayOfEveryDeadLetterEndsWhereItBegan: a replay of every dead
// letter ends at the last letter the stream held when it began. The
// letters dead-lettered meanwhile (a handler still failing) are left for
// the next replay, so that the replay does not go on for as long as they
// keep coming; its pages read each letter once, and none past that end.
func TestReplayOfEveryDeadLetterEndsWhereItBegan(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		const letters, most = 2, 5 // most: letters added, so a replay that follows them ends
		o := options(t, b)
		s, e, dls, _, _ := pausedWithDeadLetters(t, o, letters)
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		js := s.Conn().JS
		deadStream, err := js.Stream(ctx, o.DeadStream())
		if err != nil {
			t.Fatal(err)
		}
		raw, err := deadStream.GetMsg(ctx, dls[0].Seq)
		if err != nil {
			t.Fatal(err)
		}
		added := 0
		e.SetDeadPages(1, 0, nil) // a page after each letter: where a replay could go on
		read := s.EventsRead()
		var totals []int
		res, err := e.ReplayDead(ctx, func(_, total int) {
			totals = append(totals, total)
			if added == most {
				return
			}
			// A letter dead-lettered during the replay: a copy of the first.
			added++
			h := nats.Header{}
			for k, v := range raw.Header {
				h[k] = v
			}
			h.Set(jetstream.MsgIDHeader, fmt.Sprintf("during-%d", added))
			if _, err := js.PublishMsg(ctx, &nats.Msg{Subject: raw.Subject, Header: h, Data: raw.Data}); err != nil {
				t.Error(err)
			}
		})
		if err != nil || res.Replayed != letters || len(res.Missing)+len(res.AlreadyReplayed) != 0 {
			t.Errorf("ReplayDead = %+v, %v; want the %d letters stored at its start replayed", res, err, letters)
		}
		if !slices.Equal(totals, []int{letters, letters}) {
			t.Errorf("progress totals %v, want %d each", totals, letters)
		}
		if n := s.EventsRead() - read; n != letters {
			t.Errorf("the replay read %d message headers, want %d", n, letters)
		}
		if left := deadLetters(t, e); len(left) != added {
			t.Errorf("%d dead letters left, want the %d stored during the replay", len(left), added)
		}
	})
}

// asAnotherReplay returns what another replay does to the dead letter at
// sequence seq of deadStream: republish it and, with remove, delete it.
func asAnotherReplay(t *testing.T, ctx context.Context, js jetstream.JetStream, deadStream jetstream.Stream,
	e *delivery.Events) func(seq uint64, remove bool) {
	return func(seq uint64, remove bool) {
		t.Helper()
		raw, err := deadStream.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := js.PublishMsg(ctx, e.Undead(raw)); err != nil {
			t.Fatal(err)
		}
		if remove {
			if err := deadStream.DeleteMsg(ctx, seq); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestLongAdminRequestsAreAnsweredPastTheWriteTimeout: a replay answers
// when it is done, and a pause once the running handlers returned (within
// IMCALLBACK_SHUTDOWN_TIMEOUT, up to an hour). A replay of a large selection
// ({"since":…} or {"dead":true} over a busy retention: some 4,000 events a
// second), or a pause waiting for a slow handler, outlasted the admin
// listener's write timeout (35 s), and the answer of what had happened was
// dropped: the client read EOF (`events replay --since` failed after every
// event was replayed, so a second attempt replayed them all again; `delivery
// pause` failed with delivery paused). Here the listener's write timeout is
// shorter than any answer.
func TestLongAdminRequestsAreAnsweredPastTheWriteTimeout(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		o := options(t, b)
		rec := newRecorder()
		s := start(t, o, dispatcherFor(t, rec))
		for i := range 3 {
			accept(t, s, request(testCommand, fmt.Sprint("event-", i)))
		}
		eventually(t, 10*time.Second, "the events processed", func() bool { return rec.storedCount() == 3 })
		admin := echo.New()
		for _, r := range delivery.AdminRoutes(s.Service) {
			admin.Add(r.Method, r.Path, r.Handler)
		}
		srv := httptest.NewUnstartedServer(admin)
		srv.Config.WriteTimeout = time.Nanosecond // past before any answer
		srv.Start()
		t.Cleanup(srv.Close)
		for _, tt := range []struct {
			name, path, body string
			want             string // a field of the answer, as "name":value
		}{
			{"replay by sequence", "/v1/events/replay", `{"seqs":[1,2]}`, `"replayed":2`},
			{"replay since", "/v1/events/replay", `{"since":"1h","command":"` + testCommand + `"}`, `"replayed":3`}, // 3 events, each once: the copies of 1 and 2 left out
			{"pause", "/v1/delivery/pause", ``, `"state":"paused"`},
			{"resume", "/v1/delivery/resume", ``, `"state":"running"`},
			{"a refusal", "/v1/events/replay", `{}`, `"message":"give exactly one of seqs`},
		} {
			resp, err := srv.Client().Post(srv.URL+tt.path, "application/json", strings.NewReader(tt.body))
			if err != nil {
				t.Errorf("%s: %v (the answer was lost)", tt.name, err)
				continue
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || !strings.Contains(string(body), tt.want) {
				t.Errorf("%s: %d %s %v, want an answer with %s", tt.name, resp.StatusCode, body, err, tt.want)
			}
		}
	})
}

// TestASinceReplayRunsEachEventOnce: a replay by since (and command)
// selects an event once, not once more per replayed copy of it in the
// selection: a copy whose original, or an earlier copy of that original,
// is selected too is left out, and of an original not selected (stored
// before since) the first copy alone is selected, a copy of a copy
// counting as a copy of the first original whether or not the copy
// between them is selected. A copy naming a
// sequence that holds another event now (the work stream was deleted and
// set up again, numbering from 1, and an old dead letter replayed) is
// selected: it is not that event's copy.
func TestASinceReplayRunsEachEventOnce(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		o := options(t, b)
		s := start(t, o, nil)                   // no workers: the stream keeps what is published
		accept(t, s, request(testCommand, "a")) // 1
		accept(t, s, request(testCommand, "b")) // 2
		e := events(t, s)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for _, seq := range []uint64{1, 3, 1, 2} { // 3 copies 1, 4 copies 3, 5 copies 1, 6 copies 2
			if res, err := e.Replay(ctx, []uint64{seq}, nil); err != nil || res.Replayed != 1 {
				t.Fatalf("replay of %d: %+v, %v", seq, res, err)
			}
		}
		// 7: a copy of an event of an earlier work stream, once at sequence 2.
		m := nats.NewMsg(delivery.Subject(o.SubjectPrefix, "1400000000", testCommand))
		m.Header.Set(delivery.HeaderCommand, testCommand)
		m.Header.Set(delivery.HeaderReceivedAt, time.Now().Add(-time.Hour).UTC().Format(time.RFC3339Nano))
		m.Header.Set(delivery.HeaderReplayOf, o.Stream+":2")
		m.Header.Set(jetstream.MsgIDHeader, "an-older-stream's-copy")
		m.Data = []byte(`{"Id":"old"}`)
		if _, err := s.Conn().JS.PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
		tests := []struct {
			name string
			f    delivery.Filter
			want string
		}{
			{"every event", delivery.Filter{Since: time.Now().Add(-time.Hour)}, "[1 2 7]"},
			{"by command", delivery.Filter{Command: testCommand}, "[1 2 7]"},
			{"the originals left out", delivery.Filter{FromSeq: 3}, "[3 6 7]"},
			// 4 copies 3, a copy of 1 not selected: 5, another copy of 1, is left out.
			{"a copy of a copy of an original left out", delivery.Filter{FromSeq: 4}, "[4 6 7]"},
		}
		for _, tt := range tests {
			seqs, err := e.Select(ctx, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(seqs) != tt.want {
				t.Errorf("%s: selected %v, want %s", tt.name, seqs, tt.want)
			}
		}
	})
}

// TestASinceReplayGoesByPages: a replay by since (and command) reads the
// events it selects a page at a time, republishing each page before it
// reads the next, so that it holds no more than a page of them however
// many the retention holds; it ends at the last event stored when it
// began (its own copies are not read), and runs each event once.
func TestASinceReplayGoesByPages(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		const n, page = 7, 3
		o := options(t, b)
		s := start(t, o, nil) // no workers: the stream keeps what is published
		for i := range n {
			accept(t, s, request(testCommand, fmt.Sprintf("g%d", i))) // 1 to 7
		}
		accept(t, s, request("Test.CallbackAfterOther", "other")) // 8, not selected
		e := events(t, s)
		var pages []int
		e.SetDeadPages(page, 0, func(n int) { pages = append(pages, n) })
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var dones []int
		res, err := e.ReplaySelection(ctx, delivery.Filter{Command: testCommand, Since: time.Now().Add(-time.Hour)},
			func(done, _ int) { dones = append(dones, done) })
		if err != nil {
			t.Fatal(err)
		}
		if res.Replayed != n || len(res.Missing) != 0 {
			t.Errorf("ReplaySelection = %+v, want %d replayed and none missing", res, n)
		}
		if !slices.Equal(pages, []int{page, page, 1}) {
			t.Errorf("the pages read %v events, want [%d %d 1]", pages, page, page)
		}
		if want := []int{1, 2, 3, 4, 5, 6, 7}; !slices.Equal(dones, want) {
			t.Errorf("progress done %v, want %v", dones, want)
		}
		copies := map[string]int{}
		for _, ev := range listEvents(t, e, delivery.Filter{}) {
			if ev.ReplayOf != "" {
				copies[ev.ReplayOf]++
			}
		}
		for seq := 1; seq <= n; seq++ {
			if n := copies[fmt.Sprintf("%s:%d", o.Stream, seq)]; n != 1 {
				t.Errorf("event %d has %d copies, want 1", seq, n)
			}
		}
		if len(copies) != n {
			t.Errorf("copies of %v, want of events 1 to %d", copies, n)
		}
	})
}

// TestASeqReplayEndsWhereTheStreamEndedWhenItBegan: a replay by sequence
// replays the events stored when it began, never the copies it makes
// itself. A range reaching past the stream's end (`events replay --seq
// 2000-2100` when the last event is 2050) once found the copy of its
// first sequence at the sequence after the end, replayed that copy, and
// so on to the range's end: each event ran again many times, and
// "replayed" counted the copies. The sequences past the end are missing.
func TestASeqReplayEndsWhereTheStreamEndedWhenItBegan(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		o := options(t, b)
		s := start(t, o, nil)                   // no workers: the stream keeps what is published
		accept(t, s, request(testCommand, "a")) // 1
		accept(t, s, request(testCommand, "b")) // 2
		e := events(t, s)
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		res, err := e.Replay(ctx, []uint64{1, 2, 3, 4, 5, 6}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if res.Replayed != 2 || fmt.Sprint(res.Missing) != "[3 4 5 6]" {
			t.Errorf("replay of 1-6 with the stream ending at 2: replayed %d, missing %v; want 2 and [3 4 5 6]",
				res.Replayed, res.Missing)
		}
		st, err := s.Conn().JS.Stream(ctx, o.Stream)
		if err != nil {
			t.Fatal(err)
		}
		info, err := st.Info(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if info.State.LastSeq != 4 {
			t.Errorf("the work stream ends at %d after the replay, want 4 (one copy of each event)", info.State.LastSeq)
		}
	})
}
