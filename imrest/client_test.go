package imrest_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/imcallback/imcallback/imrest"
	"github.com/imcallback/imcallback/imtest"
)

// clock is a settable Config.Now shared by the client and the test server.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// request is what the test server saw.
type request struct {
	method, path, contentType string
	query                     url.Values
	body                      string
}

// server is an httptest server answering with answer and recording requests.
type server struct {
	*httptest.Server
	mu       sync.Mutex
	requests []request
}

func (s *server) seen() []request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

func newServer(t *testing.T, answer http.HandlerFunc) *server {
	t.Helper()
	s := &server{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.requests = append(s.requests, request{r.Method, r.URL.Path, r.Header.Get("Content-Type"), r.URL.Query(), string(body)})
		s.mu.Unlock()
		answer(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

// answerJSON answers every request with status and body.
func answerJSON(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		io.WriteString(w, body)
	}
}

const okAnswer = `{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}`

func newClient(t *testing.T, baseURL string, now func() time.Time) *imrest.Client {
	t.Helper()
	c, err := imrest.New(imrest.Config{
		SdkAppID:  strconv.Itoa(testAppID),
		SecretKey: testKey,
		BaseURL:   baseURL,
		SigTTL:    time.Hour,
		Now:       now,
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestNewValidatesConfig(t *testing.T) {
	valid := imrest.Config{SdkAppID: "1400000000", SecretKey: testKey}
	tests := []struct {
		name   string
		change func(*imrest.Config)
		ok     bool
	}{
		{"defaults", func(*imrest.Config) {}, true},
		{"regional base URL with slash", func(c *imrest.Config) { c.BaseURL = "https://adminapisgp.im.qcloud.com/" }, true},
		{"plain http", func(c *imrest.Config) { c.BaseURL = "http://127.0.0.1:8080" }, true},
		{"empty SdkAppID", func(c *imrest.Config) { c.SdkAppID = "" }, false},
		{"SdkAppID not digits", func(c *imrest.Config) { c.SdkAppID = "14000000a0" }, false},
		{"SdkAppID signed", func(c *imrest.Config) { c.SdkAppID = "+1400000000" }, false},
		{"SdkAppID zero", func(c *imrest.Config) { c.SdkAppID = "0" }, false},
		{"SdkAppID with space", func(c *imrest.Config) { c.SdkAppID = " 1400000000" }, false},
		// IM writes none: the query's sdkappid would not be the UserSig's, nor
		// Clients.For's key an event's SdkAppid.
		{"SdkAppID with a leading zero", func(c *imrest.Config) { c.SdkAppID = "01400000000" }, false},
		{"empty secret", func(c *imrest.Config) { c.SecretKey = "" }, false},
		{"base URL without scheme", func(c *imrest.Config) { c.BaseURL = "console.tim.qq.com" }, false},
		{"base URL ftp", func(c *imrest.Config) { c.BaseURL = "ftp://console.tim.qq.com" }, false},
		{"base URL without host", func(c *imrest.Config) { c.BaseURL = "https://" }, false},
		{"base URL with query", func(c *imrest.Config) { c.BaseURL = "https://console.tim.qq.com?a=b" }, false},
		// The API path and its query would be appended after the '?' or
		// the '#': the path sent as the query, or nothing after the host.
		{"base URL with an empty query", func(c *imrest.Config) { c.BaseURL = "https://console.tim.qq.com?" }, false},
		{"base URL with an empty fragment", func(c *imrest.Config) { c.BaseURL = "https://console.tim.qq.com/#" }, false},
		{"base URL with credentials", func(c *imrest.Config) { c.BaseURL = "https://u:p@console.tim.qq.com" }, false},
		{"base URL unparsable", func(c *imrest.Config) { c.BaseURL = "https://%zz" }, false},
		{"base URL with a space in its path", func(c *imrest.Config) { c.BaseURL = "https://console.tim.qq.com/v4 " }, false},
		{"base URL with a space inside its path", func(c *imrest.Config) { c.BaseURL = "https://console.tim.qq.com/a b" }, false},
		{"SigTTL under a second", func(c *imrest.Config) { c.SigTTL = time.Millisecond }, false},
		{"SigTTL negative", func(c *imrest.Config) { c.SigTTL = -time.Hour }, false},
		// No usersig can be made for it (GenUserSig): refused at once, not at every Call.
		{"AdminIdentifier with a newline", func(c *imrest.Config) { c.AdminIdentifier = "admin\nistrator" }, false},
		{"AdminIdentifier not UTF-8", func(c *imrest.Config) { c.AdminIdentifier = "admin\xff" }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := valid
			tt.change(&cfg)
			c, err := imrest.New(cfg)
			switch {
			case tt.ok && err != nil:
				t.Fatalf("New: %v", err)
			case !tt.ok && !errors.Is(err, imrest.ErrInvalidArgument):
				t.Fatalf("New = %v, %v; want ErrInvalidArgument", c, err)
			case err != nil && strings.Contains(err.Error(), testKey):
				t.Fatalf("error %q contains the key", err)
			}
		})
	}

	c, err := imrest.New(valid)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := c.String(), "imrest.Client{SdkAppID:1400000000 AdminIdentifier:administrator BaseURL:https://console.tim.qq.com}"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
	if c.SdkAppID() != "1400000000" {
		t.Errorf("SdkAppID = %q", c.SdkAppID())
	}
}

func TestCallSendsRequest(t *testing.T) {
	clk := &clock{t: testNow}
	srv := newServer(t, answerJSON(http.StatusOK, `{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","MsgTime":1700000000,"MsgKey":"k1"}`))
	c := newClient(t, srv.URL+"/", clk.Now)

	var resp struct {
		MsgTime int64
		MsgKey  string
	}
	req := map[string]any{"To_Account": "u1", "MsgRandom": 7}
	if err := c.Call(context.Background(), "v4/openim/sendmsg", req, &resp, imrest.WithQuery("extra", "a b&c")); err != nil {
		t.Fatal(err)
	}
	if resp.MsgTime != 1700000000 || resp.MsgKey != "k1" {
		t.Errorf("decoded answer = %+v", resp)
	}

	got := srv.seen()
	if len(got) != 1 {
		t.Fatalf("%d requests, want 1", len(got))
	}
	r := got[0]
	if r.method != http.MethodPost || r.path != "/v4/openim/sendmsg" || r.contentType != "application/json" {
		t.Errorf("request %s %s (%s), want POST /v4/openim/sendmsg (application/json)", r.method, r.path, r.contentType)
	}
	if r.body != `{"MsgRandom":7,"To_Account":"u1"}` {
		t.Errorf("body = %s", r.body)
	}
	keys := slices.Sorted(maps.Keys(r.query))
	if want := []string{"contenttype", "extra", "identifier", "random", "sdkappid", "usersig"}; !slices.Equal(keys, want) {
		t.Errorf("query keys = %v, want %v", keys, want)
	}
	for k, want := range map[string]string{"sdkappid": "1400000000", "identifier": "administrator", "contenttype": "json", "extra": "a b&c"} {
		if v := r.query[k]; len(v) != 1 || v[0] != want {
			t.Errorf("query %s = %q, want %q", k, v, want)
		}
	}
	if _, err := strconv.ParseUint(r.query.Get("random"), 10, 32); err != nil {
		t.Errorf("random %q is not a uint32: %v", r.query.Get("random"), err)
	}
	if err := imrest.VerifyUserSig(testAppID, testKey, testAdmin, r.query.Get("usersig"), clk.Now()); err != nil {
		t.Errorf("usersig does not verify: %v", err)
	}
	if doc := decodeDoc(t, r.query.Get("usersig")); doc["TLS.expire"] != json.Number("3600") {
		t.Errorf("usersig TLS.expire = %v, want SigTTL 3600", doc["TLS.expire"])
	}
}

func TestCallNilRequestAndResponse(t *testing.T) {
	srv := newServer(t, answerJSON(http.StatusOK, okAnswer))
	c := newClient(t, srv.URL, nil)
	if err := c.Call(context.Background(), "/v4/im_open_login_svc/account_check", nil, nil); err != nil {
		t.Fatal(err)
	}
	if r := srv.seen()[0]; r.body != "{}" || r.path != "/v4/im_open_login_svc/account_check" {
		t.Errorf("request %s body %q, want body {}", r.path, r.body)
	}
}

// TestCallSucceedsOnEitherStatusField: an answer that reports success with
// only one of ActionStatus and ErrorCode is a success.
func TestCallSucceedsOnEitherStatusField(t *testing.T) {
	for _, answer := range []string{okAnswer, `{"ActionStatus":"OK"}`, `{"ErrorCode":0}`, `{"ActionStatus":"OK","ErrorCode":0}`} {
		srv := newServer(t, answerJSON(http.StatusOK, answer))
		c := newClient(t, srv.URL, nil)
		if err := c.Call(context.Background(), "v4/openim/sendmsg", nil, nil); err != nil {
			t.Errorf("answer %s: %v, want success", answer, err)
		}
	}
}

// TestCallRefusesAResponseItCannotFill: a resp that json.Unmarshal cannot
// decode into (not a pointer, or a nil one, or one to a value no JSON
// object decodes into, as a slice or a string) is refused before anything is
// sent: IM would carry the call out (a message sent) and Call return an
// error, which a caller retrying on error (durable delivery) would turn
// into the call made again.
func TestCallRefusesAResponseItCannotFill(t *testing.T) {
	var nilAnswer *struct{ IPList []string }
	tests := []struct {
		name string
		resp any
	}{
		{"a struct value", struct{ IPList []string }{}},
		{"a map value", map[string]any{}},
		{"a nil pointer", nilAnswer},
		// Every answer is a JSON object: these can never hold one.
		{"a pointer to a slice", &[]string{}},
		{"a pointer to a string", new(string)},
		{"a pointer to a number", new(int)},
		{"a pointer to a pointer to a slice", new(*[]string)},
		{"a pointer to a map with keys no object has", new(map[[2]int]any)},
		{"a pointer to an interface with methods", new(fmt.Stringer)},
		{"a pointer to a map keyed by numbers", new(map[int]any)}, // an answer's keys are words
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newServer(t, answerJSON(http.StatusOK, okAnswer))
			c := newClient(t, srv.URL, nil)
			err := c.Call(context.Background(), "v4/openim/sendmsg", map[string]any{"To_Account": "a"}, tc.resp)
			if !errors.Is(err, imrest.ErrInvalidArgument) {
				t.Errorf("Call with resp %T: %v, want ErrInvalidArgument", tc.resp, err)
			}
			if n := len(srv.seen()); n != 0 {
				t.Errorf("Call with resp %T sent %d requests, want none", tc.resp, n)
			}
		})
	}

	// What can hold an object is taken, and filled.
	for _, resp := range []any{
		new(struct{ ActionStatus string }), new(map[string]any), new(any),
		new(*struct{ ActionStatus string }), new(json.RawMessage), new(objectOrList),
		func() any { var s fmt.Stringer = &status{}; return &s }(), // json fills the *status it holds
	} {
		srv := newServer(t, answerJSON(http.StatusOK, okAnswer))
		c := newClient(t, srv.URL, nil)
		if err := c.Call(context.Background(), "v4/openim/sendmsg", nil, resp); err != nil {
			t.Errorf("Call with resp %T: %v", resp, err)
		}
	}
}

// status is an answer's status that prints.
type status struct{ ActionStatus string }

func (s *status) String() string { return s.ActionStatus }

// objectOrList decodes itself, from an object too.
type objectOrList []string

func (l *objectOrList) UnmarshalJSON(b []byte) error {
	*l = objectOrList{string(b)}
	return nil
}

func TestCallReservedQueryWins(t *testing.T) {
	srv := newServer(t, answerJSON(http.StatusOK, okAnswer))
	c := newClient(t, srv.URL, nil)
	err := c.Call(context.Background(), "v4/openim/sendmsg", nil, nil,
		imrest.WithQuery("identifier", "someone"), imrest.WithQuery("usersig", "forged"),
		imrest.WithQuery("Identifier", "someone"), imrest.WithQuery("SdkAppID", "1"), imrest.WithQuery("nettype", "1"))
	if err != nil {
		t.Fatal(err)
	}
	q := srv.seen()[0].query
	if q.Get("identifier") != testAdmin || q.Get("usersig") == "forged" {
		t.Errorf("an option overrode the client's own parameters: %v", q)
	}
	if _, ok := q["Identifier"]; ok {
		t.Errorf("an option added a second spelling of identifier: %v", q)
	}
	if _, ok := q["SdkAppID"]; ok {
		t.Errorf("an option added a second spelling of sdkappid: %v", q)
	}
	if q.Get("nettype") != "1" {
		t.Errorf("an option of the API's own was dropped: %v", q)
	}
}

// TestCallDoesNotFollowRedirects: IM does not redirect, and a redirect
// followed would hand the UserSig to the URL it names: in the query when
// the Location keeps it, in the Referer that net/http sets from the URL
// redirected (query included) when it does not. No client follows one,
// the program's own Config.HTTPClient (which follows redirects unless told
// otherwise) included, and that client is left as it was.
func TestCallDoesNotFollowRedirects(t *testing.T) {
	own := &http.Client{Timeout: 5 * time.Second}
	followAll := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return nil }}
	for _, tt := range []struct {
		name   string
		client *http.Client
	}{
		{"the default client", nil},
		{"a program's own client", own},
		{"a client that follows every redirect", followAll},
	} {
		for _, keepQuery := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s, query kept %v", tt.name, keepQuery), func(t *testing.T) {
				var elsewhereGot atomic.Int32
				elsewhere := newServer(t, func(w http.ResponseWriter, r *http.Request) {
					elsewhereGot.Add(1)
					answerJSON(http.StatusOK, okAnswer)(w, r)
				})
				srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
					to := elsewhere.URL + r.URL.Path
					if keepQuery {
						to = elsewhere.URL + r.URL.RequestURI()
					}
					http.Redirect(w, r, to, http.StatusTemporaryRedirect)
				})
				c, err := imrest.New(imrest.Config{SdkAppID: strconv.Itoa(testAppID), SecretKey: testKey, BaseURL: srv.URL, HTTPClient: tt.client})
				if err != nil {
					t.Fatal(err)
				}
				if err := c.Call(context.Background(), "v4/openim/sendmsg", nil, nil); !errors.Is(err, imrest.ErrHTTPStatus) {
					t.Fatalf("err = %v, want ErrHTTPStatus", err)
				}
				if n := elsewhereGot.Load(); n != 0 {
					t.Fatalf("the redirect target got %d requests, carrying the usersig: %+v", n, elsewhere.seen())
				}
			})
		}
	}
	if own.CheckRedirect != nil || own.Timeout != 5*time.Second {
		t.Error("New changed the program's own http.Client")
	}
}

