package delivery

import (
	"context"
	"errors"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
)

// ErrUnknownCommand is returned by PauseCommand for a command the workers
// do not handle.
var ErrUnknownCommand = errors.New("delivery: not an after-command of this service")

// holds is the per-command pause. The workers share one consumer, so an
// event of a paused command is still delivered to them; they give it back
// at once (a delayed nak) without running the handler, and count the
// deliveries spent so, which do not count as attempts: a held event gets
// its MaxDeliveries attempts once resumed. A delivery whose handler the
// service's own stop cut short (a Pause, a restart of the embedded server)
// is counted so too. The counts live in memory; a restart of the process
// ends every pause and forgets them (see docs/reliability.md).
//
// It also keeps, in memory like the counts, the last attempt's error of an
// event whose dead letter could not be stored, so that the next delivery
// dead-letters it with that error rather than as an interrupted attempt,
// and without running its handler again whatever the delivery count says,
// and how many times in a row that failed, so that the retries back off.
type holds struct {
	mu       sync.Mutex
	known    []string              // the after-commands that can be paused; nil: any
	paused   map[string]bool       // commands paused one by one
	deferred map[uint64]uint64     // stream sequence → deliveries given back
	reasons  map[uint64]keptReason // stream sequence → the error its dead letter carries
	// dead marks the events this process dead-lettered (stream sequence →
	// when the stream stored the event) until the acknowledgement floor
	// passes them: one whose termination was lost is delivered again, and
	// is terminated then without its handler running again.
	dead map[uint64]time.Time
	// consumer is the creation time of the consumer the counts were kept
	// for: the last one any workers of the service opened.
	consumer time.Time
}

// keptReason is the error a dead letter that could not be stored carries,
// and how many times in a row it could not be stored. stored is when the
// stream stored the event: a work stream deleted and created again numbers
// its events from 1 again, and another event at the sequence is not owed
// this one's dead letter. first is when the first of those writes was
// tried: each may have been stored all the same (its acknowledgement
// timed out), and the duplicate window catches a repeat of it for
// Options.DedupWindow only (workers.storedEarlier).
type keptReason struct {
	err      error
	failures int
	stored   time.Time
	first    time.Time
}

// hold reports whether command is paused, and if so counts one more
// delivery of seq given back.
func (h *holds) hold(command string, seq uint64) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.paused[command] {
		return false
	}
	h.givenBackLocked(seq)
	return true
}

// giveBack counts one more delivery of seq given back without an attempt:
// one its handler ran in but the service's own stop cut short.
func (h *holds) giveBack(seq uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.givenBackLocked(seq)
}

// givenBackLocked counts one more delivery of seq given back. Callers hold h.mu.
func (h *holds) givenBackLocked(seq uint64) {
	if h.deferred == nil {
		h.deferred = map[uint64]uint64{}
	}
	h.deferred[seq]++
}

// spent is how many deliveries of seq were given back while its command
// was paused.
func (h *holds) spent(seq uint64) uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.deferred[seq]
}

// counting reports whether any delivery is counted as given back, or any
// dead-letter reason kept.
func (h *holds) counting() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.deferred) != 0 || len(h.reasons) != 0
}

// keepReason keeps err as the reason of the dead letter of the event
// stored at seq at the time stored, which could not be stored when tried,
// and returns how many times in a row it could not be (1 the first time).
func (h *holds) keepReason(seq uint64, stored, tried time.Time, err error) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.reasons == nil {
		h.reasons = map[uint64]keptReason{}
	}
	k := h.reasons[seq]
	if !k.stored.Equal(stored) {
		k = keptReason{stored: stored, first: tried}
	}
	k.err = err
	k.failures++
	h.reasons[seq] = k
	return k.failures
}

// reason is the kept reason of the dead letter of the event stored at seq
// at the time stored, or nil.
func (h *holds) reason(seq uint64, stored time.Time) error {
	k, _ := h.kept(seq, stored)
	return k.err
}

// firstFailure is when the first of the failed writes of the dead letter
// of the event stored at seq at the time stored was tried; ok is false
// when none failed.
func (h *holds) firstFailure(seq uint64, stored time.Time) (first time.Time, ok bool) {
	k, ok := h.kept(seq, stored)
	return k.first, ok
}

// kept is what is kept of the failed writes of the dead letter of the
// event stored at seq at the time stored; ok is false when none failed.
func (h *holds) kept(seq uint64, stored time.Time) (k keptReason, ok bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if k, ok := h.reasons[seq]; ok && k.stored.Equal(stored) {
		return k, true
	}
	return keptReason{}, false
}

// deadMarksMost bounds holds.dead: past it (the floor held back by an old
// pending event while many are dead-lettered) events are no longer marked,
// and one whose termination is lost then runs its handler again, as every
// event would without the marks.
const deadMarksMost = 1 << 16

// markDead notes that the dead letter of the event stored at seq at the
// time stored is stored.
func (h *holds) markDead(seq uint64, stored time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.dead == nil {
		h.dead = map[uint64]time.Time{}
	}
	if _, ok := h.dead[seq]; !ok && len(h.dead) >= deadMarksMost {
		return
	}
	h.dead[seq] = stored
}

// deadLettered reports whether markDead noted the event stored at seq at
// the time stored (not another event at the sequence of a work stream
// created again).
func (h *holds) deadLettered(seq uint64, stored time.Time) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	at, ok := h.dead[seq]
	return ok && at.Equal(stored)
}

