package dispatcher_test

import (
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap/zapcore"

	"github.com/imcallback/imcallback/dispatcher"
)

// TestFallbackLogIsBounded: a before-handler that fails on every callback
// (a database down, a handler past its deadline under load) gets the
// fallback and is counted on every one, but logged at most once a minute
// per command and cause, with count_since_last_line, as an unknown command
// is: it was logged at error on every callback, and a slow handler under
// load flooded the log.
func TestFallbackLogIsBounded(t *testing.T) {
	var calls int
	h := newHarness(t, dispatcher.Options{Fallback: deny("fallback")},
		before(func(*dispatcher.Event[sendMsg]) (dispatcher.Decision, error) {
			calls++ // the harness sends one request at a time
			if calls > 5 {
				panic("boom")
			}
			return dispatcher.Decision{}, errors.New("database down")
		}))
	for range 8 {
		if _, out := h.do("C2C.CallbackBeforeSendMsg", `{}`); out["ErrorInfo"] != "fallback" {
			t.Fatalf("answer %v, want the fallback", out)
		}
	}
	if got := testutil.ToFloat64(h.metrics.Total.WithLabelValues("C2C.CallbackBeforeSendMsg", testApp, "fallback")); got != 8 {
		t.Fatalf("callbacks_total{outcome=fallback} = %v, want 8: every fallback is counted", got)
	}
	lines := h.logs.FilterMessage("before-handler failed; sending the fallback decision").FilterLevelExact(zapcore.ErrorLevel).All()
	causes := map[string]int{}
	for _, l := range lines {
		cause, _ := l.ContextMap()["cause"].(string)
		causes[cause]++
		if l.ContextMap()["count_since_last_line"] != int64(1) {
			t.Errorf("line %v: want count_since_last_line 1 for the first of its cause", l.ContextMap())
		}
	}
	if len(lines) != 2 || causes["error"] != 1 || causes["panic"] != 1 {
		t.Fatalf("%d lines (by cause %v) for 5 errors and 3 panics: want one line per cause", len(lines), causes)
	}
}

// TestNotAcceptedDecisionLogIsBounded: a handler whose decision the
// protocol does not take (a deny code outside the command's range) makes
// that mistake on every callback; each is sent as a plain deny and
// counted, but logged at most once a minute per command, with
// count_since_last_line: it was logged at error on every callback.
func TestNotAcceptedDecisionLogIsBounded(t *testing.T) {
	h := newHarness(t, dispatcher.Options{}, before(func(*dispatcher.Event[sendMsg]) (dispatcher.Decision, error) {
		return denyWithCode(5, "out of range"), nil
	}))
	for range 5 {
		if _, out := h.do("C2C.CallbackBeforeSendMsg", `{}`); out["ErrorCode"] != float64(1) {
			t.Fatalf("answer %v, want a plain deny", out)
		}
	}
	if got := testutil.ToFloat64(h.metrics.Total.WithLabelValues("C2C.CallbackBeforeSendMsg", testApp, "deny")); got != 5 {
		t.Fatalf("callbacks_total{outcome=deny} = %v, want 5", got)
	}
	lines := h.logs.FilterMessage("before-handler decision not accepted by the protocol").All()
	if len(lines) != 1 || lines[0].ContextMap()["count_since_last_line"] != int64(1) {
		t.Fatalf("%d lines for 5 decisions not accepted (want 1, counting 1): %v", len(lines), lines)
	}
}
