package cli

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/imcallback/imcallback/config"
)

// TestSendFindsTheTokensAsTheServiceDoes: without --token and --config,
// send signs with the token the service built from the same environment
// verifies the app with (config.SigningToken), its variables found as the
// service finds them: a name in any case after IMCALLBACK_ is the
// setting's, so a token set as IMCALLBACK_tokens is not left out (send
// signed nothing and got 401); a per-app variable is found in any case
// after IMCALLBACK_, APP_ included, by both; two variables setting the tokens
// differently stop both.
func TestSendFindsTheTokensAsTheServiceDoes(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    string
		wantErr string
	}{
		{"upper case", map[string]string{"IMCALLBACK_TOKENS": "tok-g"}, "tok-g", ""},
		{"global in lower case", map[string]string{"IMCALLBACK_tokens": "tok-lower, tok-next"}, "tok-lower", ""},
		{"global in mixed case", map[string]string{"IMCALLBACK_Tokens": "tok-mixed"}, "tok-mixed", ""},
		{"the app's own in lower case", map[string]string{"IMCALLBACK_TOKENS": "tok-g", "IMCALLBACK_APP_1400000001_tokens": "tok-own"}, "tok-own", ""},
		{"the app's own blank: the global", map[string]string{"IMCALLBACK_tokens": "tok-g", "IMCALLBACK_APP_1400000001_TOKENS": " "}, "tok-g", ""},
		{"app_ in lower case", map[string]string{"IMCALLBACK_TOKENS": "tok-g", "IMCALLBACK_app_1400000001_TOKENS": "tok-own"}, "tok-own", ""},
		{"set twice", map[string]string{"IMCALLBACK_TOKENS": "tok-a", "IMCALLBACK_tokens": "tok-b"}, "",
			"IMCALLBACK_TOKENS (tokens): set more than once with different values, as IMCALLBACK_TOKENS and IMCALLBACK_tokens"},
		{"none", nil, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, kv := range os.Environ() {
				if name, _, _ := strings.Cut(kv, "="); strings.HasPrefix(strings.ToUpper(name), "IMCALLBACK_") {
					t.Setenv(name, "") // blank: unset for send and the service alike
				}
			}
			t.Setenv("IMCALLBACK_SDKAPPID", "1400000001")
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			got, err := envToken("1400000001")
			cfg, loadErr := config.Load(config.Source{})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "tok-") {
					t.Fatalf("send's token: %q, %v; want an error %q", got, err, tt.wantErr)
				}
				if loadErr == nil {
					t.Fatal("the service loads the environment send refuses")
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("send's token: %q, %v; want %q", got, err, tt.want)
			}
			if loadErr != nil {
				t.Fatal(loadErr)
			}
			if service := cfg.SigningToken("1400000001"); service != got {
				t.Errorf("send signs with %q, the service verifies with %q", got, service)
			}
		})
	}
	// The app id is found the same way.
	t.Setenv("IMCALLBACK_SDKAPPID", "")
	t.Setenv("IMCALLBACK_sdkappid", "1400000005")
	if id, err := firstOf("sdkappid", "1400000000"); err != nil || id != "1400000005" {
		t.Errorf("app id %q, %v; want 1400000005 of IMCALLBACK_sdkappid", id, err)
	}
}

// TestSendWithConfigSignsAnAppTheFileLacks: with --config, an --appid the
// file does not accept is signed with the file's first global token, as
// it is without --config, so the service refuses it for the app it names;
// it used to go unsigned. The file's own apps keep their own tokens.
func TestSendWithConfigSignsAnAppTheFileLacks(t *testing.T) {
	signs := make(chan url.Values, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		signs <- r.URL.Query()
		_, _ = io.WriteString(w, `{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}`)
	}))
	t.Cleanup(srv.Close)
	file := filepath.Join(t.TempDir(), "imcallback.yaml")
	if err := writeFile(file, "sdkappid: [1400000077, 1400000078]\ntokens: [file-token, next-token]\n"+
		"apps:\n  - sdkappid: \"1400000078\"\n    tokens: [own-token]\n"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		appID string
		token string
	}{
		{"1400000077", "file-token"},
		{"1400000078", "own-token"},
		{"1400000099", "file-token"},
	}
	for _, tt := range tests {
		t.Run(tt.appID, func(t *testing.T) {
			out, err := runCLI(t, "send", "--config", file, "--url", srv.URL, "--appid", tt.appID,
				"--command", "Group.CallbackAfterCreateTopic", "--sample")
			if err != nil {
				t.Fatalf("send: %v\n%s", err, out)
			}
			q := <-signs
			sum := sha256.Sum256([]byte(tt.token + q.Get("RequestTime")))
			if q.Get("SdkAppid") != tt.appID || q.Get("Sign") != hex.EncodeToString(sum[:]) {
				t.Errorf("sent SdkAppid %q with Sign %q; want it signed with %s", q.Get("SdkAppid"), q.Get("Sign"), tt.token)
			}
		})
	}
}

// TestSendWithAnEmptyTokenSendsUnsigned: --token "" sends the callback
// without Sign and RequestTime, as the README and --help say, though
// IMCALLBACK_TOKENS names a token it would sign with otherwise.
func TestSendWithAnEmptyTokenSendsUnsigned(t *testing.T) {
	sent := make(chan url.Values, 2)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sent <- r.URL.Query()
		_, _ = io.WriteString(w, `{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":""}`)
	}))
	t.Cleanup(srv.Close)
	t.Setenv("IMCALLBACK_TOKENS", "env-token")
	for _, tt := range []struct {
		name   string
		args   []string
		signed bool
	}{
		{"without --token", nil, true},
		{"with --token \"\"", []string{"--token", ""}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"send", "--url", srv.URL, "--command", "Group.CallbackAfterCreateTopic", "--sample"}, tt.args...)
			if out, err := runCLI(t, args...); err != nil {
				t.Fatalf("send: %v\n%s", err, out)
			}
			q := <-sent
			if signed := q.Has("Sign") && q.Has("RequestTime"); signed != tt.signed {
				t.Errorf("sent %v: signed %v, want %v", q, signed, tt.signed)
			}
		})
	}
}
