package cli

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/spf13/cobra"
)

// TestGlobalFlagsThatDoNotApplyAreRefused: --admin and --offline are
// read by the commands that ask the running service (events, topics,
// delivery, health); any other command refuses them, naming the flag,
// instead of accepting and ignoring them (serve --offline ran the
// service; allowlist --admin read the local files all the same).
func TestGlobalFlagsThatDoNotApplyAreRefused(t *testing.T) {
	t.Setenv("IMCALLBACK_SDKAPPID", "1400000000")
	t.Setenv("IMCALLBACK_TOKENS", "t")
	t.Setenv("IMCALLBACK_DATA_DIR", t.TempDir())
	tests := []struct {
		args []string
		flag string
		// badConfig makes the command fail on its configuration should it
		// get that far: serve would otherwise start the service.
		badConfig bool
	}{
		{[]string{"--offline"}, "--offline", true},
		{[]string{"serve", "--offline"}, "--offline", true},
		{[]string{"serve", "--admin", "127.0.0.1:9090"}, "--admin", true},
		{[]string{"config", "check", "--offline"}, "--offline", false},
		{[]string{"config", "check", "--admin", "127.0.0.1:9090"}, "--admin", false},
		{[]string{"version", "--admin", "127.0.0.1:9090"}, "--admin", false},
		{[]string{"send", "--list", "--offline"}, "--offline", false},
		{[]string{"send", "--list", "--admin", "127.0.0.1:9090"}, "--admin", false},
		{[]string{"allowlist", "--offline"}, "--offline", false},
		{[]string{"allowlist", "--admin", "127.0.0.1:9090"}, "--admin", false},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			if tt.badConfig {
				t.Setenv("IMCALLBACK_BODY_LIMIT", "-1")
			}
			out, err := runCLI(t, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.flag+" does not apply") {
				t.Fatalf("%v; want an error saying %s does not apply\n%s", err, tt.flag, out)
			}
		})
	}
}

// TestOfflineRefusesTheRunningServicesPaging: --limit pages the running
// service's lists; --offline lists every event or dead letter, so a
// --limit there is refused (as --before-seq is), not ignored with the
// whole log printed.
func TestOfflineRefusesTheRunningServicesPaging(t *testing.T) {
	t.Setenv("IMCALLBACK_DATA_DIR", t.TempDir())
	for _, args := range [][]string{
		{"--offline", "events", "list", "--limit", "10"},
		{"--offline", "events", "dead", "--limit", "10"},
	} {
		out, err := runCLI(t, args...)
		if err == nil || !strings.Contains(err.Error(), "--limit") {
			t.Errorf("%v: %v; want a refusal naming --limit\n%s", args, err, out)
		}
	}
}

// TestAnEmptyAdminIsRefused: --admin "" (an unset shell variable, as in
// `--admin "$PROD_ADMIN" delivery pause`) fails and calls nobody, rather
// than falling back to IMCALLBACK_ADMIN_URL or the local admin listener and
// acting on another service than the one meant.
func TestAnEmptyAdminIsRefused(t *testing.T) {
	var called atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		called.Store(true)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"state":"paused","paused_commands":[],"commands":[],"status":"ok"}`)
	}))
	defer srv.Close()
	t.Setenv("IMCALLBACK_ADMIN_URL", srv.URL) // the fallback the empty flag must not reach
	for _, args := range [][]string{
		{"--admin", "", "delivery", "pause"},
		{"--admin=", "events", "replay", "--dead"},
		{"--admin", " ", "health"},
		{"events", "list", "--admin", ""},
	} {
		out, err := runCLI(t, args...)
		if err == nil || !strings.Contains(err.Error(), "--admin is empty") {
			t.Errorf("%q: %v; want a refusal of the empty --admin\n%s", args, err, out)
		}
	}
	if called.Load() {
		t.Error("a command with an empty --admin called the admin API")
	}
}

// TestAMiscasedAdminURLIsRefused: IMCALLBACK_admin_url, which the service
// notes as no setting but a client command prints no notes for, was
// ignored: `delivery pause` paused the local service, at the admin
// listener's address, instead of the one it named. It is refused, and the
// local service is not called; with IMCALLBACK_ADMIN_URL or --admin set, it
// is not in the way.
func TestAMiscasedAdminURLIsRefused(t *testing.T) {
	var called atomic.Bool
	local := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		called.Store(true)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"state":"paused","paused_commands":[],"commands":[],"status":"ok"}`)
	}))
	defer local.Close()
	t.Setenv("IMCALLBACK_ADMIN_LISTEN", strings.TrimPrefix(local.URL, "http://")) // the fallback it must not reach
	t.Setenv("IMCALLBACK_ADMIN_URL", "")
	t.Setenv("IMCALLBACK_admin_url", "http://127.0.0.1:1")
	out, err := runCLI(t, "delivery", "pause")
	if err == nil || !strings.Contains(err.Error(), "IMCALLBACK_admin_url is set, but the admin URL is read from IMCALLBACK_ADMIN_URL") {
		t.Errorf("delivery pause: %v; want a refusal naming IMCALLBACK_admin_url\n%s", err, out)
	}
	if called.Load() {
		t.Fatal("a command with IMCALLBACK_admin_url set called the local service")
	}
	for _, args := range [][]string{{"--admin", local.URL, "delivery", "pause"}, {"delivery", "pause"}} {
		if len(args) == 2 {
			t.Setenv("IMCALLBACK_ADMIN_URL", local.URL)
		}
		if out, err := runCLI(t, args...); err != nil || !called.Load() {
			t.Errorf("%q: %v, called %v; want the service named asked\n%s", args, err, called.Load(), out)
		}
		called.Store(false)
	}
}

