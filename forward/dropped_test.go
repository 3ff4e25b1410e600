package forward_test

import (
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/imcallback/imcallback/config"
	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/forward"
	"github.com/imcallback/imcallback/imtest"
)

// TestDroppedReplyFieldsLogIsBounded: a destination whose answers carry a
// field the command does not take (a framework's "success": true) does so
// on every before-callback; the field is dropped each time, but the
// warning is logged at most once a minute per destination and command,
// with count_since_last_line: it was logged on every callback.
func TestDroppedReplyFieldsLogIsBounded(t *testing.T) {
	d := newDest(t, func(w http.ResponseWriter, _ int) {
		_, _ = io.WriteString(w, `{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","success":true}`)
	})
	core, logs := observer.New(zapcore.DebugLevel)
	f, err := forward.New([]config.ForwardConfig{destination("a", d.URL, beforeCommand)}, catalogueAll(), zap.New(core), newRegistry())
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := &dispatcher.Request{Command: beforeCommand, Body: []byte(`{}`)}
	r.Params.SdkAppid = imtest.AppID
	for range 4 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		dec, err := f.Decide(ctx, "a", r)
		cancel()
		if err != nil || dec.Code != 0 || dec.Reply != nil {
			t.Fatalf("Decide: %+v, %v; want an allow without reply fields", dec, err)
		}
	}
	lines := logs.FilterMessageSnippet("dropped them").All()
	if len(lines) != 1 || lines[0].ContextMap()["count_since_last_line"] != int64(1) {
		t.Fatalf("%d warnings for 4 answers with a field dropped (want 1, counting 1): %v", len(lines), lines)
	}
}
