package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/imcallback/imcallback/imtest"
	"github.com/imcallback/imcallback/plugins/topicsync"
)

// lockedBuffer is a bytes.Buffer the CLI writes while a test server reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestTopicsListAllPrintsEachPage: `topics list --all` prints each page as
// it arrives, rather than holding every page until the last: the topics of
// a page are out before the next page is asked for, and a page that fails
// leaves the earlier ones printed (with --json still one valid answer, its
// next_cursor the page to go on from). The JSON is the admin API's answer,
// byte for byte as one page of all the topics would print.
func TestTopicsListAllPrintsEachPage(t *testing.T) {
	created := time.Date(2024, 11, 26, 10, 0, 0, 0, time.UTC)
	var topics []topicsync.Topic
	for i := range 5 {
		topics = append(topics, topicsync.Topic{SdkAppID: "1400000001", TopicID: fmt.Sprintf("@TGS#_g@TOPIC#_t%d", i),
			GroupID: "@TGS#_g", Name: fmt.Sprintf("<topic %d> & more", i), CustomData: []topicsync.CustomField{},
			CreatedAt: created, UpdatedAt: created})
	}
	// Pages of two: cursor "" → t0 t1, "c1" → t2 t3, "c2" → t4.
	pages := map[string]topicsync.ListResponse{
		"":   {Topics: topics[0:2], NextCursor: "c1"},
		"c1": {Topics: topics[2:4], NextCursor: "c2"},
		"c2": {Topics: topics[4:], NextCursor: ""},
	}
	before := map[string][]topicsync.Topic{"c1": topics[:2], "c2": topics[:4]} // printed before the page is asked for
	tests := []struct {
		name     string
		json     bool
		failAt   string // the cursor whose page fails; "" for none
		wantN    int
		wantNext string
	}{
		{"table", false, "", 5, ""},
		{"json", true, "", 5, ""},
		{"table, the third page fails", false, "c2", 4, "c2"},
		{"json, the third page fails", true, "c2", 4, "c2"},
		{"json, the first page fails", true, "-", 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out lockedBuffer
			var mu sync.Mutex
			var notYet []string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				cursor := r.URL.Query().Get("cursor")
				printed := out.String()
				for _, tp := range before[cursor] {
					if !strings.Contains(printed, tp.TopicID) {
						mu.Lock()
						notYet = append(notYet, fmt.Sprintf("%s before page %q", tp.TopicID, cursor))
						mu.Unlock()
					}
				}
				if tt.failAt != "" && (cursor == tt.failAt || tt.failAt == "-") {
					http.Error(w, `{"error":"the store is gone"}`, http.StatusInternalServerError)
					return
				}
				w.Header().Set("Content-Type", "application/json")
				_ = json.NewEncoder(w).Encode(pages[cursor])
			}))
			defer srv.Close()
			args := []string{"--admin", srv.URL, "topics", "list", "--all", "--limit", "2"}
			if tt.json {
				args = append(args, "--json")
			}
			root := newRootCmd(&out, &out)
			root.SetArgs(args)
			err := root.ExecuteContext(context.Background())
			got := out.String()
			if (err != nil) != (tt.failAt != "") {
				t.Fatalf("error %v, want one: %v\n%s", err, tt.failAt != "", got)
			}
			mu.Lock()
			if len(notYet) > 0 {
				t.Errorf("not printed yet: %q\n%s", notYet, got)
			}
			mu.Unlock()
			for i, tp := range topics {
				if strings.Contains(got, tp.TopicID) != (i < tt.wantN) {
					t.Errorf("%s printed: %v, want %v\n%s", tp.TopicID, !(i < tt.wantN), i < tt.wantN, got)
				}
			}
			if tt.failAt != "" && tt.wantN > 0 && !strings.Contains(err.Error()+got, "--cursor "+tt.wantNext) {
				t.Errorf("nothing says --cursor %s goes on: %v\n%s", tt.wantNext, err, got)
			}
			if !tt.json || tt.wantN == 0 {
				return
			}
			var res topicsync.ListResponse
			if err := json.Unmarshal([]byte(got), &res); err != nil || len(res.Topics) != tt.wantN || res.NextCursor != tt.wantNext {
				t.Fatalf("not one answer of %d topics and next_cursor %q: %v\n%s", tt.wantN, tt.wantNext, err, got)
			}
			var want bytes.Buffer
			if err := writeJSON(&want, topicsync.ListResponse{Topics: topics[:tt.wantN], NextCursor: tt.wantNext}); err != nil {
				t.Fatal(err)
			}
			if got != want.String() {
				t.Errorf("printed\n%s\nwant, as writeJSON prints one answer,\n%s", got, want.String())
			}
		})
	}
}

