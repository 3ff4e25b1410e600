package console_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/imcallback/imcallback/delivery"
	"github.com/imcallback/imcallback/imtest"
	"github.com/imcallback/imcallback/plugins/topicsync"
)

// fault is what a faultProxy does with the requests of one path instead
// of passing them on.
type fault int

const (
	// hang accepts the request and never answers it: the handler waits
	// until the client gives up (or the test ends).
	hang fault = iota + 1
	// htmlPage answers 200 with an HTML page, as a proxy's login or error
	// page does.
	htmlPage
	// unavailable answers 503 with the admin API's JSON error.
	unavailable
)

// faultProxy serves the admin listener through a reverse proxy whose
// answers the test chooses, path by path: the console is loaded from it,
// so every read of the page goes through it (the same origin).
type faultProxy struct {
	URL string

	mu     sync.Mutex
	faults map[string]fault // by the request's path, without the query
	done   chan struct{}    // closed at the end of the test: no request hangs on
}

// newFaultProxy starts a faultProxy in front of s's admin listener, at
// first passing everything on; it is closed at the end of the test.
func newFaultProxy(t *testing.T, adminURL string) *faultProxy {
	t.Helper()
	target, err := url.Parse(adminURL)
	if err != nil {
		t.Fatal(err)
	}
	transport := &http.Transport{}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = transport
	p := &faultProxy{faults: map[string]fault{}, done: make(chan struct{})}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		f := p.faults[r.URL.Path]
		p.mu.Unlock()
		switch f {
		case hang:
			select {
			case <-r.Context().Done():
			case <-p.done:
			}
		case htmlPage:
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write([]byte("<!doctype html><html><body><h1>Please sign in</h1></body></html>"))
		case unavailable:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"error":"test: unavailable"}`))
		default:
			rp.ServeHTTP(w, r)
		}
	}))
	p.URL = srv.URL
	t.Cleanup(func() {
		close(p.done)
		srv.Close()
		transport.CloseIdleConnections()
	})
	return p
}

// set makes the proxy answer path with f; 0 passes it on again.
func (p *faultProxy) set(path string, f fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if f == 0 {
		delete(p.faults, path)
	} else {
		p.faults[path] = f
	}
}

// shortReads makes the page give up its reads sooner than the console's
// own bound (AbortSignal.timeout, capped), so a test of a read that never
// answers does not wait for it; still long enough for a loaded machine's
// answers.
func shortReads(t *testing.T, b *browser) {
	t.Helper()
	_, err := chromedp.Call(b.ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
		Source: `(() => {
			const timeout0 = AbortSignal.timeout.bind(AbortSignal);
			AbortSignal.timeout = (ms) => timeout0(Math.min(ms, 5000));
		})();`,
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestAReadThatNeverAnswersIsGivenUp: a read of the admin API that is
// accepted and never answered (a hung service or proxy) is given up after
// a while, with its error shown, and the page reads again: it waited for
// it forever, its poller stuck, with nothing said.
func TestAReadThatNeverAnswersIsGivenUp(t *testing.T) {
	s := start(t, nil)
	p := newFaultProxy(t, s.AdminURL)
	p.set("/v1/recent", hang)
	b := newBrowser(t)
	shortReads(t, b)
	b.do(t, "open Live", chromedp.Navigate(p.URL+"/#live"))
	b.waitFor(t, "the read of /v1/recent given up, and said", `(() => {
		const t = document.getElementById('live-count').textContent;
		return t.includes('GET /v1/recent') && t.includes('no answer within');
	})()`)

	p.set("/v1/recent", 0)
	res := send(t, s, "C2C.CallbackBeforeSendMsg", sample(t, "C2C.CallbackBeforeSendMsg", nil))
	b.waitFor(t, "Live read again once the service answers", rowWith("live-rows", res.Header.Get("X-Request-Id")))
	if got := eval[string](t, b, `document.getElementById('live-count').textContent`); strings.Contains(got, "GET /v1/recent") {
		t.Errorf("Live answered, but its count still reads %q", got)
	}
}

// TestDependenciesNotShownWhenStatusUnread: while GET /v1/status fails the
// Overview's Dependencies show none, and say why: they went on showing the
// last answer's states (every dependency "ok") under no word, the error
// of the failed read dropped.
func TestDependenciesNotShownWhenStatusUnread(t *testing.T) {
	s := start(t, nil, delivery.Module)
	p := newFaultProxy(t, s.AdminURL)
	b := newBrowser(t)
	b.do(t, "open the Overview", chromedp.Navigate(p.URL+"/#overview"))
	const rows = `document.querySelectorAll('#ov-deps tbody tr').length`
	b.waitFor(t, "the dependencies", rows+` > 0`)

	p.set("/v1/status", unavailable)
	b.waitFor(t, "the failed read said", `document.getElementById('ov-deps').textContent.includes('GET /v1/status: test: unavailable')`)
	if n := eval[int](t, b, rows); n != 0 {
		t.Errorf("while /v1/status fails the Overview shows %d dependencies, as last read; want none", n)
	}

	p.set("/v1/status", 0)
	b.waitFor(t, "the dependencies back", rows+` > 0 && !document.getElementById('ov-deps').textContent.includes('GET /v1/status')`)
}

// TestAnAnswerThatIsNotJSON: a 2xx answer that is not the admin API's JSON
// (a proxy's sign-in page, answered 200) is an error the page shows where
// the read's answer goes: it was read as no data, which broke the page's
// script there (reading a field of null), an error about null shown at
// best, nothing at all for the charts, an uncaught one for an event.
func TestAnAnswerThatIsNotJSON(t *testing.T) {
	s := start(t, nil, delivery.Module, okAfter())
	send(t, s, afterCommand, sample(t, afterCommand, nil))
	var events struct {
		Events []struct {
			Seq uint64 `json:"seq"`
		} `json:"events"`
	}
	deadline := time.Now().Add(pageWait)
	for len(events.Events) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the event is not in the event log")
		}
		time.Sleep(50 * time.Millisecond)
		s.GetJSON(t, "/v1/events", http.StatusOK, &events)
	}
	seq := events.Events[0].Seq

	for _, tt := range []struct {
		name string
		hash string // the page opened
		path string // the read answered with an HTML page
		// open, if set, is clicked once the page is shown (the read made then)
		open  func(t *testing.T, b *browser)
		shown string // the element that says what went wrong
	}{
		{name: "live", hash: "live", path: "/v1/recent", shown: "live-count"},
		{name: "series", hash: "overview", path: "/v1/series", shown: "ov-note"},
		{name: "status", hash: "overview", path: "/v1/status", shown: "ov-deps"},
		{name: "delivery", hash: "overview", path: "/v1/delivery", shown: "ov-queues"},
		{name: "dead letters", hash: "dead", path: "/v1/dead-letters", shown: "dead-msg"},
		{name: "configuration", hash: "config", path: "/v1/config", shown: "config-yaml"},
		{name: "event", hash: "events", path: fmt.Sprintf("/v1/events/%d", seq), shown: "event-detail",
			open: func(t *testing.T, b *browser) {
				b.waitFor(t, "the event", rowWith("events-rows", afterCommand))
				clickRowWith(t, b, "events-rows", afterCommand)
			}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := newFaultProxy(t, s.AdminURL)
			p.set(tt.path, htmlPage)
			b := newBrowser(t)
			b.do(t, "open "+tt.hash, chromedp.Navigate(p.URL+"/#"+tt.hash))
			if tt.open != nil {
				tt.open(t, b)
			}
			b.waitFor(t, "the answer said not to be the API's", fmt.Sprintf(
				`document.getElementById(%s).textContent.includes("is not the admin API's JSON (200, text/html")`, js(tt.shown)))
		})
	}
}

// TestTopicsProbeThatNeverAnswers: the probe of the Topics API (whether
// the topic plugin is there) is given up when it is never answered, the
// Topics page asked for is opened and says why, and the probe asks again:
// the console waited for it forever, the Topics tab hidden and its page
// never opened; the probe that failed (after fixing the read's bound) was
// never asked again, so the tab stayed whether the plugin was there or not.
func TestTopicsProbeThatNeverAnswers(t *testing.T) {
	const name = "Probed topic"
	for _, tt := range []struct {
		name   string
		plugin bool
	}{
		{"topics there", true},
		{"no topics", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var s *imtest.Service
			if !tt.plugin {
				s = start(t, nil)
			} else {
				s = start(t, nil, delivery.Module, topicsync.Module, okAfter())
				send(t, s, "Group.CallbackAfterCreateTopic", sample(t, "Group.CallbackAfterCreateTopic", map[string]any{"Name": name}))
			}
			p := newFaultProxy(t, s.AdminURL)
			p.set("/v1/topics", hang)
			b := newBrowser(t)
			shortReads(t, b)
			b.do(t, "open Topics", chromedp.Navigate(p.URL+"/#topics"))
			b.waitFor(t, "Topics opened, saying its read was not answered", `!document.getElementById('tab-topics').hidden &&
				!document.getElementById('page-topics').hidden &&
				document.getElementById('topics-msg').textContent.includes('GET /v1/topics: no answer within')`)

			p.set("/v1/topics", 0)
			if tt.plugin {
				b.waitFor(t, "the topics once the API answers", rowWith("topics-rows", name))
				return
			}
			b.waitFor(t, "the tab gone and the Overview shown once the API answers 404",
				`document.getElementById('tab-topics').hidden && !document.getElementById('page-overview').hidden`)
		})
	}
}

// TestAnActionThatNeverAnswersIsGivenUp: a pause, resume or replay that the
// service (or a proxy before it) accepts and never answers is given up
// after a while, its button usable again, with a message that says no
// answer came and that the action may have been carried out all the same:
// the console waited for it forever, the button disabled and nothing said.
func TestAnActionThatNeverAnswersIsGivenUp(t *testing.T) {
	s, _, _, seqs := startWithDeadLetters(t, "hung-action")
	p := newFaultProxy(t, s.AdminURL)
	p.set("/v1/delivery/pause", hang)
	p.set("/v1/events/replay", hang)
	b := newBrowser(t)
	shortReads(t, b)
	b.do(t, "open the Overview", chromedp.Navigate(p.URL+"/#overview"))

	row := fmt.Sprintf(`#dead-rows tr[data-seq="%d"]`, seqs[0])
	pauseCommand := fmt.Sprintf(`#ov-queues button[title="Pause %s"]`, afterCommand)
	// textOf is the text of the element css selects, '' while there is none.
	textOf := func(css string) string {
		return fmt.Sprintf(`(document.querySelector(%s) || {textContent: ''}).textContent`, js(css))
	}
	enabled := func(css string) string {
		return fmt.Sprintf(`(() => { const b = document.querySelector(%s); return b !== null && !b.hidden && !b.disabled; })()`, js(css))
	}
	const said = "no answer within"
	tests := []struct {
		name   string
		tab    string // the page's tab the button is on
		button string // CSS of the button clicked, enabled again once given up
		// open, if set, shows the button first
		open func(t *testing.T)
		// dialog is the start of the alert that says the action was given
		// up; "" when it is said on the page, in the element shown
		dialog string
		shown  string
	}{
		{name: "pause all delivery", tab: "overview", button: "#delivery-pause",
			dialog: "alert: pause delivery: " + said},
		{name: "pause one command", tab: "overview", button: pauseCommand,
			dialog: "alert: pause " + afterCommand + ": " + said},
		{name: "replay one dead letter", tab: "dead", button: row + " button.replay",
			shown: row + " .actions > span:last-child"},
		{name: "replay every dead letter", tab: "dead", button: "#dead-replay-all",
			shown: "#dead-replay-msg"},
		{name: "replay an event", tab: "dead", button: "#event-detail button.replay",
			open: func(t *testing.T) {
				b.waitFor(t, "the dead letter's Open", enabled(row+" button[aria-label^=Open]"))
				b.clickNow(t, "open the dead letter's event", row+" button[aria-label^=Open]")
			},
			shown: "#event-detail .actions > span"},
	}
	for _, tt := range tests {
		b.do(t, tt.name+": open "+tt.tab, chromedp.Click(chromedp.CSS("#tab-"+tt.tab)))
		if tt.open != nil {
			tt.open(t)
		}
		b.waitFor(t, tt.name+": the button", enabled(tt.button))
		dialogs := len(b.dialogList())
		b.clickNow(t, tt.name, tt.button)
		if tt.dialog != "" {
			deadline := time.Now().Add(pageWait)
			for !slices.ContainsFunc(b.dialogList()[dialogs:], func(d string) bool { return strings.HasPrefix(d, tt.dialog) }) {
				if time.Now().After(deadline) {
					t.Fatalf("%s: no alert %q… within %v: dialogs %q\npage text:\n%s", tt.name, tt.dialog, pageWait, b.dialogList(), b.text(t))
				}
				time.Sleep(50 * time.Millisecond)
			}
		} else {
			b.waitFor(t, tt.name+": given up, and said", fmt.Sprintf(`%s.includes(%s)`, textOf(tt.shown), js(said)))
		}
		b.waitFor(t, tt.name+": the button usable again", enabled(tt.button))
		if d := b.dialogList()[dialogs:]; slices.ContainsFunc(d, func(d string) bool { return strings.Contains(d, "Could not") }) {
			t.Errorf("%s: an action that was not answered is reported as failed: %q", tt.name, d)
		}
		if tt.shown != "" {
			if got := eval[string](t, b, textOf(tt.shown)); strings.Contains(strings.ToLower(got), "failed") {
				t.Errorf("%s: an action that was not answered is reported as failed: %q", tt.name, got)
			}
		}
	}
}