func TestCallErrors(t *testing.T) {
	tests := []struct {
		name   string
		status int
		answer string
		resp   any
		want   error
	}{
		{"ErrorCode on HTTP 200", 200, `{"ActionStatus":"FAIL","ErrorCode":70107,"ErrorInfo":"account not exist"}`, nil, &imrest.APIError{Code: 70107}},
		{"ErrorCode with OK status", 200, `{"ActionStatus":"OK","ErrorCode":90001,"ErrorInfo":"bad json"}`, nil, &imrest.APIError{Code: 90001}},
		{"FAIL without code", 200, `{"ActionStatus":"FAIL"}`, nil, &imrest.APIError{Code: 0}},
		// IM spells its status OK or FAIL: another says nothing of success.
		{"ActionStatus neither OK nor FAIL", 200, `{"ActionStatus":"ERROR"}`, nil, imrest.ErrBadResponse},
		{"ActionStatus fail in lower case", 200, `{"ActionStatus":"fail","ErrorInfo":"no such group"}`, nil, imrest.ErrBadResponse},
		{"ActionStatus unknown beside ErrorCode 0", 200, `{"ActionStatus":"PENDING","ErrorCode":0}`, nil, imrest.ErrBadResponse},
		{"HTTP 500", 500, okAnswer, nil, imrest.ErrHTTPStatus},
		{"HTTP 502 without body", 502, ``, nil, imrest.ErrHTTPStatus},
		{"not JSON", 200, `<html>`, nil, imrest.ErrBadResponse},
		{"not an object", 200, `[1,2]`, nil, imrest.ErrBadResponse},
		{"empty answer", 200, ``, nil, imrest.ErrBadResponse},
		{"empty object", 200, `{}`, nil, imrest.ErrBadResponse},
		{"null", 200, `null`, nil, imrest.ErrBadResponse},
		{"another service's JSON", 200, `{"status":"ok","IPList":["1.2.3.4"]}`, &struct{ IPList []string }{}, imrest.ErrBadResponse},
		{"answer does not fit resp", 200, `{"ActionStatus":"OK","ErrorCode":0,"IPList":"x"}`, &struct{ IPList []string }{}, imrest.ErrBadResponse},
		{"answer too large", 200, `{"Pad":"` + strings.Repeat("x", 4<<20) + `"}`, nil, imrest.ErrBadResponse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, answerJSON(tt.status, tt.answer))
			c := newClient(t, srv.URL, nil)
			err := c.Call(context.Background(), "v4/openim/sendmsg", nil, tt.resp)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}

	t.Run("APIError fields", func(t *testing.T) {
		srv := newServer(t, answerJSON(200, `{"ActionStatus":"FAIL","ErrorCode":70107,"ErrorInfo":"account not exist"}`))
		c := newClient(t, srv.URL, nil)
		err := c.Call(context.Background(), "v4/openim/sendmsg", nil, nil)
		apiErr, ok := errors.AsType[*imrest.APIError](err)
		if !ok {
			t.Fatalf("err = %v, want *APIError", err)
		}
		if *apiErr != (imrest.APIError{API: "v4/openim/sendmsg", Code: 70107, Info: "account not exist"}) {
			t.Errorf("APIError = %+v", *apiErr)
		}
		if got, want := err.Error(), "imrest: v4/openim/sendmsg: ErrorCode 70107: account not exist"; got != want {
			t.Errorf("Error() = %q, want %q", got, want)
		}
		if errors.Is(err, &imrest.APIError{Code: 70001}) {
			t.Error("errors.Is matched another code")
		}
	})

	t.Run("a long ErrorInfo is cut", func(t *testing.T) {
		// 2 MiB of three-byte characters, offset by one byte so that the
		// cut falls inside one.
		long := "x" + strings.Repeat("错", 700_000)
		srv := newServer(t, answerJSON(200, `{"ActionStatus":"FAIL","ErrorCode":70107,"ErrorInfo":"`+long+`"}`))
		c := newClient(t, srv.URL, nil)
		err := c.Call(context.Background(), "v4/openim/sendmsg", nil, nil)
		apiErr, ok := errors.AsType[*imrest.APIError](err)
		if !ok {
			t.Fatalf("err = %v, want *APIError", err)
		}
		suffix := fmt.Sprintf("… (%d bytes in all)", len(long))
		kept, found := strings.CutSuffix(apiErr.Info, suffix)
		if !found || len(kept) > imrest.MaxInfo || !utf8.ValidString(kept) || !strings.HasPrefix(long, kept) {
			t.Fatalf("Info of %d bytes ends %q; want at most %d bytes of the answer's, whole characters, then %q",
				len(apiErr.Info), apiErr.Info[max(0, len(apiErr.Info)-40):], imrest.MaxInfo, suffix)
		}
	})

	t.Run("bad API name", func(t *testing.T) {
		c := newClient(t, "http://127.0.0.1:1", nil)
		for _, api := range []string{"", "/", "v4/x?y=1", "v4/x#y"} {
			if err := c.Call(context.Background(), api, nil, nil); !errors.Is(err, imrest.ErrInvalidArgument) {
				t.Errorf("Call(%q) = %v, want ErrInvalidArgument", api, err)
			}
		}
	})
}

