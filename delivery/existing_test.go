package delivery_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/imcallback/imcallback/delivery"
	"github.com/imcallback/imcallback/dispatcher"
)

// serverFor points o at b's NATS server over a client connection (an
// embedded server of its own, with a listener, for the embedded backend),
// so that a test can set streams up before the service starts.
func serverFor(t *testing.T, b backend, o delivery.Options) delivery.Options {
	t.Helper()
	if b.url == "" {
		emb, err := delivery.StartEmbedded(delivery.EmbeddedOptions{StoreDir: t.TempDir(), Listen: "127.0.0.1:0"}, testLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(emb.Shutdown)
		o.URL = emb.ClientURL()
		o.StoreDir = ""
	}
	return o
}

// withExistingStream is the options of a service on b's server where the
// work stream already exists, made by hand with file storage, the service's
// subjects and mod's changes, before the service starts.
func withExistingStream(t *testing.T, b backend, mod func(*jetstream.StreamConfig)) delivery.Options {
	t.Helper()
	o := serverFor(t, b, options(t, b))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cfg := jetstream.StreamConfig{Name: o.Stream, Subjects: []string{o.SubjectPrefix + ".>"}, Storage: jetstream.FileStorage}
	mod(&cfg)
	if _, err := clientJS(t, o.URL).CreateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	return o
}

// clientJS is a JetStream client of its own on url, closed at cleanup.
func clientJS(t *testing.T, url string) jetstream.JetStream {
	t.Helper()
	nc, err := nats.Connect(url, nats.Timeout(helperWait))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

// TestNotReadySaysWhyTheStreamsAreNotSetUp: when NATS answers but refuses
// the streams (here another stream already takes the service's subjects),
// readiness and the refused append name the refusal, not an unreachable
// NATS.
func TestNotReadySaysWhyTheStreamsAreNotSetUp(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		o := serverFor(t, b, options(t, b))
		js := clientJS(t, o.URL)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		other := o.Stream + "_OTHER"
		if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: other, Subjects: []string{o.SubjectPrefix + ".>"}}); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = js.DeleteStream(context.Background(), other) })
		s := start(t, o, nil)
		err := s.Check(ctx)
		if err == nil || !strings.Contains(err.Error(), "overlap") {
			t.Errorf("check: %v, want the server's refusal (subjects overlap)", err)
		}
		err = s.Accept(ctx, request(testCommand, "x"))
		if err == nil || !strings.Contains(err.Error(), "overlap") {
			t.Errorf("accept: %v, want the server's refusal (subjects overlap)", err)
		}
	})
}

// TestExistingStreamOfAnotherKind: a stream set up beforehand (by an
// operator, another tool) with a retention policy or acknowledgements the
// service cannot work with is brought in line, or refused with an error
// saying why; never used as it is, which deleted each event once processed
// (the event log empty) or answered every callback 503.
func TestExistingStreamOfAnotherKind(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*jetstream.StreamConfig)
		// refusal is what the not-ready error holds when the server
		// refuses to bring the stream in line ("" : it must not refuse).
		refusal string
	}{
		{"work-queue retention", func(c *jetstream.StreamConfig) { c.Retention = jetstream.WorkQueuePolicy }, "work-queue retention"},
		// NATS 2.9 cannot change interest to limits retention; later ones can.
		{"interest retention", func(c *jetstream.StreamConfig) { c.Retention = jetstream.InterestPolicy }, "retention Interest to Limits"},
		{"no acknowledgements", func(c *jetstream.StreamConfig) { c.NoAck = true }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, b backend) {
				o := withExistingStream(t, b, tc.mod)
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				s := start(t, o, nil)
				if err := s.Check(ctx); err != nil {
					if tc.refusal == "" || !strings.Contains(err.Error(), tc.refusal) {
						t.Fatalf("not ready: %v; want ready, or a refusal naming %q", err, tc.refusal)
					}
					t.Logf("refused: %v", err)
					return
				}
				st, err := clientJS(t, o.URL).Stream(ctx, o.Stream)
				if err != nil {
					t.Fatal(err)
				}
				if got := st.CachedInfo().Config; got.Retention != jetstream.LimitsPolicy || got.NoAck {
					t.Fatalf("the service runs on a stream with %v retention, no_ack %v", got.Retention, got.NoAck)
				}
				accept(t, s, request(testCommand, "x"))
			})
		})
	}
}

