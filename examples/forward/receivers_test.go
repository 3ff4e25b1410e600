// Package forward_test runs the example receivers (Node.js and Python)
// as destinations of gateway mode against the service.
package forward_test

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/imcallback/imcallback/delivery"
	"github.com/imcallback/imcallback/imtest"
)

const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// otherSecret is one the receivers do not know: the next (or the last)
// of a rotation.
const otherSecret = "whsec_bmV3LXNlY3JldC1mb3Itcm90YXRpb24h"

// start runs a receiver on a free loopback port and returns its URL, or
// skips t when the interpreter is missing.
func start(t *testing.T, interpreter, script string, env ...string) string {
	t.Helper()
	url, _ := startLogged(t, interpreter, script, env...)
	return url
}

// output is what a receiver wrote, standard output and error together.
type output struct {
	mu    sync.Mutex
	lines []string
}

func (o *output) add(line string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.lines = append(o.lines, line)
}

// String is the lines written so far, each ended by a line break.
func (o *output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var b strings.Builder
	for _, l := range o.lines {
		b.WriteString(l + "\n")
	}
	return b.String()
}

// startLogged is start, and the receiver's output, which goes into the
// test's log as well.
func startLogged(t *testing.T, interpreter, script string, env ...string) (string, *output) {
	t.Helper()
	path, err := exec.LookPath(interpreter)
	if err != nil {
		t.Skipf("the %s receiver needs %s on PATH", script, interpreter)
	}
	// A port below the ephemeral range: one the kernel handed out for
	// :0 and got back could go to another process's connection before the
	// receiver binds it.
	addr := imtest.FreeAddr(t)
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range env {
		if host, ok := strings.CutPrefix(e, "HOST="); ok {
			addr = net.JoinHostPort(host, port)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, path, script)
	cmd.Env = append(append(cmd.Environ(), "WEBHOOK_SECRET="+secret, "PORT="+port), env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	logged := make(chan struct{})
	written := &output{}
	t.Cleanup(func() {
		cancel()
		<-logged // the pipe ends with the process
		_ = cmd.Wait()
	})
	go func() { // the receiver's log, in the test's
		defer close(logged)
		s := bufio.NewScanner(out)
		for s.Scan() {
			t.Log(script + ": " + s.Text())
			written.add(s.Text())
		}
	}()
	deadline := time.Now().Add(30 * time.Second) // an interpreter's start on a loaded machine
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return "http://" + addr + "/", written
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s does not listen on %s", script, addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestReceiversListenOnHOST: HOST names the address a receiver listens
// on (127.0.0.1 unless set), so that one in a container, or on a host
// other than the service's, can be reached: 0.0.0.0 there. Here a second
// loopback address stands for it.
func TestReceiversListenOnHOST(t *testing.T) {
	for _, r := range []struct{ interpreter, script string }{{"node", "receiver.js"}, {"python3", "receiver.py"}} {
		t.Run(r.script, func(t *testing.T) {
			url := start(t, r.interpreter, r.script, "HOST=127.0.0.2")
			status, err := rawStatus(url, "POST / HTTP/1.1\r\nHost: receiver\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}")
			if err != nil || status != http.StatusUnauthorized {
				t.Errorf("an unsigned request to %s: %d, %v; want 401 from the receiver", url, status, err)
			}
		})
	}
}

// stall opens a connection to the receiver at url and sends the start of
// a request, never its end; the connection is closed when t ends.
func stall(t *testing.T, url string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", strings.TrimSuffix(strings.TrimPrefix(url, "http://"), "/"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := c.Write([]byte("POST / HTTP/1.1\r\nHost: receiver\r\n")); err != nil {
		t.Fatal(err)
	}
	return c
}

// TestPythonReceiverClosesAStalledConnection: a connection that stops
// mid-request is closed after READ_TIMEOUT seconds instead of holding a
// thread for ever (the Node.js receiver has Node's own timeouts).
func TestPythonReceiverClosesAStalledConnection(t *testing.T) {
	url := start(t, "python3", "receiver.py", "READ_TIMEOUT=1")
	stalled := stall(t, url)
	// Far longer than READ_TIMEOUT: the read ends when the receiver
	// closes the connection, and fails the test only if it never does.
	stalled.SetReadDeadline(time.Now().Add(60 * time.Second))
	if n, err := stalled.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		t.Fatalf("the stalled connection: read %d bytes, %v; want it closed by the receiver", n, err)
	}
}

func TestReceivers(t *testing.T) {
	for _, r := range []struct{ interpreter, script string }{{"node", "receiver.js"}, {"python3", "receiver.py"}} {
		t.Run(r.script, func(t *testing.T) {
			url := start(t, r.interpreter, r.script)

			// A client that connects and stalls mid-request holds up no
			// other: while it waits, the gateway's requests are still
			// answered (a receiver serving one connection at a time would
			// fall back on every before-callback).
			stall(t, url)

			// It refuses a body larger than any callback without reading it:
			// a request naming 100 MiB, of which nothing comes, is answered
			// at once, and one of unknown length (chunked) is refused.
			oversized, err := net.Dial("tcp", strings.TrimSuffix(strings.TrimPrefix(url, "http://"), "/"))
			if err != nil {
				t.Fatal(err)
			}
			defer oversized.Close()
			oversized.SetDeadline(time.Now().Add(10 * time.Second)) // a receiver waiting for the body fails the test, not hangs it
			if _, err := oversized.Write([]byte("POST / HTTP/1.1\r\nHost: receiver\r\nContent-Length: 104857600\r\n\r\n")); err != nil {
				t.Fatal(err)
			}
			if resp, err := http.ReadResponse(bufio.NewReader(oversized), nil); err != nil {
				t.Errorf("a request naming a 100 MiB body: %v", err)
			} else if resp.StatusCode != http.StatusRequestEntityTooLarge {
				t.Errorf("a request naming a 100 MiB body: %d, want 413", resp.StatusCode)
			}
			bounded := &http.Client{Timeout: 10 * time.Second} // a receiver held up fails the test, not hangs it
			chunked, err := bounded.Post(url, "application/json", io.MultiReader(strings.NewReader(`{"x":"`),
				io.LimitReader(neverEnding('x'), 5<<20), strings.NewReader(`"}`)))
			var netErr net.Error
			switch {
			case err == nil:
				chunked.Body.Close()
				if chunked.StatusCode != http.StatusLengthRequired && chunked.StatusCode != http.StatusRequestEntityTooLarge {
					t.Errorf("a 5 MiB body of unknown length: %d, want 411 or 413", chunked.StatusCode)
				}
			case errors.As(err, &netErr) && netErr.Timeout():
				t.Errorf("a 5 MiB body of unknown length: no answer (%v): the receiver reads or waits instead of refusing", err)
			} // another error: the receiver closed the connection on the body it refused

			// A forged request whose headers hold bytes outside ASCII (a
			// signature of them, a timestamp or a length of digits other
			// than 0-9), or a timestamp or a length of thousands of digits,
			// is refused with an answer: the receiver's handler does not
			// fail on them and drop the connection unanswered.
			for _, c := range []struct{ name, headers string }{
				{"a signature outside ASCII", "webhook-id: msg_x\r\nwebhook-timestamp: " + strconv.FormatInt(time.Now().Unix(), 10) +
					"\r\nwebhook-signature: v1,\xe9\r\nContent-Length: 2\r\n"},
				{"a timestamp of superscript digits", "webhook-id: msg_x\r\nwebhook-timestamp: \xb2\r\nwebhook-signature: v1,x\r\nContent-Length: 2\r\n"},
				{"a length of superscript digits", "Content-Length: \xb2\r\n"},
				// More digits than Python's int() converts (4300): a number
				// too large for any length or timestamp, refused as such.
				{"a timestamp of 5000 digits", "webhook-id: msg_x\r\nwebhook-timestamp: " + strings.Repeat("1", 5000) +
					"\r\nwebhook-signature: v1,x\r\nContent-Length: 2\r\n"},
				{"a length of 5000 digits", "Content-Length: " + strings.Repeat("1", 5000) + "\r\n"},
			} {
				if status, err := rawStatus(url, "POST / HTTP/1.1\r\nHost: receiver\r\nConnection: close\r\n"+c.headers+"\r\n{}"); err != nil {
					t.Errorf("%s: no answer: %v", c.name, err)
				} else if status < 400 || status > 499 {
					t.Errorf("%s: %d, want a refusal (4xx)", c.name, status)
				}
			}

			// A timestamp that is no whole number of seconds is refused even
			// when signed: the receiver does not skip the tolerance check
			// on a value it cannot compare (NaN is never more than 300 away).
			for _, ts := range []string{"now", strconv.FormatInt(time.Now().Unix(), 10) + ".5"} {
				headers := "webhook-id: msg_x\r\nwebhook-timestamp: " + ts + "\r\nwebhook-signature: " + sign(t, "msg_x", ts, "{}") +
					"\r\nX-Imcallback-Kind: after\r\nContent-Length: 2\r\n"
				if status, err := rawStatus(url, "POST / HTTP/1.1\r\nHost: receiver\r\nConnection: close\r\n"+headers+"\r\n{}"); err != nil {
					t.Errorf("signed, with the timestamp %q: no answer: %v", ts, err)
				} else if status != http.StatusUnauthorized {
					t.Errorf("signed, with the timestamp %q: %d, want 401", ts, status)
				}
			}

			// A request signed as the service signs it, but at a time more
			// than 5 minutes away (a replay of a captured one, or a clock far
			// off), is refused: the tolerance is what keeps a request from
			// being replayed later.
			for _, age := range []time.Duration{-10 * time.Minute, 10 * time.Minute} {
				ts := strconv.FormatInt(time.Now().Add(age).Unix(), 10)
				headers := "webhook-id: msg_x\r\nwebhook-timestamp: " + ts + "\r\nwebhook-signature: " + sign(t, "msg_x", ts, "{}") +
					"\r\nX-Imcallback-Kind: after\r\nContent-Length: 2\r\n"
				if status, err := rawStatus(url, "POST / HTTP/1.1\r\nHost: receiver\r\nConnection: close\r\n"+headers+"\r\n{}"); err != nil {
					t.Errorf("signed %v from now: no answer: %v", age, err)
				} else if status != http.StatusUnauthorized {
					t.Errorf("signed %v from now: %d, want 401", age, status)
				}
			}

			// It refuses what is not signed with the secret.
			resp, err := bounded.Post(url, "application/json", strings.NewReader(`{}`))
			if err != nil {
				t.Fatalf("with a stalled client connected: %v", err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Errorf("unsigned request: %d, want 401", resp.StatusCode)
			}

			s := imtest.Start(t, []string{"IMCALLBACK_FORWARD_URL=" + url, "IMCALLBACK_FORWARD_SECRET=" + secret,
				"IMCALLBACK_FORWARD_MATCH=C2C.CallbackBeforeSendMsg,C2C.CallbackAfterSendMsg,Sns.CallbackPrevFriendAdd,Group.CallbackBeforeSendMsg,Group.CallbackBeforeCreateGroup"}, delivery.Module)
			for _, c := range []struct{ from, want string }{
				{"alice", `{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}`},
				{"badword", `{"ActionStatus":"OK","ErrorCode":120001,"ErrorInfo":"blocked word"}`},
			} {
				body, err := imtest.SampleWith("C2C.CallbackBeforeSendMsg", map[string]any{"From_Account": c.from})
				if err != nil {
					t.Fatal(err)
				}
				if res := s.Send(t, "C2C.CallbackBeforeSendMsg", body); string(res.Body) != c.want {
					t.Errorf("before-callback from %s: %d %s, want %s", c.from, res.Status, res.Body, c.want)
				}
			}
			// A before-callback whose name lacks "Before" is answered too: the
			// receivers go by X-Imcallback-Kind.
			friend, err := imtest.SampleWith("Sns.CallbackPrevFriendAdd", map[string]any{"From_Account": "badword"})
			if err != nil {
				t.Fatal(err)
			}
			if res := s.Send(t, "Sns.CallbackPrevFriendAdd", friend); !strings.Contains(string(res.Body), `"ErrorInfo":"blocked word"`) {
				t.Errorf("friend request from badword: %d %s, want the receiver's deny", res.Status, res.Body)
			}
			// A deny code the client sees lies in the command's range
			// (10100–10200 for a group's): 120001 there is no code of the
			// command, sent as a plain deny and logged as the receiver's
			// mistake. A command it has no code for gets the plain deny (1),
			// which every before-command takes.
			for _, c := range []struct{ command, want string }{
				{"Group.CallbackBeforeSendMsg", `{"ActionStatus":"OK","ErrorCode":10100,"ErrorInfo":"blocked word"}`},
				{"Group.CallbackBeforeCreateGroup", `{"ActionStatus":"OK","ErrorCode":1,"ErrorInfo":"blocked word"}`},
			} {
				body, err := imtest.SampleWith(c.command, map[string]any{"Operator_Account": "badword"})
				if err != nil {
					t.Fatal(err)
				}
				if res := s.Send(t, c.command, body); string(res.Body) != c.want {
					t.Errorf("%s from badword: %d %s, want %s", c.command, res.Status, res.Body, c.want)
				}
			}
			// A body larger than one read of the receiver, in characters of
			// three bytes: its signature still verifies.
			large, err := imtest.SampleWith("C2C.CallbackBeforeSendMsg", map[string]any{"From_Account": "badword",
				"CloudCustomData": strings.Repeat("中文", 20000)})
			if err != nil {
				t.Fatal(err)
			}
			if res := s.Send(t, "C2C.CallbackBeforeSendMsg", large); !strings.Contains(string(res.Body), `"ErrorCode":120001`) {
				t.Errorf("a %d-byte before-callback: %d %s, want the receiver's deny", len(large), res.Status, res.Body)
			}
			// A body that is not valid UTF-8 (a character cut in two inside a
			// string): the signature is over the bytes sent, which the
			// receiver must hash as received, not decoded and re-encoded.
			cut, err := imtest.SampleWith("C2C.CallbackBeforeSendMsg", map[string]any{"From_Account": "badword",
				"CloudCustomData": "CUT"})
			if err != nil {
				t.Fatal(err)
			}
			cut = []byte(strings.Replace(string(cut), "CUT", "\xe4\xb8", 1))
			if res := s.Send(t, "C2C.CallbackBeforeSendMsg", cut); !strings.Contains(string(res.Body), `"ErrorCode":120001`) {
				t.Errorf("a before-callback that is not valid UTF-8: %d %s, want the receiver's deny", res.Status, res.Body)
			}
			body, err := imtest.Sample("C2C.CallbackAfterSendMsg")
			if err != nil {
				t.Fatal(err)
			}
			if res := s.Send(t, "C2C.CallbackAfterSendMsg", body); !res.OK() {
				t.Fatalf("after-callback: %d", res.Status)
			}
			want := `imcallback_forward_requests_total{destination="default",result="ok"} 8`
			deadline := time.Now().Add(10 * time.Second)
			for !strings.Contains(s.Metrics(t), want) {
				if time.Now().After(deadline) {
					t.Fatalf("metrics lack %s:\n%s", want, s.Metrics(t))
				}
				time.Sleep(50 * time.Millisecond)
			}

			// While a secret is rotated the service signs with two, and the
			// receiver, knowing one of them, accepts the request whichever
			// place its secret has; signed with another alone, it refuses.
			deny := `{"ActionStatus":"OK","ErrorCode":120001,"ErrorInfo":"blocked word"}`
			badword, err := imtest.SampleWith("C2C.CallbackBeforeSendMsg", map[string]any{"From_Account": "badword"})
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct{ secrets, result string }{
				{secret + " " + otherSecret, "ok"},
				{otherSecret + " " + secret, "ok"},
				{otherSecret, "status"},
			} {
				s := imtest.Start(t, []string{"IMCALLBACK_DELIVERY=inline", "IMCALLBACK_FORWARD_URL=" + url,
					"IMCALLBACK_FORWARD_SECRET=" + c.secrets, "IMCALLBACK_FORWARD_MATCH=C2C.CallbackBeforeSendMsg"})
				res := s.Send(t, "C2C.CallbackBeforeSendMsg", badword)
				if got := string(res.Body) == deny; got != (c.result == "ok") {
					t.Errorf("signed with %d secrets, the receiver's secret %s: answered %s", len(strings.Fields(c.secrets)),
						map[bool]string{true: "among them", false: "not among them"}[strings.Contains(c.secrets, secret)], res.Body)
				}
				if want := `imcallback_forward_requests_total{destination="default",result="` + c.result + `"} 1`; !strings.Contains(s.Metrics(t), want) {
					t.Errorf("metrics lack %s", want)
				}
			}
		})
	}
}

// TestReceiversBoundTheirConnections: a receiver holds at most
// MAX_CONNECTIONS connections at once; one more is refused (answered 503
// or closed) instead of served, so clients that connect and stall, each
// holding a thread (Python) and up to MAX_BODY of body, cannot grow the
// receiver without bound. Once they leave, requests are served again.
func TestReceiversBoundTheirConnections(t *testing.T) {
	for _, r := range []struct{ interpreter, script string }{{"node", "receiver.js"}, {"python3", "receiver.py"}} {
		t.Run(r.script, func(t *testing.T) {
			url := start(t, r.interpreter, r.script, "MAX_CONNECTIONS=2")
			unsigned := "POST / HTTP/1.1\r\nHost: receiver\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}"
			// A connection that just ended (start's own, which asks
			// nothing, or a round's) frees its slot a moment after it is
			// closed, longer on a loaded machine; a round that met that
			// moment (the second stall refused, the third connection
			// served) is tried again until a deadline only a receiver
			// without the bound reaches: it serves the third connection
			// in every round.
			giveUp := time.Now().Add(30 * time.Second)
			for round := 1; ; round++ {
				first, second := stall(t, url), stall(t, url)
				status, err := rawStatus(url, unsigned)
				first.Close()
				second.Close()
				if err != nil {
					var netErr net.Error
					if errors.As(err, &netErr) && netErr.Timeout() {
						t.Fatalf("a third connection beside two stalled ones: no answer (%v), want 503 or closed", err)
					}
					break // closed unanswered: refused
				}
				if status == http.StatusServiceUnavailable {
					break
				}
				if time.Now().After(giveUp) {
					t.Fatalf("a third connection beside two stalled ones, in %d rounds: answered %d, want 503 or closed unanswered", round, status)
				}
				time.Sleep(200 * time.Millisecond) // the round's connections end
			}
			deadline := time.Now().Add(30 * time.Second)
			for {
				status, err := rawStatus(url, unsigned)
				if err == nil && status == http.StatusUnauthorized {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("with the stalled connections gone: %d %v, want 401", status, err)
				}
				time.Sleep(50 * time.Millisecond)
			}
		})
	}
}

// TestReceiversStopGracefully: on SIGTERM (a deploy's stop) a receiver
// stops taking connections, finishes the request it is reading and
// answers it, then exits 0, instead of dying mid-request with the
// gateway's request cut off. The request comes on a kept-alive connection,
// as the gateway's do: its answer closes it, so that no further request is
// taken on it (a connection kept open under steady traffic would be cut
// off mid-request when the 10 s run out).
func TestReceiversStopGracefully(t *testing.T) {
	for _, r := range []struct{ interpreter, script string }{{"node", "receiver.js"}, {"python3", "receiver.py"}} {
		t.Run(r.script, func(t *testing.T) {
			path, err := exec.LookPath(r.interpreter)
			if err != nil {
				t.Skipf("the %s receiver needs %s on PATH", r.script, r.interpreter)
			}
			addr := imtest.FreeAddr(t)
			_, p, err := net.SplitHostPort(addr)
			if err != nil {
				t.Fatal(err)
			}
			// A bound on a receiver that does not stop: it fails the test,
			// not hangs it.
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, path, r.script)
			cmd.Env = append(cmd.Environ(), "WEBHOOK_SECRET="+secret, "PORT="+p)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			cmd.Stderr = cmd.Stdout
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			lines := make(chan string, 100)
			go func() {
				defer close(lines)
				s := bufio.NewScanner(out)
				for s.Scan() {
					lines <- s.Text()
				}
			}()
			waitLine := func(what string) {
				t.Helper()
				for line := range lines {
					t.Log(r.script + ": " + line)
					if strings.Contains(line, what) {
						return
					}
				}
				t.Fatalf("the receiver's output ended without %q", what)
			}
			var c net.Conn
			deadline := time.Now().Add(30 * time.Second)
			for c == nil {
				if c, err = net.Dial("tcp", addr); err != nil {
					if time.Now().After(deadline) {
						t.Fatalf("%s does not listen on %s", r.script, addr)
					}
					time.Sleep(50 * time.Millisecond)
				}
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(30 * time.Second))
			// A request half read when the stop comes, on a connection to
			// keep alive.
			if _, err := io.WriteString(c, "POST / HTTP/1.1\r\nHost: receiver\r\nContent-Length: 2\r\n\r\n{"); err != nil {
				t.Fatal(err)
			}
			// Taken by the receiver, not still in the listener's queue,
			// which the stop closes as any server's does.
			waitAccepted(t, p)
			if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			waitLine("stopping")
			if _, err := io.WriteString(c, "}"); err != nil {
				t.Fatal(err)
			}
			answers := bufio.NewReader(c)
			if resp, err := http.ReadResponse(answers, nil); err != nil {
				t.Errorf("the request in progress at the stop: %v, want it answered", err)
			} else {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusUnauthorized {
					t.Errorf("the request in progress at the stop: %d, want 401 (it is unsigned)", resp.StatusCode)
				}
				if !resp.Close {
					t.Errorf("the request in progress at the stop: answered %s with the connection kept alive, want it closed", resp.Proto)
				}
				// Another request on that connection is not taken.
				if _, err := io.WriteString(c, "POST / HTTP/1.1\r\nHost: receiver\r\nContent-Length: 2\r\n\r\n{}"); err == nil {
					if resp, err := http.ReadResponse(answers, nil); err == nil {
						t.Errorf("a request after the stop on the kept-alive connection: answered %d, want the connection closed", resp.StatusCode)
					}
				}
			}
			for line := range lines {
				t.Log(r.script + ": " + line)
			}
			if err := cmd.Wait(); err != nil {
				t.Fatalf("the receiver's exit after SIGTERM: %v, want 0", err)
			}
		})
	}
}

// TestReceiversLogNoURLPathOrQuery: a receiver logs a request by its
// command and its event's id, never by its request line: a destination's
// URL may hold a key in its path or query, which the service itself never
// shows (README, "Forward to your own backend"), and a receiver that
// logged its request lines would write the key with every request.
// receiver.py logged Python's default line, the path and query included.
func TestReceiversLogNoURLPathOrQuery(t *testing.T) {
	const key = "k3y-of-the-url"
	for _, r := range []struct{ interpreter, script string }{{"node", "receiver.js"}, {"python3", "receiver.py"}} {
		t.Run(r.script, func(t *testing.T) {
			url, out := startLogged(t, r.interpreter, r.script)
			id, ts, body := "msg_log_"+r.interpreter, strconv.FormatInt(time.Now().Unix(), 10), `{"CallbackCommand":"Group.CallbackAfterNewMemberJoin"}`
			req, err := http.NewRequest(http.MethodPost, url+"hook/"+key+"?token="+key, strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("webhook-id", id)
			req.Header.Set("webhook-timestamp", ts)
			req.Header.Set("webhook-signature", sign(t, id, ts, body))
			req.Header.Set("X-Imcallback-Command", "Group.CallbackAfterNewMemberJoin")
			req.Header.Set("X-Imcallback-Kind", "after")
			resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusNoContent {
				t.Fatalf("a signed after-callback: %d, want 204", resp.StatusCode)
			}
			deadline := time.Now().Add(10 * time.Second)
			for !strings.Contains(out.String(), id) && !strings.Contains(out.String(), key) && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			if written := out.String(); strings.Contains(written, key) || !strings.Contains(written, id) {
				t.Fatalf("the receiver's log, for a request to .../hook/%s?token=%s with webhook-id %s:\n%s\nwant the id, never the path or query",
					key, key, id, written)
			}
		})
	}
}

// TestReceiversRefuseABadSecret: a receiver whose WEBHOOK_SECRET is no
// key the service would sign with (empty, whsec_ alone, shorter than 16
// bytes, not base64, or several secrets) stops at its start with a
// message instead of listening: with an empty key it would accept what
// anyone signs, with another it would refuse every request.
func TestReceiversRefuseABadSecret(t *testing.T) {
	for _, r := range []struct{ interpreter, script string }{{"node", "receiver.js"}, {"python3", "receiver.py"}} {
		t.Run(r.script, func(t *testing.T) {
			path, err := exec.LookPath(r.interpreter)
			if err != nil {
				t.Skipf("the %s receiver needs %s on PATH", r.script, r.interpreter)
			}
			for _, c := range []struct{ name, secret string }{
				{"empty", ""},
				{"whsec_ alone", "whsec_"},
				{"8 bytes", "whsec_c2hvcnRrZXk="},
				{"not base64", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2La!!Sw"},
				{"two secrets", secret + " " + otherSecret},
			} {
				t.Run(c.name, func(t *testing.T) {
					t.Parallel()
					refusedStart(t, path, r.script, "WEBHOOK_SECRET", "WEBHOOK_SECRET="+c.secret, "PORT="+port(t))
				})
			}
		})
	}
}

// TestPythonReceiverRefusesABadReadTimeout: a READ_TIMEOUT that is not a
// number of seconds above 0 (and at most a day) stops the start naming
// it. The receiver took 0, which makes every socket non-blocking, and a
// negative or enormous value, which Python refuses for each connection:
// it listened and answered no request at all.
func TestPythonReceiverRefusesABadReadTimeout(t *testing.T) {
	path, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("the receiver.py receiver needs python3 on PATH")
	}
	for _, value := range []string{"0", "-1", "nan", "inf", "1e12", "soon"} {
		t.Run(value, func(t *testing.T) {
			t.Parallel()
			refusedStart(t, path, "receiver.py", "READ_TIMEOUT must be", "WEBHOOK_SECRET="+secret, "PORT="+port(t), "READ_TIMEOUT="+value)
		})
	}
}

// TestReceiversRefuseABadMaxConnections: a MAX_CONNECTIONS that is no
// whole number from 1 to 65535 stops the start naming it, rather than
// leaving the receiver unbounded or refusing every connection.
func TestReceiversRefuseABadMaxConnections(t *testing.T) {
	for _, r := range []struct{ interpreter, script string }{{"node", "receiver.js"}, {"python3", "receiver.py"}} {
		t.Run(r.script, func(t *testing.T) {
			path, err := exec.LookPath(r.interpreter)
			if err != nil {
				t.Skipf("the %s receiver needs %s on PATH", r.script, r.interpreter)
			}
			for _, value := range []string{"0", "-1", "1e3", "2.5", "65536", "many"} {
				t.Run(value, func(t *testing.T) {
					t.Parallel()
					refusedStart(t, path, r.script, "MAX_CONNECTIONS must be", "WEBHOOK_SECRET="+secret, "PORT="+port(t), "MAX_CONNECTIONS="+value)
				})
			}
		})
	}
}

// refusedStart runs the receiver script with env and fails the test
// unless it stops at its start with a message holding want. A receiver
// that listens instead of stopping is bounded: it fails the test, not
// hangs it.
func refusedStart(t *testing.T, path, script, want string, env ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, script)
	cmd.Env = append(cmd.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("%s runs with %q:\n%s", script, env, out)
	}
	if err == nil || !strings.Contains(string(out), want) {
		t.Fatalf("%s with %q: %v, want a failed start saying %q:\n%s", script, env, err, out, want)
	}
}

// port is a free loopback port for a receiver.
func port(t *testing.T) string {
	t.Helper()
	_, p, err := net.SplitHostPort(imtest.FreeAddr(t))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// rawStatus sends request, as written, to the receiver at url and returns
// the status of its answer.
func rawStatus(url, request string) (int, error) {
	c, err := net.Dial("tcp", strings.TrimSuffix(strings.TrimPrefix(url, "http://"), "/"))
	if err != nil {
		return 0, err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second)) // a receiver that hangs fails the test, not hangs it
	if _, err := io.WriteString(c, request); err != nil {
		return 0, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// sign is the webhook-signature of id, timestamp (as written) and body
// under secret's key, as the service would make it.
func sign(t *testing.T, id, timestamp, body string) string {
	t.Helper()
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		t.Fatal(err)
	}
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(id + "." + timestamp + "." + body))
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// neverEnding reads as an endless run of one byte.
type neverEnding byte

func (b neverEnding) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(b)
	}
	return len(p), nil
}