// echo answers with everything the client sent, in every field an error
// message could quote.
func echo(status int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		info, _ := json.Marshal(r.URL.String() + " " + r.URL.Query().Get("usersig") + " " + testKey)
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"ActionStatus":"FAIL","ErrorCode":70001,"ErrorInfo":%s}`, info)
	}
}

func TestErrorsNeverCarrySecrets(t *testing.T) {
	closed := "http://" + imtest.FreeAddr(t) // nothing listens there
	tests := []struct {
		name    string
		handler http.HandlerFunc // nil: transport failure
	}{
		{"transport failure", nil},
		{"HTTP 500 echoing the request", echo(500)},
		{"ErrorCode echoing the request", echo(200)},
		{"bad JSON", answerJSON(200, `{"ErrorInfo":`)},
		{"HTTP status line echoing the request", func(w http.ResponseWriter, r *http.Request) {
			// The reason phrase is the server's: a proxy may put anything there.
			conn, buf, err := http.NewResponseController(w).Hijack()
			if err != nil {
				panic(err)
			}
			defer conn.Close()
			fmt.Fprintf(buf, "HTTP/1.1 502 %s %s %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
				r.URL.String(), r.URL.Query().Get("usersig"), testKey)
			buf.Flush()
		}},
		{"request line echoed as the status line", func(w http.ResponseWriter, r *http.Request) {
			// Not HTTP at all (an echo service at api_base): the transport's
			// error quotes the malformed status line, UserSig included.
			conn, buf, err := http.NewResponseController(w).Hijack()
			if err != nil {
				panic(err)
			}
			defer conn.Close()
			fmt.Fprintf(buf, "%s %s %s\r\n\r\n", r.Method, r.RequestURI, r.Proto)
			buf.Flush()
		}},
		{"status line quoting the UserSig", func(w http.ResponseWriter, r *http.Request) {
			conn, buf, err := http.NewResponseController(w).Hijack()
			if err != nil {
				panic(err)
			}
			defer conn.Close()
			fmt.Fprintf(buf, "HTTP/1.1 %s\r\n\r\n", r.URL.Query().Get("usersig"))
			buf.Flush()
		}},
		{"redirect loop", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, r.URL.String(), http.StatusTemporaryRedirect)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base := closed
			if tt.handler != nil {
				base = newServer(t, tt.handler).URL
			}
			c := newClient(t, base, func() time.Time { return testNow })
			err := c.Call(context.Background(), "v4/openim/sendmsg", map[string]string{"k": "v"}, nil)
			if err == nil {
				t.Fatal("Call succeeded")
			}
			sig, _ := imrest.GenUserSig(testAppID, testKey, testAdmin, time.Hour, testNow)
			msg := err.Error()
			for _, secret := range []string{testKey, sig, url.QueryEscape(sig)} {
				if strings.Contains(msg, secret) {
					t.Fatalf("error %q contains %q", msg, secret)
				}
			}
		})
	}
}

// TestNewErrorHidesBaseURLCredentials: a BaseURL is refused for carrying
// credentials, a query or a fragment (where a gateway's key goes), and the
// error, which ends up in a log, must not repeat them; it still shows the
// host, and quotes a URL with nothing of the kind whole.
func TestNewErrorHidesBaseURLCredentials(t *testing.T) {
	for _, raw := range []string{
		"https://admin:hunter2@console.tim.qq.com",
		"https://hunter2@console.tim.qq.com",
		"https://console.tim.qq.com/v?key=hunter2",
		"https://console.tim.qq.com#hunter2",
		"https://admin:hunter2@%zz",
		"admin:hunter2@console.tim.qq.com",
	} {
		_, err := imrest.New(imrest.Config{SdkAppID: "1400000000", SecretKey: testKey, BaseURL: raw})
		if !errors.Is(err, imrest.ErrInvalidArgument) {
			t.Fatalf("BaseURL %s: err = %v, want ErrInvalidArgument", raw, err)
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("BaseURL %s: error %q repeats its credential", raw, err)
		}
		if strings.HasPrefix(raw, "https://") && !strings.Contains(raw, "%zz") && !strings.Contains(err.Error(), "console.tim.qq.com") {
			t.Errorf("BaseURL %s: error %q does not show the host", raw, err)
		}
	}
	_, err := imrest.New(imrest.Config{SdkAppID: "1400000000", SecretKey: testKey, BaseURL: "ftp://console.tim.qq.com/x"})
	if err == nil || !strings.Contains(err.Error(), `"ftp://console.tim.qq.com/x"`) {
		t.Errorf("a BaseURL without credentials is not quoted whole: %v", err)
	}
}

func TestSecretNeverPrints(t *testing.T) {
	cfg := imrest.Config{SdkAppID: "1400000000", SecretKey: testKey, AdminIdentifier: "admin"}
	c, err := imrest.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	js, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	printed := map[string]string{
		"json": string(js),
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d", "%10.3s"} {
		printed["cfg "+verb] = fmt.Sprintf(verb, cfg)
		printed["&cfg "+verb] = fmt.Sprintf(verb, &cfg)
		printed["key "+verb] = fmt.Sprintf(verb, cfg.SecretKey)
		printed["client "+verb] = fmt.Sprintf(verb, c)
		// A Client value, and one held in a program's own struct, where
		// Format is not called and fmt prints the fields: a verb fmt has
		// no use for on a pointer field printed what it points to.
		printed["client value "+verb] = fmt.Sprintf(verb, *c)
		printed["held, exported "+verb] = fmt.Sprintf(verb, struct{ REST imrest.Client }{*c})
		printed["held, unexported "+verb] = fmt.Sprintf(verb, struct{ rest imrest.Client }{*c})
		printed["held by pointer, unexported "+verb] = fmt.Sprintf(verb, struct{ rest *imrest.Client }{c})
	}
	for name, s := range printed {
		if strings.Contains(s, testKey) || strings.Contains(s, fmt.Sprintf("%x", testKey)) {
			t.Errorf("%s prints the key: %s", name, s)
		}
	}
	if got := fmt.Sprintf("%+v", cfg.SecretKey); got != "[redacted]" {
		t.Errorf("%%+v of the key = %q", got)
	}
	if !strings.Contains(string(js), `"SecretKey":"[redacted]"`) {
		t.Errorf("json = %s", js)
	}
	if got := fmt.Sprint(imrest.Secret("")); got != "" {
		t.Errorf("empty secret prints %q", got)
	}

	// Decoding still takes the value, so a Config can be loaded from JSON.
	var back imrest.Config
	if err := json.Unmarshal([]byte(`{"SecretKey":"k"}`), &back); err != nil || string(back.SecretKey) != "k" {
		t.Errorf("unmarshal = %q, %v", string(back.SecretKey), err)
	}
}

func TestUserSigCache(t *testing.T) {
	clk := &clock{t: testNow}
	srv := newServer(t, answerJSON(http.StatusOK, okAnswer))
	c := newClient(t, srv.URL, clk.Now) // SigTTL 1h: renewed once less than 6m remain

	call := func() string {
		t.Helper()
		if err := c.Call(context.Background(), "v4/openim/sendmsg", nil, nil); err != nil {
			t.Fatal(err)
		}
		got := srv.seen()
		return got[len(got)-1].query.Get("usersig")
	}
	first := call()
	if again := call(); again != first {
		t.Fatal("second call made a new usersig")
	}
	clk.Add(54 * time.Minute) // exactly 6m remain
	if again := call(); again != first {
		t.Fatal("usersig renewed before less than a tenth of SigTTL remained")
	}
	clk.Add(time.Second)
	renewed := call()
	if renewed == first {
		t.Fatal("usersig not renewed past the refresh point")
	}
	if err := imrest.VerifyUserSig(testAppID, testKey, testAdmin, renewed, clk.Now().Add(59*time.Minute)); err != nil {
		t.Fatalf("renewed usersig: %v", err)
	}
	if again := call(); again != renewed {
		t.Fatal("renewed usersig not reused")
	}

	// Concurrent calls share one usersig (and the race detector watches the cache).
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			if err := c.Call(context.Background(), "v4/openim/sendmsg", nil, nil); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for _, r := range srv.seen()[5:] {
		if r.query.Get("usersig") != renewed {
			t.Fatal("a concurrent call made its own usersig")
		}
	}
}

func TestUserSigCacheLongTTL(t *testing.T) {
	// With the default 24h SigTTL the margin is capped at one hour.
	clk := &clock{t: testNow}
	srv := newServer(t, answerJSON(http.StatusOK, okAnswer))
	c, err := imrest.New(imrest.Config{SdkAppID: "1400000000", SecretKey: testKey, BaseURL: srv.URL, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	sigAt := func(d time.Duration) string {
		clk.Add(d)
		if err := c.Call(context.Background(), "v4/openim/sendmsg", nil, nil); err != nil {
			t.Fatal(err)
		}
		got := srv.seen()
		return got[len(got)-1].query.Get("usersig")
	}
	first := sigAt(0)
	if sigAt(23*time.Hour) != first {
		t.Fatal("renewed with an hour left")
	}
	if sigAt(time.Second) == first {
		t.Fatal("not renewed with less than an hour left")
	}
}

func TestCallContextCancellation(t *testing.T) {
	release := make(chan struct{})
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	defer close(release)
	c := newClient(t, srv.URL, nil)

	// The server holds the request until the test ends: Call returns only
	// on the cancellation (context.Canceled), or after the client's own
	// DefaultTimeout with another error, which fails the test however
	// loaded the machine, without a bound on the time it took.
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	err := c.Call(ctx, "v4/openim/sendmsg", nil, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}

	ctx, cancel = context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := c.Call(ctx, "v4/openim/sendmsg", nil, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want context.DeadlineExceeded", err)
	}

	done, cancelDone := context.WithCancel(context.Background())
	cancelDone()
	if err := c.Call(done, "v4/openim/sendmsg", nil, nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("already cancelled: err = %v, want context.Canceled", err)
	}
}

// TestCallNamesANilContext: a nil ctx is refused before anything is sent,
// with an error that names it, not one that blames the API name, which is
// what a caller would then look into.
func TestCallNamesANilContext(t *testing.T) {
	tests := []struct {
		name string
		call func(c *imrest.Client, ctx context.Context) error
	}{
		{"Call", func(c *imrest.Client, ctx context.Context) error {
			return c.Call(ctx, "v4/openim/sendmsg", nil, nil)
		}},
		{"GetIPList", func(c *imrest.Client, ctx context.Context) error {
			_, err := c.GetIPList(ctx, imrest.NetTypeCallbackChina)
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, answerJSON(http.StatusOK, okAnswer))
			c := newClient(t, srv.URL, nil)
			var ctx context.Context // nil, as a caller's unset variable is
			err := tt.call(c, ctx)
			if !errors.Is(err, imrest.ErrInvalidArgument) {
				t.Fatalf("err = %v, want ErrInvalidArgument", err)
			}
			if msg := err.Error(); !strings.Contains(msg, "nil context") || strings.Contains(msg, "does not form a URL") {
				t.Errorf("err = %q, want it to name the nil context, not the API name", msg)
			}
			if n := len(srv.seen()); n != 0 {
				t.Errorf("sent %d requests, want none", n)
			}
		})
	}
}

func TestGetIPList(t *testing.T) {
	srv := newServer(t, answerJSON(http.StatusOK, `{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","IPList":["127.0.0.2","183.192.202.0/25"]}`))
	c := newClient(t, srv.URL, nil)

	got, err := c.GetIPList(context.Background(), imrest.NetTypeCallbackChina)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"127.0.0.2", "183.192.202.0/25"}; !slices.Equal(got, want) {
		t.Errorf("IPList = %q, want %q", got, want)
	}
	r := srv.seen()[0]
	if r.method != http.MethodPost || r.path != "/v4/ConfigSvc/GetIPList" || r.body != "{}" {
		t.Errorf("request %s %s %q, want POST /v4/ConfigSvc/GetIPList {}", r.method, r.path, r.body)
	}
	if r.query.Get("nettype") != "5" || r.query.Get("contenttype") != "json" {
		t.Errorf("query = %v, want nettype=5 and contenttype=json", r.query)
	}
}

