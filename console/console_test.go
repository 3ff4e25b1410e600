package console_test

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"go.uber.org/fx"
	"go.uber.org/zap"

	"github.com/imcallback/imcallback/commands/c2c"
	"github.com/imcallback/imcallback/console"
	"github.com/imcallback/imcallback/delivery"
	"github.com/imcallback/imcallback/dispatcher"
	"github.com/imcallback/imcallback/imtest"
	"github.com/imcallback/imcallback/internal/leakwait"
	"github.com/imcallback/imcallback/metrics"
	"github.com/imcallback/imcallback/plugins/topicsync"
)

var screenshotPath = flag.String("console.screenshot", os.Getenv("CONSOLE_SCREENSHOT"),
	"write a PNG screenshot of the console with traffic to this path (e.g. docs/console.png); "+
		"CONSOLE_SCREENSHOT sets the default; empty skips TestScreenshot")

var screenshotPage = flag.String("console.screenshot-page", "overview", "the page TestScreenshot shows: overview or live")

func TestMain(m *testing.M) { leakwait.VerifyTestMain(m) }

// chromium is where Debian's package chromium puts the browser.
const chromium = "/usr/bin/chromium"

// afterCommand is an after-callback the tests give a handler of their own
// (topicsync.Module has the topic commands).
const afterCommand = "C2C.CallbackAfterSendMsg"

// services are started with the console: imcallback.Module carries it.
func start(t *testing.T, env []string, opts ...fx.Option) *imtest.Service {
	t.Helper()
	return imtest.Start(t, env, opts...)
}

// browser is a headless Chromium tab for one test.
type browser struct {
	ctx context.Context

	mu         sync.Mutex
	dialogs    []string // messages of the JavaScript dialogs opened
	exceptions []string // uncaught exceptions of the page
	dismiss    bool     // dialogs are dismissed (confirm() is false), not accepted
}

// answerDialogs makes the dialogs opened from now on accepted (confirm()
// true, the default) or dismissed (false).
func (b *browser) answerDialogs(accept bool) {
	b.mu.Lock()
	b.dismiss = !accept
	b.mu.Unlock()
}

// fixableHandler provides an after-handler of afterCommand that fails until
// fixed is set and then counts each event it handles in succeeded.
func fixableHandler(fixed *atomic.Bool, succeeded *atomic.Int64) fx.Option {
	return fx.Provide(dispatcher.AsCommand(func() dispatcher.Command {
		return dispatcher.After(afterCommand, func(ctx context.Context, ev *dispatcher.Event[c2c.AfterSendMsg]) error {
			if !fixed.Load() {
				return errors.New("the test's handler is broken on purpose")
			}
			succeeded.Add(1)
			return nil
		})
	}))
}

// startWithDeadLetters starts a durable service whose handler of
// afterCommand fails until fixed is set (one attempt each), sends it an
// event for each of keys (their MsgKey) and waits for their dead letters,
// whose sequences it returns, oldest first; succeeded counts the events
// the handler takes once fixed.
func startWithDeadLetters(t *testing.T, keys ...string) (s *imtest.Service, fixed *atomic.Bool, succeeded *atomic.Int64, seqs []uint64) {
	t.Helper()
	fixed, succeeded = new(atomic.Bool), new(atomic.Int64)
	s = start(t, []string{"IMCALLBACK_MAX_DELIVERIES=1", "IMCALLBACK_BACKOFF=10ms"}, delivery.Module, fixableHandler(fixed, succeeded))
	for _, key := range keys {
		send(t, s, afterCommand, sample(t, afterCommand, map[string]any{"MsgKey": key}))
	}
	return s, fixed, succeeded, waitDeadLetters(t, s, len(keys))
}

// waitDeadLetters waits until the service lists at least n dead letters and
// returns their sequences, oldest first.
func waitDeadLetters(t *testing.T, s *imtest.Service, n int) []uint64 {
	t.Helper()
	var dead struct {
		DeadLetters []struct {
			Seq uint64 `json:"seq"`
		} `json:"dead_letters"`
	}
	deadline := time.Now().Add(pageWait)
	for len(dead.DeadLetters) < n {
		if time.Now().After(deadline) {
			t.Fatalf("the failing handler's events did not reach the dead letters: %d of %d", len(dead.DeadLetters), n)
		}
		time.Sleep(50 * time.Millisecond)
		s.GetJSON(t, "/v1/dead-letters", http.StatusOK, &dead)
	}
	seqs := make([]uint64, len(dead.DeadLetters))
	for i, d := range dead.DeadLetters {
		seqs[i] = d.Seq
	}
	return seqs
}

// newBrowser starts headless Chromium with a fresh profile; t is skipped
// when the browser is not installed. Every confirm() is accepted (unless
// answerDialogs says otherwise), and every dialog recorded.
func newBrowser(t *testing.T) *browser {
	t.Helper()
	exe := chromium
	if _, err := os.Stat(exe); err != nil {
		p, lerr := exec.LookPath("chromium")
		if lerr != nil {
			t.Skipf("the console's browser tests need headless Chromium at %s: install the Debian package chromium (apt-get install chromium)", chromium)
		}
		exe = p
	}
	profile := t.TempDir()
	allocCtx, allocCancel := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(exe),
		chromedp.NoSandbox,
		chromedp.Headless,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(profile),
		chromedp.WindowSize(1440, 1000),
	)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancel()
		allocCancel()
	})
	b := &browser{ctx: ctx}
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v", exe, err)
	}
	err := chromedp.Listen(ctx, func(ev any) {
		switch ev := ev.(type) {
		case *page.EventJavascriptDialogOpening:
			b.mu.Lock()
			b.dialogs = append(b.dialogs, string(ev.Type)+": "+ev.Message)
			accept := !b.dismiss
			b.mu.Unlock()
			// The page waits for the answer; answer from another goroutine,
			// never from the one reading the browser's messages.
			go chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: accept}) //nolint:errcheck // the tab may be closing
		case *runtime.EventExceptionThrown:
			b.mu.Lock()
			b.exceptions = append(b.exceptions, exceptionText(ev))
			b.mu.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	// Record what the Content-Security-Policy blocks, from before the
	// page's own script runs (DevTools' script is not subject to it).
	_, err = chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
		Source: `window.__cspViolations = [];
			document.addEventListener('securitypolicyviolation', (e) =>
				window.__cspViolations.push(e.violatedDirective + ' ' + e.blockedURI + ' ' + e.sourceFile + ':' + e.lineNumber));`,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { // before the tab closes
		b.mu.Lock()
		for _, e := range b.exceptions {
			t.Errorf("the console threw: %s", e)
		}
		b.mu.Unlock()
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](`window.__cspViolations || []`))
		if err != nil {
			t.Logf("reading the CSP violations: %v", err)
		}
		for _, e := range v {
			t.Errorf("the Content-Security-Policy blocked: %s", e)
		}
	})
	return b
}

func exceptionText(ev *runtime.EventExceptionThrown) string {
	d := ev.ExceptionDetails
	if d == nil {
		return "exception"
	}
	text := d.Text
	if d.Exception != nil && d.Exception.Description != "" {
		text += " " + d.Exception.Description
	}
	return fmt.Sprintf("%s (%s:%d:%d)", text, d.URL, d.LineNumber, d.ColumnNumber)
}

func (b *browser) dialogList() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.dialogs...)
}

// pageWait bounds every wait for the page or the service: generous, as
// Chromium and the race-built service share a loaded CI machine; only a
// regression ever reaches it.
const pageWait = 30 * time.Second

// do runs actions, failing t after pageWait.
func (b *browser) do(t *testing.T, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, pageWait)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// clickNow clicks the element css selects, found and clicked in one
// evaluation in the page: the tables the console redraws every few
// seconds (the dead letters, the Overview's commands) replace their
// buttons, and a node looked up first and clicked after may be gone.
func (b *browser) clickNow(t *testing.T, what, css string) {
	t.Helper()
	found := eval[bool](t, b, fmt.Sprintf(`(() => {
		const el = document.querySelector(%s);
		if (!el) return false;
		el.click();
		return true;
	})()`, js(css)))
	if !found {
		t.Fatalf("%s: nothing on the page matches %s", what, css)
	}
}

// waitFor polls the JavaScript expression until it is truthy, failing t
// after pageWait.
func (b *browser) waitFor(t *testing.T, what, expr string) {
	t.Helper()
	const timeout = pageWait
	ctx, cancel := context.WithTimeout(b.ctx, timeout+5*time.Second)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[chromedp.Void](expr,
		chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(timeout)))
	if err != nil {
		t.Fatalf("%s: not within %v: %v\npage text:\n%s", what, timeout, err, b.text(t))
	}
}

