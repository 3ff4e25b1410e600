package imsend_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	neturl "net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/imcallback/imcallback/imsend"
	"github.com/imcallback/imcallback/imtest"
	"github.com/imcallback/imcallback/protocol"
)

const okAnswer = `{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}`

// counted is an httptest server answering okAnswer and counting requests.
func counted(t *testing.T) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		n.Add(1)
		io.WriteString(w, okAnswer)
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

// IM counts every status other than 200 as a failed callback, a redirect
// included: the default client must show the redirect, not follow it and
// report the target's OK.
func TestDefaultClientDoesNotFollowRedirects(t *testing.T) {
	for _, status := range []int{http.StatusMovedPermanently, http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			target, reached := counted(t)
			redirecting := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				http.Redirect(w, r, target.URL+r.URL.RequestURI(), status)
			}))
			t.Cleanup(redirecting.Close)
			s := &imsend.Sender{URL: redirecting.URL + "/im/callback", AppID: "1400000000", Token: "t"}

			res, _ := s.Send(context.Background(), "C2C.CallbackAfterSendMsg", []byte(`{}`))
			if res == nil || res.Status != status || res.OK() {
				t.Fatalf("Send answered %s, want the HTTP %d itself", describe(res), status)
			}
			rep := run(t, s, imsend.Load{Command: "C2C.CallbackAfterSendMsg",
				Body: func(int) []byte { return []byte(`{}`) }, Requests: 3, Concurrency: 2})
			if rep.Statuses[status] != 3 || rep.Failures != 3 {
				t.Fatalf("Run = %+v, want 3 failures of HTTP %d", rep, status)
			}
			if n := reached.Load(); n != 0 {
				t.Fatalf("the redirect target got %d callbacks", n)
			}
		})
	}
}

// run runs l with s, failing t when Run refuses l.
func run(t *testing.T, s *imsend.Sender, l imsend.Load) imsend.LoadReport {
	t.Helper()
	return runCtx(t, context.Background(), s, l)
}

// runCtx is run within ctx.
func runCtx(t *testing.T, ctx context.Context, s *imsend.Sender, l imsend.Load) imsend.LoadReport {
	t.Helper()
	rep, err := s.Run(ctx, l)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return rep
}

// describe is a Result's status and body, for a failure message.
func describe(res *imsend.Result) string {
	if res == nil {
		return "nothing"
	}
	return fmt.Sprintf("HTTP %d %q", res.Status, res.Body)
}

// A misbehaving endpoint cannot make the sender hold an answer of any size.
func TestAnswerIsBounded(t *testing.T) {
	tests := []struct {
		name    string
		size    int
		wantErr bool
	}{
		{"at the bound", imsend.MaxAnswer, true}, // read whole, but not an envelope
		{"one byte over", imsend.MaxAnswer + 1, true},
		{"far over", 4 * imsend.MaxAnswer, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
				io.Copy(w, io.LimitReader(neverEnding('x'), int64(tt.size)))
			}))
			t.Cleanup(srv.Close)
			s := &imsend.Sender{URL: srv.URL, AppID: "1400000000"}
			res, err := s.Send(context.Background(), "C2C.CallbackAfterSendMsg", []byte(`{}`))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v", err)
			}
			if res == nil || res.Status != http.StatusOK {
				t.Fatalf("Result = %+v, want the answer's status", res)
			}
			if len(res.Body) > imsend.MaxAnswer {
				t.Fatalf("kept %d bytes of the answer, over MaxAnswer %d", len(res.Body), imsend.MaxAnswer)
			}
			if tt.size > imsend.MaxAnswer && !strings.Contains(err.Error(), "over") {
				t.Errorf("err = %.200s, want it to say the answer is over the bound", err)
			}
			if len(err.Error()) > 4<<10 {
				t.Errorf("the error quotes %d bytes of the answer", len(err.Error()))
			}
		})
	}
}

// A load run's FirstError quotes a failed answer as an error quotes one:
// at most 512 bytes of it, however long the answer.
func TestLoadFirstErrorIsBounded(t *testing.T) {
	long := `{"ActionStatus":"FAIL","ErrorCode":1,"ErrorInfo":"` + strings.Repeat("话", 20<<10) + `"}`
	tests := []struct {
		name string
		body string
		want string
	}{
		{"short answer", `{"ActionStatus":"FAIL","ErrorCode":1}`, `HTTP 503 {"ActionStatus":"FAIL","ErrorCode":1}`},
		{"a long answer", long, "HTTP 503 " + long[:50+462] + "…"}, // 50 ASCII bytes, then 154 whole characters
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &imsend.Sender{URL: "http://imcallback.test/im/callback", AppID: "1400000000",
				Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
					w.WriteHeader(http.StatusServiceUnavailable)
					io.WriteString(w, tt.body)
				})}
			rep := run(t, s, imsend.Load{Command: "C2C.CallbackAfterSendMsg", Requests: 2,
				Body: func(int) []byte { return []byte(`{}`) }})
			if rep.Failures != 2 || rep.FirstError != tt.want {
				t.Errorf("%d failures, FirstError %.80q… (%d bytes); want 2, %.80q… (%d bytes)",
					rep.Failures, rep.FirstError, len(rep.FirstError), tt.want, len(tt.want))
			}
		})
	}
}

type neverEnding byte

func (b neverEnding) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(b)
	}
	return len(p), nil
}

