package topicsync_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/imcallback/imcallback/commands/group"
	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/internal/textcut"
	"github.com/imcallback/imcallback/plugins/topicsync"
	"github.com/imcallback/imcallback/protocol"
)

// TestDestroyedSkipsInvalidIDs: a TopicIdList holding an id no store
// would keep (over MaxIDBytes, a NUL, invalid UTF-8) still destroys the
// valid ids of the same callback; the refused ones are logged and counted
// as invalid, and the event is done (a retry could not help).
func TestDestroyedSkipsInvalidIDs(t *testing.T) {
	const groupID = "@TGS#_g"
	long := groupID + "@TOPIC#_" + strings.Repeat("话", topicsync.MaxIDBytes) // multi-byte, over the limit
	tests := []struct {
		name        string
		list        []string
		wantDeleted []string // of the live topics a and b
		wantInvalid []string // the refused ids, as the log names them (truncated)
		wantStored  float64
	}{
		{"all valid", []string{"a", "b"}, []string{"a", "b"}, nil, 1},
		{"one too long", []string{"a", long, "b"}, []string{"a", "b"}, []string{long}, 1},
		{"one with a NUL", []string{"a\x00", "a"}, []string{"a"}, []string{"a\x00"}, 1},
		{"one of invalid UTF-8", []string{"b", "\xffb"}, []string{"b"}, []string{"\xffb"}, 1},
		{"empty ones are skipped, not invalid", []string{"", "a", ""}, []string{"a"}, nil, 1},
		{"every one invalid", []string{"a\x00", "\xff"}, nil, []string{"a\x00", "\xff"}, 0},
	}
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					s := b.open(t)
					core, logs := observer.New(zapcore.WarnLevel)
					reg := prometheus.NewRegistry()
					h, err := topicsync.NewHandlers(s, zap.New(core), reg)
					if err != nil {
						t.Fatal(err)
					}
					full := func(suffix string) string {
						if suffix == long || strings.HasPrefix(suffix, groupID) {
							return suffix
						}
						return groupID + "@TOPIC#_" + suffix
					}
					for _, suffix := range []string{"a", "b"} {
						mustCreate(t, s, newTopic(groupID, suffix, at(1)))
					}
					list := make([]string, len(tt.list))
					for i, id := range tt.list {
						list[i] = id
						if id != "" {
							list[i] = full(id)
						}
					}
					command := group.AfterTopicDestroyedCommand.Name()
					err = h.Destroyed(t.Context(), &dispatcher.Event[group.AfterTopicDestroyed]{
						Command: command, AppID: testApp, ReceivedAt: at(5),
						Payload: group.AfterTopicDestroyed{GroupID: groupID, TopicIDList: list},
					})
					if err != nil {
						t.Fatalf("Destroyed = %v, want nil: the event is done", err)
					}
					var deleted []string
					for _, suffix := range []string{"a", "b"} {
						if mustGet(t, s, full(suffix)).DeletedAt != nil {
							deleted = append(deleted, suffix)
						}
					}
					if !slices.Equal(deleted, tt.wantDeleted) {
						t.Errorf("deleted %q, want %q", deleted, tt.wantDeleted)
					}
					stored, invalid := eventsCounted(t, reg, command, "stored"), eventsCounted(t, reg, command, "invalid")
					wantInvalid := 0.0
					if len(tt.wantInvalid) > 0 {
						wantInvalid = 1 // once per callback, however many of its ids were refused
					}
					if stored != tt.wantStored || invalid != wantInvalid {
						t.Errorf("counted stored %v, invalid %v; want %v, %v", stored, invalid, tt.wantStored, wantInvalid)
					}
					warnings := logs.FilterFieldKey("invalid_topic_ids").All()
					if len(tt.wantInvalid) == 0 {
						if len(warnings) != 0 {
							t.Errorf("warnings about invalid ids %v, want none", warnings)
						}
						return
					}
					if len(warnings) != 1 {
						t.Fatalf("want one warning naming the invalid ids, got %v", logs.All())
					}
					var logged []string
					for _, f := range warnings[0].Context {
						if f.Key == "invalid_topic_ids" {
							logged = stringsOf(t, f)
						}
					}
					if len(logged) != len(tt.wantInvalid) {
						t.Fatalf("logged ids %q, want %d of them", logged, len(tt.wantInvalid))
					}
					for i, id := range logged {
						// Valid UTF-8 (a rune is never cut), at most 64 bytes of the id,
						// its characters that are not graphic (a NUL) U+FFFD.
						want := textcut.Graphic(full(tt.wantInvalid[i]))
						cut := strings.TrimSuffix(id, "…")
						if !utf8.ValidString(id) || len(cut) > 64 || !strings.HasPrefix(want, cut) || len(want) > 64 && cut == id || cut == "" {
							t.Errorf("logged id %q, want %q cut safely to at most 64 bytes", id, want)
						}
					}
				})
			}
		})
	}
}