// TestExistingMemoryStreamIsWarnedOf: a stream set up beforehand with
// memory storage is kept (the storage is the operator's), with a warning:
// the events it acknowledged are lost when the NATS server restarts.
func TestExistingMemoryStreamIsWarnedOf(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		o := serverFor(t, b, options(t, b))
		js := clientJS(t, o.URL)
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: o.Stream, Subjects: []string{o.SubjectPrefix + ".>"},
			Storage: jetstream.MemoryStorage}); err != nil {
			t.Fatal(err)
		}
		core, logs := observer.New(zapcore.WarnLevel)
		s := startLogged(t, o, zap.New(core), nil)
		if err := s.Check(ctx); err != nil {
			t.Fatalf("a memory stream is kept and used: %v", err)
		}
		warned := logs.FilterMessageSnippet("memory storage").FilterField(zap.String("stream", o.Stream)).Len()
		if warned == 0 {
			t.Errorf("no warning of the stream's memory storage; logged: %v", logs.All())
		}
	})
}

// TestExistingAsyncPersistStreamIsWarnedOf: a stream set up beforehand
// with the async persist mode (nats-server 2.12 and later), which NATS
// cannot change, is kept, with a warning: the server acknowledges a write
// before it reaches the store's files, so a crash of the server (with the
// embedded one, a kill -9 of the service) loses the events, or dead
// letters, it acknowledged last. The service used it without a word.
func TestExistingAsyncPersistStreamIsWarnedOf(t *testing.T) {
	for _, tc := range []struct {
		name     string
		stream   func(delivery.Options) string
		subjects func(delivery.Options) []string
	}{
		{"work stream", func(o delivery.Options) string { return o.Stream },
			func(o delivery.Options) []string { return []string{o.SubjectPrefix + ".>"} }},
		{"dead-letter stream", func(o delivery.Options) string { return o.DeadStream() },
			func(o delivery.Options) []string { return []string{o.DeadPrefix() + ".>"} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, b backend) {
				o := serverFor(t, b, options(t, b))
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				name := tc.stream(o)
				st, err := clientJS(t, o.URL).CreateStream(ctx, jetstream.StreamConfig{Name: name, Subjects: tc.subjects(o),
					Storage: jetstream.FileStorage, PersistMode: jetstream.AsyncPersistMode})
				if err != nil {
					t.Fatal(err)
				}
				if st.CachedInfo().Config.PersistMode != jetstream.AsyncPersistMode {
					t.Skip("the NATS server has no persist mode (before 2.12)")
				}
				core, logs := observer.New(zapcore.WarnLevel)
				s := startLogged(t, o, zap.New(core), nil)
				if err := s.Check(ctx); err != nil {
					t.Fatalf("a stream of the async persist mode is kept and used: %v", err)
				}
				warned := logs.FilterMessageSnippet("async persist mode").FilterField(zap.String("stream", name)).Len()
				if warned == 0 {
					t.Errorf("no warning of the stream's async persist mode; logged: %v", logs.All())
				}
			})
		})
	}
}

