package config_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/imcallback/imcallback/config"
)

// problemLines loads environ (with an SdkAppID) and returns the lines of
// the error after its heading, nil when the configuration is valid.
func problemLines(t *testing.T, environ ...string) []string {
	t.Helper()
	_, err := config.Load(config.Source{Environ: env(append(environ, "IMCALLBACK_SDKAPPID=1400000001")...)})
	return errorLines(err)
}

// errorLines returns the lines of a Load error after its heading, one per
// problem, nil for no error.
func errorLines(err error) []string {
	if err == nil {
		return nil
	}
	return strings.Split(err.Error(), "\n")[1:]
}

// TestStreamName: IMCALLBACK_STREAM and the dead-letter stream made from
// it must be names JetStream takes; before, a '/' or a tab passed config
// check and the start failed with NATS's own error, which named no
// variable.
func TestStreamName(t *testing.T) {
	const rule = "a JetStream name may not hold whitespace, control characters, '.', '*', '>', '/' or '\\'"
	tests := []struct {
		name, value string
		want        string // the error line; "" is valid
	}{
		{"default", "IMCALLBACK", ""},
		{"dashes and underscores", "im-callback_2", ""},
		{"letters of any script", "回调", ""},
		{"longest whose dead-letter stream fits", strings.Repeat("S", 250), ""},
		{"slash", "a/b", `IMCALLBACK_STREAM (stream): "a/b" holds '/': ` + rule},
		{"backslash", `a\b`, `IMCALLBACK_STREAM (stream): "a\\b" holds '\\': ` + rule},
		{"dot", "A.B", `IMCALLBACK_STREAM (stream): "A.B" holds '.': ` + rule},
		{"wildcard", "A*", `IMCALLBACK_STREAM (stream): "A*" holds '*': ` + rule},
		{"full wildcard", "A>", `IMCALLBACK_STREAM (stream): "A>" holds '>': ` + rule},
		{"space", "A B", `IMCALLBACK_STREAM (stream): "A B" holds ' ': ` + rule},
		{"tab", "A\tB", `IMCALLBACK_STREAM (stream): "A\tB" holds '\t': ` + rule},
		{"control character", "A\x00B", `IMCALLBACK_STREAM (stream): "A\x00B" holds '\x00': ` + rule},
		{"no-break space", "A\u00a0B", `IMCALLBACK_STREAM (stream): "A\u00a0B" holds '\u00a0': ` + rule},
		{"invalid UTF-8", "A\xffB", `IMCALLBACK_STREAM (stream): "A\xffB" is not valid UTF-8`},
		{"too long", strings.Repeat("S", 256), "IMCALLBACK_STREAM (stream): is 256 bytes long: JetStream allows at most 255"},
		{"too long for the dead-letter stream", strings.Repeat("S", 251),
			"IMCALLBACK_STREAM (stream): is 251 bytes long: the dead-letter stream, the name followed by _DEAD, would be 256, over JetStream's 255; use at most 250"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertProblem(t, "IMCALLBACK_STREAM", tt.value, tt.want)
		})
	}
	// Set but empty, in the file as in a variable, it is required.
	if _, err := loadYAML(t, "sdkappid: [\"1\"]\nstream: \"\"\n"); err == nil ||
		!strings.Contains(err.Error(), "IMCALLBACK_STREAM (stream): required: a JetStream stream name") {
		t.Errorf("empty stream: %v", err)
	}
}

