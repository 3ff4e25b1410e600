package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	_ "time/tzdata" // TestEventTablesPrintUTC's zone on a machine without zoneinfo

	"go.uber.org/fx"

	"github.com/imcallback/imcallback/delivery"
	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/imtest"
	"github.com/imcallback/imcallback/plugins/topicsync"
)

func TestParseSeqs(t *testing.T) {
	tests := []struct {
		in      []string
		want    string
		wantErr bool
	}{
		{[]string{"3"}, "3", false},
		{[]string{"5-7", "1"}, "1, 5, 6, 7", false},
		{[]string{"2,2, 3-4", "4"}, "2, 3, 4", false},
		{[]string{"0"}, "", true},
		{[]string{"x"}, "", true},
		{[]string{"7-5"}, "", true},
		{[]string{"1-99999999"}, "", true},
		{[]string{"18446744073709551614-18446744073709551615"}, "18446744073709551614, 18446744073709551615", false},
		{[]string{"18446744073709551615"}, "18446744073709551615", false},
		{[]string{"18446744073709551616"}, "", true},
		{[]string{"1,,2"}, "", true},
		{[]string{",5"}, "", true},
		{[]string{"5,"}, "", true},
		{[]string{"5", ""}, "", true},
		{[]string{" , ", ","}, "", false}, // nothing selected: the caller's errNoSeqs
		{nil, "", false},
	}
	for _, tt := range tests {
		got, err := parseSeqs(tt.in)
		if (err != nil) != tt.wantErr || (!tt.wantErr && joinSeqs(got) != tt.want) {
			t.Errorf("parseSeqs(%v) = %v, %v; want %s", tt.in, got, err, tt.want)
		}
	}
	// An empty item is named by its position, so the missing one is found.
	if _, err := parseSeqs([]string{"1,,2"}); err == nil || !strings.Contains(err.Error(), "item 2 is empty") {
		t.Errorf(`parseSeqs("1,,2") = %v; want "item 2 is empty"`, err)
	}
}

func TestEventFilter(t *testing.T) {
	f, err := eventFilter("A.B", "1h")
	if err != nil || f.Command != "A.B" || time.Since(f.Since) < 59*time.Minute || time.Since(f.Since) > 61*time.Minute {
		t.Fatalf("duration: %+v %v", f, err)
	}
	f, err = eventFilter("", "2026-01-02T03:04:05Z")
	if err != nil || !f.Since.Equal(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) {
		t.Fatalf("time: %+v %v", f, err)
	}
	for _, bad := range []struct{ since, want string }{
		{"-1h", "positive"},
		{"yesterday", "neither a duration"},
		{"100000000h", "longer than the longest duration"}, // a duration, too long: not "neither"
	} {
		if _, err := eventFilter("", bad.since); err == nil || !strings.Contains(err.Error(), bad.want) || !strings.HasPrefix(err.Error(), "--since ") {
			t.Errorf("--since %s: %v, want an error of --since saying %q", bad.since, err, bad.want)
		}
	}
}

// TestEventsCommands stores events through a durable service whose handler
// always fails, stops it, then inspects and replays them with the CLI on
// the same data directory.
func TestEventsCommands(t *testing.T) {
	dir := t.TempDir()
	env := []string{
		"IMCALLBACK_DATA_DIR=" + dir, "IMCALLBACK_DELIVERY=durable",
		"IMCALLBACK_MAX_DELIVERIES=2", "IMCALLBACK_BACKOFF=10ms",
	}
	failures := make(chan struct{}, 16)
	svc := imtest.Start(t, env, delivery.Module, fx.Provide(dispatcher.AsCommand(func() dispatcher.Command {
		return dispatcher.After("Group.CallbackAfterNewMemberJoin", func(_ context.Context, ev *dispatcher.Event[struct{ GroupId string }]) error {
			if ev.Payload.GroupId == "ok" {
				return nil
			}
			failures <- struct{}{}
			return errors.New("members table missing")
		})
	})))
	// The first event is processed, so the dead letters' own sequences
	// (1, 2) differ from their events' (2, 3).
	for _, group := range []string{"ok", "g1", "g2"} {
		if res := svc.Send(t, "Group.CallbackAfterNewMemberJoin", []byte(`{"GroupId":"`+group+`"}`)); !res.OK() {
			t.Fatalf("answer %s", res.Body)
		}
	}
	for range 4 { // two events, two deliveries each
		select {
		case <-failures:
		case <-time.After(20 * time.Second):
			t.Fatal("handler not retried")
		}
	}
	waitFor(t, func() bool {
		m := get(t, svc.AdminURL+"/metrics")
		return strings.Contains(m, `imcallback_delivery_dead_letters_total{command="Group.CallbackAfterNewMemberJoin"} 2`)
	})
	svc.App.RequireStop()

	setenvAll(t, env)
	out, err := runCLI(t, "--offline", "events", "list", "--json")
	if err != nil || strings.Count(out, "\n") != 3 || !strings.Contains(out, "Group.CallbackAfterNewMemberJoin") {
		t.Fatalf("events list: %v\n%s", err, out)
	}
	out, err = runCLI(t, "--offline", "events", "list", "--command", "Other.Command")
	if err != nil || strings.Count(out, "\n") != 1 { // the header alone
		t.Fatalf("events list --command: %v\n%s", err, out)
	}
	if _, err = runCLI(t, "--offline", "events", "list", "--before-seq", "2"); err == nil || !strings.Contains(err.Error(), "--before-seq") {
		t.Fatalf("events list --offline --before-seq: %v, want a refusal naming the flag", err)
	}
	out, err = runCLI(t, "--offline", "events", "dead", "--json")
	if err != nil || strings.Count(out, "\n") != 2 {
		t.Fatalf("events dead: %v\n%s", err, out)
	}
	var dead map[string]any
	if err := json.Unmarshal([]byte(strings.SplitN(out, "\n", 2)[0]), &dead); err != nil {
		t.Fatal(err)
	}
	// The table's SEQ is the event's, as replay --dead --seq and the
	// running service's table take it.
	out, err = runCLI(t, "--offline", "events", "dead")
	var seqs []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n")[1:] {
		seqs = append(seqs, strings.Fields(line)[0])
	}
	slices.Sort(seqs) // listed in the order they were dead-lettered, which the workers choose
	if err != nil || strings.Join(seqs, ",") != "2,3" {
		t.Fatalf("events dead: sequences %v, want the events' 2,3: %v\n%s", seqs, err, out)
	}
	if !strings.Contains(out, "members table missing") {
		t.Fatalf("dead letter lacks the last error: %s", out)
	}
	out, err = runCLI(t, "--offline", "events", "replay", "--dead")
	if err != nil || !strings.Contains(out, "replayed 2 event(s)") {
		t.Fatalf("replay --dead: %v\n%s", err, out)
	}
	out, _ = runCLI(t, "--offline", "events", "dead", "--json")
	if strings.TrimSpace(out) != "" {
		t.Fatalf("dead letters left after replay: %s", out)
	}
	out, err = runCLI(t, "--offline", "events", "list", "--json")
	if err != nil || strings.Count(out, "\n") != 5 {
		t.Fatalf("the replayed events are not in the stream: %v\n%s", err, out)
	}
	// A dead letter replayed already is no error, and says so; a sequence
	// without one says what it is.
	out, err = runCLI(t, "--offline", "events", "replay", "--dead", "--seq", "2")
	if err != nil || !strings.Contains(out, "replayed 0 event(s)\nalready replayed, not run again (another replay took their dead letters): 2\n") {
		t.Fatalf("replay --dead --seq of a dead letter replayed already: %v\n%s", err, out)
	}
	for seq, want := range map[string]string{
		"1":   "nothing replayed: event 1 is not a dead letter: it is stored without one (processed or pending). --dead --seq takes the SEQ of a dead letter",
		"999": "nothing replayed: there is no event 999 (never stored, past the retention, or not an event). --dead --seq takes",
	} {
		if out, err = runCLI(t, "--offline", "events", "replay", "--dead", "--seq", seq); err == nil || !strings.Contains(err.Error(), want) ||
			!strings.Contains(err.Error(), "leave --dead out: imcallback events replay --seq "+seq) {
			t.Fatalf("replay --dead --seq %s: %v, want %q\n%s", seq, err, want, out)
		}
	}
	out, err = runCLI(t, "--offline", "events", "replay", "--seq", "1", "--seq", "999")
	if err != nil || !strings.Contains(out, "replayed 1 event(s)") || !strings.Contains(out, "999") {
		t.Fatalf("replay --seq: %v\n%s", err, out)
	}
	if _, err := runCLI(t, "--offline", "events", "replay"); err == nil {
		t.Fatal("replay without a selection accepted")
	}
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 20s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestEventsWithoutStreamsNamesThem runs the events commands on a data
// directory where the service never stored anything: the error names the
// work stream and its dead-letter stream.
// They read: the data directory is left as it was, without an event log.
func TestEventsWithoutStreamsNamesThem(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("IMCALLBACK_DATA_DIR", dir)
	t.Setenv("IMCALLBACK_STREAM", "ORDERS")
	for _, args := range [][]string{{"--offline", "events", "list"}, {"--offline", "events", "dead"}} {
		_, err := runCLI(t, args...)
		if err == nil || !strings.Contains(err.Error(), "stream ORDERS or ORDERS_DEAD does not exist here") ||
			!strings.Contains(err.Error(), "IMCALLBACK_DELIVERY=durable") {
			t.Errorf("%s: error = %v, want one naming both streams", strings.Join(args, " "), err)
		}
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("the commands left %v in the data directory", left)
	}
}

// TestTopicsOfflineCreateNoStore: reading the topics of a data directory
// that holds none is an error that says so, not an empty list from a new,
// empty store left behind.
func TestTopicsOfflineCreateNoStore(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "typo")
	t.Setenv("IMCALLBACK_DATA_DIR", dir)
	for _, args := range [][]string{{"--offline", "topics", "list"}, {"--offline", "topics", "get", "@TGS#_g@TOPIC#_t"}} {
		if _, err := runCLI(t, args...); err == nil || !strings.Contains(err.Error(), "no topic store at") {
			t.Errorf("%s: error = %v, want one saying there is no topic store", strings.Join(args, " "), err)
		}
	}
	if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the data directory was created: %v", err)
	}
}