// TestSubjectPrefixChangeWaitsForTheWorkUnderTheOldOne: a new subject
// prefix would move the consumer's filter away from the events still
// pending under the old one: it is refused, naming the setting, while any
// remain, and taken once they are processed.
func TestSubjectPrefixChangeWaitsForTheWorkUnderTheOldOne(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		o := serverFor(t, b, options(t, b))
		old := start(t, o, nil)
		accept(t, old, request(testCommand, "pending"))
		stop(t, old)
		moved := o
		moved.SubjectPrefix = o.SubjectPrefix + "_moved"
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()

		s := start(t, moved, nil)
		err := s.Check(ctx)
		if err == nil || !strings.Contains(err.Error(), "IMCALLBACK_SUBJECT_PREFIX changed") {
			t.Fatalf("check with a new prefix and an event pending under the old one: %v", err)
		}
		stop(t, s)
		js := clientJS(t, o.URL)
		st, err := js.Stream(ctx, o.Stream)
		if err != nil {
			t.Fatal(err)
		}
		if subjects := st.CachedInfo().Config.Subjects; !slices.Contains(subjects, o.SubjectPrefix+".>") {
			t.Fatalf("the refused prefix moved the stream's subjects to %v", subjects)
		}

		rec := newRecorder()
		old = start(t, o, dispatcherFor(t, rec))
		eventually(t, 15*time.Second, "the pending event processed", func() bool { return rec.appliedCount("pending") == 1 && pending(t, old) == 0 })
		stop(t, old)
		s = start(t, moved, nil)
		if err := s.Check(ctx); err != nil {
			t.Fatalf("check with a new prefix once the old one's events are processed: %v", err)
		}
	})
}

// TestSubjectPrefixChangeFailsTheEmbeddedStart: with the embedded server
// (the default, o.StoreDir set), a refused prefix change fails the start
// with the reason, as docs/delivery.md says, instead of a service that
// runs not ready.
func TestSubjectPrefixChangeFailsTheEmbeddedStart(t *testing.T) {
	o := options(t, backend{name: "embedded"})
	old := start(t, o, nil)
	accept(t, old, request(testCommand, "pending"))
	stop(t, old)

	moved := o
	moved.SubjectPrefix = o.SubjectPrefix + "_moved"
	s, err := delivery.New(moved, testLogger(t), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = s.Start(ctx)
	if err == nil {
		_ = s.Stop(ctx)
		t.Fatal("the embedded start took a new prefix with an event pending under the old one")
	}
	if !strings.Contains(err.Error(), "IMCALLBACK_SUBJECT_PREFIX changed") || !strings.Contains(err.Error(), "1 event is not processed") {
		t.Fatalf("start: %v, want the refused prefix change", err)
	}
}

// stop stops s now; its cleanup's second Stop does nothing.
func stop(t *testing.T, s started) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Stop(ctx); err != nil {
		t.Fatalf("stop: %v", err)
	}
}

// TestExistingStreamWithALimitThatDeletesEvents: a stream set up beforehand
// (by hand, by an older deployment) with a limit on its messages, bytes or
// messages per subject, under NATS's default discard policy (old), deletes
// its oldest messages to take new ones, processed or not: the events
// acknowledged to IM and not processed yet (the readiness probe's writes
// alone pushed them out) were lost without a word. The service lifts such
// a limit, with a warning (the stream stays bounded by its max age), so
// that every acknowledged event is processed.
func TestExistingStreamWithALimitThatDeletesEvents(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*jetstream.StreamConfig)
	}{
		{"max messages", func(c *jetstream.StreamConfig) { c.MaxMsgs = 2 }},
		{"max bytes", func(c *jetstream.StreamConfig) { c.MaxBytes = 1 << 10 }},
		// nats-server 2.9 checks a byte limit against the message without
		// its stored overhead: a message that crosses it is stored, and the
		// oldest deleted, under discard new too.
		{"max bytes under discard new", func(c *jetstream.StreamConfig) { c.MaxBytes, c.Discard = 1<<10, jetstream.DiscardNew }},
		// Every event of one command has the same subject.
		{"max messages per subject", func(c *jetstream.StreamConfig) { c.MaxMsgsPerSubject = 1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, b backend) {
				o := withExistingStream(t, b, tc.mod)
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				defer cancel()
				core, logs := observer.New(zapcore.WarnLevel)
				s := startLogged(t, o, zap.New(zapcore.NewTee(core, testLogger(t).Core())), nil)
				var acked []string
				for i := range 4 {
					id := fmt.Sprintf("e%d", i)
					actx, acancel := context.WithTimeout(ctx, 5*time.Second)
					err := s.Accept(actx, request(testCommand, id))
					acancel()
					if err == nil {
						acked = append(acked, id)
					}
					_ = s.Check(ctx) // the readiness probe writes to the stream too
				}
				if len(acked) == 0 {
					t.Fatal("no event was acknowledged")
				}
				rec := newRecorder()
				if err := s.StartWorkers(dispatcherFor(t, rec)); err != nil {
					t.Fatal(err)
				}
				// Not pending(…) == 0: a consumer the start found missing
				// is made at a later check, and until then nothing is pending.
				eventually(t, 30*time.Second, "every acknowledged event processed", func() bool {
					for _, id := range acked {
						if rec.appliedCount(id) == 0 {
							return false
						}
					}
					return true
				})
				for _, id := range acked {
					if n := rec.appliedCount(id); n != 1 {
						t.Errorf("acknowledged event %s applied %d times, want 1 (acknowledged: %v)", id, n, acked)
					}
				}
				if logs.FilterMessageSnippet("limit on its messages or bytes").FilterField(zap.String("stream", o.Stream)).Len() == 0 {
					t.Errorf("no warning of the stream's limit; logged: %v", logs.All())
				}
			})
		})
	}
}

