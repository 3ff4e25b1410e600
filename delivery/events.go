package delivery

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/imcallback/imcallback/internal/textcut"
	"github.com/imcallback/imcallback/protocol"
)

// Events reads and replays the work and dead-letter streams: what the
// imcallback events commands and the recovery runbook use.
type Events struct {
	js jetstream.JetStream
	// nc is the connection js is on (readScan checks it is up); nil under
	// a test's own JetStream.
	nc *nats.Conn
	// down, when set, reports the connection known to be down (Conn.down),
	// without nats.go's lock: a replay and a scan then stop at once
	// (downNow), where their next request would wait for nats.go's attempt
	// to reconnect.
	down func() bool
	opts Options
	// read, when set, counts the message headers scans read: what the
	// admin API's reads cost, which tests hold to the size of a page.
	read *atomic.Uint64
	// held, when set, keeps the most events a page of GET /v1/events
	// held at once (newestEvents), which tests hold to the page.
	held *atomic.Uint64
	// copySearch is how many message headers a replay of dead letters
	// reads at most to find the copies of letters replayed already;
	// zero is CopySearchHeaders.
	copySearch int
	// pageBudget is how many events of the work stream a page of GET
	// /v1/events reads at most (newestEvents); zero is EventPageBudget.
	pageBudget int
	// log takes the warnings of a replay; nil is none.
	log *zap.Logger
	// deadPage and listMost are ReplayDeadPage and ReplayListMost when
	// zero; pageRead, when set, is told how many letters each page of
	// ReplayDead read: what tests hold to the size of a page.
	deadPage, listMost int
	pageRead           func(letters int)
}

// NewEvents reads the streams o names over conn, logging with the logger
// conn was opened with.
func NewEvents(conn *Conn, o Options) (*Events, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Events{js: conn.JS, nc: conn.NC, down: conn.down.Load, opts: o, log: conn.log}, nil
}

// downNow is the error of a request of e while its connection is known to
// be down (Events.down), else nil: the request would wait for nats.go's
// attempt to reconnect, which holds the connection's lock up to its
// connect timeout against a server that answers nothing, and then be
// refused all the same. Accept and the admin API refuse theirs at once
// (Service.downNow); so do a replay's reads and copies, and a scan's.
func (e *Events) downNow() error { return errWhileDown(e.down) }

// errWhileDown is the error of a request refused at once because down (nil:
// not known) reports its connection down, else nil.
func errWhileDown(down func() bool) error {
	if down != nil && down() {
		return explainDown(nats.ErrConnectionReconnecting)
	}
	return nil
}

// logger is e's logger, a no-op one when it has none.
func (e *Events) logger() *zap.Logger {
	if e.log == nil {
		return zap.NewNop()
	}
	return e.log
}

// Filter selects events of the work stream.
type Filter struct {
	// Command keeps only this CallbackCommand; empty keeps all.
	Command string
	// Since keeps only events stored at or after it; zero keeps all.
	Since time.Time
	// FromSeq and ToSeq keep only the events with FromSeq <= Seq < ToSeq;
	// zero is no bound. The scan reads no message outside them.
	FromSeq, ToSeq uint64
}

// Event describes one stored event.
type Event struct {
	// Stream and Seq locate the message.
	Stream string `json:"stream"`
	Seq    uint64 `json:"seq"` // the message's sequence in Stream
	// Time is when JetStream stored it.
	Time time.Time `json:"time"`
	// Subject is <prefix>.<SdkAppid>.<CallbackCommand>.
	Subject string `json:"subject"`
	// Command is the CallbackCommand and AppID the SdkAppid.
	Command string `json:"command"`
	AppID   string `json:"app_id"` // the SdkAppid
	// Size is the body's length in bytes.
	Size int `json:"size"`
	// ReceivedAt is when the service read the request.
	ReceivedAt time.Time `json:"received_at"`
	// RequestID is the X-Request-Id of the HTTP request.
	RequestID string `json:"request_id,omitempty"`
	// MsgID is the deduplication id (Nats-Msg-Id).
	MsgID string `json:"msg_id"`
	// ReplayOf names the original of a replayed copy, "<stream>:<seq>".
	ReplayOf string `json:"replay_of,omitempty"`
	// Destination is the forward destination of this copy (gateway mode).
	Destination string `json:"destination,omitempty"`
}

// DeadLetter describes one dead-lettered event.
type DeadLetter struct {
	Event
	// OriginalStream and OriginalSeq locate the event in the work stream.
	OriginalStream string `json:"original_stream"`
	OriginalSeq    uint64 `json:"original_seq"` // the event's sequence in OriginalStream
	// Deliveries is how many deliveries of the event counted as attempts
	// when it was dead-lettered: those given back by a pause or cut short
	// by this process's stop are left out, and a consumer created again
	// counts from 1; a delivery that only dead-lettered it (its last
	// attempt cut off by a crash) counts too.
	Deliveries uint64 `json:"deliveries"`
	// Error is the last handler error.
	Error string `json:"error"`
	// DeadAt is when the event was dead-lettered.
	DeadAt time.Time `json:"dead_at"`
}

// ReplayResult counts a replay.
type ReplayResult struct {
	// Replayed is how many events were republished for processing.
	Replayed int `json:"replayed"`
	// Missing are the selected sequences with no event to replay: no longer
	// in the stream (expired or deleted), or holding a message that is not
	// an event (no command header); of a replay of dead letters, the
	// events with no dead letter (never dead-lettered, or removed without
	// a replay), and those whose letter a replay took before the newest
	// CopySearchHeaders messages of the work stream were stored, or when
	// the search for their copies failed (a warning is logged).
	Missing []uint64 `json:"missing,omitempty"`
	// AlreadyReplayed are the selected dead letters, by their events'
	// work-stream sequences, that another replay had republished already
	// (a double click, a second operator, a request retried after its
	// answer was lost): they were not republished again, so their handler
	// does not run twice. They are not in Replayed or Missing.
	AlreadyReplayed []uint64 `json:"already_replayed,omitempty"`
	// MissingCount and AlreadyReplayedCount are how many sequences were
	// missing and already replayed in all when Missing or AlreadyReplayed
	// lists fewer: a replay of every dead letter (ReplayDead) lists the
	// first ReplayListMost of each at most, in order. Zero when the list
	// holds them all.
	MissingCount         int `json:"missing_count,omitempty"`
	AlreadyReplayedCount int `json:"already_replayed_count,omitempty"` // as MissingCount, of AlreadyReplayed
}

