package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.uber.org/zap"

	"github.com/imcallback/imcallback/admin"
	"github.com/imcallback/imcallback/dispatcher"
)

// TestAdminErrorsHaveTheirStatus: what a caller can act on is not a 500.
func TestAdminErrorsHaveTheirStatus(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want int // 0: the error passes through unchanged
	}{
		{"not started", ErrNotStarted, http.StatusServiceUnavailable},
		{"restarting", fmt.Errorf("list: %w", errRestarting), http.StatusServiceUnavailable},
		{"streams not set up", errNotEnsured, http.StatusServiceUnavailable},
		{"a NATS timeout", fmt.Errorf("stream: %w", nats.ErrTimeout), http.StatusServiceUnavailable},
		{"a deadline", fmt.Errorf("scan: %w", context.DeadlineExceeded), http.StatusServiceUnavailable},
		{"a stream deleted", fmt.Errorf("dead letters: %w", jetstream.ErrStreamNotFound), http.StatusServiceUnavailable},
		{"cut short by the stop", fmt.Errorf("scan: %w", context.Canceled), http.StatusServiceUnavailable},
		{"a body over its limit", fmt.Errorf("decode: %w", &http.MaxBytesError{Limit: 1 << 20}), http.StatusRequestEntityTooLarge},
		{"dead letters that cannot be removed", fmt.Errorf("replay: %w", ErrDeadLettersKept), http.StatusConflict},
		{"a bad request stays", echo.NewHTTPError(http.StatusBadRequest, "bad"), http.StatusBadRequest},
		{"anything else stays", errors.New("disk on fire"), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := echo.New().NewContext(httptest.NewRequest(http.MethodGet, "/v1/events", nil), httptest.NewRecorder())
			got := withStatus(func(echo.Context) error { return tt.err })(c)
			var he *echo.HTTPError
			switch {
			case tt.want == 0 && got != tt.err:
				t.Fatalf("got %v, want the error unchanged", got)
			case tt.want != 0 && (!errors.As(got, &he) || he.Code != tt.want):
				t.Fatalf("got %v, want status %d", got, tt.want)
			}
		})
	}
	if err := withStatus(func(echo.Context) error { return nil })(nil); err != nil {
		t.Fatalf("a success became %v", err)
	}
}

// TestACutShortRequestSaysWhoCutIt: a request whose context ended was
// answered (and logged) "the request was cut short (the service is
// stopping), try again" also when its caller had left (Ctrl-C on `events
// replay`, a --timeout, the console giving up) while the service ran on,
// and the answer of a replay stopped part way carried echo's own rendering
// of its inner error ("code=500, message=…, internal=…") after a "try
// again" that its own text ("replaying the same selection again repeats
// them") contradicts. The answer now says whether the stop or the caller
// cut it, and a replay stopped part way gives its own message alone.
func TestACutShortRequestSaysWhoCutIt(t *testing.T) {
	stopped := func() context.Context {
		ctx, cancel := context.WithCancelCause(context.Background())
		cancel(admin.ErrStopping)
		return ctx
	}
	left := func() context.Context {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		return ctx
	}
	scanErr := fmt.Errorf("scan: %w", context.Canceled)
	tests := []struct {
		name    string
		ctx     func() context.Context
		err     error
		want    []string
		wantNot []string
	}{
		{"a read cut by the stop", stopped, scanErr,
			[]string{"the request was cut short (the service is stopping), try again: scan: context canceled"}, nil},
		{"a read whose caller left", left, scanErr,
			[]string{"the request was cut short (its caller left), try again: scan: context canceled"}, []string{"stopping"}},
		{"a replay cut by the stop", stopped, replayStopped(false, 3, scanErr),
			[]string{"the request was cut short (the service is stopping): the replay stopped after 3 events (replaying the same selection again repeats them): scan: context canceled"},
			[]string{"try again", "code=", "internal="}},
		{"a replay whose caller left", left, replayStopped(true, 3, scanErr),
			[]string{"the request was cut short (its caller left): the replay stopped after 3 events (replay the dead letters again"},
			[]string{"try again", "code=", "internal=", "stopping"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, "/v1/events/replay", nil).WithContext(tt.ctx())
			c := echo.New().NewContext(req, httptest.NewRecorder())
			got := withStatus(func(echo.Context) error { return tt.err })(c)
			var he *echo.HTTPError
			if !errors.As(got, &he) || he.Code != http.StatusServiceUnavailable {
				t.Fatalf("got %v, want a 503", got)
			}
			msg, _ := he.Message.(string)
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("the answer %q does not say %q", msg, w)
				}
			}
			for _, w := range tt.wantNot {
				if strings.Contains(msg, w) {
					t.Errorf("the answer %q says %q", msg, w)
				}
			}
			if !errors.Is(got, context.Canceled) {
				t.Errorf("the answer %v no longer wraps context.Canceled, which the admin listener's log reads", got)
			}
		})
	}
}

