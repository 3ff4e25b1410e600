package delivery

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
)

// origOf is the work-stream sequence of the ith letter fill stores: about
// in order, two of every ten swapped, as retries make it.
func origOf(i int) uint64 {
	switch i % 10 {
	case 3:
		return uint64(i + 1)
	case 4:
		return uint64(i - 1)
	}
	return uint64(i)
}

// fill holds n letters in c, in stream order, the ith of work-stream
// sequence origOf(i) with the error text err(i).
func fill(c *deadCache, n int, err func(int) string) {
	for i := 1; i <= n; i++ {
		orig := origOf(i)
		c.hold(DeadLetter{Event: Event{Seq: uint64(i), MsgID: fmt.Sprint("id-", orig), Command: "C"},
			OriginalSeq: orig, Deliveries: 3, Error: err(i)})
	}
}

// TestDeadCacheIsBounded: however many letters come, the cache holds the
// details of the most recent limit only, its index at most deadIndexRanges
// stretches, and every letter no longer held is in a stretch the index
// names for its work-stream sequence.
func TestDeadCacheIsBounded(t *testing.T) {
	c := &deadCache{limit: 100}
	c.reset(deadMark{})
	const n = 100000 // past deadIndexRanges full stretches: they merge
	fill(c, n, func(i int) string { return fmt.Sprint("error ", i%5) })
	held, texts, ranges := c.stats()
	if held > 100 || len(c.ring) > 100 {
		t.Errorf("%d letters' details held (ring %d), want at most 100", held, len(c.ring))
	}
	if texts > 5 {
		t.Errorf("%d error texts held, want at most the 5 distinct ones", texts)
	}
	if ranges > deadIndexRanges {
		t.Errorf("%d index stretches, want at most %d", ranges, deadIndexRanges)
	}
	// The most recent letters are held, with their details.
	for i := n - 99; i <= n; i++ {
		if d := c.held[origOf(i)]; d == nil || d.seq != uint64(i) || d.err != fmt.Sprint("error ", i%5) {
			t.Fatalf("letter %d: held %+v", i, d)
		}
	}
	// Every other one is in a stretch the index names.
	covered := func(seq, orig uint64) bool {
		for _, r := range c.older.within(orig, orig+1) {
			if seq >= r.from && seq < r.to {
				return true
			}
		}
		return false
	}
	for i := 1; i <= n-100; i += 1 + i%13 { // a sample
		orig := origOf(i)
		if c.held[orig] != nil {
			t.Fatalf("letter %d (work-stream %d) is held, beyond the limit", i, orig)
		}
		if !covered(uint64(i), orig) {
			t.Fatalf("letter %d (work-stream %d) is in no stretch the index names", i, orig)
		}
	}
	if c.older.top < n-200 {
		t.Errorf("the index's highest sequence is %d, want about %d", c.older.top, n-100)
	}
	// A look-up reads little: the stretches for one sequence span about
	// n/deadIndexRanges letters each, a few of them.
	var span uint64
	for _, r := range c.older.within(n/2, n/2+1) {
		span += r.to - r.from
	}
	if span > 4*n/deadIndexRanges {
		t.Errorf("a look-up of one sequence would read %d letters", span)
	}
}

// BenchmarkDeadCacheMemory measures what a held letter costs, the figure
// docs/delivery.md gives: the heap the cache holds with its limit of
// letters (and as many again indexed), per held letter. A memory figure
// lives in a benchmark (make bench), not in a test's assertion.
func BenchmarkDeadCacheMemory(b *testing.B) {
	for _, tc := range []struct {
		name string
		err  func(int) string
	}{
		{"one shared error", func(int) string { return "forward: POST https://example.com/hook: 503 Service Unavailable" }},
		{"100-byte distinct errors", func(i int) string { return fmt.Sprintf("%-100d", i) }},
		{"2 KB distinct errors", func(i int) string { return fmt.Sprintf("%d", i) + strings.Repeat("x", 2040) }},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var per float64
			for b.Loop() {
				var before, after runtime.MemStats
				runtime.GC()
				runtime.ReadMemStats(&before)
				c := &deadCache{}
				c.reset(deadMark{})
				fill(c, 2*deadCacheLetters, tc.err) // the full limit held, the rest indexed
				runtime.GC()
				runtime.ReadMemStats(&after)
				held, _, _ := c.stats()
				if held == 0 || held > deadCacheLetters {
					b.Fatalf("%d letters held, limit %d", held, deadCacheLetters)
				}
				per = float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(held)
				runtime.KeepAlive(c)
			}
			b.ReportMetric(per, "B/held-letter")
		})
	}
}