// waitAcrossReload waits until expr is true, as waitFor does, on a page
// that may be loaded anew meanwhile: an evaluation that meets the old page
// going away is tried again. failure says what is wrong if it never is.
func (b *browser) waitAcrossReload(t *testing.T, failure, expr string) {
	t.Helper()
	deadline := time.Now().Add(pageWait)
	for {
		ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
		done, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		cancel()
		if err == nil && done {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v\npage text:\n%s", failure, err, b.text(t))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// eval evaluates a JavaScript expression.
func eval[T any](t *testing.T, b *browser, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, pageWait)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// text is the page's visible text, for failure messages.
func (b *browser) text(t *testing.T) string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	if err != nil {
		return "(unreadable: " + err.Error() + ")"
	}
	return s
}

// js quotes s as a JavaScript string literal.
func js(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// rowWith is an expression true when a row of the table body id shows text.
func rowWith(id, text string) string {
	return fmt.Sprintf(`[...document.querySelectorAll('#%s tr')].some((tr) => tr.textContent.includes(%s))`, id, js(text))
}

// clickRowWith clicks the first row of the table body id that shows text.
func clickRowWith(t *testing.T, b *browser, id, text string) {
	t.Helper()
	ok := eval[bool](t, b, fmt.Sprintf(`(() => {
		const tr = [...document.querySelectorAll('#%s tr')].find((tr) => tr.textContent.includes(%s));
		if (!tr) return false;
		tr.click();
		return true;
	})()`, id, js(text)))
	if !ok {
		t.Fatalf("no row of #%s shows %q", id, text)
	}
}

func send(t *testing.T, s *imtest.Service, command string, body []byte, opts ...imtest.Option) *imtest.Result {
	t.Helper()
	res := s.Send(t, command, body, opts...)
	if res.Status != http.StatusOK {
		t.Fatalf("%s answered %d: %s", command, res.Status, res.Body)
	}
	return res
}

func sample(t *testing.T, command string, fields map[string]any) []byte {
	t.Helper()
	body, err := imtest.SampleWith(command, fields)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// TestRoutes checks the console's answers over HTTP: types, caching and
// the Content-Security-Policy.
func TestRoutes(t *testing.T) {
	s := start(t, []string{"IMCALLBACK_DELIVERY=inline"})
	for _, tc := range []struct {
		path, ctype string
		status      int
	}{
		{"/", "text/html; charset=utf-8", 200},
		{"/static/app.js", "text/javascript; charset=utf-8", 200},
		{"/static/style.css", "text/css; charset=utf-8", 200},
		{"/static/index.html", "", 404},
		{"/static/missing.js", "", 404},
		{"/static/", "", 404},
		{"/static/../console.go", "", 404},
		{"/static/%2e%2e/console.go", "", 404},
	} {
		resp, err := http.Get(s.AdminURL + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("GET %s = %d, want %d: %.200s", tc.path, resp.StatusCode, tc.status, body)
			continue
		}
		if tc.status != 200 {
			continue
		}
		h := resp.Header
		if got := h.Get("Content-Type"); got != tc.ctype {
			t.Errorf("GET %s: Content-Type %q, want %q", tc.path, got, tc.ctype)
		}
		if got := h.Get("Cache-Control"); got != "no-cache" {
			t.Errorf("GET %s: Cache-Control %q, want no-cache", tc.path, got)
		}
		if got := h.Get("Content-Security-Policy"); got != console.ContentSecurityPolicy {
			t.Errorf("GET %s: Content-Security-Policy %q", tc.path, got)
		}
		if got := h.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("GET %s: X-Content-Type-Options %q", tc.path, got)
		}
		if len(body) == 0 {
			t.Errorf("GET %s: empty body", tc.path)
		}
	}
	const want = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
	if console.ContentSecurityPolicy != want {
		t.Errorf("ContentSecurityPolicy = %q, want %q", console.ContentSecurityPolicy, want)
	}
}

// TestStaticFilesAreText checks the committed files never build markup
// from strings and load nothing from the network.
func TestStaticFilesAreText(t *testing.T) {
	files, err := filepath.Glob("static/*")
	if err != nil || len(files) == 0 {
		t.Fatalf("no static files: %v", err)
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		src := string(raw)
		for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function",
			"http://", "https://", "//cdn", "@import", "url(", "style=\"", "onclick=\"", "onload=\""} {
			if bad == "http://" && strings.HasSuffix(f, ".js") && strings.Count(src, bad) == strings.Count(src, "http://www.w3.org/2000/svg") {
				continue // the SVG namespace, not a request
			}
			if strings.Contains(src, bad) {
				t.Errorf("%s contains %q", f, bad)
			}
		}
	}
}

// TestLive: a callback the test sends shows in Live, and the
// filters narrow the list.
func TestLive(t *testing.T) {
	s := start(t, []string{"IMCALLBACK_DELIVERY=inline"})
	b := newBrowser(t)
	b.do(t, "open Live", chromedp.Navigate(s.AdminURL+"/#live"))
	b.waitFor(t, "the Live page", `!document.getElementById('page-live').hidden && document.getElementById('live-count').textContent !== ''`)

	res := send(t, s, "C2C.CallbackBeforeSendMsg", sample(t, "C2C.CallbackBeforeSendMsg", nil))
	id := res.Header.Get("X-Request-Id")
	if id == "" {
		t.Fatal("the answer has no X-Request-Id")
	}
	b.waitFor(t, "the callback in Live", rowWith("live-rows", id))
	if !eval[bool](t, b, rowWith("live-rows", "C2C.CallbackBeforeSendMsg")) {
		t.Error("Live does not show the command")
	}

	// A filter that matches keeps the row; one that does not hides it.
	b.do(t, "filter by command", chromedp.SendKeys(chromedp.CSS("#live-command"), "beforesend"))
	b.waitFor(t, "the filtered row", rowWith("live-rows", id))
	b.do(t, "filter by outcome", chromedp.SendKeys(chromedp.CSS("#live-outcome"), "no-such-outcome"))
	b.waitFor(t, "the row filtered out", `document.querySelectorAll('#live-rows tr').length === 0 && !document.getElementById('live-empty').hidden`)

	// The Overview shows the service's own samples (TestOverviewHistory checks the lines).
	b.do(t, "open the Overview", chromedp.Click(chromedp.CSS("#tab-overview")))
	b.waitFor(t, "the delivery mode", `document.getElementById('ov-mode').textContent === 'inline'`)
	b.waitFor(t, "the command chart", `document.querySelector('#ov-chart-command svg') !== null`)
	if got := eval[bool](t, b, `document.getElementById('tab-topics').hidden`); !got {
		t.Error("the Topics tab shows without the topic plugin")
	}

	// Inline delivery: the event pages say why they are empty; nothing to pause.
	b.do(t, "open Events", chromedp.Click(chromedp.CSS("#tab-events")))
	b.waitFor(t, "the inline notice in Events", `!document.getElementById('events-off').hidden && document.getElementById('events-on').hidden`)
	b.do(t, "open Dead letters", chromedp.Click(chromedp.CSS("#tab-dead")))
	b.waitFor(t, "the inline notice in Dead letters", `!document.getElementById('dead-off').hidden && document.getElementById('dead-on').hidden`)
	b.waitFor(t, "the inline delivery state", `document.getElementById('delivery-state').textContent === 'inline' &&
		document.getElementById('delivery-pause').hidden && document.getElementById('delivery-resume').hidden`)

	// Configuration: what `config check` prints, the token redacted.
	b.do(t, "open Configuration", chromedp.Click(chromedp.CSS("#tab-config")))
	b.waitFor(t, "the configuration", `document.getElementById('config-yaml').textContent.includes('sdkappid')`)
	cfg := eval[string](t, b, `document.getElementById('config-yaml').textContent`)
	for _, want := range []string{imtest.AppID, "delivery: inline", "tokens:"} {
		if !strings.Contains(cfg, want) {
			t.Errorf("the configuration page lacks %q:\n%s", want, cfg)
		}
	}
	if strings.Contains(eval[string](t, b, `document.body.textContent`), imtest.Token) {
		t.Errorf("the configuration page shows the token %q", imtest.Token)
	}
}

// TestLiveFrozenStaysFrozen: Freeze keeps the list as it is. A refresh
// asked for before Freeze was ticked and answered after it still drew its
// answer, so the list changed once more under the row being read. The
// page's fetch holds the refresh's request until the test releases it.
func TestLiveFrozenStaysFrozen(t *testing.T) {
	s := start(t, []string{"IMCALLBACK_DELIVERY=inline"})
	first := send(t, s, "C2C.CallbackBeforeSendMsg", sample(t, "C2C.CallbackBeforeSendMsg", nil)).Header.Get("X-Request-Id")
	b := newBrowser(t)
	b.do(t, "open Live", chromedp.Navigate(s.AdminURL+"/#live"))
	b.waitFor(t, "the callback in Live", rowWith("live-rows", first))
	eval[chromedp.Void](t, b, `(() => {
		const fetch0 = window.fetch;
		window.held = [];
		window.heldRead = false;
		window.fetch = (url, opts) => {
			if (!String(url).startsWith('v1/recent') || window.held.length > 0) return fetch0(url, opts);
			return new Promise((resolve, reject) => window.held.push(() => fetch0(url, opts).then((res) => {
				const text = res.text.bind(res);
				res.text = async () => {
					const body = await text();
					setTimeout(() => { window.heldRead = true; }, 0);
					return body;
				};
				resolve(res);
			}, reject)));
		};
	})()`)
	b.waitFor(t, "a refresh asked for", `window.held.length === 1`)
	b.do(t, "freeze", chromedp.Click(chromedp.CSS("#live-freeze")))
	second := send(t, s, "C2C.CallbackBeforeSendMsg", sample(t, "C2C.CallbackBeforeSendMsg", nil)).Header.Get("X-Request-Id")
	eval[chromedp.Void](t, b, `window.held.forEach((release) => release())`)
	b.waitFor(t, "the refresh's answer read", `window.heldRead`)
	if eval[bool](t, b, rowWith("live-rows", second)) {
		t.Errorf("the frozen list shows a callback answered after Freeze (%s):\n%s", second, b.text(t))
	}
	b.do(t, "unfreeze", chromedp.Click(chromedp.CSS("#live-freeze")))
	b.waitFor(t, "the list refreshed again", rowWith("live-rows", second))
}

// TestLiveOutcomeSuggestions: the outcome filter suggests the outcomes of
// the rows shown, also when one outcome gives way to another and their
// number stays the same. The page's fetch answers /v1/recent with the rows
// the test sets.
func TestLiveOutcomeSuggestions(t *testing.T) {
	s := start(t, []string{"IMCALLBACK_DELIVERY=inline"})
	b := newBrowser(t)
	_, err := chromedp.Call(b.ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
		Source: `window.__recent = [];
			const fetch0 = window.fetch;
			window.fetch = (url, opts) => {
				if (!String(url).startsWith('v1/recent')) return fetch0(url, opts);
				const body = JSON.stringify({ recent: window.__recent });
				return Promise.resolve(new Response(body, { status: 200, headers: { 'Content-Type': 'application/json' } }));
			};`,
	})
	if err != nil {
		t.Fatal(err)
	}
	b.do(t, "open Live", chromedp.Navigate(s.AdminURL+"/#live"))
	for _, outcome := range []string{"allow", "deny"} {
		row := fmt.Sprintf(`{time: new Date().toISOString(), command: 'C2C.CallbackBeforeSendMsg', app_id: %s,
			outcome: %s, status: 200, latency_ms: 1, request_id: 'r-' + %s}`, js(imtest.AppID), js(outcome), js(outcome))
		if !eval[bool](t, b, `(window.__recent = [`+row+`], true)`) {
			t.Fatal("could not set the rows")
		}
		b.waitFor(t, "the suggestion "+outcome, fmt.Sprintf(
			`[...document.querySelectorAll('#live-outcomes option')].map((o) => o.value).join() === %s`, js(outcome)))
	}
}

// TestOverviewHistory: the Overview draws what the service sampled before
// the page opened (GET /v1/series), by command and by outcome, with
// rejections by reason.
func TestOverviewHistory(t *testing.T) {
	fast := fx.Decorate(func(lc fx.Lifecycle, cb *metrics.Callbacks) *metrics.History {
		h := metrics.NewHistory(cb, 100*time.Millisecond, 0)
		lc.Append(h.Hook())
		return h
	})
	allow := fx.Provide(dispatcher.AsCommand(func() dispatcher.Command {
		return c2c.BeforeSendMsgCommand.Handle(func(context.Context, *dispatcher.Event[c2c.BeforeSendMsg]) (dispatcher.Reply[c2c.SendMsgReply], error) {
			return c2c.BeforeSendMsgCommand.Allow(), nil
		})
	}))
	s := start(t, []string{"IMCALLBACK_DELIVERY=inline"}, fast, allow)
	for range 20 {
		send(t, s, "C2C.CallbackBeforeSendMsg", sample(t, "C2C.CallbackBeforeSendMsg", nil))
		time.Sleep(10 * time.Millisecond)
	}
	res := s.Send(t, "C2C.CallbackBeforeSendMsg", sample(t, "C2C.CallbackBeforeSendMsg", nil), imtest.Unsigned())
	if res.Status != http.StatusUnauthorized {
		t.Fatalf("unsigned: %d, want 401", res.Status)
	}
	// The page reads /v1/series once on opening and then every 5 s: open it
	// once the service has a sample with all the traffic.
	deadline := time.Now().Add(pageWait)
	for !sampledAll(t, s, 21) {
		if time.Now().After(deadline) {
			t.Fatal("no sample of /v1/series counts the 21 callbacks")
		}
		time.Sleep(20 * time.Millisecond)
	}

	// The lines are placed by the service's clock, whatever the browser's
	// says: its last point at the chart's right edge, its first to the left.
	for _, skew := range []time.Duration{0, time.Hour, -time.Hour} {
		t.Run(fmt.Sprint("browser clock ", skew), func(t *testing.T) {
			b := newBrowser(t)
			_, err := chromedp.Call(b.ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
				Source: fmt.Sprintf(`const now0 = Date.now; Date.now = () => now0() + %d;`, skew.Milliseconds()),
			})
			if err != nil {
				t.Fatal(err)
			}
			b.do(t, "open the Overview", chromedp.Navigate(s.AdminURL+"/#overview"))
			b.waitFor(t, "the command's line", `document.querySelectorAll('#ov-chart-command polyline').length > 0 &&
				document.getElementById('ov-chart-command').textContent.includes('C2C.CallbackBeforeSendMsg')`)
			b.waitFor(t, "the outcomes", `['allow', 'rejected'].every((o) => document.getElementById('ov-chart-outcome').textContent.includes(o))`)
			b.waitFor(t, "the rejection", `document.getElementById('ov-rejections').textContent.includes('missing_signature')`)
			if got := eval[string](t, b, `document.getElementById('ov-total').textContent`); got != "21" {
				t.Errorf("callbacks in the window %q, want 21 (20 allowed, 1 rejected)", got)
			}
			if got := eval[string](t, b, `document.getElementById('ov-latency').textContent`); !strings.Contains(got, " / ") {
				t.Errorf("latency %q, want p50 / p99", got)
			}
			xs := eval[[]float64](t, b, `document.querySelector('#ov-chart-command polyline').getAttribute('points').split(' ').map((p) => parseFloat(p))`)
			right := eval[float64](t, b, `parseFloat(document.querySelector('#ov-chart-command line.grid').getAttribute('x2'))`)
			if len(xs) < 2 {
				t.Fatalf("the line has %d points, want at least 2", len(xs))
			}
			if xs[len(xs)-1] != right || xs[0] >= xs[len(xs)-1] {
				t.Errorf("the line's %d x coordinates run from %v to %v: want the last at the right edge (%v) and the first left of it",
					len(xs), xs[0], xs[len(xs)-1], right)
			}
		})
	}
}

// sampledAll reports whether the last sample of /v1/series counts n
// callbacks (outcomes, rejections included) and the missing signature.
func sampledAll(t *testing.T, s *imtest.Service, n float64) bool {
	t.Helper()
	var series struct {
		Samples []struct {
			Outcomes   map[string]float64 `json:"outcomes"`
			Rejections map[string]float64 `json:"rejections"`
		} `json:"samples"`
	}
	s.GetJSON(t, "/v1/series", http.StatusOK, &series)
	if len(series.Samples) == 0 {
		return false
	}
	last := series.Samples[len(series.Samples)-1]
	total := 0.0
	for _, v := range last.Outcomes {
		total += v
	}
	return total == n && last.Rejections["missing_signature"] > 0
}

// TestDeadLettersReplayAndTopics: a failing handler's event reaches Dead
// letters; once the handler is fixed, Replay runs it again and Replay all
// empties the list. The event shows in Events with its body, delivery
// pauses and resumes, and a topic the test sends shows in Topics.
func TestDeadLettersReplayAndTopics(t *testing.T) {
	var fixed atomic.Bool
	var succeeded atomic.Int64
	handler := fixableHandler(&fixed, &succeeded)
	s := start(t, []string{"IMCALLBACK_MAX_DELIVERIES=1", "IMCALLBACK_BACKOFF=10ms"},
		delivery.Module, topicsync.Module, handler)

	res := send(t, s, afterCommand, sample(t, afterCommand, map[string]any{"MsgKey": "console-test-msg"}))
	requestID := res.Header.Get("X-Request-Id")
	send(t, s, afterCommand, sample(t, afterCommand, map[string]any{"MsgKey": "console-test-msg-2"}))
	const (
		groupID = "@TGS#console-test-group"
		topicID = "@TGS#_@TGS#console-test-group@TOPIC#_console-test-topic"
		name    = "Console test topic"
	)
	send(t, s, "Group.CallbackAfterCreateTopic", sample(t, "Group.CallbackAfterCreateTopic",
		map[string]any{"GroupId": groupID, "TopicId": topicID, "Name": name}))

	seq := waitDeadLetters(t, s, 2)[0]

	b := newBrowser(t)
	b.do(t, "open Dead letters", chromedp.Navigate(s.AdminURL+"/#dead"))
	b.waitFor(t, "the dead letter", rowWith("dead-rows", afterCommand))
	if !eval[bool](t, b, rowWith("dead-rows", "broken on purpose")) {
		t.Error("Dead letters does not show the last error")
	}
	b.waitFor(t, "the dead-letter count on the tab", `document.getElementById('dead-count').textContent === '2'`)

	// Replay one: the fixed handler runs it, and it leaves the list.
	fixed.Store(true)
	b.clickNow(t, "replay the dead letter", fmt.Sprintf(`#dead-rows tr[data-seq="%d"] button.replay`, seq))
	deadline := time.Now().Add(pageWait)
	for succeeded.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("replaying the dead letter did not run the handler")
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.waitFor(t, "the replayed dead letter gone, the other still listed", fmt.Sprintf(
		`document.querySelector('#dead-rows tr[data-seq="%d"]') === null && document.querySelectorAll('#dead-rows tr').length === 1`, seq))
	// The page's note says what the button just did.
	if note := eval[string](t, b, `document.getElementById('dead-note').textContent`); !strings.Contains(note, "removes it from this list") ||
		strings.Contains(note, "replaying one event leaves its dead letter listed") {
		t.Errorf("the note of Dead letters says %q, but Replay removed the dead letter from the list", note)
	}

	// Replay all (after a confirm): the dead letter leaves the list.
	b.do(t, "replay all", chromedp.Click(chromedp.CSS("#dead-replay-all")))
	b.waitFor(t, "the empty dead-letter list",
		`document.querySelectorAll('#dead-rows tr').length === 0 && !document.getElementById('dead-empty').hidden`)
	if d := b.dialogList(); len(d) != 1 || !strings.HasPrefix(d[0], "confirm: Replay all 1 dead letter?") {
		t.Errorf("dialogs = %q, want the one confirm of Replay all", d)
	}
	b.waitFor(t, "no dead-letter count on the tab", `document.getElementById('dead-count').hidden`)

	// Events: the event with its parameters and pretty-printed body, and a replay.
	b.do(t, "open Events", chromedp.Click(chromedp.CSS("#tab-events")))
	b.waitFor(t, "the event list", rowWith("events-rows", requestID))
	clickRowWith(t, b, "events-rows", requestID)
	b.waitFor(t, "the event's body", `(() => {
		const pre = document.querySelector('#event-detail pre.json');
		return pre && pre.textContent.includes('\n  "MsgKey": "console-test-msg"');
	})()`)
	if !eval[bool](t, b, `document.getElementById('event-detail').textContent.includes('CallbackCommand')`) {
		t.Error("the event's parameters are not shown")
	}
	before := succeeded.Load()
	b.do(t, "replay the event", chromedp.Click(chromedp.CSS("#event-detail button.replay")))
	b.waitFor(t, "the replay answer", `document.getElementById('event-detail').textContent.includes('Replayed 1.')`)
	deadline = time.Now().Add(pageWait)
	for succeeded.Load() == before {
		if time.Now().After(deadline) {
			t.Fatal("the replay from Events did not run the handler")
		}
		time.Sleep(20 * time.Millisecond)
	}

	// Pause and resume.
	b.waitFor(t, "delivery running", `document.getElementById('delivery-state').textContent === 'running'`)
	b.do(t, "pause", chromedp.Click(chromedp.CSS("#delivery-pause")))
	b.waitFor(t, "delivery paused", `document.getElementById('delivery-state').textContent === 'paused' && !document.getElementById('delivery-resume').hidden`)
	b.do(t, "resume", chromedp.Click(chromedp.CSS("#delivery-resume")))
	b.waitFor(t, "delivery running again", `document.getElementById('delivery-state').textContent === 'running' && !document.getElementById('delivery-pause').hidden`)

	// Pause and resume one command, from the Overview's delivery table.
	pauseButton := fmt.Sprintf(`#ov-queues button[title="Pause %s"]`, afterCommand)
	resumeButton := fmt.Sprintf(`#ov-queues button[title="Resume %s"]`, afterCommand)
	b.do(t, "open the Overview", chromedp.Click(chromedp.CSS("#tab-overview")))
	b.waitFor(t, "the command's pause button", fmt.Sprintf(`document.querySelector(%s) !== null`, js(pauseButton)))
	b.clickNow(t, "pause one command", pauseButton)
	b.waitFor(t, "the command paused", fmt.Sprintf(`document.querySelector(%s) !== null`, js(resumeButton)))
	var st struct {
		State          string   `json:"state"`
		PausedCommands []string `json:"paused_commands"`
	}
	s.GetJSON(t, "/v1/delivery", http.StatusOK, &st)
	if st.State != "running" || len(st.PausedCommands) != 1 || st.PausedCommands[0] != afterCommand {
		t.Errorf("after pausing one command: %+v", st)
	}
	b.clickNow(t, "resume the command", resumeButton)
	b.waitFor(t, "the command running", fmt.Sprintf(`document.querySelector(%s) !== null`, js(pauseButton)))
	s.GetJSON(t, "/v1/delivery", http.StatusOK, &st)
	if len(st.PausedCommands) != 0 {
		t.Errorf("after resuming: paused %v", st.PausedCommands)
	}

	// While all delivery is paused, a command not paused on its own offers
	// Pause, not a Resume that would change nothing, and says why it waits.
	b.do(t, "pause all", chromedp.Click(chromedp.CSS("#delivery-pause")))
	b.waitFor(t, "the command paused with all delivery", fmt.Sprintf(`(() => {
		const b = document.querySelector(%s);
		return document.getElementById('delivery-state').textContent === 'paused' && b !== null &&
			b.closest('tr').textContent.includes('paused (all delivery)');
	})()`, js(pauseButton)))
	if eval[bool](t, b, fmt.Sprintf(`document.querySelector(%s) !== null`, js(resumeButton))) {
		t.Error("a Resume button for one command while all delivery is paused")
	}
	b.do(t, "resume all", chromedp.Click(chromedp.CSS("#delivery-resume")))
	b.waitFor(t, "delivery running again", `document.getElementById('delivery-state').textContent === 'running'`)

	// Topics: by group id, then one topic's fields.
	b.waitFor(t, "the Topics tab", `!document.getElementById('tab-topics').hidden`)
	b.do(t, "search topics",
		chromedp.Click(chromedp.CSS("#tab-topics")),
		chromedp.SendKeys(chromedp.CSS("#topics-group"), groupID),
		chromedp.Click(chromedp.CSS("#topics-search")))
	b.waitFor(t, "the topic", rowWith("topics-rows", name))
	clickRowWith(t, b, "topics-rows", name)
	b.waitFor(t, "the topic's fields", fmt.Sprintf(`(() => {
		const d = document.getElementById('topic-detail');
		return !d.hidden && d.textContent.includes(%s) && d.textContent.includes('Color');
	})()`, js(topicID)))
	// Closed, the topic's row is no longer marked as the one shown (as an
	// event's is not): it stayed so until the list's next refresh.
	b.do(t, "close the topic", chromedp.Click(chromedp.CSS("#topic-detail .detail-head button")))
	if eval[bool](t, b, `document.getElementById('topic-detail').hidden && document.querySelector('#topics-rows tr.selected') !== null`) {
		t.Errorf("the closed topic's row is still marked selected:\n%s", b.text(t))
	}
}

