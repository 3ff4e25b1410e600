package dispatcher_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/internal/tooling"
	"github.com/imcallback/imcallback/metrics"
	"github.com/imcallback/imcallback/protocol"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
)

type typedPayload struct {
	From string `json:"From_Account"`
}

type typedReply struct {
	CloudCustomData string `json:"CloudCustomData,omitempty"`
}

func TestTypedBeforeCommand(t *testing.T) {
	cmd := dispatcher.NewBeforeCommand[typedPayload, typedReply]("C2C.CallbackBeforeSendMsg")
	tests := []struct {
		name      string
		reply     dispatcher.Reply[typedReply]
		err       error
		wantCode  float64
		wantExtra string
	}{
		{"zero value allows", dispatcher.Reply[typedReply]{}, nil, 0, ""},
		{"allow", cmd.Allow(), nil, 0, ""},
		{"modify", cmd.Modify(typedReply{CloudCustomData: "x"}), nil, 0, "x"},
		{"deny", cmd.Deny("no"), nil, 1, ""},
		{"custom code in range", cmd.DenyWithCode(120002, "no"), nil, 120002, ""},
		{"custom code out of range is a plain deny", cmd.DenyWithCode(5, "no"), nil, 1, ""},
		{"DenyWithCode(0) refuses", cmd.DenyWithCode(0, "no"), nil, 1, ""},   // not an allow
		{"DenyWithCode(2) refuses", cmd.DenyWithCode(2, "no"), nil, 1, ""},   // not a silent drop
		{"DenyWithCode(1) is a deny", cmd.DenyWithCode(1, "no"), nil, 1, ""}, // the plain deny's code
		{"drop", cmd.Drop(), nil, 2, ""},
		{"error falls back", cmd.Deny("ignored"), errors.New("boom"), 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got string
			h := newHarness(t, dispatcher.Options{Fallback: dispatcher.Decision{Code: dispatcher.CodeAllow}},
				cmd.Handle(func(_ context.Context, ev *dispatcher.Event[typedPayload]) (dispatcher.Reply[typedReply], error) {
					got = ev.Payload.From
					return tt.reply, tt.err
				}))
			_, out := h.do(cmd.Name(), `{"From_Account":"u1"}`)
			if got != "u1" {
				t.Fatalf("payload From = %q", got)
			}
			if out["ErrorCode"] != tt.wantCode {
				t.Fatalf("answer %v", out)
			}
			if extra, _ := out["CloudCustomData"].(string); extra != tt.wantExtra {
				t.Fatalf("reply field %q, want %q", extra, tt.wantExtra)
			}
		})
	}
}

// TestFallbackOfAnotherCommandIsRefused: a fallback built with another
// command's verbs would send reply fields this command does not take; a
// plain deny of another command is still fine.
func TestFallbackOfAnotherCommandIsRefused(t *testing.T) {
	sendMsg := dispatcher.NewBeforeCommand[typedPayload, typedReply]("C2C.CallbackBeforeSendMsg")
	createGroup := dispatcher.NewBeforeCommand[typedPayload, dispatcher.NoReply]("Group.CallbackBeforeCreateGroup")
	handle := func(context.Context, *dispatcher.Event[typedPayload]) (dispatcher.Reply[dispatcher.NoReply], error) {
		return createGroup.Allow(), nil
	}
	foreign := createGroup.Handle(handle, dispatcher.WithFallback(sendMsg.Modify(typedReply{CloudCustomData: "x"})))
	if _, err := dispatcher.New([]dispatcher.Command{foreign}, dispatcher.Options{BeforeTimeout: time.Second}, zap.NewNop(),
		metrics.NewCallbacks(prometheus.NewRegistry())); err == nil || !strings.Contains(err.Error(), "fallback's reply fields") {
		t.Errorf("a fallback with another command's reply fields: %v", err)
	}
	// A command whose reply type is an interface takes its own verbs' fallback.
	open := dispatcher.NewBeforeCommand[typedPayload, any]("Test.CallbackBeforeOpen")
	allow := func(context.Context, *dispatcher.Event[typedPayload]) (dispatcher.Reply[any], error) {
		return open.Allow(), nil
	}
	own := open.Handle(allow, dispatcher.WithFallback(open.Modify(map[string]string{"Field": "x"})))
	if _, err := dispatcher.New([]dispatcher.Command{own}, dispatcher.Options{BeforeTimeout: time.Second}, zap.NewNop(),
		metrics.NewCallbacks(prometheus.NewRegistry())); err != nil {
		t.Errorf("a fallback of the command's own verbs, reply type any: %v", err)
	}
	plain := createGroup.Handle(handle, dispatcher.WithFallback(sendMsg.Deny("later")))
	if _, err := dispatcher.New([]dispatcher.Command{plain}, dispatcher.Options{BeforeTimeout: time.Second}, zap.NewNop(),
		metrics.NewCallbacks(prometheus.NewRegistry())); err != nil {
		t.Errorf("a plain deny of another command: %v", err)
	}
}