// TestSubjectPrefix: IMCALLBACK_SUBJECT_PREFIX must be one or more literal
// subject tokens; before, a..b passed config check and the start failed
// with NATS's own error.
func TestSubjectPrefix(t *testing.T) {
	const shape = "a subject prefix is one or more tokens joined by single dots, e.g. imcallback or acme.im"
	tests := []struct {
		name, value string
		want        string // the error line; "" is valid
	}{
		{"default", "imcallback", ""},
		{"several tokens", "acme.prod.im", ""},
		{"dashes, underscores, letters of any script", "acme-im_2.回调", ""},
		{"a '$' after the first token", "acme.$im", ""},
		{"double dot", "a..b", `IMCALLBACK_SUBJECT_PREFIX (subject_prefix): "a..b" has an empty token (a leading, trailing or double '.'): ` + shape},
		{"leading dot", ".im", `IMCALLBACK_SUBJECT_PREFIX (subject_prefix): ".im" has an empty token (a leading, trailing or double '.'): ` + shape},
		{"trailing dot", "im.", `IMCALLBACK_SUBJECT_PREFIX (subject_prefix): "im." has an empty token (a leading, trailing or double '.'): ` + shape},
		{"only a dot", ".", `IMCALLBACK_SUBJECT_PREFIX (subject_prefix): "." has an empty token (a leading, trailing or double '.'): ` + shape},
		{"wildcard token", "im.*", `IMCALLBACK_SUBJECT_PREFIX (subject_prefix): "im.*" holds the wildcard '*': the prefix must be a literal subject`},
		{"full wildcard", "im.>", `IMCALLBACK_SUBJECT_PREFIX (subject_prefix): "im.>" holds the wildcard '>': the prefix must be a literal subject`},
		{"wildcard inside a token", "i*m", `IMCALLBACK_SUBJECT_PREFIX (subject_prefix): "i*m" holds the wildcard '*': the prefix must be a literal subject`},
		{"space", "im cb", `IMCALLBACK_SUBJECT_PREFIX (subject_prefix): "im cb" holds ' ': a subject may not hold whitespace or control characters`},
		{"tab", "im\tcb", `IMCALLBACK_SUBJECT_PREFIX (subject_prefix): "im\tcb" holds '\t': a subject may not hold whitespace or control characters`},
		{"control character", "im\x01", `IMCALLBACK_SUBJECT_PREFIX (subject_prefix): "im\x01" holds '\x01': a subject may not hold whitespace or control characters`},
		{"invalid UTF-8", "im\xff", `IMCALLBACK_SUBJECT_PREFIX (subject_prefix): "im\xff" is not valid UTF-8`},
		{"JetStream API", "$JS.API", `IMCALLBACK_SUBJECT_PREFIX (subject_prefix): "$JS.API" starts with $JS: NATS keeps those subjects for its own APIs ($JS, $SYS, $KV …)`},
		{"system", "$SYS", `IMCALLBACK_SUBJECT_PREFIX (subject_prefix): "$SYS" starts with $SYS: NATS keeps those subjects for its own APIs ($JS, $SYS, $KV …)`},
		{"key-value", "$KV.im", `IMCALLBACK_SUBJECT_PREFIX (subject_prefix): "$KV.im" starts with $KV: NATS keeps those subjects for its own APIs ($JS, $SYS, $KV …)`},
		// NATS takes a stream on $imcb.> (it refuses only subjects over its
		// APIs'), and the check before took it: an upgrade must start on it.
		{"a leading '$' of the service's own", "$imcb", ""},
		{"a token that only begins like NATS's", "$JSON.im", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assertProblem(t, "IMCALLBACK_SUBJECT_PREFIX", tt.value, tt.want)
		})
	}
	if _, err := loadYAML(t, "sdkappid: [\"1\"]\nsubject_prefix: \"\"\n"); err == nil ||
		!strings.Contains(err.Error(), "IMCALLBACK_SUBJECT_PREFIX (subject_prefix): required: "+shape) {
		t.Errorf("empty subject prefix: %v", err)
	}
}

