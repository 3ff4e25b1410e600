package forward_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/imcallback/imcallback/config"
	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/forward"
)

// TestAnswerHeadersAreBounded: a destination's answer headers are read
// up to a bound, as its body is: headers of a megabyte are a failed
// exchange, not a delivery, and ordinary ones pass.
func TestAnswerHeadersAreBounded(t *testing.T) {
	tests := []struct {
		name   string
		size   int
		wantOK bool
	}{
		{"ordinary", 1 << 10, true},
		{"a megabyte", 1 << 20, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := newDest(t, func(w http.ResponseWriter, _ int) {
				w.Header().Set("X-Padding", strings.Repeat("x", tc.size))
				w.WriteHeader(http.StatusNoContent)
			})
			f, err := forward.New([]config.ForwardConfig{destination("a", d.URL, afterCommand)}, catalogueAll(), nopLogger(), newRegistry())
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			err = f.Deliver(context.Background(), "a", &dispatcher.Request{Command: afterCommand, Body: []byte(`{}`), Target: "a"})
			if (err == nil) != tc.wantOK {
				t.Errorf("Deliver with %d bytes of headers: %v, want success %v", tc.size, err, tc.wantOK)
			}
		})
	}
}
