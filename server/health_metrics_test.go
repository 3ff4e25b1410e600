package server

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/imcallback/imcallback/admin"
)

func TestHealthMetrics(t *testing.T) {
	ok := func(context.Context) error { return nil }
	down := func(context.Context) error { return errors.New("connection refused") }
	tests := []struct {
		name    string
		checks  []admin.Check
		durable bool
		want    string
	}{
		{"all up", []admin.Check{{Name: "jetstream", Check: ok}, {Name: "topic_store", Check: ok, Handler: true}}, true, `
imcallback_dependency_up{dependency="jetstream"} 1
imcallback_dependency_up{dependency="topic_store"} 1
imcallback_ready 1
`},
		{"a handler's store down, durable: still ready", []admin.Check{{Name: "jetstream", Check: ok}, {Name: "topic_store", Check: down, Handler: true}}, true, `
imcallback_dependency_up{dependency="jetstream"} 1
imcallback_dependency_up{dependency="topic_store"} 0
imcallback_ready 1
`},
		{"a handler's store down, inline: not ready", []admin.Check{{Name: "topic_store", Check: down, Handler: true}}, false, `
imcallback_dependency_up{dependency="topic_store"} 0
imcallback_ready 0
`},
		{"the stream down", []admin.Check{{Name: "jetstream", Check: down}}, true, `
imcallback_dependency_up{dependency="jetstream"} 0
imcallback_ready 0
`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			want := `# HELP imcallback_dependency_up 1 when the dependency's check passes (what /v1/status says), else 0.
# TYPE imcallback_dependency_up gauge
# HELP imcallback_ready 1 when the service would accept a callback now (what /readyz says), else 0.
# TYPE imcallback_ready gauge` + tc.want
			if err := testutil.CollectAndCompare(newHealthCollector(tc.checks, tc.durable), strings.NewReader(want)); err != nil {
				t.Error(err)
			}
		})
	}
}