// TestDestroyedWithAnInvalidGroupCountsOnce: a destroy whose group id no
// store keeps, listing an invalid topic id as well, is one invalid callback:
// the handler's skipping of the id and the store's refusal of the group
// counted it twice.
func TestDestroyedWithAnInvalidGroupCountsOnce(t *testing.T) {
	longGroup := "@TGS#_" + strings.Repeat("g", topicsync.MaxIDBytes)
	s := openSQLite(t)
	reg := prometheus.NewRegistry()
	h, err := topicsync.NewHandlers(s, zap.NewNop(), reg)
	if err != nil {
		t.Fatal(err)
	}
	command := group.AfterTopicDestroyedCommand.Name()
	err = h.Destroyed(t.Context(), &dispatcher.Event[group.AfterTopicDestroyed]{
		Command: command, AppID: testApp, ReceivedAt: at(5),
		Payload: group.AfterTopicDestroyed{GroupID: longGroup, TopicIDList: []string{"@TGS#_g@TOPIC#_a", "@TGS#_g@TOPIC#_\x00"}},
	})
	if err != nil {
		t.Fatalf("Destroyed = %v, want nil: the event is done", err)
	}
	if stored, invalid := eventsCounted(t, reg, command, "stored"), eventsCounted(t, reg, command, "invalid"); stored != 0 || invalid != 1 {
		t.Errorf("counted stored %v, invalid %v; want 0, 1", stored, invalid)
	}
}

// TestEventSeriesExistFromTheStart: every series of
// imcallback_topic_events_total a handler can count is exposed at 0 before
// the first callback, as the callback metrics' are, so an alert on a rise
// sees the first one; a series born at 1 shows no increase.
func TestEventSeriesExistFromTheStart(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := topicsync.NewHandlers(openSQLite(t), zap.NewNop(), reg); err != nil {
		t.Fatal(err)
	}
	exposed := eventSeries(t, reg)
	create, destroyed, changed := group.AfterCreateTopicCommand.Name(), group.AfterTopicDestroyedCommand.Name(),
		group.AfterTopicInfoChangedCommand.Name()
	for _, want := range [][2]string{
		{create, "stored"}, {create, "invalid"}, {create, "error"}, {create, "interrupted"},
		{destroyed, "stored"}, {destroyed, "invalid"}, {destroyed, "error"}, {destroyed, "interrupted"},
		{changed, "stored"}, {changed, "invalid"}, {changed, "no_topic_id"}, {changed, "error"}, {changed, "interrupted"},
	} {
		v, ok := exposed[want]
		if !ok {
			t.Errorf("imcallback_topic_events_total{command=%q,result=%q} is not exposed before the first callback", want[0], want[1])
		} else if v != 0 {
			t.Errorf("imcallback_topic_events_total{command=%q,result=%q} = %v before any callback, want 0", want[0], want[1], v)
		}
	}
}