// TestCommandsTalkToTheRunningService runs the runbook's commands against
// a running durable service over its admin API: while the service holds
// the embedded store, nothing else could open it.
func TestCommandsTalkToTheRunningService(t *testing.T) {
	var fixed atomic.Bool
	svc := imtest.Start(t, []string{"IMCALLBACK_MAX_DELIVERIES=1", "IMCALLBACK_BACKOFF=10ms", "IMCALLBACK_ADMIN_TOKEN=adm"},
		delivery.Module, topicsync.Module,
		fx.Provide(dispatcher.AsCommand(func() dispatcher.Command {
			return dispatcher.After("Group.CallbackAfterNewMemberJoin", func(context.Context, *dispatcher.Event[struct{}]) error {
				if !fixed.Load() {
					return errors.New("members table missing")
				}
				return nil
			})
		})))
	t.Setenv("IMCALLBACK_ADMIN_TOKEN", "adm")
	admin := []string{"--admin", svc.AdminURL}
	cli := func(args ...string) (string, error) {
		return runCLI(t, append(append([]string{}, admin...), args...)...)
	}
	body, _ := imtest.Sample("Group.CallbackAfterNewMemberJoin")
	if res := svc.Send(t, "Group.CallbackAfterNewMemberJoin", body); !res.OK() {
		t.Fatalf("callback: %d %s", res.Status, res.Body)
	}
	topic, _ := imtest.SampleWith("Group.CallbackAfterCreateTopic", map[string]any{"TopicId": "@TGS#_g@TOPIC#_cli"})
	svc.Send(t, "Group.CallbackAfterCreateTopic", topic)
	waitFor(t, func() bool {
		out, _ := cli("events", "dead")
		return strings.Contains(out, "members table missing")
	})
	out, err := cli("events", "list")
	if err != nil || !strings.Contains(out, "Group.CallbackAfterNewMemberJoin") || !strings.Contains(out, "dead") {
		t.Fatalf("events list: %v\n%s", err, out)
	}
	if out, err = cli("events", "get", "1"); err != nil || !strings.Contains(out, `"body"`) || !strings.Contains(out, `"params"`) {
		t.Fatalf("events get: %v\n%s", err, out)
	}
	if out, err = cli("delivery", "pause"); err != nil || !strings.Contains(out, "delivery paused") {
		t.Fatalf("delivery pause: %v\n%s", err, out)
	}
	if out, err = cli("delivery", "resume"); err != nil || !strings.Contains(out, "delivery running") {
		t.Fatalf("delivery resume: %v\n%s", err, out)
	}
	fixed.Store(true)
	if out, err = cli("events", "replay", "--dead"); err != nil || !strings.Contains(out, "replayed 1 event(s)") {
		t.Fatalf("events replay --dead: %v\n%s", err, out)
	}
	if out, err = cli("events", "dead", "--json"); err != nil || !strings.Contains(out, `"dead_letters": []`) {
		t.Fatalf("events dead after the replay: %v\n%s", err, out)
	}
	// The copy names its original, in the API and in the table.
	var page struct {
		Events []delivery.EventInfo `json:"events"`
	}
	if out, err = cli("events", "list", "--json", "--limit", "1"); err != nil || json.Unmarshal([]byte(out), &page) != nil ||
		len(page.Events) != 1 || page.Events[0].ReplayOf != "IMCALLBACK:1" || page.Events[0].LastError != "" {
		t.Fatalf("events list --json after the replay: %v\n%s", err, out)
	}
	if out, err = cli("events", "list"); err != nil || !strings.Contains(out, "REPLAY OF") || !strings.Contains(out, "IMCALLBACK:1") {
		t.Fatalf("events list after the replay: %v\n%s", err, out)
	}
	// A cut list names its next page, and --before-seq fetches it.
	var first struct {
		Events []delivery.EventInfo `json:"events"`
		Next   uint64               `json:"next_before_seq"`
	}
	if out, err = cli("events", "list", "--json", "--limit", "1"); err != nil || json.Unmarshal([]byte(out), &first) != nil || first.Next == 0 {
		t.Fatalf("events list --json --limit 1: %v\n%s", err, out)
	}
	next := strconv.FormatUint(first.Next, 10)
	if out, err = cli("events", "list", "--limit", "1"); err != nil || !strings.Contains(out, "--before-seq "+next) {
		t.Fatalf("events list --limit 1 does not name the next page (--before-seq %s): %v\n%s", next, err, out)
	}
	var older struct {
		Events []delivery.EventInfo `json:"events"`
	}
	if out, err = cli("events", "list", "--json", "--before-seq", next); err != nil || json.Unmarshal([]byte(out), &older) != nil || len(older.Events) == 0 {
		t.Fatalf("events list --before-seq %s: %v\n%s", next, err, out)
	}
	for _, e := range older.Events {
		if e.Seq >= first.Next {
			t.Errorf("events list --before-seq %s listed seq %d", next, e.Seq)
		}
	}
	if out, err = cli("events", "list", "--json"); err != nil || !strings.Contains(out, `"last_error": ""`) {
		t.Fatalf("events list --json: every event has last_error: %v\n%s", err, out)
	}
	waitFor(t, func() bool {
		out, _ := cli("topics", "list", "--json")
		return strings.Contains(out, "@TGS#_g@TOPIC#_cli")
	})
	if out, err = cli("topics", "get", "@TGS#_g@TOPIC#_cli"); err != nil || !strings.Contains(out, `"topic_id": "@TGS#_g@TOPIC#_cli"`) {
		t.Fatalf("topics get: %v\n%s", err, out)
	}
	t.Setenv("IMCALLBACK_ADMIN_TOKEN", "wrong")
	if _, err := cli("events", "dead"); err == nil || !strings.Contains(err.Error(), "HTTP 401") {
		t.Fatalf("a wrong admin token: %v", err)
	}
}

// TestCommandsSayWhenNothingAnswers: one line that says what to do.
func TestCommandsSayWhenNothingAnswers(t *testing.T) {
	addr := imtest.FreeAddr(t) // nothing listens there
	for _, tc := range []struct {
		args    []string
		offline bool // whether the command works on a stopped service, so the line suggests --offline
	}{
		{[]string{"events", "list"}, true},
		{[]string{"topics", "list"}, true},
		{[]string{"delivery", "status"}, false},
		{[]string{"delivery", "pause"}, false},
		{[]string{"events", "get", "1"}, false},
	} {
		_, err := runCLI(t, append([]string{"--admin", "http://" + addr}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), "no imcallback service answers there") ||
			strings.Contains(err.Error(), "--offline") != tc.offline || strings.Count(err.Error(), "\n") != 0 {
			t.Errorf("%v: %v", tc.args, err)
		}
	}
}

// TestOnlineCommandsRefuseOffline: the workers, and one event's body, are
// reached through a running service; with --offline, delivery and events
// get say so and call nobody.
func TestOnlineCommandsRefuseOffline(t *testing.T) {
	var called atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { called.Store(true) }))
	defer srv.Close()
	for _, tt := range []struct {
		args []string
		want error
	}{
		{[]string{"delivery", "status"}, errDeliveryOffline},
		{[]string{"delivery", "pause"}, errDeliveryOffline},
		{[]string{"delivery", "resume", "--command", "Group.CallbackAfterCreateTopic"}, errDeliveryOffline},
		{[]string{"events", "get", "1"}, errEventsGetOffline},
	} {
		_, err := runCLI(t, append([]string{"--offline", "--admin", srv.URL}, tt.args...)...)
		if !errors.Is(err, tt.want) {
			t.Errorf("%v: %v, want %v", tt.args, err, tt.want)
		}
	}
	if called.Load() {
		t.Error("delivery --offline called the admin API")
	}
}

// TestDeliveryRefusesAnEmptyCommand: delivery pause or resume with an empty
// --command (an unset shell variable) fails and calls nobody, rather than
// pausing or resuming all delivery.
func TestDeliveryRefusesAnEmptyCommand(t *testing.T) {
	var called atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { called.Store(true) }))
	defer srv.Close()
	for _, args := range [][]string{
		{"delivery", "pause", "--command", ""},
		{"delivery", "resume", "--command", ""},
		{"delivery", "pause", "--command", " "},
	} {
		if _, err := runCLI(t, append([]string{"--admin", srv.URL}, args...)...); !errors.Is(err, errEmptyCommand) {
			t.Errorf("%q: %v, want %v", args, err, errEmptyCommand)
		}
	}
	if called.Load() {
		t.Error("delivery with an empty --command called the admin API")
	}
}

// TestDeliveryStatusQuotesCommands: a command name with a control
// character (a forwarded command is whatever the callback named) is quoted
// in the table, so it cannot forge a row or send an escape sequence to the
// terminal.
func TestDeliveryStatusQuotesCommands(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"state":"running","paused_commands":[],"commands":[`+
			`{"command":"A.B\u001b[2J\nFAKE\trunning","state":"running","pending":1,"dead_letters":0}]}`)
	}))
	defer srv.Close()
	out, err := runCLI(t, "--admin", srv.URL, "delivery", "status")
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(out, "\x1b") || strings.Count(out, "\n") != 3 || !strings.Contains(out, `"A.B\x1b[2J\nFAKE\trunning"`) {
		t.Fatalf("the command is not quoted:\n%q", out)
	}
}

// TestDeliveryStatusQuotesTheState: the state on the table's first line
// is quoted as the commands' cells are: --admin may name a proxy or
// another service that answers JSON with a "state", and a control
// character in it must not reach the terminal raw.
func TestDeliveryStatusQuotesTheState(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"state":"running\u001b]0;owned\u0007\nFAKE","paused_commands":[],"commands":[]}`)
	}))
	defer srv.Close()
	out, err := runCLI(t, "--admin", srv.URL, "delivery", "status")
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(out, "\x1b\x07") || strings.Count(out, "\n") != 1 || !strings.Contains(out, `"running\x1b]0;owned\a\nFAKE"`) {
		t.Fatalf("the state is not quoted:\n%q", out)
	}
}

// TestDeliveryStatusShowsDeadLettersWithoutACommand: the dead letters of
// stream messages without a command (no events), which the service keeps
// out of the commands' lines, are shown under the table, not dropped.
func TestDeliveryStatusShowsDeadLettersWithoutACommand(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"state":"running","paused_commands":[],"commands":[`+
			`{"command":"A.B","state":"running","pending":1,"dead_letters":0}],"dead_letters_without_command":2}`)
	}))
	defer srv.Close()
	out, err := runCLI(t, "--admin", srv.URL, "delivery", "status")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "2 dead letters without a command") {
		t.Errorf("the dead letters without a command are not shown:\n%s", out)
	}
}

// TestSlowServiceIsNotCalledStopped: a service that takes the request but
// answers late is running; the error says the operation may still be under
// way, and never suggests --offline on its data directory.
func TestSlowServiceIsNotCalledStopped(t *testing.T) {
	srv := hangingServer(t)
	a := &adminClient{base: srv.URL, http: &http.Client{Timeout: hangTimeout}}
	err := a.call(context.Background(), http.MethodPost, "/v1/events/replay", map[string]any{"dead": true}, nil)
	if !errors.Is(err, errSlow) || errors.Is(err, errNotRunning) || strings.Contains(err.Error(), "--offline") ||
		!strings.Contains(err.Error(), "may still be running") {
		t.Errorf("a slow answer: %v", err)
	}
}

// TestEventsListNextPageKeepsTheStart: the line under a cut `events list
// --since 1h` names the next page with the time that hour began when the
// service answered (by its Date): given again with --since 1h minutes
// later, the next page would start later and leave out the oldest events
// the first one selected.
func TestEventsListNextPageKeepsTheStart(t *testing.T) {
	var asked []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked = append(asked, r.URL.Query().Get("since"))
		w.Header().Set("Date", "Fri, 04 Dec 2026 16:00:00 GMT")
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"events":[{"seq":9,"command":"C2C.CallbackAfterSendMsg","app_id":"1400000000","state":"processed"}],"next_before_seq":9}`)
	}))
	defer srv.Close()
	for _, tt := range []struct {
		since, want string
	}{
		{"1h", "the next page: --since 2026-12-04T15:00:00Z --before-seq 9"},
		{"90m", "the next page: --since 2026-12-04T14:30:00Z --before-seq 9"},
		{"2026-12-04T10:00:00+08:00", "the next page: --since 2026-12-04T10:00:00+08:00 --before-seq 9"},
		{"", "the next page: --before-seq 9)"},
	} {
		t.Run(tt.since, func(t *testing.T) {
			args := []string{"--admin", srv.URL, "events", "list"}
			if tt.since != "" {
				args = append(args, "--since", tt.since)
			}
			out, err := runCLI(t, args...)
			if err != nil || !strings.Contains(out, tt.want) {
				t.Errorf("events list %q: %v\n%s\nwant the hint %q", args, err, out, tt.want)
			}
			if got := asked[len(asked)-1]; got != tt.since {
				t.Errorf("the service was asked for since=%q, want %q", got, tt.since)
			}
		})
	}
}

// TestEventsListShortPageNamesTheNextPage: the service answers a page
// with fewer events than --limit, or none, when it read as much of the log
// as a page reads before filling it; its next_before_seq is not 0 then.
// The table does not read as the whole selection: the line under it says
// that older events may match and names the next page.
func TestEventsListShortPageNamesTheNextPage(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Query().Get("before_seq") == "" {
			fmt.Fprint(w, `{"events":[],"next_before_seq":50001}`)
			return
		}
		fmt.Fprint(w, `{"events":[{"seq":9,"command":"C2C.CallbackAfterSendMsg","app_id":"1400000001","state":"processed"}],"next_before_seq":0}`)
	}))
	defer srv.Close()
	out, err := runCLI(t, "--admin", srv.URL, "events", "list", "--command", "C2C.CallbackAfterSendMsg")
	want := "none shown: older events may match; the next page: --command C2C.CallbackAfterSendMsg --before-seq 50001"
	if err != nil || !strings.Contains(out, want) {
		t.Errorf("an empty page with a next one: %v\n%s\nwant the hint %q", err, out, want)
	}
	out, err = runCLI(t, "--admin", srv.URL, "events", "list", "--command", "C2C.CallbackAfterSendMsg", "--before-seq", "50001")
	if err != nil || !strings.Contains(out, "1400000001") || strings.Contains(out, "next page") {
		t.Errorf("the last page: %v\n%s", err, out)
	}
}

// TestNewestEventSeqFollowsShortPages: the newest event's sequence, which
// a replay by sequence sent in several requests sends none past, is read
// from GET /v1/events?limit=1; a page the service answers with no event
// while next_before_seq is not 0 (it read as much of the log as a page
// reads) does not mean there is none: the CLI asks for the next page.
func TestNewestEventSeqFollowsShortPages(t *testing.T) {
	var asked []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked = append(asked, r.URL.RawQuery)
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Query().Get("before_seq") {
		case "":
			fmt.Fprint(w, `{"events":[],"next_before_seq":100001}`)
		case "100001":
			fmt.Fprint(w, `{"events":[],"next_before_seq":50001}`)
		default:
			fmt.Fprint(w, `{"events":[{"seq":42}],"next_before_seq":42}`)
		}
	}))
	defer srv.Close()
	a := &adminClient{base: srv.URL, http: &http.Client{Timeout: time.Minute}}
	seq, err := newestEventSeq(context.Background(), a)
	if err != nil || seq != 42 {
		t.Errorf("the newest event: %d, %v, want 42 (asked %q)", seq, err, asked)
	}
}

// TestAnswerOverTheReadLimit: an answer of the admin API longer than the
// command line reads (an event whose body is near IMCALLBACK_BODY_LIMIT's
// 64 MiB, its characters escaped) was cut there and taken for an answer
// that is not the admin API's, sending the operator to check --admin. The
// error now says the answer is too long.
func TestAnswerOverTheReadLimit(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"seq":5,"body":"`)
		_, _ = io.Copy(w, io.LimitReader(zeros{}, maxAnswer))
		_, _ = io.WriteString(w, `"}`)
	}))
	defer srv.Close()
	a := &adminClient{base: srv.URL, http: &http.Client{Timeout: time.Minute}}
	var ev json.RawMessage
	err := a.call(context.Background(), http.MethodGet, "/v1/events/5", nil, &ev)
	if err == nil || strings.Contains(err.Error(), "not the admin API") || !strings.Contains(err.Error(), "64 MiB") {
		t.Errorf("an answer over the read limit: %v", err)
	}
}