func TestGetIPListError(t *testing.T) {
	srv := newServer(t, answerJSON(http.StatusOK, `{"ActionStatus":"FAIL","ErrorCode":70001,"ErrorInfo":"usersig expired"}`))
	c := newClient(t, srv.URL, nil)
	got, err := c.GetIPList(context.Background(), imrest.NetTypeAll)
	if !errors.Is(err, &imrest.APIError{Code: 70001}) || got != nil {
		t.Fatalf("GetIPList = %v, %v; want nil and APIError 70001", got, err)
	}
}

func TestClients(t *testing.T) {
	cs, err := imrest.NewClients(imrest.Config{SdkAppID: "1400000001", SecretKey: "k1"}, imrest.Config{SdkAppID: "1400000002", SecretKey: "k2"})
	if err != nil {
		t.Fatal(err)
	}
	if c, err := cs.For("1400000002"); err != nil || c == nil {
		t.Fatalf("For(2) = %v, %v", c, err)
	}
	if _, err := cs.For("1400000003"); err == nil || !strings.Contains(err.Error(), "IMCALLBACK_APP_1400000003_SECRET_KEY") {
		t.Fatalf("For(unknown) = %v", err)
	}
	if _, err := imrest.NewClients(imrest.Config{SdkAppID: "1", SecretKey: "a"}, imrest.Config{SdkAppID: "1", SecretKey: "b"}); !errors.Is(err, imrest.ErrInvalidArgument) {
		t.Fatalf("duplicate app: %v", err)
	}
	if _, err := imrest.NewClients(imrest.Config{SdkAppID: "x", SecretKey: "very-secret"}); err == nil || strings.Contains(err.Error(), "very-secret") {
		t.Fatalf("bad app: %v", err)
	}
}