func TestNoReplyCannotModify(t *testing.T) {
	cmd := dispatcher.NewBeforeCommand[typedPayload, dispatcher.NoReply]("Group.CallbackBeforeCreateGroup")
	if cmd.Tooling(tooling.K).ReplyType() != nil {
		t.Fatal("NoReply has a reply type")
	}
	if d := cmd.Modify(dispatcher.NoReply{}).Decision(); d.Reply != nil || d.Outcome() != "allow" {
		t.Fatalf("decision %+v", d)
	}
	h := newHarness(t, dispatcher.Options{}, cmd.Handle(func(context.Context, *dispatcher.Event[typedPayload]) (dispatcher.Reply[dispatcher.NoReply], error) {
		return cmd.Drop(), nil
	}))
	if _, out := h.do(cmd.Name(), `{}`); out["ErrorCode"] != float64(1) || len(out) != 3 {
		t.Fatalf("drop on a non-message command: %v", out)
	}
}

func TestDescriptors(t *testing.T) {
	before := dispatcher.NewBeforeCommand[typedPayload, typedReply]("C2C.CallbackBeforeSendMsg")
	after := dispatcher.NewAfterCommand[typedPayload]("C2C.CallbackAfterSendMsg")
	for _, tt := range []struct {
		d     dispatcher.Descriptor
		kind  dispatcher.Kind
		reply reflect.Type
	}{
		{before, dispatcher.KindBefore, reflect.TypeFor[typedReply]()},
		{after, dispatcher.KindAfter, nil},
	} {
		t.Run(tt.d.Name(), func(t *testing.T) {
			if tt.d.Kind() != tt.kind || tt.d.Tooling(tooling.K).PayloadType() != reflect.TypeFor[typedPayload]() || tt.d.Tooling(tooling.K).ReplyType() != tt.reply {
				t.Fatalf("kind %v payload %v reply %v", tt.d.Kind(), tt.d.Tooling(tooling.K).PayloadType(), tt.d.Tooling(tooling.K).ReplyType())
			}
			p, err := tt.d.Tooling(tooling.K).Decode([]byte(`{"From_Account":"u2","Extra":1}`))
			if err != nil || p.(*typedPayload).From != "u2" {
				t.Fatalf("Decode: %v %v", p, err)
			}
			if _, err := tt.d.Tooling(tooling.K).Decode([]byte(`{"From_Account":7}`)); !errors.Is(err, dispatcher.ErrDecode) {
				t.Fatalf("Decode error %v", err)
			}
			var got any
			cmd := tt.d.Tooling(tooling.K).HandleAny(func(_ context.Context, ev any) (dispatcher.Decision, error) {
				got = ev
				return dispatcher.Decision{}, nil
			})
			if cmd.Name() != tt.d.Name() || cmd.Kind() != tt.kind {
				t.Fatal("HandleAny built another command")
			}
			if _, err := cmd.Handle(context.Background(), &dispatcher.Request{Command: tt.d.Name(), Body: []byte(`{"From_Account":"u3"}`)}); err != nil {
				t.Fatal(err)
			}
			if ev, ok := got.(*dispatcher.Event[typedPayload]); !ok || ev.Payload.From != "u3" {
				t.Fatalf("HandleAny passed %T", got)
			}
		})
	}
	var called bool
	cmd := after.Handle(func(_ context.Context, ev *dispatcher.Event[typedPayload]) error {
		called = ev.Payload.From == "u4"
		return nil
	})
	if _, err := cmd.Handle(context.Background(), &dispatcher.Request{Body: []byte(`{"From_Account":"u4"}`)}); err != nil || !called {
		t.Fatal("after-handler not run")
	}
	if f, ok := before.Modify(typedReply{CloudCustomData: "y"}).Fields(); !ok || f.CloudCustomData != "y" {
		t.Fatal("Fields")
	}
	if _, ok := before.Allow().Fields(); ok {
		t.Fatal("Allow has fields")
	}
}

