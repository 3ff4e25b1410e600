package config_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/imcallback/imcallback/config"
)

func TestApps(t *testing.T) {
	file := yamlFile(t, `
tokens: [global]
apps:
  - sdkappid: "1400000001"
    tokens: ["tokA"]
    allow_cidrs: ["10.0.0.0/8"]
    secret_key: "sk-file"
    iplist: true
    admin_identifier: "admin1"
    api_base: "https://adminapisgp.im.qcloud.com"
  - sdkappid: "1400000002"
    tokens: ["tokB"]
`)
	c, err := config.Load(config.Source{File: file, Environ: env(
		"IMCALLBACK_SDKAPPID=1400000003",
		"IMCALLBACK_APP_1400000002_TOKENS=tokB2,tokB3",
		"IMCALLBACK_APP_1400000003_ALLOW_CIDRS=192.0.2.0/24",
		"IMCALLBACK_APP_1400000001_IPLIST_NETTYPES=5",
	)})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(c.SdkAppIDs, ",") != "1400000003,1400000001,1400000002" {
		t.Fatalf("accepted apps %v", c.SdkAppIDs)
	}
	a1, _ := c.App("1400000001")
	a2, _ := c.App("1400000002")
	a3, _ := c.App("1400000003")
	if strings.Join(a1.Tokens, ",") != "tokA" || !a1.IPList || a1.SecretKey != "sk-file" || a1.AdminIdentifier != "admin1" ||
		a1.APIBase != "https://adminapisgp.im.qcloud.com" || len(a1.IPListNetTypes) != 1 || a1.IPListNetTypes[0] != 5 {
		t.Errorf("app 1: %+v", a1)
	}
	if strings.Join(a2.Tokens, ",") != "tokB2,tokB3" {
		t.Errorf("app 2 tokens %v: the variable overrides the file", a2.Tokens)
	}
	if strings.Join(a3.Tokens, ",") != "global" || strings.Join(a3.AllowCIDRs, ",") != "192.0.2.0/24" ||
		a3.APIBase != config.DefaultAPIBase || a3.AdminIdentifier != config.DefaultAdminIdentifier || len(a3.IPListNetTypes) != 2 {
		t.Errorf("app 3 (global tokens, defaults): %+v", a3)
	}
	if _, ok := c.App("1400000009"); ok {
		t.Error("an app that is not configured was found")
	}
	if got := c.AppsSharingGlobalTokens(); strings.Join(got, ",") != "1400000003" {
		t.Errorf("sharing global tokens: %v", got)
	}
	out := c.YAML()
	for _, secret := range []string{"sk-file", "tokA", "tokB2", "global"} {
		if strings.Contains(out, secret) {
			t.Errorf("config check output shows %q:\n%s", secret, out)
		}
	}
	if !strings.Contains(out, "sdkappid: \"1400000001\"") || !strings.Contains(out, "iplist: true") {
		t.Errorf("apps missing from the output:\n%s", out)
	}
}

