package config_test

import (
	"strings"
	"testing"

	"github.com/imcallback/imcallback/config"
)

// TestFileValueThatYAMLReadsAsMarkup: an unquoted value that begins with
// a character YAML reads as markup was lost or shown. `tokens: &S3cret`
// is an anchor named S3cret on an empty value: the file set no token, and
// the service started accepting unsigned callbacks; `admin_token: !S3cret`
// a tag on an empty value, so no admin token. `tokens: [*S3cret]` is an
// alias, and the load failed with YAML's "unknown anchor 'S3cret'
// referenced", which printed the token to the start's log; a value tagged
// !!int failed with the value quoted, and a token written twice in a list
// written in braces ({S3cret, S3cret}, a mapping of its items) with YAML's
// "mapping key "S3cret" already defined". Each is now refused naming the
// key's line (and saying to quote the value), and no error holds the
// value; a key of the configuration written twice is still named.
func TestFileValueThatYAMLReadsAsMarkup(t *testing.T) {
	const secret = "S3cretValue9"
	for _, tt := range []struct {
		name, file string
		want       []string // in the error
	}{
		{"anchor on an empty token", "sdkappid: [\"1\"]\ntokens: &" + secret + "\n", []string{"line 2", "quote"}},
		{"anchor on an empty list item", "sdkappid: [\"1\"]\ntokens:\n  - &" + secret + "\n", []string{"line 3", "quote"}},
		{"anchor on an empty admin token", "sdkappid: [\"1\"]\nadmin_token: &" + secret + "\n", []string{"line 2", "quote"}},
		{"anchor on an app's empty token", "apps:\n  - sdkappid: \"1\"\n    tokens: &" + secret + "\n", []string{"line 3", "quote"}},
		{"tag on an empty admin token", "sdkappid: [\"1\"]\nadmin_token: !" + secret + "\n", []string{"line 2", "quote"}},
		{"tag on a token", "sdkappid: [\"1\"]\ntokens: [!" + secret + " x]\n", []string{"line 2", "quote"}},
		{"alias of no anchor", "sdkappid: [\"1\"]\ntokens: [*" + secret + "]\n", []string{"quote"}},
		{"alias of no anchor as the admin token", "sdkappid: [\"1\"]\nadmin_token: *" + secret + "\n", []string{"quote"}},
		{"value tagged as a number", "sdkappid: [\"1\"]\nadmin_token: !!int " + secret + "\n", []string{"!!int"}},
		{"anchor that contains itself", "sdkappid: [\"1\"]\ntokens: &" + secret + " [*" + secret + "]\n", nil},
		// A list written in braces is a mapping of its items: one written
		// twice was quoted in YAML's "mapping key … already defined".
		{"a token written twice in braces", "sdkappid: [\"1\"]\ntokens: {" + secret + ", " + secret + "}\n",
			[]string{"line 2: mapping key [redacted]", "already defined at line 2"}},
		{"a token written twice as a key", "sdkappid: [\"1\"]\ntokens:\n  " + secret + ":\n  " + secret + ":\n",
			[]string{"line 4: mapping key [redacted]", "already defined at line 3"}},
		{"an app's secret key written twice in braces", "apps:\n  - sdkappid: \"1\"\n    secret_key: {" + secret + ", " + secret + "}\n",
			[]string{"line 3: mapping key [redacted]"}},
		// A key of the configuration written twice is named.
		{"a setting written twice", "sdkappid: [\"1\"]\ntokens: [a]\ntokens: [" + secret + "]\n",
			[]string{`line 3: mapping key "tokens" already defined at line 2`}},
		{"an entry's key written twice", "apps:\n  - {sdkappid: \"1\", secret_key: " + secret + ", secret_key: " + secret + "}\n",
			[]string{`mapping key "secret_key" already defined`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := config.Load(config.Source{File: writeTemp(t, tt.file), Environ: env()})
			if err == nil {
				t.Fatalf("loaded: tokens %d, admin token set %v, apps %+v", len(cfg.Tokens), cfg.AdminToken != "", cfg.Apps)
			}
			msg := err.Error()
			if strings.Contains(msg, secret) {
				t.Errorf("the error shows the value: %v", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not say %q", msg, w)
				}
			}
		})
	}

	// Anchors and aliases that stand for a value, and tags YAML defines,
	// still load as before.
	for _, file := range []string{
		"sdkappid: [\"1\"]\ntokens: &tok [\"t1\"]\napps:\n  - sdkappid: \"1\"\n    tokens: *tok\n",
		"sdkappid: [\"1\"]\ntokens: [&t \"quoted&\", *t]\nadmin_token: \"&0123456789abcdefX\"\n",
		"sdkappid: [\"1\"]\ntokens: [!!str 0123]\n",
		"sdkappid: [\"1\"]\ntokens: ['*abc', \"!abc\"]\n",
	} {
		if _, err := config.Load(config.Source{File: writeTemp(t, file), Environ: env()}); err != nil {
			t.Errorf("%q: %v", file, err)
		}
	}
}
