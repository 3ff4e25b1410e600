package config_test

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/imcallback/imcallback/config"
)

// emptyEnvFile sets settings away from their defaults, so that a variable
// set empty over it would show by changing them.
const emptyEnvFile = `sdkappid: ["1400000001"]
tokens: [file-token]
listen: ":8081"
path: /cb
admin_listen: "127.0.0.1:9091"
admin_token: file-admin-token
allow_cidrs: [10.0.0.0/8]
trusted_proxies: [10.1.0.0/16]
proxy_header: X-Real-IP
sign_window: 30s
before_fallback: deny
data_dir: /var/lib/imcb
log_level: debug
log_format: console
log_buffer: 0s
store_dsn: postgres://u@db/imcb
delivery: inline
nats_url: nats://n1:4222
stream: FILESTREAM
subject_prefix: acme
workers: 8
backoff: [1s, 2s]
forward_url: https://example.com/hook
forward_secret: ` + whsec + `
forward_match: ["Group.*"]
apps:
  - sdkappid: "1400000001"
    tokens: [app-token]
    allow_cidrs: [10.2.0.0/16]
    secret_key: app-secret
    admin_identifier: file-admin
`

// settingsOf is everything Load read, secrets included, for comparing two loads.
func settingsOf(c *config.Config) string {
	return c.YAML() + fmt.Sprintf("%q %q %q %q %+v %+v", c.Tokens, c.AdminToken, c.StoreDSN, c.NATSURL, c.Apps, c.Forward)
}

// TestEmptyVariableCountsAsUnset: a setting's variable set to the empty
// string, or to whitespace alone, as a templated env file or compose's
// ${VAR} of an unset VAR writes it, leaves the file's value or the
// default. Before, IMCALLBACK_TOKENS= removed the file's tokens (and the
// service accepted unsigned callbacks, with only a note), and an empty
// duration or number stopped the start. Every setting is tried.
func TestEmptyVariableCountsAsUnset(t *testing.T) {
	file := writeTemp(t, emptyEnvFile)
	want, err := config.Load(config.Source{File: file, Environ: env()})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	typ := reflect.TypeFor[config.Config]()
	for i := range typ.NumField() {
		if key := typ.Field(i).Tag.Get("koanf"); key != "" && key != "-" {
			names = append(names, config.EnvName(key)) // apps and forward too: file-only, refused when set
		}
	}
	names = append(names, config.AppEnvName("1400000001", "tokens"), config.AppEnvName("1400000001", "allow_cidrs"),
		config.AppEnvName("1400000001", "secret_key"), config.AppEnvName("1400000001", "iplist"),
		config.AppEnvName("1400000001", "iplist_nettypes"), config.AppEnvName("1400000001", "admin_identifier"),
		config.AppEnvName("1400000001", "api_base"))
	for _, name := range names {
		for _, value := range []string{"", " \t "} {
			t.Run(fmt.Sprintf("%s=%q", name, value), func(t *testing.T) {
				c, err := config.Load(config.Source{File: file, Environ: env(name + "=" + value)})
				if err != nil {
					t.Fatal(err)
				}
				if got := settingsOf(c); got != settingsOf(want) {
					t.Errorf("the empty variable changed the settings:\n%s\nwant\n%s", got, settingsOf(want))
				}
				note := name + " is set but empty, so it counts as unset: the file's value or the default applies"
				if !slices.Contains(c.Notes(), note) || !slices.Equal(c.EmptyEnv(), []string{note}) {
					t.Errorf("notes %q, empty variables %q; want the note %q", c.Notes(), c.EmptyEnv(), note)
				}
				if slices.Contains(c.EnvWarnings(), note) {
					t.Errorf("the note is a warning: %q", c.EnvWarnings())
				}
			})
		}
	}
}

// TestEmptyVariableWithoutAFile: without a file an empty variable is the
// default, a non-empty one still overrides, and one that is no setting is
// still noted as such, not as an empty setting.
func TestEmptyVariableWithoutAFile(t *testing.T) {
	c, err := config.Load(config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_SIGN_WINDOW=",
		"IMCALLBACK_LOG_LEVEL=warn", "IMCALLBACK_PROXY_HEADER= ", "IMCALLBACK_TOKEN=")})
	if err != nil {
		t.Fatal(err)
	}
	if d := config.Default(); c.SignWindow != d.SignWindow || c.LogLevel != "warn" || c.ProxyHeader != d.ProxyHeader {
		t.Errorf("sign window %v, log level %q, proxy header %q", c.SignWindow, c.LogLevel, c.ProxyHeader)
	}
	if got := strings.Join(c.EmptyEnv(), "\n"); !strings.Contains(got, "IMCALLBACK_SIGN_WINDOW is set but empty") ||
		!strings.Contains(got, "IMCALLBACK_PROXY_HEADER is set but empty") || strings.Contains(got, "IMCALLBACK_TOKEN ") {
		t.Errorf("empty variables noted:\n%s", got)
	}
	if !slices.Contains(c.EnvWarnings(), "IMCALLBACK_TOKEN is not a setting; did you mean IMCALLBACK_TOKENS?") {
		t.Errorf("warnings %q", c.EnvWarnings())
	}
}

