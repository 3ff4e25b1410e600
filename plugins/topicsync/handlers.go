package topicsync

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/imcallback/imcallback/commands/group"
	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/internal/textcut"
	"github.com/imcallback/imcallback/protocol"
	"github.com/imcallback/imcallback/tracing"
)

// Results counted by imcallback_topic_events_total.
const (
	resultStored    = "stored"
	resultInvalid   = "invalid"
	resultNoTopicID = "no_topic_id"
	resultError     = "error"
	// resultInterrupted is a write cut short by its context's cancellation
	// (a stop of the service cutting a durable delivery short, or IM going
	// away from an inline callback): not a store failure, so not "error".
	resultInterrupted = "interrupted"
)

// Handlers apply the topic callbacks to a Store.
type Handlers struct {
	store  Store
	log    *zap.Logger
	events *prometheus.CounterVec
}

// NewHandlers registers imcallback_topic_events_total{command,result} on reg.
func NewHandlers(store Store, log *zap.Logger, reg prometheus.Registerer) (*Handlers, error) {
	events := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "imcallback_topic_events_total",
		Help: "Topic callbacks by command and result (stored, invalid, no_topic_id, error, interrupted).",
	}, []string{"command", "result"})
	if err := reg.Register(events); err != nil {
		return nil, fmt.Errorf("topic: metrics: %w", err)
	}
	// Every series a handler can count exists at 0 from the start, as the
	// callback metrics' do, so an alert on a rise (increase of result
	// "error") sees the first one instead of a series born at 1.
	for command, results := range countedResults {
		for _, result := range results {
			events.WithLabelValues(command, result)
		}
	}
	return &Handlers{store: store, log: log, events: events}, nil
}

// countedResults are the results each topic command's handler counts.
var countedResults = map[string][]string{
	group.AfterCreateTopicCommand.Name():      {resultStored, resultInvalid, resultError, resultInterrupted},
	group.AfterTopicDestroyedCommand.Name():   {resultStored, resultInvalid, resultError, resultInterrupted},
	group.AfterTopicInfoChangedCommand.Name(): {resultStored, resultInvalid, resultNoTopicID, resultError, resultInterrupted},
}

// Commands returns the three topic commands, ready for dispatcher.AsCommand.
func (h *Handlers) Commands() []dispatcher.Command {
	return []dispatcher.Command{
		group.AfterCreateTopicCommand.Handle(h.Create),
		group.AfterTopicDestroyedCommand.Handle(h.Destroyed),
		group.AfterTopicInfoChangedCommand.Handle(h.InfoChanged),
	}
}

// Every handler writes under the app the request was verified for
// (ev.AppID, the SdkAppid its signature was checked against), so a
// callback of one app never touches another app's topic of the same id.

// Create stores a new topic. A body without TopicId or GroupId is logged,
// counted as invalid and answered OK: IM ignores after-callback answers,
// and a retry would not fix it.
func (h *Handlers) Create(ctx context.Context, ev *dispatcher.Event[group.AfterCreateTopic]) error {
	p := ev.Payload
	if p.TopicID == "" || p.GroupID == "" {
		h.count(ev.Command, resultInvalid)
		h.log.Warn("topic create without TopicId or GroupId; not stored",
			zap.String("topic_id", loggedID(p.TopicID)), zap.String("group_id", loggedID(p.GroupID)), zap.String("request_id", ev.RequestID))
		return nil
	}
	if h.replaced(ev.Command, ev.RequestID, ev.Raw, p.TopicID, p.GroupID) {
		return nil
	}
	custom := make([]CustomField, len(p.UserDefinedDataList))
	for i, d := range p.UserDefinedDataList {
		custom[i] = CustomField{Key: d.Key, Value: d.Value}
	}
	err := h.store.Create(ctx, Topic{
		SdkAppID:        ev.AppID,
		TopicID:         p.TopicID,
		GroupID:         p.GroupID,
		Name:            p.Name,
		OwnerAccount:    p.OwnerAccount,
		OperatorAccount: p.OperatorAccount,
		Type:            p.Type,
		CustomData:      custom,
		CreatedAt:       eventTime(ev.ReceivedAt, p.EventTime),
	})
	return h.done(ctx, ev.Command, ev.RequestID, err, zap.String("app_id", ev.AppID), zap.String("topic_id", loggedID(p.TopicID)))
}

