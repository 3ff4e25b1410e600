package topicsync_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/imcallback/imcallback/commands/group"
	"github.com/imcallback/imcallback/plugins/topicsync"
)

// blockingStore is a Store whose Create waits for its context to end, as a
// write under way when the service stops does.
type blockingStore struct {
	topicsync.Store
	started chan struct{}
}

func (s blockingStore) Create(ctx context.Context, _ topicsync.Topic) error {
	close(s.started)
	<-ctx.Done()
	return ctx.Err()
}

// TestWriteCutShortByCancellationIsInterrupted: a topic write cut short by
// the cancellation of the handler's context (a graceful stop cutting a
// durable delivery short) is counted as result "interrupted", not "error",
// and logs nothing at error level, so an alert on the error count does not
// fire on every stop with a backlog; the handler still returns the error,
// so delivery redelivers the event. A write that misses its deadline is
// still a failure.
func TestWriteCutShortByCancellationIsInterrupted(t *testing.T) {
	create := group.AfterCreateTopicCommand.Name()
	destroy := group.AfterTopicDestroyedCommand.Name()
	change := group.AfterTopicInfoChangedCommand.Name()
	const groupID = "@TGS#_g"
	const topicID = groupID + "@TOPIC#_a"
	canceled := func(t *testing.T) context.Context {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		return ctx
	}
	expired := func(t *testing.T) context.Context {
		ctx, cancel := context.WithDeadline(t.Context(), time.Unix(0, 0))
		t.Cleanup(cancel)
		return ctx
	}
	tests := []struct {
		name    string
		command string
		ctx     func(*testing.T) context.Context
		handle  func(context.Context, *topicsync.Handlers) error
		want    string // the result counted
		wantErr error
	}{
		{"create canceled", create, canceled, func(ctx context.Context, h *topicsync.Handlers) error {
			return h.Create(ctx, event(create, group.AfterCreateTopic{TopicID: topicID, GroupID: groupID}))
		}, "interrupted", context.Canceled},
		{"destroy canceled", destroy, canceled, func(ctx context.Context, h *topicsync.Handlers) error {
			return h.Destroyed(ctx, event(destroy, group.AfterTopicDestroyed{GroupID: groupID, TopicIDList: []string{topicID}}))
		}, "interrupted", context.Canceled},
		{"info change canceled", change, canceled, func(ctx context.Context, h *topicsync.Handlers) error {
			name := "n"
			return h.InfoChanged(ctx, event(change, group.AfterTopicInfoChanged{TopicID: topicID, GroupID: groupID, Name: &name}))
		}, "interrupted", context.Canceled},
		{"create past its deadline", create, expired, func(ctx context.Context, h *topicsync.Handlers) error {
			return h.Create(ctx, event(create, group.AfterCreateTopic{TopicID: topicID, GroupID: groupID}))
		}, "error", context.DeadlineExceeded},
	}
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					core, logs := observer.New(zapcore.DebugLevel)
					reg := prometheus.NewRegistry()
					h, err := topicsync.NewHandlers(b.open(t), zap.New(core), reg)
					if err != nil {
						t.Fatal(err)
					}
					checkCut(t, tt.handle(tt.ctx(t), h), tt.wantErr, reg, logs, tt.command, tt.want)
				})
			}
		})
	}
	t.Run("canceled while the write runs", func(t *testing.T) {
		core, logs := observer.New(zapcore.DebugLevel)
		reg := prometheus.NewRegistry()
		s := blockingStore{Store: openSQLite(t), started: make(chan struct{})}
		h, err := topicsync.NewHandlers(s, zap.New(core), reg)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		go func() { <-s.started; cancel() }()
		err = h.Create(ctx, event(create, group.AfterCreateTopic{TopicID: topicID, GroupID: groupID}))
		checkCut(t, err, context.Canceled, reg, logs, create, "interrupted")
	})
}

// checkCut checks a handler's run cut short by its context: err wraps
// wantErr, the one result counted is want, and only a failure ("error") is
// logged at error level.
func checkCut(t *testing.T, err, wantErr error, reg *prometheus.Registry, logs *observer.ObservedLogs, command, want string) {
	t.Helper()
	if !errors.Is(err, wantErr) {
		t.Errorf("handler = %v, want an error wrapping %v: delivery must redeliver the event", err, wantErr)
	}
	for key, v := range eventSeries(t, reg) {
		wantV := 0.0
		if key == [2]string{command, want} {
			wantV = 1
		}
		if v != wantV {
			t.Errorf("imcallback_topic_events_total{command=%q,result=%q} = %v, want %v", key[0], key[1], v, wantV)
		}
	}
	errorLines := logs.FilterLevelExact(zapcore.ErrorLevel).Len()
	if want != "error" && errorLines != 0 {
		t.Errorf("%d lines at error level for a write cut short by a stop, want none: %v", errorLines, logs.FilterLevelExact(zapcore.ErrorLevel).All())
	}
	if want == "error" && errorLines != 1 {
		t.Errorf("%d lines at error level for a failed write, want 1", errorLines)
	}
}