// Every usersig the client sends is valid when sent, whatever SigTTL: a
// fraction of a second in it (TLS.expire counts whole seconds) must not
// keep a usersig cached past its expiry.
func TestUserSigValidWhenSent(t *testing.T) {
	tests := []struct {
		ttl  time.Duration
		step time.Duration
	}{
		{time.Second, 100 * time.Millisecond},
		{1500 * time.Millisecond, 100 * time.Millisecond},
		{2900 * time.Millisecond, 100 * time.Millisecond},
		{9500 * time.Millisecond, 100 * time.Millisecond},
		{time.Hour + 999*time.Millisecond, 97 * time.Second},
		{24 * time.Hour, 37 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.ttl.String(), func(t *testing.T) {
			clk := &clock{t: testNow}
			srv := newServer(t, answerJSON(http.StatusOK, okAnswer))
			c, err := imrest.New(imrest.Config{SdkAppID: strconv.Itoa(testAppID), SecretKey: testKey, BaseURL: srv.URL,
				SigTTL: tt.ttl, Now: clk.Now})
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; time.Duration(i)*tt.step < 3*tt.ttl; i++ {
				if err := c.Call(context.Background(), "v4/openim/sendmsg", nil, nil); err != nil {
					t.Fatal(err)
				}
				got := srv.seen()
				if err := imrest.VerifyUserSig(testAppID, testKey, testAdmin, got[len(got)-1].query.Get("usersig"), clk.Now()); err != nil {
					t.Fatalf("at +%v the usersig sent: %v", time.Duration(i)*tt.step, err)
				}
				clk.Add(tt.step)
			}
		})
	}
}