// TestAReplayStoppedByTheEventLogGivesItsOwnMessage: a replay that the
// event log stopped part way (a NATS timeout, the connection lost) was
// answered "the event log is not reachable now, try again: code=500,
// message=the replay stopped after 3 events (replaying the same selection
// again repeats them): …, internal=…": echo's rendering of the replay's
// answer, after a "try again" that its own advice contradicts, as the
// answer of a replay cut short by the stop was. It now gives the replay's
// message alone after the reason.
func TestAReplayStoppedByTheEventLogGivesItsOwnMessage(t *testing.T) {
	for _, cause := range []error{fmt.Errorf("publish: %w", nats.ErrTimeout), fmt.Errorf("publish: %w", nats.ErrConnectionClosed)} {
		c := echo.New().NewContext(httptest.NewRequest(http.MethodPost, "/v1/events/replay", nil), httptest.NewRecorder())
		got := withStatus(func(echo.Context) error { return replayStopped(false, 3, cause) })(c)
		var he *echo.HTTPError
		if !errors.As(got, &he) || he.Code != http.StatusServiceUnavailable || !errors.Is(got, cause) {
			t.Fatalf("%v: got %v, want a 503 wrapping the cause", cause, got)
		}
		msg, _ := he.Message.(string)
		want := "the event log is not reachable now: the replay stopped after 3 events (replaying the same selection again repeats them): " + cause.Error()
		if msg != want {
			t.Errorf("%v: the answer %q, want %q", cause, msg, want)
		}
	}
}

// TestDeadLetterReplayIDs: copies of one dead letter share an id (a second
// replay is a duplicate); another dead letter never does, even one with the
// same sequence in a recreated dead-letter stream.
func TestDeadLetterReplayIDs(t *testing.T) {
	o, err := DefaultOptions().withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	e := &Events{opts: o}
	at := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	dead := func(seq uint64, at time.Time) *jetstream.RawStreamMsg {
		return &jetstream.RawStreamMsg{Subject: o.DeadPrefix() + ".1400000000.Group.X", Sequence: seq, Time: at,
			Header: nats.Header{HeaderDeadSeq: []string{"7"}, HeaderDeadStream: []string{o.Stream}}}
	}
	id := func(raw *jetstream.RawStreamMsg) string { return e.undead(raw).Header.Get(jetstream.MsgIDHeader) }
	first := id(dead(1, at))
	if again := id(dead(1, at)); again != first {
		t.Errorf("two copies of one dead letter: %q and %q", first, again)
	}
	if other := id(dead(1, at.Add(time.Minute))); other == first {
		t.Errorf("a later dead letter #1 of a recreated stream got the same id %q", other)
	}
	if other := id(dead(2, at)); other == first {
		t.Errorf("dead letter #2 got the id of #1: %q", other)
	}
}

