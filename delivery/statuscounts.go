package delivery

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// fullCountEvery is how long the pending counts of GET /v1/delivery go
// on from the last read at most (statusCounts) before the backlog is read
// whole again: what no read can tell changed, events deleted by hand from
// the middle of the work stream, is counted right again by then.
const fullCountEvery = 5 * time.Minute

// commandCounts are the numbers of GET /v1/delivery's lines as one read
// found them. Its maps are never changed once made.
type commandCounts struct {
	pending map[string]int // events pending, by command (commands with some only)
	dead    map[string]int // every dead letter, by command
}

// pendingBase is what a read of the pending counts counted, which the next
// read goes on from when what it counted changed in ways the next can
// tell: the same work stream with no event removed above the floor, a floor
// that did not go back, and dead letters only added since (the dead-letter
// cache's details unchanged: none removed), each the first of its event,
// as deadView.addedSince tells them. Then only the events the floor passed,
// those stored since, and the event of each letter added since are read.
// It counts the dead letters up to deadLast only, also where the cache
// already has later ones (another request's read), so that the next read
// takes each added letter once.
type pendingBase struct {
	pending  map[string]int // the pending events with floor < seq <= last, by command; never changed
	floor    uint64         // the consumer's ack floor
	last     uint64         // the work stream's last sequence counted
	created  time.Time      // the work stream's creation
	details  *deadDetails   // the dead letters' cache as it was
	deadLast uint64         // and the last dead-letter sequence it had read
	fullAt   time.Time      // when the backlog was last read whole
}

// statusCounts are the reads of GET /v1/delivery's counts (and of the pause
// and resume, which answer the same). A read goes on from the one before
// (pendingBase), so a backlog that waits, paused, is read once and then
// only what is stored after it, instead of whole at every request (about a
// second per 100,000 events), which the console makes every 3 s. Callers
// that come while a read is under way share it instead of reading again.
type statusCounts struct {
	mu   sync.Mutex
	base *pendingBase // nil: read the backlog whole
	run  *countRead   // the read new callers join; nil: none under way
	// now is the clock (nil: time.Now), reading, when set, is called as a
	// read begins, and counting as it counts an event: for tests.
	now      func() time.Time
	reading  func()
	counting func()
}

// countRead is one read of the counts and the callers waiting for it. Its
// context is its own, not a caller's: one caller leaving does not fail the
// others. When every caller has left, it is cancelled, and keeps what it
// counted for the next read to go on from (readCounts).
type countRead struct {
	done    chan struct{} // closed once counts and err are set
	cancel  context.CancelFunc
	callers int
	counts  *commandCounts
	err     error
}

func (c *statusCounts) clock() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.now != nil {
		return c.now()
	}
	return time.Now()
}

// get returns the counts of the read under way, or of a new one made
// with read.
func (c *statusCounts) get(ctx context.Context, read func(context.Context) (*commandCounts, error)) (*commandCounts, error) {
	c.mu.Lock()
	r := c.run
	if r == nil {
		rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		r = &countRead{done: make(chan struct{}), cancel: cancel}
		c.run = r
		go c.do(rctx, r, read, c.reading)
	}
	r.callers++
	c.mu.Unlock()
	select {
	case <-r.done:
		return r.counts, r.err
	case <-ctx.Done():
		c.mu.Lock()
		if r.callers--; r.callers == 0 {
			r.cancel() // nobody waits for it
			if c.run == r {
				c.run = nil
			}
		}
		c.mu.Unlock()
		return nil, ctx.Err()
	}
}

// do makes the read r with read.
func (c *statusCounts) do(ctx context.Context, r *countRead, read func(context.Context) (*commandCounts, error), reading func()) {
	defer close(r.done)
	defer r.cancel()
	if reading != nil {
		reading()
	}
	counts, err := read(ctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	r.counts, r.err = counts, err
	if c.run == r {
		c.run = nil
	}
}

// lastBase is what the last read counted; nil: none.
func (c *statusCounts) lastBase() *pendingBase {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.base
}

// setBase keeps b for the next read to go on from.
func (c *statusCounts) setBase(b *pendingBase) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.base = b
}