func TestAppsRejects(t *testing.T) {
	tests := []struct {
		name string
		env  []string
		want string
	}{
		{"iplist without a secret key", []string{"IMCALLBACK_SDKAPPID=1", "IMCALLBACK_APP_1_IPLIST=true"}, "IMCALLBACK_APP_1_SECRET_KEY"},
		{"iplist not a boolean", []string{"IMCALLBACK_SDKAPPID=1", "IMCALLBACK_APP_1_IPLIST=maybe"}, `IMCALLBACK_APP_1_IPLIST (app_1_iplist): "maybe" is not true or false`},
		{"bad cidr", []string{"IMCALLBACK_SDKAPPID=1", "IMCALLBACK_APP_1_ALLOW_CIDRS=10.0.0.0/99"}, "IMCALLBACK_APP_1_ALLOW_CIDRS"},
		{"nettype not a number", []string{"IMCALLBACK_SDKAPPID=1", "IMCALLBACK_APP_1_IPLIST_NETTYPES=5,x"},
			`IMCALLBACK_APP_1_IPLIST_NETTYPES (app_1_iplist_nettypes): "x" is not a whole number`},
		{"nettype out of range", []string{"IMCALLBACK_SDKAPPID=1", "IMCALLBACK_APP_1_IPLIST_NETTYPES=5,99999999999999999999"},
			`IMCALLBACK_APP_1_IPLIST_NETTYPES (app_1_iplist_nettypes): "99999999999999999999" is too large: at most 9223372036854775807`},
		{"api base not https", []string{"IMCALLBACK_SDKAPPID=1", "IMCALLBACK_APP_1_API_BASE=http://x"}, "IMCALLBACK_APP_1_API_BASE"},
		{"api base over http with a password", []string{"IMCALLBACK_SDKAPPID=1", "IMCALLBACK_APP_1_API_BASE=http://u:sk-pw@api.example"},
			`IMCALLBACK_APP_1_API_BASE (app_1_api_base): "http://[redacted]@api.example" must be an https:// URL`},
		{"api base with a password", []string{"IMCALLBACK_SDKAPPID=1", "IMCALLBACK_APP_1_API_BASE=https://u:sk-pw@api.example"},
			`IMCALLBACK_APP_1_API_BASE (app_1_api_base): "https://[redacted]@api.example" must have no user, password, query or fragment`},
		{"api base with a token", []string{"IMCALLBACK_SDKAPPID=1", "IMCALLBACK_APP_1_API_BASE=https://sk-tok@api.example/"},
			`"https://[redacted]@api.example/" must have no user`},
		// A user with an empty password may be a key, as a token is.
		{"api base with a key and an empty password", []string{"IMCALLBACK_SDKAPPID=1", "IMCALLBACK_APP_1_API_BASE=https://sk-key:@api.example/"},
			`"https://[redacted]@api.example/" must have no user`},
		{"api base with a query", []string{"IMCALLBACK_SDKAPPID=1", "IMCALLBACK_APP_1_API_BASE=https://api.example/?region=sg"}, "must have no user, password, query or fragment"},
		{"api base with a fragment", []string{"IMCALLBACK_SDKAPPID=1", "IMCALLBACK_APP_1_API_BASE=https://api.example/#x"}, "must have no user, password, query or fragment"},
		// A REST URL copied whole carries the UserSig, a credential, in its query.
		{"api base with a signed query", []string{"IMCALLBACK_SDKAPPID=1",
			"IMCALLBACK_APP_1_API_BASE=https://console.tim.qq.com/v4/im_open_login_svc/account_import?sdkappid=1&identifier=admin&usersig=sk-sig&random=1"},
			`"https://console.tim.qq.com/v4/im_open_login_svc/account_import?[redacted]" must have no user, password, query or fragment`},
		{"api base without a scheme, with a signed query", []string{"IMCALLBACK_SDKAPPID=1", "IMCALLBACK_APP_1_API_BASE=console.tim.qq.com?usersig=sk-sig"},
			`"console.tim.qq.com?[redacted]" must be an https:// URL`},
		{"api base with a token in its fragment", []string{"IMCALLBACK_SDKAPPID=1", "IMCALLBACK_APP_1_API_BASE=https://api.example/#sk-tok"},
			`"https://api.example/#[redacted]" must have no user`},
		{"api base with a '?' in its password", []string{"IMCALLBACK_SDKAPPID=1", "IMCALLBACK_APP_1_API_BASE=https://u:pw?sk-x@api.example/"},
			`"https://[redacted]@api.example/" must be an https:// URL`},
		// One URL, not a list: a ',' in its password cuts nothing.
		{"api base with a ',' in its password", []string{"IMCALLBACK_SDKAPPID=1", "IMCALLBACK_APP_1_API_BASE=https://u:sk-pw,rest@api.example"},
			`"https://[redacted]@api.example" must have no user, password, query or fragment`},
		{"api base with a ',' in its token", []string{"IMCALLBACK_SDKAPPID=1", "IMCALLBACK_APP_1_API_BASE=https://sk-tok,rest@api.example"},
			`"https://[redacted]@api.example" must have no user, password, query or fragment`},
		// The REST client adds the API's path (v4/openim/sendmsg …): a base
		// copied from Tencent's documentation with it called /v4/v4/….
		{"api base with the API's /v4", []string{"IMCALLBACK_SDKAPPID=1", "IMCALLBACK_APP_1_API_BASE=https://console.tim.qq.com/v4"},
			`IMCALLBACK_APP_1_API_BASE (app_1_api_base): "https://console.tim.qq.com/v4" holds the API's path (/v4), which the REST client adds itself`},
		{"api base with an API path", []string{"IMCALLBACK_SDKAPPID=1", "IMCALLBACK_APP_1_API_BASE=https://adminapisgp.im.qcloud.com/v4/openim/sendmsg/"},
			`"https://adminapisgp.im.qcloud.com/v4/openim/sendmsg/" holds the API's path (/v4)`},
		{"empty token in a file", nil, "app_1_tokens): token #2 must be 1 to 128 bytes"},
		// imrest refuses app 0 a REST client, which stopped the start after
		// config check had called the configuration valid.
		{"a REST API key for app 0", []string{"IMCALLBACK_SDKAPPID=0", "IMCALLBACK_APP_0_SECRET_KEY=sk-key"},
			"IMCALLBACK_APP_0_SECRET_KEY (app_0_secret_key): app 0 can have no REST API key"},
		{"refresh too often", []string{"IMCALLBACK_SDKAPPID=1", "IMCALLBACK_IPLIST_REFRESH=1s"}, "IMCALLBACK_IPLIST_REFRESH"},
		// A refresh centuries apart overflowed the jitter into a negative
		// wait: the list was fetched again at once, over and over.
		{"refresh too rarely", []string{"IMCALLBACK_SDKAPPID=1", "IMCALLBACK_IPLIST_REFRESH=2562047h"},
			"IMCALLBACK_IPLIST_REFRESH (iplist_refresh): 2562047h0m0s must be from 1m to 168h0m0s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := config.Source{Environ: env(tt.env...)}
			if tt.env == nil { // the file's entry: YAML can say "" where the environment cannot
				src = config.Source{File: yamlFile(t, "sdkappid: [\"1\"]\napps:\n  - sdkappid: \"1\"\n    tokens: [sk-real, \"\"]\n"), Environ: env()}
			}
			_, err := config.Load(src)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "sk-") {
				t.Fatalf("a secret in the error: %v", err)
			}
		})
	}
	// A proxy's path prefix is no API path.
	if _, err := config.Load(config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_APP_1_API_BASE=https://gw.example/tencent-im/v4x/")}); err != nil {
		t.Errorf("an api base with a proxy's path: %v", err)
	}
	// A setting for an app that is not accepted (here a digit short) is said at start.
	c, err := config.Load(config.Source{Environ: env("IMCALLBACK_SDKAPPID=1400000001,1400000002", "IMCALLBACK_APP_140000002_IPLIST=true")})
	if err != nil {
		t.Fatal(err)
	}
	if notes := strings.Join(c.Notes(), "\n"); !strings.Contains(notes,
		"IMCALLBACK_APP_140000002_IPLIST is ignored: app 140000002 is not in IMCALLBACK_SDKAPPID (1400000001, 1400000002)") {
		t.Errorf("no note about the mistyped app id: %q", notes)
	}
	if n := config.UnknownEnv([]string{"IMCALLBACK_APP_1_TOKEN=x", "IMCALLBACK_APP_1_TOKENS=y"}); len(n) != 1 ||
		!strings.Contains(n[0], "did you mean IMCALLBACK_APP_1_TOKENS?") {
		t.Errorf("unknown per-app variable: %v", n)
	}
}

