package cli

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imcallback/imcallback/imtest"
)

// receiver is a callback endpoint that answers every request with the OK
// envelope and reports the path of each request it took.
func receiver(t *testing.T, tlsCert, tlsKey string) (srv *httptest.Server, port string, paths <-chan string) {
	t.Helper()
	got := make(chan string, 16)
	srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.URL.Path
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}`))
	}))
	if tlsCert != "" {
		pair, err := tls.LoadX509KeyPair(tlsCert, tlsKey)
		if err != nil {
			t.Fatal(err)
		}
		srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}}
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	_, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	return srv, port, got
}

// TestSendFollowsTheListenerVariables: send without --url posts to the
// public listener the environment configures, read as serve reads it
// (IMCALLBACK_LISTEN and IMCALLBACK_PATH trimmed, a wildcard host reached
// on loopback, blank the default; https:// trusting IMCALLBACK_TLS_CERT's
// certificate), not to a fixed 127.0.0.1:8080/im/callback; --url still
// wins, and a listener or path serve would refuse is refused, named.
func TestSendFollowsTheListenerVariables(t *testing.T) {
	certFile, keyFile, _ := imtest.SelfSigned(t)
	_, plainPort, plainPaths := receiver(t, "", "")
	_, tlsPort, tlsPaths := receiver(t, certFile, keyFile)
	_, otherPort, otherPaths := receiver(t, "", "")
	garbage := filepath.Join(t.TempDir(), "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "imcallback.yaml")
	if err := writeFile(file, "sdkappid: [1400000000]\nlisten: 127.0.0.1:"+tlsPort+"\npath: /file/cb\ntls_cert: "+certFile+"\ntls_key: "+keyFile+"\n"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		env      map[string]string
		args     []string
		paths    <-chan string // where the request must arrive; nil: an error
		wantPath string
		wantErr  string // in the error when paths is nil
	}{
		{"loopback listener and a custom path", map[string]string{"IMCALLBACK_LISTEN": "127.0.0.1:" + plainPort, "IMCALLBACK_PATH": "/hooks/tim"},
			nil, plainPaths, "/hooks/tim", ""},
		{"wildcard host, values with spaces", map[string]string{"IMCALLBACK_LISTEN": " :" + plainPort + " ", "IMCALLBACK_PATH": " /hooks/tim\t"},
			nil, plainPaths, "/hooks/tim", ""},
		{"names in lower case, as serve reads them", map[string]string{"IMCALLBACK_listen": "127.0.0.1:" + plainPort, "IMCALLBACK_Path": "/hooks/lower"},
			nil, plainPaths, "/hooks/lower", ""},
		{"a listener set twice", map[string]string{"IMCALLBACK_LISTEN": "127.0.0.1:" + plainPort, "IMCALLBACK_listen": "127.0.0.1:" + otherPort},
			nil, nil, "", "IMCALLBACK_LISTEN and IMCALLBACK_listen"},
		{"blank path: the default", map[string]string{"IMCALLBACK_LISTEN": "0.0.0.0:" + plainPort, "IMCALLBACK_PATH": "  "},
			nil, plainPaths, "/im/callback", ""},
		{"TLS listener", map[string]string{"IMCALLBACK_LISTEN": "127.0.0.1:" + tlsPort, "IMCALLBACK_PATH": "/secure/cb",
			"IMCALLBACK_TLS_CERT": certFile, "IMCALLBACK_TLS_KEY": keyFile},
			nil, tlsPaths, "/secure/cb", ""},
		{"TLS listener, --repeat", map[string]string{"IMCALLBACK_LISTEN": "127.0.0.1:" + tlsPort, "IMCALLBACK_PATH": "/secure/cb",
			"IMCALLBACK_TLS_CERT": certFile, "IMCALLBACK_TLS_KEY": keyFile},
			[]string{"--repeat", "2", "--concurrency", "2"}, tlsPaths, "/secure/cb", ""},
		{"TLS listener of --config", nil, []string{"--config", file}, tlsPaths, "/file/cb", ""},
		{"--url over the variables", map[string]string{"IMCALLBACK_LISTEN": "127.0.0.1:" + plainPort, "IMCALLBACK_PATH": "/hooks/tim"},
			[]string{"--url", "http://127.0.0.1:" + otherPort + "/given"}, otherPaths, "/given", ""},
		{"another setting serve refuses does not matter", map[string]string{"IMCALLBACK_LISTEN": "127.0.0.1:" + plainPort,
			"IMCALLBACK_BODY_LIMIT": "-1"}, nil, plainPaths, "/im/callback", ""},
		{"a path serve refuses", map[string]string{"IMCALLBACK_LISTEN": "127.0.0.1:" + plainPort, "IMCALLBACK_PATH": "hooks"},
			nil, nil, "", "IMCALLBACK_PATH"},
		{"a path with a query", map[string]string{"IMCALLBACK_LISTEN": "127.0.0.1:" + plainPort, "IMCALLBACK_PATH": "/cb?x=1"},
			nil, nil, "", "IMCALLBACK_PATH"},
		{"a non-ASCII path", map[string]string{"IMCALLBACK_LISTEN": "127.0.0.1:" + plainPort, "IMCALLBACK_PATH": "/回调"},
			nil, plainPaths, "/回调", ""},
		{"an escaped path", map[string]string{"IMCALLBACK_LISTEN": "127.0.0.1:" + plainPort, "IMCALLBACK_PATH": "/im%20cb"},
			nil, nil, "", `IMCALLBACK_PATH (path): "/im%20cb" is percent-escaped as net/http escapes`},
		{"a listener without a port", map[string]string{"IMCALLBACK_LISTEN": "127.0.0.1"}, nil, nil, "", "IMCALLBACK_LISTEN"},
		{"a certificate that is none", map[string]string{"IMCALLBACK_LISTEN": "127.0.0.1:" + tlsPort, "IMCALLBACK_TLS_CERT": garbage},
			nil, nil, "", "IMCALLBACK_TLS_CERT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, name := range []string{"IMCALLBACK_LISTEN", "IMCALLBACK_PATH", "IMCALLBACK_TLS_CERT", "IMCALLBACK_TLS_KEY", "IMCALLBACK_TOKENS"} {
				t.Setenv(name, "")
			}
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			args := append([]string{"send", "--command", "Group.CallbackAfterCreateTopic", "--sample"}, tt.args...)
			out, err := runCLI(t, args...)
			if tt.paths == nil {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("send: %v (output %q), want an error naming %s", err, out, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("send: %v\n%s", err, out)
			}
			select {
			case got := <-tt.paths:
				if got != tt.wantPath {
					t.Fatalf("the request arrived at %s, want %s", got, tt.wantPath)
				}
			default:
				t.Fatalf("send succeeded (output %q) but no request arrived at the listener", out)
			}
			for len(tt.paths) > 0 { // --repeat: the others
				<-tt.paths
			}
		})
	}
	for name, paths := range map[string]<-chan string{"plain": plainPaths, "TLS": tlsPaths, "other": otherPaths} {
		if n := len(paths); n > 0 {
			t.Errorf("%d request(s) arrived at the %s listener that no case expected", n, name)
		}
	}
}

// TestSendURLErrorHidesSecrets: a --url send refuses as no http(s) URL
// with a host (its scheme left out, as is easy to do) is named in the
// error without its password or its query string, which may carry a
// gateway's key, as adminBase names --admin: the error goes to a
// terminal or a CI log.
func TestSendURLErrorHidesSecrets(t *testing.T) {
	tests := []struct{ name, url, secret string }{
		{"a query key without a scheme", "cb.example.com/im/callback?key=s3cr3t-key", "s3cr3t-key"},
		{"a password without a scheme", "user:s3cr3t-pw@cb.example.com:8443/im/callback", "s3cr3t-pw"},
		{"a password with another scheme", "ftp://user:s3cr3t-pw@cb.example.com/im/callback", "s3cr3t-pw"},
		{"a fragment", "cb.example.com/im/callback#s3cr3t-frag", "s3cr3t-frag"},
		// A key put where a user goes, alone or before an empty password.
		{"a user alone with another scheme", "ftp://s3cr3t-key@cb.example.com/im/callback", "s3cr3t-key"},
		{"a user alone without a scheme", "s3cr3t-key@cb.example.com:8443/im/callback", "s3cr3t-key"},
		{"an empty password with another scheme", "ftp://s3cr3t-key:@cb.example.com/im/callback", "s3cr3t-key"},
		{"a ',' in a user alone", "ftp://s3cr3t,key@cb.example.com/im/callback", "s3cr3t"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := runCLI(t, "send", "--url", tt.url, "--token", "t", "--command", "Group.CallbackAfterCreateTopic", "--sample")
			if err == nil || !strings.Contains(err.Error(), "--url") {
				t.Fatalf("send --url %s: %v, want the --url refused\n%s", tt.url, err, out)
			}
			if strings.Contains(err.Error()+out, tt.secret) {
				t.Errorf("the refusal shows the secret %q: %v\n%s", tt.secret, err, out)
			}
		})
	}
}

// TestSendWithoutAnAnswerHidesTheUserInfo: a send nothing answered names
// its --url without any part of its user info, a key put where a user
// goes (http://KEY@host, http://KEY:@host) included.
func TestSendWithoutAnAnswerHidesTheUserInfo(t *testing.T) {
	addr := imtest.FreeAddr(t) // nothing listens there
	for _, userinfo := range []string{"s3cr3t-key", "s3cr3t-key:", "s3cr3t-user:s3cr3t-pw"} {
		t.Run(userinfo, func(t *testing.T) {
			url := "http://" + userinfo + "@" + addr + "/im/callback"
			out, err := runCLI(t, "send", "--url", url, "--token", "t", "--command", "Group.CallbackAfterCreateTopic", "--sample")
			want := "nothing listens at http://[redacted]@" + addr + "/im/callback"
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("send --url %s: %v, want %q\n%s", url, err, want, out)
			}
			if strings.Contains(err.Error()+out, "s3cr3t") {
				t.Errorf("the error shows the user info: %v\n%s", err, out)
			}
		})
	}
}

// TestSendRefusesAnEmptyPlatform: --platform "" (an unset shell variable)
// was taken and replaced by RESTAPI without a word, so a test of a
// callback without an OptPlatform sent one all the same; it is refused,
// before anything is sent, as send's other empty selections are.
func TestSendRefusesAnEmptyPlatform(t *testing.T) {
	_, port, paths := receiver(t, "", "")
	for _, platform := range []string{"", " "} {
		for _, repeat := range []string{"1", "3"} {
			out, err := runCLI(t, "send", "--url", "http://127.0.0.1:"+port+"/cb", "--token", "t", "--platform", platform,
				"--repeat", repeat, "--command", "Group.CallbackAfterCreateTopic", "--sample")
			if err == nil || !strings.Contains(err.Error(), "--platform is empty") {
				t.Errorf("--platform %q --repeat %s: %v, want it refused\n%s", platform, repeat, err, out)
			}
		}
	}
	select {
	case p := <-paths:
		t.Errorf("a request was sent (%s) with an empty --platform", p)
	default:
	}
}

// TestSendRefusesAnEmptyAppID: --appid "" (an unset shell variable) sent
// the callback without SdkAppid, which IM never does, signed with the
// global token: an endpoint that does not check the app answered it as
// allowed, and imcallback's 403 blamed its own allowlist. It is refused
// before anything is sent, as an empty --platform is, with or without
// --config.
func TestSendRefusesAnEmptyAppID(t *testing.T) {
	_, port, paths := receiver(t, "", "")
	file := filepath.Join(t.TempDir(), "imcallback.yaml")
	if err := writeFile(file, "sdkappid: [1400000077]\ntokens: [file-token]\n"); err != nil {
		t.Fatal(err)
	}
	for _, appID := range []string{"", " "} {
		for _, extra := range [][]string{{"--repeat", "1"}, {"--repeat", "3"}, {"--config", file}} {
			args := append([]string{"send", "--url", "http://127.0.0.1:" + port + "/cb", "--token", "t", "--appid", appID,
				"--command", "Group.CallbackAfterCreateTopic", "--sample"}, extra...)
			out, err := runCLI(t, args...)
			if err == nil || !strings.Contains(err.Error(), "--appid is empty") || out != "" {
				t.Errorf("--appid %q %v: %v, want it refused\n%s", appID, extra, err, out)
			}
		}
	}
	select {
	case p := <-paths:
		t.Errorf("a request was sent (%s) with an empty --appid", p)
	default:
	}
}

// TestSendWithoutAnAnswerSaysWhatToDo: a send that got no answer named
// only Go's cause, "context deadline exceeded" or "connection refused",
// not the --timeout that ran out nor what to do.
func TestSendWithoutAnAnswerSaysWhatToDo(t *testing.T) {
	silent := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		// Read first: the server sees the client go only once the body is read.
		_, _ = io.Copy(io.Discard, r.Body)
		<-r.Context().Done() // no answer until the client goes
	}))
	t.Cleanup(silent.Close)
	nobody := "http://" + imtest.FreeAddr(t) + "/im/callback"
	certFile, keyFile, _ := imtest.SelfSigned(t)
	_, tlsPort, _ := receiver(t, certFile, keyFile)
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{"no answer in time", []string{"--url", silent.URL + "/im/callback", "--timeout", "50ms"},
			[]string{"no answer within --timeout 50ms", "a longer --timeout", "context deadline exceeded"}},
		{"nothing listens", []string{"--url", nobody},
			[]string{"nothing listens at " + nobody, "imcallback serve", "--url", "connection refused"}},
		{"a certificate not trusted", []string{"--url", "https://127.0.0.1:" + tlsPort + "/im/callback"},
			[]string{"the certificate of https://127.0.0.1:" + tlsPort + "/im/callback is not trusted here",
				"IMCALLBACK_TLS_CERT", "without --url", "x509"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"send", "--command", "Group.CallbackAfterCreateTopic", "--sample", "--token", ""}, tt.args...)
			out, err := runCLI(t, args...)
			for _, w := range tt.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("err = %v, want it to say %q (output %q)", err, w, out)
				}
			}
		})
	}
}

// TestSendNotesACommandInAnotherCase: a --command the catalogue knows only
// in another case (group.callbackaftercreatetopic) is none the service
// handles, which answers it as allowed: send printed "ok" alone, as if a
// handler had run. The answer is still printed and the exit is still
// the answer's; standard error notes the catalogue's spelling.
func TestSendNotesACommandInAnotherCase(t *testing.T) {
	srv, _, _ := receiver(t, "", "")
	body := filepath.Join(t.TempDir(), "body.json")
	if err := writeFile(body, `{"GroupId":"@TGS#1"}`); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		command string
		note    bool
	}{
		{"group.callbackaftercreatetopic", true},
		{" Group.CallbackAfterCreateTopic", true},
		{"Group.CallbackAfterCreateTopic", false},
		{"Custom.Command", false}, // a name of no catalogue command in any case: a program's own, perhaps
	}
	for _, tt := range tests {
		t.Run(tt.command, func(t *testing.T) {
			var out, errOut bytes.Buffer
			root := newRootCmd(&out, &errOut)
			root.SetArgs([]string{"send", "--url", srv.URL + "/im/callback", "--token", "", "--command", tt.command, "--file", body})
			if err := root.ExecuteContext(context.Background()); err != nil {
				t.Fatalf("%v\n%s", err, out.String())
			}
			if !strings.HasSuffix(out.String(), "ok\n") || strings.Contains(out.String(), "note:") {
				t.Errorf("standard output %q, want the answer alone", out.String())
			}
			noted := strings.Contains(errOut.String(), "note:") && strings.Contains(errOut.String(), "Group.CallbackAfterCreateTopic") &&
				strings.Contains(errOut.String(), "case-sensitive")
			if noted != tt.note {
				t.Errorf("standard error %q; want a note naming the catalogue's spelling: %v", errOut.String(), tt.note)
			}
		})
	}
}

// TestSendNamesTheCountItRefuses: a --repeat or --concurrency under 1 (a
// script's variable) is refused naming that flag and its value, not "--repeat
// and --concurrency must be at least 1", which left the operator to find
// which of the two was wrong, and before anything is sent.
func TestSendNamesTheCountItRefuses(t *testing.T) {
	_, port, paths := receiver(t, "", "")
	for _, tt := range []struct {
		repeat, concurrency string
		want, wrong         string
	}{
		{"0", "1", "--repeat 0: ", "--concurrency"},
		{"-3", "1", "--repeat -3: ", "--concurrency"},
		{"5", "0", "--concurrency 0: ", "--repeat"},
		{"0", "0", "--repeat 0: ", "--concurrency"}, // the first refused
	} {
		out, err := runCLI(t, "send", "--url", "http://127.0.0.1:"+port+"/cb", "--token", "t", "--repeat", tt.repeat,
			"--concurrency", tt.concurrency, "--command", "Group.CallbackAfterCreateTopic", "--sample")
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "at least 1") ||
			strings.Contains(err.Error(), tt.wrong) {
			t.Errorf("--repeat %s --concurrency %s: %v, want it refused as %q…\n%s", tt.repeat, tt.concurrency, err, tt.want, out)
		}
	}
	select {
	case p := <-paths:
		t.Errorf("a request was sent (%s) with a count under 1", p)
	default:
	}
}

// TestSendSaysWhereARedirectGoes: IM follows no redirect (a proxy's
// http-to-https 308, a path's missing slash), and counts the callback as
// failed. send printed "HTTP 308" and an error about an empty answer that
// is no JSON object, without saying it was a redirect or to where; the
// error now names the target, without the query string the redirect may
// have copied from the request (its Sign) or any user info, and says to
// give --url that address.
func TestSendSaysWhereARedirectGoes(t *testing.T) {
	for _, status := range []int{http.StatusMovedPermanently, http.StatusPermanentRedirect} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Location", "https://s3cr3t-user@cb.example.com"+r.URL.RequestURI())
				w.WriteHeader(status)
			}))
			t.Cleanup(srv.Close)
			out, err := runCLI(t, "send", "--url", srv.URL+"/im/callback", "--token", "s3cr3t-token",
				"--command", "Group.CallbackAfterCreateTopic", "--sample")
			want := "redirects to https://[redacted]@cb.example.com/im/callback?[redacted]"
			if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "--url") {
				t.Fatalf("err = %v, want it to say %q and what to give --url\n%s", err, want, out)
			}
			if strings.Contains(err.Error()+out, "s3cr3t") || strings.Contains(err.Error()+out, "Sign=") {
				t.Errorf("the error shows a secret of the redirect's target: %v\n%s", err, out)
			}
		})
	}
}

// TestSendResolvesARelativeRedirect: a path's missing slash is redirected
// with a Location of the path alone (Go's ServeMux, many frameworks): the
// error named "/im/callback/", which is no address --url takes; it now names
// the address the redirect leads to, resolved against the URL sent to.
func TestSendResolvesARelativeRedirect(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/im/callback/", func(http.ResponseWriter, *http.Request) {})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	_, err := runCLI(t, "send", "--url", srv.URL+"/im/callback", "--token", "s3cr3t-token",
		"--command", "Group.CallbackAfterCreateTopic", "--sample")
	want := "redirects to " + srv.URL + "/im/callback/?[redacted]"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v, want it to say %q", err, want)
	}
}