// readCounts reads the counts of GET /v1/delivery: every dead letter by
// command, and the pending events by command, going on from the last read
// when that counts the same (pendingBase).
func (s *Service) readCounts(ctx context.Context) (*commandCounts, error) {
	e, dead, floor, err := s.eventStates(ctx)
	if err != nil {
		return nil, err
	}
	first, last, created, err := e.seqs(ctx)
	if err != nil {
		return nil, err
	}
	now := s.status.clock()
	next := &pendingBase{floor: floor, last: last, created: created, details: dead.details, deadLast: dead.last, fullAt: now}
	prev := s.status.lastBase()
	counting := s.status.counting
	// countRange adds sign for each event with lo <= seq < hi that is
	// pending above the floor at, as the dead letters up to dead.last have
	// it, and returns the last sequence it took (lo-1 when none), up to
	// which it counted also when it was cut short.
	countRange := func(pending map[string]int, lo, hi, at uint64, sign int) (uint64, error) {
		took := lo - 1
		err := listDead(ctx, e, Filter{FromSeq: lo, ToSeq: hi}, dead, func(ev Event, d *deadEntry) error {
			if counting != nil {
				counting()
			}
			if d != nil && d.seq > dead.last {
				d = nil // stored after the view: the next read takes it (addedSince)
			}
			if info(ev, d, at).State == StatePending {
				pending[ev.Command] += sign
			}
			took = ev.Seq
			return nil
		})
		return took, err
	}
	// cutShort keeps what a read counted before its count of the events
	// from lo on was cut short (every caller left: a backlog that takes
	// longer to read than they wait), counted up to took, for the next
	// read to go on from: thrown away, each read started again from the
	// floor, and one longer than the callers wait never ended.
	cutShort := func(pending map[string]int, lo, took uint64, fullAt time.Time) {
		if took >= lo && tidyCounts(pending) {
			s.status.setBase(&pendingBase{pending: pending, floor: floor, last: took, created: created,
				details: dead.details, deadLast: dead.last, fullAt: fullAt})
		}
	}
	if prev != nil && prev.created.Equal(created) && prev.details == dead.details && dead.last >= prev.deadLast &&
		floor >= prev.floor && last >= prev.last && first <= prev.floor+1 && now.Sub(prev.fullAt) < fullCountEvery {
		// The events the floor passed leave the count as they were in it,
		// the counted events a letter added since made dead leave it, the
		// events stored since join it; the others count as before.
		passed := min(floor, prev.last) // prev.floor < seq <= passed
		from := max(floor, prev.last)   // from < seq <= last are new
		added, ok := dead.addedSince(prev.deadLast)
		added = slices.DeleteFunc(added, func(a addedLetter) bool { return a.orig <= prev.floor || a.orig > prev.last })
		if ok && span(prev.floor, passed)+span(from, last)+uint64(len(added)) < span(floor, last) {
			pending := maps.Clone(prev.pending)
			_, err := countRange(pending, prev.floor+1, passed+1, prev.floor, -1)
			if err == nil {
				err = e.uncountDead(ctx, pending, added)
			}
			if err != nil {
				return nil, err
			}
			if took, err := countRange(pending, from+1, last+1, floor, 1); err != nil {
				cutShort(pending, from+1, took, prev.fullAt)
				return nil, err
			}
			if tidyCounts(pending) {
				next.pending, next.fullAt = pending, prev.fullAt
			}
		}
	}
	if next.pending == nil {
		// Only the events above the ack floor can be pending: the read
		// stays as small as the backlog, however long the stream is kept.
		pending := map[string]int{}
		if took, err := countRange(pending, floor+1, last+1, floor, 1); err != nil {
			cutShort(pending, floor+1, took, now)
			return nil, err
		}
		next.pending = pending
	}
	s.status.setBase(next)
	return &commandCounts{pending: next.pending, dead: dead.perCommand}, nil
}

// uncountDead takes off pending each event of added that a read before
// counted pending and its letter made dead: the event still stored at its
// sequence (read as one message each), if it is an event and the one its
// letter is of (info). Their sequences were above that read's floor, and
// none had a letter before (deadView.addedSince).
func (e *Events) uncountDead(ctx context.Context, pending map[string]int, added []addedLetter) error {
	if len(added) == 0 {
		return nil
	}
	st, err := e.js.Stream(ctx, e.opts.Stream)
	if err != nil {
		return fmt.Errorf("delivery: stream %s: %w", e.opts.Stream, err)
	}
	for _, a := range added {
		raw, err := st.GetMsg(ctx, a.orig)
		if e.read != nil {
			e.read.Add(1)
		}
		switch {
		case errors.Is(err, jetstream.ErrMsgNotFound):
			continue // removed since: the full count every fullCountEvery takes it off
		case err != nil:
			return fmt.Errorf("delivery: read %s #%d: %w", e.opts.Stream, a.orig, err)
		}
		if command := raw.Header.Get(HeaderCommand); command != "" && msgIDHash(raw.Header.Get(jetstream.MsgIDHeader)) == a.msgID {
			pending[command]--
		}
	}
	return nil
}

// tidyCounts drops the commands counted down to none from pending and
// reports whether no count went below none: a read going on from the last
// one never makes one, and if it did, the backlog is read whole instead.
func tidyCounts(pending map[string]int) bool {
	for cmd, n := range pending {
		switch {
		case n < 0:
			return false
		case n == 0:
			delete(pending, cmd)
		}
	}
	return true
}

// span is how many sequences lo < seq <= hi are.
func span(lo, hi uint64) uint64 {
	if hi <= lo {
		return 0
	}
	return hi - lo
}

// seqs are the work stream's first and last sequence and its creation.
func (e *Events) seqs(ctx context.Context) (first, last uint64, created time.Time, err error) {
	st, err := e.js.Stream(ctx, e.opts.Stream)
	if err != nil {
		return 0, 0, time.Time{}, fmt.Errorf("delivery: stream %s: %w", e.opts.Stream, err)
	}
	info := st.CachedInfo()
	return info.State.FirstSeq, info.State.LastSeq, info.Created, nil
}
