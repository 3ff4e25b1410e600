package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/imcallback/imcallback/config"
)

const whsec = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

func TestForwardFromTheFile(t *testing.T) {
	file := writeTemp(t, `sdkappid: ["1400000001"]
forward:
  - name: backend
    match: ["Group.*", "C2C.CallbackAfterSendMsg"]
    apps: ["1400000001"]
    url: "https://backend.internal/im/events"
    secret: "`+whsec+`"
    timeout: 3s
  - name: moderation
    match: ["C2C.CallbackBeforeSendMsg"]
    url: "http://moderation.internal/decide"
    secret: "`+whsec+`"
`)
	c, err := config.Load(config.Source{File: file, Environ: env()})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Forward) != 2 || c.Forward[0].Timeout != 3*time.Second || c.Forward[1].Timeout != config.DefaultForwardTimeout {
		t.Fatalf("forward %+v", c.Forward)
	}
	for _, m := range []struct {
		dest         int
		command, app string
		want         bool
	}{
		{0, "Group.CallbackAfterCreateTopic", "1400000001", true},
		{0, "Group.CallbackAfterCreateTopic", "1400000002", false},
		{0, "C2C.CallbackAfterSendMsg", "", true},
		{0, "C2C.CallbackBeforeSendMsg", "", false},
		{1, "C2C.CallbackBeforeSendMsg", "1400000002", true},
	} {
		if got := c.Forward[m.dest].Matches(m.command, m.app); got != m.want {
			t.Errorf("%s matches %s for %q: %v, want %v", c.Forward[m.dest].Name, m.command, m.app, got, m.want)
		}
	}
	if y := c.YAML(); strings.Contains(y, "MfKQ9r8") || !strings.Contains(y, "name: moderation") {
		t.Errorf("config check shows:\n%s", y)
	}
}

func TestForwardFromTheEnvironment(t *testing.T) {
	c, err := config.Load(config.Source{Environ: env("IMCALLBACK_SDKAPPID=1400000001",
		"IMCALLBACK_FORWARD_URL=http://127.0.0.1:8090/", "IMCALLBACK_FORWARD_SECRET="+whsec)})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Forward) != 1 || c.Forward[0].Name != config.DefaultForwardName || c.Forward[0].Match[0] != "*" {
		t.Fatalf("forward %+v", c.Forward)
	}
	if len(c.Notes()) != 0 && strings.Contains(strings.Join(c.Notes(), " "), "FORWARD") {
		t.Errorf("notes %v: the forward variables are settings", c.Notes())
	}
}