// TestCloseIdleConnectionsLeavesOtherClientsAlone: a Client's
// CloseIdleConnections closes its own kept-alive connections to IM, not
// those of http.DefaultTransport, which the rest of the program shares.
func TestCloseIdleConnectionsLeavesOtherClientsAlone(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, `{"ActionStatus":"OK","ErrorCode":0,"IPList":[]}`)
	}))
	defer srv.Close()
	var reused []bool
	traced := httptrace.WithClientTrace(t.Context(), &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) { reused = append(reused, info.Reused) },
	})
	get := func(c *imrest.Client) {
		t.Helper()
		if c != nil {
			if _, err := c.GetIPList(traced, 5); err != nil {
				t.Fatal(err)
			}
			return
		}
		req, _ := http.NewRequestWithContext(traced, http.MethodGet, srv.URL, nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
	c, err := imrest.New(imrest.Config{SdkAppID: "1400000000", SecretKey: "k", BaseURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	get(nil) // the program's own connection, kept alive by http.DefaultTransport
	get(c)
	get(c)
	c.CloseIdleConnections()
	get(c)
	get(nil)
	if want := []bool{false, false, true, false, true}; !slices.Equal(reused, want) {
		t.Errorf("connections reused %v, want %v (the client's own closed, the program's kept)", reused, want)
	}
	http.DefaultClient.CloseIdleConnections()
}

// countingTransport is a RoundTripper that wraps another, as a program's
// instrumentation wraps http.DefaultTransport.
type countingTransport struct {
	next http.RoundTripper
	n    atomic.Int32
}

func (t *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	t.n.Add(1)
	return t.next.RoundTrip(r)
}

// TestNewWithAWrappedDefaultTransport: a program may replace
// http.DefaultTransport with a RoundTripper of its own (tracing
// instrumentation wraps it so). New without a Config.HTTPClient panicked
// then, taking it for an *http.Transport to clone; it now sends through
// the program's RoundTripper, as before it had a pool of its own.
func TestNewWithAWrappedDefaultTransport(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, `{"ActionStatus":"OK","ErrorCode":0,"IPList":[]}`)
	}))
	defer srv.Close()
	wrapped := &countingTransport{next: http.DefaultTransport}
	http.DefaultTransport = wrapped
	t.Cleanup(func() { http.DefaultTransport = wrapped.next })
	c, err := imrest.New(imrest.Config{SdkAppID: "1400000000", SecretKey: "k", BaseURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetIPList(t.Context(), 5); err != nil {
		t.Fatal(err)
	}
	if wrapped.n.Load() != 1 {
		t.Errorf("the program's RoundTripper sent %d requests, want 1", wrapped.n.Load())
	}
	c.CloseIdleConnections()
}

// TestUserSigDroppedWhenIMSaysExpired: IM answers 70001 (UserSig expired)
// to a usersig the client still holds valid, e.g. after the administrator's
// login state was invalidated (v4/im_open_login_svc/kick: every usersig
// issued before is expired, a new one works). The client drops it, and the
// next call carries a new usersig instead of the refused one until its
// renewal, up to a day later with the default SigTTL.
func TestUserSigDroppedWhenIMSaysExpired(t *testing.T) {
	clk := &clock{t: testNow}
	var refused sync.Map // usersigs issued before the kick
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if _, ok := refused.Load(r.URL.Query().Get("usersig")); ok {
			answerJSON(http.StatusOK, `{"ActionStatus":"FAIL","ErrorCode":70001,"ErrorInfo":"usersig expired"}`)(w, r)
			return
		}
		answerJSON(http.StatusOK, okAnswer)(w, r)
	})
	c := newClient(t, srv.URL, clk.Now)
	if err := c.Call(context.Background(), "v4/openim/sendmsg", nil, nil); err != nil {
		t.Fatal(err)
	}
	first := srv.seen()[0].query.Get("usersig")
	refused.Store(first, true) // the kick

	clk.Add(time.Minute)
	if err := c.Call(context.Background(), "v4/openim/sendmsg", nil, nil); !errors.Is(err, &imrest.APIError{Code: 70001}) {
		t.Fatalf("call with the refused usersig: %v, want APIError 70001", err)
	}
	clk.Add(time.Second)
	if err := c.Call(context.Background(), "v4/openim/sendmsg", nil, nil); err != nil {
		t.Fatalf("the call after IM refused the usersig: %v", err)
	}
	seen := srv.seen()
	if got := seen[len(seen)-1].query.Get("usersig"); got == first {
		t.Fatal("the usersig IM refused as expired was sent again")
	}
}

