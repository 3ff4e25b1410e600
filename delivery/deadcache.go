package delivery

import (
	"context"
	"fmt"
	"hash/fnv"
	"maps"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// deadCacheLetters is how many dead letters the admin API keeps the
// details of in memory (deadCache): the most recent ones. Each costs about
// 90 bytes plus its error text, which held letters with the same error
// share (measured: BenchmarkDeadCacheMemory, docs/delivery.md).
const deadCacheLetters = 10000

// deadIndexRanges bounds the ranges of the dead-letter stream that locate
// the letters no longer held (deadIndex): at most this many, 32 bytes each.
const deadIndexRanges = 1024

// deadChunk is how many work-stream sequences are looked up at once among
// the dead letters no longer held: what such a look-up holds in memory.
const deadChunk = 4096

// deadCache is the dead-letter stream as the admin API last read it. That
// stream has no age limit, and every page of the event log, every event,
// the delivery status and a replay of given events' dead letters
// (replayDeadOf) need its letters: each read takes only the dead
// letters stored since the one before, and reads the whole stream again
// only when letters were removed otherwise than by this process's replays
// (another replica's or the offline tool's, a purge) or the stream was
// recreated. The letters this process's replays remove it takes off what
// it keeps (account), and the next read checks that the stream holds as
// many letters as it then counts.
//
// What it keeps is bounded, however many letters the stream holds: the
// exact count of every letter by command and by destination (maps as
// small as the commands and destinations), the details an event needs
// (deadEntry) of the most recent limit letters only, and for the older
// ones a bounded index of the stream's sequences (deadIndex) that tells
// which stretches to read to find the letters of given work-stream
// sequences (letters).
type deadCache struct {
	mu         sync.Mutex
	limit      int            // letters held; 0 is deadCacheLetters
	mark       deadMark       // the stream as it was when read
	last       uint64         // the last stream sequence read
	perCommand map[string]int // every dead letter, by command; replaced, never changed
	perDest    map[string]int // every dead letter of a forward destination, by destination; likewise
	total      int            // every dead letter
	// own is how many letters this process's replays removed since mark
	// was read, taken off the counts: the next read checks the stream's
	// count of letters instead of comparing marks. stale: a removal could
	// not be taken off exactly, and the next read starts over.
	own      int
	stale    bool
	removals ownRemovals
	*deadDetails
}

// ownRemovals are the dead letters this process's replays removed, for
// the next read (deadLetters) to take off the counts (account). Its lock
// is its own, so that a replay never waits for a read of the stream.
type ownRemovals struct {
	mu sync.Mutex
	// epoch changes when a read starts over; counted is the dead-letter
	// sequence up to which the reads since counted every letter stored.
	// Both change with the deadCache's lock held too.
	epoch, counted uint64
	letters        []removedLetter
	lost           bool // more were removed than ownRemovalsMost since the last read
}

// ownRemovalsMost bounds the removals kept between two reads: a replay of
// every dead letter removes them all, and the read after it starts over
// instead (the stream then holds only the letters left).
const ownRemovalsMost = deadCacheLetters

// removedLetter is a dead letter a replay removed, with what the reads had
// counted when the replay was about to remove it (removalMark).
type removedLetter struct {
	seq, orig            uint64
	command, destination string
	at                   removalMark
}

// removalMark is what the reads of the dead-letter stream had counted
// when a replay was about to remove a letter: a letter stored up to
// counted, removed by the replay, was counted, and so can be taken off.
type removalMark struct{ epoch, counted uint64 }

// removing returns what the reads had counted, for a replay about to
// remove a dead letter to give to removed once it did.
func (c *deadCache) removing() removalMark {
	r := &c.removals
	r.mu.Lock()
	defer r.mu.Unlock()
	return removalMark{epoch: r.epoch, counted: r.counted}
}

// removed records the dead letter raw, which a replay removed from the
// dead-letter stream (its deletion succeeded) after removing returned at,
// for the next read to take off.
func (c *deadCache) removed(at removalMark, raw *jetstream.RawStreamMsg) {
	r := &c.removals
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.lost || len(r.letters) >= ownRemovalsMost {
		r.letters, r.lost = nil, true
		return
	}
	r.letters = append(r.letters, removedLetter{seq: raw.Sequence, orig: deadOrigOf(raw.Header),
		command: raw.Header.Get(HeaderCommand), destination: raw.Header.Get(HeaderTarget), at: at})
}

// setCounted records that the reads since the last that started over
// counted every letter stored up to c.last.
func (c *deadCache) setCounted() {
	c.removals.mu.Lock()
	defer c.removals.mu.Unlock()
	c.removals.counted = c.last
}

// account takes the letters this process's replays removed since the last
// read off the counts and the details. A letter stored after the last read
// was never counted. One read and counted before the replay began to
// remove it (removalMark) was counted: it leaves the counts, and its
// details when held. Any other (a read counted it while it was being
// removed, or may have) makes the cache stale, as does a held letter that
// may hide an earlier letter of its event (repeat), which only the held
// one was kept of.
func (c *deadCache) account() {
	r := &c.removals
	r.mu.Lock()
	letters, lost, epoch := r.letters, r.lost, r.epoch
	r.letters, r.lost = nil, false
	r.mu.Unlock()
	if c.deadDetails == nil || c.stale {
		return // read whole next
	}
	if lost {
		c.stale = true
		return
	}
	changed := false
	for _, l := range letters {
		c.own++
		if l.seq > c.last {
			continue // not read yet, and not stored any more when it is
		}
		if l.at.epoch != epoch || l.seq > l.at.counted || c.perCommand[l.command] == 0 ||
			l.destination != "" && c.perDest[l.destination] == 0 {
			c.stale = true
			return
		}
		if !changed {
			// Views taken before keep what they were taken with, and a new
			// details tells what compares them (pendingBase, addedSince)
			// that letters were removed.
			c.perCommand, c.perDest, c.deadDetails = maps.Clone(c.perCommand), maps.Clone(c.perDest), c.deadDetails.clone()
			changed = true
		}
		takeOff(c.perCommand, l.command)
		if l.destination != "" {
			takeOff(c.perDest, l.destination)
		}
		c.total--
		if e := c.held[l.orig]; e != nil && e.seq == l.seq {
			if l.seq <= c.repeat {
				c.stale = true // an earlier letter of its event may be held, unseen
				return
			}
			delete(c.held, l.orig)
			c.release(e)
		}
	}
}

// takeOff counts one letter of key less in counts, dropping a key counted
// down to none as a read would not have it.
func takeOff(counts map[string]int, key string) {
	if counts[key]--; counts[key] == 0 {
		delete(counts, key)
	}
}

// clone is a copy of d that a change leaves d as it was.
func (d *deadDetails) clone() *deadDetails {
	n := *d
	n.held = maps.Clone(d.held)
	n.ring = slices.Clone(d.ring)
	n.errs = make(map[string]*sharedText, len(d.errs))
	for k, t := range d.errs {
		n.errs[k] = &sharedText{s: t.s, refs: t.refs}
	}
	n.older.ranges = slices.Clone(d.older.ranges)
	return &n
}

// deadDetails are the letters a deadCache holds the details of, and the
// index of the others. A read that starts over makes new ones, and so
// does taking letters this process removed off them (a copy: account), so
// a view keeps finding the letters it was made with even when that read
// stops short (the old ones live on until the views made with them are
// done); a read that goes on adds to them (letters a view was made
// without only make its answers more recent). The same details in two
// views tell that no letter was removed between them.
type deadDetails struct {
	held  map[uint64]*deadEntry // work-stream sequence → its latest held letter
	ring  []heldSlot            // the held letters in stream order, the oldest at head
	head  int
	errs  map[string]*sharedText // the held letters' error texts, each stored once
	older deadIndex              // the letters no longer held
	// dropped is the highest dead-letter sequence no longer held (the
	// index has it); 0: every letter read is held.
	dropped uint64
	// repeat is the highest dead-letter sequence of a letter whose
	// work-stream sequence may have had a letter before it (held, or in
	// a stretch of the index that may hold one); 0: none.
	repeat uint64
}

// deadEntry is what the admin API shows of an event's latest dead letter.
// It is never changed once made, so it is shared with readers.
type deadEntry struct {
	seq        uint64 // in the dead-letter stream
	msgID      uint64 // msgIDHash of the original's Nats-Msg-Id
	deliveries uint64
	err        string // the last handler error
}

type heldSlot struct{ orig, seq uint64 }

type sharedText struct {
	s    string
	refs int
}

func msgIDHash(id string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(id))
	return h.Sum64()
}