// Destroyed marks the listed topics deleted. Store.Destroy refuses a whole
// list that holds an id no store keeps (over MaxIDBytes, a NUL, invalid
// UTF-8), so such ids are left out here: the others are still destroyed, and
// the refused ones are logged and the callback counted as invalid once (a
// retry could not help them).
func (h *Handlers) Destroyed(ctx context.Context, ev *dispatcher.Event[group.AfterTopicDestroyed]) error {
	p := ev.Payload
	// An empty id names no topic; the others are still destroyed.
	ids := slices.DeleteFunc(slices.Clone(p.TopicIDList), func(id string) bool { return id == "" })
	if p.GroupID == "" || len(ids) == 0 {
		h.count(ev.Command, resultInvalid)
		h.log.Warn("topic destroy without GroupId or TopicIdList; nothing changed",
			zap.String("group_id", loggedID(p.GroupID)), zap.String("request_id", ev.RequestID))
		return nil
	}
	if h.replaced(ev.Command, ev.RequestID, ev.Raw, p.GroupID) {
		return nil
	}
	var invalid []string
	replaced := replacedIDs(ev.Raw, ids...)
	ids = slices.DeleteFunc(ids, func(id string) bool {
		if checkIDs(id) == nil && !replaced[id] {
			return false
		}
		invalid = append(invalid, id)
		return true
	})
	if len(invalid) > 0 {
		// Once per callback: with a group id no store keeps, the store refuses
		// the others as well, and done counts that.
		if len(ids) == 0 || checkIDs(p.GroupID) == nil {
			h.count(ev.Command, resultInvalid)
		}
		h.log.Warn("topic destroy lists ids no store keeps (over 256 bytes, a NUL or invalid UTF-8); those are skipped",
			append([]zap.Field{
				zap.String("app_id", ev.AppID), zap.String("group_id", loggedID(p.GroupID)),
				zap.Int("invalid_topic_ids_count", len(invalid)), zap.Strings("invalid_topic_ids", loggedIDs(invalid)),
				zap.Int("valid_topic_ids_count", len(ids)), zap.String("request_id", ev.RequestID),
			}, tracing.LogFields(ctx)...)...)
		if len(ids) == 0 {
			return nil
		}
	}
	err := h.store.Destroy(ctx, ev.AppID, p.GroupID, ids, eventTime(ev.ReceivedAt, p.EventTime))
	return h.done(ctx, ev.Command, ev.RequestID, err, zap.String("app_id", ev.AppID),
		zap.Int("topic_ids_count", len(ids)), zap.Strings("topic_ids", loggedIDs(ids)))
}

// replaced reports whether one of ids, of the callback command whose body
// is raw, is one the JSON decoder replaced (replacedByDecoder); such a
// callback is counted invalid and logged, and nothing is stored or changed.
func (h *Handlers) replaced(command, requestID string, raw []byte, ids ...string) bool {
	if !replacedByDecoder(raw, ids...) {
		return false
	}
	h.count(command, resultInvalid)
	h.log.Warn("topic callback with an id the body held as invalid UTF-8 (read as U+FFFD); nothing stored or changed",
		zap.String("command", command), zap.Strings("ids", loggedIDs(ids)), zap.String("request_id", requestID))
	return true
}

// replacedByDecoder reports whether one of ids is one the decoder replaced
// (replacedIDs).
func replacedByDecoder(raw []byte, ids ...string) bool { return len(replacedIDs(raw, ids...)) > 0 }

