package delivery_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// TestExistingStreamWithASubjectTransform: a work stream set up beforehand
// with a subject transform (nats-server 2.10 and later) that moves the
// stored subjects out of the service's prefix stored each event under a
// subject the consumer's filter never matches: the callback was answered
// 200 and the event never delivered. The service lifts the transform, with
// a warning, as it lifts the other settings that lose events. Embedded
// server only: the shared external server (2.9) has no transforms.
func TestExistingStreamWithASubjectTransform(t *testing.T) {
	b := backend{name: "embedded"}
	o := withExistingStream(t, b, func(c *jetstream.StreamConfig) {
		c.SubjectTransform = &jetstream.SubjectTransformConfig{Source: c.Subjects[0], Destination: "elsewhere.>"}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	core, logs := observer.New(zapcore.WarnLevel)
	s := startLogged(t, o, zap.New(zapcore.NewTee(core, testLogger(t).Core())), nil)
	if err := s.Check(ctx); err != nil {
		t.Fatalf("not ready: %v", err)
	}
	accept(t, s, request(testCommand, "moved"))
	st, err := clientJS(t, o.URL).Stream(ctx, o.Stream)
	if err != nil {
		t.Fatal(err)
	}
	if tr := st.CachedInfo().Config.SubjectTransform; tr != nil {
		t.Errorf("the service runs on a stream that transforms its subjects: %+v", *tr)
	}
	rec := newRecorder()
	if err := s.StartWorkers(dispatcherFor(t, rec)); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the acknowledged event processed", func() bool { return rec.appliedCount("moved") == 1 })
	if logs.FilterMessageSnippet("subject transform").FilterField(zap.String("stream", o.Stream)).Len() == 0 {
		t.Errorf("no warning of the stream's subject transform; logged: %v", logs.All())
	}
}

// TestSealedStreamIsRefused: a sealed stream takes no write and NATS cannot
// unseal it. A sealed work stream answered every callback 503; a sealed
// dead-letter stream refused every dead letter, so an event that failed its
// last attempt was given back again and again, held a place of the window,
// and was dropped unprocessed at the work stream's retention, though
// acknowledged to IM, with nothing but a log line per attempt. Either is
// refused as a work-queue stream is: the service is not ready, naming the
// stream and what to do.
func TestSealedStreamIsRefused(t *testing.T) {
	for _, dead := range []bool{false, true} {
		name := "work stream"
		if dead {
			name = "dead-letter stream"
		}
		t.Run(name, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, b backend) {
				o := serverFor(t, b, options(t, b))
				js := clientJS(t, o.URL)
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				cfg := jetstream.StreamConfig{Name: o.Stream, Subjects: []string{o.SubjectPrefix + ".>"}, Storage: jetstream.FileStorage}
				if dead {
					cfg = jetstream.StreamConfig{Name: o.DeadStream(), Subjects: []string{o.DeadPrefix() + ".>"}, Storage: jetstream.FileStorage}
				}
				if _, err := js.CreateStream(ctx, cfg); err != nil {
					t.Fatal(err)
				}
				cfg.Sealed = true
				if _, err := js.UpdateStream(ctx, cfg); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = js.DeleteStream(context.Background(), cfg.Name) })
				s := start(t, o, nil)
				err := s.Check(ctx)
				if err == nil || !strings.Contains(err.Error(), "sealed") || !strings.Contains(err.Error(), cfg.Name) {
					t.Fatalf("check: %v, want a refusal naming the sealed stream %s", err, cfg.Name)
				}
			})
		})
	}
}
