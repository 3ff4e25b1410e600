package e2e_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/imcallback/imcallback/imtest"
)

// TestRunbookAgainstTheRunningService follows the README's runbook with the
// real binary, started on its defaults plus loopback ports: a topic change
// that arrives before its topic fails and is dead-lettered; the operator
// reads the dead letters, pauses and resumes delivery, fixes the cause (the
// create arrives), replays the dead letters, and finds nothing dead or
// pending. Every command asks the running service's admin API.
func TestRunbookAgainstTheRunningService(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary; skipped with -short")
	}
	bin := buildBinary(t, "./cmd/imcallback")
	env := []string{"IMCALLBACK_SDKAPPID=" + imtest.AppID, "IMCALLBACK_TOKENS=runbook", "IMCALLBACK_MAX_DELIVERIES=1",
		"IMCALLBACK_BACKOFF=10ms", "IMCALLBACK_DATA_DIR=" + t.TempDir(), "IMCALLBACK_LOG_LEVEL=warn"}
	p := startProcess(t, bin, env, true, "serve")
	run := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, append([]string{"--admin", p.admin}, args...)...)
		cmd.Env = serviceEnv(env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("imcallback %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		t.Logf("$ imcallback %s\n%s", strings.Join(args, " "), out)
		return string(out)
	}
	sender := imtest.Sender{URL: p.public + "/im/callback", AppID: imtest.AppID, Token: "runbook", Client: client}
	send := func(command string, fields map[string]any) {
		t.Helper()
		body, err := imtest.SampleWith(command, fields)
		if err != nil {
			t.Fatal(err)
		}
		res, err := sender.Send(context.Background(), command, body)
		if err != nil || !res.OK() {
			t.Fatalf("%s: %v %v", command, err, res)
		}
	}
	const topicID = "@TGS#_runbook@TOPIC#_1"
	send("Group.CallbackAfterTopicInfoChanged", map[string]any{"GroupId": "@TGS#_runbook", "TopicId": topicID, "Name": "renamed"})
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(run("events", "dead"), "Group.CallbackAfterTopicInfoChanged") {
		if time.Now().After(deadline) {
			t.Fatal("the failing change never reached the dead letters")
		}
		time.Sleep(200 * time.Millisecond)
	}
	if out := run("delivery", "pause"); !strings.Contains(out, "delivery paused") {
		t.Fatalf("pause: %s", out)
	}
	send("Group.CallbackAfterCreateTopic", map[string]any{"GroupId": "@TGS#_runbook", "TopicId": topicID, "Name": "first"}) // the fix
	if out := run("delivery", "status"); !strings.Contains(out, "Group.CallbackAfterCreateTopic") {
		t.Fatalf("status while paused: %s", out)
	}
	run("delivery", "resume")
	// The operator replays once the fix is in: the create applied. Replayed
	// sooner, the change could run before the create (delivery keeps no
	// order) and, with one delivery allowed, be dead-lettered again.
	deadline = time.Now().Add(20 * time.Second)
	for {
		ids, err := topicIDs(client, strings.TrimPrefix(p.admin, "http://"), "@TGS#_runbook")
		if err == nil && slices.Contains(ids, topicID) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the create was not applied after the resume: %v %v", ids, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if out := run("events", "replay", "--dead"); !strings.Contains(out, "replayed 1 event(s)") {
		t.Fatalf("replay: %s", out)
	}
	deadline = time.Now().Add(20 * time.Second)
	for {
		dead, status := run("events", "dead", "--json"), run("delivery", "status", "--json")
		if strings.Contains(dead, `"dead_letters": []`) && nothingPending(t, status) &&
			strings.Contains(run("topics", "get", topicID), `"name": "renamed"`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not recovered:\n%s\n%s", dead, status)
		}
		time.Sleep(200 * time.Millisecond)
	}
	var list struct {
		Events []struct {
			Seq uint64 `json:"seq"`
		} `json:"events"`
	}
	if err := json.Unmarshal([]byte(run("events", "list", "--json")), &list); err != nil || len(list.Events) == 0 {
		t.Fatalf("events list --json: %v", err)
	}
	oldest := list.Events[len(list.Events)-1].Seq
	if out := run("events", "get", strconv.FormatUint(oldest, 10)); !strings.Contains(out, topicID) || !strings.Contains(out, "Group.CallbackAfterTopicInfoChanged") {
		t.Fatalf("events get: %s", out)
	}
	run("events", "list")
}

// nothingPending reports whether `delivery status --json` counts no event
// pending and no dead letter, of any command. (Its text only lacking
// `"pending": 1` passed with two events pending, or ten.)
func nothingPending(t *testing.T, status string) bool {
	t.Helper()
	var st struct {
		Commands []struct {
			Pending     int `json:"pending"`
			DeadLetters int `json:"dead_letters"`
		} `json:"commands"`
		DeadWithoutCommand int `json:"dead_letters_without_command"`
	}
	if err := json.Unmarshal([]byte(status), &st); err != nil {
		t.Fatalf("delivery status --json: %v\n%s", err, status)
	}
	if len(st.Commands) == 0 {
		t.Fatalf("delivery status --json lists no command:\n%s", status)
	}
	for _, c := range st.Commands {
		if c.Pending != 0 || c.DeadLetters != 0 {
			return false
		}
	}
	return st.DeadWithoutCommand == 0
}

// TestNothingPendingReadsEveryCount: the runbook's last check took the
// status for drained when its text lacked `"pending": 1`, so two events
// pending, or a dead letter left, passed as nothing pending.
func TestNothingPendingReadsEveryCount(t *testing.T) {
	line := func(pending, dead int) string {
		return fmt.Sprintf(`{"command": "Group.CallbackAfterTopicInfoChanged", "state": "running", "pending": %d, "dead_letters": %d}`, pending, dead)
	}
	status := func(dead int, lines ...string) string {
		return fmt.Sprintf(`{"state": "running", "paused_commands": [], "commands": [%s], "dead_letters_without_command": %d}`,
			strings.Join(lines, ", "), dead)
	}
	for _, tt := range []struct {
		name, status string
		want         bool
	}{
		{"drained", status(0, line(0, 0), line(0, 0)), true},
		{"one pending", status(0, line(0, 0), line(1, 0)), false},
		{"two pending", status(0, line(2, 0), line(0, 0)), false},
		{"a dead letter", status(0, line(0, 1)), false},
		{"a dead letter without a command", status(1, line(0, 0)), false},
	} {
		if got := nothingPending(t, tt.status); got != tt.want {
			t.Errorf("%s: nothingPending = %v, want %v", tt.name, got, tt.want)
		}
	}
}