// TestLogLinesBoundCallbackIDs: whatever ids a callback holds, each line
// the handlers log shows them cut (64 bytes, valid UTF-8) and at most ten
// of a list, so a caller cannot make a line as long as its body.
func TestLogLinesBoundCallbackIDs(t *testing.T) {
	huge := "@TGS#_" + strings.Repeat("话", 20<<10) + "\xff" // 60 KiB, invalid UTF-8 at the end
	many := make([]string, 1000)
	for i := range many {
		many[i] = fmt.Sprintf("@TGS#_g@TOPIC#_%04d", i)
	}
	create := group.AfterCreateTopicCommand.Name()
	destroy := group.AfterTopicDestroyedCommand.Name()
	change := group.AfterTopicInfoChangedCommand.Name()
	tests := []struct {
		name   string
		handle func(*topicsync.Handlers) error
	}{
		{"create without GroupId", func(h *topicsync.Handlers) error {
			return h.Create(t.Context(), event(create, group.AfterCreateTopic{TopicID: huge}))
		}},
		{"create without TopicId", func(h *topicsync.Handlers) error {
			return h.Create(t.Context(), event(create, group.AfterCreateTopic{GroupID: huge}))
		}},
		{"create refused by the store", func(h *topicsync.Handlers) error {
			return h.Create(t.Context(), event(create, group.AfterCreateTopic{TopicID: huge, GroupID: "@TGS#_g"}))
		}},
		{"destroy without TopicIdList", func(h *topicsync.Handlers) error {
			return h.Destroyed(t.Context(), event(destroy, group.AfterTopicDestroyed{GroupID: huge}))
		}},
		{"destroy of an invalid group listing invalid ids", func(h *topicsync.Handlers) error {
			return h.Destroyed(t.Context(), event(destroy, group.AfterTopicDestroyed{GroupID: huge, TopicIDList: []string{"a", huge}}))
		}},
		{"destroy of an invalid group listing many ids", func(h *topicsync.Handlers) error {
			return h.Destroyed(t.Context(), event(destroy, group.AfterTopicDestroyed{GroupID: huge, TopicIDList: many}))
		}},
		{"info change without TopicId", func(h *topicsync.Handlers) error {
			return h.InfoChanged(t.Context(), event(change, group.AfterTopicInfoChanged{GroupID: huge}))
		}},
		{"info change refused by the store", func(h *topicsync.Handlers) error {
			return h.InfoChanged(t.Context(), event(change, group.AfterTopicInfoChanged{TopicID: huge, GroupID: "@TGS#_g"}))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			core, logs := observer.New(zapcore.DebugLevel)
			h, err := topicsync.NewHandlers(openSQLite(t), zap.New(core), prometheus.NewRegistry())
			if err != nil {
				t.Fatal(err)
			}
			if err := tt.handle(h); err != nil {
				t.Fatalf("handler = %v, want nil: the event is done", err)
			}
			if logs.Len() == 0 {
				t.Fatal("nothing logged")
			}
			for _, e := range logs.All() {
				enc := zapcore.NewMapObjectEncoder()
				for _, f := range e.Context {
					f.AddTo(enc)
				}
				line, err := json.Marshal(enc.Fields)
				if err != nil {
					t.Fatal(err)
				}
				if len(line) > 2<<10 || !utf8.Valid(line) {
					t.Errorf("%q logs %d bytes of fields (valid UTF-8: %v), want at most 2 KiB: %.300s…",
						e.Message, len(line), utf8.Valid(line), line)
				}
			}
		})
	}
}

// event is a topic callback of command with payload p, verified for testApp.
func event[T any](command string, p T) *dispatcher.Event[T] {
	return &dispatcher.Event[T]{Command: command, AppID: testApp, RequestID: "req-1", ReceivedAt: at(5), Payload: p}
}

// eventsCounted is imcallback_topic_events_total{command,result} in reg.
func eventsCounted(t *testing.T, reg *prometheus.Registry, command, result string) float64 {
	t.Helper()
	return eventSeries(t, reg)[[2]string{command, result}]
}

// eventSeries is every series of imcallback_topic_events_total in reg, by
// its command and result.
func eventSeries(t *testing.T, reg *prometheus.Registry) map[[2]string]float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	series := map[[2]string]float64{}
	for _, f := range families {
		if f.GetName() != "imcallback_topic_events_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			series[[2]string{labels["command"], labels["result"]}] = m.GetCounter().GetValue()
		}
	}
	return series
}