// TestDeadLettersListIsCut: Dead letters asks for a bounded list, says
// when there are more dead letters than it shows, and Replay all still
// replays (and its confirm counts) every one of them. The page's fetch asks
// for 2 where the console asks for its limit, so 3 dead letters are more.
func TestDeadLettersListIsCut(t *testing.T) {
	var fixed atomic.Bool
	var succeeded atomic.Int64
	handler := fixableHandler(&fixed, &succeeded)
	s := start(t, []string{"IMCALLBACK_MAX_DELIVERIES=1", "IMCALLBACK_BACKOFF=10ms"}, delivery.Module, handler)
	for i := range 3 {
		send(t, s, afterCommand, sample(t, afterCommand, map[string]any{"MsgKey": fmt.Sprint("cut-", i)}))
	}
	deadSeqs := waitDeadLetters(t, s, 3)

	b := newBrowser(t)
	_, err := chromedp.Call(b.ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
		Source: `window.__deadURLs = [];
			const fetch0 = window.fetch;
			window.fetch = (url, opts) => {
				if (String(url).startsWith('v1/dead-letters')) {
					window.__deadURLs.push(String(url));
					url = String(url).replace('limit=1000', 'limit=2');
				}
				return fetch0(url, opts);
			};`,
	})
	if err != nil {
		t.Fatal(err)
	}
	b.do(t, "open Dead letters", chromedp.Navigate(s.AdminURL+"/#dead"))
	b.waitFor(t, "the oldest 2 of the 3 dead letters, said so",
		`document.querySelectorAll('#dead-rows tr').length === 2 &&
			document.getElementById('dead-msg').textContent === 'showing 2 of 3 dead letters, the oldest first'`)
	for i, seq := range deadSeqs[:2] {
		if !eval[bool](t, b, fmt.Sprintf(`document.querySelectorAll('#dead-rows tr')[%d].dataset.seq === '%d'`, i, seq)) {
			t.Errorf("row %d is not the dead letter of event %d, the list's oldest first:\n%s", i, seq, b.text(t))
		}
	}

	fixed.Store(true)
	b.do(t, "replay all", chromedp.Click(chromedp.CSS("#dead-replay-all")))
	// The list's count and, beside it, the replay's outcome: all 3 replayed.
	// The list's own refresh (every 3 s) can empty it before the replay's
	// answer comes: the outcome is read once it is no longer the one of a
	// replay under way.
	b.waitFor(t, "the empty dead-letter list and the replay's outcome",
		`document.querySelectorAll('#dead-rows tr').length === 0 && document.getElementById('dead-msg').textContent === '0 dead letters' &&
			!document.getElementById('dead-replay-msg').textContent.startsWith('Replaying')`)
	if got := eval[string](t, b, `document.getElementById('dead-replay-msg').textContent`); got != "Replayed 3." {
		t.Errorf("the outcome of Replay all reads %q, want \"Replayed 3.\"", got)
	}
	if d := b.dialogList(); len(d) != 1 || !strings.HasPrefix(d[0], "confirm: Replay all 3 dead letters?") ||
		!strings.Contains(d[0], "not only the 2 listed here") {
		t.Errorf("dialogs = %q, want the confirm of Replay all counting all 3", d)
	}
	deadline := time.Now().Add(pageWait)
	for succeeded.Load() < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("Replay all ran the handler %d times, want 3", succeeded.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, u := range eval[[]string](t, b, `window.__deadURLs`) {
		if !strings.Contains(u, "limit=") {
			t.Errorf("the console fetched %s without a limit", u)
		}
	}
}

// TestDeadLetterReplayedTwice: Replay of a dead letter that another replay
// took already (a second operator; the list on this page not refreshed
// yet) says so, and does not run the event again. The page's list is held
// as it was: its refreshes never answer.
func TestDeadLetterReplayedTwice(t *testing.T) {
	s, fixed, succeeded, seqs := startWithDeadLetters(t, "twice")
	seq := seqs[0]

	b := newBrowser(t)
	b.do(t, "open Dead letters", chromedp.Navigate(s.AdminURL+"/#dead"))
	row := fmt.Sprintf(`#dead-rows tr[data-seq="%d"]`, seq)
	b.waitFor(t, "the dead letter", fmt.Sprintf(`document.querySelector(%s) !== null`, js(row)))
	eval[bool](t, b, `(() => {
		const fetch0 = window.fetch;
		window.fetch = (url, opts) => String(url).startsWith('v1/dead-letters') ? new Promise(() => {}) : fetch0(url, opts);
		return true;
	})()`)

	fixed.Store(true)
	resp, err := http.Post(s.AdminURL+"/v1/events/replay", "application/json", strings.NewReader(fmt.Sprintf(`{"dead":true,"seqs":[%d]}`, seq)))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"replayed":1`) {
		t.Fatalf("the other operator's replay: %d %s", resp.StatusCode, body)
	}
	deadline := time.Now().Add(pageWait)
	for succeeded.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the other operator's replay did not run the handler")
		}
		time.Sleep(20 * time.Millisecond)
	}

	b.clickNow(t, "replay it again", row+" button.replay")
	b.waitFor(t, "the note of a dead letter replayed already",
		fmt.Sprintf(`document.querySelector(%s).textContent.includes('already replayed (not run again)')`, js(row)))
	var events struct {
		Events []struct {
			ReplayOf string `json:"replay_of"`
		} `json:"events"`
	}
	s.GetJSON(t, "/v1/events", http.StatusOK, &events)
	copies := 0
	for _, ev := range events.Events {
		if ev.ReplayOf != "" {
			copies++
		}
	}
	if copies != 1 || succeeded.Load() != 1 {
		t.Errorf("%d copies of the event, the handler ran %d times; want 1 and 1", copies, succeeded.Load())
	}
}

// watchReplays is a script for a new document: the page's fetch counts the
// answers of GET /v1/dead-letters the page has read in window.__deadRead,
// sets window.__replayRead to that count once the page has read a
// replay's answer (one more task later, so whatever the page does with it
// is done), and answers the replay itself with window.__replayAnswer
// ({status, body}) when set.
const watchReplays = `window.__deadRead = 0;
	window.__replayRead = -1;
	window.__replayAnswer = null;
	const fetch0 = window.fetch;
	const afterRead = (res, then) => {
		const text = res.text.bind(res);
		res.text = async () => {
			const body = await text();
			setTimeout(then, 0);
			return body;
		};
		return res;
	};
	window.fetch = async (url, opts) => {
		const u = String(url);
		if (u === 'v1/events/replay') {
			const a = window.__replayAnswer;
			const res = a ? new Response(JSON.stringify(a.body), {status: a.status, headers: {'Content-Type': 'application/json'}}) :
				await fetch0(url, opts);
			return afterRead(res, () => { window.__replayRead = window.__deadRead; });
		}
		if (u.startsWith('v1/dead-letters?')) return afterRead(await fetch0(url, opts), () => { window.__deadRead++; });
		return fetch0(url, opts);
	};`

// setReplayAnswer has the page's replays answered with status and body
// (JSON), or by the service when body is "".
func setReplayAnswer(t *testing.T, b *browser, status int, body string) {
	t.Helper()
	answer := "null"
	if body != "" {
		answer = fmt.Sprintf(`{status: %d, body: %s}`, status, body)
	}
	eval[chromedp.Void](t, b, `(() => { window.__replayRead = -1; window.__replayAnswer = `+answer+`; })()`)
}

// watchReplayReads installs watchReplays in b's pages to come.
func watchReplayReads(t *testing.T, b *browser) {
	t.Helper()
	_, err := chromedp.Call(b.ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: watchReplays})
	if err != nil {
		t.Fatal(err)
	}
}

// waitRefreshAfterReplay waits until the page has read an answer of GET
// /v1/dead-letters after it read the answer of its replay: the list was
// drawn again since the replay's outcome was shown.
func waitRefreshAfterReplay(t *testing.T, b *browser) {
	t.Helper()
	b.waitFor(t, "a refresh of the list after the replay", `window.__replayRead >= 0 && window.__deadRead > window.__replayRead`)
}

// TestReplayAllIsFollowedByAFreshList: after Replay all the list is read
// again. A refresh of the list under way when the replay answered drew
// the letters as they were before it, and the read asked for after the
// replay was dropped (the list's refresh was running), so the replayed
// letters stayed listed until the next refresh, beside "Replayed 2.". The
// page's timers of a second or more never fire here (no refresh comes on
// its own), and the refresh under way is held until the replay answered.
func TestReplayAllIsFollowedByAFreshList(t *testing.T) {
	s, fixed, _, _ := startWithDeadLetters(t, "fresh-0", "fresh-1")
	fixed.Store(true)

	b := newBrowser(t)
	b.do(t, "open Dead letters", chromedp.Navigate(s.AdminURL+"/#dead"))
	b.waitFor(t, "the 2 dead letters", `document.querySelectorAll('#dead-rows tr').length === 2`)
	eval[chromedp.Void](t, b, `(() => {
		window.timers = [];
		const setTimeout0 = window.setTimeout;
		window.setTimeout = (fn, ms, ...args) => ms >= 1000 ? (window.timers.push(fn), 0) : setTimeout0(fn, ms, ...args);
		const fetch0 = window.fetch;
		window.held = [];
		window.fetch = (url, opts) => {
			const answer = fetch0(url, opts);
			if (!String(url).startsWith('v1/dead-letters?') || window.held.length > 0) return answer;
			return new Promise((resolve, reject) => window.held.push(() => answer.then(resolve, reject)));
		};
	})()`)
	// The list's refresh, its timer set before the page's timers were
	// stopped, asks once more: that request is held.
	b.waitFor(t, "a refresh of the list under way", `window.held.length === 1`)
	b.do(t, "replay all", chromedp.Click(chromedp.CSS("#dead-replay-all")))
	b.waitFor(t, "the replay's outcome", `document.getElementById('dead-replay-msg').textContent === 'Replayed 2.'`)
	eval[chromedp.Void](t, b, `window.held.forEach((release) => release())`)
	b.waitFor(t, "the list read again after the replay",
		`document.querySelectorAll('#dead-rows tr').length === 0 && document.getElementById('dead-msg').textContent === '0 dead letters'`)
}

// TestReplayAllOutcomeStays: what Replay all did, a failure included,
// stays on the page when the list is drawn again (it was written where
// the list's count goes, and the refresh right after it wrote the count
// over it), until the next Replay all or Dismiss; a cut answer is
// counted in full (already_replayed_count, missing_count).
func TestReplayAllOutcomeStays(t *testing.T) {
	s, fixed, succeeded, _ := startWithDeadLetters(t, "stays-0", "stays-1")

	b := newBrowser(t)
	watchReplayReads(t, b)
	b.do(t, "open Dead letters", chromedp.Navigate(s.AdminURL+"/#dead"))
	b.waitFor(t, "the 2 dead letters", `document.querySelectorAll('#dead-rows tr').length === 2`)

	steps := []struct {
		name    string
		status  int
		body    string // the replay's answer; "" for the service's
		want    string
		error   bool
		deadMsg string // the list's count after the replay
	}{
		{"failed", http.StatusServiceUnavailable, `{"error": "stream unavailable"}`,
			"Replay failed: stream unavailable", true, "2 dead letters"},
		{"lists cut", http.StatusOK,
			`{"replayed": 3, "already_replayed": [7, 8], "already_replayed_count": 12000, "missing": [9], "missing_count": 10500}`,
			"Replayed 3. 12000 already replayed by another replay, not run again. 10500 had no dead letter any more, not replayed.", false, "2 dead letters"},
		{"replayed", 0, "", "Replayed 2.", false, "0 dead letters"},
	}
	fixed.Store(true)
	for _, st := range steps {
		setReplayAnswer(t, b, st.status, st.body)
		b.waitFor(t, st.name+": Replay all enabled", `!document.getElementById('dead-replay-all').disabled`)
		b.do(t, st.name+": replay all", chromedp.Click(chromedp.CSS("#dead-replay-all")))
		waitRefreshAfterReplay(t, b)
		b.waitFor(t, st.name+": the list's count", fmt.Sprintf(`document.getElementById('dead-msg').textContent === %s`, js(st.deadMsg)))
		got := eval[string](t, b, `document.getElementById('dead-replay-msg').textContent`)
		isError := eval[bool](t, b, `document.getElementById('dead-replay-msg').classList.contains('error')`)
		if got != st.want || isError != st.error {
			t.Errorf("%s: after the list's refresh the replay's outcome reads %q (error %t), want %q (error %t)", st.name, got, isError, st.want, st.error)
		}
	}
	if n := succeeded.Load(); n != 2 {
		t.Errorf("the handler ran %d times, want 2", n)
	}

	b.do(t, "dismiss", chromedp.Click(chromedp.CSS("#dead-replay-dismiss")))
	b.waitFor(t, "the outcome dismissed", `document.getElementById('dead-replay-msg').textContent === '' &&
		document.getElementById('dead-replay-dismiss').hidden`)
	if got := eval[string](t, b, `document.getElementById('dead-replay-msg').getAttribute('role')`); got != "status" {
		t.Errorf("the replay's outcome has role %q, want status (read out when it changes)", got)
	}
}

// TestDeadLetterReplayFailureStays: the note of a failed Replay of one
// dead letter stays on its row when the list is drawn again, as the note
// of one replayed does (the refresh 3 s later wiped it).
func TestDeadLetterReplayFailureStays(t *testing.T) {
	s, _, _, seqs := startWithDeadLetters(t, "row-fails")
	seq := seqs[0]

	b := newBrowser(t)
	watchReplayReads(t, b)
	b.do(t, "open Dead letters", chromedp.Navigate(s.AdminURL+"/#dead"))
	row := fmt.Sprintf(`#dead-rows tr[data-seq="%d"]`, seq)
	b.waitFor(t, "the dead letter", fmt.Sprintf(`document.querySelector(%s) !== null`, js(row)))
	setReplayAnswer(t, b, http.StatusServiceUnavailable, `{"error": "stream unavailable"}`)
	b.clickNow(t, "replay it", row+" button.replay")
	waitRefreshAfterReplay(t, b)
	const want = "replay failed: stream unavailable"
	note := eval[string](t, b, fmt.Sprintf(`(document.querySelector(%s) || {textContent: '(no row)'}).textContent`, js(row)))
	if !strings.Contains(note, want) {
		t.Errorf("after the list's refresh the row reads %q, want it to say %q", note, want)
	}
	if !eval[bool](t, b, fmt.Sprintf(`document.querySelector(%s + ' .actions .error') !== null`, js(row))) {
		t.Error("the row's failure note is not shown as an error")
	}
}

