package delivery_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/imcallback/imcallback/delivery"
)

// TestDeadLettersPurgedByHandThroughTheAdminAPI follows docs/delivery.md's
// dead letters on a real embedded server through the admin API: letters
// purged by hand (nats stream purge, of one command's subject or whole)
// leave the counts of GET /v1/dead-letters and GET /v1/delivery, which
// agree with a fresh read of the stream, and their events read as
// processed; a replay of a purged event's letter reports it missing and
// replays the others asked for; a replay of every letter replays the
// rest, each event run once more; and letters dead-lettered after a
// purge of the whole stream are counted and listed.
func TestDeadLettersPurgedByHandThroughTheAdminAPI(t *testing.T) {
	for _, tt := range []struct {
		name string
		held int // the letters whose details the admin API holds; 0: its default
	}{
		{name: "every letter held"},
		{name: "two held, the others found by the index", held: 2},
	} {
		t.Run(tt.name, func(t *testing.T) { deadLettersPurgedByHand(t, tt.held) })
	}
}

// deadLettersPurgedByHand is TestDeadLettersPurgedByHandThroughTheAdminAPI
// with the admin API holding the details of held letters (0: its default).
func deadLettersPurgedByHand(t *testing.T, held int) {
	o := options(t, backend{name: "embedded"})
	o.MaxDeliveries = 1
	rec := newRecorder()
	var fixed atomic.Bool
	rec.set(0, func(id string, _ int) error {
		if fixed.Load() && !strings.HasPrefix(id, "late") {
			return nil
		}
		return errors.New("down")
	})
	s := start(t, o, dispatcherFor(t, rec, otherCommand))
	s.SetDeadCacheLetters(held)
	for _, id := range []string{"a1", "a2", "a3"} {
		accept(t, s, request(testCommand, id))
	}
	for _, id := range []string{"b1", "b2", "b3"} {
		accept(t, s, request(otherCommand, id))
	}
	e := events(t, s)
	eventually(t, 20*time.Second, "six dead letters", func() bool { return len(deadLetters(t, e)) == 6 })
	eventually(t, 20*time.Second, "every event terminated", func() bool { return pending(t, s) == 0 })
	var aSeqs, bSeqs []uint64
	for _, d := range deadLetters(t, e) {
		if d.Command == testCommand {
			aSeqs = append(aSeqs, d.OriginalSeq)
		} else {
			bSeqs = append(bSeqs, d.OriginalSeq)
		}
	}
	slices.Sort(aSeqs)
	slices.Sort(bSeqs)
	if c, _ := countsOf(t, s); c.total != 6 || c.byCommand[testCommand] != 3 || c.byCommand[otherCommand] != 3 {
		t.Fatalf("before the purge: %+v, want 6 letters, 3 of each command", c)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dead, err := s.Conn().JS.Stream(ctx, o.DeadStream())
	if err != nil {
		t.Fatal(err)
	}
	// nats stream purge --subject: one command's letters.
	if err := dead.Purge(ctx, jetstream.WithPurgeSubject(o.DeadPrefix()+".1400000000."+otherCommand)); err != nil {
		t.Fatal(err)
	}
	got, _ := countsOf(t, s)
	if got.total != 3 || got.byCommand[testCommand] != 3 || got.byCommand[otherCommand] != 0 {
		t.Errorf("after a purge of %s's letters: %+v, want the 3 of %s", otherCommand, got, testCommand)
	}
	if fresh := fullCounts(t, s); !got.equal(fresh) {
		t.Errorf("after the purge the counts are %+v, a fresh read's %+v", got, fresh)
	}
	get := adminGet(t, s)
	wantState := func(seq uint64, want string) {
		t.Helper()
		var ev delivery.EventDetail
		get(fmt.Sprint("/v1/events/", seq), &ev)
		if ev.State != want {
			t.Errorf("event %d (%s) is %q, want %q", seq, ev.Command, ev.State, want)
		}
	}
	wantState(bSeqs[0], delivery.StateProcessed)
	wantState(aSeqs[0], delivery.StateDead)
	var list struct {
		DeadLetters []delivery.DeadLetterInfo `json:"dead_letters"`
		Total       int                       `json:"total"`
	}
	get("/v1/dead-letters", &list)
	var listed []uint64
	for _, d := range list.DeadLetters {
		listed = append(listed, d.Seq)
	}
	slices.Sort(listed) // listed in the order they were dead-lettered
	if !slices.Equal(listed, aSeqs) || list.Total != 3 {
		t.Errorf("GET /v1/dead-letters lists %v (total %d), want %v", listed, list.Total, aSeqs)
	}

	fixed.Store(true)
	res := replayAnswerOf(t, s, fmt.Sprintf(`{"dead":true,"seqs":[%d,%d]}`, bSeqs[0], aSeqs[0]))
	if res.Replayed != 1 || !slices.Equal(res.Missing, []uint64{bSeqs[0]}) || len(res.AlreadyReplayed) != 0 {
		t.Errorf("a replay of a purged letter and a kept one answered %+v, want 1 replayed and [%d] missing", res, bSeqs[0])
	}
	res = replayAnswerOf(t, s, `{"dead":true}`)
	if res.Replayed != 2 || len(res.Missing) != 0 || len(res.AlreadyReplayed) != 0 {
		t.Errorf("a replay of every letter answered %+v, want the 2 left replayed", res)
	}
	eventually(t, 20*time.Second, "the replayed events applied", func() bool {
		return rec.appliedCount("a1") == 1 && rec.appliedCount("a2") == 1 && rec.appliedCount("a3") == 1
	})
	if c, _ := countsOf(t, s); c.total != 0 {
		t.Errorf("after the replays: %+v, want no letter", c)
	}
	for _, id := range []string{"b1", "b2", "b3"} {
		if n := rec.appliedCount(id); n != 0 {
			t.Errorf("%s, whose letter was purged, was applied %d times, want never", id, n)
		}
	}

	// nats stream purge: the whole stream, with a letter the counts have
	// read, then one dead-lettered after.
	accept(t, s, request(testCommand, "late1"))
	eventually(t, 20*time.Second, "late1's dead letter", func() bool { c, _ := countsOf(t, s); return c.total == 1 })
	if err := dead.Purge(ctx); err != nil {
		t.Fatal(err)
	}
	if c, _ := countsOf(t, s); c.total != 0 {
		t.Errorf("after a purge of the whole stream: %+v, want no letter", c)
	}
	accept(t, s, request(testCommand, "late2"))
	eventually(t, 20*time.Second, "late2's dead letter", func() bool { return len(deadLetters(t, e)) == 1 })
	got, _ = countsOf(t, s)
	if fresh := fullCounts(t, s); got.total != 1 || !got.equal(fresh) {
		t.Errorf("after a letter stored since the purge: %+v, want 1 letter as a fresh read's %+v", got, fresh)
	}
	late := deadLetters(t, e)[0].OriginalSeq
	get("/v1/dead-letters", &list)
	if len(list.DeadLetters) != 1 || list.DeadLetters[0].Seq != late || list.Total != 1 {
		t.Errorf("GET /v1/dead-letters after the purge: %+v, want late2's letter (%d) only", list, late)
	}
	wantState(late, delivery.StateDead)
}

// replayAnswerOf posts body to POST /v1/events/replay of s's admin API and
// decodes its 200 answer.
func replayAnswerOf(t *testing.T, s started, body string) delivery.ReplayResult {
	t.Helper()
	e := echo.New()
	for _, r := range delivery.AdminRoutes(s.Service) {
		e.Add(r.Method, r.Path, r.Handler)
	}
	w := httptest.NewRecorder()
	e.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/v1/events/replay", strings.NewReader(body)))
	if w.Code != http.StatusOK {
		t.Fatalf("POST /v1/events/replay %s: %d %s", body, w.Code, w.Body)
	}
	var res delivery.ReplayResult
	if err := json.Unmarshal(w.Body.Bytes(), &res); err != nil {
		t.Fatalf("POST /v1/events/replay %s: %v in %s", body, err, w.Body)
	}
	return res
}