// stringsOf reads a zap.Strings field.
func stringsOf(t *testing.T, f zapcore.Field) []string {
	t.Helper()
	enc := zapcore.NewMapObjectEncoder()
	f.AddTo(enc)
	raw, ok := enc.Fields[f.Key].([]any)
	if !ok {
		t.Fatalf("field %s is %T, not a list of strings", f.Key, enc.Fields[f.Key])
	}
	out := make([]string, len(raw))
	for i, v := range raw {
		out[i], _ = v.(string)
	}
	return out
}

// TestEventTimeOfAnEventNeverReceived: an event whose request has no
// ReceivedAt (one a sink of the app's own hands to Dispatcher.Process, or a
// handler called directly) still dates each write by its EventTime. The
// EventTime was checked against the receive time, zero there, so every one
// was "ahead by more than an hour" and the write was dated by the moment it
// ran: changes then won in the order they were processed, not made.
func TestEventTimeOfAnEventNeverReceived(t *testing.T) {
	s := openSQLite(t)
	h, err := topicsync.NewHandlers(s, zap.NewNop(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	const id = "@TGS#_g@TOPIC#_t"
	create := &dispatcher.Event[group.AfterCreateTopic]{Command: group.AfterCreateTopicCommand.Name(), AppID: testApp,
		Payload: group.AfterCreateTopic{GroupID: "@TGS#_g", TopicID: id, Name: "first", EventTime: 1732615201123}}
	if err := h.Create(t.Context(), create); err != nil {
		t.Fatal(err)
	}
	// The newer change is processed first; the older one must not win over it.
	for _, c := range []struct {
		name string
		ms   int64
	}{{"newer", 1732615260000}, {"older", 1732615230000}} {
		ev := &dispatcher.Event[group.AfterTopicInfoChanged]{Command: group.AfterTopicInfoChangedCommand.Name(), AppID: testApp,
			Payload: group.AfterTopicInfoChanged{GroupID: "@TGS#_g", TopicID: id, Name: ptr(c.name), EventTime: protocol.FlexInt(c.ms)}}
		if err := h.InfoChanged(t.Context(), ev); err != nil {
			t.Fatal(err)
		}
	}
	got := mustGet(t, s, id)
	if want := time.UnixMilli(1732615201123).UTC(); !got.CreatedAt.Equal(want) || got.Name != "newer" {
		t.Errorf("topic created at %s named %q; want created at its EventTime %s, named by the newer change", got.CreatedAt, got.Name, want)
	}
}

// TestARetriedInfoChangeIsDatedByItsEventTimeElseItsArrival pins the rule
// docs/protocol.md §5.2 states for IM's optional retry of an info change
// that arrives, in a later second, after a newer change: with EventTime the
// retry keeps its time and leaves the newer value; without one nothing in
// the payload dates it but its arrival, so the retry, arriving last, wins.
func TestARetriedInfoChangeIsDatedByItsEventTimeElseItsArrival(t *testing.T) {
	s := openSQLite(t)
	h, err := topicsync.NewHandlers(s, zap.NewNop(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		eventTime func(sec int) protocol.FlexInt
		want      string
	}{
		{"with EventTime", func(sec int) protocol.FlexInt { return protocol.FlexInt(at(sec).UnixMilli()) }, "newer"},
		{"without EventTime", func(int) protocol.FlexInt { return 0 }, "older"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := "@TGS#_g@TOPIC#_retried_" + strings.ReplaceAll(tc.name, " ", "_")
			create := &dispatcher.Event[group.AfterCreateTopic]{Command: group.AfterCreateTopicCommand.Name(), AppID: testApp,
				ReceivedAt: at(0), Payload: group.AfterCreateTopic{GroupID: "@TGS#_g", TopicID: id, Name: "first"}}
			if err := h.Create(t.Context(), create); err != nil {
				t.Fatal(err)
			}
			change := func(name string, made, received int) {
				t.Helper()
				ev := &dispatcher.Event[group.AfterTopicInfoChanged]{Command: group.AfterTopicInfoChangedCommand.Name(), AppID: testApp,
					ReceivedAt: at(received), Payload: group.AfterTopicInfoChanged{GroupID: "@TGS#_g", TopicID: id, Name: ptr(name),
						EventTime: tc.eventTime(made)}}
				if err := h.InfoChanged(t.Context(), ev); err != nil {
					t.Fatal(err)
				}
			}
			change("older", 10, 10) // IM missed the answer, and retries it below
			change("newer", 20, 20)
			change("older", 10, 30) // the retry
			if got := mustGet(t, s, id).Name; got != tc.want {
				t.Errorf("name %q after the retry of the older change; want %q", got, tc.want)
			}
		})
	}
}

// failingStore is a Store whose writes fail with err.
type failingStore struct {
	topicsync.Store
	err error
}

func (s failingStore) Create(context.Context, topicsync.Topic) error { return s.err }
func (s failingStore) Destroy(context.Context, string, string, []string, time.Time) error {
	return s.err
}
func (s failingStore) ApplyInfoChange(context.Context, topicsync.InfoChange) error { return s.err }

// TestStoreResultLinesCarryRequestID: the lines logged for a write the
// store refused as invalid, failed or was interrupted carry the callback's
// request_id, as the handlers' own warnings do, so a line can be matched
// to its request.
func TestStoreResultLinesCarryRequestID(t *testing.T) {
	create := group.AfterCreateTopicCommand.Name()
	destroy := group.AfterTopicDestroyedCommand.Name()
	change := group.AfterTopicInfoChangedCommand.Name()
	const groupID = "@TGS#_g"
	const topicID = groupID + "@TOPIC#_a"
	handlers := []struct {
		name   string
		handle func(context.Context, *topicsync.Handlers) error
	}{
		{"create", func(ctx context.Context, h *topicsync.Handlers) error {
			return h.Create(ctx, event(create, group.AfterCreateTopic{TopicID: topicID, GroupID: groupID}))
		}},
		{"destroy", func(ctx context.Context, h *topicsync.Handlers) error {
			return h.Destroyed(ctx, event(destroy, group.AfterTopicDestroyed{GroupID: groupID, TopicIDList: []string{topicID}}))
		}},
		{"info change", func(ctx context.Context, h *topicsync.Handlers) error {
			return h.InfoChanged(ctx, event(change, group.AfterTopicInfoChanged{TopicID: topicID, GroupID: groupID}))
		}},
	}
	results := []struct {
		name     string
		err      error
		canceled bool
		message  string
	}{
		{"refused as invalid", fmt.Errorf("%w: a text contains a NUL character", topicsync.ErrInvalid), false, "topic event refused as invalid; nothing changed"},
		{"failed", errors.New("disk on fire"), false, "topic write failed"},
		{"interrupted", context.Canceled, true, "topic write interrupted: its context was canceled (a stop, or the caller went away), not a store failure"},
	}
	for _, hh := range handlers {
		for _, r := range results {
			t.Run(hh.name+" "+r.name, func(t *testing.T) {
				core, logs := observer.New(zapcore.DebugLevel)
				h, err := topicsync.NewHandlers(failingStore{err: r.err}, zap.New(core), prometheus.NewRegistry())
				if err != nil {
					t.Fatal(err)
				}
				ctx := t.Context()
				if r.canceled {
					c, cancel := context.WithCancel(ctx)
					cancel()
					ctx = c
				}
				_ = hh.handle(ctx, h)
				lines := logs.FilterMessage(r.message).All()
				if len(lines) != 1 {
					t.Fatalf("%d lines %q, want 1; logged: %v", len(lines), r.message, logs.All())
				}
				if got := lines[0].ContextMap()["request_id"]; got != "req-1" {
					t.Errorf("request_id = %v, want %q", got, "req-1")
				}
			})
		}
	}
}
