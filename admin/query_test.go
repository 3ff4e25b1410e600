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

// TestCheckQueryTakesEmptyRepeatsAsAbsent: an empty value is the same as
// an absent one, yet limit=&limit=5 (a script that sets limit to "" and
// then appends &limit=5) was refused as limit given twice. CheckQuery now
// takes it as limit=5, leaving that one value for q.Get; two values that
// are not empty are still refused, and so are a repeated pretty (whose
// presence counts) and a repeat of a parameter whose empty value is a
// value (CheckQueryWithEmpty).
func TestCheckQueryTakesEmptyRepeatsAsAbsent(t *testing.T) {
	for _, tt := range []struct {
		query        string
		emptyIsValue []string
		want         string // q.Get("limit") after the check
		refused      string // in the 400's message; "" when the query passes
	}{
		{query: "limit=&limit=5", want: "5"},
		{query: "limit=5&limit=", want: "5"},
		{query: "limit=&limit=5&limit=", want: "5"},
		{query: "limit=&limit=", want: ""},
		{query: "limit=5&limit=&limit=6", refused: "limit is given more than once"},
		{query: "limit=&cursor=&cursor=a&cursor=b", refused: "cursor is given more than once"},
		{query: "limit=5&pretty&pretty", refused: "pretty is given more than once"},
		{query: "limit=&limit=5", emptyIsValue: []string{"limit"}, refused: "limit is given more than once"},
		{query: "limit=&limit=", emptyIsValue: []string{"limit"}, refused: "limit is given more than once"},
		{query: "limit=&limit=5&cursor=&cursor=", emptyIsValue: []string{"cursor"}, refused: "cursor is given more than once"},
	} {
		t.Run(tt.query, func(t *testing.T) {
			q, err := url.ParseQuery(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			err = admin.CheckQueryWithEmpty(q, tt.emptyIsValue, "limit", "cursor")
			if tt.refused != "" {
				var he *echo.HTTPError
				if !errors.As(err, &he) || he.Code != http.StatusBadRequest {
					t.Fatalf("CheckQueryWithEmpty(%q, %q) = %v, want a 400", tt.query, tt.emptyIsValue, err)
				}
				if msg, _ := he.Message.(string); !strings.Contains(msg, tt.refused) {
					t.Fatalf("CheckQueryWithEmpty(%q, %q) says %q, want it to say %q", tt.query, tt.emptyIsValue, msg, tt.refused)
				}
				return
			}
			if err != nil {
				t.Fatalf("CheckQueryWithEmpty(%q, %q) = %v, want nil", tt.query, tt.emptyIsValue, err)
			}
			if got := q["limit"]; len(got) != 1 || got[0] != tt.want {
				t.Fatalf("after CheckQueryWithEmpty(%q), limit is %q, want [%q]", tt.query, got, tt.want)
			}
		})
	}
}
