package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestARedirectIsNotFollowedNorItsQueryShown: the admin client follows
// no redirect of --admin (a proxy's login, http sent on to https), for
// GET and POST alike, whatever its status; and the error naming the
// Location quoted it whole, a proxy's access_token= in its query or a
// user's password with it. The Location is shown redacted.
func TestARedirectIsNotFollowedNorItsQueryShown(t *testing.T) {
	const token = "the-admin-token-0123456789abcdef"
	t.Setenv("IMCALLBACK_ADMIN_TOKEN", token)
	var reached atomic.Int32
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"state":"paused","events":[],"topics":[],"status":"ok","replayed":1}`)
	}))
	defer elsewhere.Close()
	for _, status := range []int{http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		redirecting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, elsewhere.URL+"/moved?access_token=proxy-secret", status)
		}))
		for _, args := range [][]string{
			{"delivery", "pause"},
			{"delivery", "status"},
			{"events", "list"},
			{"events", "replay", "--seq", "1"},
			{"topics", "list"},
			{"health"},
		} {
			t.Run(fmt.Sprint(status, args), func(t *testing.T) {
				out, err := runCLI(t, append([]string{"--admin", redirecting.URL}, args...)...)
				if n := reached.Load(); n > 0 {
					t.Fatalf("%v followed the redirect %d of --admin to another listener", args, status)
				}
				if err == nil {
					t.Fatalf("%v succeeded on a redirect: %s", args, out)
				}
				msg := err.Error()
				if !strings.Contains(msg, fmt.Sprintf("HTTP %d", status)) || !strings.Contains(msg, "redirect") ||
					!strings.Contains(msg, elsewhere.URL+"/moved") || !strings.Contains(msg, "--admin") {
					t.Errorf("%v: the error does not say where the redirect pointed and what to do: %v", args, err)
				}
				if strings.Contains(msg+out, "proxy-secret") || strings.Contains(msg+out, token) {
					t.Errorf("%v printed a secret: %v\n%s", args, err, out)
				}
			})
		}
		redirecting.Close()
	}
}

// TestAnAnswerQuotingTheTokenDoesNotPrintIt: the error of an answer that
// is not the admin API's quotes the start of its body, and one of the
// admin API's shape its "error": a proxy or a debugging endpoint that
// echoes the request's headers put the admin token, sent as
// Authorization, on the terminal and into a CI log. The token is cut from
// whatever the command line quotes of an answer.
func TestAnAnswerQuotingTheTokenDoesNotPrintIt(t *testing.T) {
	const token = "the-admin-token-0123456789abcdef"
	t.Setenv("IMCALLBACK_ADMIN_TOKEN", token)
	for _, tt := range []struct {
		name   string
		status int
		body   string // %s: the Authorization header received
	}{
		{"error field", http.StatusInternalServerError, `{"error":"refused: %s"}`},
		{"not the API's", http.StatusBadGateway, `<html>upstream refused %s</html>`},
		{"not found elsewhere", http.StatusNotFound, `no route for %s`},
		{"a 2xx that is not JSON", http.StatusOK, `<html>login for %s</html>`},
		{"a failing readiness check", http.StatusServiceUnavailable, `{"status":"not ready","checks":{"auth":"%s"}}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				fmt.Fprintf(w, tt.body, r.Header.Get("Authorization"))
			}))
			defer srv.Close()
			for _, args := range [][]string{{"events", "list"}, {"delivery", "status"}, {"health", "--ready"}} {
				out, err := runCLI(t, append([]string{"--admin", srv.URL}, args...)...)
				if err == nil {
					t.Fatalf("%v succeeded: %s", args, out)
				}
				if strings.Contains(err.Error()+out, token) {
					t.Errorf("%v printed the admin token: %v\n%s", args, err, out)
				}
				if !strings.Contains(err.Error(), "[redacted]") {
					t.Errorf("%v: the answer is no longer quoted: %v", args, err)
				}
			}
		})
	}
}