func entryOf(d DeadLetter) *deadEntry {
	return &deadEntry{seq: d.Seq, msgID: msgIDHash(d.MsgID), deliveries: d.Deliveries, err: d.Error}
}

// deadMark tells whether letters were removed from the dead-letter stream
// since it was read: a recreated stream has another creation time, and a
// removal moves its first sequence (the oldest letters, or all) or adds to
// its count of deleted ones (a letter in between). It does not count the
// letters, so a stream that also holds letters of another subject prefix
// (IMCALLBACK_SUBJECT_PREFIX changed) compares as well as any.
type deadMark struct {
	created time.Time
	first   uint64
	deleted int
}

func (m deadMark) same(o deadMark) bool {
	return m.created.Equal(o.created) && m.first == o.first && m.deleted == o.deleted
}

func (c *deadCache) reset(mark deadMark) {
	c.mark, c.last, c.total, c.own, c.stale = mark, 0, 0, 0, false
	c.perCommand, c.perDest = map[string]int{}, map[string]int{}
	c.deadDetails = &deadDetails{held: map[uint64]*deadEntry{}, errs: map[string]*sharedText{}}
	// The letters removed before this read are not read; one removed while
	// it reads may be: its mark is of the epoch before (account).
	r := &c.removals
	r.mu.Lock()
	defer r.mu.Unlock()
	r.epoch++
	r.counted, r.letters, r.lost = 0, nil, false
}