// TestPauseAndResumeAnswerWhatTheyDid: a pause or resume that happened is
// answered 200 with the state it set, even when the delivery status cannot
// be read after it (here the connection is down, as while the embedded
// server restarts); status_error says why the counts are missing. Before,
// such an answer was a 503 and the console said "Could not pause".
func TestPauseAndResumeAnswerWhatTheyDid(t *testing.T) {
	// Workers started (proc), no connection: Pause and Resume succeed, the
	// status read fails with ErrNotStarted.
	s, e := unconnectedService(t)
	const cmd = "Group.CallbackAfterCreateGroup"
	tests := []struct {
		name, path, body string
		state            string
		paused           []string
	}{
		{"pause all", "/v1/delivery/pause", ``, "paused", []string{}},
		{"resume all", "/v1/delivery/resume", `{}`, "running", []string{}},
		{"pause one command", "/v1/delivery/pause", `{"command":"` + cmd + `"}`, "running", []string{cmd}},
		{"resume one command", "/v1/delivery/resume", `{"command":"` + cmd + `"}`, "running", []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			e.ServeHTTP(w, httptest.NewRequest(http.MethodPost, tt.path, strings.NewReader(tt.body)))
			var got struct {
				State          string            `json:"state"`
				PausedCommands []string          `json:"paused_commands"`
				Commands       []json.RawMessage `json:"commands"`
				StatusError    string            `json:"status_error"`
			}
			if w.Code != http.StatusOK {
				t.Fatalf("POST %s %s: %d %s, want 200", tt.path, tt.body, w.Code, w.Body)
			}
			if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
				t.Fatalf("%v: %s", err, w.Body)
			}
			if got.State != tt.state || !slices.Equal(got.PausedCommands, tt.paused) || got.Commands == nil ||
				!strings.Contains(got.StatusError, ErrNotStarted.Error()) {
				t.Errorf("POST %s %s: %s, want state %q, paused_commands %q, commands [] and the status error",
					tt.path, tt.body, w.Body, tt.state, tt.paused)
			}
			if paused := map[bool]string{true: "paused", false: "running"}[s.Paused()]; paused != tt.state {
				t.Errorf("delivery is %s after POST %s %s, want %s", paused, tt.path, tt.body, tt.state)
			}
		})
	}
	// The status itself still fails when it cannot be read.
	w := httptest.NewRecorder()
	e.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/v1/delivery", nil))
	if w.Code == http.StatusOK {
		t.Errorf("GET /v1/delivery without a connection: %d %s, want an error", w.Code, w.Body)
	}
}

// TestEventRoutesAreTheServicesRoutes: the admin listener answers
// EventRoutes 409 without durable delivery; a route of the Service that is
// not among them would be a 404 there, and one listed that the Service does
// not serve a 409 for a request that is no route.
func TestEventRoutesAreTheServicesRoutes(t *testing.T) {
	var served []EventRoute
	for _, r := range apiRoutes(&Service{}) {
		served = append(served, EventRoute{r.Method, r.Path})
	}
	if !slices.Equal(served, EventRoutes) {
		t.Errorf("the Service's routes\n%v\nEventRoutes\n%v", served, EventRoutes)
	}
}

// TestAPauseBodyOfWhitespaceAloneIsA400: a body of whitespace alone (a
// line break, as `printf '\n' | curl --data-binary @-` sends) decoded as
// nothing and was read as "no command", so it paused or resumed all
// delivery; the documented bodies are empty, {} or {"command":"…"}, and
// anything else is a 400 that changes nothing.
func TestAPauseBodyOfWhitespaceAloneIsA400(t *testing.T) {
	s, e := unconnectedService(t)
	for _, path := range []string{"/v1/delivery/pause", "/v1/delivery/resume"} {
		for _, body := range []string{"\n", "   ", "\t\r\n"} {
			before := s.Paused()
			w := httptest.NewRecorder()
			e.ServeHTTP(w, httptest.NewRequest(http.MethodPost, path, strings.NewReader(body)))
			if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "not whitespace alone") {
				t.Errorf("POST %s %q: %d %s, want a 400 saying the body is whitespace alone", path, body, w.Code, w.Body)
			}
			if s.Paused() != before {
				t.Errorf("POST %s %q changed the delivery's state", path, body)
			}
		}
		if path == "/v1/delivery/pause" {
			// A chunked body that holds nothing is an empty body: all delivery.
			r := httptest.NewRequest(http.MethodPost, path, strings.NewReader(""))
			r.ContentLength = -1
			w := httptest.NewRecorder()
			e.ServeHTTP(w, r)
			if w.Code != http.StatusOK || !s.Paused() {
				t.Errorf("POST %s with an empty chunked body: %d %s, paused %v; want all delivery paused", path, w.Code, w.Body, s.Paused())
			}
		}
	}
}