// zeros reads as an endless run of '0'.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = '0'
	}
	return len(p), nil
}

// TestSlowAnswerOfAnUnboundedRequestNamesNoLimit: a request that waits for
// its answer however long it takes (a replay by filter) has no time limit
// of the client's, so a timeout of its connection's (TCP keep-alive, a
// transport's) must not be told as "did not answer within 0s".
func TestSlowAnswerOfAnUnboundedRequestNamesNoLimit(t *testing.T) {
	srv := hangingServer(t)
	a := &adminClient{base: srv.URL, http: &http.Client{Timeout: time.Minute,
		Transport: &http.Transport{ResponseHeaderTimeout: 50 * time.Millisecond}}}
	err := a.untilDone().call(context.Background(), http.MethodPost, "/v1/events/replay", map[string]any{"dead": true}, nil)
	if !errors.Is(err, errSlow) || !strings.Contains(err.Error(), "may still be running") || strings.Contains(err.Error(), "within 0s") {
		t.Errorf("a connection that timed out while the answer was awaited: %v", err)
	}
}

// TestUnreachableAdminIsNotCalledSlow: a connection that is never made (a
// mistyped address or a firewall that drops it, or a TLS handshake that
// never completes) sent nothing, so the error must not say that the
// service took the request and may still be running it, nor give the
// client's time limit (0s for a replay that waits for its answer) as how
// long it waited.
func TestUnreachableAdminIsNotCalledSlow(t *testing.T) {
	dialTimeout := func(context.Context, string, string) (net.Conn, error) {
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: os.ErrDeadlineExceeded} // as net.Dialer's Timeout ends a dial
	}
	// A listener that accepts and never answers: a TLS handshake with it
	// never completes.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted := make(chan struct{})
	go func() {
		defer close(accepted)
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	defer func() {
		silent.Close()
		<-accepted
	}()
	for _, tt := range []struct {
		name      string
		base      string
		timeout   time.Duration
		transport *http.Transport
	}{
		{"dial timeout", "http://192.0.2.1:9090", time.Minute, &http.Transport{DialContext: dialTimeout}},
		{"dial timeout, a request that waits for its answer", "http://192.0.2.1:9090", 0, &http.Transport{DialContext: dialTimeout}},
		{"TLS handshake timeout", "https://" + silent.Addr().String(), time.Minute, &http.Transport{TLSHandshakeTimeout: 50 * time.Millisecond}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := &adminClient{base: tt.base, onlineOnly: true, http: &http.Client{Timeout: tt.timeout, Transport: tt.transport}}
			err := a.call(context.Background(), http.MethodPost, "/v1/events/replay", map[string]any{"dead": true}, nil)
			if err == nil || errors.Is(err, errSlow) || strings.Contains(err.Error(), "may still be running") ||
				!errors.Is(err, errNotRunning) || !strings.Contains(err.Error(), tt.base) {
				t.Errorf("a connection never made: %v", err)
			}
		})
	}
}

// fakeReplayAPI is an admin API's replay route that, like the real one,
// reads at most 1 MiB of body: it answers every sequence divisible by
// 1,000 as missing and the others as replayed, and fails request failAt
// (1-based; 0: none) with HTTP 500.
type fakeReplayAPI struct {
	failAt   int
	mu       sync.Mutex
	requests int
	maxBody  int
	seqs     int
	dead     []bool // each request's dead flag
	// end is the work stream's last sequence, which each copy a replay by
	// sequence appends raises; 0: every sequence is stored, none appended.
	end uint64
	// noEvents makes GET /v1/events list none (no event under the current
	// subject prefix).
	noEvents bool
}

// streamEnd is the last sequence of the fake's work stream.
func (f *fakeReplayAPI) streamEnd() uint64 {
	if f.end == 0 {
		return math.MaxUint64
	}
	return f.end
}

