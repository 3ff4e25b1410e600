package delivery_test

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/imcallback/imcallback/delivery"
)

// TestStartRefusesAStreamTheEmbeddedServerDidNotLoad: a stream whose
// files are in the embedded server's store but which the server did not
// load at its start (a message block the service's user cannot open: a
// restored backup, root's files; the server logs "Error recreating stream
// … permission denied" and goes on without it) was created again, empty,
// by the service's setup: it came up ready with the event log, pending
// events and dead letters included, gone. The start now fails, naming the
// stream and its directory, and leaves the files as they are. (The tests
// run as root, who opens any file: a stream metafile whose checksum does
// not match stands in for the unreadable block; the server skips such a
// stream alike.)
func TestStartRefusesAStreamTheEmbeddedServerDidNotLoad(t *testing.T) {
	for _, which := range []string{"work", "dead-letter"} {
		t.Run(which, func(t *testing.T) {
			o := options(t, backend{name: "embedded"})
			s := start(t, o, nil)
			for _, id := range []string{"a", "b", "c"} {
				accept(t, s, request("C2C.CallbackAfterSendMsg", id))
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := s.Stop(ctx); err != nil {
				t.Fatal(err)
			}

			name := o.Stream
			if which == "dead-letter" {
				name = o.DeadStream()
			}
			dir := filepath.Join(o.StoreDir, "jetstream", "$G", "streams", name)
			if err := os.WriteFile(filepath.Join(dir, "meta.sum"), []byte("0000000000000000"), 0o600); err != nil {
				t.Fatal(err)
			}
			before := delivery.TreeOf(t, dir)

			again, err := delivery.New(o, testLogger(t), prometheus.NewRegistry())
			if err != nil {
				t.Fatal(err)
			}
			err = again.Start(ctx)
			if err == nil {
				_ = again.Stop(ctx)
				t.Fatalf("the service started and set stream %s up again, empty, over its files in %s", name, dir)
			}
			for _, want := range []string{name, dir, "chown"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not name %q", err, want)
				}
			}
			if after := delivery.TreeOf(t, dir); !maps.Equal(before, after) {
				t.Errorf("the refused start changed the stream's files:\nbefore %v\nafter  %v", before, after)
			}
		})
	}
}

// TestStartSetsUpAStreamRemovedBefore: a stream removed (nats stream rm)
// while the service ran, or whose removal a stop cut short after the
// server took its metafile away, is no stream the server failed to load:
// the next start sets it up again.
func TestStartSetsUpAStreamRemovedBefore(t *testing.T) {
	for _, how := range []string{"removed", "removal cut short"} {
		t.Run(how, func(t *testing.T) {
			o := options(t, backend{name: "embedded"})
			s := start(t, o, nil)
			accept(t, s, request("C2C.CallbackAfterSendMsg", "a"))
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if how == "removed" {
				if err := s.Conn().JS.DeleteStream(ctx, o.Stream); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Stop(ctx); err != nil {
				t.Fatal(err)
			}
			if how != "removed" {
				dir := filepath.Join(o.StoreDir, "jetstream", "$G", "streams", o.Stream)
				if err := os.Remove(filepath.Join(dir, "meta.inf")); err != nil {
					t.Fatal(err)
				}
			}
			again := start(t, o, nil)
			accept(t, again, request("C2C.CallbackAfterSendMsg", "b"))
		})
	}
}