// TestPauseOfACommandInAnotherCaseNamesItsSpelling: command names are
// case-sensitive, and a pause or resume of an after-command written in
// another case was refused as "not an after-command of this service",
// which left the operator to guess what was wrong with a command they
// knew the service handles. The 400 names the command's spelling.
func TestPauseOfACommandInAnotherCaseNamesItsSpelling(t *testing.T) {
	o, err := DefaultOptions().withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	s := &Service{opts: o, log: zap.NewNop(), proc: nopProcessor{}}
	s.holds.known = []string{"Group.CallbackAfterCreateGroup", "C2C.CallbackAfterSendMsg"}
	e := echo.New()
	for _, r := range apiRoutes(s) {
		e.Add(r.Method, r.Path, r.Handler)
	}
	for _, tt := range []struct{ command, want string }{
		{"group.callbackaftercreategroup", `case-sensitive: \"Group.CallbackAfterCreateGroup\"`},
		{"C2C.CallbackAfterSendMSG", `case-sensitive: \"C2C.CallbackAfterSendMsg\"`},
		{"Group.CallbackAfterNothing", "is not an after-command of this service"},
	} {
		for _, path := range []string{"/v1/delivery/pause", "/v1/delivery/resume"} {
			w := httptest.NewRecorder()
			e.ServeHTTP(w, httptest.NewRequest(http.MethodPost, path, strings.NewReader(`{"command":"`+tt.command+`"}`)))
			if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), tt.want) {
				t.Errorf("POST %s %s: %d %s, want a 400 saying %s", path, tt.command, w.Code, w.Body, tt.want)
			}
		}
	}
	if len(s.PausedCommands()) != 0 {
		t.Errorf("paused %q", s.PausedCommands())
	}
}

type nopProcessor struct{}

func (nopProcessor) Process(context.Context, *dispatcher.Request) error { return nil }

// TestKeptReasonCountsFailuresInARow: each failed store of a dead letter
// counts, so its retries back off (1 s, 5 s, … with the defaults) instead of
// every first delay forever; the count ends with the event.
func TestKeptReasonCountsFailuresInARow(t *testing.T) {
	var h holds
	boom := errors.New("boom")
	at := time.Unix(1700000000, 0)
	for want := 1; want <= 3; want++ {
		if got := h.keepReason(7, at, at, boom); got != want {
			t.Fatalf("failure %d counted as %d", want, got)
		}
	}
	if got := h.reason(7, at); got != boom {
		t.Fatalf("kept reason %v, want boom", got)
	}
	// Another event at the sequence (a work stream created again) is not owed it.
	if got := h.reason(7, at.Add(time.Second)); got != nil {
		t.Fatalf("kept reason of another event at the sequence: %v, want none", got)
	}
	h.forget(7)
	if got := h.keepReason(7, at, at, boom); got != 1 {
		t.Fatalf("after forget, the first failure counts as %d", got)
	}
	o := DefaultOptions()
	if a, b := o.backoff(1), o.backoff(2); a >= b {
		t.Fatalf("the default backoff does not grow: %v then %v", a, b)
	}
}

