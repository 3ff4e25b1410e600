package moderation_test

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/fx"

	"github.com/imcallback/imcallback/cli"
	"github.com/imcallback/imcallback/config"
	"github.com/imcallback/imcallback/delivery"
	"github.com/imcallback/imcallback/examples/moderation"
	"github.com/imcallback/imcallback/imtest"
	"github.com/imcallback/imcallback/internal/leakwait"
)

func TestMain(m *testing.M) { leakwait.VerifyTestMain(m) }

// start runs the service with the module, as a user's main would, on
// loopback ports, with delivery.Module for mode "durable" and without it
// (inline after-handlers) for "inline".
func start(t *testing.T, mode string) (*imtest.Service, *moderation.Joins) {
	var joins *moderation.Joins
	deliveryModule := fx.Options()
	if mode == config.DeliveryDurable {
		deliveryModule = delivery.Module
	}
	s := imtest.Start(t, []string{"IMCALLBACK_DELIVERY=" + mode, "IMCALLBACK_MODERATION_WORDS=Spam, scam ", "IMCALLBACK_MODERATION_DENY_CODE=120042"},
		deliveryModule, moderation.Module, fx.Populate(&joins))
	return s, joins
}

func message(t *testing.T, text string) []byte {
	t.Helper()
	body, err := imtest.SampleWith("C2C.CallbackBeforeSendMsg", map[string]any{
		"MsgBody": []any{map[string]any{"MsgType": "TIMTextElem", "MsgContent": map[string]any{"Text": text}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return body
}

func TestFilter(t *testing.T) {
	s, _ := start(t, config.DeliveryInline)
	tests := []struct {
		text     string
		wantDeny bool
	}{
		{"hello there", false},
		{"buy SPAM now", true},
		{"a scam!", true},
		{"scampi for dinner", true}, // substring match: the example keeps it simple
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			res := s.Send(t, "C2C.CallbackBeforeSendMsg", message(t, tt.text))
			code, denied := res.Denied()
			if denied != tt.wantDeny {
				t.Fatalf("denied = %v, want %v: %s", denied, tt.wantDeny, res.Body)
			}
			if denied {
				if code != 120042 || res.Envelope.ErrorInfo != "message contains a blocked word" {
					t.Fatalf("deny %d %q", code, res.Envelope.ErrorInfo)
				}
				return
			}
			var tag string
			if !res.Modified() || res.ReplyField("CloudCustomData", &tag) != nil || tag != moderation.CheckedTag {
				t.Fatalf("clean message not tagged: %s", res.Body)
			}
			if _, rewritesBody := res.Reply["MsgBody"]; rewritesBody {
				t.Fatal("the filter must not rewrite the message body")
			}
		})
	}
}

// TestFilterMatchesEveryCase: a word matches in every case Unicode's
// case folding equates with it, not only where the lower cases agree: a
// Greek word configured in capitals (ΒΛΑΚΑΣ, lower case "βλακασ")
// matches its ordinary spelling with the final sigma ("βλακας"), and
// "spam" matches "ſpam" (long s).
func TestFilterMatchesEveryCase(t *testing.T) {
	s := imtest.Start(t, []string{"IMCALLBACK_DELIVERY=inline", "IMCALLBACK_MODERATION_WORDS=ΒΛΑΚΑΣ,spam,βλακεία"},
		moderation.Module)
	for _, tt := range []struct {
		text     string
		wantDeny bool
	}{
		{"ΒΛΑΚΑΣ", true},
		{"είσαι βλακας", true}, // the final sigma ς of the word configured as Σ
		{"Βλακας!", true},
		{"ΒΛΑΚΕΊΑ", true}, // the configured word in capitals
		{"ſpam", true},    // long s, which folds to s
		{"βλακα", false},  // a prefix of the word is not the word
		{"hello", false},
	} {
		t.Run(tt.text, func(t *testing.T) {
			res := s.Send(t, "C2C.CallbackBeforeSendMsg", message(t, tt.text))
			if _, denied := res.Denied(); denied != tt.wantDeny {
				t.Fatalf("denied = %v, want %v: %s", denied, tt.wantDeny, res.Body)
			}
		})
	}
}

// TestFilterSeesThroughInvisibleAndWideCharacters: a blocked word
// written with invisible format characters inside it (zero-width space,
// zero-width joiner, soft hyphen, word joiner, byte order mark, a
// variation selector) or in full-width letters is still found: the text
// looks the same to the reader, so it must to the filter. A word
// configured in full-width letters matches its ASCII spelling too, a word
// of invisible characters alone blocks nothing (as empty, it would be
// found in every text), and an ordinary space between the letters still
// separates them.
func TestFilterSeesThroughInvisibleAndWideCharacters(t *testing.T) {
	s := imtest.Start(t, []string{"IMCALLBACK_DELIVERY=inline", "IMCALLBACK_MODERATION_WORDS=spam,ｓｃａｍ,\u200b\u00ad, \u2060 "},
		moderation.Module)
	for _, tt := range []struct {
		name, text string
		wantDeny   bool
	}{
		{"zero-width space", "buy s\u200bpam now", true},
		{"zero-width joiner and non-joiner", "s\u200dp\u200ca\u200dm", true},
		{"soft hyphen", "SP\u00adAM", true},
		{"word joiner", "sp\u2060am", true},
		{"byte order mark", "\ufeffspa\ufeffm", true},
		{"bidi controls", "s\u202ep\u202ca\u2066m\u2069", true},
		{"variation selector", "spa\ufe0fm", true},
		{"full-width letters", "ｓｐａｍ", true},
		{"full-width capitals", "ＳＰＡＭ", true},
		{"full-width and invisible", "Ｓ\u200bＰＡＭ", true},
		{"configured full-width, sent ASCII", "a SCAM", true},
		{"spaces between the letters", "s p a m", false},
		{"clean", "hello there", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res := s.Send(t, "C2C.CallbackBeforeSendMsg", message(t, tt.text))
			if _, denied := res.Denied(); denied != tt.wantDeny {
				t.Fatalf("%+q: denied = %v, want %v: %s", tt.text, denied, tt.wantDeny, res.Body)
			}
		})
	}
}

// TestFilterKeepsTheSendersCustomData: a clean message that carries its
// own CloudCustomData (a quote, a reply) is allowed unchanged, since a
// reply's CloudCustomData would replace it.
func TestFilterKeepsTheSendersCustomData(t *testing.T) {
	s, _ := start(t, config.DeliveryInline)
	own := `{"messageReply":{"messageID":"m1"}}`
	body, err := imtest.SampleWith("C2C.CallbackBeforeSendMsg", map[string]any{"CloudCustomData": own})
	if err != nil {
		t.Fatal(err)
	}
	res := s.Send(t, "C2C.CallbackBeforeSendMsg", body)
	if !res.Allowed() || res.Modified() {
		t.Fatalf("a clean message with its own custom data: %s, want allowed unchanged", res.Body)
	}
}

func TestJoinsRecordedOnce(t *testing.T) {
	for _, mode := range []string{"inline", "durable"} {
		t.Run(mode, func(t *testing.T) {
			s, joins := start(t, mode)
			body, err := imtest.SampleWith("Group.CallbackAfterNewMemberJoin", map[string]any{"GroupId": "@TGS#club"})
			if err != nil {
				t.Fatal(err)
			}
			first, second, err := s.Sender.SendRetried(context.Background(), "Group.CallbackAfterNewMemberJoin", body)
			if err != nil || !first.OK() || !second.OK() {
				t.Fatalf("answers: %v", err)
			}
			want := []string{"u_ivy", "u_jack"} // the sample's NewMemberList
			waitFor(t, func() bool { return slices.Equal(joins.Members("@TGS#club"), want) })
			if got := joins.Members("@TGS#club"); !slices.Equal(got, want) {
				t.Fatalf("members %v", got)
			}
		})
	}
}

// TestJoinWithoutGroupIsDeadLettered: a join event without GroupId meets
// the same error on every attempt, so the recorder's error says that
// retrying cannot help (dispatcher.ErrPermanent) and durable delivery
// dead-letters it on its first delivery instead of retrying it for the
// whole backoff.
func TestJoinWithoutGroupIsDeadLettered(t *testing.T) {
	s, _ := start(t, config.DeliveryDurable)
	body, err := imtest.SampleWith("Group.CallbackAfterNewMemberJoin", map[string]any{"GroupId": ""})
	if err != nil {
		t.Fatal(err)
	}
	if res := s.Send(t, "Group.CallbackAfterNewMemberJoin", body); !res.OK() {
		t.Fatalf("a join without GroupId: %d %s, want it stored", res.Status, res.Body)
	}
	var dead struct {
		DeadLetters []struct {
			Command    string `json:"command"`
			Deliveries int    `json:"deliveries"`
			LastError  string `json:"last_error"`
		} `json:"dead_letters"`
	}
	waitFor(t, func() bool {
		s.GetJSON(t, "/v1/dead-letters", 200, &dead)
		return len(dead.DeadLetters) > 0
	})
	if len(dead.DeadLetters) != 1 || dead.DeadLetters[0].Deliveries != 1 ||
		!strings.Contains(dead.DeadLetters[0].LastError, "join without GroupId") {
		t.Fatalf("dead letters %+v, want the join, dead-lettered on its first delivery", dead.DeadLetters)
	}
}

// TestBadConfigFailsStart: a deny code outside C2C's range in the
// module's section fails the start with the variable named, before the
// service is built.
func TestBadConfigFailsStart(t *testing.T) {
	var out bytes.Buffer
	t.Setenv("IMCALLBACK_SDKAPPID", "1400000000")
	t.Setenv("IMCALLBACK_MODERATION_DENY_CODE", "10100")
	err := cli.Run([]string{"config", "check"}, &out, &out, moderation.Module)
	if err == nil || !strings.Contains(err.Error(), "IMCALLBACK_MODERATION (moderation): deny_code 10100 must be between") {
		t.Fatalf("config check: %v\n%s", err, out.String())
	}
	t.Setenv("IMCALLBACK_MODERATION_DENY_CODE", "120042")
	t.Setenv("IMCALLBACK_MODERATION_WORDS", "spam,scam")
	out.Reset()
	if err := cli.Run([]string{"config", "check"}, &out, &out, moderation.Module); err != nil ||
		!strings.Contains(out.String(), "moderation:") || !strings.Contains(out.String(), "deny_code: 120042") {
		t.Fatalf("config check: %v\n%s", err, out.String())
	}
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !ok() && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
}