// rawReply writes its own JSON object.
type rawReply string

func (r rawReply) MarshalJSON() ([]byte, error) { return []byte(`{"Raw":"` + string(r) + `"}`), nil }

// textReply is a struct that encodes as its text, a JSON string.
type textReply struct{ ID string }

func (r textReply) MarshalText() ([]byte, error) { return []byte("id-" + r.ID), nil }

// addressableTextReply has a MarshalText of its pointer only, which a
// value of it sent as the reply fields does not use: it encodes as an
// object.
type addressableTextReply struct{ ID string }

func (r *addressableTextReply) MarshalText() ([]byte, error) { return []byte("id-" + r.ID), nil }

// TestReplyFieldsThatAreNoObjectAreRefused: the envelope takes an object's
// fields only, so reply fields declared as a string, a number or a slice
// answered every Modify with the fallback at run time; they now stop the
// start, naming the command. Every type that can encode as an object is
// still taken.
func TestReplyFieldsThatAreNoObjectAreRefused(t *testing.T) {
	build := func(cmd dispatcher.Command) error {
		_, err := dispatcher.New([]dispatcher.Command{cmd}, dispatcher.Options{BeforeTimeout: time.Second}, zap.NewNop(),
			metrics.NewCallbacks(prometheus.NewRegistry()))
		return err
	}
	tests := []struct {
		name    string
		cmd     dispatcher.Command
		refused bool
	}{
		{"a string", beforeWithReply[string](), true},
		{"an int", beforeWithReply[int](), true},
		{"a slice", beforeWithReply[[]string](), true},
		{"a pointer to a string", beforeWithReply[*string](), true},
		{"a struct", beforeWithReply[typedReply](), false},
		{"a pointer to a struct", beforeWithReply[*typedReply](), false},
		{"no reply", beforeWithReply[dispatcher.NoReply](), false},
		{"a map", beforeWithReply[map[string]any](), false},
		{"an interface", beforeWithReply[any](), false},
		{"its own MarshalJSON", beforeWithReply[rawReply](), false},
		// A MarshalText (without a MarshalJSON) writes a JSON string: it
		// was taken, and every Modify answered with the fallback.
		{"a struct with its own MarshalText", beforeWithReply[textReply](), true},
		{"a pointer to it", beforeWithReply[*textReply](), true},
		{"a pointer with its own MarshalText", beforeWithReply[*addressableTextReply](), true},
		{"a struct whose pointer has a MarshalText", beforeWithReply[addressableTextReply](), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := build(tt.cmd)
			if tt.refused != (err != nil) {
				t.Fatalf("New: %v, want refused %v", err, tt.refused)
			}
			if tt.refused && !(strings.Contains(err.Error(), "Test.CallbackBeforeReply") && strings.Contains(err.Error(), "declare them as a struct")) {
				t.Errorf("error %q does not name the command and the remedy", err)
			}
		})
	}
	// The verdicts of the MarshalText cases are the envelope's: a value of
	// each type sent as the reply fields encodes so.
	for _, tc := range []struct {
		reply  any
		object bool
	}{
		{textReply{ID: "1"}, false}, {&textReply{ID: "1"}, false},
		{&addressableTextReply{ID: "1"}, false}, {addressableTextReply{ID: "1"}, true},
	} {
		if _, err := protocol.AppendEnvelope(nil, protocol.StatusOK, 0, "", tc.reply); (err == nil) != tc.object {
			t.Errorf("the envelope of a %T: %v, want an object %v", tc.reply, err, tc.object)
		}
	}
}

// beforeWithReply is a before-command whose reply fields are an R, with a
// handler that allows.
func beforeWithReply[R any]() dispatcher.Command {
	cmd := dispatcher.NewBeforeCommand[typedPayload, R]("Test.CallbackBeforeReply")
	return cmd.Handle(func(context.Context, *dispatcher.Event[typedPayload]) (dispatcher.Reply[R], error) {
		return cmd.Allow(), nil
	})
}
