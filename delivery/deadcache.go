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
	created    time.Time             // the stream's creation time when read
	last       uint64                // the last stream sequence read
	msgs       uint64                // the letters the stream held up to last
	byOrig     map[uint64]DeadLetter // work-stream sequence → its latest dead letter
	perCommand map[string]int        // every dead letter, by command
}

// deadLetters returns the dead letters by work-stream sequence (the latest
// of each) and the number of dead letters of each command.
func (s *Service) deadLetters(ctx context.Context, e *Events) (map[uint64]DeadLetter, map[string]int, error) {
	c := &s.dead
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		st, err := e.js.Stream(ctx, e.opts.DeadStream())
		if err != nil {
			return nil, nil, fmt.Errorf("delivery: stream %s: %w", e.opts.DeadStream(), err)
		}
		info := st.CachedInfo()
		state := info.State
		if !info.Created.Equal(c.created) || state.LastSeq < c.last || state.Msgs < c.msgs ||
			(state.LastSeq == c.last && state.Msgs != c.msgs) {
			c.reset(info.Created) // recreated, or letters removed: read it all
		}
		if state.LastSeq == c.last {
			return c.byOrig, c.perCommand, nil
		}
		byOrig, perCommand := maps.Clone(c.byOrig), maps.Clone(c.perCommand)
		read := uint64(0)
		err = e.deadIn(ctx, scanRange{from: c.last + 1, to: state.LastSeq + 1}, func(d DeadLetter) error {
			byOrig[d.OriginalSeq] = d // in order: the later of two at one sequence wins
			perCommand[d.Command]++
			read++
			return nil
		})
		if err != nil {
			return nil, nil, err
		}
		if c.msgs+read == state.Msgs {
			c.last, c.msgs, c.byOrig, c.perCommand = state.LastSeq, state.Msgs, byOrig, perCommand
			return byOrig, perCommand, nil
		}
		// Letters were removed while new ones came: read it all again.
		c.reset(info.Created)
	}
}

// reset empties the cache of the stream created at created.
func (c *deadCache) reset(created time.Time) {
	c.created, c.last, c.msgs = created, 0, 0
	c.byOrig, c.perCommand = map[uint64]DeadLetter{}, map[string]int{}
}