// TestGetRefusesAMissingEmptyOrBadArgument: `events get` and `topics get`
// with no argument said only "accepts 1 arg(s), received 0"; with an empty
// one (an unset shell variable) they asked for /v1/events/ or
// /v1/topics/, and failed with "HTTP 404: Not Found" or "topic : topic:
// not found"; `events get abc` asked the service, or said that none runs.
// Each now fails at once naming the argument and what to write, and asks
// nobody.
func TestGetRefusesAMissingEmptyOrBadArgument(t *testing.T) {
	var called atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { called.Store(true) }))
	defer srv.Close()
	for _, tt := range []struct {
		args []string
		want []string
	}{
		{[]string{"events", "get"}, []string{"<seq>", "events list"}},
		{[]string{"events", "get", "1", "2"}, []string{"<seq>", "2 were given"}},
		{[]string{"events", "get", ""}, []string{"<seq> is empty", "events list"}},
		{[]string{"events", "get", " "}, []string{"<seq> is empty"}},
		{[]string{"events", "get", "abc"}, []string{`<seq> "abc"`, "1, 2, …", "events list"}},
		{[]string{"events", "get", "0"}, []string{`<seq> "0"`}},
		{[]string{"events", "get", "--", "-1"}, []string{`<seq> "-1"`}},
		{[]string{"events", "get", "99999999999999999999999"}, []string{`<seq> "99999999999999999999999"`}},
		{[]string{"topics", "get"}, []string{"<TopicId>", "topics list"}},
		{[]string{"topics", "get", "a", "b"}, []string{"<TopicId>", "2 were given"}},
		{[]string{"topics", "get", ""}, []string{"<TopicId> is empty", "topics list"}},
		{[]string{"topics", "get", "\t"}, []string{"<TopicId> is empty"}},
		{[]string{"--offline", "topics", "get", ""}, []string{"<TopicId> is empty"}},
	} {
		args := append([]string{"--admin", srv.URL}, tt.args...)
		if tt.args[0] == "--offline" {
			args = tt.args
		}
		out, err := runCLI(t, args...)
		if err == nil {
			t.Errorf("%q succeeded: %s", tt.args, out)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%q: %v\nwant it to say %q", tt.args, err, w)
			}
		}
	}
	if called.Load() {
		t.Error("a get with a missing, empty or bad argument asked the admin API")
	}
}

// TestInterruptedOneRequestSaysWhatItLeft: Ctrl-C during `events replay
// --dead` or `--since`, or `delivery pause`, which wait for the service's
// answer however long it takes, killed the process without a word: the
// service stops a replay where it got to when the connection closes, and
// goes on with a pause, and neither was said. The command now stops with
// an error saying what is left and what to run. The test catches SIGINT
// itself too, so that without the handling the command waits until the
// test's own bound instead of ending the test binary.
func TestInterruptedOneRequestSaysWhatItLeft(t *testing.T) {
	raise := signalSelf(t)
	caught := make(chan os.Signal, 1)
	signal.Notify(caught, os.Interrupt)
	defer signal.Stop(caught)
	for _, tt := range []struct {
		args []string
		want []string
	}{
		{[]string{"events", "replay", "--dead"}, []string{"events replay --dead", "again for the rest"}},
		{[]string{"events", "replay", "--since", "1h"}, []string{"events list", "REPLAY OF", "repeats"}},
		{[]string{"events", "replay", "--command", "Group.CallbackAfterCreateTopic"}, []string{"events list", "REPLAY OF"}},
		{[]string{"delivery", "pause"}, []string{"pause", "delivery status"}},
		{[]string{"delivery", "resume", "--command", "Group.CallbackAfterCreateTopic"}, []string{"resume", "delivery status"}},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			release := make(chan struct{})
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body) // read, so that the client's going away ends r's context
				_ = raise(syscall.SIGINT)
				select {
				case <-r.Context().Done(): // the client went away
				case <-release:
				}
			}))
			defer srv.Close()
			defer close(release)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // a bound, not a timing
			defer cancel()
			var out bytes.Buffer
			root := newRootCmd(&out, &out)
			root.SetArgs(append([]string{"--admin", srv.URL}, tt.args...))
			err := root.ExecuteContext(ctx)
			if ctx.Err() != nil {
				t.Fatalf("%v did not stop on SIGINT (ended by the test's bound); err %v", tt.args, err)
			}
			if !errors.Is(err, errInterrupted) {
				t.Fatalf("%v: %v, want the interruption", tt.args, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%v: %v\nwant it to say %q", tt.args, err, w)
				}
			}
			select {
			case <-caught:
			default:
			}
		})
	}
}

// TestTopicsListAllStopsOnACursorThatDoesNotMove: `topics list --all`
// followed next_cursor while it was set: an answer that names the cursor it
// was asked with (a proxy or cache that drops the query string, a service
// answering the first page to every request) printed the same page over
// and over, without end. It now stops with an error naming the cursor.
func TestTopicsListAllStopsOnACursorThatDoesNotMove(t *testing.T) {
	var asked atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if asked.Add(1) > 50 {
			http.Error(w, `{"error":"asked too often"}`, http.StatusTooManyRequests)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"topics":[{"sdk_app_id":"1400000000","topic_id":"@TGS#_g@TOPIC#_t","group_id":"@TGS#_g"}],"next_cursor":"c2FtZQ"}`)
	}))
	defer srv.Close()
	for _, args := range [][]string{
		{"topics", "list", "--all"},
		{"topics", "list", "--all", "--json"},
	} {
		asked.Store(0)
		out, err := runCLI(t, append([]string{"--admin", srv.URL}, args...)...)
		if asked.Load() > 50 {
			t.Fatalf("%v asked %d times for a cursor that did not move: %v", args, asked.Load(), err)
		}
		if err == nil || !strings.Contains(err.Error(), "c2FtZQ") || !strings.Contains(err.Error(), "next_cursor") {
			t.Errorf("%v: %v, want an error naming the cursor that did not move\n%s", args, err, out)
		}
	}
}

// TestTopicsListQuotesACursorThatIsNoCursor: a next_cursor with a
// control character (--admin naming a proxy or another service) is
// quoted in the line naming the next page and in the error of a listing
// that stopped, as the table's cells are, not sent to the terminal raw.
func TestTopicsListQuotesACursorThatIsNoCursor(t *testing.T) {
	var asked atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if asked.Add(1) > 1 {
			http.Error(w, `{"error":"gone"}`, http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"topics":[{"sdk_app_id":"1400000000","topic_id":"@TGS#_g@TOPIC#_t","group_id":"@TGS#_g"}],"next_cursor":"c\u001b]0;owned\u0007"}`)
	}))
	defer srv.Close()
	for _, args := range [][]string{
		{"topics", "list"},
		{"topics", "list", "--all"},
	} {
		asked.Store(0)
		out, err := runCLI(t, append([]string{"--admin", srv.URL}, args...)...)
		if err != nil {
			out += err.Error()
		}
		if strings.ContainsAny(out, "\x1b\x07") || !strings.Contains(out, `"c\x1b]0;owned\a"`) {
			t.Errorf("%v: the cursor is not quoted:\n%q", args, out)
		}
	}
}

