package delivery

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// Names the external tests use for the embedded server, which the package
// keeps to itself.
type (
	EmbeddedOptions = embeddedOptions
	Embedded        = embedded
)

// StartEmbedded is startEmbedded without a deadline of the caller's.
func StartEmbedded(o EmbeddedOptions, log *zap.Logger) (*embedded, error) {
	return startEmbedded(context.Background(), o, log)
}

// SetCommands is setCommands.
func (s *Service) SetCommands(commands []string) { s.setCommands(commands) }

// SetWriteProves sets how long a successful append or probe stands for
// the probe of Check (writeproof.Window).
func (s *Service) SetWriteProves(d time.Duration) { s.proof.SetWindow(d) }

// Undead is undead: the work-stream copy of a dead letter.
func (e *Events) Undead(raw *jetstream.RawStreamMsg) *nats.Msg { return e.undead(raw) }

// HeldCounts is how many events have deliveries counted as given back.
func (s *Service) HeldCounts() int {
	s.holds.mu.Lock()
	defer s.holds.mu.Unlock()
	return len(s.holds.deferred)
}

// MostHeld is the largest count of deliveries given back of one event.
func (s *Service) MostHeld() uint64 {
	s.holds.mu.Lock()
	defer s.holds.mu.Unlock()
	var most uint64
	for _, n := range s.holds.deferred {
		most = max(most, n)
	}
	return most
}

// EventsRead is how many message headers the event log's scans have read.
func (s *Service) EventsRead() uint64 { return s.eventsRead.Load() }

// MostPageHeld is the most events a page of GET /v1/events held at once.
func (s *Service) MostPageHeld() uint64 { return s.pageHeld.Load() }

// SetCopySearch sets how many message headers a replay of dead letters
// reads at most to find the copies of letters replayed already
// (CopySearchHeaders otherwise).
func (s *Service) SetCopySearch(headers int) { s.copySearch.Store(int64(headers)) }

// AdminRoutes is apiRoutes.
var AdminRoutes = apiRoutes

// ReadScan is readScan of the work stream over the whole of c, up to
// last, counting the messages read.
func (e *Events) ReadScan(ctx context.Context, c jetstream.Consumer, last uint64) (int, error) {
	n := 0
	err := e.readScan(ctx, e.opts.Stream, c, scanRange{}, last, 1, func(jetstream.Msg, *jetstream.MsgMetadata) error {
		n++
		return nil
	})
	return n, err
}

// ResumeFloor is the acknowledgement floor a recreated consumer would start after.
func (s *Service) ResumeFloor() uint64 {
	s.resume.mu.Lock()
	defer s.resume.mu.Unlock()
	return s.resume.floor
}

// AppendFailed reports whether a failed append counted against the stream
// (readiness probes it, the supervisor looks) and no probe succeeded since.
func (s *Service) AppendFailed() bool { return s.appendFailed() }

// SetDeadCacheLetters sets how many dead letters' details the admin API
// holds; before its first read.
func (s *Service) SetDeadCacheLetters(n int) {
	s.dead.mu.Lock()
	defer s.dead.mu.Unlock()
	s.dead.limit = n
}

// DeadCacheHeld is how many dead letters' details, distinct error texts
// and index stretches the admin API holds.
func (s *Service) DeadCacheHeld() (letters, texts, ranges int) { return s.dead.stats() }

// DeadChunk is how many work-stream sequences a look-up among the dead
// letters no longer held covers at most.
const DeadChunk = deadChunk

// DeadLetterView is the admin API's view of the dead letters, as a
// request takes it.
type DeadLetterView struct {
	v deadView
	e *Events
}

// DeadLetterView reads the dead letters as a request of the admin API does.
func (s *Service) DeadLetterView(ctx context.Context) (DeadLetterView, error) {
	e, err := s.Events()
	if err != nil {
		return DeadLetterView{}, err
	}
	v, err := s.deadLetters(ctx, e)
	return DeadLetterView{v: v, e: e}, err
}

// LettersFrom looks up through the view the dead letters of every
// work-stream sequence from lo on, as a listing does (listDead): the most
// letters one look-up held, and how many it found in all.
func (v DeadLetterView) LettersFrom(ctx context.Context, lo uint64) (most, found int, err error) {
	for {
		letters, end, err := v.v.letters(ctx, v.e, lo, 0)
		if err != nil {
			return most, found, err
		}
		most, found = max(most, len(letters)), found+len(letters)
		if end == 0 {
			return most, found, nil
		}
		lo = end
	}
}