func TestAppsReviewFindings(t *testing.T) {
	// A decode error inside apps never quotes the apps' secrets.
	file := yamlFile(t, "sdkappid: [\"1\"]\napps:\n  - sdkappid: \"1\"\n    iplist: maybe\n    secret_key: SUPERSECRET\n    tokens: [SUPERTOKEN]\n")
	_, err := config.Load(config.Source{File: file, Environ: env()})
	if err == nil || strings.Contains(err.Error(), "SUPERSECRET") || strings.Contains(err.Error(), "SUPERTOKEN") {
		t.Fatalf("decode error %v", err)
	}
	// A misspelt key inside an apps entry is an error with the real one.
	file = yamlFile(t, "apps:\n  - sdkappid: \"1\"\n    token: [abc]\n")
	if _, err := config.Load(config.Source{File: file, Environ: env()}); err == nil ||
		!strings.Contains(err.Error(), "unknown key apps[0].token; did you mean apps[0].tokens?") {
		t.Fatalf("misspelt app key: %v", err)
	}
	// apps written as a mapping keyed by app id, not as a list, says so.
	file = yamlFile(t, "sdkappid: [\"1400000001\"]\napps:\n  1400000001:\n    tokens: [abc]\n")
	if _, err := config.Load(config.Source{File: file, Environ: env()}); err == nil ||
		!strings.Contains(err.Error(), "apps is a mapping with the key 1400000001, not a list of entries") {
		t.Fatalf("apps as a mapping: %v", err)
	}
	// forward likewise.
	file = yamlFile(t, "forward:\n  audit:\n    url: https://example.com/hook\n")
	if _, err := config.Load(config.Source{File: file, Environ: env()}); err == nil ||
		!strings.Contains(err.Error(), "forward is a mapping with the key audit, not a list of entries") {
		t.Fatalf("forward as a mapping: %v", err)
	}
	// Values written in braces without their keys read as keys without
	// values, which are not shown: a destination's URL (its path may hold
	// a key) and secret, an app's token.
	for _, tt := range []struct{ file, want string }{
		{"sdkappid: [\"1\"]\nforward: {https://hooks.example.com/KEYPATH, whsec_SUPERSECRET}\n", "forward is a mapping of keys without values"},
		{"sdkappid: [\"1\"]\napps: {SUPERTOKEN}\n", "apps is a mapping of keys without values"},
	} {
		_, err := config.Load(config.Source{File: yamlFile(t, tt.file), Environ: env()})
		if err == nil || !strings.Contains(err.Error(), tt.want) ||
			strings.Contains(err.Error(), "KEYPATH") || strings.Contains(err.Error(), "SUPER") {
			t.Errorf("%q: %v; want it to say %q, without the values", tt.file, err, tt.want)
		}
	}
	// A single entry written without its dash is still that entry.
	file = yamlFile(t, "apps:\n  sdkappid: \"1400000001\"\n  tokens: [abc]\n")
	if c, err := config.Load(config.Source{File: file, Environ: env()}); err != nil || len(c.Apps) != 1 || c.Apps[0].SdkAppID != "1400000001" {
		t.Fatalf("one entry without its dash: %v", err)
	}
	// A misspelt key of an entry written without its dash is named as
	// that entry's, not taken for a mapping keyed by id.
	file = yamlFile(t, "apps:\n  sdkappid: \"1400000001\"\n  token: [abc]\n")
	if _, err := config.Load(config.Source{File: file, Environ: env()}); err == nil ||
		!strings.Contains(err.Error(), "unknown key apps[0].token; did you mean apps[0].tokens?") || strings.Contains(err.Error(), "not a list") {
		t.Fatalf("misspelt key of an entry without its dash: %v", err)
	}
	// An empty mapping is no entry.
	file = yamlFile(t, "sdkappid: [\"1\"]\napps: {}\nforward: {}\n")
	if _, err := config.Load(config.Source{File: file, Environ: env()}); err != nil {
		t.Fatalf("empty mappings: %v", err)
	}
	// Per-app tokens only: no "no token" note.
	c, err := config.Load(config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_APP_1_TOKENS=tok")})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range c.Notes() {
		if strings.Contains(n, "no token") {
			t.Fatalf("note %q although the only app has its own token", n)
		}
	}
	// A section may not read core variables.
	for _, key := range []string{"nats", "admin", "app", "log"} {
		if _, err := config.LoadSection(config.Source{Environ: env()}, key, wordsDefaults); err == nil {
			t.Errorf("section %q accepted", key)
		}
	}
}