// TestExistingStreamsWithAMessageSizeLimit: streams made by hand with a
// max_msg_size (as infrastructure code sets one on every stream) refused
// the dead letter of an event that fitted the work stream: a dead letter is
// the event plus its Imcallback-Dead-* headers. Such an event could never
// be dead-lettered: it was given back again and again, held a place of the
// window, and was dropped unprocessed at the work stream's retention,
// though acknowledged to IM. A dead letter stored could not be replayed
// either, its copy being larger than the event. The service lifts the
// limit of both streams, with a warning, as it lifts the work stream's
// deleting limits.
func TestExistingStreamsWithAMessageSizeLimit(t *testing.T) {
	const limit = 4096
	forEachBackend(t, func(t *testing.T, b backend) {
		o := withExistingStream(t, b, func(c *jetstream.StreamConfig) { c.MaxMsgSize = limit })
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		if _, err := clientJS(t, o.URL).CreateStream(ctx, jetstream.StreamConfig{Name: o.DeadStream(),
			Subjects: []string{o.DeadPrefix() + ".>"}, Storage: jetstream.FileStorage, MaxMsgSize: limit}); err != nil {
			t.Fatal(err)
		}
		core, logs := observer.New(zapcore.WarnLevel)
		s := startLogged(t, o, zap.New(zapcore.NewTee(core, testLogger(t).Core())), nil)
		// Events up to the limit, the largest of which the work stream took.
		var acked []string
		for n := limit - 1024; n < limit; n += 32 {
			r := request(testCommand, fmt.Sprint("big", n))
			r.Body = fmt.Appendf(nil, `{"CallbackCommand":%q,"Id":%q,"Pad":%q}`, testCommand, fmt.Sprint("big", n), strings.Repeat("x", n))
			actx, acancel := context.WithTimeout(ctx, 5*time.Second)
			err := s.Accept(actx, r)
			acancel()
			if err != nil {
				break // refused, not acknowledged: not owed
			}
			acked = append(acked, fmt.Sprint("big", n))
		}
		if len(acked) == 0 {
			t.Fatal("no event was acknowledged")
		}
		rec := newRecorder()
		rec.set(0, func(string, int) error { return fmt.Errorf("refused: %w", dispatcher.ErrPermanent) })
		if err := s.StartWorkers(dispatcherFor(t, rec)); err != nil {
			t.Fatal(err)
		}
		e := events(t, s)
		eventually(t, 30*time.Second, "every acknowledged event dead-lettered", func() bool {
			return len(deadLetters(t, e)) == len(acked)
		})
		// A replayed copy is its event plus Imcallback-Replay-Of and a longer id.
		rec.set(0, nil)
		res, err := e.ReplayDead(ctx, nil)
		if err != nil || res.Replayed != len(acked) {
			t.Errorf("replay of the dead letters: %+v, %v; want all %d replayed", res, err, len(acked))
		}
		eventually(t, 30*time.Second, "every replayed event applied", func() bool { return rec.storedCount() == len(acked) })
		for _, stream := range []string{o.Stream, o.DeadStream()} {
			if logs.FilterMessageSnippet("message size").FilterField(zap.String("stream", stream)).Len() == 0 {
				t.Errorf("no warning of the message size limit of %s; logged: %v", stream, logs.All())
			}
		}
	})
}