func (f *fakeReplayAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, msg string) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
	}
	if r.Method == http.MethodGet && r.URL.Path == "/v1/events" && r.URL.Query().Get("limit") == "1" {
		f.mu.Lock()
		end := f.streamEnd()
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		events := []map[string]any{{"seq": end}}
		if f.noEvents {
			events = []map[string]any{}
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"events": events, "next_before_seq": 0})
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != "/v1/events/replay" {
		fail(http.StatusNotFound, "Not Found")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		fail(http.StatusRequestEntityTooLarge, "the body is over 1048576 bytes")
		return
	}
	var req struct {
		Seqs []uint64 `json:"seqs"`
		Dead bool     `json:"dead"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || len(req.Seqs) == 0 {
		fail(http.StatusBadRequest, fmt.Sprintf("bad body: %v", err))
		return
	}
	f.mu.Lock()
	f.requests++
	n := f.requests
	f.maxBody = max(f.maxBody, len(body))
	f.seqs += len(req.Seqs)
	f.dead = append(f.dead, req.Dead)
	f.mu.Unlock()
	if n == f.failAt {
		fail(http.StatusServiceUnavailable, "stream unavailable")
		return
	}
	f.mu.Lock()
	end := f.streamEnd() // as the service, the stream's end when the request began
	res := replayAnswer{}
	for _, s := range req.Seqs {
		if s%1000 == 0 || s > end {
			res.Missing = append(res.Missing, s)
		} else {
			res.Replayed++
			if f.end != 0 {
				// The copy is appended to the work stream; a dead letter's
				// copy of an event that keeps failing is dead-lettered again.
				f.end++
			}
		}
	}
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(res)
}

// TestReplayBySeqFitsTheBodyLimit replays ranges far longer than one
// request of the admin API holds (1 MiB): the CLI sends them in batches,
// adds their answers up as one request's, and stops at the first failure
// saying how far it got.
func TestReplayBySeqFitsTheBodyLimit(t *testing.T) {
	const top = "18446744073709551615" // the longest sequences there are
	tests := []struct {
		name         string
		args         []string
		failAt       int
		seqs         int // sequences sent
		requests     int
		dead         bool
		wantErr      []string // nil: success
		wantOut      []string
		wantNotInOut []string
	}{
		{"one sequence", []string{"--seq", "5"}, 0, 1, 1, false, nil, []string{"replayed 1 event(s)\n"}, []string{"not in the stream"}},
		{"the issue's range", []string{"--seq", "1-200000"}, 0, 200000, 40, false, nil,
			[]string{"replayed 199800 event(s)\n", "not replayed, not in the stream (expired or deleted, past its last sequence when the replay began, or not an event): 1000, 2000, ", ", 199000, 200000\n"}, nil},
		{"twenty-digit sequences", []string{"--seq", "18446744073709000000-" + top}, 0, 551616, 111, false, nil,
			[]string{"replayed 551064 event(s)\n"}, nil},
		{"dead letters of a range", []string{"--dead", "--seq", "1-60000"}, 0, 60000, 12, true, nil,
			[]string{"replayed 59940 event(s)\n"}, nil},
		{"nothing replayed is an error", []string{"--seq", "1000,2000"}, 0, 2, 1, false,
			[]string{"nothing replayed"}, []string{"replayed 0 event(s)\n", "not in the stream (expired or deleted, past its last sequence when the replay began, or not an event): 1000, 2000\n"}, nil},
		{"no dead letter of the events is an error", []string{"--dead", "--seq", "3000"}, 0, 1, 1, true,
			[]string{"nothing replayed"}, []string{"replayed 0 event(s)\n"}, nil},
		{"a failing request", []string{"--seq", "1-200000"}, 3, 15000, 3, false,
			[]string{"events replay stopped at request 3 of 40 (5000 sequence(s), 10001–15000)", "HTTP 503: stream unavailable",
				"the 2 request(s) before it replayed 9990 event(s)", "190000 sequence(s) from this request on are not known to be replayed: --seq 10001-200000"},
			[]string{"replayed 9990 event(s)\n"}, nil},
		{"the first of several fails", []string{"--seq", "1-200000"}, 1, 5000, 1, false,
			[]string{"request 1 of 40", "the 0 request(s) before it replayed 0 event(s)"}, nil, []string{"replayed"}},
		{"an empty --seq selects nothing, not everything", []string{"--seq", ","}, 0, 0, 0, false,
			[]string{"--seq selects no sequence"}, nil, []string{"replayed"}},
		{"an empty --seq with --dead", []string{"--dead", "--seq", ""}, 0, 0, 0, false,
			[]string{"--seq selects no sequence"}, nil, []string{"replayed"}},
		{"an empty --since with a command", []string{"--command", "Group.CallbackAfterCreateTopic", "--since", ""}, 0, 0, 0, false,
			[]string{"--since is empty"}, nil, []string{"replayed"}},
		{"an empty --command with a time", []string{"--since", "1h", "--command", ""}, 0, 0, 0, false,
			[]string{"--command is empty"}, nil, []string{"replayed"}},
		{"an empty --command with --dead", []string{"--dead", "--command", " "}, 0, 0, 0, false,
			[]string{"--command is empty"}, nil, []string{"replayed"}},
		{"sequences left apart are named apart", []string{"--seq", "1-5000", "--seq", "20000", "--seq", "90000"}, 1, 5000, 1, false,
			[]string{"request 1 of 2", "5002 sequence(s) from this request on are not known to be replayed: --seq 1-5000,20000,90000"}, nil, []string{"replayed"}},
		{"a single request fails as it is", []string{"--seq", "1-10"}, 1, 10, 1, false,
			[]string{"POST /v1/events/replay: HTTP 503: stream unavailable"}, nil, []string{"request 1 of 1", "replayed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := &fakeReplayAPI{failAt: tt.failAt}
			srv := httptest.NewServer(api)
			defer srv.Close()
			out, err := runCLI(t, append([]string{"--admin", srv.URL, "events", "replay"}, tt.args...)...)
			if tt.wantErr == nil && err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			for _, w := range tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("error %v lacks %q", err, w)
				}
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%.2000s", w, out)
				}
			}
			for _, w := range tt.wantNotInOut {
				if strings.Contains(out, w) {
					t.Errorf("output has %q:\n%.2000s", w, out)
				}
			}
			if api.requests != tt.requests || api.seqs != tt.seqs {
				t.Errorf("%d requests with %d sequences, want %d with %d", api.requests, api.seqs, tt.requests, tt.seqs)
			}
			if api.maxBody > adminBodyLimit {
				t.Errorf("a body of %d bytes", api.maxBody)
			}
			for i, d := range api.dead {
				if d != tt.dead {
					t.Errorf("request %d: dead %v, want %v", i+1, d, tt.dead)
				}
			}
		})
	}
}

// TestReplayOfSeveralRequestsEndsWhereTheStreamEndedWhenItBegan: a --seq
// range reaching past the work stream's end, sent in several requests,
// replays the events stored when the replay began. Each request once
// found, past the end, the copies the requests before it had appended
// (the first request's copies of 1-5000 at 7001-12000 for the second to
// replay again), ran those events again and counted them replayed.
func TestReplayOfSeveralRequestsEndsWhereTheStreamEndedWhenItBegan(t *testing.T) {
	for _, args := range [][]string{
		{"--seq", "1-12000"},
		{"--dead", "--seq", "1-12000"}, // the copies of events that keep failing are dead-lettered again
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			api := &fakeReplayAPI{end: 7000}
			srv := httptest.NewServer(api)
			defer srv.Close()
			out, err := runCLI(t, append([]string{"--admin", srv.URL, "events", "replay"}, args...)...)
			if err != nil {
				t.Fatalf("%v\n%.2000s", err, out)
			}
			if !strings.Contains(out, "replayed 6993 event(s)\n") || !strings.Contains(out, ", 6000, 7000-12000\n") {
				t.Errorf("replay of 1-12000 with the stream ending at 7000: want 6993 replayed (7000 less the 7 the service misses) "+
					"and 7001-12000 missing:\n%.3000s", out)
			}
			if api.seqs != 7000 {
				t.Errorf("%d sequences sent, want the 7000 stored when the replay began", api.seqs)
			}
		})
	}
	// No event listed (none under the current subject prefix, while the
	// sequences may hold events of an earlier one): every sequence is sent.
	api := &fakeReplayAPI{noEvents: true}
	srv := httptest.NewServer(api)
	defer srv.Close()
	if out, err := runCLI(t, "--admin", srv.URL, "events", "replay", "--seq", "1-12000"); err != nil || api.seqs != 12000 {
		t.Errorf("with no event listed: %d sequences sent, want 12000; %v\n%.500s", api.seqs, err, out)
	}
}

func TestSeqRuns(t *testing.T) {
	many := make([]uint64, 0, 60)
	for i := range uint64(60) {
		many = append(many, 2*i) // 60 runs of one
	}
	tests := []struct {
		seqs []uint64
		want string
	}{
		{[]uint64{7}, "7"},
		{[]uint64{1, 2, 3, 5000, 20000, 90000, 90001}, "1-3,5000,20000,90000-90001"},
		{many, "0,2,4,6,8,10,12,14,16,18,20,22,24,26,28,30,32,34,36,38,40,42,44,46,48,50,52,54,56,58," +
			"60,62,64,66,68,70,72,74,76,78,80,82,84,86,88,90,92,94,96,98 and 10 more run(s)"},
	}
	for _, tt := range tests {
		if got := seqRuns(tt.seqs); got != tt.want {
			t.Errorf("seqRuns(%v) = %q, want %q", tt.seqs, got, tt.want)
		}
	}
}

// TestReplayBatchFitsTheBodyLimit: replayBatch of the longest sequences
// fits the admin API's body limit.
func TestReplayBatchFitsTheBodyLimit(t *testing.T) {
	size := func(n int) int {
		seqs := make([]uint64, n)
		for i := range seqs {
			seqs[i] = math.MaxUint64
		}
		b, err := json.Marshal(map[string]any{"seqs": seqs, "dead": true})
		if err != nil {
			t.Fatal(err)
		}
		return len(b)
	}
	if got := size(replayBatch); got > adminBodyLimit {
		t.Errorf("%d sequences: %d bytes, over %d", replayBatch, got, adminBodyLimit)
	}
}

func TestAdminBase(t *testing.T) {
	tests := []struct {
		in, want string
		wantErr  string // "": accepted
	}{
		{"http://127.0.0.1:9090", "http://127.0.0.1:9090", ""},
		{"https://admin.example.com/imcallback/", "https://admin.example.com/imcallback", ""},
		{"127.0.0.1:9090", "http://127.0.0.1:9090", ""},
		{"localhost:9090", "http://localhost:9090", ""},
		{"[::1]:9090", "http://[::1]:9090", ""},
		{" admin.internal ", "http://admin.internal", ""},
		{"localhost:abc", "", `--admin "localhost:abc": invalid port ":abc" after host; give the admin listener's URL, e.g. http://127.0.0.1:9090, or its host:port`},
		{"ftp://127.0.0.1:9090", "", "the scheme must be http or https"},
		{":9090", "", "no host"},
		{"http://", "", "no host"},
		{"http://127.0.0.1:9090?x=1", "", "a query or fragment"},
		// A query may carry a proxy's credential (access_token=): never shown,
		// whichever mistake the error is about.
		{"http://127.0.0.1:9090/?access_token=secret", "", `"http://127.0.0.1:9090/?[redacted]": a query or fragment`},
		{"http://127.0.0.1:9090/#token=secret", "", `"http://127.0.0.1:9090/#[redacted]": a query or fragment`},
		{"ftp://127.0.0.1:9090/?token=secret", "", `"ftp://127.0.0.1:9090/?[redacted]": the scheme must be http or https`},
		{"localhost:abc?token=secret", "", `"localhost:abc?[redacted]": invalid port`},
		{"http://admin:secret@127.0.0.1:9090/?token=secret", "", `"http://[redacted]@127.0.0.1:9090/?[redacted]": a user and password`},
		// An empty query or fragment would send every request to the root path.
		{"http://127.0.0.1:9090?", "", "a query or fragment"},
		{"http://127.0.0.1:9090/#", "", "a query or fragment"},
		// No user belongs there: a user info is named by none of its parts,
		// which may be the admin token itself, put in the URL.
		{"http://secret@127.0.0.1:9090", "", `"http://[redacted]@127.0.0.1:9090": a user and password`},
		{"http://secret:@127.0.0.1:9090", "", `"http://[redacted]@127.0.0.1:9090": a user and password`},
		{"secret@127.0.0.1:9090/?token=secret", "", `"http://[redacted]@127.0.0.1:9090/?[redacted]": a user and password`},
		{"http://secret@127.0.0.1:abc", "", `"http://[redacted]@127.0.0.1:abc": invalid port`},
		{"http://admin:secret@127.0.0.1:9090", "", `"http://[redacted]@127.0.0.1:9090": a user and password`},
		// A URL that does not parse is named with its password redacted too.
		{"http://admin:secret%zz@127.0.0.1:9090", "", `"http://[redacted]@127.0.0.1:9090": invalid URL escape`},
		// Its password is redacted before its query: a '?' in the password
		// does not leave the password's start shown.
		{"http://admin:pw-start?rest@127.0.0.1:9090", "", `"http://[redacted]@127.0.0.1:9090": invalid port ":[redacted]" after host`},
	}
	for _, tt := range tests {
		got, err := adminBase("--admin", tt.in)
		switch {
		case tt.wantErr == "" && (err != nil || got != tt.want):
			t.Errorf("adminBase(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "--admin")):
			t.Errorf("adminBase(%q) = %q, %v; want an error with %q", tt.in, got, err, tt.wantErr)
		case err != nil && strings.Contains(err.Error(), "secret"):
			t.Errorf("adminBase(%q): the error shows the password: %v", tt.in, err)
		}
	}
}

// TestAdminTakesHostPort: --admin and IMCALLBACK_ADMIN_URL take host:port
// as http://host:port, and a bad value names where it came from.
func TestAdminTakesHostPort(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"state":"running","paused_commands":[],"commands":[]}`)
	}))
	defer srv.Close()
	hostPort := strings.TrimPrefix(srv.URL, "http://")
	if out, err := runCLI(t, "--admin", hostPort, "delivery", "status"); err != nil || !strings.Contains(out, "delivery running") {
		t.Errorf("--admin %s: %v\n%s", hostPort, err, out)
	}
	t.Setenv("IMCALLBACK_ADMIN_URL", hostPort)
	if out, err := runCLI(t, "delivery", "status"); err != nil || !strings.Contains(out, "delivery running") {
		t.Errorf("IMCALLBACK_ADMIN_URL=%s: %v\n%s", hostPort, err, out)
	}
	t.Setenv("IMCALLBACK_ADMIN_URL", "localhost:port")
	if _, err := runCLI(t, "delivery", "status"); err == nil || !strings.HasPrefix(err.Error(), `IMCALLBACK_ADMIN_URL "localhost:port": `) {
		t.Errorf("a bad IMCALLBACK_ADMIN_URL: %v", err)
	}
}

// TestAdminWithAWrongPath: --admin with a path the admin listener does not
// serve under got the admin API's "HTTP 404: Not Found" with no hint, and
// topics list said the service had no topic module. The error names the
// URL asked and says that --admin is the base URL, scheme://host:port.
func TestAdminWithAWrongPath(t *testing.T) {
	svc := imtest.Start(t, []string{"IMCALLBACK_DELIVERY=inline"}, topicsync.Module)
	admin := svc.AdminURL + "/admin"
	for _, tt := range []struct {
		args  []string
		tried string
	}{
		{[]string{"events", "list"}, admin + "/v1/events"},
		{[]string{"delivery", "status"}, admin + "/v1/delivery"},
		{[]string{"topics", "list"}, admin + "/v1/topics"},
		{[]string{"topics", "get", "@TGS#_g@TOPIC#_x"}, admin + "/v1/topics"},
		{[]string{"health"}, admin + "/healthz"},
	} {
		_, err := runCLI(t, append([]string{"--admin", admin}, tt.args...)...)
		if err == nil {
			t.Errorf("%v: no error", tt.args)
			continue
		}
		if errors.Is(err, errNoTopicModule) || errors.Is(err, topicsync.ErrNotFound) {
			t.Errorf("%v: a wrong --admin path taken for a missing module or topic: %v", tt.args, err)
		}
		for _, want := range []string{"HTTP 404", tt.tried, "--admin", "scheme://host:port"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%v: the error does not say %q:\n%v", tt.args, want, err)
			}
		}
	}
}

// TestTopicsWithoutTheTopicModule: against a service built without
// topicsync.Module, topics list and get say so instead of "HTTP 404: Not
// Found" or "topic not found"; with the module, a missing topic is still
// topicsync.ErrNotFound.
func TestTopicsWithoutTheTopicModule(t *testing.T) {
	bare := imtest.Start(t, []string{"IMCALLBACK_DELIVERY=inline"})
	topics := imtest.Start(t, []string{"IMCALLBACK_DELIVERY=inline"}, topicsync.Module)
	for _, tt := range []struct {
		name, admin string
		args        []string
		want        error
	}{
		{"list without the module", bare.AdminURL, []string{"topics", "list"}, errNoTopicModule},
		{"list --all without the module", bare.AdminURL, []string{"topics", "list", "--all", "--json"}, errNoTopicModule},
		{"get without the module", bare.AdminURL, []string{"topics", "get", "@TGS#_g@TOPIC#_x"}, errNoTopicModule},
		{"get a missing topic", topics.AdminURL, []string{"topics", "get", "@TGS#_g@TOPIC#_x"}, topicsync.ErrNotFound},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := runCLI(t, append([]string{"--admin", tt.admin}, tt.args...)...)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if tt.want == errNoTopicModule && (!strings.Contains(err.Error(), bare.AdminURL) || !strings.Contains(err.Error(), "topicsync.Module")) {
				t.Errorf("err = %v: want the address and the module's name", err)
			}
		})
	}
	if out, err := runCLI(t, "--admin", topics.AdminURL, "topics", "list"); err != nil || !strings.Contains(out, "TOPIC ID") {
		t.Errorf("topics list with the module: %v\n%s", err, out)
	}
}

// TestEventsDeadNoteOfACutList: the note under a cut list offers a larger
// --limit only while one is possible; at --limit 10000, the most the
// service lists, it points at --offline, which lists them all.
func TestEventsDeadNoteOfACutList(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"dead_letters":[{"seq":7,"command":"Group.CallbackAfterCreateTopic","app_id":"1400000000","failed_at":"2026-01-02T03:04:05Z","deliveries":3,"last_error":"boom"}],"total":12000,"truncated":true}`)
	}))
	defer srv.Close()
	tests := []struct {
		name    string
		args    []string
		want    string
		notWant string
	}{
		{"the default limit", nil,
			"(the oldest 1 of 12000 dead letters shown: --limit shows up to 10000, --offline lists them all; events replay --dead replays them all)\n", ""},
		{"a limit below the most", []string{"--limit", "9999"}, "--limit shows up to 10000, --offline lists them all;", ""},
		{"the most", []string{"--limit", "10000"},
			"(the oldest 1 of 12000 dead letters shown, the most the running service lists: --offline lists them all; events replay --dead replays them all)\n",
			"--limit shows"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := runCLI(t, append([]string{"--admin", srv.URL, "events", "dead"}, tt.args...)...)
			if err != nil || !strings.Contains(out, tt.want) || (tt.notWant != "" && strings.Contains(out, tt.notWant)) {
				t.Errorf("%v\n%s\nwant %q", err, out, tt.want)
			}
		})
	}
}