// TestClientsNeverPrintSecrets: printing the apps' clients, with any verb,
// shows neither a secret key nor a cached UserSig. fmt reports a verb it
// has no use for on a pointer (%s, %q, %x, %d of a map's *Client) by
// printing the value it points to, field by field: the key and the
// UserSig each Client keeps unexported.
func TestClientsNeverPrintSecrets(t *testing.T) {
	srv := newServer(t, answerJSON(http.StatusOK, okAnswer))
	cs, err := imrest.NewClients(
		imrest.Config{SdkAppID: "1400000002", SecretKey: testKey, BaseURL: srv.URL},
		imrest.Config{SdkAppID: "1400000001", SecretKey: "other-" + testKey, BaseURL: srv.URL},
	)
	if err != nil {
		t.Fatal(err)
	}
	c, err := cs.For("1400000002")
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Call(context.Background(), "v4/openim/sendmsg", nil, nil); err != nil {
		t.Fatal(err)
	}
	sig := srv.seen()[0].query.Get("usersig")
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d", "%10.3s"} {
		s := fmt.Sprintf(verb, cs)
		for _, secret := range []string{testKey, sig} {
			if strings.Contains(s, secret) || strings.Contains(s, fmt.Sprintf("%x", secret)) {
				t.Errorf("%s of the clients prints a secret: %s", verb, s)
			}
		}
	}
	// So does a struct of a program's own that keeps a client unexported,
	// and a slice of them, which no Format of the package's is called for.
	type bot struct {
		name   string
		client *imrest.Client
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d", "%10.3s"} {
		for _, v := range []any{bot{"echo", c}, &bot{"echo", c}, []*imrest.Client{c}, map[string]*imrest.Client{"a": c}} {
			s := fmt.Sprintf(verb, v)
			for _, secret := range []string{testKey, sig} {
				if strings.Contains(s, secret) || strings.Contains(s, fmt.Sprintf("%x", secret)) {
					t.Errorf("%s of a %T prints a secret: %s", verb, v, s)
				}
			}
		}
	}
	if got, want := cs.String(), "imrest.Clients{SdkAppIDs:[1400000001 1400000002]}"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
}