// TestExistingStreamThatDeniesPurgesIsReady: the work stream is the audit
// log, and one made by hand may deny purges (deny_purge, which NATS cannot
// lift). The readiness probe purged its message by subject, which such a
// stream refuses, so the service, though it stored every callback, was
// never ready. The probe now removes its message as the stream allows, or
// leaves it to the retention.
func TestExistingStreamThatDeniesPurgesIsReady(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*jetstream.StreamConfig)
	}{
		{"deny purge", func(c *jetstream.StreamConfig) { c.DenyPurge = true }},
		{"deny purge and delete", func(c *jetstream.StreamConfig) { c.DenyPurge, c.DenyDelete = true, true }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, b backend) {
				o := withExistingStream(t, b, tc.mod)
				s := start(t, o, nil)
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				var last error
				eventually(t, 10*time.Second, "ready", func() bool {
					last = s.Check(ctx)
					return last == nil
				})
				accept(t, s, request(testCommand, "e"))
			})
		})
	}
}

// TestLimitSetOnTheRunningStreamIsLifted: a limit that deletes events, or
// refuses large ones, set on the work stream while the service runs (an
// operator's edit) is lifted by the supervisor, as the start lifts it: it
// was kept until the next start, and under it events acknowledged to IM
// were deleted before they were processed. It is lifted too once it
// refused an event (event: its body's size), though readiness then fails:
// the probe after a refused event is as large as the event.
func TestLimitSetOnTheRunningStreamIsLifted(t *testing.T) {
	for _, tc := range []struct {
		name  string
		mod   func(c *jetstream.StreamConfig, stored uint64)
		event int
	}{
		{"max messages", func(c *jetstream.StreamConfig, _ uint64) { c.MaxMsgs = 2 }, 0},
		{"max messages per subject", func(c *jetstream.StreamConfig, _ uint64) { c.MaxMsgsPerSubject = 1 }, 0},
		{"max message size", func(c *jetstream.StreamConfig, _ uint64) { c.MaxMsgSize = 1 << 10 }, 0},
		{"max message size that refused an event", func(c *jetstream.StreamConfig, _ uint64) { c.MaxMsgSize = 1 << 10 }, 4 << 10},
		{"max bytes under discard new that refused an event", func(c *jetstream.StreamConfig, stored uint64) {
			c.MaxBytes, c.Discard = int64(stored)+2<<10, jetstream.DiscardNew
		}, 8 << 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, b backend) {
				s := start(t, options(t, b), nil)
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				js := s.Conn().JS
				st, err := js.Stream(ctx, s.Options().Stream)
				if err != nil {
					t.Fatal(err)
				}
				limited := st.CachedInfo().Config
				tc.mod(&limited, st.CachedInfo().State.Bytes)
				if _, err := js.UpdateStream(ctx, limited); err != nil {
					t.Fatal(err)
				}
				large := request(testCommand, "large")
				large.Body = fmt.Appendf(nil, `{"Id":"large","Text":%q}`, strings.Repeat("x", tc.event))
				if tc.event > 0 {
					if err := s.Accept(ctx, large); err == nil {
						t.Fatal("the limit took the event meant to be refused")
					}
				}
				eventually(t, 20*time.Second, "the limit lifted", func() bool {
					conn := s.Conn() // an embedded server may be restarted meanwhile
					if conn == nil {
						return false
					}
					st, err := conn.JS.Stream(ctx, s.Options().Stream)
					if err != nil {
						return false
					}
					c := st.CachedInfo().Config
					return c.MaxMsgs <= 0 && c.MaxMsgsPerSubject <= 0 && c.MaxMsgSize <= 0 && c.MaxBytes <= 0
				})
				if tc.event > 0 {
					eventually(t, 20*time.Second, "ready", func() bool { return s.Check(ctx) == nil })
					accept(t, s, large)
				}
			})
		})
	}
}