// TestAnEmptyConfigIsRefused: --config "" (an unset shell variable, as in
// `--config "$PROD_CONFIG" events replay --dead`) fails and reads, asks
// and sends nothing, rather than going on with the IMCALLBACK_* variables
// alone: another service's admin listener, or a service started without
// the file's settings.
func TestAnEmptyConfigIsRefused(t *testing.T) {
	var called atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		called.Store(true)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"replayed":0}`)
	}))
	defer srv.Close()
	t.Setenv("IMCALLBACK_SDKAPPID", "1400000000")
	t.Setenv("IMCALLBACK_DATA_DIR", t.TempDir())
	t.Setenv("IMCALLBACK_ADMIN_URL", srv.URL) // where the variables alone lead
	for _, args := range [][]string{
		{"--config", "", "events", "replay", "--dead"},
		{"--config=", "config", "check"},
		{"--config", " ", "allowlist"},
		{"send", "--config", "", "--url", srv.URL, "--command", "Group.CallbackAfterCreateTopic", "--sample"},
		// serve fails on its configuration should it get that far.
		{"--config", "", "serve", "--dev"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			if args[len(args)-1] == "--dev" {
				t.Setenv("IMCALLBACK_BODY_LIMIT", "-1")
			}
			out, err := runCLI(t, args...)
			if err == nil || !strings.Contains(err.Error(), "--config is empty") {
				t.Errorf("%v; want a refusal of the empty --config\n%s", err, out)
			}
		})
	}
	if called.Load() {
		t.Error("a command with an empty --config called the admin API or sent a callback")
	}
}

// TestListLimitsAreCheckedBeforeAsking: events list and dead refuse a
// --limit the admin API would refuse, naming the flag and its range,
// before asking the service (whose answer named its query parameter);
// events list refuses --before-seq 0, the next_before_seq of the last
// page, which listed the newest events again (a script paging on it
// never ended).
func TestListLimitsAreCheckedBeforeAsking(t *testing.T) {
	var called atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { called.Store(true) }))
	defer srv.Close()
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"events", "list", "--limit", "0"}, "--limit must be from 1 to 1000"},
		{[]string{"events", "list", "--limit", "1001"}, "--limit must be from 1 to 1000"},
		{[]string{"events", "dead", "--limit", "-1"}, "--limit must be from 1 to 10000"},
		{[]string{"events", "dead", "--limit", "10001"}, "--limit must be from 1 to 10000"},
		{[]string{"events", "list", "--before-seq", "0"}, "--before-seq 0"},
	} {
		out, err := runCLI(t, append([]string{"--admin", srv.URL}, tt.args...)...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: %v; want %q\n%s", tt.args, err, tt.want, out)
		}
	}
	if called.Load() {
		t.Error("a --limit out of range or --before-seq 0 was sent to the admin API")
	}
}

// TestOfflineIsRefusedWhereItCannotWork: every command but the ones that
// read a stopped service's data (offlineCommands) refuses --offline with a
// message naming the flag, and asks no service and runs nothing; the
// commands that neither ask the running service nor have a message of
// their own name the commands that take it. A command added later is
// covered as it comes.
func TestOfflineIsRefusedWhereItCannotWork(t *testing.T) {
	var called atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { called.Store(true) }))
	defer srv.Close()
	t.Setenv("IMCALLBACK_ADMIN_URL", srv.URL)
	t.Setenv("IMCALLBACK_DATA_DIR", t.TempDir())
	args := map[string][]string{"events get": {"1"}} // the arguments a command needs to get as far as its checks
	var paths []string
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			walk(sub)
		}
		if c.Runnable() && !c.HasSubCommands() || !c.HasParent() {
			paths = append(paths, strings.TrimSpace(strings.TrimPrefix(c.CommandPath(), "imcallback")))
		}
	}
	var discard strings.Builder
	walk(newRootCmd(&discard, &discard))
	refused := 0
	for _, path := range paths {
		if top, _, _ := strings.Cut(path, " "); slices.Contains(offlineCommands, path) || top == "help" || top == "completion" {
			continue // cobra's help and completion take the flags of the command they are about (refuseServiceFlags)
		}
		t.Run(strings.TrimSpace("imcallback "+path), func(t *testing.T) {
			var out strings.Builder
			root := newRootCmd(&out, &out)
			ran := false
			var guard func(c *cobra.Command)
			guard = func(c *cobra.Command) { // nothing outside the commands that ask the service may run
				top := strings.Fields(strings.TrimPrefix(c.CommandPath(), "imcallback"))
				if c.RunE != nil && (len(top) == 0 || !slices.Contains(askTheService, top[0])) {
					c.RunE = func(*cobra.Command, []string) error { ran = true; return nil }
				}
				for _, sub := range c.Commands() {
					guard(sub)
				}
			}
			guard(root)
			root.SetArgs(append(append([]string{"--offline"}, strings.Fields(path)...), args[path]...))
			err := root.Execute()
			if ran || err == nil || !strings.Contains(err.Error(), "--offline does not apply") {
				t.Fatalf("ran %v, error %v; want a refusal saying --offline does not apply\n%s", ran, err, out.String())
			}
			top, _, _ := strings.Cut(path, " ")
			if !slices.Contains(askTheService, top) && !strings.Contains(err.Error(),
				"only events list, events dead, events replay, topics list and topics get take it") {
				t.Errorf("%v; want the commands that take --offline named", err)
			}
			refused++
		})
	}
	if refused < 8 { // serve, version, config check, allowlist, send, health, events get, delivery status/pause/resume
		t.Errorf("%d commands refused --offline; the walk found %q", refused, paths)
	}
	if called.Load() {
		t.Error("a command refusing --offline called the admin API")
	}
}

// TestAdminAndOfflineExcludeEachOther: a command that takes --offline
// refuses it beside --admin, which it would ignore: `--admin prod:9090
// events replay --offline --seq 5` replayed event 5 of the local data
// directory (or of IMCALLBACK_NATS_URL's cluster), not prod's. Nothing is
// asked or opened.
func TestAdminAndOfflineExcludeEachOther(t *testing.T) {
	var called atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { called.Store(true) }))
	defer srv.Close()
	dataDir := t.TempDir()
	t.Setenv("IMCALLBACK_DATA_DIR", dataDir)
	args := map[string][]string{"events replay": {"--seq", "5"}, "topics get": {"@TGS#_g@TOPIC#_t"}}
	for _, path := range offlineCommands {
		cmd := append(append(strings.Fields(path), args[path]...), "--offline", "--admin", srv.URL)
		_, err := runCLI(t, cmd...)
		if err == nil || !strings.Contains(err.Error(), "--admin and --offline") {
			t.Errorf("%v: %v, want a refusal of --admin beside --offline", cmd, err)
		}
	}
	if called.Load() {
		t.Error("a command given --offline called the admin API")
	}
	if entries, err := os.ReadDir(dataDir); err != nil || len(entries) > 0 {
		t.Errorf("the data directory: %v, %v; want it left empty", entries, err)
	}
}