// SendRetried repeats the very request, as IM's retry of a callback: the
// same RequestTime and Sign even when the clock moves between the two.
func TestSendRetriedRepeatsTheSignedRequest(t *testing.T) {
	var mu sync.Mutex
	var queries []string
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		queries = append(queries, r.URL.RawQuery)
		mu.Unlock()
		io.WriteString(w, okAnswer)
	})
	var tick atomic.Int64
	clock := func() time.Time { return time.Unix(1700000000+tick.Add(1), 0) } // a second on every reading
	s := &imsend.Sender{URL: "http://im.example/cb", Handler: h, AppID: "1400000000", Token: "t", Now: clock}

	tests := []struct {
		name string
		opts []imsend.Option
	}{
		{"now", nil},
		{"late", []imsend.Option{imsend.Late(30 * time.Second)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mu.Lock()
			queries = nil
			mu.Unlock()
			first, second, err := s.SendRetried(context.Background(), "Group.CallbackAfterCreateTopic", []byte(`{}`), tt.opts...)
			if err != nil || !first.OK() || !second.OK() {
				t.Fatalf("SendRetried: %v", err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(queries) != 2 || queries[0] != queries[1] {
				t.Fatalf("the retry differs from the first request:\n%q", queries)
			}
		})
	}
}

// TestSendRetriedKeepsAFailedFirstAnswer: a first answer that is not the
// envelope is an error that comes with that answer, as from Send, and no
// retry is sent.
func TestSendRetriedKeepsAFailedFirstAnswer(t *testing.T) {
	var requests atomic.Int64
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"message":"Not Found"}`)
	})
	s := &imsend.Sender{URL: "http://im.example/cb", Handler: h, AppID: "1400000000", Token: "t"}
	first, second, err := s.SendRetried(context.Background(), "Group.CallbackAfterCreateTopic", []byte(`{}`))
	if err == nil || first == nil || !strings.Contains(string(first.Body), "Not Found") || second != nil {
		t.Fatalf("SendRetried = %v, %v, %v; want the first answer with its error and no second", first, second, err)
	}
	if n := requests.Load(); n != 1 {
		t.Errorf("%d requests, want 1 (no retry after a failed first)", n)
	}
}

// TestSendShuffledKeepsTheAnswersOfAFailedRun: when a call fails, the
// answers read so far, and the failed call's own when it came with its
// error (an answer that is not the envelope), are returned with the
// error, which names the call, as SendRetried and Send return them; the
// calls after it are not sent. Before, the answers were dropped (nil).
func TestSendShuffledKeepsTheAnswersOfAFailedRun(t *testing.T) {
	var requests atomic.Int64
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		body, _ := io.ReadAll(r.Body)
		if string(body) == `{"bad":true}` {
			w.WriteHeader(http.StatusBadGateway)
			io.WriteString(w, "<html>bad gateway</html>")
			return
		}
		io.WriteString(w, okAnswer)
	})
	s := &imsend.Sender{URL: "http://im.example/cb", Handler: h, AppID: "1400000000", Token: "t"}
	calls := make([]imsend.Call, 6)
	for i := range calls {
		calls[i] = imsend.Call{Command: "C2C.CallbackAfterSendMsg", Body: []byte(fmt.Sprintf(`{"n":%d}`, i))}
	}
	const bad = 3
	calls[bad].Body = []byte(`{"bad":true}`)
	results, err := s.SendShuffled(context.Background(), 7, calls...)
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("call %d", bad)) {
		t.Fatalf("SendShuffled's error = %v, want one naming call %d", err, bad)
	}
	if len(results) != len(calls) {
		t.Fatalf("results = %v, want one place per call", results)
	}
	if r := results[bad]; r == nil || r.Status != http.StatusBadGateway || !strings.Contains(string(r.Body), "bad gateway") {
		t.Errorf("the failed call's answer = %v, want its 502 page", r)
	}
	answered := 0
	for i, r := range results {
		if i != bad && r != nil {
			if !r.OK() {
				t.Errorf("call %d: %d %s, want OK", i, r.Status, r.Body)
			}
			answered++
		}
	}
	if n := requests.Load(); int64(answered+1) != n {
		t.Errorf("%d answers kept of %d requests sent", answered+1, n)
	}
}

// TestErrorsDoNotQuoteSign: a failed request's error is printed (the CLI, a
// load run's FirstError), and the URL net/http quotes in it carries Sign,
// which the service accepts again while RequestTime is inside its window.
func TestErrorsDoNotQuoteSign(t *testing.T) {
	// Nothing listens there: the request fails. Not a closed test
	// server's port, which another test could listen on next.
	closed := "http://" + imtest.FreeAddr(t)
	at := time.Now()
	for name, url := range map[string]string{
		"no answer":   closed + "/im/callback",
		"invalid URL": closed + "/im/\x7fcallback",
		// No HTTP server: Go's error quotes its "status code", the
		// request line's target it echoed.
		"echoed request line": "http://" + imtest.EchoLine(t) + "/im/callback",
	} {
		t.Run(name, func(t *testing.T) {
			s := &imsend.Sender{URL: url, AppID: "1400000000", Token: "secret-token", Now: func() time.Time { return at }}
			_, err := s.Send(context.Background(), "C2C.CallbackAfterSendMsg", []byte(`{}`))
			if err == nil {
				t.Fatal("no error")
			}
			sign, rt := protocol.SignAt("secret-token", at)
			if msg := err.Error(); strings.Contains(msg, sign) || strings.Contains(msg, rt) || strings.Contains(msg, "secret-token") {
				t.Fatalf("the error quotes the signed query: %s", msg)
			}
			rep := run(t, s, imsend.Load{Command: "C2C.CallbackAfterSendMsg", Body: func(int) []byte { return []byte(`{}`) }, Requests: 1})
			if strings.Contains(rep.FirstError, sign) {
				t.Fatalf("FirstError quotes Sign: %s", rep.FirstError)
			}
		})
	}
}

// TestErrorsDoNotQuoteTheUserInfo: net/http's error quotes the URL with
// its password starred, but the user before it, a user without one (a
// gateway's key put where a user goes, http://KEY@host, or http://KEY:@host
// with an empty password) as it is, and a URL that does not parse as it
// was given, password included.
func TestErrorsDoNotQuoteTheUserInfo(t *testing.T) {
	host := imtest.FreeAddr(t) // nothing listens there: the request fails
	for _, tt := range []struct{ name, userinfo, path string }{
		{"a user alone", "s3cr3t-key", "/im/callback"},
		{"an '@' in the path", "s3cr3t-key", "/im/@callback"},
		{"a user before an empty password", "s3cr3t-key:", "/im/callback"},
		{"a user and a password", "s3cr3t-user:s3cr3t-key", "/im/callback"},
		{"a ',' in a password", "s3cr3t-user:s3cr3t,key", "/im/callback"},
		{"a user alone, not parsed", "s3cr3t-key", "/im/\x7fcallback"},
		{"a password, not parsed", "s3cr3t-user:s3cr3t-key", "/im/\x7fcallback"},
		{"an escaped '@', not parsed", "s3cr3t%40key", "/im/\x7fcallback"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			url := "http://" + tt.userinfo + "@" + host + tt.path
			s := &imsend.Sender{URL: url, AppID: "1400000000", Token: "t"}
			_, err := s.Send(context.Background(), "C2C.CallbackAfterSendMsg", []byte(`{}`))
			if err == nil {
				t.Fatal("no error")
			}
			if msg := err.Error(); strings.Contains(msg, "s3cr3t") || !strings.Contains(msg, host+"/im/") {
				t.Errorf("the error is %q, want the URL without its user info", msg)
			}
			if !errors.As(err, new(*neturl.Error)) {
				t.Errorf("the error %v is no longer a *url.Error", err)
			}
		})
	}
}

// TestURLWithAQueryString: a URL's own query string is kept and the
// callback parameters appended after it with '&' (not a second '?'); one
// that names a callback parameter is refused before anything is sent.
func TestURLWithAQueryString(t *testing.T) {
	var got *http.Request
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r
		io.WriteString(w, okAnswer)
	})
	at := time.Unix(1669872112, 0)
	for url, wantQuery := range map[string]string{
		"http://im.example/cb?tenant=a%20b":       "tenant=a%20b&SdkAppid=",
		"http://im.example/cb?tenant=a&":          "tenant=a&SdkAppid=",
		"http://im.example/cb?":                   "SdkAppid=",
		"http://im.example/cb?tenant=a#fragment":  "tenant=a&SdkAppid=",
		"http://im.example/cb#fragment":           "SdkAppid=",
		"http://im.example/cb?debug&code=x%3Dy+z": "debug&code=x%3Dy+z&SdkAppid=",
	} {
		got = nil
		s := &imsend.Sender{URL: url, Handler: h, AppID: "1400000000", Token: "xxxxyyyy", OptPlatform: "iOS",
			Now: func() time.Time { return at }}
		res, err := s.Send(context.Background(), "Group.CallbackAfterCreateTopic", []byte(`{}`))
		if err != nil || !res.OK() || got == nil {
			t.Fatalf("%s: %v %+v", url, err, res)
		}
		if got.URL.Path != "/cb" || !strings.HasPrefix(got.URL.RawQuery, wantQuery) || strings.Contains(got.URL.RawQuery, "?") {
			t.Fatalf("%s: sent %s, want the query to start %q", url, got.URL, wantQuery)
		}
		sign, rt := protocol.SignAt("xxxxyyyy", at)
		want := protocol.Params{SdkAppid: "1400000000", CallbackCommand: "Group.CallbackAfterCreateTopic", ContentType: "json",
			ClientIP: "127.0.0.1", OptPlatform: "iOS", RequestTime: rt, Sign: sign}
		if p := protocol.ParseParams(got.URL.RawQuery); p != want {
			t.Fatalf("%s: the service reads %+v, want %+v", url, p, want)
		}
	}
	for url, name := range map[string]string{
		"http://im.example/cb?Sign=x":                  `"Sign"`,
		"http://im.example/cb?tenant=a&sdkappid=1":     `"sdkappid"`,
		"http://im.example/cb?RequestTime":             `"RequestTime"`,
		"http://im.example/cb?CallbackCommand=":        `"CallbackCommand"`,
		"http://im.example/cb?Client%49P=10.0.0.1":     `"ClientIP"`,
		"http://im.example/cb?CONTENTTYPE=json#x":      `"CONTENTTYPE"`,
		"http://im.example/cb?x=1&OptPlatform=Android": `"OptPlatform"`,
	} {
		got = nil
		s := &imsend.Sender{URL: url, Handler: h, AppID: "1400000000", Token: "xxxxyyyy"}
		res, err := s.Send(context.Background(), "Group.CallbackAfterCreateTopic", []byte(`{}`))
		if err == nil || res != nil || got != nil || !strings.Contains(err.Error(), "query string sets "+name) {
			t.Fatalf("%s: sent %v, %+v, %v; want it refused naming %s", url, got != nil, res, err, name)
		}
	}
}

// TestInMemoryHonoursContext: a Sender with a Handler is bounded by Send's
// ctx like one sending over HTTP: a done ctx is an error, and a handler
// that does not answer in time does not hold Send past it.
func TestInMemoryHonoursContext(t *testing.T) {
	release := make(chan struct{})
	var served sync.WaitGroup
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer served.Done()
		<-release
		io.WriteString(w, okAnswer)
	})
	defer served.Wait()
	defer close(release)
	s := &imsend.Sender{URL: "http://in-memory/im/callback", AppID: "1", Handler: h}

	quick := &imsend.Sender{URL: s.URL, AppID: "1", Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, okAnswer)
	})}
	done, cancel := context.WithCancel(context.Background())
	cancel()
	if res, err := quick.Send(done, "C2C.CallbackAfterSendMsg", []byte(`{}`)); err == nil {
		t.Fatalf("a done ctx sent in memory: %d %s", res.Status, res.Body)
	}

	served.Add(1)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	answered := make(chan error, 1)
	go func() {
		_, err := s.Send(ctx, "C2C.CallbackAfterSendMsg", []byte(`{}`))
		answered <- err
	}()
	select {
	case err := <-answered:
		if err == nil || !strings.Contains(err.Error(), "deadline") {
			t.Fatalf("Send past its deadline = %v, want the deadline's error", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Send in memory ignored its ctx's deadline")
	}
}

// TestLoadProgressIsSerial: Progress is called one call at a time, with
// the numbers done in order, so a plain variable can record it (the race
// detector checks the first; the order the second).
func TestLoadProgressIsSerial(t *testing.T) {
	srv, _ := counted(t)
	var last int
	var outOfOrder bool
	rep := run(t, &imsend.Sender{URL: srv.URL}, imsend.Load{
		Command: "C2C.CallbackAfterSendMsg", Requests: 200, Concurrency: 8,
		Body: func(int) []byte { return []byte(`{}`) },
		Progress: func(done int) {
			if done != last+1 {
				outOfOrder = true
			}
			last = done
		},
	})
	if rep.Failures != 0 || last != 200 || outOfOrder {
		t.Fatalf("progress ended at %d (out of order: %v), report %v", last, outOfOrder, rep)
	}
}

// TestLoadCheck: a Load Run cannot work with is refused with an error
// naming the setting, before anything is sent, instead of a panic (a nil
// Body, negative Requests) or a run of requests that all fail (a negative
// Timeout).
func TestLoadCheck(t *testing.T) {
	body := func(int) []byte { return []byte(`{}`) }
	tests := []struct {
		name string
		load imsend.Load
		want string // in the error; "" for none
	}{
		{"valid", imsend.Load{Command: "C2C.CallbackAfterSendMsg", Body: body, Requests: 2}, ""},
		{"concurrency above requests", imsend.Load{Command: "C2C.CallbackAfterSendMsg", Body: body, Requests: 2, Concurrency: 50}, ""},
		{"no command", imsend.Load{Body: body, Requests: 2}, "Load.Command is empty"},
		{"no body", imsend.Load{Command: "C2C.CallbackAfterSendMsg", Requests: 2}, "Load.Body is nil"},
		{"no requests", imsend.Load{Command: "C2C.CallbackAfterSendMsg", Body: body}, "Load.Requests is 0"},
		{"negative requests", imsend.Load{Command: "C2C.CallbackAfterSendMsg", Body: body, Requests: -1}, "Load.Requests is -1"},
		{"negative concurrency", imsend.Load{Command: "C2C.CallbackAfterSendMsg", Body: body, Requests: 2, Concurrency: -3}, "Load.Concurrency is -3"},
		{"negative timeout", imsend.Load{Command: "C2C.CallbackAfterSendMsg", Body: body, Requests: 2, Timeout: -time.Second}, "Load.Timeout is -1s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv, n := counted(t)
			rep, err := (&imsend.Sender{URL: srv.URL}).Run(context.Background(), tt.load)
			if tt.want == "" {
				if err != nil || rep.Requests != tt.load.Requests || rep.Failures != 0 {
					t.Fatalf("Run = %v, %v; want %d requests sent", rep, err, tt.load.Requests)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Run error = %v, want one saying %q", err, tt.want)
			}
			if err.Error() != tt.load.Check().Error() {
				t.Errorf("Run error %q is not Check's %q", err, tt.load.Check())
			}
			if sent := n.Load(); sent != 0 {
				t.Errorf("%d requests were sent with a refused Load", sent)
			}
		})
	}
}

// TestLoadUntilCancelled: a run of math.MaxInt requests is one that ctx
// ends. Run's memory grows with the requests sent, so it sends them, and
// reports those, instead of failing to allocate for every request asked.
func TestLoadUntilCancelled(t *testing.T) {
	srv, n := counted(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const stopAt = 5
	rep := runCtx(t, ctx, &imsend.Sender{URL: srv.URL}, imsend.Load{
		Command: "C2C.CallbackAfterSendMsg", Requests: math.MaxInt,
		Body: func(int) []byte { return []byte(`{}`) },
		Progress: func(done int) {
			if done == stopAt {
				cancel()
			}
		},
	})
	if rep.Requests != stopAt || rep.Statuses[http.StatusOK] != stopAt || rep.Failures != 0 || n.Load() != stopAt {
		t.Fatalf("report %v (statuses %v), %d requests served; want %d sent and answered", rep, rep.Statuses, n.Load(), stopAt)
	}
}

// TestNonEnvelopeIsAnError: an answer that is JSON but not an envelope (a
// gateway's own JSON error, null, an object without ActionStatus or with
// one IM does not know, without ErrorCode or with one that is null or no
// integer, an envelope name in another case, or a name given twice) is an
// error
// returned with its Result, as a proxy's HTML page is, not a Result that
// reads as neither accepted nor rejected, or as IM would not read it.
func TestNonEnvelopeIsAnError(t *testing.T) {
	tests := []struct {
		name, body string
		wantErr    string // in the error; "" for none
	}{
		{"envelope", okAnswer, ""},
		{"deny", `{"ActionStatus":"OK","ErrorCode":120001,"ErrorInfo":"no"}`, ""},
		{"fail", `{"ActionStatus":"FAIL","ErrorCode":1,"ErrorInfo":"x"}`, ""},
		{"HTML", `<html>502 Bad Gateway</html>`, "not a JSON object"},
		{"null", `null`, "has no ActionStatus"},
		{"empty object", `{}`, "has no ActionStatus"},
		{"a gateway's JSON", `{"message":"Not Found"}`, "has no ActionStatus"},
		{"unknown ActionStatus", `{"ActionStatus":"ok","ErrorCode":0}`, `ActionStatus "ok" is neither OK nor FAIL`},
		// IM reads the envelope's names as spelled: this is an allow to IM,
		// which a case-insensitive reading took for a deny with code 120001.
		{"ErrorCode spelt in another case", `{"ActionStatus":"OK","errorCode":120001}`, `"errorCode" is not ErrorCode`},
		{"ActionStatus twice, in two cases", `{"ActionStatus":"FAIL","actionstatus":"OK"}`, `"actionstatus" is not ActionStatus`},
		// Go keeps the last value of a name given twice, another reader the
		// first: this read as an allow, and may be a deny to IM.
		{"ErrorCode twice", `{"ActionStatus":"OK","ErrorCode":120001,"ErrorInfo":"no","ErrorCode":0}`, `names "ErrorCode" twice`},
		{"ErrorCode twice, once escaped", `{"ActionStatus":"OK","ErrorCode":120001,"Error\u0043ode":0}`, `names "ErrorCode" twice`},
		{"a name twice inside a reply field", `{"ActionStatus":"OK","ErrorCode":0,"ResultItem":[{"To_Account":"a","ResultCode":30539,"ResultCode":0}]}`,
			`names "ResultCode" twice`},
		// The decode stops at the field of the wrong type: what it read
		// before it (ActionStatus OK) must not make the Result an allow.
		{"ErrorCode quoted", `{"ActionStatus":"OK","ErrorCode":"120001"}`, "ErrorCode of type int"},
		{"ErrorInfo not a string", `{"ActionStatus":"OK","ErrorCode":120001,"ErrorInfo":5}`, "ErrorInfo of type string"},
		// ErrorCode is required, an integer (docs/protocol.md §3.1): a null
		// one, as a missing one, decoded as 0, an allow, where the gateway
		// refuses a destination's null code as no code.
		{"ErrorCode null", `{"ActionStatus":"OK","ErrorCode":null,"ErrorInfo":""}`, "its ErrorCode is null, not an integer"},
		{"ErrorCode null on a FAIL", `{"ActionStatus":"FAIL","ErrorCode":null,"ErrorInfo":"x"}`, "its ErrorCode is null, not an integer"},
		{"no ErrorCode", `{"ActionStatus":"OK","ErrorInfo":""}`, "it has no ErrorCode"},
		{"ErrorCode a fraction", `{"ActionStatus":"OK","ErrorCode":1.5}`, "ErrorCode of type int"},
		{"ErrorCode a boolean", `{"ActionStatus":"OK","ErrorCode":false}`, "ErrorCode of type int"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &imsend.Sender{URL: "http://im.example/cb", AppID: "1400000000",
				Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, tt.body) })}
			res, err := s.Send(context.Background(), "C2C.CallbackBeforeSendMsg", []byte(`{}`))
			if res == nil || res.Status != http.StatusOK || string(res.Body) != tt.body {
				t.Fatalf("Result = %s, want the answer", describe(res))
			}
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want one saying %q", err, tt.wantErr)
			}
			// Returned with its error, the Result says nothing IM would
			// act on: no OK, so no allow, deny or drop either.
			if _, denied := res.Denied(); res.OK() || res.Allowed() || res.Dropped() || denied {
				t.Fatalf("the Result of an answer that is no envelope reads as OK: %+v", res.Envelope)
			}
		})
	}
}

// TestLoadEndedByContext: the requests in flight when ctx ends a run are
// cut off by the caller (Ctrl-C, a run for a duration), not failed by the
// endpoint: they are Interrupted, not Failures, Requests or a status, and
// FirstError does not say "context canceled" of an endpoint that answered
// every request it was given time for.
func TestLoadEndedByContext(t *testing.T) {
	for _, concurrency := range []int{1, 3} {
		t.Run(fmt.Sprintf("concurrency %d", concurrency), func(t *testing.T) {
			const answered = 5
			var n atomic.Int64
			held := make(chan struct{}, concurrency)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				io.Copy(io.Discard, r.Body)
				if n.Add(1) > answered { // held until the run's end cuts it off
					held <- struct{}{}
					<-r.Context().Done()
					return
				}
				io.WriteString(w, okAnswer)
			}))
			t.Cleanup(srv.Close)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go func() { // every client waits on a held request: end the run
				for range concurrency {
					<-held
				}
				cancel()
			}()
			rep := runCtx(t, ctx, &imsend.Sender{URL: srv.URL}, imsend.Load{
				Command: "C2C.CallbackAfterSendMsg", Requests: math.MaxInt, Concurrency: concurrency,
				Body: func(int) []byte { return []byte(`{}`) },
			})
			if rep.Requests != answered || rep.Failures != 0 || rep.Statuses[http.StatusOK] != answered ||
				rep.Statuses[-1] != 0 || rep.FirstError != "" || rep.Interrupted != concurrency {
				t.Fatalf("report %v (statuses %v, first error %q); want %d answered, no failure, %d interrupted",
					rep, rep.Statuses, rep.FirstError, answered, concurrency)
			}
		})
	}
}

// TestInMemoryHandlerPanic: a Handler that panics makes Send return an
// error, as a panic in a server's handler is recovered by net/http and
// fails the round trip, instead of ending the test binary from the
// goroutine the handler runs on.
func TestInMemoryHandlerPanic(t *testing.T) {
	for name, h := range map[string]http.HandlerFunc{
		"a value":    func(http.ResponseWriter, *http.Request) { panic("boom") },
		"nil":        func(http.ResponseWriter, *http.Request) { panic(nil) },
		"aborted":    func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) },
		"after body": func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, okAnswer); panic("late") },
	} {
		t.Run(name, func(t *testing.T) {
			s := &imsend.Sender{URL: "http://in-memory/im/callback", AppID: "1400000000", Handler: h}
			res, err := s.Send(context.Background(), "C2C.CallbackAfterSendMsg", []byte(`{}`))
			if err == nil || res != nil || !strings.Contains(err.Error(), "panicked") {
				t.Fatalf("Send = %s, %v; want an error saying the handler panicked", describe(res), err)
			}
		})
	}
}

// panicsHere is a Handler that panics, named so that its stack can be told.
func panicsHere(http.ResponseWriter, *http.Request) { panic("boom") }

// TestInMemoryHandlerPanicSaysWhere: the error of a Handler's panic
// carries the panic's stack, as net/http logs it over HTTP (and as the
// crash printed it before): "panicked: boom" alone does not say where.
func TestInMemoryHandlerPanicSaysWhere(t *testing.T) {
	s := &imsend.Sender{URL: "http://in-memory/im/callback", AppID: "1400000000", Handler: http.HandlerFunc(panicsHere)}
	_, err := s.Send(context.Background(), "C2C.CallbackAfterSendMsg", []byte(`{}`))
	if err == nil || !strings.Contains(err.Error(), "boom") || !strings.Contains(err.Error(), "imsend_test.panicsHere") {
		t.Fatalf("err = %v; want the panic's value and its stack, naming the function that panicked", err)
	}
}

// TestWithPeerOverHTTPIsRefused: WithPeer sets the peer of an in-memory
// request only; over HTTP the peer is the connection's own address, so a
// Send with it was sent from 127.0.0.1 all the same, and a test of the
// source allowlist passed or failed on an address it did not mean. Send
// refuses it before sending, and keeps it in memory.
func TestWithPeerOverHTTPIsRefused(t *testing.T) {
	srv, n := counted(t)
	var peer string
	inMemory := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		peer = r.RemoteAddr
		io.WriteString(w, okAnswer)
	})
	for _, tt := range []struct {
		name    string
		sender  *imsend.Sender
		wantErr string
	}{
		{"over HTTP", &imsend.Sender{URL: srv.URL + "/im/callback", AppID: "1"}, "WithPeer sets the peer of an in-memory request only"},
		{"in memory", &imsend.Sender{URL: "http://in-memory/im/callback", AppID: "1", Handler: inMemory}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res, err := tt.sender.Send(context.Background(), "C2C.CallbackAfterSendMsg", []byte(`{}`), imsend.WithPeer("203.0.113.9:1"))
			if tt.wantErr == "" {
				if err != nil || !res.OK() || peer != "203.0.113.9:1" {
					t.Fatalf("in memory with WithPeer: %v, %+v, peer %q", err, res, peer)
				}
				return
			}
			if err == nil || res != nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Send with WithPeer: %+v, %v; want it refused saying %q", res, err, tt.wantErr)
			}
		})
	}
	if got := n.Load(); got != 0 {
		t.Fatalf("%d requests reached the server, want none", got)
	}
}

// TestSampleOfAnUnknownCommandSaysWhatToUse: a command without a sample
// (misspelt, or in another case than the catalogue's) is an error that
// names the catalogue's spelling when there is one, and where the
// commands with a sample are listed.
func TestSampleOfAnUnknownCommandSaysWhatToUse(t *testing.T) {
	for _, tt := range []struct{ command, want string }{
		{"c2c.callbackBeforeSendMsg", `imsend: no sample for "c2c.callbackBeforeSendMsg": did you mean C2C.CallbackBeforeSendMsg?`},
		{" C2C.CallbackBeforeSendMsg", `imsend: no sample for " C2C.CallbackBeforeSendMsg": did you mean C2C.CallbackBeforeSendMsg?`},
		{"X.CallbackBeforeY", `imsend: no sample for "X.CallbackBeforeY": imsend.Commands lists the commands that have one (docs/commands.md)`},
	} {
		for name, sample := range map[string]func() error{
			"Sample":     func() error { _, err := imsend.Sample(tt.command); return err },
			"SampleWith": func() error { _, err := imsend.SampleWith(tt.command, nil); return err },
		} {
			if err := sample(); err == nil || err.Error() != tt.want {
				t.Errorf("%s(%q): %v, want %q", name, tt.command, err, tt.want)
			}
		}
	}
}

// TestSampleWithKeepsTheCharactersAsIMSendsThem: SampleWith writes '<',
// '>' and '&' as they are, in the fields it replaces and in those of the
// sample it keeps, as IM and Sample do. Before, they came out escaped
// (\u0026), so a handler or a gateway destination reading the raw body
// (a substring check, a signature over the bytes) was tested on bytes IM
// never sends, and the sample's own "Hiking & biking club" changed
// whatever field was replaced.
func TestSampleWithKeepsTheCharactersAsIMSendsThem(t *testing.T) {
	const command = "Group.CallbackAfterGroupInfoChanged" // its sample's Name holds a '&'
	sample, err := imsend.Sample(command)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(sample), "Hiking & biking club") {
		t.Fatalf("the sample of %s no longer holds a '&': pick another\n%s", command, sample)
	}
	for _, tt := range []struct {
		name   string
		fields map[string]any
		want   []string
	}{
		{"nothing replaced", map[string]any{}, []string{`"Hiking & biking club"`}},
		{"another field replaced", map[string]any{"GroupId": "@TGS#<1>"}, []string{`"Hiking & biking club"`, `"@TGS#<1>"`}},
		{"the field replaced", map[string]any{"Name": "a <b> & c"}, []string{`"a <b> & c"`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			body, err := imsend.SampleWith(command, tt.fields)
			if err != nil {
				t.Fatal(err)
			}
			for _, want := range tt.want {
				if !strings.Contains(string(body), want) {
					t.Errorf("SampleWith(%s, %v) lacks %s:\n%s", command, tt.fields, want, body)
				}
			}
			if strings.HasSuffix(string(body), "\n") {
				t.Errorf("SampleWith's body ends with a newline: %q", body)
			}
		})
	}
}

// TestSampleWithRefusesAFieldSpeltInAnotherCase: a field given in
// another case than the sample's (GroupID for GroupId) is an error naming
// the sample's spelling. Before, SampleWith added it beside the sample's
// own, so the body carried both, the payload read one of them (the
// sample's, for GroupID), and a test's value was silently not the one its
// handler saw. Removing the sample's spelling (nil) sends the other alone,
// as the alternative spellings some commands accept need.
func TestSampleWithRefusesAFieldSpeltInAnotherCase(t *testing.T) {
	const command = "Group.CallbackAfterSendMsg"
	_, err := imsend.SampleWith(command, map[string]any{"GroupID": "@TGS#mine"})
	if err == nil || !strings.Contains(err.Error(), `"GroupID"`) || !strings.Contains(err.Error(), `"GroupId"`) {
		t.Fatalf("SampleWith(%s, GroupID): %v, want an error naming the sample's GroupId", command, err)
	}
	for _, fields := range []map[string]any{
		{"GroupID": "@TGS#mine", "GroupId": nil},         // the other spelling alone
		{"GroupID": "@TGS#mine", "GroupId": "@TGS#both"}, // both, as the test says
	} {
		body, err := imsend.SampleWith(command, fields)
		if err != nil || !strings.Contains(string(body), `"GroupID":"@TGS#mine"`) {
			t.Fatalf("SampleWith(%s, %v): %v\n%s", command, fields, err, body)
		}
	}
}

// TestBatchBodyKeepsTheEventsCharacters: BatchBody writes each event's
// '<', '>' and '&' as given, as IM sends them. Before, json.Marshal
// rewrote them (\u0026), so a batched callback carried bytes other than
// the events given.
func TestBatchBodyKeepsTheEventsCharacters(t *testing.T) {
	body, err := imsend.BatchBody(json.RawMessage(`{"Text":"a <b> & c"}`), json.RawMessage(`{"Text":"d"}`))
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"Events":[{"Text":"a <b> & c"},{"Text":"d"}]}`; string(body) != want {
		t.Fatalf("BatchBody = %s, want %s", body, want)
	}
	if _, err := imsend.BatchBody(json.RawMessage(`{"Text":`)); err == nil {
		t.Fatal("an event that is not JSON was put into a batch")
	}
}