// TestStreamsConsumerInactivityLimitIsLifted: a work stream set up
// beforehand with a default inactivity limit for its consumers
// (consumer_limits.inactive_threshold, nats-server 2.10 and later, a
// common clean-up policy) gave it to the durable consumer, which the
// server then deleted once no worker had pulled for that long: a stop for
// a deploy, a pause. The next start created it at the stream's start, and
// every event of the retention ran again, processed and dead-lettered
// ones too. The service lifts the limit, with a warning, and the
// consumer's.
func TestStreamsConsumerInactivityLimitIsLifted(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		const limit = time.Second
		o := withExistingStream(t, b, func(c *jetstream.StreamConfig) {
			c.ConsumerLimits.InactiveThreshold = limit
		})
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		js := clientJS(t, o.URL)
		st, err := js.Stream(ctx, o.Stream)
		if err != nil {
			t.Fatal(err)
		}
		if st.CachedInfo().Config.ConsumerLimits.InactiveThreshold != limit {
			t.Skip("the NATS server has no consumer limits on a stream (before 2.10)")
		}
		core, logs := observer.New(zapcore.WarnLevel)
		rec := newRecorder()
		s := startLogged(t, o, zap.New(core), dispatcherFor(t, rec))
		accept(t, s, request(testCommand, "once"))
		eventually(t, 10*time.Second, "the event processed", func() bool {
			return rec.appliedCount("once") == 1 && pending(t, s) == 0
		})
		stop(t, s)
		if logs.FilterMessageSnippet("inactivity limit").FilterField(zap.String("stream", o.Stream)).Len() == 0 {
			t.Errorf("no warning of the stream's consumer inactivity limit; logged: %v", logs.All())
		}
		// Idle past the limit (and the server's jitter of up to a second).
		time.Sleep(3 * limit)
		if _, err := js.Consumer(ctx, o.Stream, s.Options().Consumer); err != nil {
			t.Errorf("the consumer, idle for %v: %v", 3*limit, err)
		}
		s = start(t, o, dispatcherFor(t, rec))
		accept(t, s, request(testCommand, "after"))
		eventually(t, 10*time.Second, "the next event processed", func() bool {
			return rec.appliedCount("after") == 1 && pending(t, s) == 0
		})
		if n := len(rec.callTimes("once")); n != 1 {
			t.Errorf("the event processed before the stop ran %d times, want 1", n)
		}
	})
}