// TestEmptySectionVariableCountsAsUnset: a declared section's variable set
// empty leaves the section's value from the file, and Load notes it.
func TestEmptySectionVariableCountsAsUnset(t *testing.T) {
	src := config.Source{File: yamlFile(t, "sdkappid: [\"1\"]\nwords:\n  list: [spam]\n  api_key: k\n"),
		Environ: env("IMCALLBACK_WORDS_LIST=", "IMCALLBACK_WORDS_API_KEY= ")}
	v, err := config.LoadSection(src, "words", wordsDefaults)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(v.List, []string{"spam"}) || v.APIKey != "k" {
		t.Errorf("section %+v", v)
	}
	info := config.SectionInfo{Key: "words", Fields: []string{"api_key", "code", "list", "pause"}}
	c, err := config.LoadWith(src, info)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.EmptyEnv(), "\n"); !strings.Contains(got, "IMCALLBACK_WORDS_LIST is set but empty") ||
		!strings.Contains(got, "IMCALLBACK_WORDS_API_KEY is set but empty") {
		t.Errorf("empty variables noted:\n%s", got)
	}
}

// TestParseList: a list setting's items are trimmed; an empty value is no
// items; an empty item anywhere, a trailing comma's too, is an error
// naming its position and never an item, which may be a secret.
func TestParseList(t *testing.T) {
	const why = " (a doubled, leading or trailing comma; a template's unset variable leaves one): separate the items with single commas"
	const whyMany = " (doubled, leading or trailing commas; a template's unset variable leaves one): separate the items with single commas"
	tests := []struct {
		value string
		want  []string
		err   string
	}{
		{"a,b", []string{"a", "b"}, ""},
		{" a , b\t", []string{"a", "b"}, ""},
		{"a", []string{"a"}, ""},
		{"", []string{}, ""},
		{" \t", []string{}, ""},
		{"secret-a,,secret-b", nil, "item 2 of 3 is empty" + why},
		{"secret-a, ,secret-b", nil, "item 2 of 3 is empty" + why},
		{"secret-a,secret-b,", nil, "item 3 of 3 is empty" + why},
		{",secret-a", nil, "item 1 of 2 is empty" + why},
		{",", nil, "items 1, 2 of 2 are empty" + whyMany},
		{"secret-a,,secret-b,", nil, "items 2, 4 of 4 are empty" + whyMany},
	}
	for _, tt := range tests {
		got, err := config.ParseList(tt.value)
		if tt.err == "" {
			if err != nil || !slices.Equal(got, tt.want) || got == nil {
				t.Errorf("ParseList(%q) = %q, %v; want %q", tt.value, got, err, tt.want)
			}
			continue
		}
		if err == nil || err.Error() != tt.err || got != nil {
			t.Errorf("ParseList(%q) = %q, %v; want the error %q", tt.value, got, err, tt.err)
		}
	}
	// SplitList stays lenient for its callers.
	if got := config.SplitList(" a,,b, "); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("SplitList = %q", got)
	}
}

