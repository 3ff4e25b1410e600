package server

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/imcallback/imcallback/config"
)

// TestABodyStillArrivingAtTheReadDeadlineIsAnswered: a request whose body
// was still arriving when the listener's read deadline passed (its
// headers' timeout + 30 s from the start of the request) was to be
// answered 40004 unreadable_body, but the write deadline (the same span
// from the end of its headers) passed with it: the answer was logged and
// never sent, the connection closed without a word. The answer now gets
// its own moment to be written once the body's read times out.
func TestABodyStillArrivingAtTheReadDeadlineIsAnswered(t *testing.T) {
	cfg := config.Default()
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			// What the service does before answering: the error handler, the
			// access log, the counters.
			time.Sleep(100 * time.Millisecond)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"ActionStatus":"FAIL","ErrorCode":40004,"ErrorInfo":"request body could not be read"}`)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	srv := newHTTPServer(&cfg, handler, zap.NewNop())
	// The listener's spans, shortened alike: the read deadline counts from
	// the request's start, the write deadline from the end of its headers.
	srv.ReadTimeout, srv.WriteTimeout = 300*time.Millisecond, 300*time.Millisecond
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close(); <-done })

	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Half the body; the rest never comes.
	if _, err := io.WriteString(conn, "POST /im/callback HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"Callback"); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a body still arriving at the read deadline: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(body), "40004") {
		t.Errorf("answer %d %s, want 400 with 40004", resp.StatusCode, body)
	}
}
