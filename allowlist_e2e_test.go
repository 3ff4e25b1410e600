package imcallback_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/fx"
	"go.uber.org/goleak"

	"github.com/imcallback/imcallback/allowlist"
	"github.com/imcallback/imcallback/cli"
	"github.com/imcallback/imcallback/imtest"
	"github.com/imcallback/imcallback/internal/leakwait"
	"github.com/imcallback/imcallback/protocol"
)

// fakeIM is Tencent's REST API as far as GetIPList goes: it checks each
// request and answers the current list, or fails.
type fakeIM struct {
	t       *testing.T
	mu      sync.Mutex
	list    []string
	failing bool
	calls   []string // nettype of each call
}

func (f *fakeIM) set(list []string, failing bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.list, f.failing = list, failing
}

func (f *fakeIM) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	q := r.URL.Query()
	switch {
	case r.Method != http.MethodPost || r.URL.Path != "/v4/ConfigSvc/GetIPList":
		f.t.Errorf("request %s %s", r.Method, r.URL.Path)
	case q.Get("sdkappid") != "1400000001" || q.Get("identifier") != "administrator" || q.Get("usersig") == "" ||
		q.Get("random") == "" || q.Get("contenttype") != "json" || q.Get("nettype") == "":
		f.t.Errorf("query %v", q)
	case string(bytes.TrimSpace(body)) != "{}":
		f.t.Errorf("body %q", body)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, q.Get("nettype"))
	if f.failing {
		_ = json.NewEncoder(w).Encode(map[string]any{"ActionStatus": "FAIL", "ErrorCode": 70001, "ErrorInfo": "busy"})
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"ActionStatus": "OK", "ErrorCode": 0, "IPList": f.list})
}