func TestForwardMistakes(t *testing.T) {
	for _, tc := range []struct{ name, yaml, want string }{
		{"a timeout without a unit", "timeout: 5", "timeout: "},
		{"a misspelt key", "matchs: [\"*\"]", "unknown key forward[0].matchs; did you mean forward[0].match?"},
		{"an app not configured", "apps: [\"1400000009\"]", `app "1400000009" is not one of the configured apps (IMCALLBACK_SDKAPPID, or an apps entry)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := writeTemp(t, "sdkappid: [\"1400000001\"]\nforward:\n  - name: x\n    match: [\"*\"]\n    url: http://h/\n    secret: \""+whsec+"\"\n    "+tc.yaml+"\n")
			_, err := config.Load(config.Source{File: file, Environ: env()})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one with %q", err, tc.want)
			}
		})
	}
	_, err := config.Load(config.Source{Environ: env("IMCALLBACK_SDKAPPID=1400000001",
		"IMCALLBACK_FORWARD_URL=http://h/", "IMCALLBACK_FORWARD_SECRET=whsec_c2hvcnQ=")})
	if err == nil || !strings.Contains(err.Error(), "decodes to 5 bytes") {
		t.Errorf("a short secret: %v", err)
	}
	for url, want := range map[string]string{
		"http://user:hunter2@backend.internal/im": "a user and password over http",
		"http://:8080/im":                         "with a host",
		"https://backend.internal/im#part":        "has a fragment",
		"http://backend.internal:99999/im":        "has port 99999, not one from 1 to 65535",
		"https://backend.internal:0/im":           "has port 0, not one from 1 to 65535",
		// A user info with an unescaped '?' or '/': the host would be
		// "hunter2", shown in every log line and dial error.
		"https://hunter2?x@backend.internal/im":       "has an '@' after its host",
		"https://user:1234/hunter2@backend.internal/": "has an '@' after its host",
		"https://backend.internal/im?to=a@b":          "has an '@' after its host",
		// A space inside: url.Parse takes it into the path, and every
		// request went to "/im%20https://…", which the destination does
		// not serve (a 404, retried for the whole backoff).
		"https://backend.internal/im https://other.internal/im": "whitespace",
		"https://backend.internal/my\u00a0hook":                 "whitespace",
	} {
		_, err := config.Load(config.Source{Environ: env("IMCALLBACK_SDKAPPID=1400000001",
			"IMCALLBACK_FORWARD_URL="+url, "IMCALLBACK_FORWARD_SECRET="+whsec)})
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("url %s: %v, want an error saying %q without the password", url, err, want)
		}
	}
	for _, url := range []string{"https://user:pw@backend.internal/im", "http://backend.internal:65535/im", "http://[::1]:8090/im"} {
		if _, err := config.Load(config.Source{Environ: env("IMCALLBACK_SDKAPPID=1400000001",
			"IMCALLBACK_FORWARD_URL="+url, "IMCALLBACK_FORWARD_SECRET="+whsec)}); err != nil {
			t.Errorf("url %s: %v", url, err)
		}
	}
}

// TestForwardEnvProblemsNameTheVariables: a problem of the destination of
// IMCALLBACK_FORWARD_URL names the variable that set the bad value, not
// IMCALLBACK_FORWARD, which is refused; an entry of the file keeps forward.
// Its name, default, taken by an entry of the file is said of the
// variable too: it was "forward[1] (default): name "default" is used
// twice", an entry the file does not have.
func TestForwardEnvProblemsNameTheVariables(t *testing.T) {
	for _, tc := range []struct {
		env  []string
		want string
	}{
		{[]string{"IMCALLBACK_FORWARD_URL=http://h/"}, "IMCALLBACK_FORWARD_SECRET (forward_secret): forward[0] (default): secret required"},
		{[]string{"IMCALLBACK_FORWARD_URL=ftp://h/", "IMCALLBACK_FORWARD_SECRET=" + whsec}, "IMCALLBACK_FORWARD_URL (forward_url): forward[0] (default): url"},
		{[]string{"IMCALLBACK_FORWARD_URL=http://h/", "IMCALLBACK_FORWARD_SECRET=" + whsec, "IMCALLBACK_FORWARD_MATCH=Group.[x"}, "IMCALLBACK_FORWARD_MATCH (forward_match): forward[0] (default): match"},
	} {
		_, err := config.Load(config.Source{Environ: env(append([]string{"IMCALLBACK_SDKAPPID=1400000001"}, tc.env...)...)})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want an error with %q", tc.env, err, tc.want)
		}
	}
	file := writeTemp(t, "sdkappid: [\"1400000001\"]\nforward:\n  - name: x\n    match: [\"*\"]\n    url: http://h/\n")
	_, err := config.Load(config.Source{File: file, Environ: env("IMCALLBACK_FORWARD_URL=http://h2/", "IMCALLBACK_FORWARD_SECRET="+whsec)})
	if err == nil || !strings.Contains(err.Error(), "forward[0] (x): secret required") ||
		strings.Contains(err.Error(), "forward_secret") {
		t.Errorf("an entry of the file: %v", err)
	}
	// The variables' destination, named default, beside a file's entry of
	// that name: said of the variable, not of an entry forward[1] the
	// file does not have.
	file = writeTemp(t, "sdkappid: [\"1400000001\"]\nforward:\n  - name: default\n    match: [\"*\"]\n    url: http://h/\n    secret: "+whsec+"\n")
	_, err = config.Load(config.Source{File: file, Environ: env("IMCALLBACK_FORWARD_URL=http://h2/", "IMCALLBACK_FORWARD_SECRET="+whsec)})
	if want := "IMCALLBACK_FORWARD_URL (forward_url): forward[1] (default): the destination of IMCALLBACK_FORWARD_URL is named default, " +
		"as the file's forward[0] is"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("the variables' destination named as a file's entry: %v, want an error with %q", err, want)
	}
}

func TestStreamReplicas(t *testing.T) {
	for _, tc := range []struct {
		env  []string
		want string // "" is valid
	}{
		{[]string{}, ""},
		{[]string{"IMCALLBACK_STREAM_REPLICAS=3", "IMCALLBACK_NATS_URL=nats://a:4222,nats://b:4222"}, ""},
		{[]string{"IMCALLBACK_STREAM_REPLICAS=3"}, "IMCALLBACK_STREAM_REPLICAS (stream_replicas): 3 needs a NATS cluster: the embedded server is a single node"},
		{[]string{"IMCALLBACK_STREAM_REPLICAS=3", "IMCALLBACK_DELIVERY=inline"}, ""},
		{[]string{"IMCALLBACK_STREAM_REPLICAS=7", "IMCALLBACK_NATS_URL=nats://a:4222"}, "7 must be from 1 to 5"},
	} {
		c, err := config.Load(config.Source{Environ: env(append(tc.env, "IMCALLBACK_SDKAPPID=1400000001")...)})
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%v: %v", tc.env, err)
		case tc.want == "" && len(tc.env) == 0 && c.StreamReplicas != 1:
			t.Errorf("default replicas %d, want 1", c.StreamReplicas)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%v: %v, want %q", tc.env, err, tc.want)
		}
	}
}

// Two more secrets of 24 bytes, for rotation.
const (
	whsecNew   = "whsec_bmV3LXNlY3JldC1mb3Itcm90YXRpb24h"
	whsecThird = "whsec_dGhpcmQtc2VjcmV0LWZvci1yb3RhdGlvbg=="
)

// TestForwardSecretRotation: a destination's secret may hold several,
// separated by spaces, in the file and in IMCALLBACK_FORWARD_SECRET; each
// is a key, in order, and config check shows how many without showing any.
func TestForwardSecretRotation(t *testing.T) {
	file := writeTemp(t, `sdkappid: ["1400000001"]
forward:
  - name: backend
    match: ["Group.*"]
    url: "https://backend.internal/im/events"
    secret: "`+whsec+`  `+whsecNew+`"
`)
	fromFile, err := config.Load(config.Source{File: file, Environ: env()})
	if err != nil {
		t.Fatal(err)
	}
	fromEnv, err := config.Load(config.Source{Environ: env("IMCALLBACK_SDKAPPID=1400000001",
		"IMCALLBACK_FORWARD_URL=http://127.0.0.1:8090/", "IMCALLBACK_FORWARD_SECRET="+whsec+" "+whsecNew+" "+whsecThird+" ")})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		c    *config.Config
		want []string
	}{{fromFile, []string{whsec, whsecNew}}, {fromEnv, []string{whsec, whsecNew, whsecThird}}} {
		keys, err := tc.c.Forward[0].SecretKeys()
		if err != nil || len(keys) != len(tc.want) {
			t.Fatalf("keys %d, %v; want %d", len(keys), err, len(tc.want))
		}
		for i, s := range tc.want {
			if one, _ := (config.ForwardConfig{Secret: s}).SecretKey(); string(keys[i]) != string(one) {
				t.Errorf("key #%d is not that of secret #%d", i+1, i+1)
			}
		}
		y := tc.c.YAML()
		for _, s := range tc.want {
			if strings.Contains(y, strings.TrimPrefix(s, "whsec_")[:12]) {
				t.Errorf("config check shows a secret:\n%s", y)
			}
		}
		if want := "secret: '" + strings.TrimSuffix(strings.Repeat("[redacted] ", len(tc.want)), " ") + "'"; !strings.Contains(y, want) {
			t.Errorf("config check lacks %q:\n%s", want, y)
		}
	}
	// One secret, as before: one key, one [redacted].
	one, err := config.Load(config.Source{Environ: env("IMCALLBACK_SDKAPPID=1400000001",
		"IMCALLBACK_FORWARD_URL=http://127.0.0.1:8090/", "IMCALLBACK_FORWARD_SECRET="+whsec)})
	if err != nil {
		t.Fatal(err)
	}
	if keys, err := one.Forward[0].SecretKeys(); err != nil || len(keys) != 1 {
		t.Errorf("one secret: %d keys, %v", len(keys), err)
	}
	if y := one.YAML(); !strings.Contains(y, "secret: '[redacted]'\n") {
		t.Errorf("one secret in config check:\n%s", y)
	}
}

// TestForwardSecretRotationMistakes: each of several secrets is checked as
// one is; the problem names the variable or key and the secret's position,
// and quotes none of them.
func TestForwardSecretRotationMistakes(t *testing.T) {
	for _, tc := range []struct{ name, secret, want string }{
		{"the second too short", whsec + " whsec_c2hvcnQ=", "secret #2 decodes to 5 bytes"},
		{"the first not base64", "whsec_not*base64*at*all " + whsecNew, "secret #1 is not base64 after whsec_"},
		{"the second without whsec_", whsec + " " + strings.TrimPrefix(whsecNew, "whsec_"), "secret #2 does not begin with whsec_"},
		{"a secret broken by a space", "whsec_MfKQ9r8GKYqr TwjUPD8ILPZIo2LaLaSw", "secret #2 does not begin with whsec_"},
		{"an empty whsec_", whsec + " whsec_", "secret #2 required"},
		// A comma separates the values of the other list variables
		// (IMCALLBACK_SDKAPPID, _FORWARD_MATCH): it was refused as "not
		// base64", which each secret is.
		{"two separated by a comma", whsec + "," + whsecNew, "secret has a comma, which no base64 has: several secrets are separated by spaces"},
		{"two separated by a comma and a space", whsec + ", " + whsecNew, "secret #1 has a comma, which no base64 has: several secrets are separated by spaces"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, envErr := config.Load(config.Source{Environ: env("IMCALLBACK_SDKAPPID=1400000001",
				"IMCALLBACK_FORWARD_URL=http://h/", "IMCALLBACK_FORWARD_SECRET="+tc.secret)})
			file := writeTemp(t, "sdkappid: [\"1400000001\"]\nforward:\n  - name: x\n    match: [\"*\"]\n    url: http://h/\n    secret: \""+tc.secret+"\"\n")
			_, fileErr := config.Load(config.Source{File: file, Environ: env()})
			for _, c := range []struct {
				err  error
				want string
			}{
				{envErr, "IMCALLBACK_FORWARD_SECRET (forward_secret): forward[0] (default): " + tc.want},
				{fileErr, "forward[0] (x): " + tc.want},
			} {
				if c.err == nil || !strings.Contains(c.err.Error(), c.want) {
					t.Errorf("%v, want an error with %q", c.err, c.want)
					continue
				}
				for _, s := range strings.Fields(tc.secret) {
					if s = strings.TrimPrefix(s, "whsec_"); len(s) >= 6 && strings.Contains(c.err.Error(), s[:6]) {
						t.Errorf("the error quotes a secret: %v", c.err)
					}
				}
			}
		})
	}
}

// TestForwardOneSecretWithSpaces: one secret with spaces around it (an
// environment variable or a file with a stray space) is that secret, as
// each of several is; spaces alone are no secret.
func TestForwardOneSecretWithSpaces(t *testing.T) {
	want, err := (config.ForwardConfig{Secret: whsec}).SecretKey()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, secret, wantErr string }{
		{"a space after", whsec + " ", ""},
		{"a space before", " " + whsec, ""},
		{"a tab and a line break", "\t" + whsec + "\n", ""},
		{"spaces alone", "   ", "required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			keys, err := (config.ForwardConfig{Secret: tc.secret}).SecretKeys()
			switch {
			case tc.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("SecretKeys: %v, want an error with %q", err, tc.wantErr)
				}
			case err != nil || len(keys) != 1 || string(keys[0]) != string(want):
				t.Errorf("SecretKeys: %d keys, %v; want the one key of the secret", len(keys), err)
			}
		})
	}
}

// TestForwardVariablesWithoutTheURL: IMCALLBACK_FORWARD_SECRET or _MATCH
// without IMCALLBACK_FORWARD_URL configures no destination; the start is
// refused, naming the variable, rather than run without forwarding and
// answer every callback meant for the destination as an unknown command.
func TestForwardVariablesWithoutTheURL(t *testing.T) {
	for _, tc := range []struct {
		env  []string
		want []string
	}{
		{[]string{"IMCALLBACK_FORWARD_SECRET=" + whsec}, []string{"IMCALLBACK_FORWARD_SECRET (forward_secret): set without IMCALLBACK_FORWARD_URL"}},
		{[]string{"IMCALLBACK_FORWARD_MATCH=Group.*"}, []string{"IMCALLBACK_FORWARD_MATCH (forward_match): set without IMCALLBACK_FORWARD_URL"}},
		{[]string{"IMCALLBACK_FORWARD_SECRET=" + whsec, "IMCALLBACK_FORWARD_MATCH=Group.*"}, []string{
			"IMCALLBACK_FORWARD_SECRET (forward_secret): set without", "IMCALLBACK_FORWARD_MATCH (forward_match): set without"}},
	} {
		_, err := config.Load(config.Source{Environ: env(append([]string{"IMCALLBACK_SDKAPPID=1400000001"}, tc.env...)...)})
		for _, want := range tc.want {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%v: %v, want an error with %q", tc.env, err, want)
			}
		}
		if err != nil && strings.Contains(err.Error(), whsec) {
			t.Errorf("%v: the error quotes the secret: %v", tc.env, err)
		}
	}
	// A file's destinations beside the secret variable: still a mistake.
	file := writeTemp(t, "sdkappid: [\"1400000001\"]\nforward:\n  - name: x\n    match: [\"*\"]\n    url: http://h/\n    secret: \""+whsec+"\"\n")
	if _, err := config.Load(config.Source{File: file, Environ: env("IMCALLBACK_FORWARD_SECRET=" + whsec)}); err == nil ||
		!strings.Contains(err.Error(), "IMCALLBACK_FORWARD_SECRET (forward_secret): set without") {
		t.Errorf("a file's destination and the secret variable: %v", err)
	}
}

// TestForwardTimeoutPastTheHandlerDeadline: a destination timeout set
// longer than the deadline of an after-handler run (durable:
// handler_timeout, inline: inline_timeout) never applies, and config check
// notes it; the default timeout is not noted.
func TestForwardTimeoutPastTheHandlerDeadline(t *testing.T) {
	tests := []struct {
		name     string
		timeout  string // the destination's timeout line; "" : the default
		env      []string
		wantNote string // "" : no note about the timeout
	}{
		{"durable, within handler_timeout", "timeout: 5s", []string{"IMCALLBACK_HANDLER_TIMEOUT=30s"}, ""},
		{"durable, past handler_timeout", "timeout: 5s", []string{"IMCALLBACK_HANDLER_TIMEOUT=2s"}, "IMCALLBACK_HANDLER_TIMEOUT 2s"},
		{"inline, past inline_timeout", "timeout: 5s", []string{"IMCALLBACK_DELIVERY=inline"}, "IMCALLBACK_INLINE_TIMEOUT 1.5s"},
		{"inline, the default timeout", "", []string{"IMCALLBACK_DELIVERY=inline"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := writeTemp(t, "sdkappid: [\"1400000001\"]\nforward:\n  - name: slow\n    match: [\"*\"]\n    url: http://h/\n    secret: \""+whsec+"\"\n    "+tt.timeout+"\n")
			c, err := config.Load(config.Source{File: file, Environ: env(tt.env...)})
			if err != nil {
				t.Fatal(err)
			}
			var note string
			for _, n := range c.Notes() {
				if strings.Contains(n, `forward destination "slow"`) {
					note = n
				}
			}
			switch {
			case tt.wantNote == "" && note != "":
				t.Errorf("noted %q", note)
			case tt.wantNote != "" && !strings.Contains(note, tt.wantNote):
				t.Errorf("note %q, want one naming %q", note, tt.wantNote)
			}
		})
	}
}

// TestForwardTimeoutWrittenZero: a destination's timeout written as 0
// (meant as no timeout, say) was taken for a timeout left out and became
// the default 5s without a word; it is refused, naming the entry, as a 0
// of a core setting's timeout is. Left out, or null, it is the default.
func TestForwardTimeoutWrittenZero(t *testing.T) {
	dest := func(name, timeout string) string {
		return "  - name: " + name + "\n    match: [\"*\"]\n    url: http://h/\n    secret: \"" + whsec + "\"\n" + timeout
	}
	tests := []struct {
		name, forward string
		want          string // the timeout, or a part of the error
	}{
		{"0s", dest("slow", "    timeout: 0s\n"), "forward[0] (slow): timeout must be positive"},
		{"0 without a unit", dest("slow", "    timeout: 0\n"), "forward[0] (slow): timeout must be positive"},
		{"the second entry", dest("fast", "") + dest("slow", "    timeout: 0ms\n"), "forward[1] (slow): timeout must be positive"},
		{"an entry without its dash", "  name: slow\n  match: [\"*\"]\n  url: http://h/\n  secret: \"" + whsec + "\"\n  timeout: 0s\n",
			"forward[0] (slow): timeout must be positive"},
		{"left out", dest("slow", ""), "5s"},
		{"null", dest("slow", "    timeout:\n"), "5s"},
		{"set", dest("slow", "    timeout: 2s\n"), "2s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := loadYAML(t, "sdkappid: [\"1400000001\"]\nforward:\n"+tt.forward)
			if strings.Contains(tt.want, "forward[") {
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("error %v, want %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Forward[0].Timeout.String(); got != tt.want {
				t.Fatalf("timeout %s, want %s", got, tt.want)
			}
		})
	}
}