// TestLoadRateCountsTheAnsweredRequests: LoadReport.RPS is the rate of
// the requests that got an answer, as send's summary gives it: a request
// without one (a refused connection, which fails at once) has no latency
// and, counted, made a run against a listener that is down report a rate
// higher than any service's.
func TestLoadRateCountsTheAnsweredRequests(t *testing.T) {
	down := imtest.FreeAddr(t) // nothing listens: every connection is refused
	rep := run(t, &imsend.Sender{URL: "http://" + down + "/im/callback"}, imsend.Load{
		Command: "C2C.CallbackAfterSendMsg", Requests: 20, Concurrency: 2,
		Body: func(int) []byte { return []byte(`{}`) },
	})
	if rep.Requests != 20 || rep.Statuses[-1] != 20 || rep.RPS != 0 {
		t.Fatalf("a run against a listener that is down: %+v, want 20 requests without an answer and a rate of 0", rep)
	}
	srv, _ := counted(t)
	if rep := run(t, &imsend.Sender{URL: srv.URL}, imsend.Load{
		Command: "C2C.CallbackAfterSendMsg", Requests: 20, Concurrency: 2,
		Body: func(int) []byte { return []byte(`{}`) },
	}); rep.Requests != 20 || rep.RPS <= 0 {
		t.Fatalf("a run answered: %+v, want a rate", rep)
	}
}