// ErrDeadLettersKept reports a dead-letter stream whose messages cannot be
// deleted (deny_delete, which NATS cannot lift, or sealed): a replay could
// not remove a letter once its copy is stored, and a later replay, past
// the dedup window, would run it again. Dead letters are not replayed
// from such a stream.
var ErrDeadLettersKept = errors.New("delivery: the dead-letter stream keeps its letters")

// ErrBadFilter reports a command filter that is no valid subject filter.
var ErrBadFilter = errors.New("delivery: bad command filter")

// maxCommandFilter is the longest command filter, in bytes: far longer
// than any command. NATS carries the filter in a subject of the request
// that reads the stream, on a protocol line of 4,096 bytes at most; past
// it the server closes the connection, and the service's callbacks would
// be answered 503 until it reconnects.
const maxCommandFilter = 256

// checkCommandFilter accepts a command or a pattern of dot-separated parts
// in which "*" stands for one part and a final ">" for the rest
// ("Group.*", "C2C.>"); it refuses what would make an invalid filter.
func checkCommandFilter(command string) error {
	if len(command) > maxCommandFilter {
		return fmt.Errorf("%w %q: longer than %d bytes, which no command is", ErrBadFilter,
			textcut.Cut(command, 64), maxCommandFilter)
	}
	if !utf8.ValidString(command) {
		// JetStream refuses such a subject filter, and the read failed as
		// the log's own error (a 500).
		return fmt.Errorf("%w %q: not UTF-8", ErrBadFilter, command)
	}
	parts := strings.Split(command, ".")
	for i, p := range parts {
		switch {
		case p == "":
			return fmt.Errorf("%w %q: an empty part", ErrBadFilter, command)
		case strings.ContainsAny(p, " \t\r\n"):
			return fmt.Errorf("%w %q: whitespace", ErrBadFilter, command)
		case strings.ContainsFunc(p, unicode.IsControl):
			return fmt.Errorf("%w %q: a control character", ErrBadFilter, command)
		case p == ">" && i != len(parts)-1:
			return fmt.Errorf("%w %q: \">\" only as the last part", ErrBadFilter, command)
		case p != "*" && p != ">" && strings.ContainsAny(p, "*>"):
			return fmt.Errorf("%w %q: \"*\" and \">\" only as whole parts", ErrBadFilter, command)
		}
	}
	return nil
}

// Progress is told after each event of a replay how many of total are done.
type Progress func(done, total int)

// List calls fn for each event of the work stream that f selects, oldest
// first, up to the last event stored when List started. A message that is
// not an event (no command header: one published to the stream's subjects
// by something else, which GET /v1/events/N calls "not an event" and a
// replay reports missing) is skipped.
func (e *Events) List(ctx context.Context, f Filter, fn func(Event) error) error {
	subject, err := e.subjectOf(f)
	if err != nil {
		return err
	}
	r := scanRange{since: f.Since, from: f.FromSeq, to: f.ToSeq}
	return e.scan(ctx, e.opts.Stream, subject, r, func(m jetstream.Msg, md *jetstream.MsgMetadata) error {
		ev := eventOf(m.Subject(), m.Headers(), md)
		if ev.Command == "" {
			return nil
		}
		return fn(ev)
	})
}

// bounds are the work stream's first and last sequence; last is 0 when it
// holds no event.
func (e *Events) bounds(ctx context.Context) (first, last uint64, err error) {
	if err := e.downNow(); err != nil {
		return 0, 0, fmt.Errorf("delivery: stream %s: %w", e.opts.Stream, err)
	}
	st, err := e.js.Stream(ctx, e.opts.Stream)
	if err != nil {
		return 0, 0, fmt.Errorf("delivery: stream %s: %w", e.opts.Stream, err)
	}
	state := st.CachedInfo().State
	if state.Msgs == 0 {
		return 0, 0, nil
	}
	return state.FirstSeq, state.LastSeq, nil
}

// allDeadLetters is the subject filter of the scans of the dead-letter
// stream: every subject, so that the dead letters stored under an earlier
// IMCALLBACK_SUBJECT_PREFIX are listed and replayed too (the stream holds
// nothing else).
const allDeadLetters = ">"

// allSubjects is the subject filter of a scan of every message of a
// stream: with no subject left out, a bounded scan reads no message past
// its end but those in place of deleted ones.
const allSubjects = ">"

// Dead calls fn for each dead letter, oldest first.
func (e *Events) Dead(ctx context.Context, fn func(DeadLetter) error) error {
	return e.deadIn(ctx, scanRange{}, fn)
}

// deadIn calls fn for each dead letter within r, oldest first.
func (e *Events) deadIn(ctx context.Context, r scanRange, fn func(DeadLetter) error) error {
	return e.scan(ctx, e.opts.DeadStream(), allDeadLetters, r, func(m jetstream.Msg, md *jetstream.MsgMetadata) error {
		h := m.Headers()
		d := DeadLetter{
			Event:          eventOf(m.Subject(), h, md),
			OriginalStream: h.Get(HeaderDeadStream),
			Error:          h.Get(HeaderDeadError),
		}
		d.MsgID = h.Get(HeaderDeadMsgID)
		d.OriginalSeq, _ = strconv.ParseUint(h.Get(HeaderDeadSeq), 10, 64)
		d.Deliveries, _ = strconv.ParseUint(h.Get(HeaderDeadDeliveries), 10, 64)
		d.DeadAt, _ = time.Parse(time.RFC3339Nano, h.Get(HeaderDeadAt))
		return fn(d)
	})
}