// TestEntryValuesThatDoNotDecodeNameTheirEntry: a value of an apps or
// forward entry that does not decode is named by its entry and key, and
// quoted unless the key holds a secret; it used to be "apps: cannot read
// the value", which left the operator to search every entry.
func TestEntryValuesThatDoNotDecodeNameTheirEntry(t *testing.T) {
	const secret = "whsec_MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3"
	tests := []struct {
		name string
		yaml string
		want string
		not  string // never in the error
	}{
		{"a boolean that is not one",
			"apps:\n  - sdkappid: \"1\"\n  - sdkappid: \"2\"\n    iplist: maybe\n    secret_key: sk-secret\n",
			`apps[1].iplist: "maybe" is not true or false`, "sk-secret"},
		{"a list for a single value",
			"apps:\n  - sdkappid: [\"1\", \"2\"]\n",
			`apps[0].sdkappid: [1 2] is a list, not a single value`, ""},
		{"a secret key that is a list",
			"apps:\n  - sdkappid: \"1\"\n    secret_key: [sk-secret]\n",
			`apps[0].secret_key: the value is a list, not a single value`, "sk-secret"},
		{"tokens that are a map",
			"apps:\n  - sdkappid: \"1\"\n    tokens: {a: sk-secret}\n",
			`apps[0].tokens: the value is a map, not a list`, "sk-secret"},
		{"an entry that is not a map",
			"apps:\n  - \"1\"\n",
			`apps[0] is not a map of keys (e.g. sdkappid: "1400000001")`, ""},
		{"a forward timeout is not a secret",
			"forward:\n  - name: x\n    url: https://h.example/sk-secret\n    secret: " + secret + "\n    match: [\"*\"]\n    timeout: soon\n",
			`forward[0].timeout: "soon" is not a duration (e.g. 60s)`, "sk-secret"},
		{"a forward url that is a list",
			"forward:\n  - name: x\n    url: [https://h.example/sk-secret]\n    secret: " + secret + "\n    match: [\"*\"]\n",
			`forward[0].url: the value is a list, not a single value`, "sk-secret"},
		{"a forward entry that is not a map",
			"forward:\n  - https://h.example/sk-secret\n",
			`forward[0] is not a map of keys (e.g. url: https://…)`, "sk-secret"},
		// One entry written without its dash is that entry, its values
		// checked as one's: they were not, so a nettype of 5.5 became 5, a
		// forward timeout of 5 was 5ns (every attempt cut off at once), and a
		// boolean that is none was "the value is a map, not a list".
		{"a fraction of a nettype, in an entry without its dash",
			"apps:\n  sdkappid: \"1\"\n  iplist_nettypes: [5.5]\n",
			`apps[0].iplist_nettypes: 5.5 is not a whole number`, ""},
		{"a boolean that is not one, in an entry without its dash",
			"apps:\n  sdkappid: \"1\"\n  iplist: maybe\n  secret_key: sk-secret\n",
			`apps[0].iplist: "maybe" is not true or false`, "sk-secret"},
		{"a forward timeout without a unit, in an entry without its dash",
			"forward:\n  name: x\n  url: https://h.example/sk-secret\n  secret: " + secret + "\n  match: [\"*\"]\n  timeout: 5\n",
			`forward[0].timeout: 5 needs a unit, e.g. 5s`, "sk-secret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Load(config.Source{File: yamlFile(t, "sdkappid: [\"1\"]\n"+tt.yaml), Environ: env()})
			if err == nil || !slices.Contains(strings.Split(err.Error(), "\n"), tt.want) {
				t.Fatalf("error\n%v\nwant the line\n%s", err, tt.want)
			}
			if tt.not != "" && strings.Contains(err.Error(), tt.not) {
				t.Fatalf("a secret in the error: %v", err)
			}
		})
	}
}

// TestSdkAppIDWithALeadingZero: IM sends the SdkAppid in decimal without
// leading zeros, and apps are matched as text: an app written with one
// would refuse every callback as a foreign app, so it is refused at start.
func TestSdkAppIDWithALeadingZero(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		env  []string
		want string // "" when it loads
	}{
		{"in the variable", "", []string{"IMCALLBACK_SDKAPPID=01400000001"},
			`IMCALLBACK_SDKAPPID (sdkappid): "01400000001" has a leading zero, which IM never sends: write 1400000001`},
		{"in an apps entry", "apps:\n  - sdkappid: \"001400000002\"\n", nil,
			`apps[0].sdkappid: "001400000002" has a leading zero, which IM never sends: write 1400000002`},
		{"zero itself", "", []string{"IMCALLBACK_SDKAPPID=0"}, ""},
		{"without", "apps:\n  - sdkappid: \"1400000002\"\n", []string{"IMCALLBACK_SDKAPPID=1400000001"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := config.Source{Environ: env(tt.env...)}
			if tt.yaml != "" {
				src.File = yamlFile(t, tt.yaml)
			}
			_, err := config.Load(src)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.want != "" && (err == nil || !slices.Contains(strings.Split(err.Error(), "\n"), tt.want)):
				t.Fatalf("error\n%v\nwant the line\n%s", err, tt.want)
			}
		})
	}
}

