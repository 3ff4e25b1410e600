package imcallback_test

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/imcallback/imcallback/imtest"
	"github.com/imcallback/imcallback/protocol"
)

// TestRefusedRequestIsAnsweredWithoutWaitingForItsBody: a request refused
// before its body is read is answered at once, with Connection: close,
// though the client sent only part of the body it announced. net/http used
// to read the rest first, so such a client held its connection (a place
// under IMCALLBACK_MAX_CONNS) until the read timeout, with nothing sent.
// A rejection after the whole body was read keeps the connection.
func TestRefusedRequestIsAnsweredWithoutWaitingForItsBody(t *testing.T) {
	// A read timeout (read header timeout + 30 s) far beyond the answer deadline below.
	s := start(t, []string{"IMCALLBACK_READ_HEADER_TIMEOUT=60s"}, testCommands(make(chan topicPayload, 4)))
	addr := strings.TrimPrefix(s.PublicURL, "http://")
	signed := signedQuery("C2C.CallbackBeforeSendMsg")
	tests := []struct {
		name, target, body string
		length             int // announced Content-Length
		want               *protocol.Error
		wantClose          bool
	}{
		{"unsigned, body not sent", "/im/callback?SdkAppid=" + appID + "&CallbackCommand=C2C.CallbackBeforeSendMsg", `{"Te`, 1000, protocol.ErrMissingSign, true},
		{"foreign app, body not sent", "/im/callback?SdkAppid=1&CallbackCommand=C2C.CallbackBeforeSendMsg", `{"Te`, 1000, protocol.ErrAppIDNotAllowed, true},
		{"another path, body not sent", "/nope", `{"Te`, 1000, protocol.ErrNotFound, true},
		{"over the limit by Content-Length", "/im/callback?" + signed, `{"Te`, 4096, protocol.ErrBodyTooLarge, true},
		{"malformed JSON, body read", "/im/callback?" + signed, `{"Text":`, len(`{"Text":`), protocol.ErrMalformedJSON, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			// A guard against a hang, not a time limit on the answer.
			if err := conn.SetDeadline(time.Now().Add(imtest.DefaultTimeout)); err != nil {
				t.Fatal(err)
			}
			req := "POST " + tt.target + " HTTP/1.1\r\nHost: x\r\nContent-Length: " + strconv.Itoa(tt.length) + "\r\n\r\n" + tt.body
			if _, err := io.WriteString(conn, req); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("no answer while the body is incomplete: %v", err)
			}
			defer resp.Body.Close()
			var env protocol.Envelope
			if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.want.Status || env != (protocol.Envelope{ActionStatus: "FAIL", ErrorCode: tt.want.Code, ErrorInfo: tt.want.Info}) {
				t.Fatalf("answer %d %+v, want %d %s", resp.StatusCode, env, tt.want.Status, tt.want.Reason)
			}
			if resp.Close != tt.wantClose {
				t.Fatalf("Connection: close = %v, want %v", resp.Close, tt.wantClose)
			}
		})
	}
}

// TestOptionsStarIsAnsweredByTheChain: "OPTIONS *" is answered like any
// other path, with the 404 envelope through the middleware chain, where
// net/http answered it itself with an empty 200 that no log line counted.
func TestOptionsStarIsAnsweredByTheChain(t *testing.T) {
	s := start(t, nil)
	conn, err := net.Dial("tcp", strings.TrimPrefix(s.PublicURL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(imtest.DefaultTimeout)); err != nil { // a guard against a hang
		t.Fatal(err)
	}
	if _, err := io.WriteString(conn, "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: http.MethodOptions})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	want, _ := protocol.AppendEnvelope(nil, protocol.StatusFail, protocol.ErrNotFound.Code, protocol.ErrNotFound.Info, nil)
	if resp.StatusCode != http.StatusNotFound || string(body) != string(want) || resp.Header.Get("X-Request-Id") == "" {
		t.Fatalf("answer %d %q (request id %q), want 404 %s through the chain", resp.StatusCode, body, resp.Header.Get("X-Request-Id"), want)
	}
}