// TestEventsDeadSaysWhenTheListIsCut: against the running service, events
// dead asks for --limit dead letters (1000 unless given) and, when the
// service has more, says how many it shows of how many and how to see more.
func TestEventsDeadSaysWhenTheListIsCut(t *testing.T) {
	var mu sync.Mutex
	var queries []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/dead-letters" {
			http.NotFound(w, r)
			return
		}
		mu.Lock()
		queries = append(queries, r.URL.RawQuery)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Query().Get("limit") == "5000" {
			fmt.Fprint(w, `{"dead_letters":[{"seq":7,"command":"Group.CallbackAfterCreateTopic","app_id":"1400000000","failed_at":"2026-01-02T03:04:05Z","deliveries":3,"last_error":"boom"},`+
				`{"seq":8,"command":"Group.CallbackAfterCreateTopic","app_id":"1400000000","failed_at":"2026-01-02T03:04:06Z","deliveries":3,"last_error":"boom"}],"total":2}`)
			return
		}
		fmt.Fprint(w, `{"dead_letters":[{"seq":7,"command":"Group.CallbackAfterCreateTopic","app_id":"1400000000","failed_at":"2026-01-02T03:04:05Z","deliveries":3,"last_error":"boom"}],"total":2,"truncated":true}`)
	}))
	defer srv.Close()

	out, err := runCLI(t, "--admin", srv.URL, "events", "dead")
	if err != nil || !strings.Contains(out, "boom") || !strings.Contains(out, "(the oldest 1 of 2 dead letters shown: --limit shows up to 10000") {
		t.Errorf("events dead of a cut list: %v\n%s", err, out)
	}
	out, err = runCLI(t, "--admin", srv.URL, "events", "dead", "--limit", "5000")
	if err != nil || strings.Count(out, "boom") != 2 || strings.Contains(out, "shown") {
		t.Errorf("events dead --limit 5000 of the whole list: %v\n%s", err, out)
	}
	out, err = runCLI(t, "--admin", srv.URL, "events", "dead", "--json")
	var res struct {
		DeadLetters []delivery.DeadLetterInfo `json:"dead_letters"`
		Total       int                       `json:"total"`
		Truncated   bool                      `json:"truncated"`
	}
	if err != nil || json.Unmarshal([]byte(out), &res) != nil || len(res.DeadLetters) != 1 || res.Total != 2 || !res.Truncated {
		t.Errorf("events dead --json of a cut list: %v\n%s", err, out)
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"limit=1000", "limit=5000", "limit=1000"}; !slices.Equal(queries, want) {
		t.Errorf("the queries were %q, want %q", queries, want)
	}
}

// TestEventTablesEscapeLastErrors: a handler's error may span lines
// (errors.Join) or quote what IM's users wrote; the events and dead-letter
// tables show it in one cell, quoted, never as rows or escape sequences.
func TestEventTablesEscapeLastErrors(t *testing.T) {
	const lastError = "topic: boom\nx\t1400000009\tforged\x1b]0;owned\x07\x1b[2J\u202e"
	lastJSON, _ := json.Marshal(lastError)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/v1/events":
			fmt.Fprintf(w, `{"events":[{"seq":7,"command":"Group.CallbackAfterCreateTopic","app_id":"1400000000","received_at":"2026-01-02T03:04:05Z","state":"dead","request_id":"r1","last_error":%s}]}`, lastJSON)
		case "/v1/dead-letters":
			fmt.Fprintf(w, `{"dead_letters":[{"seq":7,"command":"Group.CallbackAfterCreateTopic","app_id":"1400000000","failed_at":"2026-01-02T03:04:05Z","deliveries":3,"last_error":%s}],"total":1}`, lastJSON)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	for _, cmd := range []string{"list", "dead"} {
		out, err := runCLI(t, "--admin", srv.URL, "events", cmd)
		if err != nil {
			t.Fatalf("events %s: %v\n%s", cmd, err, out)
		}
		if lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n"); len(lines) != 2 {
			t.Errorf("events %s: %d lines, want a header and one row:\n%s", cmd, len(lines), out)
		}
		if strings.ContainsAny(out, "\x1b\x07\u202e\t") {
			t.Errorf("events %s: a control or format character reached the terminal:\n%q", cmd, out)
		}
		if !strings.Contains(out, `"topic: boom\nx\t1400000009`) {
			t.Errorf("events %s: the error is not shown quoted:\n%s", cmd, out)
		}
	}
}

// TestAdminAnswersThatAreNotTheAPIs: what answers at --admin may be no
// imcallback service (a proxy's error page, a login page, another
// server). The error stays one line of bounded length without control
// characters, whatever the body, and a 2xx answer that is not the API's
// JSON is named as such, with the address, rather than as a bare JSON
// syntax error (or Go's account of the struct it was decoded into).
func TestAdminAnswersThatAreNotTheAPIs(t *testing.T) {
	page := "<html>\n<h1>502 Bad Gateway</h1>\x1b[2J\x1b]0;owned\x07\n" + strings.Repeat("x", 100_000) + "</html>\n"
	tests := []struct {
		name   string
		status int
		body   string
		want   []string
	}{
		{"a proxy's error page", http.StatusBadGateway, page, []string{"HTTP 502", "502 Bad Gateway"}},
		{"a login page", http.StatusOK, "<html>\n<form>login</form>\n</html>", []string{"HTTP 200", "not the admin API's JSON", "text/html", "login"}},
		{"another server's JSON", http.StatusOK, `["not", "an", "object"]`, []string{"HTTP 200", "not the admin API's JSON"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "text/html")
				w.WriteHeader(tt.status)
				fmt.Fprint(w, tt.body)
			}))
			defer srv.Close()
			for _, args := range [][]string{{"events", "list"}, {"delivery", "status"}, {"health"}} {
				out, err := runCLI(t, append([]string{"--admin", srv.URL}, args...)...)
				if err == nil {
					t.Fatalf("%v: no error\n%s", args, out)
				}
				msg := err.Error()
				if strings.ContainsAny(msg, "\n\x1b\x07") || len(msg) > 1000 {
					t.Errorf("%v: want one line of at most 1000 bytes without control characters, got %d bytes:\n%q", args, len(msg), msg)
				}
				want := tt.want
				if tt.status == http.StatusOK {
					want = append(want, srv.URL) // which server answered so
				}
				for _, w := range want {
					if !strings.Contains(msg, w) {
						t.Errorf("%v: the error does not say %q:\n%q", args, w, msg)
					}
				}
			}
		})
	}
}

// TestAnEmptyObjectIsNotTheAPIsAnswer: any 200 whose body was a JSON
// object was taken as the admin API's, so a `{}` from something else (a
// proxy's stub, another service) made health print an empty line and exit
// 0, events replay say "replayed 0 event(s)" and delivery status
// "delivery " with no state. Each command now names the field the admin
// API's answer has, and what answered.
func TestAnEmptyObjectIsNotTheAPIsAnswer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, "{}")
	}))
	defer srv.Close()
	for _, tt := range []struct {
		args  []string
		field string
	}{
		{[]string{"health"}, `"status"`},
		{[]string{"health", "--ready"}, `"status"`},
		{[]string{"events", "list"}, `"events"`},
		{[]string{"events", "dead"}, `"dead_letters"`},
		{[]string{"events", "get", "1"}, `"seq"`},
		{[]string{"events", "replay", "--seq", "1"}, `"replayed"`},
		{[]string{"events", "replay", "--dead"}, `"replayed"`},
		{[]string{"delivery", "status"}, `"state"`},
		{[]string{"delivery", "pause"}, `"state"`},
		{[]string{"topics", "list"}, `"topics"`},
		{[]string{"topics", "get", "@TGS#_1@TOPIC#_2"}, `"topic_id"`},
	} {
		out, err := runCLI(t, append([]string{"--admin", srv.URL}, tt.args...)...)
		if err == nil {
			t.Errorf("%v: a {} answer was taken as the admin API's:\n%q", tt.args, out)
			continue
		}
		for _, want := range []string{"not the admin API's JSON", tt.field, srv.URL} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%v: the error does not say %q:\n%v", tt.args, want, err)
			}
		}
	}
}

// deadReplayAPI answers POST /v1/events/replay with {"dead":true,"seqs":…}
// from outcome (each sequence's: "replayed", "already" or anything else,
// missing), and GET /v1/events/<seq> from state (absent: a 404).
type deadReplayAPI struct {
	outcome map[uint64]string
	state   map[uint64]string
}

func (f deadReplayAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if r.Method == http.MethodGet {
		seq, _ := strconv.ParseUint(strings.TrimPrefix(r.URL.Path, "/v1/events/"), 10, 64)
		st, ok := f.state[seq]
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			_ = json.NewEncoder(w).Encode(map[string]string{"error": fmt.Sprintf("event %d not found (never stored, or past the retention)", seq)})
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"seq": seq, "state": st})
		return
	}
	var req struct {
		Seqs []uint64 `json:"seqs"`
		Dead bool     `json:"dead"`
	}
	_ = json.NewDecoder(r.Body).Decode(&req)
	res := replayAnswer{}
	for _, s := range req.Seqs {
		switch f.outcome[s] {
		case "replayed":
			res.Replayed++
		case "already":
			res.AlreadyReplayed = append(res.AlreadyReplayed, s)
		default:
			res.Missing = append(res.Missing, s)
		}
	}
	_ = json.NewEncoder(w).Encode(res)
}