// TestSourceAllowlistFromTencent runs an app restricted to Tencent's
// published callback addresses against a fake of the REST API: callbacks
// from a listed address pass, others get 403; the list follows Tencent,
// keeps the last good list when a refresh fails, survives a restart from
// its file, and fails closed when nothing was ever fetched.
func TestSourceAllowlistFromTencent(t *testing.T) {
	im := &fakeIM{t: t}
	srv := httptest.NewServer(im)
	defer srv.Close()
	data := t.TempDir()
	env := []string{
		"IMCALLBACK_SDKAPPID=1400000001",
		"IMCALLBACK_TOKENS=",
		"IMCALLBACK_APP_1400000001_TOKENS=tok-app-one",
		"IMCALLBACK_APP_1400000001_SECRET_KEY=sk-app-one-secret",
		"IMCALLBACK_APP_1400000001_IPLIST=true",
		"IMCALLBACK_APP_1400000001_API_BASE=" + srv.URL,
		"IMCALLBACK_TRUSTED_PROXIES=127.0.0.1/32", // the test sends its source in X-Forwarded-For
		"IMCALLBACK_DATA_DIR=" + data,
	}
	start := func(env []string) (*imtest.Service, *allowlist.Set) {
		var set *allowlist.Set
		s, _ := startApps(t, env, fx.Populate(&set))
		return s, set
	}
	from := func(s *imtest.Service, source string) *imtest.Result {
		t.Helper()
		return sendFromAppOne(t, s, source)
	}
	expect := func(s *imtest.Service, allowed, refused []string) {
		t.Helper()
		for _, a := range allowed {
			if res := from(s, a); !res.OK() {
				t.Errorf("from %s: %d %s, want OK", a, res.Status, res.Body)
			}
		}
		for _, a := range refused {
			if res := from(s, a); !res.Is(protocol.ErrIPNotAllowed) {
				t.Errorf("from %s: %d %s, want 403 ip_not_allowed", a, res.Status, res.Body)
			}
		}
	}

	im.set([]string{"203.0.113.7", "198.51.100.0/25"}, false)
	s, set := start(env)
	expect(s, []string{"203.0.113.7", "198.51.100.9"}, []string{"192.0.2.1", "198.51.100.200"})
	if strings.Join(im.calls, ",") != "5,6" {
		t.Errorf("nettypes fetched %v, want 5 and 6", im.calls)
	}
	metrics := get(t, s.AdminURL+"/metrics", 200)
	if !strings.Contains(metrics, `imcallback_iplist_entries{app="1400000001"} 2`) {
		t.Errorf("metrics lack the list size")
	}

	im.set(nil, true) // Tencent fails: the last good list stays
	if err := set.RefreshNow(context.Background()); err == nil {
		t.Error("a failed refresh reported no error")
	}
	expect(s, []string{"203.0.113.7"}, []string{"192.0.2.1"})
	if !strings.Contains(get(t, s.AdminURL+"/metrics", 200), `imcallback_iplist_refresh_errors_total{app="1400000001"} 1`) {
		t.Error("the failed refresh is not counted")
	}

	im.set([]string{"192.0.2.1"}, false) // Tencent's addresses change
	if err := set.RefreshNow(context.Background()); err != nil {
		t.Fatal(err)
	}
	expect(s, []string{"192.0.2.1"}, []string{"203.0.113.7"})

	// What an operator sees.
	var out bytes.Buffer
	t.Setenv("IMCALLBACK_SDKAPPID", "1400000001")
	t.Setenv("IMCALLBACK_APP_1400000001_IPLIST", "true")
	t.Setenv("IMCALLBACK_APP_1400000001_SECRET_KEY", "sk-app-one-secret")
	t.Setenv("IMCALLBACK_DATA_DIR", data)
	if err := cli.Run([]string{"allowlist"}, &out, &out); err != nil || !strings.Contains(out.String(), "192.0.2.1/32") ||
		!strings.Contains(out.String(), "tencent") || !strings.Contains(out.String(), "Tencent list fetched") {
		t.Errorf("allowlist: %v\n%s", err, out.String())
	}
	t.Log("imcallback allowlist:\n" + out.String())

	// A restart during a Tencent outage keeps the list from its file.
	im.set(nil, true)
	s2, _ := start(env)
	expect(s2, []string{"192.0.2.1"}, []string{"203.0.113.7"})
	// ... and /v1/status says the list in use could not be refreshed, without taking the
	// replica out of its load balancer.
	if d, ok := dependencyStatus(t, s2, "iplist_refresh"); !ok {
		t.Errorf("/v1/status has no iplist_refresh")
	} else if d.State != "failing" || !strings.Contains(d.Error, "1400000001") || !strings.Contains(d.Error, "GetIPList") || d.AffectsReadiness {
		t.Errorf("/v1/status iplist_refresh = %+v, want failing, naming 1400000001 and the failed call, not deciding readiness", d)
	}
	get(t, s2.AdminURL+"/readyz", http.StatusOK)

	// An app that never had a list refuses every source and is not ready.
	fresh := append(append([]string{}, env...), "IMCALLBACK_DATA_DIR="+t.TempDir())
	s3, _ := start(fresh)
	expect(s3, nil, []string{"192.0.2.1", "203.0.113.7"})
	resp, err := http.Get(s3.AdminURL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "iplist") {
		t.Errorf("/readyz %d %s, want 503 naming iplist", resp.StatusCode, body)
	}

	// Beside an app that can accept callbacks, that app's missing list leaves the replica ready
	// (out of its load balancer it would refuse the other app too), and shows in /v1/status and
	// the metrics.
	both := append(append([]string{}, fresh...), "IMCALLBACK_SDKAPPID=1400000001,1400000002", "IMCALLBACK_DATA_DIR="+t.TempDir())
	s4, _ := start(both)
	expect(s4, nil, []string{"203.0.113.7"})
	sender := *s4.Sender
	sender.Token = "tok-app-two"
	if res, err := sender.Send(context.Background(), "Group.CallbackAfterCreateTopic", []byte(`{}`),
		imtest.WithAppID("1400000002"), imtest.WithHeader("X-Forwarded-For", "203.0.113.7")); err != nil || !res.OK() {
		t.Errorf("the other app's callback: %v %+v, want OK", err, res)
	}
	get(t, s4.AdminURL+"/readyz", http.StatusOK)
	if d, ok := dependencyStatus(t, s4, "iplist_apps"); !ok {
		t.Errorf("/v1/status has no iplist_apps")
	} else if d.State != "failing" || !strings.Contains(d.Error, "1400000001") || d.AffectsReadiness {
		t.Errorf("/v1/status iplist_apps = %+v, want failing, naming 1400000001, not deciding readiness", d)
	}
	m := get(t, s4.AdminURL+"/metrics", http.StatusOK)
	for _, want := range []string{`imcallback_dependency_up{dependency="iplist_apps"} 0`, `imcallback_dependency_up{dependency="iplist"} 1`, "imcallback_ready 1"} {
		if !strings.Contains(m, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// TestSourcesOutsideTheAllowlistHoldNoConnection: with a source allowlist
// (global, or an app's own) and no proxy, a peer outside it is refused as
// it connects (its request answered 403 ip_not_allowed) and holds no place under
// IMCALLBACK_MAX_CONNS. Before, its connections were served until their
// header arrived (IMCALLBACK_READ_HEADER_TIMEOUT, 5 s, for one that never
// sends it), so a few outside connections left the allowed source, IM,
// with 503 too_many_connections.
func TestSourcesOutsideTheAllowlistHoldNoConnection(t *testing.T) {
	allowed := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)} // the test's IM; 127.0.0.1 is outside
	if c, err := net.ListenTCP("tcp", allowed); err != nil {
		t.Skipf("no second loopback address to send from: %v", err)
	} else {
		c.Close()
	}
	const maxConns = 16
	tests := []struct {
		name string
		env  string
	}{
		{"global", "IMCALLBACK_ALLOW_CIDRS=127.0.0.2/32"},
		{"per app", "IMCALLBACK_APP_" + imtest.AppID + "_ALLOW_CIDRS=127.0.0.2/32"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := imtest.Start(t, []string{tt.env, fmt.Sprintf("IMCALLBACK_MAX_CONNS=%d", maxConns)})
			addr := strings.TrimPrefix(s.PublicURL, "http://")
			for range maxConns {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { c.Close() })
				// A request that never ends: it held its place until the header timeout.
				_, _ = io.WriteString(c, "POST /im/callback HTTP/1.1\r\nHost: x\r\n")
			}
			dialer := &net.Dialer{LocalAddr: allowed}
			sender := *s.Sender
			sender.Client = &http.Client{Transport: &http.Transport{DialContext: dialer.DialContext}}
			res, err := sender.Send(context.Background(), "C2C.CallbackAfterSendMsg", []byte(`{}`))
			if err != nil {
				t.Fatal(err)
			}
			if !res.OK() {
				t.Fatalf("the allowed source, with %d outside connections open: %d %s", maxConns, res.Status, res.Body)
			}
			// A whole request from outside is answered 403 ip_not_allowed.
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(time.Minute)) // a guard, not a time limit
			_, _ = io.WriteString(c, "POST /im/callback HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
			answer, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatalf("an outside request got no answer: %v", err)
			}
			defer answer.Body.Close()
			var env protocol.Envelope
			if err := json.NewDecoder(answer.Body).Decode(&env); err != nil {
				t.Fatal(err)
			}
			if answer.StatusCode != http.StatusForbidden || env.ErrorCode != protocol.ErrIPNotAllowed.Code {
				t.Errorf("an outside request: %d %+v, want 403 code %d", answer.StatusCode, env, protocol.ErrIPNotAllowed.Code)
			}
		})
	}
}