// TestListVariableWithAnEmptyItem: a list variable with an empty item, as
// IMCALLBACK_TOKENS=${OLD},${NEW} writes it with one of them unset, stops
// the start with one line naming the variable and the item's position,
// never a token; before, the item was dropped silently.
func TestListVariableWithAnEmptyItem(t *testing.T) {
	const why = " is empty (a doubled, leading or trailing comma; a template's unset variable leaves one): separate the items with single commas"
	tests := []struct {
		name string
		vars []string
		want string
	}{
		{"tokens", []string{"IMCALLBACK_SDKAPPID=1", "IMCALLBACK_TOKENS=secret-old,,secret-new"},
			"IMCALLBACK_TOKENS (tokens): item 2 of 3" + why},
		{"a trailing comma", []string{"IMCALLBACK_SDKAPPID=1", "IMCALLBACK_TOKENS=secret-old,"},
			"IMCALLBACK_TOKENS (tokens): item 2 of 2" + why},
		{"apps, without validation's noise", []string{"IMCALLBACK_SDKAPPID=1,,2"},
			"IMCALLBACK_SDKAPPID (sdkappid): item 2 of 3" + why},
		{"allowlist", []string{"IMCALLBACK_SDKAPPID=1", "IMCALLBACK_ALLOW_CIDRS=10.0.0.0/8,"},
			"IMCALLBACK_ALLOW_CIDRS (allow_cidrs): item 2 of 2" + why},
		{"durations", []string{"IMCALLBACK_SDKAPPID=1", "IMCALLBACK_BACKOFF=1s,,5s"},
			"IMCALLBACK_BACKOFF (backoff): item 2 of 3" + why},
		{"an app's tokens", []string{"IMCALLBACK_SDKAPPID=1", "IMCALLBACK_APP_1_TOKENS=,secret-app"},
			"IMCALLBACK_APP_1_TOKENS (app_1_tokens): item 1 of 2" + why},
		{"an app's nettypes", []string{"IMCALLBACK_SDKAPPID=1", "IMCALLBACK_APP_1_IPLIST_NETTYPES=5,,6"},
			"IMCALLBACK_APP_1_IPLIST_NETTYPES (app_1_iplist_nettypes): item 2 of 3" + why},
		{"forward globs", []string{"IMCALLBACK_SDKAPPID=1", "IMCALLBACK_FORWARD_URL=https://h/", "IMCALLBACK_FORWARD_SECRET=" + whsec,
			"IMCALLBACK_FORWARD_MATCH=Group.*,,C2C.*"}, "IMCALLBACK_FORWARD_MATCH (forward_match): item 2 of 3" + why},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Load(config.Source{Environ: env(tt.vars...)})
			got := errorLines(err)
			if !slices.Equal(got, []string{tt.want}) {
				t.Errorf("error lines\n%q\nwant\n%q", got, tt.want)
			}
			if strings.Contains(strings.Join(got, "\n"), "secret-") {
				t.Errorf("a token in the error: %q", got)
			}
		})
	}
	// A section's list, read by LoadSection.
	_, err := config.LoadSection(config.Source{Environ: env("IMCALLBACK_WORDS_LIST=spam,,eggs")}, "words", wordsDefaults)
	if want := "IMCALLBACK_WORDS_LIST (words.list): item 2 of 3" + why; err == nil || err.Error() != want {
		t.Errorf("section list: %v, want %q", err, want)
	}
}