// TestPauseSaysTheStatusWasNotRead: a pause or resume that happened but
// whose answer carries status_error (the delivery status could not be read
// just then) tells the user so, for all delivery and for one command. The
// page's fetch adds status_error to the real answers.
func TestPauseSaysTheStatusWasNotRead(t *testing.T) {
	handler := okAfter()
	s := start(t, nil, delivery.Module, handler)
	const statusError = "done, but the delivery status could not be read: test: the stream is restarting"
	b := newBrowser(t)
	_, err := chromedp.Call(b.ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
		Source: `const fetch0 = window.fetch;
			window.fetch = async (url, opts) => {
				const res = await fetch0(url, opts);
				if (!/^v1\/delivery\/(pause|resume)$/.test(String(url)) || !res.ok) return res;
				const d = await res.json();
				d.commands = [];
				d.status_error = ` + js(statusError) + `;
				return new Response(JSON.stringify(d), { status: 200, headers: { 'Content-Type': 'application/json' } });
			};`,
	})
	if err != nil {
		t.Fatal(err)
	}
	b.do(t, "open the Overview", chromedp.Navigate(s.AdminURL+"/#overview"))
	pauseButton := fmt.Sprintf(`#ov-queues button[title="Pause %s"]`, afterCommand)
	resumeButton := fmt.Sprintf(`#ov-queues button[title="Resume %s"]`, afterCommand)
	shown := func(css string) string {
		return fmt.Sprintf(`(() => { const b = document.querySelector(%s); return b !== null && !b.hidden; })()`, js(css))
	}
	tests := []struct {
		name, button, done string
		confirm            string // the start of the confirmation asked first, "" for none
		want               string
	}{
		{"pause all", "#delivery-pause", shown("#delivery-resume"), "confirm: Pause all delivery?", "alert: pause delivery: " + statusError},
		{"resume all", "#delivery-resume", shown("#delivery-pause"), "", "alert: resume delivery: " + statusError},
		{"pause one command", pauseButton, shown(resumeButton), "confirm: Pause " + afterCommand + "?", "alert: pause " + afterCommand + ": " + statusError},
		{"resume one command", resumeButton, shown(pauseButton), "", "alert: resume " + afterCommand + ": " + statusError},
	}
	for _, tt := range tests {
		b.waitFor(t, tt.name+": the button", shown(tt.button))
		before := len(b.dialogList())
		b.clickNow(t, tt.name, tt.button)
		b.waitFor(t, tt.name+": done", tt.done)
		d := b.dialogList()[before:]
		if tt.confirm != "" {
			if len(d) == 0 || !strings.HasPrefix(d[0], tt.confirm) {
				t.Fatalf("%s: dialogs = %q, want first %q…", tt.name, d, tt.confirm)
			}
			d = d[1:]
		}
		if len(d) != 1 || d[0] != tt.want {
			t.Fatalf("%s: dialogs = %q, want %q last", tt.name, d, tt.want)
		}
	}
}

// TestPauseAsksFirst: Pause, of all delivery or of one command, stops
// every after-callback's handler (a command's pause holding 10,000 events
// stops the consumer for all), so it asks first, as Replay all does: a
// dismissed confirmation sends nothing and pauses nothing, an accepted one
// pauses. Resume asks nothing. The page counts its pause requests and the
// confirmations' answers.
func TestPauseAsksFirst(t *testing.T) {
	s := start(t, nil, delivery.Module, okAfter())
	b := newBrowser(t)
	_, err := chromedp.Call(b.ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
		Source: `window.pausesSent = 0;
			window.confirmAnswers = [];
			const fetch0 = window.fetch;
			window.fetch = (url, opts) => {
				if (String(url) === 'v1/delivery/pause') window.pausesSent++;
				return fetch0(url, opts);
			};
			const confirm0 = window.confirm;
			window.confirm = (message) => {
				const answer = confirm0.call(window, message);
				window.confirmAnswers.push(answer);
				return answer;
			};`,
	})
	if err != nil {
		t.Fatal(err)
	}
	b.do(t, "open the Overview", chromedp.Navigate(s.AdminURL+"/#overview"))
	shown := func(css string) string {
		return fmt.Sprintf(`(() => { const b = document.querySelector(%s); return b !== null && !b.hidden && !b.disabled; })()`, js(css))
	}
	type delivery struct {
		State          string   `json:"state"`
		PausedCommands []string `json:"paused_commands"`
	}
	tests := []struct {
		name, pause, resume, confirm string
		paused                       func(d delivery) bool
	}{
		{"all delivery", "#delivery-pause", "#delivery-resume", "confirm: Pause all delivery?",
			func(d delivery) bool { return d.State == "paused" }},
		{"one command", fmt.Sprintf(`#ov-queues button[title="Pause %s"]`, afterCommand),
			fmt.Sprintf(`#ov-queues button[title="Resume %s"]`, afterCommand), "confirm: Pause " + afterCommand + "?",
			func(d delivery) bool { return slices.Equal(d.PausedCommands, []string{afterCommand}) }},
	}
	sent := 0
	for _, tt := range tests {
		for _, accept := range []bool{false, true} {
			name := fmt.Sprintf("%s, confirmation accepted %v", tt.name, accept)
			b.waitFor(t, name+": Pause", shown(tt.pause))
			dialogs, answers := len(b.dialogList()), eval[int](t, b, `window.confirmAnswers.length`)
			b.answerDialogs(accept)
			b.clickNow(t, name, tt.pause)
			b.waitFor(t, name+": the confirmation answered", fmt.Sprintf(`window.confirmAnswers.length === %d`, answers+1))
			if d := b.dialogList()[dialogs:]; len(d) == 0 || !strings.HasPrefix(d[0], tt.confirm) {
				t.Errorf("%s: dialogs %q, want first %q…", name, d, tt.confirm)
			}
			if !accept {
				// The click's handler ran to its end once confirm() returned:
				// a pause it sent is counted by now.
				if n := eval[int](t, b, `window.pausesSent`); n != sent {
					t.Errorf("%s: a dismissed confirmation sent %d pauses", name, n-sent)
				}
				var d delivery
				s.GetJSON(t, "/v1/delivery", http.StatusOK, &d)
				if d.State != "running" || len(d.PausedCommands) != 0 {
					t.Errorf("%s: a dismissed confirmation paused: %+v", name, d)
				}
				continue
			}
			sent++
			b.waitFor(t, name+": paused, Resume shown", shown(tt.resume))
			var d delivery
			s.GetJSON(t, "/v1/delivery", http.StatusOK, &d)
			if !tt.paused(d) {
				t.Errorf("%s: not paused: %+v", name, d)
			}
			dialogs = len(b.dialogList())
			b.answerDialogs(true)
			b.clickNow(t, name+": resume", tt.resume)
			b.waitFor(t, name+": resumed", shown(tt.pause))
			if d := b.dialogList()[dialogs:]; len(d) != 0 {
				t.Errorf("%s: Resume opened dialogs %q", name, d)
			}
		}
	}
	if n := eval[int](t, b, `window.pausesSent`); n != sent {
		t.Errorf("%d pauses sent, want %d (the accepted ones)", n, sent)
	}
}

// startFailingForward starts the service with durable delivery forwarding
// afterCommand to a destination that answers 502 to every event, each
// dead-lettered at its first failure.
func startFailingForward(t *testing.T) *imtest.Service {
	t.Helper()
	dest := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "broken on purpose", http.StatusBadGateway)
	}))
	t.Cleanup(dest.Close) // after the service's stop, registered later
	return start(t, []string{"IMCALLBACK_MAX_DELIVERIES=1", "IMCALLBACK_BACKOFF=10ms", "IMCALLBACK_FORWARD_URL=" + dest.URL,
		"IMCALLBACK_FORWARD_SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "IMCALLBACK_FORWARD_MATCH=" + afterCommand}, delivery.Module)
}

// TestForwardDestinations: the Overview lists the forward destinations
// with their success rate and dead letters, and Dead letters names the
// destination that failed.
func TestForwardDestinations(t *testing.T) {
	s := startFailingForward(t)
	send(t, s, afterCommand, sample(t, afterCommand, nil))

	b := newBrowser(t)
	_, err := chromedp.Call(b.ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
		Source: `window.__deadURLs = [];
			const fetch0 = window.fetch;
			window.fetch = (url, opts) => {
				if (String(url).startsWith('v1/dead-letters')) window.__deadURLs.push(String(url));
				return fetch0(url, opts);
			};`,
	})
	if err != nil {
		t.Fatal(err)
	}
	b.do(t, "open the Overview", chromedp.Navigate(s.AdminURL+"/#overview"))
	b.waitFor(t, "the destination with its dead letter", `(() => {
		const row = document.querySelector('#ov-forward tbody tr');
		if (!row) return false;
		const cells = [...row.children].map((td) => td.textContent);
		return cells[0] === 'default' && cells[3] === '0.0 %' && cells[5] === '1' && cells[6] === '1';
	})()`)
	// The Overview needs only the counts by destination: it asks for one letter.
	if urls := eval[[]string](t, b, `window.__deadURLs`); len(urls) == 0 || !slices.Contains(urls, "v1/dead-letters?limit=1") {
		t.Errorf("the Overview fetched %q, want v1/dead-letters?limit=1", urls)
	}
	b.do(t, "open Dead letters", chromedp.Click(chromedp.CSS("#tab-dead")))
	b.waitFor(t, "the destination of the dead letter", rowWith("dead-rows", afterCommand+" → default"))
	for _, u := range eval[[]string](t, b, `window.__deadURLs`) {
		if !strings.Contains(u, "limit=") {
			t.Errorf("the console fetched %s without a limit", u)
		}
	}
}

// TestEventsShowTheLastSearch: a refresh of the event list still running
// when a new search is made does not put the old search's rows back. The
// page's fetch holds the refresh's answer until the new search has shown.
func TestEventsShowTheLastSearch(t *testing.T) {
	handler := okAfter()
	s := start(t, nil, delivery.Module, handler)
	res := send(t, s, afterCommand, sample(t, afterCommand, nil))
	requestID := res.Header.Get("X-Request-Id")

	b := newBrowser(t)
	b.do(t, "open Events", chromedp.Navigate(s.AdminURL+"/#events"))
	b.waitFor(t, "the event", rowWith("events-rows", requestID))
	// Hold the answers to the first search (no command) until released;
	// once the app has read a released answer, one more task runs, then
	// window.staleRead is set.
	eval[chromedp.Void](t, b, `(() => {
		const fetch0 = window.fetch;
		window.held = [];
		window.staleRead = false;
		window.fetch = (url, opts) => {
			const answer = fetch0(url, opts);
			if (!String(url).startsWith('v1/events?') || String(url).includes('command=')) return answer;
			return new Promise((resolve, reject) => window.held.push(() => answer.then((res) => {
				const text = res.text.bind(res);
				res.text = async () => {
					const body = await text();
					setTimeout(() => { window.staleRead = true; }, 0);
					return body;
				};
				resolve(res);
			}, reject)));
		};
	})()`)
	b.waitFor(t, "a refresh of the first search held", `window.held.length > 0`)
	b.do(t, "search another command",
		chromedp.SendKeys(chromedp.CSS("#events-command"), "Group.CallbackAfterCreateTopic"),
		chromedp.Click(chromedp.CSS("#events-search")))
	b.waitFor(t, "no event of that command",
		`document.querySelectorAll('#events-rows tr').length === 0 && !document.getElementById('events-empty').hidden`)
	eval[chromedp.Void](t, b, `window.held.forEach((release) => release())`)
	b.waitFor(t, "the old answer read", `window.staleRead`)
	if n := eval[int](t, b, `document.querySelectorAll('#events-rows tr').length`); n != 0 {
		t.Errorf("the events of the search before show again (%d rows) for command Group.CallbackAfterCreateTopic:\n%s", n, b.text(t))
	}
	if msg := eval[string](t, b, `document.getElementById('events-msg').textContent`); msg != "0 events" {
		t.Errorf("the search's message is %q, want \"0 events\"", msg)
	}
}

// TestAFailedSearchShowsNoOtherSearchsRows: a search that fails (a filter
// the API refuses, or the stream out of reach) says why, and no longer
// shows the rows of the search before it as if they were its answer, nor
// offers that search's next page, which would have appended the failed
// search's older rows to them.
func TestAFailedSearchShowsNoOtherSearchsRows(t *testing.T) {
	handler := okAfter()
	s := start(t, nil, delivery.Module, topicsync.Module, handler)
	res := send(t, s, afterCommand, sample(t, afterCommand, nil))
	requestID := res.Header.Get("X-Request-Id")
	const name = "Failed search topic"
	send(t, s, "Group.CallbackAfterCreateTopic", sample(t, "Group.CallbackAfterCreateTopic", map[string]any{"Name": name}))

	b := newBrowser(t)
	for _, tt := range []struct {
		tab, shown, field, refused string
	}{
		{"events", requestID, "events-since", "yesterday"},
		{"topics", name, "topics-app", "app-one"},
	} {
		rows, search, more, empty, msg := tt.tab+"-rows", tt.tab+"-search", tt.tab+"-more", tt.tab+"-empty", tt.tab+"-msg"
		b.do(t, "open "+tt.tab, chromedp.Navigate(s.AdminURL+"/#"+tt.tab))
		b.waitFor(t, "the "+tt.tab+" search's row", rowWith(rows, tt.shown))
		b.do(t, "search with a filter the API refuses",
			chromedp.SendKeys(chromedp.CSS("#"+tt.field), tt.refused),
			chromedp.Click(chromedp.CSS("#"+search)))
		b.waitFor(t, "the failed search's error", `document.getElementById('`+msg+`').classList.contains('error')`)
		if n := eval[int](t, b, `document.querySelectorAll('#`+rows+` tr').length`); n != 0 {
			t.Errorf("%s: the failed search shows %d rows of the search before it:\n%s", tt.tab, n, b.text(t))
		}
		if eval[bool](t, b, `!document.getElementById('`+more+`').hidden || !document.getElementById('`+empty+`').hidden`) {
			t.Errorf("%s: the failed search offers a next page or says nothing matches:\n%s", tt.tab, b.text(t))
		}
	}
}

// TestANewSearchLeavesTheOldOnesPages: a search made while the answer to
// it is awaited is the one the list stands for. Older events (More topics)
// of the search before, clicked then, asked for the new filter from the
// old search's next page and appended that to the old rows, which the new
// search's answer then no longer replaced; a refresh failing then (the new
// filter refused) left the old search's rows under the new one's error.
// The page's fetch asks for pages of 2 where the console asks for 50, and
// holds the new search's first request until released.
func TestANewSearchLeavesTheOldOnesPages(t *testing.T) {
	handler := okAfter()
	s := start(t, nil, delivery.Module, topicsync.Module, handler)
	const groupID = "@TGS#new-search-group"
	for i := range 3 {
		send(t, s, afterCommand, sample(t, afterCommand, map[string]any{"MsgKey": fmt.Sprint("new-search-", i)}))
		send(t, s, "Group.CallbackAfterCreateTopic", sample(t, "Group.CallbackAfterCreateTopic", map[string]any{
			"GroupId": groupID, "TopicId": fmt.Sprintf("@TGS#_%s@TOPIC#_%d", groupID, i), "Name": fmt.Sprint("new search topic ", i)}))
	}

	for _, tt := range []struct {
		name, tab, field, value, word string
		refresh                       bool // a refresh runs while the search is held, else More is clicked
	}{
		{"events, More clicked", "events", "events-command", afterCommand, "events", false},
		{"topics, More clicked", "topics", "topics-group", groupID, "topics", false},
		{"events, a refresh refused", "events", "events-since", "yesterday", "events", true},
		{"topics, a refresh refused", "topics", "topics-app", "app-one", "topics", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := newBrowser(t)
			_, err := chromedp.Call(b.ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
				Source: `window.holding = false;
					window.held = [];
					window.heldRead = false;
					const fetch0 = window.fetch;
					window.fetch = (url, opts) => {
						url = String(url).replace('limit=50', 'limit=2');
						const answer = fetch0(url, opts);
						if (!window.holding || !/^v1\/(events|topics)\?/.test(url)) return answer;
						window.holding = false; // the new search's request only
						return new Promise((resolve, reject) => window.held.push(() => answer.then((res) => {
							const text = res.text.bind(res);
							res.text = async () => {
								const body = await text();
								setTimeout(() => { window.heldRead = true; }, 0);
								return body;
							};
							resolve(res);
						}, reject)));
					};`,
			})
			if err != nil {
				t.Fatal(err)
			}
			rows, more, msg := "#"+tt.tab+"-rows", tt.tab+"-more", tt.tab+"-msg"
			b.do(t, "open "+tt.tab, chromedp.Navigate(s.AdminURL+"/#"+tt.tab))
			b.waitFor(t, "a first page with a next one", fmt.Sprintf(
				`document.querySelectorAll('%s tr').length === 2 && !document.getElementById('%s').hidden`, rows, more))
			eval[chromedp.Void](t, b, `window.holding = true`)
			b.do(t, "search with a filter",
				chromedp.SendKeys(chromedp.CSS("#"+tt.field), tt.value),
				chromedp.Click(chromedp.CSS("#"+tt.tab+"-search")))
			b.waitFor(t, "the new search held", `window.held.length === 1`)
			if tt.refresh {
				// The page shown again runs every poller, the list's refresh too.
				eval[chromedp.Void](t, b, `document.dispatchEvent(new Event('visibilitychange'))`)
				b.waitFor(t, "the refresh's error", fmt.Sprintf(`document.getElementById('%s').classList.contains('error')`, msg))
			} else {
				if eval[bool](t, b, fmt.Sprintf(`!document.getElementById('%s').hidden`, more)) {
					t.Errorf("the search before's next page is offered while the new search is awaited:\n%s", b.text(t))
				}
				eval[chromedp.Void](t, b, fmt.Sprintf(`document.getElementById('%s').click()`, more))
			}
			eval[chromedp.Void](t, b, `window.held.forEach((release) => release())`)
			b.waitFor(t, "the new search's answer read", `window.heldRead`)
			if tt.refresh {
				if n := eval[int](t, b, fmt.Sprintf(`document.querySelectorAll('%s tr').length`, rows)); n != 0 {
					t.Errorf("the refused search shows %d rows of the search before it:\n%s", n, b.text(t))
				}
				if eval[bool](t, b, fmt.Sprintf(`!document.getElementById('%s').hidden`, more)) {
					t.Errorf("the refused search offers the search before's next page:\n%s", b.text(t))
				}
				return
			}
			b.waitFor(t, "a list shown", fmt.Sprintf(`/^\d+\+? %s$/.test(document.getElementById('%s').textContent)`, tt.word, msg))
			got := eval[string](t, b, fmt.Sprintf(`document.getElementById('%s').textContent`, msg))
			if n := eval[int](t, b, fmt.Sprintf(`document.querySelectorAll('%s tr').length`, rows)); n != 2 || got != "2+ "+tt.word {
				t.Errorf("the list holds %d rows (%q), want the new search's first page of 2 (\"2+ %s\"):\n%s", n, got, tt.word, b.text(t))
			}
		})
	}
}

