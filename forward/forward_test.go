package forward_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/fx"
	"go.uber.org/goleak"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/imcallback/imcallback/config"
	"github.com/imcallback/imcallback/delivery"
	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/forward"
	"github.com/imcallback/imcallback/imtest"
	"github.com/imcallback/imcallback/internal/leakwait"
)

func TestMain(m *testing.M) {
	leakwait.VerifyTestMain(m, goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"), goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"))
}

// secret is a Standard Webhooks secret: whsec_ and 24 bytes in base64.
const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// TestEventIDIsTheWholeFingerprint pins the webhook-id: "msg_" and the hex
// SHA-256 of the length-prefixed (SdkAppid, command, body) and, for a body
// without EventTime, the second the request was made in (its RequestTime,
// or unsigned the Unix second it arrived in, in decimal), computed outside
// Go. It stays this long although the stream's own id is shorter:
// receivers deduplicate on it.
func TestEventIDIsTheWholeFingerprint(t *testing.T) {
	const (
		bodyAlone = "msg_3929faeeaab088b51720013aa78dd9a0e6a6d20b7780f04741d52adf00033fdc"
		dated     = "msg_c64f5f1f2ccf76aff6d6fec69bf61ae2141b9ec710d88b77f3d4a14321a7e8e5" // and "1700000000"
	)
	for _, c := range []struct {
		name        string
		body        string
		requestTime string
		receivedAt  time.Time
		want        string
	}{
		{"never received (zero ReceivedAt), unsigned", `{"a":1}`, "", time.Time{}, bodyAlone},
		{"signed", `{"a":1}`, "1700000000", time.Unix(1700000003, 0), dated},
		{"unsigned, arrived in that second", `{"a":1}`, "", time.Unix(1700000000, 999_999_999), dated},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := &dispatcher.Request{Command: "Group.CallbackAfterCreateTopic", Body: []byte(c.body), ReceivedAt: c.receivedAt}
			r.Params.SdkAppid = "1400000000"
			r.Params.RequestTime = c.requestTime
			if got := forward.EventID(r); got != c.want {
				t.Errorf("EventID %s, want %s", got, c.want)
			}
		})
	}
}

// The example of the Standard Webhooks specification.
func TestSignMatchesTheSpecification(t *testing.T) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		t.Fatal(err)
	}
	got := forward.Sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, []byte(`{"test": 2432232314}`))
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Errorf("signature %s, want %s", got, want)
	}
}

// received is one request a test destination got.
type received struct {
	header http.Header
	body   []byte
	at     time.Time
}

// verify checks a request as a Standard Webhooks receiver does, written
// apart from the package's Sign: the signature over id.timestamp.body
// with the secret's key, and a timestamp within five minutes.
func verify(t *testing.T, r received) {
	t.Helper()
	if want, ok := verifies(r, secret); !ok {
		t.Errorf("signature %q does not verify (want v1,%s)", r.header.Get("webhook-signature"), want)
	}
	id, ts := r.header.Get("webhook-id"), r.header.Get("webhook-timestamp")
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || time.Since(time.Unix(sec, 0)).Abs() > 5*time.Minute {
		t.Errorf("webhook-timestamp %q is not now", ts)
	}
	if !strings.HasPrefix(id, "msg_") {
		t.Errorf("webhook-id %q", id)
	}
	// Every command of these tests is one kind or the other by its name.
	kind := "after"
	if strings.Contains(r.header.Get("X-Imcallback-Command"), "Before") {
		kind = "before"
	}
	if got := r.header.Get("X-Imcallback-Kind"); got != kind {
		t.Errorf("X-Imcallback-Kind %q for %s, want %q", got, r.header.Get("X-Imcallback-Command"), kind)
	}
}

// verifies reports whether one of the v1 signatures of webhook-signature
// (separated by spaces) is that of id.timestamp.body under the key of
// whsec, as a receiver that knows whsec alone checks; want is that signature.
func verifies(r received, whsec string) (want string, ok bool) {
	key, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(whsec, "whsec_"))
	mac := hmac.New(sha256.New, key)
	io.WriteString(mac, r.header.Get("webhook-id")+"."+r.header.Get("webhook-timestamp")+".")
	mac.Write(r.body)
	want = base64.StdEncoding.EncodeToString(mac.Sum(nil))
	for _, sig := range strings.Split(r.header.Get("webhook-signature"), " ") {
		v, s, _ := strings.Cut(sig, ",")
		ok = ok || v == "v1" && hmac.Equal([]byte(s), []byte(want))
	}
	return want, ok
}

// dest is an httptest destination answering with answer(n), n counting
// from 1, and recording every request.
type dest struct {
	*httptest.Server
	mu   sync.Mutex
	got  []received
	fail atomic.Bool
}