// prune drops the counts of every sequence up to floor, the consumer's
// acknowledgement floor: those events were acknowledged or terminated,
// possibly by another replica, and are not offered to these workers again.
func (h *holds) prune(floor uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	maps.DeleteFunc(h.deferred, func(seq, _ uint64) bool { return seq <= floor })
	maps.DeleteFunc(h.reasons, func(seq uint64, _ keptReason) bool { return seq <= floor })
	maps.DeleteFunc(h.dead, func(seq uint64, _ time.Time) bool { return seq <= floor })
}

// opened notes the creation time of the consumer some workers opened.
// When it is not the one the counts were kept for, it drops every count of
// deliveries given back: the consumer was created again, and the server
// counts each event's deliveries from 1 anew. Kept, a count would later be
// taken off the new count and give an event more attempts than
// MaxDeliveries. The time is the service's, not one set of workers': a
// pause (or a restart of the embedded server) starts new workers, and the
// consumer may have been created again while none ran.
func (h *holds) opened(created time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.consumer.IsZero() && !created.Equal(h.consumer) {
		clear(h.deferred)
	}
	h.consumer = created
}

// forget drops seq's count and kept reason once it is acknowledged or
// terminated.
func (h *holds) forget(seq uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.deferred, seq)
	delete(h.reasons, seq)
}

// PauseCommand holds back command's events, while every other command
// keeps being processed and command's callbacks keep being acknowledged
// and stored; ResumeCommand lets them run again. Pausing twice is no
// error. A command the workers do not handle is ErrUnknownCommand.
func (s *Service) PauseCommand(command string) error {
	h := &s.holds
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.known != nil && !slices.Contains(h.known, command) {
		return ErrUnknownCommand
	}
	if h.paused == nil {
		h.paused = map[string]bool{}
	}
	if !h.paused[command] {
		h.paused[command] = true
		s.log.Info("delivery paused for one command: its events are stored, not processed, until resumed", zap.String("command", command))
	}
	return nil
}

// ResumeCommand ends PauseCommand: the held events run within Options.HoldRecheck.
// Resuming a command that is not paused is no error.
func (s *Service) ResumeCommand(command string) error {
	h := &s.holds
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.known != nil && !slices.Contains(h.known, command) {
		return ErrUnknownCommand
	}
	if h.paused[command] {
		delete(h.paused, command)
		s.log.Info("delivery resumed for one command", zap.String("command", command))
	}
	return nil
}

// PausedCommands are the commands PauseCommand holds back, sorted.
func (s *Service) PausedCommands() []string {
	h := &s.holds
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]string, 0, len(h.paused))
	for c := range h.paused {
		out = append(out, c)
	}
	slices.Sort(out)
	return out
}

// commandPaused reports whether command's events are held back, by
// PauseCommand or by Pause.
func (s *Service) commandPaused(command string) bool {
	if s.Paused() {
		return true
	}
	s.holds.mu.Lock()
	defer s.holds.mu.Unlock()
	return s.holds.paused[command]
}

// attempts is md with NumDelivered counting the handler's attempts only:
// the deliveries given back while the command was paused, and those whose
// handler this process's stop cut short, are left out.
func (s *Service) attempts(md *jetstream.MsgMetadata) *jetstream.MsgMetadata {
	n := s.holds.spent(md.Sequence.Stream)
	if n == 0 || n >= md.NumDelivered {
		return md
	}
	c := *md
	c.NumDelivered -= n
	return &c
}

// noteFloor reads the consumer's information, at most once per floorEvery
// (or per 10 × HoldRecheck, if shorter, while held counts are kept), and
// reports whether the server says the consumer is gone. Some servers answer
// a pull on a deleted consumer with nothing at all, like an idle one, so
// this is how the workers learn of it. A consumer created since the workers
// opened it counts as gone too: the work stream was deleted and set up
// again (by the supervisor or another replica) while no fetch of theirs
// waited, and their handle, which names the consumer, reads the new
// stream's now; reopened, the floors are kept with that stream and the
// given-back counts of the old one dropped. Its acknowledgement floor is where a
// consumer deleted while the service runs starts again (resume), and it
// drops the given-back counts of the events it has passed: an event another
// replica acknowledged never returns to these workers, so forget never sees
// it, and without this its count would stay for the life of the process.
func (w *workers) noteFloor(cons jetstream.Consumer, last *time.Time) (gone bool) {
	every := floorEvery
	if w.s.holds.counting() {
		every = min(every, 10*w.opts.HoldRecheck)
	}
	if time.Since(*last) < every {
		return false
	}
	*last = time.Now()
	ctx, cancel := context.WithTimeout(w.lookupCtx, 5*time.Second)
	defer cancel()
	info, err := cons.Info(ctx)
	if err != nil {
		// Another error says nothing: the next fetch tries again.
		return errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, jetstream.ErrStreamNotFound)
	}
	if !info.Created.Equal(w.consumerCreated) {
		return true
	}
	w.ackWait.Store(int64(info.Config.AckWait))
	w.s.resume.note(w.streamCreated, info.AckFloor.Stream)
	w.s.holds.prune(info.AckFloor.Stream)
	return false
}

// forget drops the count of msg's deliveries given back, once msg is
// acknowledged or terminated.
func (w *workers) forget(msg jetstream.Msg) {
	h := &w.s.holds
	if !h.counting() {
		return
	}
	if md, err := msg.Metadata(); err == nil {
		h.forget(md.Sequence.Stream)
	}
}