// TestOlderEventsKeepTheSearchsStart: a search since a duration ("1h",
// or "1d": the service reads d for a day, as a setting's duration) pages
// on with its start as it was when its first page was read: asked for the
// duration again minutes later, the older pages started later and left out
// the oldest events the search had selected.
func TestOlderEventsKeepTheSearchsStart(t *testing.T) {
	for _, tt := range []struct {
		since string
		back  time.Duration
	}{
		{"1h", time.Hour},
		{"1d", 24 * time.Hour},
	} {
		t.Run(tt.since, func(t *testing.T) { olderEventsKeepTheSearchsStart(t, tt.since, tt.back) })
	}
}

func olderEventsKeepTheSearchsStart(t *testing.T, since string, back time.Duration) {
	handler := okAfter()
	s := start(t, nil, delivery.Module, handler)
	const events = 51 // one more than the console's page
	var first string
	for i := range events {
		res := send(t, s, afterCommand, sample(t, afterCommand, map[string]any{"MsgKey": fmt.Sprintf("older-events-%d", i)}))
		if i == 0 {
			first = res.Header.Get("X-Request-Id")
		}
	}

	b := newBrowser(t)
	b.do(t, "open Events", chromedp.Navigate(s.AdminURL+"/#events"))
	b.waitFor(t, "a page of events", `document.querySelectorAll('#events-rows tr').length === 50`)
	// Every request for events, with the Date of its answer.
	eval[chromedp.Void](t, b, `(() => {
		const fetch0 = window.fetch;
		window.eventRequests = [];
		window.fetch = async (url, opts) => {
			if (!String(url).startsWith('v1/events?')) return fetch0(url, opts);
			const r = { params: new URLSearchParams(String(url).slice('v1/events?'.length)), date: '' };
			window.eventRequests.push(r);
			const res = await fetch0(url, opts);
			r.date = res.headers.get('Date') || '';
			return res;
		};
	})()`)
	b.do(t, "search since "+since,
		chromedp.SendKeys(chromedp.CSS("#events-since"), since),
		chromedp.Click(chromedp.CSS("#events-search")))
	b.waitFor(t, "the search's first page", `window.eventRequests.some((r) => r.params.get('since') === `+js(since)+` && r.date) && `+
		`!document.getElementById('events-more').hidden && document.getElementById('events-msg').textContent === '50+ events'`)
	b.do(t, "ask for older events", chromedp.Click(chromedp.CSS("#events-more")))
	b.waitFor(t, "every event", rowWith("events-rows", first))
	// The older page's since is the first page's start: the duration
	// before the service answered a first page (its Date, to the second).
	check := eval[string](t, b, fmt.Sprintf(`((since0, back) => {
		const i = window.eventRequests.findIndex((r) => r.params.has('before_seq'));
		const firsts = window.eventRequests.slice(0, i).filter((r) => r.params.get('since') === since0 && r.date);
		const since = window.eventRequests[i].params.get('since');
		const at = Date.parse(since);
		if (isNaN(at)) return 'the older page asks for since=' + since + ', not the time the search started at';
		const lo = Math.min(...firsts.map((r) => Date.parse(r.date))) - back - 1e3;
		const hi = Math.max(...firsts.map((r) => Date.parse(r.date))) - back + 1e3;
		return at >= lo && at <= hi ? '' : 'the older page asks for since=' + since + ', not ' + since0 + ' before the first page (' +
			firsts.map((r) => r.date).join(', ') + ')';
	})(%s, %d)`, js(since), back.Milliseconds()))
	if check != "" {
		t.Error(check)
	}
}

// TestAnEmptyPageOffersOlderEvents: a page of GET /v1/events may hold no
// event while its next_before_seq is not 0 (the service read as much of
// the stream as a page reads without finding one): the list does not say
// that no events match, as if the log were exhausted, and Older events
// searches on below it. The page's fetch answers the first page so.
func TestAnEmptyPageOffersOlderEvents(t *testing.T) {
	handler := okAfter()
	s := start(t, nil, delivery.Module, handler)
	res := send(t, s, afterCommand, sample(t, afterCommand, nil))
	requestID := res.Header.Get("X-Request-Id")

	b := newBrowser(t)
	_, err := chromedp.Call(b.ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
		Source: `const fetch0 = window.fetch;
			window.fetch = (url, opts) => {
				if (!String(url).startsWith('v1/events?') || String(url).includes('before_seq=')) return fetch0(url, opts);
				return Promise.resolve(new Response('{"events":[],"next_before_seq":1000}',
					{ headers: { 'Content-Type': 'application/json; charset=UTF-8' } }));
			};`,
	})
	if err != nil {
		t.Fatal(err)
	}
	b.do(t, "open Events", chromedp.Navigate(s.AdminURL+"/#events"))
	b.waitFor(t, "an empty first page with a next one", `!document.getElementById('events-more').hidden`)
	if eval[bool](t, b, `!document.getElementById('events-empty').hidden`) {
		t.Errorf("an empty page with older events to search says none match:\n%s", b.text(t))
	}
	if msg := eval[string](t, b, `document.getElementById('events-msg').textContent`); !strings.Contains(msg, "Older events") {
		t.Errorf("the message of an empty page with older events to search is %q, want it to point to Older events", msg)
	}
	b.do(t, "ask for older events", chromedp.Click(chromedp.CSS("#events-more")))
	b.waitFor(t, "the event below", rowWith("events-rows", requestID))
	if msg := eval[string](t, b, `document.getElementById('events-msg').textContent`); msg != "1 event" {
		t.Errorf("the message once the last page is read is %q, want \"1 event\"", msg)
	}
}

// TestEventBodyNumbersAsReceived: an event's body shows its numbers as
// the callback carried them: a 64-bit MsgSeq is not rounded to the
// nearest double, nor 1.50 shortened to 1.5.
func TestEventBodyNumbersAsReceived(t *testing.T) {
	handler := okAfter()
	s := start(t, nil, delivery.Module, handler)
	res := send(t, s, afterCommand, sample(t, afterCommand, map[string]any{
		"MsgSeq": json.Number("12345678901234567891"), "Ratio": json.Number("1.50")}))
	requestID := res.Header.Get("X-Request-Id")

	b := newBrowser(t)
	b.do(t, "open Events", chromedp.Navigate(s.AdminURL+"/#events"))
	b.waitFor(t, "the event", rowWith("events-rows", requestID))
	clickRowWith(t, b, "events-rows", requestID)
	b.waitFor(t, "the event's body", `document.querySelector('#event-detail pre.json') !== null`)
	body := eval[string](t, b, `document.querySelector('#event-detail pre.json').textContent`)
	for _, want := range []string{`"MsgSeq": 12345678901234567891`, `"Ratio": 1.50`} {
		if !strings.Contains(body, want) {
			t.Errorf("the body does not show %s:\n%s", want, body)
		}
	}
	if !strings.Contains(eval[string](t, b, `document.getElementById('event-detail').textContent`), requestID) {
		t.Errorf("the event's fields do not show its request id:\n%s", b.text(t))
	}
}

// TestHugeCountsAreShort: the Overview shortens a count past a million
// with a unit that keeps it short, also past a billion (2.5G, not
// 2500.0M), and never shows four digits before a unit (1.0M, not 1000.0k).
func TestHugeCountsAreShort(t *testing.T) {
	s := start(t, nil, delivery.Module)
	b := newBrowser(t)
	b.do(t, "open the Overview", chromedp.Navigate(s.AdminURL+"/#overview"))
	b.waitFor(t, "the delivery counts", `document.getElementById('ov-pending').textContent === '0'`)
	// The delivery status of a service with a huge backlog.
	eval[chromedp.Void](t, b, `(() => {
		const fetch0 = window.fetch;
		window.fetch = (url, opts) => String(url) !== 'v1/delivery' ? fetch0(url, opts) :
			Promise.resolve(new Response(JSON.stringify({state: 'paused', paused_commands: [],
				commands: [{command: 'C2C.CallbackAfterSendMsg', state: 'paused', pending: 2500000000, dead_letters: 999999}]}),
				{status: 200, headers: {'Content-Type': 'application/json'}}));
	})()`)
	b.waitFor(t, "the backlog", `document.getElementById('delivery-state').textContent === 'paused'`)
	for id, want := range map[string]string{"ov-pending": "2.5G", "ov-dead": "1.0M"} {
		b.waitFor(t, id+" = "+want, fmt.Sprintf(`document.getElementById(%s).textContent === %s`, js(id), js(want)))
	}
	if got := eval[string](t, b, `document.getElementById('ov-queues').textContent`); !strings.Contains(got, "2.5G") || !strings.Contains(got, "1.0M") {
		t.Errorf("the command's line shows %q, want 2.5G pending and 1.0M dead letters", got)
	}
}

// TestDeliveryStateForgetsAnOldError: the header's delivery state says
// why it is unknown while GET /v1/delivery fails, and once it answers
// again the state carries no error of before.
func TestDeliveryStateForgetsAnOldError(t *testing.T) {
	s := start(t, nil, delivery.Module)
	b := newBrowser(t)
	b.do(t, "open the console", chromedp.Navigate(s.AdminURL+"/"))
	b.waitFor(t, "the delivery state", `document.getElementById('delivery-state').textContent === 'running'`)
	// GET /v1/delivery fails while window.failDelivery is set.
	eval[chromedp.Void](t, b, `(() => {
		const fetch0 = window.fetch;
		window.failDelivery = true;
		window.fetch = (url, opts) => String(url) !== 'v1/delivery' || !window.failDelivery ? fetch0(url, opts) :
			Promise.resolve(new Response(JSON.stringify({error: 'the event log is not reachable now, try again: test outage'}),
				{status: 503, headers: {'Content-Type': 'application/json'}}));
	})()`)
	b.waitFor(t, "the state unknown, saying why", `(() => {
		const st = document.getElementById('delivery-state');
		return st.textContent === 'unknown' && st.title.includes('test outage');
	})()`)
	eval[chromedp.Void](t, b, `window.failDelivery = false`)
	b.waitFor(t, "the state running again", `document.getElementById('delivery-state').textContent === 'running'`)
	if title := eval[string](t, b, `document.getElementById('delivery-state').title`); title != "" {
		t.Errorf("the running state still says %q", title)
	}
}

// TestHiddenConsoleAsksNothing: a console in a background tab does not
// poll the admin API (every open tab asked GET /v1/delivery every 3 s,
// the Overview's series and status every 5 s), and asks again at once
// when shown. The page is hidden and shown as the browser does it, by
// document.hidden and a visibilitychange event.
func TestHiddenConsoleAsksNothing(t *testing.T) {
	s := start(t, nil, delivery.Module)
	b := newBrowser(t)
	b.do(t, "open the console", chromedp.Navigate(s.AdminURL+"/"))
	b.waitFor(t, "the delivery state", `document.getElementById('delivery-state').textContent === 'running'`)
	eval[chromedp.Void](t, b, `(() => {
		window.asked = [];
		const fetch0 = window.fetch;
		window.fetch = (url, opts) => { window.asked.push(String(url)); return fetch0(url, opts); };
		window.shown = true;
		Object.defineProperty(document, 'hidden', { configurable: true, get: () => !window.shown });
		Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => window.shown ? 'visible' : 'hidden' });
	})()`)
	setShown := func(shown bool) {
		eval[chromedp.Void](t, b, fmt.Sprintf(`(() => {
			window.shown = %t;
			window.asked = [];
			window.changedAt = performance.now();
			document.dispatchEvent(new Event('visibilitychange'));
		})()`, shown))
	}
	setShown(false)
	// More than twice the delivery status's interval (3 s), on the page's
	// clock: a polling page asks within that.
	b.waitFor(t, "two polling intervals hidden", `performance.now() - window.changedAt > 7000`)
	if asked := eval[[]string](t, b, `window.asked`); len(asked) != 0 {
		t.Errorf("the hidden console asked %q", asked)
	}
	setShown(true)
	b.waitFor(t, "the delivery status asked once shown", `window.asked.includes('v1/delivery')`)
}