// hold keeps d's details as the latest letter of its work-stream sequence
// (letters come in stream order) and lets go of the oldest held letter
// when more than the limit are held: the index finds it from then on.
func (c *deadCache) hold(d DeadLetter) {
	limit := c.limit
	if limit <= 0 {
		limit = deadCacheLetters
	}
	if c.held[d.OriginalSeq] != nil || c.older.covers(d.OriginalSeq) {
		c.repeat = d.Seq
	}
	e := entryOf(d)
	if t := c.errs[e.err]; t != nil {
		t.refs++
		e.err = t.s
	} else {
		c.errs[e.err] = &sharedText{s: e.err, refs: 1}
	}
	if old := c.held[d.OriginalSeq]; old != nil {
		c.release(old)
	}
	c.held[d.OriginalSeq] = e
	slot := heldSlot{orig: d.OriginalSeq, seq: d.Seq}
	if len(c.ring) < limit {
		c.ring = append(c.ring, slot)
		return
	}
	out := c.ring[c.head]
	c.ring[c.head] = slot
	c.head = (c.head + 1) % len(c.ring)
	if e := c.held[out.orig]; e != nil && e.seq == out.seq { // not replaced by a later letter
		delete(c.held, out.orig)
		c.release(e)
	}
	c.older.add(out.seq, out.orig)
	c.dropped = out.seq
}

func (c *deadCache) release(e *deadEntry) {
	if t := c.errs[e.err]; t != nil {
		if t.refs--; t.refs == 0 {
			delete(c.errs, e.err)
		}
	}
}

// deadIndex locates the dead letters no longer held: consecutive stretches
// of the dead-letter stream, each with the lowest and highest work-stream
// sequence of its letters. A letter of a work-stream sequence is in a
// stretch whose sequences include it; letters are dead-lettered in about
// the order their events came, so a look-up reads few stretches. When
// deadIndexRanges are full, neighbours merge and each stretch holds twice
// as many letters from then on: the memory stays bounded, a look-up reads
// about the letters stored / deadIndexRanges per stretch it needs.
type deadIndex struct {
	ranges []deadRange // closed stretches, in stream order
	open   deadRange   // the stretch being filled, of n letters
	n      int
	per    int    // letters per stretch
	top    uint64 // the highest work-stream sequence of any letter here; 0: none
}