// TestInMemoryAnswersWithTheHeadersSent: a header the handler sets after
// it wrote its answer (a middleware that sets one after its next returned)
// is never sent over HTTP, so an in-memory Result must not show it either:
// a test in memory would pass on a header no client receives.
func TestInMemoryAnswersWithTheHeadersSent(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Before", "1")
		io.WriteString(w, okAnswer)
		w.Header().Set("X-After", "1")
		w.Header().Del("X-Before")
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	for _, tt := range []struct {
		name string
		s    *imsend.Sender
	}{
		{"over HTTP", &imsend.Sender{URL: srv.URL + "/im/callback", AppID: "1"}},
		{"in memory", &imsend.Sender{URL: "http://in-memory/im/callback", AppID: "1", Handler: h}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			res, err := tt.s.Send(context.Background(), "C2C.CallbackAfterSendMsg", []byte(`{}`))
			if err != nil {
				t.Fatal(err)
			}
			if got := res.Header.Get("X-Before"); got != "1" {
				t.Errorf("X-Before, set before the answer was written, = %q, want 1", got)
			}
			if got := res.Header.Get("X-After"); got != "" {
				t.Errorf("X-After, set after the answer was written, = %q: no client receives it", got)
			}
		})
	}
}

// TestReplyFieldErrorsNameTheField: a test reading several reply fields
// learns from ReplyField's error which one failed and what the answer
// held instead: a missing field's error lists the reply fields there
// are, and a field that does not decode into v names it, quoting it.
func TestReplyFieldErrorsNameTheField(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","CloudCustomData":"checked","MsgBody":[]}`)
	})
	s := imsend.Sender{URL: "http://im.example/cb", Handler: h}
	res, err := s.Send(context.Background(), "C2C.CallbackBeforeSendMsg", []byte(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		field string
		into  any
		want  []string // in the error
	}{
		{"GroupId", new(string), []string{"GroupId", "CloudCustomData, MsgBody"}},
		{"CloudCustomData", new(int), []string{"CloudCustomData", `"checked"`, "int"}},
	}
	for _, tt := range tests {
		t.Run(tt.field, func(t *testing.T) {
			err := res.ReplyField(tt.field, tt.into)
			if err == nil {
				t.Fatalf("ReplyField(%s) = nil, want an error", tt.field)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("ReplyField(%s)'s error %q does not say %s", tt.field, err, w)
				}
			}
		})
	}
}