// TestLinkFromAnotherSite: a link to the console on another site's page
// (a wiki's, a chat's) opens the console; the browser marks the
// navigation cross-site, and it was answered 403.
func TestLinkFromAnotherSite(t *testing.T) {
	s := start(t, nil)
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><title>runbook</title><a id="console" href="%s/">the console</a>`, s.AdminURL)
	}))
	t.Cleanup(other.Close)
	// localhost is another site than the console's 127.0.0.1.
	page := strings.Replace(other.URL, "127.0.0.1", "localhost", 1)
	b := newBrowser(t)
	b.do(t, "open the other site's page", chromedp.Navigate(page))
	b.do(t, "follow its link", chromedp.Click(chromedp.CSS("#console")))
	// The click starts a navigation: an evaluation may still meet the
	// other site's page, or that page going away, and is tried again.
	b.waitAcrossReload(t, "the console's delivery mode never showed inline",
		`document.getElementById('delivery-state') !== null && document.getElementById('delivery-state').textContent === 'inline'`)
}

// TestTopicsOfNoApp: the topics stored before apps were kept (app "") could
// not be searched alone: an empty App field left sdk_app_id out of the
// request (every app's topics). The Topics tab now has a choice that sends
// sdk_app_id= as the command line's topics list --appid "" does, and lists
// those topics only.
func TestTopicsOfNoApp(t *testing.T) {
	const legacyName, appName = "Topic of no app", "Topic of an app"
	dir := t.TempDir()
	store, err := topicsync.OpenStore(context.Background(), "", dir, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	// A topic of an app beside it: a service of one app gives the topics of
	// no app to it at start only while no topic has an app.
	created := time.Now().Add(-time.Hour).UTC()
	for _, topic := range []topicsync.Topic{
		{SdkAppID: topicsync.LegacyAppID, TopicID: "@TGS#_legacy@TOPIC#_0", GroupID: "@TGS#_legacy", Name: legacyName, Type: "Community", CreatedAt: created},
		{SdkAppID: "1400000001", TopicID: "@TGS#_app@TOPIC#_0", GroupID: "@TGS#_app", Name: appName, Type: "Community", CreatedAt: created},
	} {
		if err == nil {
			err = store.Create(context.Background(), topic)
		}
	}
	if cerr := store.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	s := start(t, []string{"IMCALLBACK_DATA_DIR=" + dir}, delivery.Module, topicsync.Module)

	b := newBrowser(t)
	b.do(t, "open Topics", chromedp.Navigate(s.AdminURL+"/#topics"))
	b.waitFor(t, "every app's topics", rowWith("topics-rows", legacyName)+" && "+rowWith("topics-rows", appName))

	b.do(t, "search the topics of no app",
		chromedp.Click(chromedp.CSS("#topics-legacy")),
		chromedp.Click(chromedp.CSS("#topics-search")))
	b.waitFor(t, "the topics of no app only", rowWith("topics-rows", legacyName)+
		` && document.querySelectorAll('#topics-rows tr').length === 1 && document.getElementById('topics-msg').textContent === '1 topic'`)
	if !eval[bool](t, b, `document.getElementById('topics-app').disabled`) {
		t.Error("the App field is on while the topics of no app are chosen")
	}

	b.do(t, "search every app again",
		chromedp.Click(chromedp.CSS("#topics-legacy")),
		chromedp.Click(chromedp.CSS("#topics-search")))
	b.waitFor(t, "every app's topics again", rowWith("topics-rows", legacyName)+" && "+rowWith("topics-rows", appName))
	if eval[bool](t, b, `document.getElementById('topics-app').disabled`) {
		t.Error("the App field stays off once every app is chosen again")
	}
}

// TestHostilePayload: markup in a topic name, a topic id, a command and a
// request id shows as characters and runs nothing.
func TestHostilePayload(t *testing.T) {
	s := start(t, nil, delivery.Module, topicsync.Module)
	const (
		name    = `<img src=x onerror=alert(1)>`
		topicID = `@TGS#_<b>bold</b>@TOPIC#_<svg onload=alert(3)>`
		groupID = `@TGS#<script>alert(4)</script>`
		command = `<img src=x onerror=alert(2)>`
		// U+202E reverses what follows it, U+200B is invisible: each is
		// shown as its escape, not as itself.
		custom   = "order \u202e001 ot 999\u200b"
		platform = "RES\u202eTAPI"
		escaped  = `order \u202e001 ot 999\u200b`
	)
	send(t, s, "Group.CallbackAfterCreateTopic", sample(t, "Group.CallbackAfterCreateTopic",
		map[string]any{"GroupId": groupID, "TopicId": topicID, "Name": name, "Introduction": `"><script>alert(5)</script>`,
			"UserDefinedDataList": []map[string]string{{"Key": "note", "Value": custom}}}), imtest.WithPlatform(platform))
	s.Send(t, command, []byte(`{"CallbackCommand":"<img src=x onerror=alert(2)>"}`),
		imtest.WithHeader("X-Request-Id", `<img src=x onerror=alert(6)>`))

	b := newBrowser(t)
	b.do(t, "open Live", chromedp.Navigate(s.AdminURL+"/#live"))
	b.waitFor(t, "the hostile command in Live", rowWith("live-rows", command))

	b.waitFor(t, "the Topics tab", `!document.getElementById('tab-topics').hidden`)
	b.do(t, "open Topics", chromedp.Click(chromedp.CSS("#tab-topics")))
	b.waitFor(t, "the hostile topic", rowWith("topics-rows", name))
	clickRowWith(t, b, "topics-rows", name)
	b.waitFor(t, "the hostile topic's fields", fmt.Sprintf(
		`document.getElementById('topic-detail').textContent.includes(%s)`, js(topicID)))
	if got := eval[string](t, b, `[...document.querySelectorAll('#topic-detail td')].find((td) => td.textContent === 'note').nextElementSibling.textContent`); got != escaped {
		t.Errorf("the topic's custom data shows as %q, want %q", got, escaped)
	}

	b.do(t, "open Events", chromedp.Click(chromedp.CSS("#tab-events")))
	b.waitFor(t, "the topic's event", rowWith("events-rows", "Group.CallbackAfterCreateTopic"))
	clickRowWith(t, b, "events-rows", "Group.CallbackAfterCreateTopic")
	b.waitFor(t, "the hostile body", `(() => {
		const pre = document.querySelector('#event-detail pre.json');
		return pre && pre.textContent.includes('<img src=x onerror=alert(1)>');
	})()`)
	if !eval[bool](t, b, fmt.Sprintf(`document.querySelector('#event-detail pre.json').textContent.includes(%s)`, js(`"Value": "`+escaped+`"`))) {
		t.Errorf("the body does not show the custom data's value as %q", escaped)
	}
	if !eval[bool](t, b, fmt.Sprintf(`document.getElementById('event-detail').textContent.includes(%s)`, js(`OptPlatformRES\u202eTAPI`))) {
		t.Errorf("the parameters do not show OptPlatform as %q", `RES\u202eTAPI`)
	}
	if eval[bool](t, b, `/[\u202e\u200b]/.test(document.body.textContent)`) {
		t.Errorf("the page holds a raw U+202E or U+200B")
	}

	// Give any injected handler time to run, then check nothing did.
	time.Sleep(500 * time.Millisecond)
	text := b.text(t)
	for _, want := range []string{name, topicID, groupID} {
		if !strings.Contains(text, want) {
			t.Errorf("the page does not show %q as text", want)
		}
	}
	if n := eval[int](t, b, `document.querySelectorAll('img, main script, main svg [onload], [onerror], [onload]').length`); n != 0 {
		t.Errorf("%d injected elements or handlers are in the DOM", n)
	}
	if n := eval[int](t, b, `document.querySelectorAll('img[src="x"]').length`); n != 0 {
		t.Errorf("%d <img src=x> elements are in the DOM", n)
	}
	if n := eval[int](t, b, `document.scripts.length`); n != 1 {
		t.Errorf("the page has %d scripts, want 1 (static/app.js)", n)
	}
	if d := b.dialogList(); len(d) != 0 {
		t.Fatalf("a payload ran script: dialogs %q", d)
	}

	// The listener does see a dialog: a control that a dialog would be caught.
	eval[chromedp.Void](t, b, `setTimeout(() => alert('control'), 0)`)
	deadline := time.Now().Add(pageWait)
	for len(b.dialogList()) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the dialog listener missed the control alert")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if d := b.dialogList(); len(d) != 1 || d[0] != "alert: control" {
		t.Errorf("dialogs = %q, want only the control alert", d)
	}
}

// TestAdminToken: with IMCALLBACK_ADMIN_TOKEN the console asks for the
// token, refuses a wrong one, keeps the right one in sessionStorage and
// sends it as a bearer header.
func TestAdminToken(t *testing.T) {
	const token = "console-test-token"
	s := start(t, []string{"IMCALLBACK_DELIVERY=inline", "IMCALLBACK_ADMIN_TOKEN=" + token})
	// The page and its assets load without the token (they reveal
	// nothing); the API it reads does not.
	for path, want := range map[string]int{
		"/":                 http.StatusOK,
		"/static/app.js":    http.StatusOK,
		"/static/style.css": http.StatusOK,
		"/v1/recent":        http.StatusUnauthorized,
		"/v1/status":        http.StatusUnauthorized,
		"/debug/pprof/":     http.StatusUnauthorized,
	} {
		resp, err := http.Get(s.AdminURL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET %s without the token: %d, want %d", path, resp.StatusCode, want)
		}
	}

	b := newBrowser(t)
	b.do(t, "open Live", chromedp.Navigate(s.AdminURL+"/#live"))
	b.waitFor(t, "the token form", `!document.getElementById('token-overlay').hidden`)

	b.do(t, "a wrong token",
		chromedp.SendKeys(chromedp.CSS("#token-input"), "wrong"),
		chromedp.Click(chromedp.CSS("#token-submit")))
	b.waitFor(t, "the refusal", `!document.getElementById('token-overlay').hidden &&
		document.getElementById('token-error').textContent.includes('refused')`)

	b.do(t, "the token",
		chromedp.SendKeys(chromedp.CSS("#token-input"), token),
		chromedp.Click(chromedp.CSS("#token-submit")))
	b.waitFor(t, "the form gone", `document.getElementById('token-overlay').hidden`)

	res := send(t, s, "C2C.CallbackBeforeSendMsg", sample(t, "C2C.CallbackBeforeSendMsg", nil))
	b.waitFor(t, "the callback in Live", rowWith("live-rows", res.Header.Get("X-Request-Id")))
	b.waitFor(t, "the dependencies", `document.getElementById('page-overview') !== null && document.getElementById('ov-mode').textContent === 'inline'`)

	if got := eval[string](t, b, `sessionStorage.getItem('imcallback.adminToken')`); got != token {
		t.Errorf("sessionStorage keeps %q, want the token", got)
	}
	if got := eval[string](t, b, `document.cookie`); got != "" {
		t.Errorf("cookies %q, want none", got)
	}
	if d := b.dialogList(); len(d) != 0 {
		t.Errorf("dialogs %q", d)
	}
}

// TestTokenAHeaderCannotCarry: a token holding a character the console
// cannot send in a header (a pasted zero-width space; fetch threw building
// the header, the console said the admin API did not answer and kept the
// token) is refused at the form with a message, never kept nor sent, and
// one kept in the tab from before is dropped when the page loads; the
// form then takes the right token.
func TestTokenAHeaderCannotCarry(t *testing.T) {
	const token = "console-test-token"
	s := start(t, []string{"IMCALLBACK_DELIVERY=inline", "IMCALLBACK_ADMIN_TOKEN=" + token})
	tests := []struct {
		name, typed, kept, want string
	}{
		{"typed, a zero-width space", token + "\u200b", "", "U+200B at character 19"},
		{"typed, Latin-1", "console-test-tökén", "", "U+00F6 at character 15"},
		{"typed, a tab inside", "console-\ttest-token", "", "U+0009 at character 9"},
		{"kept in the tab", "", token + "\u200b", "U+200B at character 19"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBrowser(t)
			// The page's fetch records every Authorization it is asked to send.
			_, err := chromedp.Call(b.ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
				Source: `window.__auth = [];
					if (` + js(tt.kept) + ` && !sessionStorage.getItem('test.kept')) {
						sessionStorage.setItem('test.kept', '1'); // once: not again after the page drops it
						sessionStorage.setItem('imcallback.adminToken', ` + js(tt.kept) + `);
					}
					const fetch0 = window.fetch;
					window.fetch = (url, opts) => {
						window.__auth.push(String((opts && opts.headers && opts.headers.Authorization) || ''));
						return fetch0(url, opts);
					};`,
			})
			if err != nil {
				t.Fatal(err)
			}
			b.do(t, "open Live", chromedp.Navigate(s.AdminURL+"/#live"))
			b.waitFor(t, "the token form", `!document.getElementById('token-overlay').hidden`)
			if tt.typed != "" {
				eval[chromedp.Void](t, b, `document.getElementById('token-input').value = `+js(tt.typed))
				b.do(t, "submit the token", chromedp.Click(chromedp.CSS("#token-submit")))
			}
			b.waitFor(t, "the form saying why", fmt.Sprintf(`!document.getElementById('token-overlay').hidden &&
				document.getElementById('token-error').textContent.includes(%s)`, js(tt.want)))
			if got := eval[string](t, b, `sessionStorage.getItem('imcallback.adminToken') || ''`); got != "" {
				t.Errorf("sessionStorage keeps %q", got)
			}
			if !eval[bool](t, b, `document.getElementById('banner').hidden`) {
				t.Errorf("the banner says %q", eval[string](t, b, `document.getElementById('banner').textContent`))
			}
			if !eval[bool](t, b, `document.getElementById('token-forget').hidden`) {
				t.Error("Forget token is offered with no token kept")
			}

			b.do(t, "the token",
				chromedp.SendKeys(chromedp.CSS("#token-input"), token),
				chromedp.Click(chromedp.CSS("#token-submit")))
			b.waitFor(t, "the form gone", `document.getElementById('token-overlay').hidden`)
			b.waitFor(t, "the token sent", fmt.Sprintf(`window.__auth.includes(%s)`, js("Bearer "+token)))
			for _, a := range eval[[]string](t, b, `window.__auth`) {
				if a != "" && a != "Bearer "+token {
					t.Errorf("the console was asked to send Authorization %q", a)
				}
			}
		})
	}
}

// TestConfigurationShownOnceTheTokenIsGiven: the Configuration page,
// read once when opened (it is not polled), is read again when the token
// it was refused for is given, not left saying the token is required.
func TestConfigurationShownOnceTheTokenIsGiven(t *testing.T) {
	const token = "console-test-token"
	s := start(t, []string{"IMCALLBACK_DELIVERY=inline", "IMCALLBACK_ADMIN_TOKEN=" + token})
	b := newBrowser(t)
	b.do(t, "open Configuration", chromedp.Navigate(s.AdminURL+"/#config"))
	b.waitFor(t, "the token form", `!document.getElementById('token-overlay').hidden`)
	b.do(t, "the token",
		chromedp.SendKeys(chromedp.CSS("#token-input"), token),
		chromedp.Click(chromedp.CSS("#token-submit")))
	b.waitFor(t, "the configuration", `document.getElementById('config-yaml').textContent.includes('admin_listen')`)
}

// TestForgetTokenClearsWhatItRead: Forget token leaves nothing the token
// read on the page (callbacks, the configuration): the page is emptied and
// asks for a token again, as a console opened anew would.
func TestForgetTokenClearsWhatItRead(t *testing.T) {
	b, requestID := withTokenAndACallback(t)
	b.do(t, "open Configuration", chromedp.Click(chromedp.CSS("#tab-config")))
	b.waitFor(t, "the configuration", `document.getElementById('config-yaml').textContent.includes('admin_listen')`)

	b.do(t, "forget the token", chromedp.Click(chromedp.CSS("#token-forget")))
	cleared := fmt.Sprintf(`!document.getElementById('token-overlay').hidden &&
		!document.body.textContent.includes(%s) &&
		!document.getElementById('config-yaml').textContent.includes('admin_listen')`, js(requestID))
	b.waitAcrossReload(t, "after Forget token the page still shows what the token read (or asks for no token)", cleared)
	if got := eval[string](t, b, `sessionStorage.getItem('imcallback.adminToken') || ''`); got != "" {
		t.Errorf("sessionStorage keeps %q after Forget token", got)
	}
}

// call is one kind of request of TestScreenshot's traffic, sent every
// every-th round.
type call struct {
	command string
	opts    []imtest.Option
	every   int
}