// TestSdkAppIDVariableBesideFileApps: the accepted apps are the union of
// IMCALLBACK_SDKAPPID and the file's apps entries, so a variable set to
// narrow them does not; a warning names the entries' apps it does not
// list (only when the variable sets the list: the file's own sdkappid
// beside its entries is the same union, written in one place).
func TestSdkAppIDVariableBesideFileApps(t *testing.T) {
	const apps = "apps:\n  - sdkappid: \"1400000001\"\n    tokens: [tokA]\n  - sdkappid: \"1400000002\"\n    tokens: [tokB]\n"
	tests := []struct {
		name string
		file string
		env  []string
		want string // in a warning; "": none about the union
	}{
		{"the variable lists one of two", apps, []string{"IMCALLBACK_SDKAPPID=1400000001"},
			"app 1400000002 is accepted though IMCALLBACK_SDKAPPID (1400000001) does not list it: " +
				"the accepted apps are those of IMCALLBACK_SDKAPPID and of the file's apps entries together; " +
				"to stop accepting an app, remove its apps entry"},
		{"the variable lists neither, in lower case", apps, []string{"IMCALLBACK_sdkappid=1400000003"},
			"apps 1400000001, 1400000002 are accepted though IMCALLBACK_sdkappid (1400000003) does not list them"},
		{"the variable lists both", apps, []string{"IMCALLBACK_SDKAPPID=1400000002,1400000001"}, ""},
		{"the variable is blank: unset", apps, []string{"IMCALLBACK_SDKAPPID= "}, ""},
		{"the file's sdkappid", "sdkappid: [\"1400000001\"]\n" + apps, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.Load(config.Source{File: yamlFile(t, tt.file), Environ: env(tt.env...)})
			if err != nil {
				t.Fatal(err)
			}
			for _, id := range []string{"1400000001", "1400000002"} {
				if _, ok := c.App(id); !ok {
					t.Errorf("app %s is not accepted: the union was kept", id)
				}
			}
			warnings := strings.Join(c.EnvWarnings(), "\n")
			if tt.want == "" {
				if strings.Contains(warnings, "accepted though") {
					t.Fatalf("warnings %q", warnings)
				}
				return
			}
			if !strings.Contains(warnings, tt.want) || !slices.ContainsFunc(c.Notes(), func(n string) bool { return strings.Contains(n, tt.want) }) {
				t.Fatalf("warnings %q, notes %q; want %q", warnings, c.Notes(), tt.want)
			}
		})
	}
}

// TestTokenLengthCountsBytes: a token's limit of 128 counts bytes, as the
// message and the README say: 64 two-byte characters fit, 65 do not, even
// though they are fewer than 128 characters.
func TestTokenLengthCountsBytes(t *testing.T) {
	tests := []struct {
		name  string
		token string
		ok    bool
	}{
		{"128 ASCII bytes", strings.Repeat("a", 128), true},
		{"129 ASCII bytes", strings.Repeat("a", 129), false},
		{"64 two-byte characters: 128 bytes", strings.Repeat("é", 64), true},
		{"65 two-byte characters: 130 bytes", strings.Repeat("é", 65), false},
	}
	for _, tt := range tests {
		for _, v := range []string{"IMCALLBACK_TOKENS", "IMCALLBACK_APP_1_TOKENS"} {
			t.Run(tt.name+" "+v, func(t *testing.T) {
				_, err := config.Load(config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", v+"="+tt.token)})
				if tt.ok {
					if err != nil {
						t.Fatal(err)
					}
					return
				}
				if err == nil || !strings.Contains(err.Error(), v+" (") || !strings.Contains(err.Error(), "token #1 must be 1 to 128 bytes") {
					t.Fatalf("error %v, want one saying the token is over 128 bytes", err)
				}
			})
		}
	}
}

// TestTokenWithWhitespaceInsideIsRefused: a token with whitespace inside
// it ("old new") is two tokens written as one, the variable's comma or the
// file's list forgotten; taken as one it would never match what IM signs
// with. It is refused at load (config check and the start), from a
// variable and from the file, globally and per app, with how to list
// several tokens, and without showing the token.
func TestTokenWithWhitespaceInsideIsRefused(t *testing.T) {
	const how = "has whitespace inside it: separate several tokens with commas in the variable, or write them as a YAML list ([a, b]) in the file"
	tests := []struct {
		name    string
		environ []string
		file    string
		want    string
	}{
		{"global variable", []string{"IMCALLBACK_SDKAPPID=1", "IMCALLBACK_TOKENS=sk-old sk-new"}, "",
			"IMCALLBACK_TOKENS (tokens): token #1 " + how},
		{"second item of the global variable", []string{"IMCALLBACK_SDKAPPID=1", "IMCALLBACK_TOKENS=sk-a,sk-old  sk-new"}, "",
			"IMCALLBACK_TOKENS (tokens): token #2 " + how},
		{"an app's variable", []string{"IMCALLBACK_SDKAPPID=1", "IMCALLBACK_APP_1_TOKENS=sk-old sk-new"}, "",
			"IMCALLBACK_APP_1_TOKENS (app_1_tokens): token #1 " + how},
		{"a no-break space", []string{"IMCALLBACK_SDKAPPID=1", "IMCALLBACK_TOKENS=sk-old\u00a0sk-new"}, "",
			"IMCALLBACK_TOKENS (tokens): token #1 " + how},
		{"global file token", nil, "sdkappid: [\"1\"]\ntokens: \"sk-old sk-new\"\n",
			"IMCALLBACK_TOKENS (tokens): token #1 " + how},
		{"an app's file token", nil, "apps:\n  - sdkappid: \"1\"\n    tokens: [sk-a, sk-old sk-new]\n",
			"IMCALLBACK_APP_1_TOKENS (app_1_tokens): token #2 " + how},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := config.Source{Environ: env(tt.environ...)}
			if tt.file != "" {
				src.File = yamlFile(t, tt.file)
			}
			_, err := config.Load(src)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "sk-") {
				t.Fatalf("a secret in the error: %v", err)
			}
		})
	}
}

