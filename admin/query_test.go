package admin_test

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/labstack/echo/v4"

	"github.com/imcallback/imcallback/admin"
)

func TestCheckQuery(t *testing.T) {
	known := []string{"limit", "cursor"}
	for _, tt := range []struct {
		query string
		want  string // in the 400's message; "" when the query passes
	}{
		{"", ""},
		{"limit=1&cursor=abc", ""},
		{"limit=", ""},
		{"pretty", ""},
		{"limit=1&pretty=1", ""},
		{"limt=1", `unknown parameter "limt": this listing takes limit, cursor`},
		{"limit=1&app_id=2", `unknown parameter "app_id"`},
		{"cursor=a&cursor=b", "cursor is given more than once"},
		{"limit=1&limit=1", "limit is given more than once"},
		{"pretty&pretty", "pretty is given more than once"},
		{"b=1&a=1", `unknown parameter "a"`}, // the first in order, every time
	} {
		t.Run(tt.query, func(t *testing.T) {
			q, err := url.ParseQuery(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			err = admin.CheckQuery(q, known...)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("CheckQuery(%q) = %v, want nil", tt.query, err)
				}
				return
			}
			var he *echo.HTTPError
			if !errors.As(err, &he) || he.Code != http.StatusBadRequest {
				t.Fatalf("CheckQuery(%q) = %v, want a 400", tt.query, err)
			}
			if msg, _ := he.Message.(string); !strings.Contains(msg, tt.want) {
				t.Fatalf("CheckQuery(%q) says %q, want it to say %q", tt.query, msg, tt.want)
			}
		})
	}
}

// TestCheckQueryOfARouteThatReadsNone: a route that reads no parameter
// (one event) refuses any but pretty, saying it takes none rather than
// listing nothing.
func TestCheckQueryOfARouteThatReadsNone(t *testing.T) {
	if err := admin.CheckQuery(url.Values{"pretty": {""}}); err != nil {
		t.Fatalf("pretty refused: %v", err)
	}
	err := admin.CheckQuery(url.Values{"state": {"dead"}})
	var he *echo.HTTPError
	if !errors.As(err, &he) || he.Code != http.StatusBadRequest {
		t.Fatalf("CheckQuery(state=dead) = %v, want a 400", err)
	}
	if msg, _ := he.Message.(string); msg != `unknown parameter "state": this route takes none` {
		t.Fatalf("CheckQuery(state=dead) says %q", msg)
	}
}