// TestScreenshot writes a PNG of the console with some traffic to the path
// of -console.screenshot (or CONSOLE_SCREENSHOT), e.g.
//
//	go test ./console/ -run TestScreenshot -console.screenshot=$PWD/docs/console.png
func TestScreenshot(t *testing.T) {
	if *screenshotPath == "" {
		t.Skip("set -console.screenshot=PATH (or CONSOLE_SCREENSHOT=PATH) to write a screenshot")
	}
	var after, before atomic.Int64
	handlers := fx.Provide(
		dispatcher.AsCommand(func() dispatcher.Command {
			return dispatcher.After(afterCommand, func(ctx context.Context, ev *dispatcher.Event[c2c.AfterSendMsg]) error {
				if after.Add(1)%60 == 0 {
					return errors.New("downstream store: connection refused")
				}
				return nil
			})
		}),
		dispatcher.AsCommand(func() dispatcher.Command {
			return c2c.BeforeSendMsgCommand.Handle(func(ctx context.Context, ev *dispatcher.Event[c2c.BeforeSendMsg]) (dispatcher.Reply[c2c.SendMsgReply], error) {
				if before.Add(1)%6 == 0 {
					return c2c.BeforeSendMsgCommand.Deny("blocked word"), nil
				}
				return c2c.BeforeSendMsgCommand.Allow(), nil
			})
		}),
	)
	s := start(t, []string{"IMCALLBACK_MAX_DELIVERIES=1", "IMCALLBACK_BACKOFF=10ms"},
		delivery.Module, topicsync.Module, handlers)

	b := newBrowser(t)
	b.do(t, "open the console", chromedp.Navigate(s.AdminURL+"/#"+*screenshotPage))

	// Mixed traffic: before and after callbacks, topics, and some rejections.
	calls := []call{
		{command: "C2C.CallbackBeforeSendMsg", every: 1},
		{command: afterCommand, every: 1},
		{command: "Group.CallbackBeforeSendMsg", every: 2},
		{command: "Group.CallbackAfterSendMsg", every: 3},
		{command: "State.StateChange", every: 4},
		{command: "Group.CallbackAfterCreateTopic", every: 9},
		{command: "C2C.CallbackBeforeSendMsg", opts: []imtest.Option{imtest.Unsigned()}, every: 13},
		{command: "C2C.CallbackBeforeSendMsg", opts: []imtest.Option{imtest.WithAppID("1400999999")}, every: 17},
		{command: "C2C.CallbackBeforeSendMsg", opts: []imtest.Option{imtest.Late(time.Hour)}, every: 23},
	}
	bodies := map[string][]byte{}
	for _, c := range calls {
		if _, ok := bodies[c.command]; !ok {
			body, err := imtest.Sample(c.command)
			if err != nil {
				t.Fatal(err)
			}
			bodies[c.command] = body
		}
	}
	// The traffic runs on while the screenshot is taken, so the charts end at a live rate.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	trafficErr := make(chan error, 1)
	go func() {
		trafficErr <- traffic(ctx, s, calls, bodies)
	}()
	select {
	case <-time.After(40 * time.Second):
	case err := <-trafficErr:
		t.Fatalf("the traffic stopped: %v", err)
	}
	if *screenshotPage == "overview" {
		b.waitFor(t, "the charts", `document.querySelectorAll('#ov-chart-command polyline').length > 0`)
	}
	png, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot()) // the viewport, as PNG
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(*screenshotPath, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s (%d bytes)", *screenshotPath, len(png))
	cancel()
	if err := <-trafficErr; err != nil {
		t.Fatal(err)
	}
}