// TestTableCell: a cell is printed as it is when every character is
// graphic, and quoted with Go escapes otherwise. Bytes that are not UTF-8
// count as not graphic: a lone 0x9b is CSI to a terminal in 8-bit mode,
// and 0xff is text/tabwriter's escape character, which swallows the tabs
// after it and shifts the rest of the table. A handler's error text (an
// offline dead letter's, read from its header as stored, and cut at a byte
// count) may hold such bytes.
func TestTableCell(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Group.CallbackAfterCreateTopic", "Group.CallbackAfterCreateTopic"},
		{"话题 ✓", "话题 ✓"},
		{"", ""},
		{"a\nb", `"a\nb"`},
		{"\x1b[2J", `"\x1b[2J"`},
		{"\u202eabc", `"\u202eabc"`},
		{"bad \xff byte", `"bad \xff byte"`},
		{"csi \x9b2J", `"csi \x9b2J"`},
		{"cut mid-rune \xe8\xaf", `"cut mid-rune \xe8\xaf"`},
	}
	for _, tt := range tests {
		if got := tableCell(tt.in); got != tt.want {
			t.Errorf("tableCell(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
	// The table around such a cell keeps its columns.
	var b strings.Builder
	tw := tabwriter.NewWriter(&b, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "SEQ\tLAST ERROR\tX\n1\t%s\tx\n2\t%s\ty\n", tableCell("boom \xff"), tableCell("ok"))
	if err := tw.Flush(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(b.String(), "\n")
	if strings.ContainsAny(b.String(), "\t\xff") || len(lines) != 4 || strings.LastIndex(lines[1], "x") != strings.LastIndex(lines[2], "y") {
		t.Errorf("the table lost its columns:\n%q", b.String())
	}
}

// TestTopicsListAllStopsOnInterrupt: Ctrl-C (SIGINT) during `topics list
// --all --json` ends the listing as a failed page does: the JSON printed
// so far is closed into one valid answer, its next_cursor the page to go
// on from, and the error names that --cursor, instead of the process dying
// with the answer cut open. The test catches SIGINT itself too, so that
// without the handling the listing goes on (the held page is answered at
// the test's bound) instead of ending the test binary.
func TestTopicsListAllStopsOnInterrupt(t *testing.T) {
	raise := signalSelf(t)
	caught := make(chan os.Signal, 1)
	signal.Notify(caught, os.Interrupt)
	defer signal.Stop(caught)
	created := time.Date(2024, 11, 26, 10, 0, 0, 0, time.UTC)
	topic := func(i int) topicsync.Topic {
		return topicsync.Topic{SdkAppID: "1400000001", TopicID: fmt.Sprintf("@TGS#_g@TOPIC#_t%d", i), GroupID: "@TGS#_g",
			CustomData: []topicsync.CustomField{}, CreatedAt: created, UpdatedAt: created}
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Query().Get("cursor") == "c1" { // the second page
			_ = raise(syscall.SIGINT)
			select { // the client gives up the request, or the bound
			case <-r.Context().Done():
				return
			case <-time.After(10 * time.Second):
			}
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(topicsync.ListResponse{Topics: []topicsync.Topic{topic(1)}})
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(topicsync.ListResponse{Topics: []topicsync.Topic{topic(0)}, NextCursor: "c1"})
	}))
	defer srv.Close()
	var out bytes.Buffer
	root := newRootCmd(&out, io.Discard)
	root.SetArgs([]string{"--admin", srv.URL, "topics", "list", "--all", "--limit", "1", "--json"})
	err := root.ExecuteContext(context.Background())
	if !errors.Is(err, errInterrupted) || !strings.Contains(err.Error(), "--cursor c1") {
		t.Fatalf("err = %v, want the listing interrupted, going on from --cursor c1", err)
	}
	var res topicsync.ListResponse
	if err := json.Unmarshal(out.Bytes(), &res); err != nil || len(res.Topics) != 1 || res.NextCursor != "c1" {
		t.Fatalf("not one answer of the first page's topic and next_cursor c1: %v\n%s", err, out.String())
	}
}

// TestTopicsAppIDIsAnSdkAppid: --appid with a leading zero, or above 2^64-1,
// names no app a callback carries, so it selected nothing (an empty list, a
// topic not found); it is refused before the store or the service is asked,
// quoting the value given: a space around it (a script's variable) is not
// seen otherwise.
func TestTopicsAppIDIsAnSdkAppid(t *testing.T) {
	t.Setenv("IMCALLBACK_DATA_DIR", t.TempDir())
	for _, app := range []string{"01400000001", "00", "18446744073709551616", " 1400000000", "1400000000\n"} {
		for _, args := range [][]string{
			{"--offline", "topics", "list", "--appid", app},
			{"--offline", "topics", "get", "--appid", app, "@TGS#_g@TOPIC#_t"},
		} {
			want := "--appid " + strconv.Quote(app) + ": must be"
			if _, err := runCLI(t, args...); err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%q: error = %v, want one saying what --appid must be, %q", args, err, want)
			}
		}
	}
}

// TestEmptyFiltersAreRefused: events list --command "" or --since "" and
// topics list --group "" (an unset shell variable) were taken as no filter
// and listed everything, unlike events replay, which refuses them. They
// are refused, before anything is asked, online and --offline.
func TestEmptyFiltersAreRefused(t *testing.T) {
	var asked atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		asked.Store(true)
		http.Error(w, "asked", http.StatusTeapot)
	}))
	defer srv.Close()
	for _, tt := range []struct {
		args []string
		flag string
	}{
		{[]string{"--admin", srv.URL, "events", "list", "--command", ""}, "--command"},
		{[]string{"--admin", srv.URL, "events", "list", "--command", " "}, "--command"},
		{[]string{"--admin", srv.URL, "events", "list", "--since", ""}, "--since"},
		{[]string{"--dev", "events", "list", "--offline", "--command", ""}, "--command"},
		{[]string{"--admin", srv.URL, "topics", "list", "--group", ""}, "--group"},
		{[]string{"--dev", "topics", "list", "--offline", "--group", ""}, "--group"},
	} {
		t.Setenv("IMCALLBACK_DATA_DIR", t.TempDir())
		_, err := runCLI(t, tt.args...)
		if err == nil || !strings.Contains(err.Error(), tt.flag+" is empty") {
			t.Errorf("%q: %v, want %s refused as empty", tt.args, err, tt.flag)
		}
	}
	if asked.Load() {
		t.Error("the service was asked with an empty filter")
	}
}