// Select returns the sequences of the work-stream events f selects, each
// event once, for a replay: a replayed copy (Event.ReplayOf) is left out
// when its original, or an earlier copy of that original, is selected, or
// the event would run (or be forwarded) once more per copy. A copy of a
// copy counts as a copy of the first original. A message that is not an
// event (no command header) is not selected (List skips it).
func (e *Events) Select(ctx context.Context, f Filter) ([]uint64, error) {
	st, err := e.js.Stream(ctx, e.opts.Stream)
	if err != nil {
		return nil, fmt.Errorf("delivery: stream %s: %w", e.opts.Stream, err)
	}
	sel := newSelector(st)
	var seqs []uint64
	err = e.List(ctx, f, func(ev Event) error {
		keep, err := sel.keep(ctx, e, ev)
		if keep {
			seqs = append(seqs, ev.Seq)
		}
		return err
	})
	return seqs, err
}

// ReplaySelection replays the events f selects, each once (as Select
// selects them), up to the last event stored when it began: its own
// copies are not selected. It goes by pages of ReplayDeadPage messages,
// each read, then republished, before the next is read, so that it holds
// a page of sequences at most however many events the selection holds (a
// since of the whole retention), and a bit per work-stream sequence from
// the first selected on to tell the copies of selected events. Missing
// lists ReplayListMost sequences at most, as ReplayDead's does. progress
// is told after each event how many are done, of at most the messages
// stored from the first selected on.
func (e *Events) ReplaySelection(ctx context.Context, f Filter, progress Progress) (ReplayResult, error) {
	subject, err := e.subjectOf(f)
	if err != nil {
		return ReplayResult{}, err
	}
	st, err := e.js.Stream(ctx, e.opts.Stream)
	if err != nil {
		return ReplayResult{}, fmt.Errorf("delivery: stream %s: %w", e.opts.Stream, err)
	}
	info := st.CachedInfo()
	if info.State.Msgs == 0 {
		return ReplayResult{}, nil
	}
	to := info.State.LastSeq + 1
	if f.ToSeq > 0 {
		to = min(to, f.ToSeq)
	}
	sel := newSelector(st)
	page, most := cmp.Or(e.deadPage, ReplayDeadPage), cmp.Or(e.listMost, ReplayListMost)
	var res ReplayResult
	var missing listed
	total, done := 0, 0
	seqs := make([]uint64, 0, page)
	evs := make([]Event, 0, page)
	for from := f.FromSeq; ; {
		seqs, evs = seqs[:0], evs[:0]
		read, next := 0, uint64(0)
		err := e.scan(ctx, e.opts.Stream, subject, scanRange{since: f.Since, from: from, to: to, most: page},
			func(m jetstream.Msg, md *jetstream.MsgMetadata) error {
				read++
				next = md.Sequence.Stream + 1
				if total == 0 {
					total = int(to - md.Sequence.Stream)
				}
				if ev := eventOf(m.Subject(), m.Headers(), md); ev.Command != "" {
					evs = append(evs, ev)
				}
				return nil
			})
		if err == nil && e.pageRead != nil {
			e.pageRead(read)
		}
		// Selected once the page is read: keep may read an event stored
		// before the selection (a copy's original), not in the scan's midst.
		for _, ev := range evs {
			if err != nil {
				break
			}
			var ok bool
			if ok, err = sel.keep(ctx, e, ev); ok {
				seqs = append(seqs, ev.Seq)
			}
		}
		if err != nil {
			return res.withLists(missing, listed{}), err
		}
		before := done
		pr, err := e.Replay(ctx, seqs, func(n, _ int) {
			done = before + n
			if progress != nil {
				progress(done, max(total, done))
			}
		})
		res.Replayed += pr.Replayed
		missing.add(pr.Missing, most)
		if err != nil || read < page || next >= to {
			return res.withLists(missing, listed{}), err
		}
		from = next
	}
}

// subjectOf is the subject filter of the events f selects.
func (e *Events) subjectOf(f Filter) (string, error) {
	if f.Command == "" {
		return e.opts.eventsSubject(), nil
	}
	if err := checkCommandFilter(f.Command); err != nil {
		return "", err
	}
	return e.opts.SubjectPrefix + ".*." + f.Command, nil
}

// selector keeps each event of a selection once (Select): it leaves out a
// replayed copy whose original, or an earlier copy of it, it saw.
type selector struct {
	st      jetstream.Stream // the work stream, to read a copy's original (parentOf)
	created time.Time        // the work stream's creation (copyOf)
	seen    seqSet           // every event the selection selected, kept or not
	copied  map[uint64]bool  // events not selected (originals, copies between) one of whose copies is
}

func newSelector(st jetstream.Stream) *selector {
	return &selector{st: st, created: st.CachedInfo().Created, copied: map[uint64]bool{}}
}

// keep reports whether ev, the next event of the selection in stream
// order, is to be replayed. A copy of a copy is a copy of the first
// original: when the event a copy names was not selected, keep reads it
// (parentOf), and the event that one names, up to an event selected, one
// whose copy was kept, or the first original, so that two copies of one
// event whose chains meet outside the selection are not both kept.
func (s *selector) keep(ctx context.Context, e *Events, ev Event) (bool, error) {
	s.seen.add(ev.Seq)
	orig, ok := e.copyOf(ev, s.created)
	var chain []uint64 // the events ev is a copy of, newest first
	for ok {
		if s.seen.has(orig) || s.copied[orig] {
			break
		}
		chain = append(chain, orig)
		var err error
		if orig, ok, err = s.parentOf(ctx, e, orig); err != nil {
			return false, err
		}
	}
	// Each is copied now, whether ev is kept or another copy of theirs was:
	// a later copy of any of them is left out without reading them again.
	for _, seq := range chain {
		s.copied[seq] = true
	}
	return !ok, nil
}

// parentOf is copyOf the work-stream event at seq: the event it is a
// replayed copy of, when it is one and still stored.
func (s *selector) parentOf(ctx context.Context, e *Events, seq uint64) (uint64, bool, error) {
	raw, err := s.st.GetMsg(ctx, seq)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return 0, false, nil // past the retention: the chain's oldest known
	}
	if err != nil {
		return 0, false, fmt.Errorf("delivery: read %s #%d: %w", e.opts.Stream, seq, err)
	}
	orig, ok := e.copyOf(storedEventOf(e.opts.Stream, raw), s.created)
	return orig, ok, nil
}