// traffic sends calls until ctx ends, about ten rounds a second, in bursts
// that change the rate along the run.
func traffic(ctx context.Context, s *imtest.Service, calls []call, bodies map[string][]byte) error {
	for tick := 0; ; tick++ {
		burst := 1 + (tick/20)%4
		for i := 0; i < burst; i++ {
			for _, c := range calls {
				if (tick+i)%c.every != 0 {
					continue
				}
				body := bodies[c.command]
				var err error
				switch c.command { // distinct events, not duplicates the service drops
				case "Group.CallbackAfterCreateTopic":
					body, err = imtest.SampleWith(c.command, map[string]any{"GroupId": "@TGS#demo",
						"TopicId": fmt.Sprintf("@TGS#_@TGS#demo@TOPIC#_%d_%d", tick, i), "Name": fmt.Sprintf("Topic %d", tick)})
				case afterCommand, "Group.CallbackAfterSendMsg":
					body, err = imtest.SampleWith(c.command, map[string]any{"MsgKey": fmt.Sprintf("key-%d-%d", tick, i),
						"MsgSeq": tick*10 + i, "Random": tick*10 + i})
				}
				if err != nil {
					return err
				}
				if _, err := s.Sender.Send(ctx, c.command, body, c.opts...); err != nil {
					if ctx.Err() != nil {
						return nil
					}
					return err
				}
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// TestReplayUnderWayCannotBeClickedAgain: while a replay is under way its
// button stays disabled, also when the list's refresh draws the rows and
// the toolbar again meanwhile (the refresh every 3 s drew a fresh,
// enabled Replay on the letter being replayed and enabled Replay all, so
// a second click sent the replay again). The page's replays are held
// until released.
func TestReplayUnderWayCannotBeClickedAgain(t *testing.T) {
	tests := []struct {
		name   string
		button string // CSS of the button clicked
		row    bool   // the button is the row's: read again from the row drawn last
	}{
		{"one dead letter", "button.replay", true},
		{"replay all", "#dead-replay-all", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _, _, seqs := startWithDeadLetters(t, "held-"+strings.ReplaceAll(tt.name, " ", "-"))
			b := newBrowser(t)
			watchReplayReads(t, b)
			b.do(t, "open Dead letters", chromedp.Navigate(s.AdminURL+"/#dead"))
			row := fmt.Sprintf(`#dead-rows tr[data-seq="%d"]`, seqs[0])
			b.waitFor(t, "the dead letter", fmt.Sprintf(`document.querySelector(%s) !== null`, js(row)))
			b.waitFor(t, "Replay all enabled", `!document.getElementById('dead-replay-all').disabled`)
			// The replays are held: the page's fetch of POST /v1/events/replay
			// waits for window.releaseReplays().
			eval[chromedp.Void](t, b, `(() => {
				const fetch1 = window.fetch;
				window.heldReplays = 0;
				let release;
				const released = new Promise((r) => { release = r; });
				window.releaseReplays = release;
				window.fetch = async (url, opts) => {
					if (String(url) !== 'v1/events/replay') return fetch1(url, opts);
					window.heldReplays++;
					await released;
					return new Response(JSON.stringify({error: 'held by the test'}), {status: 503, headers: {'Content-Type': 'application/json'}});
				};
			})()`)
			sel := tt.button
			if tt.row {
				sel = row + " " + tt.button
			}
			// Found and clicked in one evaluation: the list's refresh
			// replaces the row's button, and one looked up, then clicked
			// (chromedp.Click) may be gone in between.
			b.clickNow(t, "click "+tt.name, sel)
			b.waitFor(t, "the replay asked for", `window.heldReplays === 1`)
			read := eval[int](t, b, `window.__deadRead`)
			b.waitFor(t, "the list drawn again while the replay is under way", fmt.Sprintf(`window.__deadRead >= %d`, read+2))
			if !eval[bool](t, b, fmt.Sprintf(`(document.querySelector(%s) || {disabled: true}).disabled`, js(sel))) {
				t.Errorf("%s: the button is enabled again while its replay is under way", tt.name)
			}
			eval[chromedp.Void](t, b, `window.releaseReplays()`)
			b.waitFor(t, "the button enabled once the replay answered",
				fmt.Sprintf(`document.querySelector(%s) !== null && !document.querySelector(%s).disabled`, js(sel), js(sel)))
			if n := eval[int](t, b, `window.heldReplays`); n != 1 {
				t.Errorf("%s: %d replays asked for, want 1", tt.name, n)
			}
		})
	}
}

// TestDeliveryCountsNotShownWhenUnread: while GET /v1/delivery fails, the
// Overview's Pending and Dead letters and the Dead letters tab's count do
// not go on showing the counts of the last answer as if current (they
// did, beside the header's "unknown"): they show none, and the table of
// commands says why; once it answers again the counts are back.
func TestDeliveryCountsNotShownWhenUnread(t *testing.T) {
	s, _, _, _ := startWithDeadLetters(t, "unread")
	b := newBrowser(t)
	b.do(t, "open the Overview", chromedp.Navigate(s.AdminURL+"/#overview"))
	b.waitFor(t, "the counts", `document.getElementById('ov-dead').textContent === '1' &&
		document.getElementById('dead-count').textContent === '1' && !document.getElementById('dead-count').hidden`)
	eval[chromedp.Void](t, b, `(() => {
		const fetch0 = window.fetch;
		window.failDelivery = true;
		window.fetch = (url, opts) => String(url) !== 'v1/delivery' || !window.failDelivery ? fetch0(url, opts) :
			Promise.resolve(new Response(JSON.stringify({error: 'the event log is not reachable now, try again: test outage'}),
				{status: 503, headers: {'Content-Type': 'application/json'}}));
	})()`)
	b.waitFor(t, "the state unknown", `document.getElementById('delivery-state').textContent === 'unknown'`)
	got := eval[map[string]any](t, b, `({
		pending: document.getElementById('ov-pending').textContent,
		dead: document.getElementById('ov-dead').textContent,
		tabCountHidden: document.getElementById('dead-count').hidden,
		queues: document.getElementById('ov-queues').textContent,
	})`)
	if got["pending"] != "—" || got["dead"] != "—" || got["tabCountHidden"] != true {
		t.Errorf("while /v1/delivery fails the page shows pending %q, dead letters %q, the tab's count hidden %v; want —, — and hidden",
			got["pending"], got["dead"], got["tabCountHidden"])
	}
	if q, _ := got["queues"].(string); !strings.Contains(q, "test outage") {
		t.Errorf("while /v1/delivery fails the commands' table reads %q, want it to say why", q)
	}
	eval[chromedp.Void](t, b, `window.failDelivery = false`)
	b.waitFor(t, "the counts back", `document.getElementById('ov-dead').textContent === '1' && !document.getElementById('dead-count').hidden`)
}

// TestChartsHaveNames: every chart drawn as an image has an accessible
// name (an SVG with role img and none is read out as an unnamed image).
func TestChartsHaveNames(t *testing.T) {
	s := start(t, nil)
	b := newBrowser(t)
	b.do(t, "open the Overview", chromedp.Navigate(s.AdminURL+"/#overview"))
	b.waitFor(t, "the charts", `document.querySelectorAll('#page-overview svg[role="img"]').length === 2`)
	names := eval[[]string](t, b, `[...document.querySelectorAll('svg[role="img"]')].map((s) => s.getAttribute('aria-label') || '')`)
	for i, n := range names {
		if n == "" {
			t.Errorf("chart %d has no accessible name", i)
		}
	}
}

// TestOverviewSaysTheSeriesAreUnread: while GET /v1/series fails the
// Overview says so, and its rate "now" is not the last answer's (the
// error was dropped: the charts and the rate stayed as last read, with
// nothing saying they were no longer current); once it answers again the
// note is the usual one.
func TestOverviewSaysTheSeriesAreUnread(t *testing.T) {
	s := start(t, nil)
	b := newBrowser(t)
	b.do(t, "open the Overview", chromedp.Navigate(s.AdminURL+"/#overview"))
	note := eval[string](t, b, `document.getElementById('ov-note').textContent`)
	b.waitFor(t, "the charts", `document.querySelectorAll('#page-overview svg').length === 2`)
	eval[chromedp.Void](t, b, `(() => {
		const fetch0 = window.fetch;
		window.failSeries = true;
		window.fetch = (url, opts) => String(url) !== 'v1/series' || !window.failSeries ? fetch0(url, opts) :
			Promise.resolve(new Response(JSON.stringify({error: 'test outage'}), {status: 503, headers: {'Content-Type': 'application/json'}}));
	})()`)
	b.waitFor(t, "the failure said", `document.getElementById('ov-note').textContent.includes('test outage')`)
	if !eval[bool](t, b, `document.getElementById('ov-note').classList.contains('error')`) {
		t.Error("the failure is not shown as an error")
	}
	if got := eval[string](t, b, `document.getElementById('ov-rate').textContent`); got != "—" {
		t.Errorf("while /v1/series fails the rate now reads %q, want —", got)
	}
	eval[chromedp.Void](t, b, `window.failSeries = false`)
	b.waitFor(t, "the usual note back", fmt.Sprintf(`document.getElementById('ov-note').textContent === %s &&
		!document.getElementById('ov-note').classList.contains('error')`, js(note)))
}

// openConfiguration starts a service and opens its console's
// Configuration page, once the configuration is shown.
func openConfiguration(t *testing.T) *browser {
	t.Helper()
	s := start(t, nil)
	b := newBrowser(t)
	b.do(t, "open Configuration", chromedp.Navigate(s.AdminURL+"/#config"))
	b.waitFor(t, "the configuration", `document.getElementById('config-yaml').textContent.includes('listen')`)
	return b
}

// TestConfigurationReadWhenShown: the Configuration is read again each
// time its tab is shown: read once per page, it showed the configuration
// of before a restart (with another configuration) until the page was
// loaded again. The page's fetch answers the second read as a restarted
// service would.
func TestConfigurationReadWhenShown(t *testing.T) {
	b := openConfiguration(t)
	eval[chromedp.Void](t, b, `(() => {
		const fetch0 = window.fetch;
		window.fetch = (url, opts) => String(url) !== 'v1/config' ? fetch0(url, opts) :
			Promise.resolve(new Response(JSON.stringify({yaml: 'restarted: with another configuration\n', notes: ['a note of the restarted service']}),
				{status: 200, headers: {'Content-Type': 'application/json'}}));
	})()`)
	b.do(t, "open the Overview", chromedp.Click(chromedp.CSS("#tab-overview")))
	b.waitFor(t, "the Overview shown", `!document.getElementById('page-overview').hidden`)
	b.do(t, "open Configuration again", chromedp.Click(chromedp.CSS("#tab-config")))
	b.waitFor(t, "the configuration of the restarted service", `document.getElementById('config-yaml').textContent.includes('restarted: with another configuration') &&
		document.getElementById('config-notes').textContent.includes('a note of the restarted service')`)
}

// TestConfigurationUnreadShowsNoNotes: a read of the configuration that
// fails leaves none of the notes of the read before on the page: they
// stayed under the error, shown as the notes of the service now.
func TestConfigurationUnreadShowsNoNotes(t *testing.T) {
	b := openConfiguration(t)
	eval[chromedp.Void](t, b, `(() => {
		const fetch0 = window.fetch;
		window.__configAnswers = 0;
		window.fetch = (url, opts) => {
			if (String(url) !== 'v1/config') return fetch0(url, opts);
			const first = window.__configAnswers++ === 0;
			return Promise.resolve(first ?
				new Response(JSON.stringify({yaml: 'listen: 127.0.0.1:8080\n', notes: ['a note of the last read']}),
					{status: 200, headers: {'Content-Type': 'application/json'}}) :
				new Response(JSON.stringify({error: 'test: unavailable'}),
					{status: 503, headers: {'Content-Type': 'application/json'}}));
		};
	})()`)
	for _, want := range []string{"a note of the last read", "test: unavailable"} {
		b.do(t, "open the Overview", chromedp.Click(chromedp.CSS("#tab-overview")))
		b.waitFor(t, "the Overview shown", `!document.getElementById('page-overview').hidden`)
		b.do(t, "open Configuration again", chromedp.Click(chromedp.CSS("#tab-config")))
		b.waitFor(t, "the configuration's page showing "+want, fmt.Sprintf(`document.getElementById('page-config').textContent.includes(%s)`, js(want)))
	}
	if got := eval[string](t, b, `document.getElementById('config-notes').textContent`); got != "" {
		t.Errorf("the configuration could not be read, but its notes show %q", got)
	}
}

// TestSinceTakesATimeAsShown: Since takes a time as the tables show it
// (the browser's local time, without a zone: "2026-12-05 07:09:01"), read
// in the browser's zone as shown; the service refused it, neither a
// duration nor RFC 3339, and the same time written as RFC 3339 with Z
// named another instant wherever the browser is not on UTC. The browser
// here is on India's time (UTC+05:30).
func TestSinceTakesATimeAsShown(t *testing.T) {
	handler := okAfter()
	s := start(t, nil, delivery.Module, handler)
	res := send(t, s, afterCommand, sample(t, afterCommand, nil))
	requestID := res.Header.Get("X-Request-Id")

	b := newBrowser(t)
	if _, err := chromedp.Call(b.ctx, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "Asia/Kolkata"}); err != nil {
		t.Fatal(err)
	}
	b.do(t, "open Events", chromedp.Navigate(s.AdminURL+"/#events"))
	b.waitFor(t, "the event", rowWith("events-rows", requestID))
	shown := eval[string](t, b, fmt.Sprintf(`[...document.querySelectorAll('#events-rows tr')].find((tr) => tr.textContent.includes(%s)).children[1].textContent`, js(requestID)))
	b.do(t, "search since the time shown",
		chromedp.SendKeys(chromedp.CSS("#events-since"), shown),
		chromedp.Click(chromedp.CSS("#events-search")))
	b.waitFor(t, "the search's answer", `!['', 'Searching…'].includes(document.getElementById('events-msg').textContent)`)
	if msg := eval[string](t, b, `document.getElementById('events-msg').textContent`); msg != "1 event" || !eval[bool](t, b, rowWith("events-rows", requestID)) {
		t.Errorf("since %q (the event's time as shown): %q, want the event listed", shown, msg)
	}
}

// TestRefusedTokenClearsWhatItRead: when the service refuses the token
// the page kept (it was changed, and the service restarted), the page
// clears what the token read, as Forget token does, and asks for the new
// one saying the old was refused; it kept the rows and bodies on the
// screen, behind the half-transparent token form. The page's fetch
// answers 401 as a service with another token would.
func TestRefusedTokenClearsWhatItRead(t *testing.T) {
	b, requestID := withTokenAndACallback(t)
	eval[chromedp.Void](t, b, `(() => {
		window.fetch = () => Promise.resolve(new Response(JSON.stringify({error: 'unauthorized'}),
			{status: 401, headers: {'Content-Type': 'application/json'}}));
	})()`)
	cleared := fmt.Sprintf(`!document.getElementById('token-overlay').hidden &&
		!document.body.textContent.includes(%s) &&
		document.getElementById('token-error').textContent.includes('refused')`, js(requestID))
	b.waitAcrossReload(t, "once the token is refused the page still shows what it read (or does not say it was refused)", cleared)
	if got := eval[string](t, b, `sessionStorage.getItem('imcallback.adminToken') || ''`); got != "" {
		t.Errorf("sessionStorage keeps %q after the token was refused", got)
	}
}

// TestCommandPauseUnderWayCannotBeClickedAgain: while the pause of one
// command is under way its button stays disabled, also when the delivery
// state's refresh draws the commands' table again meanwhile (it drew a
// fresh, enabled Pause every 3 s, so a second click sent it again). The
// page's pauses are held until released.
func TestCommandPauseUnderWayCannotBeClickedAgain(t *testing.T) {
	handler := okAfter()
	s := start(t, nil, delivery.Module, handler)
	b := newBrowser(t)
	b.do(t, "open the Overview", chromedp.Navigate(s.AdminURL+"/#overview"))
	pauseButton := fmt.Sprintf(`#ov-queues button[title="Pause %s"]`, afterCommand)
	b.waitFor(t, "the command's Pause", fmt.Sprintf(`document.querySelector(%s) !== null`, js(pauseButton)))
	eval[chromedp.Void](t, b, `(() => {
		const fetch0 = window.fetch;
		window.heldPauses = 0;
		window.deliveryRead = 0;
		let release;
		const released = new Promise((r) => { release = r; });
		window.releasePauses = release;
		window.fetch = async (url, opts) => {
			const u = String(url);
			if (u === 'v1/delivery/pause') {
				window.heldPauses++;
				await released;
				return fetch0(url, opts);
			}
			const res = await fetch0(url, opts);
			if (u === 'v1/delivery') {
				const text = res.text.bind(res);
				res.text = async () => {
					const body = await text();
					setTimeout(() => { window.deliveryRead++; }, 0);
					return body;
				};
			}
			return res;
		};
	})()`)
	b.clickNow(t, "pause the command", pauseButton)
	b.waitFor(t, "the pause asked for", `window.heldPauses === 1`)
	read := eval[int](t, b, `window.deliveryRead`)
	b.waitFor(t, "the table drawn again while the pause is under way", fmt.Sprintf(`window.deliveryRead >= %d`, read+2))
	if !eval[bool](t, b, fmt.Sprintf(`(document.querySelector(%s) || {disabled: true}).disabled`, js(pauseButton))) {
		t.Error("the command's Pause is enabled again while its pause is under way")
	}
	eval[chromedp.Void](t, b, `window.releasePauses()`)
	resumeButton := fmt.Sprintf(`#ov-queues button[title="Resume %s"]`, afterCommand)
	b.waitFor(t, "the command paused, its Resume enabled",
		fmt.Sprintf(`document.querySelector(%s) !== null && !document.querySelector(%s).disabled`, js(resumeButton), js(resumeButton)))
	if n := eval[int](t, b, `window.heldPauses`); n != 1 {
		t.Errorf("%d pauses asked for, want 1", n)
	}
}

// TestDeadLetterButtonsNameTheirLetter: the Replay and Open of each dead
// letter name it for a screen reader (every row's were "Replay" and
// "Open", read out alike without the row).
func TestDeadLetterButtonsNameTheirLetter(t *testing.T) {
	s, _, _, seqs := startWithDeadLetters(t, "named-0", "named-1")
	b := newBrowser(t)
	b.do(t, "open Dead letters", chromedp.Navigate(s.AdminURL+"/#dead"))
	b.waitFor(t, "the 2 dead letters", `document.querySelectorAll('#dead-rows tr').length === 2`)
	for _, seq := range seqs {
		for _, what := range []string{"Replay", "Open"} {
			want := fmt.Sprintf("%s dead letter %d", what, seq)
			got := eval[[]string](t, b, fmt.Sprintf(`[...document.querySelectorAll('#dead-rows tr[data-seq="%d"] button')].map((b) => b.getAttribute('aria-label') || b.textContent)`, seq))
			if !slices.Contains(got, want) {
				t.Errorf("the buttons of dead letter %d are named %q, want one named %q", seq, got, want)
			}
		}
	}
}

// withTokenAndACallback starts a service with an admin token, opens Live
// in a browser, gives it the token, and sends a callback that Live shows;
// it returns the browser and the callback's request id.
func withTokenAndACallback(t *testing.T) (*browser, string) {
	t.Helper()
	const token = "console-test-token"
	s := start(t, []string{"IMCALLBACK_DELIVERY=inline", "IMCALLBACK_ADMIN_TOKEN=" + token})
	b := newBrowser(t)
	b.do(t, "open Live", chromedp.Navigate(s.AdminURL+"/#live"))
	b.waitFor(t, "the token form", `!document.getElementById('token-overlay').hidden`)
	b.do(t, "the token",
		chromedp.SendKeys(chromedp.CSS("#token-input"), token),
		chromedp.Click(chromedp.CSS("#token-submit")))
	res := send(t, s, "C2C.CallbackBeforeSendMsg", sample(t, "C2C.CallbackBeforeSendMsg", nil))
	requestID := res.Header.Get("X-Request-Id")
	b.waitFor(t, "the callback in Live", rowWith("live-rows", requestID))
	return b, requestID
}

// okAfter is the app's handler of afterCommand, which succeeds at once.
func okAfter() fx.Option {
	return fx.Provide(dispatcher.AsCommand(func() dispatcher.Command {
		return dispatcher.After(afterCommand, func(context.Context, *dispatcher.Event[c2c.AfterSendMsg]) error { return nil })
	}))
}

// TestForwardDestinationsSayWhatIsUnread: the Overview's forward
// destinations are not shown as current when the service could not be
// read. A failed read of the dead letters (NATS down: 503) left the whole
// table as last drawn, the destinations' requests included, which the
// service still counted; a failed read of /v1/forward left its rows with
// no word. Now the requests go on being shown, the dead letters as not
// known, and either failure is said under the panel's title.
func TestForwardDestinationsSayWhatIsUnread(t *testing.T) {
	s := startFailingForward(t)
	send(t, s, afterCommand, sample(t, afterCommand, map[string]any{"MsgKey": "first"}))

	b := newBrowser(t)
	// window.__fail names the route the page's fetch answers 503 for.
	_, err := chromedp.Call(b.ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
		Source: `window.__fail = '';
			const fetch0 = window.fetch;
			window.fetch = (url, opts) => {
				if (window.__fail && String(url).startsWith(window.__fail)) {
					return Promise.resolve(new Response(JSON.stringify({ error: 'test: unavailable' }),
						{ status: 503, headers: { 'Content-Type': 'application/json' } }));
				}
				return fetch0(url, opts);
			};`,
	})
	if err != nil {
		t.Fatal(err)
	}
	// row is an expression true when the destination's row shows failed
	// requests and dead letters.
	row := func(failed, dead string) string {
		return fmt.Sprintf(`(() => {
			const row = document.querySelector('#ov-forward tbody tr');
			if (!row) return false;
			const cells = [...row.children].map((td) => td.textContent);
			return cells[0] === 'default' && cells[5] === %s && cells[6] === %s;
		})()`, js(failed), js(dead))
	}
	says := func(text string) string {
		return fmt.Sprintf(`document.querySelector('#ov-forward-panel').innerText.includes(%s)`, js(text))
	}
	b.do(t, "open the Overview", chromedp.Navigate(s.AdminURL+"/#overview"))
	b.waitFor(t, "the destination with its dead letter", row("1", "1"))

	eval[string](t, b, `window.__fail = 'v1/dead-letters'`)
	send(t, s, afterCommand, sample(t, afterCommand, map[string]any{"MsgKey": "second"}))
	b.waitFor(t, "the second failed request counted while the dead letters are unread, and their count not shown",
		row("2", "—")+" && "+says("GET /v1/dead-letters: test: unavailable"))

	eval[string](t, b, `window.__fail = 'v1/forward'`)
	b.waitFor(t, "no destination shown as current while /v1/forward is unread",
		`document.querySelectorAll('#ov-forward tbody tr').length === 0 && `+says("GET /v1/forward: test: unavailable"))
}

// TestEventsSayWhichIsAReplay: a replayed copy (an event whose replay_of
// the admin API names) is shown as a replay of its original, in the list
// and in its fields, as `imcallback events list` shows it (REPLAY OF):
// the console showed the copy exactly as the original, the same command,
// app and request id, with nothing saying it was not what IM sent.
func TestEventsSayWhichIsAReplay(t *testing.T) {
	handler := okAfter()
	s := start(t, nil, delivery.Module, handler)
	send(t, s, afterCommand, sample(t, afterCommand, nil))
	var events struct {
		Events []struct {
			Seq      uint64 `json:"seq"`
			State    string `json:"state"`
			ReplayOf string `json:"replay_of"`
		} `json:"events"`
	}
	deadline := time.Now().Add(pageWait)
	for len(events.Events) != 1 || events.Events[0].State != "processed" {
		if time.Now().After(deadline) {
			t.Fatalf("the event was not processed: %+v", events.Events)
		}
		time.Sleep(20 * time.Millisecond)
		s.GetJSON(t, "/v1/events", http.StatusOK, &events)
	}
	original := events.Events[0].Seq
	resp, err := http.Post(s.AdminURL+"/v1/events/replay", "application/json", strings.NewReader(fmt.Sprintf(`{"seqs":[%d]}`, original)))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"replayed":1`) {
		t.Fatalf("the replay: %d %s", resp.StatusCode, body)
	}
	var replayOf string
	var copySeq uint64
	for replayOf == "" {
		if time.Now().After(deadline) {
			t.Fatalf("no copy of the event is listed: %+v", events.Events)
		}
		time.Sleep(20 * time.Millisecond)
		s.GetJSON(t, "/v1/events", http.StatusOK, &events)
		for _, ev := range events.Events {
			if ev.ReplayOf != "" {
				replayOf, copySeq = ev.ReplayOf, ev.Seq
			}
		}
	}

	b := newBrowser(t)
	b.do(t, "open Events", chromedp.Navigate(s.AdminURL+"/#events"))
	copyRow := fmt.Sprintf(`#events-rows tr[data-seq="%d"]`, copySeq)
	origRow := fmt.Sprintf(`#events-rows tr[data-seq="%d"]`, original)
	b.waitFor(t, "the copy and its original",
		fmt.Sprintf(`document.querySelector(%s) !== null && document.querySelector(%s) !== null`, js(copyRow), js(origRow)))
	if text := eval[string](t, b, fmt.Sprintf(`document.querySelector(%s).textContent`, js(copyRow))); !strings.Contains(text, "replay of "+replayOf) {
		t.Errorf("the copy's row does not say it is a replay of %s: %q", replayOf, text)
	}
	if text := eval[string](t, b, fmt.Sprintf(`document.querySelector(%s).textContent`, js(origRow))); strings.Contains(text, "replay of") {
		t.Errorf("the original's row says it is a replay: %q", text)
	}
	b.clickNow(t, "open the copy", copyRow)
	b.waitFor(t, "the copy's fields", fmt.Sprintf(
		`document.querySelector('#event-detail h2') !== null && document.querySelector('#event-detail h2').textContent === 'Event %d'`, copySeq))
	fields := eval[string](t, b, `document.querySelector('#event-detail dl.fields').textContent`)
	if !strings.Contains(fields, "Replay of"+replayOf) {
		t.Errorf("the copy's fields do not name its original %s: %q", replayOf, fields)
	}
}

// TestDeadEventReplayedFromItsPage: the Replay of a dead event's page
// (Events, or Open on its dead letter) replays its dead letter, as the
// Dead letters tab does: it sent {"seqs":[N]}, which runs a copy of the
// event and leaves the dead letter, still listed as dead, for a later
// Replay (or Replay all) to run the handler on it a second time.
func TestDeadEventReplayedFromItsPage(t *testing.T) {
	s, fixed, succeeded, seqs := startWithDeadLetters(t, "from-its-page")
	seq := seqs[0]
	fixed.Store(true)

	b := newBrowser(t)
	b.do(t, "open Dead letters", chromedp.Navigate(s.AdminURL+"/#dead"))
	row := fmt.Sprintf(`#dead-rows tr[data-seq="%d"]`, seq)
	b.waitFor(t, "the dead letter", fmt.Sprintf(`document.querySelector(%s) !== null`, js(row)))
	b.clickNow(t, "open its event", row+` button:not(.replay)`)
	b.waitFor(t, "the event's page", fmt.Sprintf(
		`document.querySelector('#event-detail h2') !== null && document.querySelector('#event-detail h2').textContent === 'Event %d'`, seq))
	b.clickNow(t, "replay it from its page", `#event-detail button.replay`)
	b.waitFor(t, "the replay's outcome", `document.querySelector('#event-detail .actions > span').textContent.startsWith('Replayed')`)

	var dead struct {
		DeadLetters []struct {
			Seq uint64 `json:"seq"`
		} `json:"dead_letters"`
	}
	s.GetJSON(t, "/v1/dead-letters", http.StatusOK, &dead)
	if len(dead.DeadLetters) != 0 {
		t.Errorf("the dead letter is still listed after the event's Replay: %+v", dead.DeadLetters)
	}
	// Replay all now finds nothing to run again.
	resp, err := http.Post(s.AdminURL+"/v1/events/replay", "application/json", strings.NewReader(`{"dead":true}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	deadline := time.Now().Add(pageWait)
	for succeeded.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"replayed":0`) {
		t.Errorf("Replay all after the event's Replay: %d %s; want nothing replayed", resp.StatusCode, body)
	}
	if n := succeeded.Load(); n != 1 {
		t.Errorf("the handler ran %d times; want once", n)
	}
}

// TestNoPauseForACommandTheServiceDoesNotHandle: the Overview's delivery
// table lists, beside the after-commands, any other command with events,
// such as one whose handler a later version left out, seen in the
// dead-letter counts only. It offered that command a Pause, which could
// only fail, after its confirm, with "… is not an after-command of this
// service": such a line has no button now, and says why.
func TestNoPauseForACommandTheServiceDoesNotHandle(t *testing.T) {
	env := []string{"IMCALLBACK_DATA_DIR=" + t.TempDir(), "IMCALLBACK_MAX_DELIVERIES=1", "IMCALLBACK_BACKOFF=10ms"}
	s := start(t, env, delivery.Module, fixableHandler(new(atomic.Bool), new(atomic.Int64)))
	send(t, s, afterCommand, sample(t, afterCommand, map[string]any{"MsgKey": "handler gone"}))
	waitDeadLetters(t, s, 1)
	s.App.RequireStop()
	s = start(t, env, delivery.Module) // the same data, without the handler
	b := newBrowser(t)
	b.do(t, "open the Overview", chromedp.Navigate(s.AdminURL+"/#overview"))
	b.waitFor(t, "the command's line", rowWith("ov-queues", afterCommand))
	got := eval[map[string]any](t, b, fmt.Sprintf(`(() => {
		const tr = [...document.querySelectorAll('#ov-queues tbody tr')].find((tr) => tr.cells[0].textContent === %s);
		return {buttons: tr.querySelectorAll('button').length, text: tr.textContent, title: tr.cells[4].title};
	})()`, js(afterCommand)))
	if got["buttons"] != float64(0) {
		t.Errorf("the line of %s, which no handler of this service takes, has %v buttons, want none: %q", afterCommand, got["buttons"], got["text"])
	}
	if text, _ := got["text"].(string); !strings.Contains(text, "not handled") {
		t.Errorf("the line of %s reads %q, want it to say it is not handled", afterCommand, text)
	}
	if title, _ := got["title"].(string); !strings.Contains(title, "not an after-command of this service") {
		t.Errorf("the line's note explains %q, want it to say the command is not an after-command of this service", title)
	}
}