// TestReplayOfEveryDeadLetterSaysHowManyAListLeftOut: events replay
// --dead prints the lists of the service's answer, and how many more there
// were when it cut them (missing_count, already_replayed_count).
func TestReplayOfEveryDeadLetterSaysHowManyAListLeftOut(t *testing.T) {
	tests := []struct {
		name, answer string
		want         []string
	}{
		{"whole lists", `{"replayed":5,"missing":[3],"already_replayed":[7,8]}`, []string{
			"replayed 5 event(s)\n",
			"already replayed, not run again (another replay took their dead letters): 7, 8\n",
			"not replayed, no dead letter (`events dead` lists the dead letters): 3\n",
		}},
		{"cut lists", `{"replayed":5,"missing":[3],"missing_count":4,"already_replayed":[7,8],"already_replayed_count":10}`, []string{
			"already replayed, not run again (another replay took their dead letters): 7, 8 and 8 more\n",
			"not replayed, no dead letter (`events dead` lists the dead letters): 3 and 3 more\n",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				_, _ = io.WriteString(w, tt.answer)
			}))
			defer srv.Close()
			out, err := runCLI(t, "--admin", srv.URL, "events", "replay", "--dead")
			if err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			for _, want := range tt.want {
				if !strings.Contains(out, want) {
					t.Errorf("output lacks %q:\n%s", want, out)
				}
			}
		})
	}
}

// TestReplayDeadSaysWhatASequenceIs: events replay --dead --seq N with no
// dead letter of N fails saying what N is (a processed or pending event,
// or no event at all) and what to use instead; a dead letter another
// replay took already (a second click) is no error, and says so.
func TestReplayDeadSaysWhatASequenceIs(t *testing.T) {
	api := deadReplayAPI{
		outcome: map[uint64]string{10: "replayed", 11: "already", 12: "already"},
		state:   map[uint64]string{1: "processed", 2: "pending", 10: "dead"},
	}
	srv := httptest.NewServer(api)
	defer srv.Close()
	const howTo = "--dead --seq takes the SEQ of a dead letter as `imcallback events dead` lists it; " +
		"to run a stored event again whether it failed or not, leave --dead out: imcallback events replay --seq "
	tests := []struct {
		name    string
		seqs    string
		wantErr []string // nil: success
		wantOut []string
	}{
		// processed is also an event whose dead letter a replay took before
		// (its copy may have failed again, dead-lettered under the copy's
		// own SEQ): the error must not say its handler succeeded.
		{"a processed event", "1", []string{"nothing replayed: event 1 is not a dead letter: it is processed (its handler succeeded, " +
			"or its dead letter was replayed or removed before: a replayed copy that failed again has a dead letter of its own, " +
			"under the copy's SEQ in `imcallback events dead`). ", howTo + "1"},
			[]string{"replayed 0 event(s)\n", "not replayed, no dead letter (`events dead` lists the dead letters): 1\n"}},
		// pending is every event above the consumer's ack floor that is not
		// dead: one processed after an older event still waiting is too.
		{"a pending event", "2", []string{"event 2 is not a dead letter: it is pending (not processed yet, waiting for a retry, " +
			"or processed while an older event still waits: every event above the consumer's ack floor shows pending)", howTo + "2"}, nil},
		{"no event", "99", []string{"there is no event 99 (never stored, past the retention, or not an event)", howTo + "99"}, nil},
		{"several", "1,2,99,100,101", []string{"event 1 is not", "event 2 is not", "no event 99", "and 2 more sequence(s) without a dead letter", howTo + "1-2,99-101"}, nil},
		{"replayed already: a second click", "11", nil,
			[]string{"replayed 0 event(s)\n", "already replayed, not run again (another replay took their dead letters): 11\n"}},
		{"replayed already, and none", "12,99", nil, []string{"already replayed, not run again (another replay took their dead letters): 12\n", "no dead letter (`events dead` lists the dead letters): 99\n"}},
		{"replayed, and none", "10,99", nil, []string{"replayed 1 event(s)\n", "no dead letter (`events dead` lists the dead letters): 99\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := runCLI(t, "--admin", srv.URL, "events", "replay", "--dead", "--seq", tt.seqs)
			if tt.wantErr == nil && err != nil {
				t.Fatalf("%v\n%s", err, out)
			}
			if tt.wantErr != nil && !errors.Is(err, errNothingReplayed) {
				t.Errorf("error %v is not errNothingReplayed", err)
			}
			for _, w := range tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("error %v lacks %q", err, w)
				}
			}
			for _, w := range tt.wantOut {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

// TestReplayByFilterWaitsForItsAnswer: a replay by filter or of every dead
// letter is one request, which the service answers when the replay is done:
// one of a large selection takes minutes (some 4,000 events a second, fewer
// while the workers run the copies). The client's time limit (60 s) ended it
// as "may still be running there", and its closed connection stopped the
// replay part way, so what was replayed was known to no one. It waits for
// the answer now (Ctrl-C still ends it); here the limit is shorter than any
// answer.
func TestReplayByFilterWaitsForItsAnswer(t *testing.T) {
	var got []string // the bodies the service received
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, string(body))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"replayed":170000}`)
	}))
	defer srv.Close()
	for _, tt := range []struct {
		name, since, command string
		dead                 bool
	}{
		{"since", "24h", "", false},
		{"since and a command", "24h", "Group.CallbackAfterCreateTopic", false},
		{"every dead letter", "", "", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := &adminClient{base: srv.URL, http: &http.Client{Timeout: time.Nanosecond}} // past before any answer
			var out bytes.Buffer
			if err := remoteReplay(context.Background(), &out, io.Discard, a, false, nil, tt.command, tt.since, tt.dead); err != nil {
				t.Fatalf("replay: %v", err)
			}
			if !strings.Contains(out.String(), "replayed 170000 event(s)") {
				t.Errorf("output %q, want the answer's count", out.String())
			}
			if a.http.Timeout != time.Nanosecond {
				t.Errorf("the client's limit became %v: the other commands keep theirs", a.http.Timeout)
			}
		})
	}
	if len(got) != 3 {
		t.Errorf("the service received %d requests, want 3: %q", len(got), got)
	}
}

// TestRefusedAdminTokenSaysWhatToSet: the admin API's 401 tells a command
// line user what to set, IMCALLBACK_ADMIN_TOKEN, rather than the header to
// send, and tells a wrong token from a missing one, without showing it.
func TestRefusedAdminTokenSaysWhatToSet(t *testing.T) {
	svc := imtest.Start(t, []string{"IMCALLBACK_ADMIN_TOKEN=the-admin-token-0123456789"})
	const wrong = "not-the-admin-token-42"
	tests := []struct {
		name  string
		token string // IMCALLBACK_ADMIN_TOKEN of the command line
		want  []string
	}{
		{"no token", "", []string{"HTTP 401", "set IMCALLBACK_ADMIN_TOKEN", "the service's admin token"}},
		{"a wrong token", wrong, []string{"HTTP 401", "IMCALLBACK_ADMIN_TOKEN", "is not the service's admin token"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("IMCALLBACK_ADMIN_TOKEN", tt.token)
			for _, args := range [][]string{{"events", "list"}, {"delivery", "status"}, {"topics", "list"}} {
				_, err := runCLI(t, append([]string{"--admin", svc.AdminURL}, args...)...)
				if err == nil {
					t.Fatalf("%v: no error", args)
				}
				msg := err.Error()
				for _, w := range tt.want {
					if !strings.Contains(msg, w) {
						t.Errorf("%v: the error does not say %q:\n%s", args, w, msg)
					}
				}
				if strings.Contains(msg, "Authorization") || strings.Contains(msg, wrong) {
					t.Errorf("%v: the error names the header, or shows the token:\n%s", args, msg)
				}
			}
		})
	}
}

// TestAnswerOfAnotherListenerIsNamedSo: --admin at the callback listener
// (its 404 is the protocol's FAIL envelope) or at a proxy answering an
// empty 404 is no service without the topic module, nor an error to quote
// as it is: every command says that the answer is not the admin API's,
// and where to point --admin.
func TestAnswerOfAnotherListenerIsNamedSo(t *testing.T) {
	svc := imtest.Start(t, []string{"IMCALLBACK_DELIVERY=inline"}, topicsync.Module)
	empty := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNotFound)
	}))
	defer empty.Close()
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, "<html>\n<h1>Not Found</h1>\n</html>\n")
	}))
	defer page.Close()
	for _, tt := range []struct {
		name, admin string
	}{
		{"the callback listener", svc.PublicURL},
		{"an empty 404", empty.URL},
		// A page of several lines is quoted; what to do about it is not
		// part of the quote, as though the page had said it.
		{"a proxy's HTML 404", page.URL},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for _, args := range [][]string{{"topics", "list"}, {"topics", "get", "t1"}, {"events", "list"}, {"delivery", "status"}, {"health"}} {
				_, err := runCLI(t, append([]string{"--admin", tt.admin}, args...)...)
				if err == nil {
					t.Fatalf("%v: no error", args)
				}
				if errors.Is(err, errNoTopicModule) || errors.Is(err, topicsync.ErrNotFound) {
					t.Errorf("%v: another listener's 404 taken for the service's: %v", args, err)
				}
				for _, w := range []string{"HTTP 404", "not the admin API's", tt.admin, "--admin"} {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("%v: the error does not say %q:\n%v", args, w, err)
					}
				}
				if hint := ", not the admin API's answer: point --admin (IMCALLBACK_ADMIN_URL), now " + tt.admin + ", at the " +
					"imcallback admin listener (IMCALLBACK_ADMIN_LISTEN) or a proxy that reaches it"; !strings.HasSuffix(err.Error(), hint) {
					t.Errorf("%v: the error does not end with the hint, outside the answer's quote:\n%v", args, err)
				}
			}
		})
	}
	// The admin listener's own net/http answers a request past its header
	// limit itself: that is the right listener.
	_, err := runCLI(t, "--admin", svc.AdminURL, "topics", "get", strings.Repeat("t", 2<<20))
	if err == nil || !strings.Contains(err.Error(), "HTTP 431") || strings.Contains(err.Error(), "not the admin API's") {
		t.Errorf("a request past the header limit: %.300v", err)
	}
}

// TestStoppedReplayShowsItsProgressAsItStopped: the progress bar of a
// replay that stops part way (a failed request) stays where the replay
// stopped, rather than being drawn full, all sequences done, above the
// error saying most were not; its line is ended.
func TestStoppedReplayShowsItsProgressAsItStopped(t *testing.T) {
	drawn := drawsProgress
	drawsProgress = func(io.Writer) bool { return true } // a buffer for a terminal
	t.Cleanup(func() { drawsProgress = drawn })
	api := &fakeReplayAPI{failAt: 3}
	srv := httptest.NewServer(api)
	defer srv.Close()
	var out, progress bytes.Buffer
	root := newRootCmd(&out, &progress)
	root.SetArgs([]string{"--admin", srv.URL, "events", "replay", "--seq", "1-200000"})
	err := root.ExecuteContext(context.Background())
	if err == nil || !strings.Contains(err.Error(), "stopped at request 3 of 40") {
		t.Fatalf("err = %v, want the replay stopped at request 3", err)
	}
	bar := progress.String()
	if strings.Contains(bar, "(200000/200000)") || strings.Contains(bar, "100%") {
		t.Errorf("the bar of a stopped replay is drawn full:\n%q", bar)
	}
	if !strings.HasSuffix(bar, "\n") {
		t.Errorf("the bar's line is not ended:\n%q", bar)
	}
}

// TestReplayOfSeveralRequestsStopsOnInterrupt: Ctrl-C (SIGINT) during a
// replay by --seq that takes several requests ends it with the summary of
// the requests done and the --seq of those not known to be replayed,
// instead of killing the process with nothing printed. The test catches
// SIGINT itself too, so that without the handling the replay goes on
// (the held request is answered at the test's bound) instead of ending the
// test binary.
func TestReplayOfSeveralRequestsStopsOnInterrupt(t *testing.T) {
	raise := signalSelf(t)
	caught := make(chan os.Signal, 1)
	signal.Notify(caught, os.Interrupt)
	defer signal.Stop(caught)
	api := &fakeReplayAPI{}
	var seen atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPost && seen.Add(1) == 2 { // the second replay request
			// Read first: the server sees the client go only once the body is read.
			body, _ := io.ReadAll(r.Body)
			r.Body = io.NopCloser(bytes.NewReader(body))
			_ = raise(syscall.SIGINT)
			select { // the client gives up the request, or the bound
			case <-r.Context().Done():
				return
			case <-time.After(10 * time.Second):
			}
		}
		api.ServeHTTP(w, r)
	}))
	defer srv.Close()
	var out bytes.Buffer
	root := newRootCmd(&out, io.Discard)
	root.SetArgs([]string{"--admin", srv.URL, "events", "replay", "--seq", "1-200000"})
	err := root.ExecuteContext(context.Background())
	if !errors.Is(err, errInterrupted) {
		t.Fatalf("err = %v, want the replay interrupted", err)
	}
	for _, w := range []string{"stopped at request 2 of 40", "the 1 request(s) before it replayed 4995 event(s)", "--seq 5001-200000"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("the error does not say %q:\n%v", w, err)
		}
	}
	if !strings.Contains(out.String(), "replayed 4995 event(s)\n") {
		t.Errorf("no summary of the requests done:\n%s", out.String())
	}
}

// TestALongCommandFilterIsRefused: a --command longer than any command
// (a pasted file, a runaway variable) is refused as a bad filter by the
// running service's events list and replay, and by --offline's, rather
// than sent to NATS in a subject past its control line's limit, which
// closed the service's connection: callbacks were answered 503 until the
// embedded server was restarted.
func TestALongCommandFilterIsRefused(t *testing.T) {
	svc := imtest.Start(t, nil, delivery.Module, topicsync.Module)
	if res := svc.Send(t, "Group.CallbackAfterCreateTopic", mustSample(t, "Group.CallbackAfterCreateTopic")); !res.OK() {
		t.Fatalf("callback: %d %s", res.Status, res.Body) // a stream to read: an empty one is not scanned
	}
	long := strings.Repeat("Group.CallbackAfterCreateTopic", 200) // 6,000 bytes
	for _, args := range [][]string{
		{"events", "list", "--command", long},
		{"events", "replay", "--command", long},
		{"events", "replay", "--since", "1h", "--command", long},
	} {
		_, err := runCLI(t, append([]string{"--admin", svc.AdminURL}, args...)...)
		if err == nil || !strings.Contains(err.Error(), "HTTP 400") || !strings.Contains(err.Error(), "bad command filter") {
			t.Errorf("%v: err = %.300v, want a bad command filter", args[:2], err)
		}
	}
	if out, err := runCLI(t, "--admin", svc.AdminURL, "health", "--ready"); err != nil {
		t.Fatalf("the service is not ready after the long filters: %v\n%s", err, out)
	}
	body, _ := imtest.SampleWith("Group.CallbackAfterCreateTopic", map[string]any{"TopicId": "@TGS#_g@TOPIC#_after"})
	if res := svc.Send(t, "Group.CallbackAfterCreateTopic", body); !res.OK() {
		t.Fatalf("a callback after the long filters: %d %s", res.Status, res.Body)
	}
}

func mustSample(t *testing.T, command string) []byte {
	t.Helper()
	body, err := imtest.Sample(command)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// TestEventsHintsGoToStderr: the hint under a cut list of the running
// service (events list's next page, events dead's "oldest N of M") goes to
// stderr, as topics list's does, so that stdout carries only the table:
// `events list | awk`, `| sort`, `| wc -l` see no line that is not a row.
func TestEventsHintsGoToStderr(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/v1/events":
			fmt.Fprint(w, `{"events":[{"seq":9,"command":"Group.CallbackAfterCreateTopic","app_id":"1400000000","received_at":"2026-01-02T03:04:05Z","state":"processed"}],"next_before_seq":9}`)
		case "/v1/dead-letters":
			fmt.Fprint(w, `{"dead_letters":[{"seq":7,"command":"Group.CallbackAfterCreateTopic","app_id":"1400000000","failed_at":"2026-01-02T03:04:05Z","deliveries":3,"last_error":"boom"}],"total":2,"truncated":true}`)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	tests := []struct {
		name     string
		args     []string
		wantHint string
	}{
		{"events list", []string{"events", "list", "--limit", "1"}, "--before-seq 9"},
		{"events dead", []string{"events", "dead"}, "(the oldest 1 of 2 dead letters shown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			root := newRootCmd(&out, &errOut)
			root.SetArgs(append([]string{"--admin", srv.URL}, tt.args...))
			if err := root.ExecuteContext(context.Background()); err != nil {
				t.Fatal(err)
			}
			if strings.Contains(out.String(), "(") || strings.Count(out.String(), "\n") != 2 {
				t.Errorf("stdout holds more than the header and the row:\n%s", out.String())
			}
			if !strings.Contains(errOut.String(), tt.wantHint) {
				t.Errorf("stderr does not hold the hint %q:\n%s", tt.wantHint, errOut.String())
			}
		})
	}
}

// TestPauseWaitsForItsAnswer: a pause of all delivery answers once the
// running handlers have finished, up to IMCALLBACK_SHUTDOWN_TIMEOUT (at
// most an hour), and a resume once a pause's handlers have; the service
// answers past its write timeout for that. The client's time limit (60 s)
// ended such a pause as failed while it went on there. A pause or resume
// waits for its answer now (Ctrl-C still ends it), while the status keeps
// the limit; here the limit is shorter than any answer.
func TestPauseWaitsForItsAnswer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"state":"paused","paused_commands":[],"commands":[]}`)
	}))
	defer srv.Close()
	for _, path := range []string{"/v1/delivery/pause", "/v1/delivery/resume"} {
		a := &adminClient{base: srv.URL, http: &http.Client{Timeout: time.Nanosecond}} // past before any answer
		st, err := remoteDelivery(context.Background(), a, http.MethodPost, path, "")
		if err != nil || st.State != "paused" {
			t.Errorf("POST %s: %+v, %v; want the answer", path, st, err)
		}
		if a.http.Timeout != time.Nanosecond {
			t.Errorf("the client's limit became %v: the other commands keep theirs", a.http.Timeout)
		}
	}
	a := &adminClient{base: srv.URL, http: &http.Client{Timeout: time.Nanosecond}}
	if _, err := remoteDelivery(context.Background(), a, http.MethodGet, "/v1/delivery", ""); err == nil {
		t.Errorf("GET /v1/delivery answered past the client's limit: the status must keep it")
	}
}