// seqSet is a set of stream sequences added in increasing order, a bit
// each from the first added on.
type seqSet struct {
	base  uint64 // the first sequence added; 0: none yet
	words []uint64
}

func (s *seqSet) add(seq uint64) {
	if s.base == 0 {
		s.base = seq
	}
	i := seq - s.base
	for uint64(len(s.words)) <= i/64 {
		s.words = append(s.words, 0)
	}
	s.words[i/64] |= 1 << (i % 64)
}

func (s *seqSet) has(seq uint64) bool {
	if s.base == 0 || seq < s.base {
		return false
	}
	i := seq - s.base
	return i/64 < uint64(len(s.words)) && s.words[i/64]&(1<<(i%64)) != 0
}

// copyOf is the work-stream sequence of the event ev is a replayed copy
// of, when ev is one of an event of this work stream, created at created.
// A copy names its original by sequence only, and a stream deleted and
// set up again numbers from 1 again: a copy of an older stream's event (a
// dead letter kept from then, replayed) names a sequence another event
// holds now. Such an event was received before the stream was created,
// and the copy keeps its Imcallback-Received-At: one received before
// created is taken for no copy of this stream's events.
func (e *Events) copyOf(ev Event, created time.Time) (uint64, bool) {
	rest, ok := strings.CutPrefix(ev.ReplayOf, e.opts.Stream+":")
	if !ok || ev.ReceivedAt.Before(created) {
		return 0, false
	}
	orig, err := strconv.ParseUint(rest, 10, 64)
	if err != nil || orig >= ev.Seq { // a copy is stored after its original
		return 0, false
	}
	return orig, true
}

// Replay republishes the work-stream events with the given sequences so
// that the workers process them again. Each copy gets a fresh Nats-Msg-Id
// (the original id + ":replay:" + the time), or the dedup window would
// swallow it, and names its original in Imcallback-Replay-Of. A sequence
// whose message is not an event (no command header, as GET /v1/events/N
// says) is not copied: it is reported missing, as is one past the
// stream's last sequence when the replay began, so that a range reaching
// past the end does not replay the copies the replay itself appends there.
func (e *Events) Replay(ctx context.Context, seqs []uint64, progress Progress) (ReplayResult, error) {
	_, end, err := e.bounds(ctx)
	if err != nil {
		return ReplayResult{}, err
	}
	return e.republish(ctx, e.opts.Stream, seqs, false, nil, func(raw *jetstream.RawStreamMsg) *nats.Msg {
		if raw.Sequence > end || raw.Header.Get(HeaderCommand) == "" {
			return nil
		}
		id := raw.Header.Get(jetstream.MsgIDHeader)
		if id == "" {
			id = fmt.Sprintf("%s:%d", e.opts.Stream, raw.Sequence)
		}
		// Replaying an event again is an operator's choice: each replay is a new copy.
		id += ":replay:" + strconv.FormatInt(time.Now().UnixNano(), 10)
		return e.replayMsg(raw.Subject, raw.Header, raw.Data, e.opts.Stream, raw.Sequence, id)
	}, progress)
}

// ReplayDeadPage is how many dead letters a replay of every dead letter
// (ReplayDead) reads, republishes and resolves at a time: all it holds of
// them at once, however many the dead-letter stream holds (after a long
// outage, millions).
const ReplayDeadPage = 4096

// ReplayListMost is how many sequences a replay of every dead letter
// (ReplayDead) lists at most in each of Missing and AlreadyReplayed: the
// first it finds, with MissingCount and AlreadyReplayedCount counting them
// all. Both are normally short, but two replays of every letter at once (a
// request retried while the first still runs, two operators) can each find
// most of the letters taken by the other.
const ReplayListMost = 10000

// ReplayDead republishes every dead letter to the work stream for
// processing and removes it from the dead-letter stream once republished.
// A dead letter's copy has an id of its own (the dead-letter stream,
// sequence and time + ":replay"), so replaying it twice within the dedup window, by
// two concurrent calls or a retry, runs it once. A letter another replay
// republished meanwhile is reported in AlreadyReplayed, one removed
// otherwise in Missing, both by its event's work-stream sequence, each
// list holding ReplayListMost sequences at most. A dead-letter stream
// that cannot delete its letters (deny_delete, sealed) is not replayed:
// ErrDeadLettersKept.
//
// It goes by pages of ReplayDeadPage letters, each read, republished and
// resolved before the next is read, up to the last letter stored when it
// began: a letter dead-lettered meanwhile (a handler still failing) is
// left for the next replay, so that the replay ends however fast they
// come. progress is told after each letter how many are done of the
// letters stored when it began; letters another replay removes before
// this one reads them leave it short of that total.
func (e *Events) ReplayDead(ctx context.Context, progress Progress) (ReplayResult, error) {
	return e.replayDead(ctx, progress, nil)
}

// replayDead is ReplayDead telling own (nil: none) of the letters it
// removes: the admin API's (Service.dead), which takes them off its counts.
func (e *Events) replayDead(ctx context.Context, progress Progress, own *deadCache) (ReplayResult, error) {
	stream := e.opts.DeadStream()
	st, err := e.js.Stream(ctx, stream)
	if err != nil {
		return ReplayResult{}, fmt.Errorf("delivery: stream %s: %w", stream, err)
	}
	if err := removable(st.CachedInfo()); err != nil {
		return ReplayResult{}, err
	}
	state := st.CachedInfo().State
	page, most := cmp.Or(e.deadPage, ReplayDeadPage), cmp.Or(e.listMost, ReplayListMost)
	total, done := int(state.Msgs), 0
	var res ReplayResult
	var missing, already listed
	seqs := make([]uint64, 0, min(page, total))
	origOf := make(map[uint64]uint64, min(page, total)) // dead-letter sequence → its work-stream sequence
	for from := state.FirstSeq; total > 0 && from <= state.LastSeq; {
		seqs = seqs[:0]
		clear(origOf)
		err := e.scan(ctx, stream, allDeadLetters, scanRange{from: from, to: state.LastSeq + 1, most: page},
			func(m jetstream.Msg, md *jetstream.MsgMetadata) error {
				seqs = append(seqs, md.Sequence.Stream)
				origOf[md.Sequence.Stream], _ = strconv.ParseUint(m.Headers().Get(HeaderDeadSeq), 10, 64)
				return nil
			})
		if err == nil && e.pageRead != nil {
			e.pageRead(len(seqs))
		}
		if err != nil || len(seqs) == 0 {
			return res.withLists(missing, already), err
		}
		before := done
		pr, err := e.republish(ctx, stream, seqs, true, own, e.undead, func(n, _ int) {
			done = before + n
			if progress != nil {
				progress(done, max(total, done)) // more only if the stream was recreated meanwhile
			}
		})
		pr, err = e.deadOutcome(ctx, pr, err, origOf, nil)
		res.Replayed += pr.Replayed
		missing.add(pr.Missing, most)
		already.add(pr.AlreadyReplayed, most)
		if err != nil || len(seqs) < page {
			return res.withLists(missing, already), err
		}
		from = seqs[len(seqs)-1] + 1
	}
	return res.withLists(missing, already), nil
}