// TestTopicsGetQuotesTheTopicID: topics get of a TopicId it did not find
// echoed the argument raw in its error, an escape sequence or a line break
// included (a value pasted from a log), unlike the other errors, which quote
// what they were given. It is quoted, online and --offline, and the error
// points to topics list.
func TestTopicsGetQuotesTheTopicID(t *testing.T) {
	const id = "@TGS#_g\x1b[2J@TOPIC#_x\nforged line"
	svc := imtest.Start(t, []string{"IMCALLBACK_DELIVERY=inline"}, topicsync.Module)
	_, err := runCLI(t, "--admin", svc.AdminURL, "topics", "get", id)
	checkQuoted := func(how string, err error) {
		t.Helper()
		if !errors.Is(err, topicsync.ErrNotFound) {
			t.Fatalf("%s: %v, want the topic not found", how, err)
		}
		if strings.ContainsAny(err.Error(), "\x1b\n") || !strings.Contains(err.Error(), strconv.Quote(id)) {
			t.Errorf("%s: the TopicId is not quoted:\n%q", how, err.Error())
		}
		if !strings.Contains(err.Error(), "imcallback topics list") {
			t.Errorf("%s: %q does not point to topics list, which shows the ids stored", how, err.Error())
		}
	}
	checkQuoted("online", err)
	offlineTopicStore(t)
	_, err = runCLI(t, "--offline", "topics", "get", id)
	checkQuoted("--offline", err)
}