// TestAnInterruptedOfflineCommandSaysSo: Ctrl-C (SIGINT) during an
// --offline events command ends it as an interruption, as it ends the
// commands that ask the running service, rather than with the bare
// "context canceled" of the stream read it cut short.
func TestAnInterruptedOfflineCommandSaysSo(t *testing.T) {
	raise := signalSelf(t)
	dir := t.TempDir()
	env := []string{"IMCALLBACK_DATA_DIR=" + dir, "IMCALLBACK_DELIVERY=durable"}
	svc := imtest.Start(t, env, delivery.Module)
	svc.App.RequireStop()
	setenvAll(t, env)
	// Without the handling, the test binary catches the signal instead of
	// dying of it, and the command ends at the test's bound.
	caught := make(chan os.Signal, 1)
	signal.Notify(caught, os.Interrupt)
	defer signal.Stop(caught)
	g := &globalFlags{}
	err := withEvents(context.Background(), g, io.Discard, func(ctx context.Context, _ *delivery.Events) error {
		_ = raise(syscall.SIGINT)
		select {
		case <-ctx.Done():
			return fmt.Errorf("reading the stream: %w", ctx.Err())
		case <-time.After(10 * time.Second):
			return errors.New("the signal did not end the command")
		}
	})
	if !errors.Is(err, errInterrupted) {
		t.Fatalf("err = %v, want the command interrupted", err)
	}
}

// TestOfflineEventsWriteToRunsStderr: an --offline events command logs
// the NATS warnings of its connection (here the embedded server's, of a
// body limit over 8 MiB) to the stderr given to Run, as every other
// command writes there. It logged them to the process's os.Stderr, past
// a program that embeds Run with writers of its own.
func TestOfflineEventsWriteToRunsStderr(t *testing.T) {
	dir := t.TempDir()
	env := []string{"IMCALLBACK_DATA_DIR=" + dir, "IMCALLBACK_DELIVERY=durable", "IMCALLBACK_BODY_LIMIT=16777216"}
	svc := imtest.Start(t, env, delivery.Module)
	svc.App.RequireStop()
	setenvAll(t, env)

	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	processStderr := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(r)
		processStderr <- string(b)
	}()
	saved := os.Stderr
	os.Stderr = w
	var out, errOut bytes.Buffer
	runErr := Run([]string{"--offline", "events", "list"}, &out, &errOut)
	os.Stderr = saved
	_ = w.Close()
	leaked := <-processStderr
	_ = r.Close()

	if runErr != nil {
		t.Fatalf("events list --offline: %v\n%s", runErr, errOut.String())
	}
	if !strings.Contains(errOut.String(), "Maximum payloads over") {
		t.Errorf("Run's stderr does not hold the embedded server's warning:\n%s", errOut.String())
	}
	if leaked != "" {
		t.Errorf("the command wrote to the process's stderr, not Run's:\n%s", leaked)
	}
}

// TestTheStoreInUseSuggestsAFreePort: --offline on the data directory of a
// running service suggested IMCALLBACK_NATS_LISTEN "e.g. 127.0.0.1:4222",
// NATS's own port, where another NATS server (a cluster's, a developer's)
// most likely listens already. The example names another port.
func TestTheStoreInUseSuggestsAFreePort(t *testing.T) {
	dir := t.TempDir()
	env := []string{"IMCALLBACK_DATA_DIR=" + dir, "IMCALLBACK_DELIVERY=durable"}
	imtest.Start(t, env, delivery.Module)
	setenvAll(t, env)
	_, err := runCLI(t, "--offline", "events", "list")
	if !errors.Is(err, delivery.ErrStoreInUse) {
		t.Fatalf("events list --offline beside the running service: %v, want the store in use", err)
	}
	m := regexp.MustCompile(`IMCALLBACK_NATS_LISTEN on it \(e\.g\. 127\.0\.0\.1:(\d+)\b`).FindStringSubmatch(err.Error())
	if m == nil {
		t.Fatalf("the error suggests no IMCALLBACK_NATS_LISTEN address: %v", err)
	}
	if port, _ := strconv.Atoi(m[1]); port == 4222 || port < 1024 {
		t.Errorf("the suggested port %d is NATS's own or a well-known one: %v", port, err)
	}
}