// failingWriter fails every write, as standard output on a full disk does.
type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("no space left on device") }

// TestOutputThatCannotBeWrittenFails: `config check > resolved.yaml` on a
// full disk said "configuration is valid" and exited 0, the file empty or
// cut, as did `version` and `send --list` into a file: their writes' errors
// were dropped, unlike those of the tables and JSON of the other commands.
// They now fail with the write's error.
func TestOutputThatCannotBeWrittenFails(t *testing.T) {
	for _, args := range [][]string{
		{"--dev", "config", "check"},
		{"version"},
		{"send", "--list"},
	} {
		var errOut bytes.Buffer
		root := newRootCmd(failingWriter{}, &errOut)
		root.SetArgs(args)
		err := root.ExecuteContext(context.Background())
		if err == nil || !strings.Contains(err.Error(), "no space left on device") {
			t.Errorf("%v into a failing output: %v, want the write's error\n%s", args, err, errOut.String())
		}
		if strings.Contains(errOut.String(), "configuration is valid") {
			t.Errorf("%v called the configuration valid with its output lost", args)
		}
	}
}

// TestEveryCommandFailsOnOutputItCannotWrite: health, events replay, send,
// delivery status (a table whose first line has no column) and --help
// dropped the errors of their writes to standard output: into a file on a
// full disk they exited 0 with the output lost. Run fails every command
// with the write's error.
func TestEveryCommandFailsOnOutputItCannotWrite(t *testing.T) {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/healthz":
			fmt.Fprint(w, `{"status":"ok"}`)
		case "/v1/events/replay":
			fmt.Fprint(w, `{"replayed":1}`)
		case "/v1/delivery":
			fmt.Fprint(w, `{"state":"running","paused_commands":[],"commands":[]}`)
		case "/im/callback":
			fmt.Fprint(w, `{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}`)
		default:
			http.NotFound(w, r)
		}
	}))
	defer api.Close()
	for _, args := range [][]string{
		{"--admin", api.URL, "health"},
		{"--admin", api.URL, "events", "replay", "--seq", "1"},
		{"--admin", api.URL, "delivery", "status"},
		{"send", "--url", api.URL + "/im/callback", "--appid", "1400000000", "--token", "t", "--command", "Group.CallbackAfterCreateTopic", "--sample"},
		{"send", "--url", api.URL + "/im/callback", "--appid", "1400000000", "--token", "t", "--command", "Group.CallbackAfterCreateTopic", "--sample", "--repeat", "2"},
		{"--help"},
		{"help", "events"},
	} {
		var errOut bytes.Buffer
		err := Run(args, failingWriter{}, &errOut)
		if err == nil || !strings.Contains(err.Error(), "no space left on device") {
			t.Errorf("%v into a failing output: %v, want the write's error\n%s", args, err, errOut.String())
		}
	}
}

// TestAShortTokenIsCutOnlyWhereItStandsAlone: a short admin token, which
// config allows on loopback ("ab"), was cut from every word of an answer
// that held its letters, so "unavailable" read "unavail[redacted]le". It
// is cut where the answer quotes it, and the rest reads as the service
// wrote it.
func TestAShortTokenIsCutOnlyWhereItStandsAlone(t *testing.T) {
	t.Setenv("IMCALLBACK_ADMIN_TOKEN", "ab")
	for _, tt := range []struct {
		name   string
		status int
		body   string // %s: the Authorization header received
	}{
		{"error field", http.StatusInternalServerError, `{"error":"store unavailable (echo: %s)"}`},
		{"not the API's", http.StatusBadGateway, `<html>upstream unavailable (echo: %s)</html>`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tt.status)
				fmt.Fprintf(w, tt.body, r.Header.Get("Authorization"))
			}))
			defer srv.Close()
			out, err := runCLI(t, "--admin", srv.URL, "events", "list")
			if err == nil {
				t.Fatalf("succeeded: %s", out)
			}
			msg := err.Error()
			if !strings.Contains(msg, "unavailable (echo: Bearer [redacted])") {
				t.Errorf("the answer is garbled or shows the token: %v", err)
			}
		})
	}
}