// TestErrorCode2DropsOnlyOnMessageCommands: ErrorCode 2 is a silent drop
// on the message commands alone (docs/protocol.md §3.2); on a
// before-command without one it is a deny, as the service itself sends a
// drop there as a plain deny, and on an after-command nothing IM drops
// (nor denies: TestAnAfterCommandsErrorCodeIsNoDeny).
func TestErrorCode2DropsOnlyOnMessageCommands(t *testing.T) {
	tests := []struct {
		command     string
		wantDropped bool
	}{
		{"C2C.CallbackBeforeSendMsg", true},
		{"Group.CallbackBeforeSendMsg", true},
		{"OfficialAccount.CallbackBeforeSendMsg", true},
		{"Group.CallbackBeforeCreateGroup", false},
		{"Sns.CallbackPrevFriendAdd", false},
		{"X.CallbackBeforeOfMyOwn", false}, // a command the catalogue lacks takes no drop
	}
	for _, tt := range tests {
		t.Run(tt.command, func(t *testing.T) {
			s := &imsend.Sender{URL: "http://im.example/cb", AppID: "1400000000",
				Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
					io.WriteString(w, `{"ActionStatus":"OK","ErrorCode":2,"ErrorInfo":""}`)
				})}
			res, err := s.Send(context.Background(), tt.command, []byte(`{}`))
			if err != nil {
				t.Fatal(err)
			}
			if res.Command != tt.command {
				t.Errorf("Command = %q, want %q", res.Command, tt.command)
			}
			code, denied := res.Denied()
			if res.Dropped() != tt.wantDropped || denied == tt.wantDropped || res.Allowed() {
				t.Fatalf("Dropped() = %v, Denied() = %d, %v, Allowed() = %v; want dropped %v, else denied with 2",
					res.Dropped(), code, denied, res.Allowed(), tt.wantDropped)
			}
			if denied && code != 2 {
				t.Fatalf("Denied() code = %d, want 2", code)
			}
		})
	}
}