// deadRange is the dead-letter stream from from to to (exclusive), whose
// letters' work-stream sequences are from lo to hi (inclusive).
type deadRange struct{ from, to, lo, hi uint64 }

// firstStretch is how many letters a stretch holds before any merge.
const firstStretch = 64

func (x *deadIndex) add(seq, orig uint64) {
	if x.n == 0 {
		x.open = deadRange{from: seq, lo: orig, hi: orig}
	}
	x.open.to, x.open.lo, x.open.hi = seq+1, min(x.open.lo, orig), max(x.open.hi, orig)
	x.top = max(x.top, orig)
	if x.per == 0 {
		x.per = firstStretch
	}
	if x.n++; x.n < x.per {
		return
	}
	x.ranges, x.n = append(x.ranges, x.open), 0
	if len(x.ranges) < deadIndexRanges {
		return
	}
	merged := x.ranges[:0]
	for i := 0; i < len(x.ranges); i += 2 {
		r := x.ranges[i]
		if i+1 < len(x.ranges) {
			n := x.ranges[i+1]
			r = deadRange{from: r.from, to: n.to, lo: min(r.lo, n.lo), hi: max(r.hi, n.hi)}
		}
		merged = append(merged, r)
	}
	x.ranges, x.per = merged, x.per*2
}

// covers reports whether a stretch may hold a letter of the work-stream
// sequence orig.
func (x *deadIndex) covers(orig uint64) bool {
	if x.top < orig {
		return false // the usual case: letters come about in the order of their events
	}
	if x.n > 0 && x.open.lo <= orig && orig <= x.open.hi {
		return true
	}
	for _, r := range x.ranges {
		if r.lo <= orig && orig <= r.hi {
			return true
		}
	}
	return false
}

// within returns the stretches of the stream to read for the letters of
// the work-stream sequences from lo to hi (exclusive), neighbours joined.
func (x *deadIndex) within(lo, hi uint64) []scanRange {
	return x.stretches(func(r deadRange) bool { return r.hi >= lo && r.lo < hi })
}

// holding returns the stretches of the stream to read for the letters of
// the work-stream sequences seqs (sorted), neighbours joined.
func (x *deadIndex) holding(seqs []uint64) []scanRange {
	return x.stretches(func(r deadRange) bool {
		i, _ := slices.BinarySearch(seqs, r.lo)
		return i < len(seqs) && seqs[i] <= r.hi
	})
}

// stretches returns the stretches for which keep is true, in stream
// order, neighbours joined.
func (x *deadIndex) stretches(keep func(deadRange) bool) []scanRange {
	var out []scanRange
	use := func(r deadRange) {
		if !keep(r) {
			return
		}
		if n := len(out); n > 0 && out[n-1].to == r.from {
			out[n-1].to = r.to
			return
		}
		out = append(out, scanRange{from: r.from, to: r.to})
	}
	for _, r := range x.ranges {
		use(r)
	}
	if x.n > 0 {
		use(x.open)
	}
	return out
}

// deadLetters returns the dead letters as the admin API reads them: the
// number of dead letters of each command and destination as the
// dead-letter stream held them up to its sequence last, and the way to
// the latest letter of each work-stream sequence (deadView.letters).
func (s *Service) deadLetters(ctx context.Context, e *Events) (deadView, error) {
	c := &s.dead
	c.mu.Lock()
	defer c.mu.Unlock()
	c.account()
	st, err := e.js.Stream(ctx, e.opts.DeadStream())
	if err != nil {
		return deadView{}, fmt.Errorf("delivery: stream %s: %w", e.opts.DeadStream(), err)
	}
	info := st.CachedInfo()
	if c.own > 0 && !c.stale && info.Created.Equal(c.mark.created) && info.State.LastSeq >= c.last {
		// Letters removed by this process's replays, taken off the counts
		// (account): read on, and go on from there if the stream then held
		// as many letters as are counted, none removed while it read
		// (the mark the same after it). Else another removed some too (a
		// replica, the offline tool, a purge): read it all.
		if err := c.readTo(ctx, e, info.State.LastSeq); err != nil {
			return deadView{}, err
		}
		again, err := st.Info(ctx)
		if err != nil {
			return deadView{}, fmt.Errorf("delivery: stream %s: %w", e.opts.DeadStream(), err)
		}
		if markOf(again).same(markOf(info)) && uint64(c.total) == info.State.Msgs {
			c.mark, c.own = markOf(info), 0
			return c.view(), nil
		}
		info = again
		c.reset(markOf(info))
	}
	mark, last := markOf(info), info.State.LastSeq
	if c.deadDetails == nil || c.stale || c.own > 0 || c.last > 0 && !mark.same(c.mark) || last < c.last {
		// Recreated, or letters removed: read it all. A removal during the
		// read below shows in the next call's mark.
		c.reset(mark)
	}
	// Nothing read yet, nothing counted can have been removed: a stream
	// that was empty numbers its first letter, which moves its first
	// sequence from 0, and is read on from where it was.
	c.mark = mark
	if err := c.readTo(ctx, e, last); err != nil {
		return deadView{}, err
	}
	return c.view(), nil
}