// TestDeadViewOutlivesARereadCutShort: a request keeps the view of the
// dead letters it took while another request's read starts over (letters
// were replayed) and stops short (its context ended): the view still
// finds the letters it showed, not the few the new read got to.
func TestDeadViewOutlivesARereadCutShort(t *testing.T) {
	c := &deadCache{limit: 100}
	c.reset(deadMark{first: 1})
	fill(c, 50, func(int) string { return "down" })
	v := deadView{cache: c, details: c.deadDetails}
	c.reset(deadMark{first: 2}) // the reread, cut short before any letter
	letters, _, err := v.letters(context.Background(), nil, 1, 51)
	if err != nil {
		t.Fatal(err)
	}
	if len(letters) != 50 {
		t.Errorf("the view finds %d of its 50 letters after a reread was cut short", len(letters))
	}
}

// TestAddedSinceKnowsEachLettersFirst: a view tells the letters stored
// after a dead-letter sequence, oldest first, only when each is held and
// the first letter of its event; otherwise the status counts read the
// backlog whole.
func TestAddedSinceKnowsEachLettersFirst(t *testing.T) {
	letter := func(seq, orig uint64) DeadLetter {
		return DeadLetter{Event: Event{Seq: seq, MsgID: fmt.Sprint("id-", orig), Command: "C"}, OriginalSeq: orig, Error: "down"}
	}
	tests := []struct {
		name   string
		origs  []uint64 // the letters' events, the ith letter at dead-letter sequence i+1
		after  uint64
		reset  bool // a read started over after the view was taken
		want   []uint64
		wantOK bool
	}{
		{"none added", []uint64{10, 11}, 2, false, nil, true},
		{"the letters after", []uint64{10, 11, 12, 14}, 2, false, []uint64{12, 14}, true},
		{"all held letters", []uint64{10, 11, 12, 13}, 0, false, []uint64{10, 11, 12, 13}, true},
		{"one no longer held", []uint64{10, 11, 12, 13, 14}, 0, false, nil, false},
		{"held ones after the letters no longer held", []uint64{10, 11, 12, 13, 14, 15}, 2, false, []uint64{12, 13, 14, 15}, true},
		{"a second letter of an event held", []uint64{10, 11, 10}, 2, false, nil, false},
		{"a second letter before after", []uint64{10, 10, 11}, 2, false, []uint64{11}, true},
		{"a second letter of an event no longer held", []uint64{10, 30, 40, 50, 60, 70, 10}, 6, false, nil, false},
		{"an event a stretch of the index may have a letter of", []uint64{10, 30, 40, 50, 60, 70, 20}, 6, false, nil, false},
		{"an event below the index's stretches", []uint64{10, 30, 40, 50, 60, 70, 5}, 6, false, []uint64{5}, true},
		{"an event above the index", []uint64{10, 20, 30, 40, 50, 60}, 5, false, []uint64{60}, true},
		{"a read started over", []uint64{10, 11, 12}, 2, true, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &deadCache{limit: 4}
			c.reset(deadMark{first: 1})
			for i, orig := range tt.origs {
				c.hold(letter(uint64(i+1), orig))
			}
			c.last = uint64(len(tt.origs))
			v := deadView{cache: c, details: c.deadDetails, last: c.last}
			if tt.reset {
				c.reset(deadMark{first: 2})
			}
			added, ok := v.addedSince(tt.after)
			var got []uint64
			for _, a := range added {
				got = append(got, a.orig)
			}
			if ok != tt.wantOK || fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("addedSince(%d) = %v, %v; want %v, %v", tt.after, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}