// listed is one list of a replay of every dead letter: the first
// sequences found, up to a bound, and how many were found in all.
type listed struct {
	seqs []uint64
	n    int
}

// add adds seqs to l, keeping most at most.
func (l *listed) add(seqs []uint64, most int) {
	l.n += len(seqs)
	l.seqs = append(l.seqs, seqs[:min(len(seqs), most-len(l.seqs))]...)
}

// withLists is r with the sequences missing and already replayed of the
// pages of a replay of every dead letter, sorted, and their counts when
// the lists were cut. A sequence with two letters, both replayed already
// (the work stream was recreated, numbering from 1 again), is listed once.
func (r ReplayResult) withLists(missing, already listed) ReplayResult {
	r.Missing, r.AlreadyReplayed = missing.seqs, already.seqs
	if missing.n > len(missing.seqs) {
		r.MissingCount = missing.n
	}
	if already.n > len(already.seqs) {
		r.AlreadyReplayedCount = already.n
	}
	slices.Sort(r.Missing)
	slices.Sort(r.AlreadyReplayed)
	r.AlreadyReplayed = slices.Compact(r.AlreadyReplayed)
	return r
}

// deadOutcome finishes res, a republish of dead letters: its Missing and
// AlreadyReplayed, dead-letter sequences, become their events'
// work-stream sequences (origOf), and the sequences without a letter
// (noLetter: none was found, or it was removed before it could be read)
// are AlreadyReplayed when the newest CopySearchHeaders messages of the
// work stream hold a replayed copy of their letter (replayedCopies), else
// Missing. A search that fails does not fail the replay, whose letters
// are republished and removed by then: its sequences are Missing, and a
// warning says why. Each list is sorted.
func (e *Events) deadOutcome(ctx context.Context, res ReplayResult, err error, origOf map[uint64]uint64,
	noLetter []uint64) (ReplayResult, error) {
	for i, dead := range res.AlreadyReplayed {
		res.AlreadyReplayed[i] = origOf[dead]
	}
	for _, dead := range res.Missing {
		noLetter = append(noLetter, origOf[dead])
	}
	res.Missing = nil
	if err == nil && len(noLetter) > 0 {
		copied, serr := e.replayedCopies(ctx, noLetter)
		if serr != nil {
			e.logger().Warn("dead-letter replay: cannot tell the events replayed already from those without a dead letter; those whose copy was not found are reported missing",
				zap.Int("replayed", res.Replayed), zap.Int("unsure", len(noLetter)-len(copied)), zap.Error(serr))
		}
		for _, seq := range noLetter {
			if copied[seq] {
				res.AlreadyReplayed = append(res.AlreadyReplayed, seq)
			} else {
				res.Missing = append(res.Missing, seq)
			}
		}
	} else {
		res.Missing = noLetter
	}
	slices.Sort(res.Missing)
	slices.Sort(res.AlreadyReplayed)
	res.AlreadyReplayed = slices.Compact(res.AlreadyReplayed)
	return res, err
}

// firstCopyWindow is how many work-stream sequences replayedCopies reads
// first, back from the end; each further window back is twice the one
// before.
const firstCopyWindow = 256

// CopySearchHeaders is how many message headers of the work stream a
// replay of dead letters reads at most, newest first, per request (per
// page of ReplayDeadPage letters for a replay of every dead letter), to
// tell a letter another replay took already (its copy is found:
// AlreadyReplayed) from a sequence without a dead letter (Missing). A
// copy is recent (a double click, a second operator, a retried request),
// and a sequence that never had a letter (a typo, a processed event)
// must not read the stream to its end: a letter replayed before the
// newest CopySearchHeaders messages of the work stream were stored is
// reported missing.
const CopySearchHeaders = 20000

// replayedCopies reports which of the work-stream sequences seqs have a
// replayed copy of their dead letter in the work stream: undead names the
// dead-letter stream in the copy's id and the event in its
// Imcallback-Replay-Of, and stores it after the event, on any subject
// (the event need not be stored any more: the work stream drops events
// after its Retention, dead letters stay). It reads the stream's headers
// back from its end, in windows that double, to the lowest of seqs at
// most, and no more than e's copy search (CopySearchHeaders) in all: a
// copy of a letter replayed just before (a double click) is found at
// once. The sequences found are in the map even when it fails.
func (e *Events) replayedCopies(ctx context.Context, seqs []uint64) (map[uint64]bool, error) {
	found := map[uint64]bool{}
	st, err := e.js.Stream(ctx, e.opts.Stream)
	if err != nil {
		return found, fmt.Errorf("delivery: stream %s: %w", e.opts.Stream, err)
	}
	state := st.CachedInfo().State
	if state.Msgs == 0 {
		return found, nil
	}
	want := map[string]uint64{} // Imcallback-Replay-Of of a copy → its event's sequence
	lowest := state.LastSeq
	for _, seq := range seqs {
		if seq >= state.LastSeq {
			continue // no copy can follow it
		}
		want[fmt.Sprintf("%s:%d", e.opts.Stream, seq)] = seq
		lowest = min(lowest, seq)
	}
	limit := cmp.Or(e.copySearch, CopySearchHeaders)
	// A copy follows its event, and is stored: the search goes back to
	// the one after the lowest event, and to the stream's first message.
	floor := max(lowest+1, state.FirstSeq)
	deadID := e.opts.DeadStream() + ":"
	read, left := 0, len(want)
	for end, w := state.LastSeq+1, uint64(firstCopyWindow); end > floor && left > 0; w *= 2 {
		// A window reads its messages and, past a gap of deleted ones, as
		// many after its end at most: twice its width.
		room := uint64(limit-read) / 2
		if room < min(firstCopyWindow, uint64(limit)/2) || room == 0 {
			break
		}
		width := min(w, room)
		start := floor
		if end-floor > width {
			start = end - width
		}
		err := e.scan(ctx, e.opts.Stream, allSubjects, scanRange{from: start, to: end, read: &read},
			func(m jetstream.Msg, _ *jetstream.MsgMetadata) error {
				h := m.Headers()
				id := h.Get(jetstream.MsgIDHeader)
				if seq, ok := want[h.Get(HeaderReplayOf)]; ok && !found[seq] && strings.HasPrefix(id, deadID) && strings.HasSuffix(id, ":replay") {
					found[seq] = true
					left--
				}
				return nil
			})
		if err != nil {
			return found, err
		}
		end = start
	}
	return found, nil
}