// TestAppRESTSettingsWithWhitespace: an api_base with whitespace or a
// control character in it (a space in its path passed url.Parse) and an
// admin_identifier with one (a tab, a space inside it) or not UTF-8 (no
// UserSig signed for it verifies) are refused at
// load, named, from a variable and from the file alike; an identifier of
// other characters Tencent's account IDs may hold is taken.
func TestAppRESTSettingsWithWhitespace(t *testing.T) {
	tests := []struct {
		name string
		env  []string
		file string
		want string // "": valid
	}{
		{"api base with a space in its path", []string{"IMCALLBACK_APP_1_API_BASE=https://console.tim.qq.com/a b"}, "",
			`IMCALLBACK_APP_1_API_BASE (app_1_api_base): "https://console.tim.qq.com/a b" must have no whitespace or control characters`},
		{"api base with a tab", []string{"IMCALLBACK_APP_1_API_BASE=https://console.tim.qq.com/\tv4"}, "",
			`"https://console.tim.qq.com/\tv4" must have no whitespace or control characters`},
		{"api base with a space, a password redacted", []string{"IMCALLBACK_APP_1_API_BASE=https://u:sk-pw@api.example/a b"}, "",
			`"https://[redacted]@api.example/a b" must have no whitespace or control characters`},
		{"api base of the file with a space", nil, "    api_base: \"https://adminapisgp.im.qcloud.com /v4\"\n",
			`IMCALLBACK_APP_1_API_BASE (app_1_api_base): "https://adminapisgp.im.qcloud.com /v4" must have no whitespace`},
		{"admin identifier with a tab", []string{"IMCALLBACK_APP_1_ADMIN_IDENTIFIER=admin\tistrator"}, "",
			`IMCALLBACK_APP_1_ADMIN_IDENTIFIER (app_1_admin_identifier): "admin\tistrator" must have no whitespace or control characters`},
		{"admin identifier with a space", []string{"IMCALLBACK_APP_1_ADMIN_IDENTIFIER=admin istrator"}, "",
			`"admin istrator" must have no whitespace or control characters`},
		{"admin identifier with a control character", []string{"IMCALLBACK_APP_1_ADMIN_IDENTIFIER=admin\x01"}, "",
			`"admin\x01" must have no whitespace or control characters`},
		{"admin identifier of the file with a line break", nil, "    admin_identifier: \"admin\\nistrator\"\n",
			`IMCALLBACK_APP_1_ADMIN_IDENTIFIER (app_1_admin_identifier): "admin\nistrator" must have no whitespace`},
		{"admin identifier with a no-break space", []string{"IMCALLBACK_APP_1_ADMIN_IDENTIFIER=admin\u00a0x"}, "",
			`must have no whitespace or control characters`},
		{"admin identifier not UTF-8", []string{"IMCALLBACK_APP_1_ADMIN_IDENTIFIER=admin\xff"}, "",
			`IMCALLBACK_APP_1_ADMIN_IDENTIFIER (app_1_admin_identifier): "admin\xff" must be UTF-8 text`},
		{"an identifier Tencent takes", []string{"IMCALLBACK_APP_1_ADMIN_IDENTIFIER=ops_admin-01@example.com"}, "", ""},
		{"a non-ASCII identifier", []string{"IMCALLBACK_APP_1_ADMIN_IDENTIFIER=管理员"}, "", ""},
		{"an api base with a path", []string{"IMCALLBACK_APP_1_API_BASE=https://api.example/im%20gw"}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := config.Source{Environ: env(append([]string{"IMCALLBACK_SDKAPPID=1"}, tt.env...)...)}
			if tt.file != "" {
				src = config.Source{File: yamlFile(t, "apps:\n  - sdkappid: \"1\"\n"+tt.file), Environ: env()}
			}
			_, err := config.Load(src)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "sk-") {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
		})
	}
}