// waitAccepted waits until no connection waits in the accept queue of the
// TCP listener on port (Linux: /proc/net/tcp and tcp6, whose rx_queue of a
// listening socket is its queue's length), so that a connection made to it
// is one its server took. Elsewhere it skips the test.
func waitAccepted(t *testing.T, port string) {
	t.Helper()
	n, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	suffix := fmt.Sprintf(":%04X", n)
	queued := func() (int, bool) {
		found := false
		total := 0
		for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
			b, err := os.ReadFile(table)
			if err != nil {
				continue
			}
			for _, line := range strings.Split(string(b), "\n")[1:] {
				f := strings.Fields(line)
				// sl local_address rem_address st tx_queue:rx_queue …; st 0A is LISTEN.
				if len(f) < 5 || f[3] != "0A" || !strings.HasSuffix(f[1], suffix) {
					continue
				}
				_, rx, _ := strings.Cut(f[4], ":")
				q, err := strconv.ParseInt(rx, 16, 64)
				if err != nil {
					t.Fatalf("%s: %q", table, line)
				}
				found = true
				total += int(q)
			}
		}
		return total, found
	}
	if _, err := os.Stat("/proc/net/tcp"); err != nil {
		t.Skip("no /proc/net/tcp to see the listener's accept queue")
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		q, found := queued()
		if found && q == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the receiver did not take the connection within 30 s (listening %v, %d queued)", found, q)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