// replacedIDs are those of ids that hold a U+FFFD the callback's body,
// raw, does not send: the JSON decoder reads invalid UTF-8, and the escape
// of half a surrogate pair (\ud800), as U+FFFD, so such an id would be
// stored as another, and two of them would name one topic. They are
// refused as the stores refuse invalid UTF-8. An id is taken at its word
// when the body sends U+FFFD nowhere (its UTF-8 bytes, or the escape
// \ufffd in any case) and none of its strings that read as the id holds
// what the decoder replaced; so is an event without its body (one an app's
// own sink handed to Dispatcher.Process). The body is scanned once,
// however many ids a destroy lists.
func replacedIDs(raw []byte, ids ...string) map[string]bool {
	var suspect map[string]bool // the ids holding U+FFFD
	for _, id := range ids {
		if strings.ContainsRune(id, utf8.RuneError) {
			if suspect == nil {
				suspect = map[string]bool{}
			}
			suspect[id] = true
		}
	}
	if len(raw) == 0 || suspect == nil {
		return nil
	}
	if !bytes.Contains(raw, []byte("\uFFFD")) && !bytes.Contains(bytes.ToLower(raw), []byte(`\ufffd`)) {
		return suspect // every U+FFFD of the ids is the decoder's
	}
	// The body sends U+FFFD somewhere (a name, custom data): look at the
	// strings that read as one of the ids themselves.
	replaced := map[string]bool{}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber() // a number beyond float64 (1e999) must not end the scan
	var from int64
	for {
		tok, err := dec.Token()
		if err != nil { // the end of the body
			return replaced
		}
		to := dec.InputOffset()
		if s, ok := tok.(string); ok && suspect[s] && !replaced[s] {
			// Between two tokens lie only separators and white space:
			// the literal begins at the segment's first quote.
			seg := raw[from:to]
			if i := bytes.IndexByte(seg, '"'); i >= 0 && replacedInLiteral(seg[i:]) {
				replaced[s] = true
			}
		}
		from = to
	}
}

// replacedInLiteral reports whether the JSON string literal lit holds what
// a decoder reads as U+FFFD without the text sending it: invalid UTF-8, or
// the escape of half a surrogate pair (a high one not followed by the
// escape of a low one, or a low one alone). lit is valid JSON.
func replacedInLiteral(lit []byte) bool {
	if !utf8.Valid(lit) {
		return true
	}
	surrogate := func(at int) (r uint64, ok bool) { // the \uXXXX escape at lit[at:], if any
		if at+6 > len(lit) || lit[at] != '\\' || lit[at+1] != 'u' {
			return 0, false
		}
		r, err := strconv.ParseUint(string(lit[at+2:at+6]), 16, 32)
		return r, err == nil
	}
	for i := 0; i < len(lit); i++ {
		if lit[i] != '\\' {
			continue
		}
		r, ok := surrogate(i)
		if !ok {
			i++ // another escape: skip its character, which may be a backslash
			continue
		}
		switch {
		case r >= 0xD800 && r < 0xDC00:
			if low, ok := surrogate(i + 6); ok && low >= 0xDC00 && low < 0xE000 {
				i += 11 // the pair
				continue
			}
			return true
		case r >= 0xDC00 && r < 0xE000:
			return true
		}
		i += 5
	}
	return false
}

// Bounds of the ids a log line shows: a callback's list can be long, and
// each id (and the group id) up to the body limit.
const (
	maxLoggedIDs     = 10
	maxLoggedIDBytes = 64
)

// loggedIDs is how a log line shows a list of ids: at most maxLoggedIDs of
// them, each as loggedID shows it.
func loggedIDs(ids []string) []string {
	out := make([]string, 0, min(len(ids), maxLoggedIDs))
	for _, id := range ids[:min(len(ids), maxLoggedIDs)] {
		out = append(out, loggedID(id))
	}
	return out
}

// loggedID is how a log line (and a span) shows a topic or group id from a
// callback: cut to maxLoggedIDBytes as cutID cuts, each character that is
// not graphic replaced by U+FFFD (textcut.Graphic), as in the access line.
func loggedID(id string) string { return textcut.Graphic(cutID(id, maxLoggedIDBytes)) }

// cutID is id cut to at most limit bytes on a character boundary, marked
// "…" when cut, and made valid UTF-8 (an invalid byte as U+FFFD). It cuts
// first, so a hostile id as long as the body is not scanned whole.
func cutID(id string, limit int) string {
	return strings.ToValidUTF8(textcut.Cut(id, limit), "\uFFFD")
}