// TestAnAfterCommandsErrorCodeIsNoDeny: IM ignores an after-callback's
// answer, so a non-zero ErrorCode there (a handler's error, a deny or a
// drop answered for it) denies nothing: Denied read it as a deny, as it
// reads a before-command's, and a caller acting on Denied (a test that
// expected a deny to refuse an action) took it for a refusal IM never
// makes. Denied is false for it, and IgnoredError reports the code; a
// before-command's, and an unknown command's, non-zero code is still a
// deny and no ignored error.
func TestAnAfterCommandsErrorCodeIsNoDeny(t *testing.T) {
	tests := []struct {
		command     string
		code        int
		wantDenied  bool
		wantIgnored bool
	}{
		{"Group.CallbackAfterCreateTopic", 1, false, true},
		{"Group.CallbackAfterCreateTopic", 120001, false, true},
		{"Group.CallbackAfterSendMsg", 2, false, true},
		{"Group.CallbackAfterCreateTopic", 0, false, false},
		{"Group.CallbackBeforeCreateTopic", 1, true, false},
		{"C2C.CallbackBeforeSendMsg", 120001, true, false},
		{"X.CallbackBeforeY", 1, true, false}, // the catalogue lacks it: its code may deny
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%d", tt.command, tt.code), func(t *testing.T) {
			s := &imsend.Sender{URL: "http://im.example/cb", AppID: "1400000000",
				Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
					fmt.Fprintf(w, `{"ActionStatus":"OK","ErrorCode":%d,"ErrorInfo":"db down"}`, tt.code)
				})}
			res, err := s.Send(context.Background(), tt.command, []byte(`{}`))
			if err != nil {
				t.Fatal(err)
			}
			code, denied := res.Denied()
			if denied != tt.wantDenied || denied && code != tt.code {
				t.Errorf("Denied() = %d, %v; want denied %v", code, denied, tt.wantDenied)
			}
			code, ignored := res.IgnoredError()
			if ignored != tt.wantIgnored || ignored && code != tt.code || !ignored && code != 0 {
				t.Errorf("IgnoredError() = %d, %v; want ignored %v with code %d", code, ignored, tt.wantIgnored, tt.code)
			}
			if res.Dropped() {
				t.Errorf("Dropped() = true, want false")
			}
		})
	}
}