// TestMsgGone: a deletion of a message that is not stored is done, as the
// server says it (its "no message found" inside "message deletion
// unsuccessful", or a not-found error); any other failure is not.
func TestMsgGone(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"the server's answer", fmt.Errorf("%w: %s", jetstream.ErrMsgDeleteUnsuccessful,
			"nats: API error: code=500 err_code=10057 description=no message found"), true},
		{"not found", fmt.Errorf("delete: %w", jetstream.ErrMsgNotFound), true},
		{"another failed deletion", fmt.Errorf("%w: %s", jetstream.ErrMsgDeleteUnsuccessful,
			"nats: API error: code=500 err_code=10057 description=stream store EOF"), false},
		{"a timeout", fmt.Errorf("delete: %w", nats.ErrTimeout), false},
		{"the words alone", errors.New("no message found"), false},
	}
	for _, tt := range tests {
		if got := msgGone(tt.err); got != tt.want {
			t.Errorf("%s: msgGone(%v) = %v, want %v", tt.name, tt.err, got, tt.want)
		}
	}
}

// TestReplayAnswerCountsACutList: the answer of a replay names the counts
// of a list the replay cut (a replay of every dead letter lists
// ReplayListMost sequences of each at most), and only then.
func TestReplayAnswerCountsACutList(t *testing.T) {
	tests := []struct {
		name string
		res  ReplayResult
		want string
	}{
		{"nothing to list", ReplayResult{Replayed: 2}, `{"replayed":2}`},
		{"whole lists", ReplayResult{Replayed: 1, Missing: []uint64{3}, AlreadyReplayed: []uint64{4}},
			`{"already_replayed":[4],"missing":[3],"replayed":1}`},
		{"cut lists", ReplayResult{Missing: []uint64{3}, MissingCount: 5, AlreadyReplayed: []uint64{4}, AlreadyReplayedCount: 9},
			`{"already_replayed":[4],"already_replayed_count":9,"missing":[3],"missing_count":5,"replayed":0}`},
	}
	for _, tt := range tests {
		b, err := json.Marshal(replayAnswer(tt.res))
		if err != nil || string(b) != tt.want {
			t.Errorf("%s: %s, %v; want %s", tt.name, b, err, tt.want)
		}
	}
}