// TestRESTConnectionsCloseAtTheStop: the connection the apps' REST client
// keeps alive after a GetIPList is closed when the app stops, while IM
// keeps it open: left to IM or to the idle timeout (90 s), it held a
// socket and its two goroutines past the stop.
func TestRESTConnectionsCloseAtTheStop(t *testing.T) {
	im := &fakeIM{t: t, list: []string{"127.0.0.1"}}
	srv := httptest.NewServer(im)
	defer srv.Close() // after the check: IM keeps its end open until then
	env := []string{
		"IMCALLBACK_SDKAPPID=1400000001",
		"IMCALLBACK_APP_1400000001_SECRET_KEY=sk-app-one-secret",
		"IMCALLBACK_APP_1400000001_IPLIST=true",
		"IMCALLBACK_APP_1400000001_API_BASE=" + srv.URL,
		"IMCALLBACK_DELIVERY=inline",
	}
	ignore := goleak.IgnoreCurrent() // IM's listener
	t.Run("the app", func(t *testing.T) {
		imtest.Start(t, env) // fetches the list at start; stopped at the subtest's cleanup
		im.mu.Lock()
		defer im.mu.Unlock()
		if len(im.calls) == 0 {
			t.Fatal("the app never called GetIPList")
		}
	})
	if err := leakwait.Find(ignore); err != nil {
		t.Errorf("the REST client's connection outlives the stop: %v", err)
	}
}