// TestFileValueWithWhitespace: a string of the file, or an item of a list,
// with whitespace before or after it (kept by quotes or a block scalar;
// YAML drops it around a plain value) is refused at start, one line naming
// the key, the value quoted unless it may be secret. Before, most passed
// validation and failed later: a data directory or a TLS file with a
// trailing space, a listener that did not bind, a glob that never matched.
// A variable is trimmed when it is read, so only the file holds such a value.
func TestFileValueWithWhitespace(t *testing.T) {
	const ws = " has whitespace before or after it (in the file, check the quotes or the block scalar)"
	const base = "sdkappid: [\"1\"]\n"
	tests := []struct {
		name, yaml string
		want       []string // the error lines
	}{
		{"listen", `listen: " :8081"`, []string{`IMCALLBACK_LISTEN (listen): " :8081"` + ws}},
		{"admin listen", `admin_listen: "127.0.0.1:9091 "`, []string{`IMCALLBACK_ADMIN_LISTEN (admin_listen): "127.0.0.1:9091 "` + ws}},
		{"data dir", `data_dir: "/var/lib/imcb "`, []string{`IMCALLBACK_DATA_DIR (data_dir): "/var/lib/imcb "` + ws}},
		{"path", `path: "/cb "`, []string{`IMCALLBACK_PATH (path): "/cb "` + ws}},
		{"a TLS file", "tls_cert: \"/etc/tls/c.pem\\n\"\ntls_key: /etc/tls/k.pem",
			[]string{`IMCALLBACK_TLS_CERT (tls_cert): "/etc/tls/c.pem\n"` + ws}},
		{"a block scalar", "stream: |\n  FILESTREAM\n", []string{`IMCALLBACK_STREAM (stream): "FILESTREAM\n"` + ws}},
		{"a list item", `allow_cidrs: ["10.0.0.0/8", " 10.1.0.0/16"]`,
			[]string{`IMCALLBACK_ALLOW_CIDRS (allow_cidrs): item #2 " 10.1.0.0/16"` + ws}},
		{"a token", `tokens: [secret-ok, "secret-bad "]`, []string{"IMCALLBACK_TOKENS (tokens): item #2" + ws}},
		{"the admin token", `admin_token: " secret-admin"`, []string{"IMCALLBACK_ADMIN_TOKEN (admin_token): the value" + ws}},
		{"a DSN", `store_dsn: "postgres://u:secret-pw@db/x "`, []string{"IMCALLBACK_STORE_DSN (store_dsn): the value" + ws}},
		// Read apart at commas, each entry trimmed, as nats.go reads it.
		{"the NATS URL", `nats_url: " nats://u:secret-pw@n1:4222, nats://n2:4222 "`, nil},
		{"an app's key", "apps:\n  - sdkappid: \"1\"\n    admin_identifier: \" admin\"\n    secret_key: \"secret-key \"",
			[]string{"IMCALLBACK_APP_1_SECRET_KEY (app_1_secret_key): the value" + ws,
				`IMCALLBACK_APP_1_ADMIN_IDENTIFIER (app_1_admin_identifier): " admin"` + ws}},
		{"an app's API base", "apps:\n  - sdkappid: \"1\"\n    api_base: \"https://console.tim.qq.com \"",
			[]string{"IMCALLBACK_APP_1_API_BASE (app_1_api_base): the value" + ws}},
		{"a forward destination", "forward:\n  - name: hook\n    url: \"https://h/secret-path \"\n    secret: " + whsec + "\n    match: [\"Group.* \"]",
			[]string{`forward[0] (hook): match: item #1 "Group.* "` + ws,
				"forward[0] (hook): url: the value" + ws}},
		// Secrets read apart at whitespace: a block scalar of one per line ends in a line break.
		{"a forward destination's secrets", "forward:\n  - name: hook\n    url: https://h/x\n    match: [Group.*]\n    secret: |\n      " + whsec + "\n      " + whsec + "\n", nil},
		{"whitespace inside is no concern of this check", `data_dir: "/var/lib/im cb"`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadYAML(t, base+tt.yaml+"\n")
			got := errorLines(err)
			if !slices.Equal(got, tt.want) {
				t.Errorf("error lines\n%q\nwant\n%q", got, tt.want)
			}
			if strings.Contains(strings.Join(got, "\n"), "secret-") {
				t.Errorf("a secret in the error: %q", got)
			}
		})
	}
	// An id of sdkappid is said once, under sdkappid: the apps entry Load
	// adds for it is none of the file's (there was an apps[1].sdkappid too).
	_, err := loadYAML(t, "sdkappid: [\"1\", \" 2\"]\n")
	if got, want := errorLines(err), []string{`IMCALLBACK_SDKAPPID (sdkappid): item #2 " 2"` + ws}; !slices.Equal(got, want) {
		t.Errorf("an id of sdkappid with whitespace: error lines\n%q\nwant\n%q", got, want)
	}
	// The same values from variables are trimmed, as before.
	c, err := config.Load(config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_DATA_DIR=/var/lib/imcb ",
		"IMCALLBACK_ALLOW_CIDRS=10.0.0.0/8 , 10.1.0.0/16 ")})
	if err != nil {
		t.Fatal(err)
	}
	if c.DataDir != "/var/lib/imcb" || !slices.Equal(c.AllowCIDRs, []string{"10.0.0.0/8", "10.1.0.0/16"}) {
		t.Errorf("data dir %q, allowlist %q", c.DataDir, c.AllowCIDRs)
	}
}