// TestActionsRefuseAQueryParameter: the pause, resume and replay routes
// take their selection in the body; a query parameter (curl's
// ?command=… for one command's pause, a replay's ?command=… narrowing a
// since) is a 400 naming it, and nothing is paused or replayed, rather
// than ignored: the action would then reach every command.
func TestActionsRefuseAQueryParameter(t *testing.T) {
	o, err := DefaultOptions().withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	const cmd = "Group.CallbackAfterCreateGroup"
	s := &Service{opts: o, log: zap.NewNop(), proc: nopProcessor{}}
	e := echo.New()
	for _, r := range apiRoutes(s) {
		e.Add(r.Method, r.Path, r.Handler)
	}
	tests := []struct {
		name, target, body string
	}{
		{"pause of one command", "/v1/delivery/pause?command=" + cmd, ``},
		{"resume of one command", "/v1/delivery/resume?command=" + cmd, `{}`},
		{"replay of one command", "/v1/events/replay?command=" + cmd, `{"since":"1h"}`},
		{"replay of dead letters", "/v1/events/replay?dead=true", `{"seqs":[1]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			e.ServeHTTP(w, httptest.NewRequest(http.MethodPost, tt.target, strings.NewReader(tt.body)))
			if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "in the body") {
				t.Errorf("POST %s %s: %d %s, want a 400 saying the body carries it", tt.target, tt.body, w.Code, w.Body)
			}
			if s.Paused() {
				t.Fatalf("POST %s %s paused all delivery", tt.target, tt.body)
			}
		})
	}
	// pretty (echo's) is taken everywhere.
	w := httptest.NewRecorder()
	e.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/v1/delivery/resume?pretty", nil))
	if w.Code != http.StatusOK {
		t.Errorf("POST /v1/delivery/resume?pretty: %d %s, want 200", w.Code, w.Body)
	}
}

// TestASinceThatSelectsNothingSaysWhy: a since that is a duration but not
// a positive one (0s, -1h: a sign typed the other way) is refused saying
// it must be positive, as the CLI's --since says, not as "neither a
// duration nor an RFC 3339 time"; and a replay's since that does not read
// is a 400 also while the event log is out of reach, not a 503 asking to
// try again what can never succeed.
func TestASinceThatSelectsNothingSaysWhy(t *testing.T) {
	e := unconnectedAPI(t)
	tests := []struct {
		since, want string
	}{
		{"0s", "positive"},
		{"-1h", "positive"},
		{"yesterday", "neither a duration"},
		{"100000000h", "longer than the longest duration"}, // a duration, too long: not "neither"
	}
	for _, tt := range tests {
		w := httptest.NewRecorder()
		body := `{"since":"` + tt.since + `"}`
		e.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/v1/events/replay", strings.NewReader(body)))
		if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), tt.want) {
			t.Errorf("POST /v1/events/replay %s: %d %s, want a 400 saying %q", body, w.Code, w.Body, tt.want)
		}
		w = httptest.NewRecorder()
		e.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/v1/events?since="+tt.since, nil))
		if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), tt.want) {
			t.Errorf("GET /v1/events?since=%s: %d %s, want a 400 saying %q", tt.since, w.Code, w.Body, tt.want)
		}
	}
}

// TestASinceWithAPlusInTheQuerySaysToEscapeIt: in a query string a "+"
// reads as a space, so GET /v1/events?since=2026-12-05T11:00:00+08:00 (as
// curl sends it) was refused as "neither a duration nor an RFC 3339 time",
// quoting a value with a space the caller never wrote. The 400 says to
// escape the "+" as %2B; the escaped time is read.
func TestASinceWithAPlusInTheQuerySaysToEscapeIt(t *testing.T) {
	e := unconnectedAPI(t)
	for _, tt := range []struct {
		since string
		code  int
		want  string
	}{
		{"2026-12-05T11:00:00+08:00", http.StatusBadRequest, "%2B"},
		{"2026-12-05T11:00:00.5+08:00", http.StatusBadRequest, "%2B"},
		{"2026-12-05T11:00:00%2B08:00", http.StatusServiceUnavailable, "not reachable"}, // read: only the stream is missing
		{"2026-12-05T03:00:00Z", http.StatusServiceUnavailable, "not reachable"},
	} {
		w := httptest.NewRecorder()
		e.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/v1/events?since="+tt.since, nil))
		if w.Code != tt.code || !strings.Contains(w.Body.String(), tt.want) {
			t.Errorf("GET /v1/events?since=%s: %d %s, want a %d saying %q", tt.since, w.Code, w.Body, tt.code, tt.want)
		}
	}
}

// TestAReplayThatStoppedSaysWhatToDo: the answer of a replay that failed
// after replaying some events says whether replaying the same selection
// again is right. For dead letters it is: those replayed were removed (and
// a copy of one again is a duplicate), so a second replay goes on with
// the rest. For sequences or a since it repeats the events done.
func TestAReplayThatStoppedSaysWhatToDo(t *testing.T) {
	cause := errors.New("nats: timeout")
	tests := []struct {
		name    string
		dead    bool
		want    string
		mustNot string
	}{
		{"dead letters", true, "replay the dead letters again", "repeats them"},
		{"events", false, "repeats them", "replay the dead letters again"},
	}
	for _, tt := range tests {
		err := replayStopped(tt.dead, 3, cause)
		var he *echo.HTTPError
		if !errors.As(err, &he) || he.Code != http.StatusInternalServerError || !errors.Is(err, cause) {
			t.Fatalf("%s: %v, want a 500 wrapping the cause", tt.name, err)
		}
		msg := fmt.Sprint(he.Message)
		if !strings.Contains(msg, "after 3 events") || !strings.Contains(msg, tt.want) || strings.Contains(msg, tt.mustNot) {
			t.Errorf("%s: %q, want the count and %q, not %q", tt.name, msg, tt.want, tt.mustNot)
		}
	}
}

// unconnectedAPI is the delivery API of a service with no connection, on
// an echo of its own.
func unconnectedAPI(t *testing.T) *echo.Echo {
	t.Helper()
	_, e := unconnectedService(t)
	return e
}

// unconnectedService is a Service whose workers are started (proc) with
// no connection, and an echo that serves its admin routes.
func unconnectedService(t *testing.T) (*Service, *echo.Echo) {
	t.Helper()
	o, err := DefaultOptions().withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	s := &Service{opts: o, log: zap.NewNop(), proc: nopProcessor{}} // no connection
	e := echo.New()
	for _, r := range apiRoutes(s) {
		e.Add(r.Method, r.Path, r.Handler)
	}
	return s, e
}

// TestGetOfAnEmptySequence: GET /v1/events/ (a script's empty sequence)
// was answered by the router's own 404 "Not Found", as if the event log
// had no such route, where every other sequence that is no positive
// number (x, 0) is the API's 400 saying what it must be; it is now that
// 400 too.
func TestGetOfAnEmptySequence(t *testing.T) {
	e := unconnectedAPI(t)
	for _, path := range []string{"/v1/events/", "/v1/events/?pretty", "/v1/events/x", "/v1/events/0"} {
		w := httptest.NewRecorder()
		e.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
		if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "the sequence must be a positive number") {
			t.Errorf("GET %s: %d %s, want 400 the sequence must be a positive number", path, w.Code, w.Body)
		}
	}
}

// TestGetOfASequenceTooLarge: a positive sequence past the largest a
// stream can hold (2^64-1) was answered "must be a positive number", which
// it is; the 400 now says it is too large.
func TestGetOfASequenceTooLarge(t *testing.T) {
	e := unconnectedAPI(t)
	tests := []struct {
		seq  string
		want string
	}{
		{"18446744073709551616", "the sequence is too large: at most 18446744073709551615"},
		{"99999999999999999999999", "the sequence is too large: at most 18446744073709551615"},
		{"-1", "the sequence must be a positive number"},
		{"1e3", "the sequence must be a positive number"},
	}
	for _, tt := range tests {
		t.Run(tt.seq, func(t *testing.T) {
			w := httptest.NewRecorder()
			e.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/v1/events/"+tt.seq, nil))
			if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), tt.want) {
				t.Errorf("GET /v1/events/%s: %d %s, want 400 %s", tt.seq, w.Code, w.Body, tt.want)
			}
		})
	}
}

// TestABadCommandFilterIsA400WhileTheLogIsOutOfReach: a command filter
// that is no valid filter (a longer one than any command, whitespace, a
// misplaced ">") never selects anything, so it is a 400 however the event
// log is doing. The replay's was checked only once the stream was read,
// and while the log was out of reach it was answered 503 "try again",
// which no retry mends; the listing's always was a 400.
func TestABadCommandFilterIsA400WhileTheLogIsOutOfReach(t *testing.T) {
	e := unconnectedAPI(t)
	for _, command := range []string{"Group. x", "C2C.>.x", "a..b", strings.Repeat("x", maxCommandFilter+1)} {
		w := httptest.NewRecorder()
		body := `{"since":"1h","command":"` + command + `"}`
		e.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/v1/events/replay", strings.NewReader(body)))
		if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "bad command filter") {
			t.Errorf("POST /v1/events/replay %s: %d %s, want a 400 naming the bad filter", body, w.Code, w.Body)
		}
		w = httptest.NewRecorder()
		e.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/v1/events?command="+url.QueryEscape(command), nil))
		if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "bad command filter") {
			t.Errorf("GET /v1/events?command=%s: %d %s, want a 400 naming the bad filter", command, w.Code, w.Body)
		}
	}
	// A query can carry bytes that are no UTF-8, which JetStream refuses
	// in a subject filter: they were answered 500 as the log's error.
	for _, query := range []string{"Group.%FF", "%C3%28"} {
		w := httptest.NewRecorder()
		e.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/v1/events?command="+query, nil))
		if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "not UTF-8") {
			t.Errorf("GET /v1/events?command=%s: %d %s, want a 400 saying it is not UTF-8", query, w.Code, w.Body)
		}
	}
}

// TestANullSeqsSelectsNothing: "seqs":null, what a Go client's nil slice
// (an empty selection) marshals to, was read as no seqs, so
// {"dead":true,"seqs":null} replayed every dead letter, where
// "seqs":[] is refused; null is now refused as [] is, before the event
// log is read.
func TestANullSeqsSelectsNothing(t *testing.T) {
	e := unconnectedAPI(t)
	for _, body := range []string{`{"dead":true,"seqs":null}`, `{"since":"1h","seqs":null}`, `{"seqs":null}`} {
		w := httptest.NewRecorder()
		e.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/v1/events/replay", strings.NewReader(body)))
		if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "seqs is null") {
			t.Errorf("POST /v1/events/replay %s: %d %s, want a 400 saying seqs is null", body, w.Code, w.Body)
		}
	}
}

// TestBodiesWithARepeatedOrMiscasedNameAreA400: Go's decoder keeps the
// last value of a name given twice and matches names in any case, so
// {"dead":true,"seqs":[5],"dead":false} replayed event 5 itself, not its
// dead letter, and {"Command":"…"} paused that command; the documented
// names are exact, and anything else is a 400 that changes nothing.
func TestBodiesWithARepeatedOrMiscasedNameAreA400(t *testing.T) {
	s, e := unconnectedService(t)
	tests := []struct {
		path, body, want string
	}{
		{"/v1/events/replay", `{"dead":true,"seqs":[55],"dead":false}`, `the name \"dead\" is given more than once`},
		{"/v1/events/replay", `{"seqs":[1],"Seqs":[2]}`, `the name \"Seqs\" is given more than once`},
		{"/v1/events/replay", `{"Dead":true,"SEQS":[56]}`, `unknown field \"Dead\": the name is \"dead\"`},
		{"/v1/delivery/pause", `{"command":"C2C.CallbackAfterSendMsg","command":"Group.CallbackAfterCreateTopic"}`, `the name \"command\" is given more than once`},
		{"/v1/delivery/pause", `{"Command":"Group.CallbackAfterCreateTopic"}`, `unknown field \"Command\": the name is \"command\"`},
		{"/v1/delivery/resume", `{"COMMAND":"Group.CallbackAfterCreateTopic"}`, `unknown field \"COMMAND\": the name is \"command\"`},
	}
	for _, tt := range tests {
		before := s.Paused()
		w := httptest.NewRecorder()
		e.ServeHTTP(w, httptest.NewRequest(http.MethodPost, tt.path, strings.NewReader(tt.body)))
		if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), tt.want) {
			t.Errorf("POST %s %s: %d %s, want a 400 saying %s", tt.path, tt.body, w.Code, w.Body, tt.want)
		}
		if s.Paused() != before {
			t.Errorf("POST %s %s changed the delivery's state", tt.path, tt.body)
		}
	}
	// The exact names still pass the body's check.
	for _, body := range []string{`{"dead":true,"seqs":[55]}`, `{"since":"1h","command":"C2C.CallbackAfterSendMsg"}`} {
		w := httptest.NewRecorder()
		e.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/v1/events/replay", strings.NewReader(body)))
		if w.Code == http.StatusBadRequest {
			t.Errorf("POST /v1/events/replay %s: %d %s, want it past the body's check", body, w.Code, w.Body)
		}
	}
	w := httptest.NewRecorder()
	e.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/v1/delivery/pause", strings.NewReader(`{}`)))
	if w.Code != http.StatusOK || !s.Paused() {
		t.Errorf("POST /v1/delivery/pause {}: %d %s, want all delivery paused", w.Code, w.Body)
	}
}