// newDest starts the destination; t (nil for a benchmark) closes it.
func newDest(t *testing.T, answer func(w http.ResponseWriter, n int)) *dest {
	d := &dest{}
	d.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		d.mu.Lock()
		d.got = append(d.got, received{header: r.Header.Clone(), body: body, at: time.Now()})
		n := len(d.got)
		d.mu.Unlock()
		if d.fail.Load() {
			http.Error(w, "broken on purpose", http.StatusInternalServerError)
			return
		}
		answer(w, n)
	}))
	if t != nil {
		t.Cleanup(d.Close)
	}
	return d
}

func (d *dest) requests() []received {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]received(nil), d.got...)
}

func ok(w http.ResponseWriter, _ int) { w.WriteHeader(http.StatusNoContent) }

// withDestinations replaces the configured destinations (the environment
// sets one at most).
func withDestinations(dests ...config.ForwardConfig) fx.Option {
	return fx.Decorate(func(c *config.Config) *config.Config {
		cp := *c
		cp.Forward = dests
		return &cp
	})
}

func destination(name, url string, match ...string) config.ForwardConfig {
	return config.ForwardConfig{Name: name, URL: url, Secret: secret, Match: match, Timeout: 2 * time.Second}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 15s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

const afterCommand = "Group.CallbackAfterCreateTopic"

// TestAfterCallbackIsForwardedDurably: stored, then POSTed with the body
// as received and the Standard Webhooks headers; a failure is retried with
// the backoff, under the same webhook-id.
func TestAfterCallbackIsForwardedDurably(t *testing.T) {
	d := newDest(t, func(w http.ResponseWriter, n int) {
		if n <= 2 {
			http.Error(w, "not yet", http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	s := imtest.Start(t, []string{"IMCALLBACK_FORWARD_URL=" + d.URL, "IMCALLBACK_FORWARD_SECRET=" + secret,
		"IMCALLBACK_FORWARD_MATCH=Group.*", "IMCALLBACK_BACKOFF=100ms,200ms"}, delivery.Module)
	body, err := imtest.Sample(afterCommand)
	if err != nil {
		t.Fatal(err)
	}
	if res := s.Send(t, afterCommand, body); !res.OK() {
		t.Fatalf("answered %d %s", res.Status, res.Body)
	}
	waitFor(t, "three attempts", func() bool { return len(d.requests()) == 3 })
	got := d.requests()
	for i, r := range got {
		verify(t, r)
		if string(r.body) != string(body) {
			t.Errorf("attempt %d body %s, want the callback's", i+1, r.body)
		}
		if r.header.Get("X-Imcallback-Command") != afterCommand || r.header.Get("X-Imcallback-App") != imtest.AppID {
			t.Errorf("attempt %d: command %q app %q", i+1, r.header.Get("X-Imcallback-Command"), r.header.Get("X-Imcallback-App"))
		}
		if id := r.header.Get("webhook-id"); id != got[0].header.Get("webhook-id") {
			t.Errorf("attempt %d has webhook-id %s, the first %s", i+1, id, got[0].header.Get("webhook-id"))
		}
	}
	for i, want := range []time.Duration{100 * time.Millisecond, 200 * time.Millisecond} {
		if gap := got[i+1].at.Sub(got[i].at); gap < want {
			t.Errorf("retry %d came after %v, want at least the backoff %v", i+1, gap, want)
		}
	}
	waitFor(t, "the metrics", func() bool {
		m := s.Metrics(t)
		return strings.Contains(m, `imcallback_forward_requests_total{destination="default",result="ok"} 1`) &&
			strings.Contains(m, `imcallback_forward_requests_total{destination="default",result="status"} 2`)
	})
	// A command no destination matches is unknown, as without forwarding.
	if res := s.Send(t, "C2C.CallbackAfterSendMsg", mustSample(t, "C2C.CallbackAfterSendMsg")); !res.OK() {
		t.Fatalf("unmatched command answered %d", res.Status)
	}
	time.Sleep(200 * time.Millisecond)
	if n := len(d.requests()); n != 3 {
		t.Errorf("the destination got %d requests, want 3 (nothing for an unmatched command)", n)
	}
}

func mustSample(t testing.TB, command string) []byte {
	t.Helper()
	b, err := imtest.Sample(command)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestInlineFanOutDoesNotWaitForTheSlowest: with inline delivery the
// destinations are posted to at once, so a slow first one does not use up
// the deadline of the ones after it.
func TestInlineFanOutDoesNotWaitForTheSlowest(t *testing.T) {
	release := make(chan struct{})
	slow := newDest(t, func(w http.ResponseWriter, _ int) { <-release; ok(w, 0) })
	fast := newDest(t, ok)
	defer close(release)
	s := imtest.Start(t, []string{"IMCALLBACK_DELIVERY=inline"},
		withDestinations(destination("a-slow", slow.URL, "Group.*"), destination("b-fast", fast.URL, afterCommand)))
	res := s.Send(t, afterCommand, mustSample(t, afterCommand))
	if res.Status != http.StatusServiceUnavailable {
		t.Errorf("answered %d %s, want 503 (the slow destination ran out of time)", res.Status, res.Body)
	}
	if n := len(fast.requests()); n != 1 {
		t.Errorf("the fast destination got %d requests, want 1", n)
	}
}

// TestFanOutWithOneDestinationFailing: each destination has its own
// stored copy: the one that succeeded is not sent again, the one that
// fails becomes a dead letter of that destination, and its replay after
// the fix reaches it alone.
func TestFanOutWithOneDestinationFailing(t *testing.T) {
	a := newDest(t, ok)
	b := newDest(t, ok)
	b.fail.Store(true)
	s := imtest.Start(t, []string{"IMCALLBACK_MAX_DELIVERIES=2", "IMCALLBACK_BACKOFF=50ms"}, delivery.Module,
		withDestinations(destination("a", a.URL, "Group.*"), destination("b", b.URL, afterCommand)))
	if res := s.Send(t, afterCommand, mustSample(t, afterCommand)); !res.OK() {
		t.Fatalf("answered %d %s", res.Status, res.Body)
	}
	var dead struct {
		DeadLetters []struct {
			Seq         uint64 `json:"seq"`
			Command     string `json:"command"`
			Destination string `json:"destination"`
			LastError   string `json:"last_error"`
		} `json:"dead_letters"`
		Total         int            `json:"total"`
		ByDestination map[string]int `json:"by_destination"`
	}
	// a's copy is delivered on its own, maybe after b's is dead-lettered:
	// wait for both.
	waitFor(t, "b's dead letter and a's delivery", func() bool {
		s.GetJSON(t, "/v1/dead-letters", 200, &dead)
		return len(dead.DeadLetters) == 1 && len(a.requests()) > 0
	})
	if dl := dead.DeadLetters[0]; dl.Destination != "b" || dl.Command != afterCommand || !strings.Contains(dl.LastError, "HTTP 500") {
		t.Errorf("dead letter %+v, want destination b with its HTTP 500", dl)
	}
	if dead.Total != 1 || len(dead.ByDestination) != 1 || dead.ByDestination["b"] != 1 {
		t.Errorf("total %d, by destination %v, want 1 and b: 1", dead.Total, dead.ByDestination)
	}
	if n := len(a.requests()); n != 1 {
		t.Errorf("a got %d requests, want 1", n)
	}
	if n := len(b.requests()); n != 2 {
		t.Errorf("b got %d requests, want 2 (its deliveries)", n)
	}

	b.fail.Store(false)
	resp, err := http.Post(s.AdminURL+"/v1/events/replay", "application/json", strings.NewReader(`{"dead":true}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	waitFor(t, "b after the replay", func() bool { return len(b.requests()) == 3 })
	time.Sleep(200 * time.Millisecond)
	if n := len(a.requests()); n != 1 {
		t.Errorf("a got %d requests after b's replay, want still 1", n)
	}
	ids := map[string]bool{}
	for _, r := range append(a.requests(), b.requests()...) {
		verify(t, r)
		ids[r.header.Get("webhook-id")] = true
	}
	if len(ids) != 1 {
		t.Errorf("webhook-ids %v, want one id for the event", ids)
	}

	var info struct {
		Destinations []forward.DestinationInfo `json:"destinations"`
	}
	s.GetJSON(t, "/v1/forward", 200, &info)
	if len(info.Destinations) != 2 {
		t.Fatalf("GET /v1/forward: %+v", info)
	}
	a0, b0 := info.Destinations[0], info.Destinations[1]
	if a0.Name != "a" || a0.Requests["ok"] != 1 || a0.SuccessRate == nil || *a0.SuccessRate != 1 {
		t.Errorf("destination a: %+v", a0)
	}
	if b0.Name != "b" || b0.Requests["ok"] != 1 || b0.Requests["status"] != 2 || b0.SuccessRate == nil || *b0.SuccessRate > 0.34 {
		t.Errorf("destination b: %+v", b0)
	}
}

// TestNoForwardingNoRoute: without destinations GET /v1/forward is 404.
func TestNoForwardingNoRoute(t *testing.T) {
	s := imtest.Start(t, []string{"IMCALLBACK_DELIVERY=inline"})
	s.GetJSON(t, "/v1/forward", 404, nil)
}

// TestInlineAfterCallback: without durable delivery a forwarded
// after-callback is POSTed inside the request; a failing destination is
// answered 503, so IM may retry.
func TestInlineAfterCallback(t *testing.T) {
	d := newDest(t, ok)
	s := imtest.Start(t, []string{"IMCALLBACK_DELIVERY=inline", "IMCALLBACK_FORWARD_URL=" + d.URL, "IMCALLBACK_FORWARD_SECRET=" + secret})
	if res := s.Send(t, afterCommand, mustSample(t, afterCommand)); !res.OK() || len(d.requests()) != 1 {
		t.Fatalf("answered %d, destination got %d", res.Status, len(d.requests()))
	}
	d.fail.Store(true)
	if res := s.Send(t, afterCommand, mustSample(t, afterCommand)); res.Status != http.StatusServiceUnavailable {
		t.Fatalf("failing destination: answered %d, want 503", res.Status)
	}
}

// TestRedirectIsNotDelivery: a destination that redirects has not taken
// the event (a followed 301 would GET the new place and call it done), so
// the answer is a failure, and the Location is never called.
func TestRedirectIsNotDelivery(t *testing.T) {
	var followed atomic.Bool
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { followed.Store(true) }))
	defer elsewhere.Close()
	for _, status := range []int{http.StatusMovedPermanently, http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		d := newDest(t, func(w http.ResponseWriter, _ int) { http.Redirect(w, &http.Request{}, elsewhere.URL+"/hook/", status) })
		s := imtest.Start(t, []string{"IMCALLBACK_DELIVERY=inline", "IMCALLBACK_FORWARD_URL=" + d.URL, "IMCALLBACK_FORWARD_SECRET=" + secret})
		if res := s.Send(t, afterCommand, mustSample(t, afterCommand)); res.Status != http.StatusServiceUnavailable {
			t.Errorf("a %d: answered %d, want 503", status, res.Status)
		}
	}
	if followed.Load() {
		t.Error("a redirect was followed")
	}
}

const beforeCommand = "C2C.CallbackBeforeSendMsg"

// TestBeforeCallback: the destination's answer is checked against the
// command's rules and passed to IM; a slow, failing or unreadable
// destination gets the fallback inside IM's budget.
func TestBeforeCallback(t *testing.T) {
	// held is closed when the running subtest ends: the slow destination
	// answers only then, after IM's answer, however loaded the machine.
	var held atomic.Pointer[chan struct{}]
	tests := []struct {
		name   string
		answer func(w http.ResponseWriter)
		want   string // the envelope IM gets
	}{
		{"allow", func(w http.ResponseWriter) {
			fmt.Fprint(w, `{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}`)
		}, `{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}`},
		{"deny with a code in range", func(w http.ResponseWriter) {
			fmt.Fprint(w, `{"ActionStatus":"OK","ErrorCode":120005,"ErrorInfo":"blocked word"}`)
		}, `{"ActionStatus":"OK","ErrorCode":120005,"ErrorInfo":"blocked word"}`},
		{"a code out of range is a plain deny", func(w http.ResponseWriter) {
			fmt.Fprint(w, `{"ActionStatus":"OK","ErrorCode":5000,"ErrorInfo":"nope"}`)
		}, `{"ActionStatus":"OK","ErrorCode":1,"ErrorInfo":"nope"}`},
		{"reply fields pass, unknown ones are dropped", func(w http.ResponseWriter) {
			fmt.Fprint(w, `{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","CloudCustomData":"tagged","Extra":1}`)
		}, `{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","CloudCustomData":"tagged"}`},
		{"bytes that are not UTF-8 in a raw reply value reach IM as U+FFFD, as in a string field", func(w http.ResponseWriter) {
			fmt.Fprint(w, "{\"ActionStatus\":\"OK\",\"ErrorCode\":0,\"ErrorInfo\":\"\",\"MsgBody\":"+
				"[{\"MsgType\":\"TIMTextElem\",\"MsgContent\":{\"Text\":\"a\xff\xfeb\"}}],\"CloudCustomData\":\"c\xfed\"}")
		}, "{\"ActionStatus\":\"OK\",\"ErrorCode\":0,\"ErrorInfo\":\"\",\"MsgBody\":" +
			"[{\"MsgType\":\"TIMTextElem\",\"MsgContent\":{\"Text\":\"a\ufffd\ufffdb\"}}],\"CloudCustomData\":\"c\ufffdd\"}"},
		{"a reply field of the wrong type: fallback", func(w http.ResponseWriter) {
			fmt.Fprint(w, `{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","CloudCustomData":5}`)
		}, `{"ActionStatus":"OK","ErrorCode":1,"ErrorInfo":""}`},
		{"a UTF-8 byte order mark before the envelope is ignored", func(w http.ResponseWriter) {
			fmt.Fprint(w, "\ufeff"+`{"ActionStatus":"OK","ErrorCode":120005,"ErrorInfo":"blocked word"}`)
		}, `{"ActionStatus":"OK","ErrorCode":120005,"ErrorInfo":"blocked word"}`},
		{"a byte order mark elsewhere is not the envelope: fallback", func(w http.ResponseWriter) {
			fmt.Fprint(w, " \ufeff"+`{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}`)
		}, `{"ActionStatus":"OK","ErrorCode":1,"ErrorInfo":""}`},
		{"a code as a string", func(w http.ResponseWriter) {
			fmt.Fprint(w, `{"ActionStatus":"OK","ErrorCode":"1","ErrorInfo":"x"}`)
		}, `{"ActionStatus":"OK","ErrorCode":1,"ErrorInfo":"x"}`},
		{"a null code is no code: fallback", func(w http.ResponseWriter) {
			fmt.Fprint(w, `{"ActionStatus":"OK","ErrorCode":null,"ErrorInfo":""}`)
		}, `{"ActionStatus":"OK","ErrorCode":1,"ErrorInfo":""}`},
		{"an empty code is no code: fallback", func(w http.ResponseWriter) {
			fmt.Fprint(w, `{"ActionStatus":"OK","ErrorCode":"","ErrorInfo":""}`)
		}, `{"ActionStatus":"OK","ErrorCode":1,"ErrorInfo":""}`},
		{"a blank code is no code: fallback", func(w http.ResponseWriter) {
			fmt.Fprint(w, `{"ActionStatus":"OK","ErrorCode":" ","ErrorInfo":""}`)
		}, `{"ActionStatus":"OK","ErrorCode":1,"ErrorInfo":""}`},
		{"ErrorCode in camel case is no code: fallback", func(w http.ResponseWriter) {
			fmt.Fprint(w, `{"ActionStatus":"OK","errorCode":120005,"ErrorInfo":"blocked word"}`)
		}, `{"ActionStatus":"OK","ErrorCode":1,"ErrorInfo":""}`},
		{"ErrorCode in upper case besides a zero one: fallback", func(w http.ResponseWriter) {
			fmt.Fprint(w, `{"ActionStatus":"OK","ErrorCode":0,"ERRORCODE":120005,"ErrorInfo":""}`)
		}, `{"ActionStatus":"OK","ErrorCode":1,"ErrorInfo":""}`},
		{"ActionStatus in camel case: fallback", func(w http.ResponseWriter) {
			fmt.Fprint(w, `{"actionStatus":"OK","ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}`)
		}, `{"ActionStatus":"OK","ErrorCode":1,"ErrorInfo":""}`},
		{"ActionStatus in lower case: fallback", func(w http.ResponseWriter) {
			fmt.Fprint(w, `{"ActionStatus":"ok","ErrorCode":0,"ErrorInfo":""}`)
		}, `{"ActionStatus":"OK","ErrorCode":1,"ErrorInfo":""}`},
		{"not the envelope: fallback", func(w http.ResponseWriter) {
			fmt.Fprint(w, `<html>`)
		}, `{"ActionStatus":"OK","ErrorCode":1,"ErrorInfo":""}`},
		{"FAIL: fallback", func(w http.ResponseWriter) {
			fmt.Fprint(w, `{"ActionStatus":"FAIL","ErrorCode":0}`)
		}, `{"ActionStatus":"OK","ErrorCode":1,"ErrorInfo":""}`},
		{"HTTP 500: fallback", func(w http.ResponseWriter) {
			http.Error(w, "down", http.StatusInternalServerError)
		}, `{"ActionStatus":"OK","ErrorCode":1,"ErrorInfo":""}`},
		{"slow: fallback in time", func(w http.ResponseWriter) {
			<-*held.Load()
			fmt.Fprint(w, `{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}`)
		}, `{"ActionStatus":"OK","ErrorCode":1,"ErrorInfo":""}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			release := make(chan struct{})
			held.Store(&release)
			d := newDest(t, func(w http.ResponseWriter, _ int) { tc.answer(w) })
			t.Cleanup(func() { close(release) }) // before d.Close, which waits for the held request
			// The longest before-deadline IM's budget allows: the answers
			// that must reach IM (all but the slow one's) have a connection
			// to make and a round trip to the destination inside it, which
			// on a busy machine can take more than 500 ms.
			s := imtest.Start(t, []string{"IMCALLBACK_DELIVERY=inline", "IMCALLBACK_BEFORE_TIMEOUT=1900ms",
				"IMCALLBACK_BEFORE_FALLBACK=deny", "IMCALLBACK_FORWARD_URL=" + d.URL, "IMCALLBACK_FORWARD_SECRET=" + secret,
				"IMCALLBACK_FORWARD_MATCH=" + beforeCommand})
			// A destination that never answers is held until the subtest
			// ends: without the before deadline Send would wait for it and
			// fail on the Service's timeout instead of returning the fallback.
			res := s.Send(t, beforeCommand, mustSample(t, beforeCommand))
			if res.Status != http.StatusOK || string(res.Body) != tc.want {
				t.Errorf("answered %d %s, want %s", res.Status, res.Body, tc.want)
			}
			if got := d.requests(); len(got) != 1 {
				t.Fatalf("the destination got %d requests", len(got))
			} else {
				verify(t, got[0])
			}
		})
	}
}

// TestForwardedFriendCodesAreChecked: a destination's per-target
// ResultCode on a friend-request command is checked like a Go handler's:
// one outside 0 and 38000–39000 is sent as 38000, a refusal.
func TestForwardedFriendCodesAreChecked(t *testing.T) {
	d := newDest(t, func(w http.ResponseWriter, _ int) {
		fmt.Fprint(w, `{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","ResultItem":[`+
			`{"To_Account":"b","ResultCode":1,"ResultInfo":"x"},{"To_Account":"c","ResultCode":0,"ResultInfo":""},{"To_Account":"d","ResultCode":38002,"ResultInfo":"y"}]}`)
	})
	const friend = "Sns.CallbackPrevFriendAdd"
	s := imtest.Start(t, []string{"IMCALLBACK_DELIVERY=inline", "IMCALLBACK_FORWARD_URL=" + d.URL,
		"IMCALLBACK_FORWARD_SECRET=" + secret, "IMCALLBACK_FORWARD_MATCH=" + friend})
	res := s.Send(t, friend, mustSample(t, friend))
	var got struct {
		ResultItem []struct {
			ToAccount  string `json:"To_Account"`
			ResultCode int    `json:"ResultCode"`
		} `json:"ResultItem"`
	}
	if err := json.Unmarshal(res.Body, &got); err != nil || len(got.ResultItem) != 3 ||
		got.ResultItem[0].ResultCode != 38000 || got.ResultItem[1].ResultCode != 0 || got.ResultItem[2].ResultCode != 38002 {
		t.Errorf("IM got %s; want b refused with 38000, c allowed, d refused with 38002", res.Body)
	}
}

// TestBeforeDestinationDown: nothing listens: the fallback, counted.
func TestBeforeDestinationDown(t *testing.T) {
	url := "http://" + imtest.FreeAddr(t) // not a closed test server's port: another test could listen there next
	s := imtest.Start(t, []string{"IMCALLBACK_DELIVERY=inline", "IMCALLBACK_FORWARD_URL=" + url,
		"IMCALLBACK_FORWARD_SECRET=" + secret, "IMCALLBACK_FORWARD_MATCH=" + beforeCommand})
	res := s.Send(t, beforeCommand, mustSample(t, beforeCommand))
	if res.Status != http.StatusOK || string(res.Body) != `{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}` {
		t.Errorf("answered %d %s, want the allow fallback", res.Status, res.Body)
	}
	m := s.Metrics(t)
	for _, want := range []string{`imcallback_forward_requests_total{destination="default",result="error"} 1`,
		`imcallback_callbacks_total{app="` + imtest.AppID + `",command="` + beforeCommand + `",outcome="fallback"} 1`} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestStartRefuses: mistakes in the destinations stop the start with an
// error that names the entry.
func TestStartRefuses(t *testing.T) {
	tests := []struct {
		name  string
		dests []config.ForwardConfig
		env   []string
		want  string
	}{
		{"bad glob", nil, []string{"IMCALLBACK_FORWARD_URL=http://127.0.0.1:1/", "IMCALLBACK_FORWARD_SECRET=" + secret, "IMCALLBACK_FORWARD_MATCH=Group.["}, "forward[0] (default): match \"Group.[\" is not a glob"},
		{"bad url", nil, []string{"IMCALLBACK_FORWARD_URL=ftp://x", "IMCALLBACK_FORWARD_SECRET=" + secret}, "url \"ftp://x\" must be an http"},
		{"secret not base64", nil, []string{"IMCALLBACK_FORWARD_URL=http://127.0.0.1:1/", "IMCALLBACK_FORWARD_SECRET=whsec_???"}, "secret is not base64"},
		{"no secret", nil, []string{"IMCALLBACK_FORWARD_URL=http://127.0.0.1:1/"}, "secret required"},
		{"second secret short", nil, []string{"IMCALLBACK_FORWARD_URL=http://127.0.0.1:1/", "IMCALLBACK_FORWARD_SECRET=" + secret + " whsec_c2hvcnQ="}, "IMCALLBACK_FORWARD_SECRET (forward_secret): forward[0] (default): secret #2 decodes to 5 bytes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := append([]string{"IMCALLBACK_SDKAPPID=1400000000"}, tc.env...)
			_, err := config.Load(config.Source{Environ: func() []string { return env }})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one with %q", err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "MfKQ9r8") {
				t.Errorf("the error quotes the secret: %v", err)
			}
		})
	}
}

// TestBeforeCommandTakenTwice: two destinations for one before-command,
// or a destination and a Go before-handler, are refused at start.
func TestBeforeCommandTakenTwice(t *testing.T) {
	_, err := forward.New([]config.ForwardConfig{
		destination("one", "http://127.0.0.1:1/", "C2C.*"),
		destination("two", "http://127.0.0.1:1/", beforeCommand),
	}, catalogueAll(), nopLogger(), newRegistry())
	if err == nil || !strings.Contains(err.Error(), "before-command "+beforeCommand+" is matched by destinations one and two") {
		t.Errorf("two destinations: %v", err)
	}
	// Disjoint apps may share it.
	one := destination("one", "http://127.0.0.1:1/", beforeCommand)
	one.Apps = []string{"1400000001"}
	two := destination("two", "http://127.0.0.1:1/", beforeCommand)
	two.Apps = []string{"1400000002"}
	if _, err := forward.New([]config.ForwardConfig{one, two}, catalogueAll(), nopLogger(), newRegistry()); err != nil {
		t.Errorf("disjoint apps: %v", err)
	}
}

// TestGlobMatchingNothingIsRefused: a glob no catalogue command matches
// (a case typo) would forward nothing, silently.
func TestGlobMatchingNothingIsRefused(t *testing.T) {
	_, err := forward.New([]config.ForwardConfig{destination("backend", "http://127.0.0.1:1/", "Group.*", "C2C.CallbackAfterSendMSG")},
		catalogueAll(), nopLogger(), newRegistry())
	if err == nil || !strings.Contains(err.Error(), `backend: match "C2C.CallbackAfterSendMSG" matches no command`) {
		t.Errorf("a glob matching nothing: %v", err)
	}
}

// TestNewRefusesADestinationWithoutMatch: a ForwardConfig a program builds
// itself without Match globs took no callback at all, and New took it
// silently (the configuration refuses it: "match is required").
func TestNewRefusesADestinationWithoutMatch(t *testing.T) {
	_, err := forward.New([]config.ForwardConfig{destination("backend", "http://127.0.0.1:1/")},
		catalogueAll(), nopLogger(), newRegistry())
	if err == nil || !strings.Contains(err.Error(), "forward: backend: match is required") {
		t.Errorf("a destination without a glob: %v", err)
	}
}

// Secrets of a rotation: the one receivers know, and its successor.
const (
	oldSecret = secret
	newSecret = "whsec_bmV3LXNlY3JldC1mb3Itcm90YXRpb24h"
)

// TestSignAll: with several keys the header holds Sign's value for each,
// in order, separated by single spaces; with one, Sign's value alone, at
// no extra allocation (the benchmark's case).
func TestSignAll(t *testing.T) {
	var keys [][]byte
	for _, s := range []string{oldSecret, newSecret} {
		key, err := (config.ForwardConfig{Secret: s}).SecretKey()
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, key)
	}
	id, ts, body := "msg_p5jXN8AQM9LWM0D4loKWxJek", int64(1614265330), []byte(`{"test": 2432232314}`)
	one, two := forward.Sign(keys[0], id, ts, body), forward.Sign(keys[1], id, ts, body)
	if got := forward.SignAll(keys[:1], id, ts, body); got != one {
		t.Errorf("one key: %s, want %s", got, one)
	}
	if got := forward.SignAll(keys, id, ts, body); got != one+" "+two {
		t.Errorf("two keys: %s, want %s", got, one+" "+two)
	}
	sign := testing.AllocsPerRun(100, func() { forward.Sign(keys[0], id, ts, body) })
	signAll := testing.AllocsPerRun(100, func() { forward.SignAll(keys[:1], id, ts, body) })
	if signAll != sign {
		t.Errorf("SignAll with one key allocates %v times, Sign %v", signAll, sign)
	}
}

// TestSecretRotation: a destination with two secrets signs each request
// with both, in order, so a receiver that knows either one alone accepts
// it (and one that knows neither does not); config and logs show neither.
func TestSecretRotation(t *testing.T) {
	d := newDest(t, func(w http.ResponseWriter, _ int) {
		fmt.Fprint(w, `{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}`)
	})
	core, logs := observer.New(zap.DebugLevel)
	s := imtest.Start(t, []string{"IMCALLBACK_DELIVERY=inline", "IMCALLBACK_FORWARD_URL=" + d.URL,
		"IMCALLBACK_FORWARD_SECRET=" + oldSecret + " " + newSecret, "IMCALLBACK_FORWARD_MATCH=" + beforeCommand + "," + afterCommand},
		fx.Decorate(func(*zap.Logger) *zap.Logger { return zap.New(core) }))
	for _, command := range []string{beforeCommand, afterCommand} {
		if res := s.Send(t, command, mustSample(t, command)); !res.OK() {
			t.Fatalf("%s answered %d %s", command, res.Status, res.Body)
		}
	}
	got := d.requests()
	if len(got) != 2 {
		t.Fatalf("the destination got %d requests, want 2", len(got))
	}
	for _, r := range got {
		sigs := strings.Split(r.header.Get("webhook-signature"), " ")
		if len(sigs) != 2 {
			t.Fatalf("webhook-signature %q, want two signatures separated by a space", r.header.Get("webhook-signature"))
		}
		for i, whsec := range []string{oldSecret, newSecret} {
			want, ok := verifies(r, whsec)
			if !ok {
				t.Errorf("%s: a receiver with secret #%d alone refuses it", r.header.Get("X-Imcallback-Command"), i+1)
			}
			if sigs[i] != "v1,"+want {
				t.Errorf("signature #%d is %s, want secret #%d's v1,%s", i+1, sigs[i], i+1, want)
			}
		}
		if _, ok := verifies(r, "whsec_dGhpcmQtc2VjcmV0LWZvci1yb3RhdGlvbg=="); ok {
			t.Error("a receiver with another secret accepts it")
		}
	}
	var cfg map[string]any
	s.GetJSON(t, "/v1/config", http.StatusOK, &cfg)
	shown, _ := json.Marshal(cfg)
	var logged strings.Builder
	for _, e := range logs.All() {
		fields, _ := json.Marshal(e.ContextMap())
		fmt.Fprintf(&logged, "%s %s\n", e.Message, fields)
	}
	if !strings.Contains(logged.String(), "forwarding callbacks") {
		t.Fatalf("the destination's start is not in the log:\n%s", logged.String())
	}
	for _, whsec := range []string{oldSecret, newSecret} {
		key := strings.TrimPrefix(whsec, "whsec_")[:12]
		if strings.Contains(string(shown), key) {
			t.Errorf("/v1/config shows a secret: %s", shown)
		}
		if strings.Contains(logged.String(), key) {
			t.Errorf("the log shows a secret:\n%s", logged.String())
		}
	}
}

// TestNewTimeout: a destination built without a timeout (a ForwardConfig
// of a program's own, not loaded by config) gets the default, as a loaded
// one does, instead of timing out every after-callback at once; a
// negative one is refused, as the configuration refuses it.
func TestNewTimeout(t *testing.T) {
	d := newDest(t, func(w http.ResponseWriter, _ int) { w.WriteHeader(http.StatusNoContent) })
	tests := []struct {
		name    string
		timeout time.Duration
		refused string // the error of New; "" when Deliver must succeed
	}{
		{"zero is the default", 0, ""},
		{"set", time.Second, ""},
		{"negative", -time.Second, "forward: a: timeout -1s must be positive"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := destination("a", d.URL, afterCommand)
			c.Timeout = tc.timeout
			f, err := forward.New([]config.ForwardConfig{c}, catalogueAll(), nopLogger(), newRegistry())
			if tc.refused != "" {
				if err == nil || !strings.Contains(err.Error(), tc.refused) {
					t.Fatalf("New: %v, want %q", err, tc.refused)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			r := &dispatcher.Request{Command: afterCommand, Body: []byte(`{}`), Target: "a"}
			if err := f.Deliver(context.Background(), "a", r); err != nil {
				t.Errorf("Deliver: %v", err)
			}
		})
	}
}

// TestNewRefusesABadURL: New (a ForwardConfig of a program's own, not
// loaded by config) refuses a URL the configuration would refuse, without
// quoting its user info, path or query. Accepted, every request failed
// instead, each with an error (logged, in a span, in a dead letter) that
// quoted the whole URL, credentials and key included.
func TestNewRefusesABadURL(t *testing.T) {
	for _, u := range []string{
		"https://user:s3cret@hooks.example.com/k3y%zz",
		"https://s3cret/k3y@hooks.example.com/in",  // the user info's '/' ends the host early
		"http://user:s3cret@hooks.example.com/k3y", // a password in the clear
		"https://hooks.example.com:99999/k3y",
		"https://hooks.example.com/k3y\x7f",
		"https://hooks.example.com/k3y https://s3cret.example.com/k3y", // two URLs where one goes
		"ftp://hooks.example.com/k3y",
		"https:///k3y",
		"/k3y",
		"",
	} {
		t.Run(u, func(t *testing.T) {
			_, err := forward.New([]config.ForwardConfig{destination("a", u, afterCommand)}, catalogueAll(), nopLogger(), newRegistry())
			if err == nil {
				t.Fatalf("New took url %q", u)
			}
			if !strings.Contains(err.Error(), "forward: a: url") {
				t.Errorf("New: %v, want it to name the destination's url", err)
			}
			for _, secret := range []string{"s3cret", "k3y"} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("New: %v quotes %q", err, secret)
				}
			}
		})
	}
}

// TestNewRefusesARepeatedName: two destinations of one name (a
// ForwardConfig a program builds itself, which the configuration's check
// does not see) would share a Deliver target, so the copies meant for
// either went to the last of them, and the first got none.
func TestNewRefusesARepeatedName(t *testing.T) {
	for _, tc := range []struct {
		name  string
		dests []config.ForwardConfig
		want  string
	}{
		{"same name", []config.ForwardConfig{
			destination("a", "https://one.example.com/in", afterCommand),
			destination("a", "https://two.example.com/in", "Group.CallbackAfterSendMsg"),
		}, `forward: destination name "a" is used twice`},
		{"no name", []config.ForwardConfig{
			destination("", "https://one.example.com/in", afterCommand),
		}, "forward: a destination needs a name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := forward.New(tc.dests, catalogueAll(), nopLogger(), newRegistry())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v, want an error saying %q", err, tc.want)
			}
		})
	}
}