// TestFailureStatusBodyIsNotWaitedFor: a status other than 200 decides
// the call (ErrHTTPStatus), so its body is read only as far as it comes
// at once, to keep a short one's connection: a proxy's 502 whose body
// trickles, or never ends, held Call until the client's timeout or ctx,
// with no timeout and a ctx without deadline forever, for an answer it
// throws away.
func TestFailureStatusBodyIsNotWaitedFor(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if r.URL.Query().Get("nettype") == "1" { // a short body, which keeps the connection
			w.WriteHeader(http.StatusBadGateway)
			io.WriteString(w, "bad gateway")
			return
		}
		w.Header().Set("Content-Length", "1000")
		w.WriteHeader(http.StatusBadGateway)
		io.WriteString(w, "<html>")
		http.NewResponseController(w).Flush()
		select { // the rest never comes
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(release) // before srv.Close, which waits for the held request
	c, err := imrest.New(imrest.Config{SdkAppID: "1400000000", SecretKey: "k", BaseURL: srv.URL,
		HTTPClient: &http.Client{Transport: &http.Transport{}}}) // no timeout: the status alone must end the call
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseIdleConnections()
	var reused []bool
	traced := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		GotConn: func(info httptrace.GotConnInfo) { reused = append(reused, info.Reused) },
	})
	for _, netType := range []int{2, 1, 1} {
		done := make(chan error, 1)
		go func() {
			_, err := c.GetIPList(traced, netType)
			done <- err
		}()
		select {
		case err := <-done:
			if !errors.Is(err, imrest.ErrHTTPStatus) {
				t.Fatalf("nettype %d: %v, want ErrHTTPStatus", netType, err)
			}
		case <-time.After(15 * time.Second): // a hang limit, far beyond any drain
			t.Fatalf("nettype %d: the call still waits for the body of a 502", netType)
		}
	}
	if want := []bool{false, false, true}; !slices.Equal(reused, want) {
		t.Errorf("connections reused %v, want %v (the held body's closed, a short one's kept)", reused, want)
	}
}