// stats is what the dead-letter cache holds: letters with details, error
// texts, index stretches.
func (c *deadCache) stats() (held, texts, ranges int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.held), len(c.errs), len(c.older.ranges)
}

// SetStatusReading has f called as each read of GET /v1/delivery's counts
// begins; before the first request.
func (s *Service) SetStatusReading(f func()) {
	s.status.mu.Lock()
	defer s.status.mu.Unlock()
	s.status.reading = f
}

// SetStatusClock sets the clock of the reads of GET /v1/delivery's counts;
// before the first request.
func (s *Service) SetStatusClock(now func() time.Time) {
	s.status.mu.Lock()
	defer s.status.mu.Unlock()
	s.status.now = now
}

// StatusCallers is how many requests wait for the read of GET
// /v1/delivery's counts under way (0: none under way).
func (s *Service) StatusCallers() int {
	s.status.mu.Lock()
	defer s.status.mu.Unlock()
	if s.status.run == nil {
		return 0
	}
	return s.status.run.callers
}

// ForgetPendingBase has the next read of GET /v1/delivery's counts read
// the backlog whole.
func (s *Service) ForgetPendingBase() { s.status.setBase(nil) }

// FullCountEvery is fullCountEvery.
const FullCountEvery = fullCountEvery

// RepublishDead replays the dead letters at the dead-letter stream's
// sequences seqs as a replay does, calling between on each letter once it
// is read and before its copy is published: where another replay can
// republish and delete it meanwhile.
func (e *Events) RepublishDead(ctx context.Context, seqs []uint64, between func(*jetstream.RawStreamMsg)) (ReplayResult, error) {
	return e.republish(ctx, e.opts.DeadStream(), seqs, true, nil, func(raw *jetstream.RawStreamMsg) *nats.Msg {
		between(raw)
		return e.undead(raw)
	}, nil)
}

// SetDeadPages has a replay of every dead letter (ReplayDead) read page
// letters at a time and list most sequences at most in each of Missing
// and AlreadyReplayed (zero: ReplayDeadPage and ReplayListMost), and tell
// read how many letters each page read.
func (e *Events) SetDeadPages(page, most int, read func(letters int)) {
	e.deadPage, e.listMost, e.pageRead = page, most, read
}

// SetRestartPause sets the first pause between restarts of the embedded
// server, which doubles up to the longer of it and maxRestartWait. Set it
// before Start.
func (s *Service) SetRestartPause(d time.Duration) { s.restartPause.Store(int64(d)) }

// Restarts is how many times the embedded server was restarted.
func (s *Service) Restarts() int64 { return s.restarts.Load() }

// ConsumerAckWait is the consumer's ack wait as the running workers last
// read it; 0 without workers.
func (s *Service) ConsumerAckWait() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.workers == nil {
		return 0
	}
	return time.Duration(s.workers.ackWait.Load())
}

// SetJetStream makes e read and replay through js.
func (e *Events) SetJetStream(js jetstream.JetStream) { e.js = js }

// TreeOf is treeOf for the external tests: the files under dir, each with
// the hash of its content.
func TreeOf(t *testing.T, dir string) map[string]string { return treeOf(t, dir) }

// SetEventPageBudget sets how many events of the work stream a page of
// GET /v1/events reads at most (EventPageBudget otherwise).
func (s *Service) SetEventPageBudget(events int) { s.pageBudget.Store(int64(events)) }

// Down reports whether the connection is known to be down (its flag, set
// from nats.go's handlers).
func (c *Conn) Down() bool { return c.down.Load() }

// WrapJetStream replaces the service's JetStream with wrap's of it.
func (s *Service) WrapJetStream(wrap func(jetstream.JetStream) jetstream.JetStream) {
	js := wrap(*s.js.Load())
	s.js.Store(&js)
}

// FailOpens makes the next n connections the supervisor opens in place of
// a failed one fail with err, as a connection refused at once does. Set it
// before Start.
func (s *Service) FailOpens(n int, err error) {
	open := s.open
	s.open = func(ctx context.Context) (*Conn, error) {
		if n > 0 {
			n--
			return nil, err
		}
		return open(ctx)
	}
}