// ReplayDeadOf republishes the dead letters of the events at origSeqs
// (their work-stream sequences, as DeadLetter.OriginalSeq and GET
// /v1/dead-letters give them) and removes them from the dead-letter
// stream. An event whose dead letter a replay republished already (a
// double click, a second operator) is reported in AlreadyReplayed and not
// republished again; one with no dead letter otherwise is reported
// missing. Of two dead letters of one sequence (the work stream was
// recreated, numbering from 1 again) it replays the later, the current
// stream's event's. It reads the headers of the whole dead-letter stream
// to find them (latestDead); the admin API finds them through the dead
// letters it keeps (Service.replayDeadOf), reading only the stretches of
// the stream that can hold them.
func (e *Events) ReplayDeadOf(ctx context.Context, origSeqs []uint64, progress Progress) (ReplayResult, error) {
	return e.replayDeadOf(ctx, origSeqs, progress, e.latestDead, nil)
}

// latestFunc returns the dead-letter sequence of the latest dead letter
// of each of the work-stream sequences origSeqs that has one.
type latestFunc func(ctx context.Context, origSeqs []uint64) (map[uint64]uint64, error)

// latestDead is the latestFunc of a scan of the whole dead-letter stream.
func (e *Events) latestDead(ctx context.Context, origSeqs []uint64) (map[uint64]uint64, error) {
	want := make(map[uint64]bool, len(origSeqs))
	for _, s := range origSeqs {
		want[s] = true
	}
	latest := make(map[uint64]uint64, len(origSeqs))
	err := e.scan(ctx, e.opts.DeadStream(), allDeadLetters, scanRange{}, func(m jetstream.Msg, md *jetstream.MsgMetadata) error {
		if orig := deadOrigOf(m.Headers()); want[orig] {
			latest[orig] = md.Sequence.Stream // the scan runs in order: the last one wins
		}
		return nil
	})
	return latest, err
}

// deadOrigOf is the work-stream sequence of the event whose dead letter
// carries the headers h; 0 when they do not say.
func deadOrigOf(h nats.Header) uint64 {
	orig, _ := strconv.ParseUint(h.Get(HeaderDeadSeq), 10, 64)
	return orig
}

// replayDeadOf is ReplayDeadOf with the latest dead letters of origSeqs
// found by latestOf, telling own (nil: none) of the letters it removes.
func (e *Events) replayDeadOf(ctx context.Context, origSeqs []uint64, progress Progress, latestOf latestFunc,
	own *deadCache) (ReplayResult, error) {
	latest, err := latestOf(ctx, origSeqs)
	if err != nil {
		return ReplayResult{}, err
	}
	var seqs, missing []uint64
	origOf := make(map[uint64]uint64, len(latest)) // dead-letter sequence → its work-stream sequence
	for _, orig := range slices.Compact(slices.Sorted(slices.Values(origSeqs))) {
		if dead, ok := latest[orig]; ok {
			seqs = append(seqs, dead)
			origOf[dead] = orig
		} else {
			missing = append(missing, orig)
		}
	}
	slices.Sort(seqs)
	res, err := e.republish(ctx, e.opts.DeadStream(), seqs, true, own, e.undead, progress)
	// A letter removed since the look-up (another replay took it) is reported
	// by the work-stream sequence asked for, not the dead-letter stream's;
	// so is one a replay had republished already.
	return e.deadOutcome(ctx, res, err, origOf, missing)
}

// undead is the work-stream copy of a dead letter: its original subject,
// stream, sequence and Nats-Msg-Id come from the dead-letter headers.
func (e *Events) undead(raw *jetstream.RawStreamMsg) *nats.Msg {
	subject := raw.Header.Get(HeaderDeadSubject)
	if subject == "" {
		subject = e.opts.SubjectPrefix + strings.TrimPrefix(raw.Subject, e.opts.DeadPrefix())
	}
	origSeq, _ := strconv.ParseUint(raw.Header.Get(HeaderDeadSeq), 10, 64)
	stream := raw.Header.Get(HeaderDeadStream)
	if stream == "" {
		stream = e.opts.Stream
	}
	// One dead letter is replayed once: the id names the dead letter, so a
	// second replay of it (a double click, a retried request, a replay whose
	// delete failed) is a duplicate inside the window, not a second run.
	// Its time too: a recreated dead-letter stream numbers from 1 again.
	id := fmt.Sprintf("%s:%d:%d:replay", e.opts.DeadStream(), raw.Sequence, raw.Time.UnixNano())
	return e.replayMsg(subject, raw.Header, raw.Data, stream, origSeq, id)
}

