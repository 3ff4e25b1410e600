package imcallback_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/imcallback/imcallback/delivery"
	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/imtest"
)

type eventList struct {
	Events []delivery.EventInfo `json:"events"`
	Next   uint64               `json:"next_before_seq"`
}

func postJSON(t *testing.T, url, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestEventLogAdminAPI drives the event log over the admin API: events are
// listed newest first with their state, one event shows its parameters
// (no Sign) and body, a failing handler's event is a dead letter, and a
// replay of the dead letters after the fix processes it and empties the list.
func TestEventLogAdminAPI(t *testing.T) {
	var fixed atomic.Bool
	s := start(t, []string{"IMCALLBACK_MAX_DELIVERIES=1", "IMCALLBACK_BACKOFF=10ms"}, delivery.Module,
		fx.Provide(dispatcher.AsCommand(func() dispatcher.Command {
			return dispatcher.After("Group.CallbackAfterCreateTopic", func(_ context.Context, ev *dispatcher.Event[topicPayload]) error {
				if ev.Payload.TopicID == "bad" && !fixed.Load() {
					return errors.New("the store refused it")
				}
				return nil
			})
		})))
	for _, id := range []string{"t1", "t2", "bad"} {
		res := do(t, s, call{command: "Group.CallbackAfterCreateTopic", body: fmt.Sprintf(`{"GroupId":"g","TopicId":%q}`, id)})
		if !res.OK() {
			t.Fatalf("%s: %d %s", id, res.Status, res.Body)
		}
	}
	var list eventList
	waitUntil(t, "the failing event dead and the others processed", func() bool {
		s.GetJSON(t, "/v1/events", 200, &list)
		states := make([]string, 0, 3)
		for _, e := range list.Events {
			states = append(states, e.State)
		}
		return strings.Join(states, ",") == "dead,processed,processed"
	})
	if list.Events[0].Seq != 3 || list.Events[0].LastError == "" || list.Events[0].Deliveries != 1 || list.Events[0].AppID != appID {
		t.Fatalf("newest event %+v", list.Events[0])
	}
	// No count is kept for an event that is not dead: a processed one
	// answers 0 and "", which the README must say means "not known".
	for _, e := range list.Events[1:] {
		if e.Deliveries != 0 || e.LastError != "" {
			t.Errorf("processed event %+v: want deliveries 0 and no last_error, as the README says", e)
		}
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	const documented = "a `pending` or `processed` event shows `deliveries` 0 and `last_error` \"\", which means not known, not \"never delivered\""
	if !strings.Contains(strings.Join(strings.Fields(string(readme)), " "), documented) {
		t.Errorf("README's event log does not say what deliveries 0 of a processed event means: %q", documented)
	}
	var page eventList
	s.GetJSON(t, "/v1/events?limit=1&state=processed", 200, &page)
	if len(page.Events) != 1 || page.Events[0].Seq != 2 || page.Next != 2 {
		t.Fatalf("first processed page %+v", page)
	}
	s.GetJSON(t, fmt.Sprintf("/v1/events?limit=1&state=processed&before_seq=%d", page.Next), 200, &page)
	if len(page.Events) != 1 || page.Events[0].Seq != 1 || page.Next != 0 {
		t.Fatalf("second processed page %+v", page)
	}
	var one delivery.EventDetail
	s.GetJSON(t, "/v1/events/3", 200, &one)
	if one.Params["SdkAppid"] != appID || one.Params["Sign"] != "" || !bytes.Contains(one.Body, []byte(`"TopicId":"bad"`)) {
		t.Fatalf("event 3 %+v body %s", one, one.Body)
	}
	s.GetJSON(t, "/v1/events/99", 404, nil)
	s.GetJSON(t, "/v1/events?state=lost", 400, nil)
	s.GetJSON(t, "/v1/events?command=Group.CallbackAfterCreateTopic", 200, &page)
	if len(page.Events) != 3 {
		t.Fatalf("by command: %+v", page)
	}
	// A pattern selects by parts; what would be no valid filter is a 400, not a 500.
	for _, command := range []string{"Group.*", "%3E", "Group.%3E"} {
		s.GetJSON(t, "/v1/events?command="+command, 200, &page)
		if len(page.Events) != 3 {
			t.Fatalf("command %s: %+v", command, page)
		}
	}
	for _, command := range []string{"a%20b", "Group..X", "Gr*up.X", "%3E.X"} {
		s.GetJSON(t, "/v1/events?command="+command, 400, nil)
	}
	if code, body := postJSON(t, s.AdminURL+"/v1/events/replay", `{"seqs":[`+strings.Repeat("1,", 600<<10)+`1]}`); code != 413 {
		t.Fatalf("a replay body over 1 MiB: %d %.200s", code, body)
	}

	var dead struct {
		DeadLetters []delivery.DeadLetterInfo `json:"dead_letters"`
		Total       int                       `json:"total"`
		Truncated   bool                      `json:"truncated"`
	}
	s.GetJSON(t, "/v1/dead-letters", 200, &dead)
	if len(dead.DeadLetters) != 1 || dead.DeadLetters[0].Seq != 3 || !strings.Contains(dead.DeadLetters[0].LastError, "refused") ||
		dead.Total != 1 || dead.Truncated {
		t.Fatalf("dead letters %+v", dead)
	}
	for _, limit := range []string{"0", "10001", "x"} {
		resp, err := http.Get(s.AdminURL + "/v1/dead-letters?limit=" + limit)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 400 || !strings.Contains(string(body), `"error":"limit must be from 1 to 10000"`) {
			t.Errorf("GET /v1/dead-letters?limit=%s: %d %s, want a 400 saying the range", limit, resp.StatusCode, body)
		}
	}
	if code, body := postJSON(t, s.AdminURL+"/v1/events/replay", `{"seqs":[1],"since":"1h"}`); code != 400 {
		t.Fatalf("two selections at once: %d %s", code, body)
	}
	fixed.Store(true)
	if code, body := postJSON(t, s.AdminURL+"/v1/events/replay", `{"dead":true}`); code != 200 || !strings.Contains(body, `"replayed":1`) {
		t.Fatalf("replay: %d %s", code, body)
	}
	s.GetJSON(t, "/v1/dead-letters", 200, &dead)
	if len(dead.DeadLetters) != 0 {
		t.Fatalf("dead letters left after the replay: %+v", dead)
	}
	waitUntil(t, "the replayed copy processed", func() bool {
		s.GetJSON(t, "/v1/events?limit=1", 200, &list)
		return len(list.Events) == 1 && list.Events[0].Seq == 4 && list.Events[0].State == "processed"
	})
}

// TestEventLogNeedsDurableDelivery: inline, the event endpoints answer 409.
// TestEventFilterCheckedOnAnEmptyStream: a command filter that is no valid
// filter is a 400 before anything is stored too, not a 200 with no events.
func TestEventFilterCheckedOnAnEmptyStream(t *testing.T) {
	s := start(t, nil, delivery.Module)
	for _, command := range []string{"a%20b", "Group..X", "Gr*up.X", "%3E.X", "%00", "Group.%07X"} {
		s.GetJSON(t, "/v1/events?command="+command, 400, nil)
	}
	var page eventList
	s.GetJSON(t, "/v1/events?command=Group.*", 200, &page)
	if len(page.Events) != 0 {
		t.Fatalf("events of an empty stream: %+v", page)
	}
}

func TestEventLogNeedsDurableDelivery(t *testing.T) {
	s := imtest.Start(t, []string{"IMCALLBACK_DELIVERY=inline"})
	for _, path := range []string{"/v1/events", "/v1/events/1", "/v1/dead-letters"} {
		s.GetJSON(t, path, 409, nil)
	}
	if code, body := postJSON(t, s.AdminURL+"/v1/events/replay", `{"dead":true}`); code != 409 || !strings.Contains(body, "durable delivery is off") {
		t.Fatalf("replay inline: %d %s", code, body)
	}
}

// TestPauseAndResumeDelivery: paused, callbacks are still acknowledged and
// stored but not processed; resumed, they are.
func TestPauseAndResumeDelivery(t *testing.T) {
	var ran atomic.Int32
	s := start(t, nil, delivery.Module, fx.Provide(dispatcher.AsCommand(func() dispatcher.Command {
		return dispatcher.After("Group.CallbackAfterCreateTopic", func(context.Context, *dispatcher.Event[topicPayload]) error {
			ran.Add(1)
			return nil
		})
	})))
	if code, body := postJSON(t, s.AdminURL+"/v1/delivery/pause", ``); code != 200 || !strings.Contains(body, `"state":"paused"`) {
		t.Fatalf("pause: %d %s", code, body)
	}
	for i := range 3 {
		if res := do(t, s, call{command: "Group.CallbackAfterCreateTopic", body: fmt.Sprintf(`{"TopicId":"p%d"}`, i)}); !res.OK() {
			t.Fatalf("paused callback answered %d", res.Status)
		}
	}
	var st struct {
		State    string                  `json:"state"`
		Commands []delivery.CommandState `json:"commands"`
	}
	s.GetJSON(t, "/v1/delivery", 200, &st)
	if st.State != "paused" || len(st.Commands) != 1 || st.Commands[0].Pending != 3 || ran.Load() != 0 {
		t.Fatalf("while paused: %+v, handler ran %d times", st, ran.Load())
	}
	if code, body := postJSON(t, s.AdminURL+"/v1/delivery/resume", `{}`); code != 200 || !strings.Contains(body, `"state":"running"`) {
		t.Fatalf("resume: %d %s", code, body)
	}
	waitUntil(t, "the stored events processed", func() bool { return ran.Load() == 3 })
	waitUntil(t, "nothing pending", func() bool {
		s.GetJSON(t, "/v1/delivery", 200, &st)
		return len(st.Commands) == 0 || st.Commands[0].Pending == 0
	})
}

// TestPauseOneCommand: POST /v1/delivery/pause with {"command":…} holds
// that command's events back while the others run; resume lets them run.
func TestPauseOneCommand(t *testing.T) {
	var created, destroyed atomic.Int32
	const create, destroy = "Group.CallbackAfterCreateTopic", "Group.CallbackAfterTopicDestroyed"
	s := start(t, nil, delivery.Module, fx.Provide(
		dispatcher.AsCommand(func() dispatcher.Command {
			return dispatcher.After(create, func(context.Context, *dispatcher.Event[topicPayload]) error {
				created.Add(1)
				return nil
			})
		}),
		dispatcher.AsCommand(func() dispatcher.Command {
			return dispatcher.After(destroy, func(context.Context, *dispatcher.Event[topicPayload]) error {
				destroyed.Add(1)
				return nil
			})
		}),
	))
	for _, c := range []struct{ body, want string }{
		{`{"command":"Group.CallbackAfterNobody"}`, "not an after-command"},
		{`{"command":`, "the body must be empty"},
	} {
		if code, body := postJSON(t, s.AdminURL+"/v1/delivery/pause", c.body); code != 400 || !strings.Contains(body, c.want) {
			t.Errorf("pause %s: %d %s, want 400 with %q", c.body, code, body, c.want)
		}
	}
	code, body := postJSON(t, s.AdminURL+"/v1/delivery/pause", `{"command":"`+create+`"}`)
	if code != 200 || !strings.Contains(body, `"state":"running"`) || !strings.Contains(body, `"paused_commands":["`+create+`"]`) {
		t.Fatalf("pause one command: %d %s", code, body)
	}
	for _, cmd := range []string{create, destroy} {
		if res := do(t, s, call{command: cmd, body: `{"TopicId":"one"}`}); !res.OK() {
			t.Fatalf("%s answered %d", cmd, res.Status)
		}
	}
	waitUntil(t, "the other command processed", func() bool { return destroyed.Load() == 1 })

	var st struct {
		State          string                  `json:"state"`
		PausedCommands []string                `json:"paused_commands"`
		Commands       []delivery.CommandState `json:"commands"`
	}
	s.GetJSON(t, "/v1/delivery", 200, &st)
	// The other command's event is processed, but above the held one it
	// stays below no ack floor yet: its pending count is not asserted.
	if st.State != "running" || len(st.Commands) != 2 || created.Load() != 0 ||
		st.Commands[0] != (delivery.CommandState{Command: create, State: "paused", Pending: 1, AfterCommand: true}) ||
		st.Commands[1].Command != destroy || st.Commands[1].State != "running" {
		t.Fatalf("while one command is paused: %+v; the paused handler ran %d times", st, created.Load())
	}

	code, body = postJSON(t, s.AdminURL+"/v1/delivery/resume", `{"command":"`+create+`"}`)
	if code != 200 || !strings.Contains(body, `"paused_commands":[]`) {
		t.Fatalf("resume one command: %d %s", code, body)
	}
	waitUntil(t, "the held event processed", func() bool { return created.Load() == 1 })
	waitUntil(t, "nothing pending", func() bool {
		s.GetJSON(t, "/v1/delivery", 200, &st)
		return st.Commands[0].Pending == 0 && st.Commands[1].Pending == 0
	})
}

// TestReplayOneDeadLetter: {"dead":true,"seqs":[…]} replays those dead
// letters and removes them from the list; the others stay.
func TestReplayOneDeadLetter(t *testing.T) {
	var fixed atomic.Bool
	var ran atomic.Int32
	s := start(t, []string{"IMCALLBACK_MAX_DELIVERIES=1", "IMCALLBACK_BACKOFF=10ms"}, delivery.Module,
		fx.Provide(dispatcher.AsCommand(func() dispatcher.Command {
			return dispatcher.After("Group.CallbackAfterCreateTopic", func(context.Context, *dispatcher.Event[topicPayload]) error {
				if !fixed.Load() {
					return errors.New("broken on purpose")
				}
				ran.Add(1)
				return nil
			})
		})))
	for _, id := range []string{"d1", "d2"} {
		if res := do(t, s, call{command: "Group.CallbackAfterCreateTopic", body: `{"TopicId":"` + id + `"}`}); !res.OK() {
			t.Fatalf("answered %d", res.Status)
		}
	}
	var dead struct {
		DeadLetters []delivery.DeadLetterInfo `json:"dead_letters"`
	}
	waitUntil(t, "two dead letters", func() bool {
		s.GetJSON(t, "/v1/dead-letters", 200, &dead)
		return len(dead.DeadLetters) == 2
	})
	first, second := dead.DeadLetters[0].Seq, dead.DeadLetters[1].Seq
	fixed.Store(true)
	code, body := postJSON(t, s.AdminURL+"/v1/events/replay", fmt.Sprintf(`{"dead":true,"seqs":[%d,999999]}`, first))
	if code != 200 || !strings.Contains(body, `"replayed":1`) || !strings.Contains(body, `"missing":[999999]`) {
		t.Fatalf("replay one dead letter: %d %s", code, body)
	}
	waitUntil(t, "the replayed event handled", func() bool { return ran.Load() == 1 })
	s.GetJSON(t, "/v1/dead-letters", 200, &dead)
	if len(dead.DeadLetters) != 1 || dead.DeadLetters[0].Seq != second {
		t.Errorf("dead letters after replaying #%d: %+v, want #%d alone", first, dead.DeadLetters, second)
	}
}

// TestPauseAnswersPausedWhenItsWaitRunsOut: a handler that outlives the
// shutdown timeout is cancelled; the pause has happened all the same, and
// the answer says so instead of a 500.
//
// The handler blocks until the test ends, so any shutdown timeout runs
// out; it is a second, not 100 ms, because it also bounds each step of the
// service's stop at cleanup: on a busy machine the NATS connection's drain
// took over 100 ms and the stop failed the test.
func TestPauseAnswersPausedWhenItsWaitRunsOut(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	s := start(t, []string{"IMCALLBACK_SHUTDOWN_TIMEOUT=1s"}, delivery.Module, fx.Provide(dispatcher.AsCommand(func() dispatcher.Command {
		return dispatcher.After("Group.CallbackAfterCreateTopic", func(context.Context, *dispatcher.Event[topicPayload]) error {
			select {
			case started <- struct{}{}:
			default:
			}
			<-release // ignores its context
			return nil
		})
	})))
	t.Cleanup(func() { close(release) }) // before the service's own stop
	if res := do(t, s, call{command: "Group.CallbackAfterCreateTopic", body: `{"TopicId":"slow"}`}); !res.OK() {
		t.Fatalf("callback answered %d", res.Status)
	}
	<-started
	if code, body := postJSON(t, s.AdminURL+"/v1/delivery/pause", ``); code != 200 || !strings.Contains(body, `"state":"paused"`) {
		t.Fatalf("pause: %d %s", code, body)
	}
}

// TestReplayRefusesWhatItWouldNotHonour: a replay body with a field its
// selection would ignore (a command without since), a sequence no event
// has (0, which the stream refuses after the sequences before it were
// replayed), an empty or null seqs (with dead it would read as every dead letter)
// or a body with more than its JSON value is a 400, and
// nothing is replayed: the dead letter stays and no copy is stored.
func TestReplayRefusesWhatItWouldNotHonour(t *testing.T) {
	s := start(t, []string{"IMCALLBACK_MAX_DELIVERIES=1", "IMCALLBACK_BACKOFF=10ms"}, delivery.Module,
		fx.Provide(dispatcher.AsCommand(func() dispatcher.Command {
			return dispatcher.After("Group.CallbackAfterCreateTopic", func(context.Context, *dispatcher.Event[topicPayload]) error {
				return errors.New("broken on purpose")
			})
		})))
	if res := do(t, s, call{command: "Group.CallbackAfterCreateTopic", body: `{"TopicId":"d1"}`}); !res.OK() {
		t.Fatalf("answered %d", res.Status)
	}
	var dead struct {
		DeadLetters []delivery.DeadLetterInfo `json:"dead_letters"`
	}
	waitUntil(t, "one dead letter", func() bool {
		s.GetJSON(t, "/v1/dead-letters", 200, &dead)
		return len(dead.DeadLetters) == 1
	})
	for _, tt := range []struct {
		name, body string
	}{
		{"dead letters of one command", `{"dead":true,"command":"Group.CallbackAfterTopicDestroyed"}`},
		{"sequences of one command", `{"seqs":[1],"command":"Group.CallbackAfterTopicDestroyed"}`},
		{"dead letters of sequences of one command", `{"dead":true,"seqs":[1],"command":"Group.CallbackAfterTopicDestroyed"}`},
		{"sequence 0", `{"seqs":[0]}`},
		{"sequence 0 after a real one", `{"seqs":[1,0]}`},
		{"dead letter of sequence 0", `{"dead":true,"seqs":[0]}`},
		{"dead letters of no sequence", `{"dead":true,"seqs":[]}`},
		{"dead letters of a null seqs", `{"dead":true,"seqs":null}`},
		{"no sequence since a time", `{"since":"1h","seqs":[]}`},
		{"a second value", `{"seqs":[1]} {"dead":true}`},
		{"text after the value", `{"seqs":[1]} and 2`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			code, body := postJSON(t, s.AdminURL+"/v1/events/replay", tt.body)
			if code != http.StatusBadRequest || !strings.Contains(body, `"error"`) {
				t.Fatalf("POST %s: %d %s, want a 400", tt.body, code, body)
			}
			s.GetJSON(t, "/v1/dead-letters", 200, &dead)
			var list eventList
			s.GetJSON(t, "/v1/events", 200, &list)
			if len(dead.DeadLetters) != 1 || len(list.Events) != 1 {
				t.Fatalf("after POST %s: dead letters %+v, events %+v; want the one event, dead, and no copy", tt.body, dead.DeadLetters, list.Events)
			}
		})
	}
}

// TestPauseRefusesAnUnknownBody: a pause or resume body that is not empty,
// {} or {"command":"…"} (a misspelt field, a second JSON value, null, an
// empty or null command, as an unset variable gives) is a 400 and changes
// nothing, rather than pausing or resuming all delivery.
func TestPauseRefusesAnUnknownBody(t *testing.T) {
	const command = "Group.CallbackAfterCreateTopic"
	s := start(t, nil, delivery.Module, fx.Provide(dispatcher.AsCommand(func() dispatcher.Command {
		return dispatcher.After(command, func(context.Context, *dispatcher.Event[topicPayload]) error { return nil })
	})))
	var st struct {
		State          string   `json:"state"`
		PausedCommands []string `json:"paused_commands"`
	}
	for _, action := range []string{"pause", "resume"} {
		if action == "resume" { // a resume refused must leave delivery paused
			if code, body := postJSON(t, s.AdminURL+"/v1/delivery/pause", `{}`); code != 200 {
				t.Fatalf("pause: %d %s", code, body)
			}
		}
		want := map[string]string{"pause": "running", "resume": "paused"}[action]
		for _, body := range []string{
			`{"comand":"` + command + `"}`,
			`{"Command":"` + command + `","all":true}`,
			`{"command":"` + command + `"} {}`,
			`{} {"command":"` + command + `"}`,
			`null`,
			`{"command":""}`,
			`{"command":null}`,
			`{"command":1}`,
		} {
			code, answer := postJSON(t, s.AdminURL+"/v1/delivery/"+action, body)
			if code != http.StatusBadRequest {
				t.Errorf("POST /v1/delivery/%s %s: %d %s, want a 400", action, body, code, answer)
			}
			s.GetJSON(t, "/v1/delivery", 200, &st)
			if st.State != want || len(st.PausedCommands) != 0 {
				t.Fatalf("after POST /v1/delivery/%s %s: %+v, want %s with no command paused", action, body, st, want)
			}
		}
	}
}

// TestReplayCopiesEachSequenceOnce: a sequence given more than once in
// one replay is copied once, so its handler runs once more, not once per
// mention; the answer counts it once and lists a missing one once.
func TestReplayCopiesEachSequenceOnce(t *testing.T) {
	s := start(t, nil, delivery.Module, fx.Provide(dispatcher.AsCommand(func() dispatcher.Command {
		return dispatcher.After("Group.CallbackAfterCreateTopic", func(context.Context, *dispatcher.Event[topicPayload]) error { return nil })
	})))
	if res := do(t, s, call{command: "Group.CallbackAfterCreateTopic", body: `{"TopicId":"once"}`}); !res.OK() {
		t.Fatalf("answered %d", res.Status)
	}
	var list eventList
	waitUntil(t, "the event processed", func() bool {
		s.GetJSON(t, "/v1/events", 200, &list)
		return len(list.Events) == 1 && list.Events[0].State == delivery.StateProcessed
	})
	seq := list.Events[0].Seq
	body := fmt.Sprintf(`{"seqs":[%d,99,%d,99,%d]}`, seq, seq, seq)
	code, answer := postJSON(t, s.AdminURL+"/v1/events/replay", body)
	if want := `{"missing":[99],"replayed":1}`; code != 200 || strings.TrimSpace(answer) != want {
		t.Fatalf("POST %s: %d %s, want 200 %s", body, code, answer, want)
	}
	s.GetJSON(t, "/v1/events", 200, &list)
	if len(list.Events) != 2 {
		t.Fatalf("after the replay: %+v, want the event and one copy", list.Events)
	}
}

// TestEventCommandFilterInOtherCaseIsRefused: command names are
// case-sensitive, so a filter of /v1/events or of a since replay that
// names an after-command in another case (group.callbackaftercreatetopic,
// group.*) selected nothing and was answered 200 with no events, or
// {"replayed":0}: as if the command had none. It is a 400 naming the
// command's spelling; a filter of a command the service does not handle
// is still a plain selection.
func TestEventCommandFilterInOtherCaseIsRefused(t *testing.T) {
	s := start(t, nil, delivery.Module,
		fx.Provide(dispatcher.AsCommand(func() dispatcher.Command {
			return dispatcher.After("Group.CallbackAfterCreateTopic", func(context.Context, *dispatcher.Event[topicPayload]) error {
				return nil
			})
		})))
	var page eventList
	for _, command := range []string{"Group.CallbackAfterCreateTopic", "Group.*", "Group.%3E", "%3E", "*.CallbackAfterCreateTopic", "C2C.CallbackAfterSendMsg"} {
		s.GetJSON(t, "/v1/events?command="+command, 200, &page)
	}
	for _, command := range []string{"group.callbackaftercreatetopic", "Group.callbackAfterCreateTopic", "group.*", "GROUP.%3E", "*.callbackaftercreatetopic"} {
		var e struct {
			Error string `json:"error"`
		}
		s.GetJSON(t, "/v1/events?command="+command, 400, &e)
		if !strings.Contains(e.Error, "Group.CallbackAfterCreateTopic") || !strings.Contains(e.Error, "case") {
			t.Errorf("command=%s: error %q does not name the command's spelling", command, e.Error)
		}
		code, body := postJSON(t, s.AdminURL+"/v1/events/replay", `{"since":"1h","command":"`+strings.ReplaceAll(command, "%3E", ">")+`"}`)
		if code != 400 || !strings.Contains(body, "Group.CallbackAfterCreateTopic") {
			t.Errorf("replay of command %s since 1h: %d %s, want a 400 naming the command's spelling", command, code, body)
		}
	}
	if code, body := postJSON(t, s.AdminURL+"/v1/events/replay", `{"since":"1h","command":"Group.CallbackAfterCreateTopic"}`); code != 200 {
		t.Fatalf("replay of the command in its spelling: %d %s", code, body)
	}
}