// TestNATSURL: every server of IMCALLBACK_NATS_URL's comma-separated list
// is checked, not only the first, and quoted without its credentials.
func TestNATSURL(t *testing.T) {
	const v = "IMCALLBACK_NATS_URL (nats_url): "
	tests := []struct {
		name, value string
		want        []string // the error lines; nil is valid
	}{
		{"one server", "nats://n1:4222", nil},
		{"several, spaces after the commas", "nats://n1:4222, tls://n2:4222 ,nats://[::1]:4222", nil},
		{"credentials", "nats://s3cr3t@n1:4222,tls://u:pw@n2", nil},
		{"credentials as YAML prints them", "nats://[redacted]@n1:4222,tls://u:[redacted]@n2", []string{
			v + `entry 1 of 2: "nats://[redacted]@n1:4222" has a password or token that is "[redacted]", the placeholder ` +
				`config check and /v1/config show in place of a secret: set the secret itself`,
			v + `entry 2 of 2: "tls://u:[redacted]@n2" has a password or token that is "[redacted]", the placeholder ` +
				`config check and /v1/config show in place of a secret: set the secret itself`}},
		{"second entry of another scheme", "nats://n1:4222,http://n2:4222",
			[]string{v + `entry 2 of 2: "http://n2:4222" must be a nats:// or tls:// URL, e.g. nats://n1:4222`}},
		// nats.go reads an entry without a scheme as host:port of the
		// connection's scheme; the check before took it past the first entry.
		{"entries without a scheme", "nats://n1:4222,n2:4222, [::1]:4222,s3cr3t@n4,n5", nil},
		{"only servers without a scheme", "n1:4222,n2", nil},
		{"an entry without a scheme and without a host", "nats://n1:4222,:4222",
			[]string{v + `entry 2 of 2: ":4222" has no host, e.g. nats://n1:4222`}},
		{"an entry without a scheme and a bad port", "nats://n1:4222,u:s3cr3t@n2:99999",
			[]string{v + `entry 2 of 2: "u:[redacted]@n2:99999": port 99999 is not from 1 to 65535`}},
		{"one server of another scheme", "http://n1:4222",
			[]string{v + `"http://n1:4222" must be a nats:// or tls:// URL, e.g. nats://n1:4222`}},
		// nats.go skips an empty entry; a list that worked before still starts.
		{"an empty entry", "nats://n1:4222,,nats://n3:4222", nil},
		{"a trailing comma", "nats://n1:4222, ", nil},
		{"only commas", " , ,",
			[]string{v + "names no server: give the servers' URLs separated by commas (e.g. nats://n1:4222,nats://n2:4222), or leave the whole setting empty for the embedded server"}},
		{"no host", "nats://n1:4222,nats://:4222",
			[]string{v + `entry 2 of 2: "nats://:4222" has no host, e.g. nats://n1:4222`}},
		// nats.go dials the URL's host as written: "::1:4222" is too many
		// colons for the dialer, so the start failed after config check
		// had called the setting valid.
		{"an IPv6 address without brackets", "nats://::1:4222",
			[]string{v + `"nats://::1:4222" has an IPv6 address without brackets, e.g. nats://[::1]:4222`}},
		{"an IPv6 address without brackets nor port", "nats://n1:4222,u:s3cr3t@fe80::1",
			[]string{v + `entry 2 of 2: "u:[redacted]@fe80::1" has an IPv6 address without brackets, e.g. nats://[::1]:4222`}},
		{"an IPv6 address without brackets nor scheme", "::1",
			[]string{v + `"::1" has an IPv6 address without brackets, e.g. nats://[::1]:4222`}},
		{"an IPv6 address with a zone in brackets", "nats://[fe80::1%25eth0]:4222", nil},
		{"port out of range", "nats://n1:99999",
			[]string{v + `"nats://n1:99999": port 99999 is not from 1 to 65535`}},
		{"every bad entry, credentials redacted", "nats://u:s3cr3t@n1:4222,http://u:s3cr3t@n2:4222,ws://t0ken@n3,nats://u:s3%zzcr3t@n4",
			[]string{
				v + `entry 2 of 4: "http://u:[redacted]@n2:4222" must be a nats:// or tls:// URL, e.g. nats://n1:4222`,
				v + `entry 3 of 4: "ws://[redacted]@n3" must be a nats:// or tls:// URL, e.g. nats://n1:4222`,
				v + `entry 4 of 4: "nats://u:[redacted]@n4" is not a URL, e.g. nats://n1:4222; in a user, password or token escape '/', '?', '#', '@' and '%' (%2F, %3F, %23, %40, %25)`,
			}},
		// nats.go splits the list at every comma, one in a password
		// too: the entry before it is the password's start, not shown.
		{"a password holding a comma", "nats://u:pw-start,rest@n1:4222",
			[]string{v + `entry 1 of 2: it is not a URL, e.g. nats://n1:4222 (not shown: a later entry holds a user, ` +
				`password or token, which a ',' in it would have cut here; escape a ',' in them as %2C)`}},
		{"a token holding a comma, its start a port", "nats://n0:4222,u:99999,rest@n1:4222",
			[]string{v + `entry 2 of 3: it has a port not from 1 to 65535 (not shown: a later entry holds a user, ` +
				`password or token, which a ',' in it would have cut here; escape a ',' in them as %2C)`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := problemLines(t, "IMCALLBACK_NATS_URL="+tt.value)
			if !slices.Equal(got, tt.want) {
				t.Errorf("IMCALLBACK_NATS_URL=%q: error lines\n%q\nwant\n%q", tt.value, got, tt.want)
			}
			for _, secret := range []string{"s3cr3t", "t0ken", "zzcr3t", "pw-start", "u:99999"} {
				if strings.Contains(strings.Join(got, "\n"), secret) {
					t.Errorf("the error shows %q", secret)
				}
			}
		})
	}
}

// assertProblem checks that variable=value loads with the one error line
// want, or with none when want is "".
func assertProblem(t *testing.T, variable, value, want string) {
	t.Helper()
	got := problemLines(t, variable+"="+value)
	var wantLines []string
	if want != "" {
		wantLines = []string{want}
	}
	if !slices.Equal(got, wantLines) {
		t.Errorf("%s=%q: error lines\n%q\nwant\n%q", variable, value, got, wantLines)
	}
}