// InfoChanged applies the fields present. Without a TopicId (the documented
// samples have none) the topic cannot be known: it is logged at warn,
// counted and answered OK. A change for a topic not stored yet is an error,
// so durable delivery retries it after the create.
func (h *Handlers) InfoChanged(ctx context.Context, ev *dispatcher.Event[group.AfterTopicInfoChanged]) error {
	p := ev.Payload
	if p.TopicID == "" {
		h.count(ev.Command, resultNoTopicID)
		h.log.Warn("topic info change without TopicId; the topic cannot be identified, nothing changed",
			zap.String("group_id", loggedID(p.GroupID)), zap.String("request_id", ev.RequestID))
		return nil
	}
	if h.replaced(ev.Command, ev.RequestID, ev.Raw, p.TopicID, p.GroupID) {
		return nil
	}
	err := h.store.ApplyInfoChange(ctx, InfoChange{
		SdkAppID:     ev.AppID,
		TopicID:      p.TopicID,
		GroupID:      p.GroupID,
		Name:         p.Name,
		Introduction: p.Introduction,
		Notification: p.Notification,
		FaceURL:      p.FaceURL,
		At:           eventTime(ev.ReceivedAt, p.EventTime),
	})
	return h.done(ctx, ev.Command, ev.RequestID, err, zap.String("app_id", ev.AppID), zap.String("topic_id", loggedID(p.TopicID)))
}

// maxEventSkew is how far IM's EventTime may run ahead of the service's
// clock and still be taken.
const maxEventSkew = time.Hour

// eventTime is when the event happened: IM's EventTime (milliseconds),
// which is the same however often IM sends the callback, so a resent older
// change stays older than a newer one; without a plausible one (absent, or
// ahead of received by more than maxEventSkew, which would make a change
// win over every later one), the time the service received the callback,
// which durable delivery keeps across its retries and replays. An event
// never received (no receive time: one handed to Dispatcher.Process by a
// sink of the app's own) is checked against the clock instead, and dated
// by it (the zero time, "now" to the store) without a plausible EventTime.
func eventTime(received time.Time, eventMillis protocol.FlexInt) time.Time {
	if eventMillis <= 0 {
		return received
	}
	ref := received
	if ref.IsZero() {
		ref = time.Now()
	}
	t := time.UnixMilli(int64(eventMillis)).UTC()
	if t.After(ref.Add(maxEventSkew)) {
		return received
	}
	return t
}

func (h *Handlers) count(command, result string) { h.events.WithLabelValues(command, result).Inc() }

// done counts and logs a store result of the callback of requestID; a
// failed write is the handler's error. Input the store refuses
// (ErrInvalid) fails the same way every time, so like the handlers' own
// checks it is counted and logged, nothing is stored, and the event is
// done: a retry could not help.
// A write cut short by the cancellation of ctx (a stop of the service, or
// the inline caller gone; not its deadline, which a slow store misses) is
// no store failure: it is counted as interrupted and logged at info, and
// still returned as the handler's error, so durable delivery redelivers it
// (and logs and counts it as interrupted itself).
func (h *Handlers) done(ctx context.Context, command, requestID string, err error, subject ...zap.Field) error {
	logFields := func() []zap.Field {
		f := append([]zap.Field{zap.String("command", command)}, subject...)
		f = append(f, zap.Error(err), zap.String("request_id", requestID))
		return append(f, tracing.LogFields(ctx)...)
	}
	if errors.Is(err, ErrInvalid) {
		h.count(command, resultInvalid)
		h.log.Warn("topic event refused as invalid; nothing changed", logFields()...)
		return nil
	}
	if err != nil && errors.Is(err, context.Canceled) && errors.Is(ctx.Err(), context.Canceled) {
		h.count(command, resultInterrupted)
		h.log.Info("topic write interrupted: its context was canceled (a stop, or the caller went away), not a store failure", logFields()...)
		return fmt.Errorf("topic: %s: %w", command, err)
	}
	if err != nil {
		h.count(command, resultError)
		h.log.Error("topic write failed", logFields()...)
		return fmt.Errorf("topic: %s: %w", command, err)
	}
	h.count(command, resultStored)
	return nil
}