// TestForwardDeadLettersReadBeforeTheModeIsKnown: the Overview's forward
// destinations show their dead letters as read also before the delivery
// mode is known, which the first answers of /v1/delivery and /v1/status
// say and which may come after /v1/forward's: they were then shown as 0,
// whatever the dead letters held, until a refresh after the mode was
// known. With inline delivery, whose dead-letter route answers 409, there
// are none, and no error is said.
func TestForwardDeadLettersReadBeforeTheModeIsKnown(t *testing.T) {
	for _, tt := range []struct {
		name  string
		start func(t *testing.T) *imtest.Service // with a callback forwarded and failed
		dead  string                             // the destination's dead letters, as shown
	}{
		{"durable", func(t *testing.T) *imtest.Service {
			s := startFailingForward(t)
			send(t, s, afterCommand, sample(t, afterCommand, nil))
			waitDeadLetters(t, s, 1)
			return s
		}, "1"},
		{"inline", func(t *testing.T) *imtest.Service {
			dest := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "broken on purpose", http.StatusBadGateway)
			}))
			t.Cleanup(dest.Close) // after the service's stop, registered later
			s := start(t, []string{"IMCALLBACK_DELIVERY=inline", "IMCALLBACK_FORWARD_URL=" + dest.URL,
				"IMCALLBACK_FORWARD_SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "IMCALLBACK_FORWARD_MATCH=" + afterCommand})
			if res := s.Send(t, afterCommand, sample(t, afterCommand, nil)); res.Status != http.StatusServiceUnavailable {
				t.Fatalf("inline, the failing destination's callback answered %d, want 503: %s", res.Status, res.Body)
			}
			return s
		}, "0"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.start(t)
			p := newFaultProxy(t, s.AdminURL)
			p.set("/v1/delivery", hang)
			p.set("/v1/status", hang)
			b := newBrowser(t)
			b.do(t, "open the Overview", chromedp.Navigate(p.URL+"/#overview"))
			const row = `document.querySelector('#ov-forward tbody tr')`
			b.waitFor(t, "the destination's row", row+` !== null`)
			if got := eval[string](t, b, row+`.children[6].textContent`); got != tt.dead {
				t.Errorf("before the delivery mode is known, the destination's dead letters show %q, want %s", got, tt.dead)
			}
			if got := eval[string](t, b, `document.getElementById('ov-forward').innerText`); strings.Contains(got, "GET /v1/dead-letters") {
				t.Errorf("the forward destinations say %q", got)
			}
		})
	}
}