// TestVariableSetTwice: two variables that name one setting, spelt in
// another case (IMCALLBACK_allow_cidrs beside IMCALLBACK_ALLOW_CIDRS, which
// the service reads as the same setting) or given twice in a Source's
// Environ (a process's never holds one name twice:
// TestANameGivenTwiceReachesTheProcessOnce), with different
// values, stop the start with an error naming both variables, never their
// values. Before, the one later in the environment applied, silently: an
// allowlist or a token chosen by the order in which an env file, compose or
// a shell profile happened to set them. The same value twice, or one set
// empty (unset), changes nothing.
func TestVariableSetTwice(t *testing.T) {
	const why = ": which one applies would depend on their order in the environment; keep one"
	tests := []struct {
		name string
		vars []string
		want string // "": loads
	}{
		{"a setting in two cases", []string{"IMCALLBACK_SDKAPPID=1", "IMCALLBACK_ALLOW_CIDRS=10.0.0.0/8", "IMCALLBACK_allow_cidrs=0.0.0.0/0"},
			"IMCALLBACK_ALLOW_CIDRS (allow_cidrs): set more than once with different values, as IMCALLBACK_ALLOW_CIDRS and IMCALLBACK_allow_cidrs" + why},
		{"the other order", []string{"IMCALLBACK_SDKAPPID=1", "IMCALLBACK_allow_cidrs=0.0.0.0/0", "IMCALLBACK_ALLOW_CIDRS=10.0.0.0/8"},
			"IMCALLBACK_ALLOW_CIDRS (allow_cidrs): set more than once with different values, as IMCALLBACK_ALLOW_CIDRS and IMCALLBACK_allow_cidrs" + why},
		{"tokens, never shown", []string{"IMCALLBACK_SDKAPPID=1", "IMCALLBACK_Tokens=secret-a", "IMCALLBACK_TOKENS=secret-b"},
			"IMCALLBACK_TOKENS (tokens): set more than once with different values, as IMCALLBACK_TOKENS and IMCALLBACK_Tokens" + why},
		{"one name twice", []string{"IMCALLBACK_SDKAPPID=1", "IMCALLBACK_TOKENS=secret-a", "IMCALLBACK_TOKENS=secret-b"},
			"IMCALLBACK_TOKENS (tokens): set more than once with different values" + why},
		{"an app's tokens", []string{"IMCALLBACK_SDKAPPID=1", "IMCALLBACK_APP_1_TOKENS=secret-a", "IMCALLBACK_APP_1_tokens=secret-b"},
			"IMCALLBACK_APP_1_TOKENS (app_1_tokens): set more than once with different values, as IMCALLBACK_APP_1_TOKENS and IMCALLBACK_APP_1_tokens" + why},
		{"the same value", []string{"IMCALLBACK_SDKAPPID=1", "IMCALLBACK_TOKENS=secret-a", "IMCALLBACK_tokens= secret-a"}, ""},
		{"one empty", []string{"IMCALLBACK_SDKAPPID=1", "IMCALLBACK_TOKENS=secret-a", "IMCALLBACK_tokens="}, ""},
		{"an app's, one empty", []string{"IMCALLBACK_SDKAPPID=1", "IMCALLBACK_APP_1_TOKENS=", "IMCALLBACK_APP_1_tokens=secret-a"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Load(config.Source{Environ: env(tt.vars...)})
			got := errorLines(err)
			var want []string
			if tt.want != "" {
				want = []string{tt.want}
			}
			if !slices.Equal(got, want) {
				t.Errorf("error lines\n%q\nwant\n%q", got, want)
			}
			if strings.Contains(strings.Join(got, "\n"), "secret-") || strings.Contains(strings.Join(got, "\n"), "0.0.0.0/0") {
				t.Errorf("a value in the error: %q", got)
			}
		})
	}
	// A section's field, read by LoadSection.
	_, err := config.LoadSection(config.Source{Environ: env("IMCALLBACK_WORDS_LIST=spam", "IMCALLBACK_WORDS_list=eggs")}, "words", wordsDefaults)
	if want := "IMCALLBACK_WORDS_LIST (words.list): set more than once with different values, as IMCALLBACK_WORDS_LIST and IMCALLBACK_WORDS_list" + why; err == nil || err.Error() != want {
		t.Errorf("section: %v, want %q", err, want)
	}
}

// TestFileStringReadsTheBytesOfRead: FileString gives one string setting
// of the file without the rest of the configuration (health's admin
// listener, when another setting is refused), from the bytes Read read:
// a file that can be read once only (a pipe) is not read again, so the
// file's removal after Read changes nothing.
func TestFileStringReadsTheBytesOfRead(t *testing.T) {
	file := filepath.Join(t.TempDir(), "imcallback.yaml")
	if err := os.WriteFile(file, []byte("admin_listen: \" 127.0.0.1:9191 \"\nmax_conns: 64\nallow_cidrs: [\"bad\"]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	src := config.Source{File: file}.Read()
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ key, want string }{
		{"admin_listen", "127.0.0.1:9191"},
		{"max_conns", ""},   // not a string
		{"admin_token", ""}, // not set
	}
	for _, tt := range tests {
		if got := src.FileString(tt.key); got != tt.want {
			t.Errorf("FileString(%q) = %q, want %q", tt.key, got, tt.want)
		}
	}
	if got := (config.Source{}).FileString("admin_listen"); got != "" {
		t.Errorf("FileString without a file = %q, want \"\"", got)
	}
	if got := (config.Source{File: file}).FileString("admin_listen"); got != "" {
		t.Errorf("FileString of a file that is gone, not read before = %q, want \"\"", got)
	}
}