// TestFileEntryProblemsNameTheFileKey: a problem of an entry of the file's
// apps or forward lists names the entry's key in the file (apps[1].sdkappid,
// forward[0].timeout), as an unknown key of one does, not IMCALLBACK_APPS
// or IMCALLBACK_FORWARD, which are no variables to set (they are
// refused); a problem of the variable IMCALLBACK_APPS still names it, and
// an app id of IMCALLBACK_SDKAPPID is said once, under the variable, not
// again as an entry.
func TestFileEntryProblemsNameTheFileKey(t *testing.T) {
	const whsec = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	tests := []struct {
		name string
		file string
		env  []string
		want []string
	}{
		{"a timeout that is no duration", "forward:\n  - url: http://h/\n    timeout: soon\n", nil,
			[]string{`forward[0].timeout: "soon" is not a duration (e.g. 60s)`}},
		{"an entry that is no map", "apps:\n  - sdkappid: \"1\"\n  - 5\n", nil,
			[]string{`apps[1] is not a map of keys (e.g. sdkappid: "1400000001")`}},
		{"a boolean that is none", "apps:\n  - sdkappid: \"1\"\n  - sdkappid: \"2\"\n    iplist: maybe\n", nil,
			[]string{`apps[1].iplist: "maybe" is not true or false`}},
		{"a number read as text", "forward:\n  - name: 0x10\n    url: http://h/\n    match: [\"*\"]\n    secret: " + whsec + "\n", nil,
			[]string{`forward[0].name: "0x10" is read by YAML as the number 16`}},
		{"a negative timeout", "forward:\n  - name: hook\n    url: http://h/\n    match: [\"*\"]\n    secret: " + whsec + "\n    timeout: -5s\n", nil,
			[]string{`forward[0] (hook): timeout must be positive, e.g. 5s`}},
		{"an entry without sdkappid", "apps:\n  - sdkappid: \"1\"\n  - tokens: [x]\n", nil,
			[]string{`apps[1]: an entry has no sdkappid`}},
		{"an sdkappid that is no number", "apps:\n  - sdkappid: \"1\"\n  - sdkappid: \"abc\"\n", nil,
			[]string{`apps[1].sdkappid: is not a decimal SDKAppID: character 1 of 3 is no digit (the value is not shown: it may be a secret set in the wrong variable)`}},
		{"an sdkappid with a leading zero", "apps:\n  - sdkappid: \"01\"\n", nil,
			[]string{`apps[0].sdkappid: "01" has a leading zero`}},
		{"an sdkappid listed twice", "apps:\n  - sdkappid: \"1\"\n  - sdkappid: \"1\"\n", nil,
			[]string{`apps[1].sdkappid: 1 is listed twice`}},
		{"an sdkappid with a space", "apps:\n  - sdkappid: \"1 \"\n", nil,
			[]string{`apps[0].sdkappid: "1 " has whitespace before or after it`}},
		{"the list not a list", "apps: 5\n", nil, []string{`apps: cannot read the value`}},
		{"the variable IMCALLBACK_APPS", "", []string{"IMCALLBACK_APPS=x"},
			[]string{"IMCALLBACK_APPS (apps): is read from the configuration file only"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := config.Source{Environ: env(append([]string{"IMCALLBACK_SDKAPPID=1"}, tt.env...)...)}
			if tt.file != "" {
				src.File = yamlFile(t, tt.file)
			}
			_, err := config.Load(src)
			if err == nil {
				t.Fatal("loaded")
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error:\n%v\nwant %q", err, want)
				}
			}
			if tt.env == nil && (strings.Contains(err.Error(), "IMCALLBACK_APPS") || strings.Contains(err.Error(), "IMCALLBACK_FORWARD")) {
				t.Errorf("an entry of the file named by a variable no one can set:\n%v", err)
			}
		})
	}
	// An app id of the variable is the variable's problem, said once.
	_, err := config.Load(config.Source{Environ: env("IMCALLBACK_SDKAPPID=abc,0140")})
	if err == nil || strings.Count(err.Error(), "character 1 of 3 is no digit") != 1 || strings.Count(err.Error(), `"0140"`) != 1 || strings.Contains(err.Error(), "apps") {
		t.Errorf("error:\n%v\nwant each id once, under IMCALLBACK_SDKAPPID", err)
	}
	// And one of a file's entry is the entry's, said once.
	_, err = config.Load(config.Source{File: yamlFile(t, "apps:\n  - sdkappid: \"abc\"\n"), Environ: env()})
	if err == nil || strings.Count(err.Error(), "character 1 of 3 is no digit") != 1 || strings.Contains(err.Error(), "IMCALLBACK_SDKAPPID") {
		t.Errorf("error:\n%v\nwant the entry's id once, under apps[0].sdkappid", err)
	}
}

// flag is a module's section with a boolean.
type boolSection struct {
	On bool `koanf:"on"`
}

func (boolSection) Validate() error { return nil }

// TestBooleanInTheFileIsTrueOrFalse: a boolean of the file (an app's
// iplist, a section's) was decoded weakly, so any number but 0 was true
// and an empty string false (iplist: "${IPLIST}" of an unset variable
// turned the app's address list off without a word), while the variable
// takes only what strconv.ParseBool does. The file takes the same values
// now: a YAML boolean, or one of those; others are refused, naming the key.
func TestBooleanInTheFileIsTrueOrFalse(t *testing.T) {
	tests := []struct {
		value string
		want  string // "true" or "false", or the error's text after the key
	}{
		{"true", "true"},
		{"false", "false"},
		{"1", "true"},
		{"0", "false"},
		{"'T'", "true"},
		{"~", "false"},
		{"2", "2 is not true or false"},
		{"-1", "-1 is not true or false"},
		{"1.5", "1.5 is not true or false"},
		{"''", `"" is not true or false`},
		{"maybe", `"maybe" is not true or false`},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			c, err := loadYAML(t, "apps:\n  - sdkappid: \"1\"\n    secret_key: k\n    iplist: "+tt.value+"\n")
			s, serr := config.LoadSection(config.Source{File: yamlFile(t, "flag:\n  on: "+tt.value+"\n"), Environ: env()}, "flag", boolSection{})
			if tt.want == "true" || tt.want == "false" {
				if err != nil || serr != nil {
					t.Fatalf("refused: %v; section: %v", err, serr)
				}
				if got := fmt.Sprint(c.Apps[0].IPList, " ", s.On); got != tt.want+" "+tt.want {
					t.Fatalf("iplist and on %s, want %s", got, tt.want)
				}
				return
			}
			if want := "apps[0].iplist: " + tt.want; err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("iplist: error %v, want %q", err, want)
			}
			if want := "IMCALLBACK_FLAG_ON (flag.on): " + tt.want; serr == nil || !strings.Contains(serr.Error(), want) {
				t.Errorf("section: error %v, want %q", serr, want)
			}
		})
	}
}

