package imcallback_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/imcallback/imcallback/delivery"
	"github.com/imcallback/imcallback/forward"
	"github.com/imcallback/imcallback/metrics"
	"github.com/imcallback/imcallback/middleware"
	"github.com/imcallback/imcallback/plugins/topicsync"
	"github.com/imcallback/imcallback/server"
)

// shapeKeys reads the keys of the JSON object the README shows at the
// start of s, as it writes an answer's shape: {"a","b":{…},"c":"x"|"y",
// "d":[{"e"}],"f":N}, a key alone or with a value, which may be an
// object or array (skipped whole), strings joined by | or a placeholder.
func shapeKeys(s string) ([]string, error) {
	i := 0
	space := func() {
		for i < len(s) && unicode.IsSpace(rune(s[i])) {
			i++
		}
	}
	str := func() (string, error) {
		end := strings.IndexByte(s[i+1:], '"')
		if end < 0 {
			return "", errors.New("an unterminated string")
		}
		v := s[i+1 : i+1+end]
		i += end + 2
		return v, nil
	}
	space()
	if i == len(s) || s[i] != '{' {
		return nil, errors.New("no object: it does not start with {")
	}
	i++
	var keys []string
	for {
		space()
		if i < len(s) && s[i] == '}' {
			return keys, nil
		}
		if i == len(s) || s[i] != '"' {
			return nil, fmt.Errorf("a key expected at %q", s[i:min(i+20, len(s))])
		}
		key, err := str()
		if err != nil {
			return nil, err
		}
		keys = append(keys, key)
		space()
		if i < len(s) && s[i] == ':' {
			i++
			space()
			switch {
			case i == len(s):
			case s[i] == '{' || s[i] == '[':
				depth := 0
				for ; i < len(s); i++ {
					if c := s[i]; c == '{' || c == '[' {
						depth++
					} else if c == '}' || c == ']' {
						if depth--; depth == 0 {
							i++
							break
						}
					}
				}
			case s[i] == '"':
				for {
					if _, err := str(); err != nil {
						return nil, err
					}
					if i >= len(s) || s[i] != '|' {
						break
					}
					i++
				}
			default:
				for i < len(s) && s[i] != ',' && s[i] != '}' {
					i++
				}
			}
		}
		space()
		switch {
		case i < len(s) && s[i] == ',':
			i++
		case i < len(s) && s[i] == '}':
			return keys, nil
		default:
			return nil, fmt.Errorf(", or } expected after %q", key)
		}
	}
}

// jsonKeys are the JSON names of t's fields in order, those of embedded
// structs included, less the names in leave.
func jsonKeys(t reflect.Type, leave ...string) []string {
	var keys []string
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Anonymous {
			keys = append(keys, jsonKeys(f.Type, leave...)...)
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name != "-" && name != "" && !slices.Contains(leave, name) {
			keys = append(keys, name)
		}
	}
	return keys
}

// TestREADMEAdminAnswerShapes: each answer shape the README gives for the
// admin API ({"seq","command",…}) lists the JSON fields of the type the
// service encodes, in their order. A field the README shows elsewhere
// (destination, in gateway mode only) is named in leave.
func TestREADMEAdminAnswerShapes(t *testing.T) {
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	tests := []struct {
		anchor string // the README text just before the shape
		want   []string
	}{
		{"`GET /v1/config`: `", jsonKeys(reflect.TypeFor[server.ConfigBody]())},
		{"(what the console's Overview draws): `", jsonKeys(reflect.TypeFor[server.SeriesBody]())},
		{`"samples":[`, jsonKeys(reflect.TypeFor[metrics.Sample]())},
		{`{"recent":[`, jsonKeys(reflect.TypeFor[middleware.Callback]())},
		{`"dependencies":[`, jsonKeys(reflect.TypeFor[server.Dependency]())},
		{`{"events":[`, jsonKeys(reflect.TypeFor[delivery.EventInfo](), "destination")},
		{`{"dead_letters":[`, jsonKeys(reflect.TypeFor[delivery.DeadLetterInfo](), "destination")},
		{`"commands":[`, jsonKeys(reflect.TypeFor[delivery.CommandState]())},
		{`{"destinations":[`, jsonKeys(reflect.TypeFor[forward.DestinationInfo]())},
		{`"requests":`, []string{forward.ResultOK, forward.ResultStatus, forward.ResultRefused, forward.ResultTimeout, forward.ResultError, forward.ResultBadResponse}},
		{"`GET /v1/topics?group_id=<GroupId>` →\n`", jsonKeys(reflect.TypeFor[topicsync.ListResponse]())},
		{"A topic is `", jsonKeys(reflect.TypeFor[topicsync.Topic]())},
		{`"custom_data":[`, jsonKeys(reflect.TypeFor[topicsync.CustomField]())},
	}
	for _, tt := range tests {
		if n := strings.Count(readme, tt.anchor); n != 1 {
			t.Errorf("README.md holds %q %d times, want once: update this test", tt.anchor, n)
			continue
		}
		_, rest, _ := strings.Cut(readme, tt.anchor)
		got, err := shapeKeys(rest)
		if err != nil {
			t.Errorf("README.md's shape after %q does not read: %v", tt.anchor, err)
			continue
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("README.md's shape after %q has the fields\n\t%q\nthe service's are\n\t%q", tt.anchor, got, tt.want)
		}
	}
}