// TestReplaySummaryWritesRunsOfSequences: the summary of a replay names
// the sequences it did not replay as runs (N-M) and, past
// mostListedSeqs entries, says how many more there were. A range past the
// stream's end (`--seq 1-10000000` on a small stream) listed each of
// millions of sequences on one line, megabytes of output. Such sequences
// were never stored: the summary said every one was "not in the stream any
// more (expired or deleted)", sending the operator after a retention that
// had removed nothing.
func TestReplaySummaryWritesRunsOfSequences(t *testing.T) {
	spread := make([]uint64, 0, mostListedSeqs+5)
	for i := range uint64(mostListedSeqs + 5) {
		spread = append(spread, 10*i+1)
	}
	tests := []struct {
		name    string
		res     replayAnswer
		dead    bool
		want    string
		maxSize int
	}{
		{"singles and pairs stay", replayAnswer{Replayed: 1, Missing: []uint64{3, 7, 8}}, false,
			"not replayed, not in the stream (expired or deleted, past its last sequence when the replay began, or not an event): 3, 7, 8\n", 0},
		{"a run of three or more", replayAnswer{Missing: []uint64{1, 3, 4, 5, 9}}, true,
			"not replayed, no dead letter (`events dead` lists the dead letters): 1, 3-5, 9\n", 0},
		{"a long range", replayAnswer{Replayed: 1, Missing: seqRange(2, 10_000_000)}, false,
			"not replayed, not in the stream (expired or deleted, past its last sequence when the replay began, or not an event): 2-10000000\n", 200},
		{"too many entries", replayAnswer{Missing: spread}, false,
			fmt.Sprintf(", %d and 5 more\n", spread[mostListedSeqs-1]), 20 * mostListedSeqs},
		{"a cut list's count", replayAnswer{AlreadyReplayed: []uint64{4, 5, 6}, AlreadyReplayedCount: 10}, true,
			"already replayed, not run again (another replay took their dead letters): 4-6 and 7 more\n", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out strings.Builder
			printReplay(&out, tt.res, tt.dead)
			if !strings.Contains(out.String(), tt.want) {
				t.Fatalf("the summary lacks %q:\n%.500s", tt.want, out.String())
			}
			if tt.maxSize > 0 && out.Len() > tt.maxSize {
				t.Fatalf("the summary is %d bytes, more than %d", out.Len(), tt.maxSize)
			}
		})
	}
}

// seqRange is the sequences from first to last.
func seqRange(first, last uint64) []uint64 {
	out := make([]uint64, 0, last-first+1)
	for s := first; s <= last; s++ {
		out = append(out, s)
	}
	return out
}

// TestReplayDrawsNoProgressBarOffATerminal: a replay of several requests
// whose standard error is no terminal (a file, a pipe, a cron job's log)
// wrote the progress bar there all the same, a redraw every 100 ms, as
// send --repeat does not: only a terminal gets it.
func TestReplayDrawsNoProgressBarOffATerminal(t *testing.T) {
	api := &fakeReplayAPI{}
	srv := httptest.NewServer(api)
	defer srv.Close()
	var out, errOut bytes.Buffer
	root := newRootCmd(&out, &errOut)
	root.SetArgs([]string{"--admin", srv.URL, "events", "replay", "--seq", "1-20000"})
	if err := root.ExecuteContext(context.Background()); err != nil {
		t.Fatalf("%v\n%s", err, errOut.String())
	}
	if !strings.Contains(out.String(), "replayed ") {
		t.Fatalf("no summary: %q", out.String())
	}
	if errOut.Len() > 0 {
		t.Errorf("standard error, no terminal, got %q; want nothing", errOut.String())
	}
}

// TestEventsListOfflineNamesTheDestination: in gateway mode a callback is
// stored once per forward destination (and once for a Go handler); the
// offline list's COMMAND column names a copy's destination as the running
// service's list and both dead-letter lists do ("Command → destination"),
// so the copies of one callback do not read as the same event twice.
func TestEventsListOfflineNamesTheDestination(t *testing.T) {
	dest := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer dest.Close()
	dir := t.TempDir()
	env := []string{
		"IMCALLBACK_DATA_DIR=" + dir, "IMCALLBACK_DELIVERY=durable",
		"IMCALLBACK_FORWARD_URL=" + dest.URL + "/events", "IMCALLBACK_FORWARD_SECRET=whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ=",
		"IMCALLBACK_FORWARD_MATCH=Group.CallbackAfterNewMemberJoin",
	}
	svc := imtest.Start(t, env, delivery.Module)
	if res := svc.Send(t, "Group.CallbackAfterNewMemberJoin", []byte(`{"GroupId":"g1"}`)); !res.OK() {
		t.Fatalf("answer %s", res.Body)
	}
	svc.App.RequireStop()
	setenvAll(t, env)
	out, err := runCLI(t, "--offline", "events", "list")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "Group.CallbackAfterNewMemberJoin → default") {
		t.Fatalf("events list --offline:\n%s\nwant the copy's COMMAND naming its destination, Group.CallbackAfterNewMemberJoin → default", out)
	}
}

// TestOfflineCommandFilterInAnotherCase: --offline's --command, like the
// running service's, refuses a filter that selects no after-command as
// written but some in another case (command names are case-sensitive),
// naming their spelling: it listed no event and replayed none, exit 0, as
// if the command had no events.
func TestOfflineCommandFilterInAnotherCase(t *testing.T) {
	dir := t.TempDir()
	env := []string{"IMCALLBACK_DATA_DIR=" + dir, "IMCALLBACK_DELIVERY=durable"}
	svc := imtest.Start(t, env, delivery.Module, fx.Provide(dispatcher.AsCommand(func() dispatcher.Command {
		return dispatcher.After("Group.CallbackAfterNewMemberJoin", func(context.Context, *dispatcher.Event[struct{ GroupId string }]) error {
			return nil
		})
	})))
	if res := svc.Send(t, "Group.CallbackAfterNewMemberJoin", []byte(`{"GroupId":"g"}`)); !res.OK() {
		t.Fatalf("answer %s", res.Body)
	}
	svc.App.RequireStop()
	setenvAll(t, env)
	// Written as the catalogue writes it, the filter selects the event.
	out, err := runCLI(t, "--offline", "events", "list", "--command", "Group.CallbackAfterNewMemberJoin")
	if err != nil || strings.Count(out, "\n") != 2 {
		t.Fatalf("events list --command in its spelling: %v\n%s", err, out)
	}
	for _, args := range [][]string{
		{"--offline", "events", "list", "--command", "group.callbackafternewmemberjoin"},
		{"--offline", "events", "list", "--command", "group.*"},
		{"--offline", "events", "replay", "--command", "group.callbackafternewmemberjoin"},
		{"--offline", "events", "replay", "--since", "1h", "--command", "GROUP.CallbackAfterNewMemberJoin"},
	} {
		out, err := runCLI(t, args...)
		if !errors.Is(err, delivery.ErrBadFilter) || !strings.Contains(err.Error(), "case-sensitive") ||
			!strings.Contains(err.Error(), "Group.CallbackAfterNewMemberJoin") {
			t.Errorf("%v: %v, want a refusal naming the command's spelling\n%s", args, err, out)
		}
	}
	// Nothing was replayed by the refused filters.
	out, err = runCLI(t, "--offline", "events", "list")
	if err != nil || strings.Count(out, "\n") != 2 {
		t.Fatalf("events list after the refused replays: %v\n%s", err, out)
	}
}

// setenvAll sets each NAME=value of env for the test, so that an offline
// command reads the settings a service of the test ran with.
func setenvAll(t *testing.T, env []string) {
	t.Helper()
	for _, kv := range env {
		name, value, _ := strings.Cut(kv, "=")
		t.Setenv(name, value)
	}
}

// tableZoneChild, set, makes TestEventTablesPrintUTC the child that runs
// the command line of the JSON array of arguments it holds, in the local
// time zone its TZ names, and writes the output to the file named by
// tableZoneOut.
const (
	tableZoneChild = "IMCALLBACK_CLI_TEST_TABLE_ZONE_ARGS"
	tableZoneOut   = "IMCALLBACK_CLI_TEST_TABLE_ZONE_OUT"
)

// TestEventTablesPrintUTC: the events tables print their times in UTC,
// RFC 3339, against the running service and with --offline alike, on a
// machine whose local time zone is not UTC. --offline printed the stream's
// times in the local zone (+08:00 here) while the running service's table
// printed UTC. The command line runs in a child process with TZ set:
// time.Local is read by goroutines an embedded NATS server leaves behind,
// so this process's cannot be changed for one test.
func TestEventTablesPrintUTC(t *testing.T) {
	if args := os.Getenv(tableZoneChild); args != "" {
		tableZoneCLI(t, args)
		return
	}
	dir := t.TempDir()
	env := []string{"IMCALLBACK_DATA_DIR=" + dir, "IMCALLBACK_DELIVERY=durable", "IMCALLBACK_ADMIN_TOKEN=adm"}
	handled := make(chan struct{}, 1)
	svc := imtest.Start(t, env, delivery.Module, fx.Provide(dispatcher.AsCommand(func() dispatcher.Command {
		return dispatcher.After("Group.CallbackAfterNewMemberJoin", func(context.Context, *dispatcher.Event[struct{}]) error {
			handled <- struct{}{}
			return nil
		})
	})))
	setenvAll(t, env)
	body, _ := imtest.Sample("Group.CallbackAfterNewMemberJoin")
	if res := svc.Send(t, "Group.CallbackAfterNewMemberJoin", body); !res.OK() {
		t.Fatalf("callback: %d %s", res.Status, res.Body)
	}
	<-handled
	online := runInZone(t, "Asia/Shanghai", "--admin", svc.AdminURL, "events", "list")
	svc.App.RequireStop()
	offline := runInZone(t, "Asia/Shanghai", "--offline", "events", "list")
	for _, tt := range []struct{ name, table string }{{"running service", online}, {"--offline", offline}} {
		t.Run(tt.name, func(t *testing.T) {
			lines := strings.Split(strings.TrimSpace(tt.table), "\n")
			if len(lines) != 2 {
				t.Fatalf("want a header and one event:\n%s", tt.table)
			}
			stamp := strings.Fields(lines[1])[1]
			if _, err := time.Parse(time.RFC3339, stamp); err != nil || !strings.HasSuffix(stamp, "Z") {
				t.Errorf("time %q (%v), want RFC 3339 in UTC:\n%s", stamp, err, tt.table)
			}
		})
	}
}

// runInZone runs the command line of args in a child process whose TZ is
// zone, and returns its output.
func runInZone(t *testing.T, zone string, args ...string) string {
	t.Helper()
	encoded, err := json.Marshal(args)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out")
	cmd := exec.Command(os.Args[0], "-test.run=^TestEventTablesPrintUTC$")
	cmd.Env = append(os.Environ(), "TZ="+zone, tableZoneChild+"="+string(encoded), tableZoneOut+"="+out)
	if log, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %v\n%s", args, err, log)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// tableZoneCLI is TestEventTablesPrintUTC's child: it runs the command
// line of the JSON array args, in a time zone that must not be UTC.
func tableZoneCLI(t *testing.T, args string) {
	if _, offset := time.Now().Zone(); offset == 0 {
		t.Fatalf("TZ=%s left the local time zone at UTC", os.Getenv("TZ"))
	}
	var argv []string
	if err := json.Unmarshal([]byte(args), &argv); err != nil {
		t.Fatal(err)
	}
	out, err := runCLI(t, argv...)
	if err != nil {
		t.Fatalf("%v: %v\n%s", argv, err, out)
	}
	if err := os.WriteFile(os.Getenv(tableZoneOut), []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestSinceInDays: --since takes a duration as the configuration writes
// one, d for a day included, and the next page's --since of a list names
// the time such a duration named when the service answered, as it does
// for 1h: "1d" was refused, and read by nothing else.
func TestSinceInDays(t *testing.T) {
	answered := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		since, next string
		back        time.Duration
	}{
		{"1h", "--since 2026-12-07T11:00:00Z ", time.Hour},
		{"1d", "--since 2026-12-06T12:00:00Z ", 24 * time.Hour},
		{"1d12h", "--since 2026-12-06T00:00:00Z ", 36 * time.Hour},
	}
	for _, tt := range tests {
		f, err := eventFilter("", tt.since)
		if err != nil {
			t.Errorf("--since %s: %v", tt.since, err)
		} else if ago := time.Since(f.Since); ago < tt.back-time.Minute || ago > tt.back+time.Minute {
			t.Errorf("--since %s: since %v ago, want %v", tt.since, ago, tt.back)
		}
		if got := nextSince(tt.since, answered); got != tt.next {
			t.Errorf("nextSince(%q) = %q, want %q", tt.since, got, tt.next)
		}
	}
}