// markOf is the mark of the dead-letter stream info describes.
func markOf(info *jetstream.StreamInfo) deadMark {
	return deadMark{created: info.Created, first: info.State.FirstSeq, deleted: info.State.NumDeleted}
}

// readTo reads the dead letters stored after the last one read, up to the
// dead-letter sequence last. The counts are new maps, so a view handed
// out keeps its own. A read that stops short keeps what it read up to
// there.
func (c *deadCache) readTo(ctx context.Context, e *Events, last uint64) error {
	if last == c.last {
		return nil
	}
	perCommand, perDest := maps.Clone(c.perCommand), maps.Clone(c.perDest)
	done := c.last
	err := e.deadIn(ctx, scanRange{from: c.last + 1, to: last + 1}, func(d DeadLetter) error {
		c.hold(d) // in order: the later of two at one sequence wins
		perCommand[d.Command]++
		if d.Destination != "" {
			perDest[d.Destination]++
		}
		c.total++
		done = d.Seq
		return nil
	})
	c.perCommand, c.perDest = perCommand, perDest
	if err != nil {
		last = done
	}
	c.last = last
	c.setCounted()
	return err
}

// view is the cache's view as it is now.
func (c *deadCache) view() deadView {
	return deadView{cache: c, details: c.deadDetails, perCommand: c.perCommand, perDestination: c.perDest, total: c.total,
		first: c.mark.first, last: c.last}
}

// addedLetter is a dead letter a view has that an earlier one had not:
// the work-stream sequence of its event and what the admin API shows of it.
type addedLetter struct {
	orig uint64
	*deadEntry
}

// addedSince returns the letters of the view stored after the dead-letter
// sequence after, oldest first, when it knows them and each is its
// event's first letter: ok is false when a read started over since, or
// letters were removed (the view's details are not the cache's any more),
// when some are held no
// longer (more were stored than the cache holds), or when one may follow
// another letter of its event. A view taken after another and of the same
// details has the earlier's letters and these (deadLetters), so what
// changed between the two is these letters, each the first of its event.
func (v deadView) addedSince(after uint64) (added []addedLetter, ok bool) {
	if v.cache == nil || v.last <= after {
		return nil, v.cache != nil
	}
	c := v.cache
	c.mu.Lock()
	defer c.mu.Unlock()
	d := v.details
	if c.deadDetails != d || d.dropped > after || d.repeat > after {
		return nil, false
	}
	for i := range d.ring {
		slot := d.ring[(d.head+i)%len(d.ring)]
		if slot.seq <= after || slot.seq > v.last {
			continue
		}
		e := d.held[slot.orig]
		if e == nil || e.seq != slot.seq {
			return nil, false // replaced by a later letter of its event
		}
		added = append(added, addedLetter{orig: slot.orig, deadEntry: e})
	}
	return added, true
}