// TestStreamsSubjectDeleteMarkersAreLifted: a work stream set up beforehand
// with subject delete markers (subject_delete_marker_ttl, nats-server 2.11
// and later) writes one under an event's subject when its retention drops
// the last event of that subject. The workers took it for an event that
// cannot decode and dead-lettered it (a dead letter of no command, and the
// dead-letter alert). The service lifts the markers, with a warning.
func TestStreamsSubjectDeleteMarkersAreLifted(t *testing.T) {
	forEachBackend(t, func(t *testing.T, b backend) {
		o := withExistingStream(t, b, func(c *jetstream.StreamConfig) {
			c.AllowMsgTTL, c.SubjectDeleteMarkerTTL = true, time.Second
		})
		o.Retention, o.DedupWindow = time.Second, time.Second // a window at most the retention
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		st, err := clientJS(t, o.URL).Stream(ctx, o.Stream)
		if err != nil {
			t.Fatal(err)
		}
		if st.CachedInfo().Config.SubjectDeleteMarkerTTL == 0 {
			t.Skip("the NATS server has no subject delete markers (before 2.11)")
		}
		core, logs := observer.New(zapcore.WarnLevel)
		rec := newRecorder()
		s := startLogged(t, o, zap.New(core), dispatcherFor(t, rec))
		accept(t, s, request(testCommand, "expires"))
		eventually(t, 10*time.Second, "the event processed", func() bool {
			return rec.appliedCount("expires") == 1 && pending(t, s) == 0
		})
		// The retention drops the event (and the server's expiry check may
		// come a second later); a marker would be delivered at once.
		eventually(t, 10*time.Second, "the event dropped by the retention", func() bool {
			st, err := clientJS(t, o.URL).Stream(ctx, o.Stream)
			return err == nil && st.CachedInfo().State.FirstSeq > 1 && st.CachedInfo().State.Msgs == 0
		})
		accept(t, s, request(testCommand, "after"))
		eventually(t, 10*time.Second, "the next event processed", func() bool {
			return rec.appliedCount("after") == 1 && pending(t, s) == 0
		})
		if dead := deadLetters(t, events(t, s)); len(dead) != 0 {
			t.Errorf("dead letters %+v, want none: a delete marker is no event", dead)
		}
		if logs.FilterMessageSnippet("subject delete markers").FilterField(zap.String("stream", o.Stream)).Len() == 0 {
			t.Errorf("no warning of the stream's subject delete markers; logged: %v", logs.All())
		}
	})
}

// TestExistingConsumerKeepsWhatNATSCannotChange: a durable consumer set up
// beforehand (by hand, by a tool) with a max_waiting or a start time of its
// own, which NATS refuses to change, left the service never ready ("max
// waiting can not be updated"), and the way out, deleting the consumer,
// ran every event of the retention again. The service keeps them.
func TestExistingConsumerKeepsWhatNATSCannotChange(t *testing.T) {
	since := time.Now().Add(-time.Hour)
	for _, tc := range []struct {
		name string
		mod  func(*jetstream.ConsumerConfig)
		// minor is the least nats-server 2.x that takes the update at all
		// (2.9 refuses any update of a consumer with a start time).
		minor int
	}{
		{"max waiting", func(c *jetstream.ConsumerConfig) { c.MaxWaiting = 100 }, 0},
		{"start time", func(c *jetstream.ConsumerConfig) {
			c.DeliverPolicy, c.OptStartTime = jetstream.DeliverByStartTimePolicy, &since
		}, 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, b backend) {
				o := withExistingStream(t, b, func(*jetstream.StreamConfig) {})
				o.Consumer = "imcallback_own"
				ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
				defer cancel()
				cfg := jetstream.ConsumerConfig{Durable: o.Consumer, AckPolicy: jetstream.AckExplicitPolicy,
					FilterSubject: o.SubjectPrefix + ".>"}
				tc.mod(&cfg)
				js := clientJS(t, o.URL)
				var major, minor int
				if _, err := fmt.Sscanf(js.Conn().ConnectedServerVersion(), "%d.%d", &major, &minor); err == nil &&
					major == 2 && minor < tc.minor {
					t.Skipf("nats-server %s refuses the update whatever the service sends", js.Conn().ConnectedServerVersion())
				}
				if _, err := js.CreateConsumer(ctx, o.Stream, cfg); err != nil {
					t.Fatal(err)
				}
				rec := newRecorder()
				s := start(t, o, dispatcherFor(t, rec))
				if err := s.Check(ctx); err != nil {
					t.Fatalf("not ready on the consumer set up beforehand: %v", err)
				}
				accept(t, s, request(testCommand, "x"))
				eventually(t, 10*time.Second, "the event processed", func() bool { return rec.appliedCount("x") == 1 })
			})
		})
	}
}