// dependency is one entry of GET /v1/status.
type dependency struct {
	Name, State, Error string
	AffectsReadiness   bool `json:"affects_readiness"`
}

// dependencyStatus reads s's /v1/status and returns its dependency name;
// ok is false when the status does not list it.
func dependencyStatus(t *testing.T, s *imtest.Service, name string) (d dependency, ok bool) {
	t.Helper()
	var status struct{ Dependencies []dependency }
	s.GetJSON(t, "/v1/status", http.StatusOK, &status)
	for _, d := range status.Dependencies {
		if d.Name == name {
			return d, true
		}
	}
	t.Logf("/v1/status: %+v", status.Dependencies)
	return dependency{}, false
}

// TestARestartDuringAHungTencentKeepsItsSavedList: Tencent accepting the
// GetIPList call and never answering (its fetch bounded at 30 s) within a
// start bounded tighter (IMCALLBACK_START_TIMEOUT) failed the whole start,
// although the app had its saved list: a restart during such an outage
// left every app down. The first fetch now waits for half of what is left
// of the start at most, and the service starts on the saved list, the
// fetch counted as a failed refresh.
func TestARestartDuringAHungTencentKeepsItsSavedList(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // so that the server sees the client go
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	data := t.TempDir()
	if err := os.MkdirAll(filepath.Join(data, "iplist"), 0o755); err != nil {
		t.Fatal(err)
	}
	saved := fmt.Sprintf(`{"app":"1400000001","fetched_at":%q,"nettypes":[5,6],"entries":["203.0.113.7"]}`,
		time.Now().UTC().Format(time.RFC3339))
	if err := os.WriteFile(filepath.Join(data, "iplist", "1400000001.json"), []byte(saved), 0o644); err != nil {
		t.Fatal(err)
	}
	s, _ := startApps(t, []string{
		"IMCALLBACK_APP_1400000001_IPLIST=true",
		"IMCALLBACK_APP_1400000001_API_BASE=" + srv.URL,
		"IMCALLBACK_TRUSTED_PROXIES=127.0.0.1/32",
		"IMCALLBACK_DATA_DIR=" + data,
		"IMCALLBACK_START_TIMEOUT=10s", // shorter than a hung fetch's 30 s
		"IMCALLBACK_DELIVERY=inline",
	})
	for source, ok := range map[string]bool{"203.0.113.7": true, "192.0.2.1": false} {
		if res := sendFromAppOne(t, s, source); res.OK() != ok {
			t.Errorf("from %s: %d %s, want OK %v", source, res.Status, res.Body, ok)
		}
	}
	// The cut fetch is a failed refresh (the check polled: the start may
	// return as the fetch records its failure; the checks run at most
	// every 10 s).
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(100 * time.Millisecond) {
		d, ok := dependencyStatus(t, s, "iplist_refresh")
		if ok && d.State == "failing" && strings.Contains(d.Error, "GetIPList") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/v1/status iplist_refresh = %+v (listed %v), want failing on the fetch", d, ok)
		}
	}
}

// sendFromAppOne sends s an AfterCreateTopic of app 1400000001, signed
// with its token tok-app-one, from source as a trusted proxy's
// X-Forwarded-For names it.
func sendFromAppOne(t *testing.T, s *imtest.Service, source string) *imtest.Result {
	t.Helper()
	sender := *s.Sender
	sender.Token = "tok-app-one"
	res, err := sender.Send(context.Background(), "Group.CallbackAfterCreateTopic", []byte(`{}`),
		imtest.WithAppID("1400000001"), imtest.WithHeader("X-Forwarded-For", source))
	if err != nil {
		t.Fatal(err)
	}
	return res
}