// letters returns the latest dead letter of each work-stream sequence from
// lo up to end (exclusive) that has one, and end: hi (0 is no end), or less
// where letters no longer held may be. The held ones are taken from
// memory; for the others it reads the stretches of the dead-letter stream
// the index names, and then it covers at most deadChunk sequences, so what
// it reads and returns stays bounded however far the cache got since the
// view was taken (another request's read). It reads nothing when no letter
// older than the held ones has a sequence from lo on. Callers go on from
// end (listDead).
func (v deadView) letters(ctx context.Context, e *Events, lo, hi uint64) (map[uint64]*deadEntry, uint64, error) {
	end := hi
	if end == 0 {
		end = math.MaxUint64
	}
	if v.cache == nil || lo >= end {
		return map[uint64]*deadEntry{}, hi, nil
	}
	c := v.details
	v.cache.mu.Lock()
	var read []scanRange
	if c.older.top >= lo {
		end = min(end, lo+deadChunk, c.older.top+1)
		read = c.older.within(lo, end)
	}
	held := map[uint64]*deadEntry{}
	if end-lo <= uint64(len(c.held)) {
		for seq := lo; seq < end; seq++ {
			if d := c.held[seq]; d != nil {
				held[seq] = d
			}
		}
	} else {
		for seq, d := range c.held {
			if seq >= lo && seq < end {
				held[seq] = d
			}
		}
	}
	v.cache.mu.Unlock()
	if end == math.MaxUint64 {
		end = hi
	}
	if len(read) == 0 {
		return held, end, nil
	}
	out := map[uint64]*deadEntry{}
	for _, r := range read {
		err := e.deadIn(ctx, r, func(d DeadLetter) error {
			if d.OriginalSeq >= lo && d.OriginalSeq < end {
				out[d.OriginalSeq] = entryOf(d) // in order: the later of two wins
			}
			return nil
		})
		if err != nil {
			return nil, 0, err
		}
	}
	maps.Copy(out, held) // the held letters are later than any read
	return out, end, nil
}

// replayDeadOf is ReplayDeadOf for the admin API (POST /v1/events/replay
// with {"dead":true,"seqs":[…]}, the console's Replay button): it finds
// the latest dead letter of each sequence through the dead letters it
// keeps (deadLetters, latestOf) rather than by a scan of the whole
// dead-letter stream, which after an outage of millions of letters cost
// seconds for one letter.
func (s *Service) replayDeadOf(ctx context.Context, e *Events, origSeqs []uint64) (ReplayResult, error) {
	return e.replayDeadOf(ctx, origSeqs, nil, func(ctx context.Context, origSeqs []uint64) (map[uint64]uint64, error) {
		dead, err := s.deadLetters(ctx, e)
		if err != nil {
			return nil, err
		}
		return dead.latestOf(ctx, e, origSeqs)
	}, &s.dead)
}

// latestOf returns the dead-letter sequence of the latest letter of each
// of the work-stream sequences origSeqs that has one, as the view finds
// it: a held letter's from memory (later than any the index locates),
// the others' from the stretches of the dead-letter stream the index
// names for them, read in order so that the later of two letters of one
// sequence wins (the work stream recreated). Letters are dead-lettered in
// about the order their events came, so that reads a few stretches of
// about (letters stored ÷ deadIndexRanges) letters each per sequence
// looked up, and nothing when each is held or above every letter no
// longer held. A view without a cache scans the whole stream
// (Events.latestDead).
func (v deadView) latestOf(ctx context.Context, e *Events, origSeqs []uint64) (map[uint64]uint64, error) {
	if v.cache == nil {
		return e.latestDead(ctx, origSeqs)
	}
	latest := make(map[uint64]uint64, len(origSeqs))
	var rest []uint64 // sorted: not held
	var read []scanRange
	c := v.details
	v.cache.mu.Lock()
	for _, orig := range slices.Compact(slices.Sorted(slices.Values(origSeqs))) {
		if d := c.held[orig]; d != nil {
			latest[orig] = d.seq
		} else if orig <= c.older.top {
			rest = append(rest, orig)
		}
	}
	if len(rest) > 0 {
		read = c.older.holding(rest)
	}
	v.cache.mu.Unlock()
	for _, r := range read {
		err := e.scan(ctx, e.opts.DeadStream(), allDeadLetters, r, func(m jetstream.Msg, md *jetstream.MsgMetadata) error {
			orig := deadOrigOf(m.Headers())
			if _, ok := slices.BinarySearch(rest, orig); ok {
				latest[orig] = md.Sequence.Stream // in order: the later of two wins
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return latest, nil
}