// TestAppEntrySdkAppIDOutOfRange: an apps entry's sdkappid of digits past
// what an SDKAppID holds (64 bits) was taken, config check calling it
// valid, while IMCALLBACK_SDKAPPID refuses it, and the start then failed
// building the app's REST client, naming no setting. It is refused as the
// variable's is, naming the entry.
func TestAppEntrySdkAppIDOutOfRange(t *testing.T) {
	tests := []struct {
		id   string
		want string // "" when taken
	}{
		{"99999999999999999999", `apps[0].sdkappid: "99999999999999999999" is not a decimal SDKAppID`},
		{"18446744073709551616", `apps[0].sdkappid: "18446744073709551616" is not a decimal SDKAppID`},
		{"18446744073709551615", ""},
		{"1400000001", ""},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			_, err := loadYAML(t, "apps:\n  - sdkappid: \""+tt.id+"\"\n    secret_key: k\n")
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("error %v, want %q", err, tt.want)
			}
		})
	}
}

// TestAppVariableInAnyCase: a per-app variable's name is read in any case
// after IMCALLBACK_, APP_ included, as every other variable's is (the
// README: "a variable's name is read in any case after the prefix").
// Before, IMCALLBACK_app_1400000001_TOKENS was noted as no setting and
// ignored, so the app was verified with the global tokens, or with none.
func TestAppVariableInAnyCase(t *testing.T) {
	tests := []struct {
		name      string
		vars      []string
		tokens    string // the app's own tokens, joined
		wantErr   string
		wantNote  string
		wantEmpty string
	}{
		{"app_ in lower case", []string{"IMCALLBACK_app_1400000001_TOKENS=tok-own"}, "tok-own", "", "", ""},
		{"App_ and the key in mixed case", []string{"IMCALLBACK_App_1400000001_Tokens=tok-own"}, "tok-own", "", "", ""},
		{"upper case, as before", []string{"IMCALLBACK_APP_1400000001_TOKENS=tok-own"}, "tok-own", "", "", ""},
		{"two spellings, two values", []string{"IMCALLBACK_APP_1400000001_TOKENS=tok-a", "IMCALLBACK_app_1400000001_tokens=tok-b"}, "",
			"IMCALLBACK_APP_1400000001_TOKENS (app_1400000001_tokens): set more than once with different values, " +
				"as IMCALLBACK_APP_1400000001_TOKENS and IMCALLBACK_app_1400000001_tokens", "", ""},
		{"an app not accepted", []string{"IMCALLBACK_app_1400000009_TOKENS=tok-own"}, "", "",
			"IMCALLBACK_app_1400000009_TOKENS is ignored: app 1400000009 is not in IMCALLBACK_SDKAPPID", ""},
		{"a misspelt key", []string{"IMCALLBACK_app_1400000001_TOKEN=tok-own"}, "", "",
			"IMCALLBACK_app_1400000001_TOKEN is not a setting; did you mean IMCALLBACK_APP_1400000001_TOKENS?", ""},
		{"empty", []string{"IMCALLBACK_app_1400000001_TOKENS= "}, "", "", "",
			"IMCALLBACK_app_1400000001_TOKENS is set but empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := config.Load(config.Source{Environ: env(append([]string{"IMCALLBACK_SDKAPPID=1400000001", "IMCALLBACK_TOKENS=tok-global"}, tt.vars...)...)})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "tok-") {
					t.Fatalf("error %v, want one saying %q without the values", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			app, _ := c.App("1400000001")
			own := strings.Join(app.Tokens, ",")
			if tt.tokens == "" && own != "tok-global" || tt.tokens != "" && own != tt.tokens {
				t.Errorf("app 1400000001 verified with %q, want %q", own, tt.tokens)
			}
			notes := strings.Join(c.Notes(), "\n")
			if tt.wantNote != "" && !strings.Contains(notes, tt.wantNote) {
				t.Errorf("notes %q, want one saying %q", notes, tt.wantNote)
			}
			if tt.wantEmpty != "" && !strings.Contains(strings.Join(c.EmptyEnv(), "\n"), tt.wantEmpty) {
				t.Errorf("empty-variable notes %q, want one saying %q", c.EmptyEnv(), tt.wantEmpty)
			}
			if tt.wantNote == "" && strings.Contains(notes, "not a setting") {
				t.Errorf("a per-app variable noted as no setting: %q", notes)
			}
		})
	}
}

// TestAppNettypesReadInDecimal: a nettype of the file written as text is
// read in decimal, as IMCALLBACK_APP_<SDKAPPID>_IPLIST_NETTYPES reads it
// and as the check of the entry took it: "010" was checked as 10 and then
// decoded as octal 8.
func TestAppNettypesReadInDecimal(t *testing.T) {
	for _, yaml := range []string{
		"apps:\n  - sdkappid: \"1\"\n    iplist_nettypes: [\"010\", \"+6\"]\n",
		"apps:\n  sdkappid: \"1\"\n  iplist_nettypes: [\"010\", \"+6\"]\n", // one entry without its dash
	} {
		c, err := config.Load(config.Source{File: yamlFile(t, yaml), Environ: env()})
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(c.Apps[0].IPListNetTypes); got != "[10 6]" {
			t.Errorf("%q: nettypes %s, want [10 6], as the variable reads them", yaml, got)
		}
	}
	c, err := config.Load(config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_APP_1_IPLIST_NETTYPES=010,+6")})
	if err != nil || fmt.Sprint(c.Apps[0].IPListNetTypes) != "[10 6]" {
		t.Fatalf("the variable: %v, %v", c, err)
	}
}
