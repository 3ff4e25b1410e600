package imsend_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"sync"
	"testing"

	"github.com/imcallback/imcallback/imsend"
)

// proxiedChild marks the process TestLoadGoesThroughTheEnvironmentsProxy
// runs itself in, with HTTP_PROXY set: net/http reads the proxy variables
// once per process.
const proxiedChild = "IMSEND_TEST_PROXIED_CHILD"

// TestLoadGoesThroughTheEnvironmentsProxy: a load run reaches the endpoint
// the way one Send does, through the proxy HTTP_PROXY (or HTTPS_PROXY)
// names, so that `send --repeat` works where `send` does, behind an egress
// proxy.
func TestLoadGoesThroughTheEnvironmentsProxy(t *testing.T) {
	if os.Getenv(proxiedChild) != "" {
		sendThroughTheProxy(t)
		return
	}
	var mu sync.Mutex
	hosts := map[string]int{}
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		mu.Lock()
		hosts[r.URL.Host]++ // a proxy is asked for the absolute URL
		mu.Unlock()
		io.WriteString(w, okAnswer)
	}))
	t.Cleanup(proxy.Close)
	cmd := exec.Command(os.Args[0], "-test.run=^TestLoadGoesThroughTheEnvironmentsProxy$", "-test.count=1")
	cmd.Env = append(os.Environ(), proxiedChild+"=1", "HTTP_PROXY="+proxy.URL, "http_proxy="+proxy.URL,
		"NO_PROXY=", "no_proxy=", "REQUEST_METHOD=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("the run with HTTP_PROXY set: %v\n%s", err, out)
	}
	mu.Lock()
	defer mu.Unlock()
	if hosts[proxiedHost] != 1+proxiedRequests || len(hosts) != 1 {
		t.Fatalf("the proxy was asked for %v, want %s %d times", hosts, proxiedHost, 1+proxiedRequests)
	}
}

// proxiedHost is the endpoint's host: reachable only through the proxy
// (.invalid never resolves).
const (
	proxiedHost     = "callback.invalid"
	proxiedRequests = 3
)

// sendThroughTheProxy sends once and runs a load, both of which must be
// answered (by the proxy).
func sendThroughTheProxy(t *testing.T) {
	s := &imsend.Sender{URL: "http://" + proxiedHost + "/im/callback", AppID: "1400000000", Token: "t"}
	res, err := s.Send(context.Background(), "C2C.CallbackAfterSendMsg", []byte(`{}`))
	if err != nil || !res.OK() {
		t.Fatalf("Send = %s, %v; want the proxy's OK", describe(res), err)
	}
	rep := run(t, s, imsend.Load{Command: "C2C.CallbackAfterSendMsg", Body: func(int) []byte { return []byte(`{}`) },
		Requests: proxiedRequests, Concurrency: 2})
	if rep.Statuses[http.StatusOK] != proxiedRequests || rep.Failures != 0 {
		t.Fatalf("Run = %v (statuses %v, first error %q); want %d answered through the proxy",
			rep, rep.Statuses, rep.FirstError, proxiedRequests)
	}
}
