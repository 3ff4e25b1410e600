package delivery

import (
	"context"
	"fmt"
	"maps"
	"sync"
	"time"
)

// deadCache is the dead-letter stream as the admin API last read it. That
// stream has no age limit, and every page of the event log, every event
// and the delivery status need its letters: each read now takes only the
// dead letters stored since the one before, and reads the whole stream
// again only when letters were removed (replayed or purged) or the stream
// was recreated. The maps are replaced, never changed, so a reader keeps
// using the ones it got.
type deadCache struct {
	mu         sync.Mutex
	mark       deadMark              // the stream as it was when read
	last       uint64                // the last stream sequence read
	byOrig     map[uint64]DeadLetter // work-stream sequence → its latest dead letter
	perCommand map[string]int        // every dead letter, by command
	perDest    map[string]int        // every dead letter of a forward destination, by destination
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

// deadLetters returns the dead letters as the admin API reads them: by
// work-stream sequence (the latest of each), and the number of dead
// letters of each command and destination, as the dead-letter stream held
// them up to its sequence last.
func (s *Service) deadLetters(ctx context.Context, e *Events) (deadView, error) {
	c := &s.dead
	c.mu.Lock()
	defer c.mu.Unlock()
	st, err := e.js.Stream(ctx, e.opts.DeadStream())
	if err != nil {
		return deadView{}, fmt.Errorf("delivery: stream %s: %w", e.opts.DeadStream(), err)
	}
	info := st.CachedInfo()
	mark := deadMark{created: info.Created, first: info.State.FirstSeq, deleted: info.State.NumDeleted}
	last := info.State.LastSeq
	if c.byOrig == nil || !mark.same(c.mark) || last < c.last {
		// Recreated, or letters removed: read it all. A removal during the
		// read below shows in the next call's mark.
		c.mark, c.last = mark, 0
		c.byOrig, c.perCommand, c.perDest = map[uint64]DeadLetter{}, map[string]int{}, map[string]int{}
	}
	if last != c.last {
		byOrig, perCommand, perDest := maps.Clone(c.byOrig), maps.Clone(c.perCommand), maps.Clone(c.perDest)
		err = e.deadIn(ctx, scanRange{from: c.last + 1, to: last + 1}, func(d DeadLetter) error {
			byOrig[d.OriginalSeq] = d // in order: the later of two at one sequence wins
			perCommand[d.Command]++
			if d.Destination != "" {
				perDest[d.Destination]++
			}
			return nil
		})
		if err != nil {
			return deadView{}, err
		}
		c.last, c.byOrig, c.perCommand, c.perDest = last, byOrig, perCommand, perDest
	}
	total := 0 // every letter counts once under its command
	for _, n := range c.perCommand {
		total += n
	}
	return deadView{bySeq: c.byOrig, perCommand: c.perCommand, perDestination: c.perDest, total: total,
		first: c.mark.first, last: c.last}, nil
}