// TestShapeKeys: the README's ways of writing a shape read as their keys,
// and a broken one is an error.
func TestShapeKeys(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{`{"a","b"}`, []string{"a", "b"}},
		{"{\"a\",\n  \"b\":{…},\"c\":\"x\"|\"y\",\"d\":[{\"e\",\"f\"}],\"g\":N} rest", []string{"a", "b", "c", "d", "g"}},
		{`{"state":"running"|"paused","paused_commands":[…]}`, []string{"state", "paused_commands"}},
		{`{}`, nil},
	}
	for _, tt := range tests {
		got, err := shapeKeys(tt.in)
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("shapeKeys(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{`"a"}`, `{"a"`, `{a}`, `{"a" "b"}`} {
		if got, err := shapeKeys(bad); err == nil {
			t.Errorf("shapeKeys(%q) = %q, want an error", bad, got)
		}
	}
}

// documentedRoute finds a route the documents name with its method:
// `GET /v1/events?…`, `POST /v1/events/replay`, `GET /debug/pprof/…`.
var documentedRoute = regexp.MustCompile("`(GET|POST) (/[^`\\s]*)")

// routePath is the path to ask for a documented route: without its query
// or the optional part in brackets, a placeholder (<seq>) filled in, and
// the index of a family of routes written with … .
func routePath(path string) string {
	path, _, _ = strings.Cut(path, "?")
	path, _, _ = strings.Cut(path, "[")
	path, _, _ = strings.Cut(path, "…")
	return regexp.MustCompile(`<[^>]*>`).ReplaceAllString(path, "1")
}

// TestREADMEAdminRoutesExist: every admin route README.md and docs/*.md
// name with its method is one the admin listener of a service with every
// part on has: it is not answered echo's "Not Found" or "Method Not
// Allowed" (a 404 of the route itself, an event not found, still counts).
// A POST is sent a body with a field no route takes, which the routes
// refuse before they act.
func TestREADMEAdminRoutesExist(t *testing.T) {
	files, err := filepath.Glob("docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	type route struct{ method, path, file string }
	var routes []route
	seen := map[string]bool{}
	for _, file := range append([]string{"README.md"}, files...) {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range documentedRoute.FindAllStringSubmatch(string(b), -1) {
			if r := (route{m[1], routePath(m[2]), file}); !seen[r.method+" "+r.path] {
				seen[r.method+" "+r.path] = true
				routes = append(routes, r)
			}
		}
	}
	if len(routes) < 15 {
		t.Fatalf("only %d admin routes found in the documents: were they read as expected?", len(routes))
	}
	s := startEveryPart(t)
	client := &http.Client{Timeout: 30 * time.Second}
	for _, r := range routes {
		var resp *http.Response
		if r.method == http.MethodPost {
			resp, err = client.Post(s.AdminURL+r.path, "application/json", strings.NewReader(`{"no_such_field":true}`))
		} else {
			resp, err = client.Get(s.AdminURL + r.path)
		}
		if err != nil {
			t.Fatalf("GET %s: %v", r.path, err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("GET %s: %v", r.path, err)
		}
		var answer struct{ Error string }
		_ = json.Unmarshal(body, &answer) // the console's page and the scrape are no JSON
		switch {
		case answer.Error == "Not Found" || answer.Error == "Method Not Allowed":
			t.Errorf("%s names %s %s, which the admin listener lacks: %d %s", r.file, r.method, r.path, resp.StatusCode, body)
		case r.method == http.MethodPost && resp.StatusCode != http.StatusBadRequest:
			t.Errorf("%s names POST %s, which answers a body it cannot take %d %s, not 400", r.file, r.path, resp.StatusCode, body)
		}
	}
}