// republish is the loop of every replay: it reads each of seqs from
// stream, publishes copyOf it to the work stream and, with remove, deletes
// it from stream once published. A sequence no longer stored, or whose
// message copyOf refuses (nil), is reported missing, and one whose copy
// the work stream took for a duplicate of one it holds (the same
// Nats-Msg-Id within the dedup window) already replayed, both by their
// sequence in stream; one whose copy is stored is counted so even when
// its removal then fails (the error ends the loop). own, when set, is
// told of each message this call removed (the admin API's dead-letter
// cache). progress is told after each sequence.
func (e *Events) republish(ctx context.Context, stream string, seqs []uint64, remove bool, own *deadCache,
	copyOf func(*jetstream.RawStreamMsg) *nats.Msg, progress Progress,
) (ReplayResult, error) {
	var res ReplayResult
	if err := e.downNow(); err != nil {
		return res, fmt.Errorf("delivery: stream %s: %w", stream, err)
	}
	st, err := e.js.Stream(ctx, stream)
	if err != nil {
		return res, fmt.Errorf("delivery: stream %s: %w", stream, err)
	}
	if remove {
		if err := removable(st.CachedInfo()); err != nil {
			return res, err
		}
	}
	for i, seq := range seqs {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		// Stopped at once while the connection is down, before this event's
		// read and before its copy: nothing of it is stored yet. Not before
		// the removal of a letter whose copy is stored, which waits for the
		// attempt to reconnect: one that succeeds removes it.
		if err := e.downNow(); err != nil {
			return res, fmt.Errorf("delivery: replay %s #%d: %w", stream, seq, err)
		}
		raw, err := st.GetMsg(ctx, seq)
		switch {
		case errors.Is(err, jetstream.ErrMsgNotFound):
			res.Missing = append(res.Missing, seq)
		case err != nil:
			return res, fmt.Errorf("delivery: read %s #%d: %w", stream, seq, err)
		default:
			msg := copyOf(raw)
			if msg == nil {
				res.Missing = append(res.Missing, seq)
				break
			}
			// The copy and the removal of what it copies are not cut short by
			// ctx (each bounded by the JetStream client's timeout instead): a copy
			// stored while its dead letter stays, the caller gone, would be
			// stored again by a replay after the dedup window, and the event
			// run twice.
			step := context.WithoutCancel(ctx)
			if err := e.downNow(); err != nil {
				return res, fmt.Errorf("delivery: replay %s #%d: %w", stream, seq, err)
			}
			ack, err := e.js.PublishMsg(step, msg)
			if err != nil {
				return res, fmt.Errorf("delivery: replay %s #%d: %w", stream, seq, err)
			}
			// Counted before its removal: a copy stored is replayed (or found
			// replayed already) whether or not the removal that follows fails.
			if ack.Duplicate {
				// The copy's id names what it copies: a copy is stored already,
				// and the handler runs once.
				res.AlreadyReplayed = append(res.AlreadyReplayed, seq)
			} else {
				res.Replayed++
			}
			if remove {
				var at removalMark
				if own != nil {
					at = own.removing()
				}
				// Gone already is done: the replay that republished it first
				// (whose copy this one duplicates) deleted it.
				err := st.DeleteMsg(step, seq)
				switch {
				case err == nil && own != nil:
					own.removed(at, raw)
				case err != nil && !msgGone(err):
					return res, fmt.Errorf("delivery: republished %s #%d but cannot delete it: %w", stream, seq, err)
				}
			}
		}
		if progress != nil {
			progress(i+1, len(seqs))
		}
	}
	return res, nil
}

// removable refuses, with ErrDeadLettersKept, a replay of the letters of
// the stream info describes when it cannot delete them: each copy would be
// stored with its letter kept, for a later replay to store again.
func removable(info *jetstream.StreamInfo) error {
	var why string
	switch {
	case info.Config.Sealed:
		why = "is sealed"
	case info.Config.DenyDelete:
		why = "denies message deletes (deny_delete, which NATS cannot lift)"
	default:
		return nil
	}
	return fmt.Errorf("%w: stream %s %s, so a replayed letter could not be removed and a later replay would run it again; "+
		"nothing was replayed (the dead-letter stream must allow deletes for its letters to be replayed)",
		ErrDeadLettersKept, info.Config.Name, why)
}

// msgGone reports whether err, of a DeleteMsg, says the message is not
// stored (any more): the server answers the deletion of one with "message
// deletion unsuccessful" carrying its "no message found" (err_code 10057),
// which nats.go passes on as text, not as jetstream.ErrMsgNotFound.
func msgGone(err error) bool {
	return errors.Is(err, jetstream.ErrMsgNotFound) ||
		errors.Is(err, jetstream.ErrMsgDeleteUnsuccessful) && strings.Contains(err.Error(), "no message found")
}

// replayMsg copies an event for the work stream: dead-letter headers
// dropped, msgID as its Nats-Msg-Id, the original named. An event's subject
// is made again under the current IMCALLBACK_SUBJECT_PREFIX: one stored
// under an earlier prefix would match none of the work stream's subjects.
func (e *Events) replayMsg(subject string, h nats.Header, data []byte, origStream string, origSeq uint64, msgID string) *nats.Msg {
	if command := h.Get(HeaderCommand); command != "" {
		subject = Subject(e.opts.SubjectPrefix, protocol.ParseParams(h.Get(HeaderQuery)).SdkAppid, command)
	}
	rh := make(nats.Header, len(h)+2)
	for k, v := range h {
		if strings.HasPrefix(k, "Imcallback-Dead-") {
			continue
		}
		rh[k] = v
	}
	rh[jetstream.MsgIDHeader] = []string{msgID}
	rh[jetstream.ExpectedStreamHeader] = []string{e.opts.Stream}
	rh[HeaderReplayOf] = []string{fmt.Sprintf("%s:%d", origStream, origSeq)}
	return &nats.Msg{Subject: subject, Header: rh, Data: data}
}

// storedEventOf is eventOf a message of stream read by its sequence
// (GetMsg), which comes without a delivery's metadata.
func storedEventOf(stream string, raw *jetstream.RawStreamMsg) Event {
	md := &jetstream.MsgMetadata{Stream: stream, Timestamp: raw.Time}
	md.Sequence.Stream = raw.Sequence
	return eventOf(raw.Subject, raw.Header, md)
}

// eventOf is the Event of a message of the stream md names.
func eventOf(subject string, h nats.Header, md *jetstream.MsgMetadata) Event {
	ev := Event{
		Stream:      md.Stream,
		Seq:         md.Sequence.Stream,
		Time:        md.Timestamp,
		Subject:     subject,
		Command:     h.Get(HeaderCommand),
		AppID:       protocol.ParseParams(h.Get(HeaderQuery)).SdkAppid,
		RequestID:   h.Get(HeaderRequestID),
		MsgID:       h.Get(jetstream.MsgIDHeader),
		ReplayOf:    h.Get(HeaderReplayOf),
		Destination: h.Get(HeaderTarget),
	}
	ev.Size, _ = strconv.Atoi(h.Get(msgSizeHeader))
	ev.ReceivedAt, _ = time.Parse(time.RFC3339Nano, h.Get(HeaderReceivedAt))
	return ev
}

// msgSizeHeader carries the data size of a headers-only delivery.
const msgSizeHeader = "Nats-Msg-Size"

// scanBatch is how many headers one fetch of a scan asks for.
const scanBatch = 512

// scanRange bounds a scan: messages stored at or after since, with
// from <= sequence < to; zero values are no bound.
type scanRange struct {
	since    time.Time
	from, to uint64
	// read, when set, counts the message headers the scan reads, kept or
	// not: what bounds a search.
	read *int
	// most, when above zero, ends the scan once fn has taken that many
	// messages; no fetch asks for more than are still to take.
	most int
}

// scan calls fn for the headers of every message of stream on subject
// within r, up to the last message stored when the scan began, through a
// temporary headers-only consumer.
func (e *Events) scan(ctx context.Context, stream, subject string, r scanRange, fn func(jetstream.Msg, *jetstream.MsgMetadata) error) error {
	if err := e.downNow(); err != nil {
		return fmt.Errorf("delivery: scan %s: %w", stream, err)
	}
	st, err := e.js.Stream(ctx, stream)
	if err != nil {
		return fmt.Errorf("delivery: stream %s: %w", stream, err)
	}
	last := st.CachedInfo().State.LastSeq
	if r.to > 0 {
		last = min(last, r.to-1)
	}
	if st.CachedInfo().State.Msgs == 0 || r.to == 1 || r.from > last {
		return nil
	}
	cfg := jetstream.ConsumerConfig{
		Description:       "imcallback events scan",
		FilterSubject:     subject,
		DeliverPolicy:     jetstream.DeliverAllPolicy,
		AckPolicy:         jetstream.AckNonePolicy,
		HeadersOnly:       true,
		MemoryStorage:     true,
		InactiveThreshold: time.Minute,
	}
	switch {
	case r.from > 0:
		// The start sequence bounds the read; since is checked per message.
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, r.from
	case !r.since.IsZero():
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &r.since
	}
	next := max(r.from, 1) // the lowest sequence the next fetch can bring
	c, err := e.js.CreateConsumer(ctx, stream, cfg)
	if err != nil {
		return fmt.Errorf("delivery: scan %s: %w", stream, err)
	}
	name := c.CachedInfo().Name
	defer func() {
		if e.downNow() != nil {
			return // it expires by itself; the deletion would wait for an attempt to reconnect
		}
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = e.js.DeleteConsumer(dctx, stream, name) // it also expires by itself
	}()
	return e.readScan(ctx, stream, c, r, last, next, fn)
}

// scanWait is how long one fetch of a scan waits for its messages.
const scanWait = 5 * time.Second

// readScan reads the scan consumer c up to the stream sequence last,
// from next on, calling fn for each message within r. A fetch that brings
// nothing while the consumer still holds messages to read ends the scan with
// an error, instead of a list that silently stops short.
func (e *Events) readScan(ctx context.Context, stream string, c jetstream.Consumer, r scanRange, last, next uint64,
	fn func(jetstream.Msg, *jetstream.MsgMetadata) error) error {
	remaining := c.CachedInfo().NumPending
	taken := 0 // messages fn took, for r.most
	for remaining > 0 {
		fctx, cancel := context.WithTimeout(ctx, scanWait)
		// No more than the range still holds. Without a subject filter a
		// bounded scan then reads no message past its end; with one, the
		// matches past the end can fill what the range's own do not, so it
		// reads at most twice the range.
		want := min(remaining, scanBatch, last-next+1)
		if r.most > 0 {
			want = min(want, uint64(r.most-taken))
		}
		err := e.downNow() // first: fetchable waits for an attempt to reconnect under way
		if err == nil {
			err = fetchable(e.nc)
		}
		if err != nil {
			cancel()
			return fmt.Errorf("delivery: scan %s: %w", stream, err)
		}
		batch, err := c.Fetch(int(want), jetstream.FetchContext(fctx))
		if err != nil {
			cancel()
			return fmt.Errorf("delivery: scan %s: %w", stream, err)
		}
		got, done := 0, false
		var fnErr error
		for m := range batch.Messages() { // always drained, so the fetch ends cleanly
			got++
			if e.read != nil {
				e.read.Add(1) // what the server sent, kept or not
			}
			if r.read != nil {
				*r.read++
			}
			md, err := m.Metadata()
			if done || fnErr != nil || err != nil {
				continue
			}
			if md.Sequence.Stream > last {
				done = true
				continue
			}
			next, remaining = md.Sequence.Stream+1, md.NumPending
			if next > last {
				done = true
			}
			if md.Timestamp.Before(r.since) {
				continue
			}
			fnErr = fn(m, md)
			if taken++; r.most > 0 && taken >= r.most {
				done = true
			}
		}
		cancel()
		switch {
		case fnErr != nil:
			return fnErr
		case batch.Error() != nil:
			return fmt.Errorf("delivery: scan %s: %w", stream, batch.Error())
		case done:
			return nil
		case got == 0:
			// Nothing came: done if nothing is left (messages removed
			// meanwhile), else the server is not delivering them now.
			ictx, cancel := context.WithTimeout(ctx, scanWait)
			info, err := c.Info(ictx)
			cancel()
			if err == nil && info.NumPending == 0 {
				return nil
			}
			return fmt.Errorf("delivery: scan %s: no message came within %s with %d still to read: %w",
				stream, scanWait, remaining, context.DeadlineExceeded)
		}
	}
	return nil
}
