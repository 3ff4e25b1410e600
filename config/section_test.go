package config_test

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/fx"
	"go.uber.org/fx/fxtest"

	"github.com/imcallback/imcallback/config"
)

// words is a module's section, as a user would declare it.
type words struct {
	List   []string      `koanf:"list"`
	Code   int           `koanf:"code"`
	Pause  time.Duration `koanf:"pause"`
	APIKey string        `koanf:"api_key" secret:"true"`
}

func (w words) Validate() error {
	if w.Code < 120001 || w.Code > 130000 {
		return errors.New("code must be between 120001 and 130000")
	}
	return nil
}

var wordsDefaults = words{Code: 120001, Pause: time.Second}

func yamlFile(t *testing.T, content string) string {
	t.Helper()
	path := t.TempDir() + "/c.yaml"
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// scope is a section whose fields share their names with the core's
// file-only lists (apps, forward): in a section they are plain fields,
// read from the section's variables.
type scope struct {
	Apps    []string `koanf:"apps"`
	Forward string   `koanf:"forward"`
}

func (scope) Validate() error { return nil }

func TestSectionFieldsNamedLikeFileOnlySettings(t *testing.T) {
	v, err := config.LoadSection(config.Source{Environ: env("IMCALLBACK_SCOPE_APPS=1400000001, 1400000002", "IMCALLBACK_SCOPE_FORWARD=yes")}, "scope", scope{})
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprintf("%v %s", v.Apps, v.Forward) != "[1400000001 1400000002] yes" {
		t.Errorf("section read %+v from IMCALLBACK_SCOPE_APPS and IMCALLBACK_SCOPE_FORWARD", v)
	}
}

func TestSectionLoads(t *testing.T) {
	file := yamlFile(t, "sdkappid: [\"1400000000\"]\nwords:\n  list: [spam, scam]\n  pause: 2s\n  api_key: k-secret\n")
	tests := []struct {
		name    string
		src     config.Source
		want    string // fmt of List, Code, Pause
		wantErr []string
	}{
		{"defaults", config.Source{Environ: env()}, "[] 120001 1s", nil},
		{"file", config.Source{File: file, Environ: env()}, "[spam scam] 120001 2s", nil},
		{"environment over file", config.Source{File: file, Environ: env("IMCALLBACK_WORDS_LIST=a,b", "IMCALLBACK_WORDS_CODE=120042")}, "[a b] 120042 2s", nil},
		{"validation", config.Source{Environ: env("IMCALLBACK_WORDS_CODE=5")}, "", []string{"IMCALLBACK_WORDS (words): code must be between"}},
		{"decode errors name the variable", config.Source{Environ: env("IMCALLBACK_WORDS_CODE=many", "IMCALLBACK_WORDS_PAUSE=30")},
			"", []string{"IMCALLBACK_WORDS_CODE (words.code): \"many\" is not a whole number", "IMCALLBACK_WORDS_PAUSE (words.pause)", "unit"}},
		{"unknown key in the section", config.Source{File: yamlFile(t, "words:\n  lst: [x]\n"), Environ: env()},
			"", []string{"unknown key words.lst; did you mean words.list?"}},
		// IMCALLBACK_WORDS_LIST="spam, eggs" is two items: the same text
		// in the file, one value where a list is read, would be one.
		{"one value holding a comma in the file", config.Source{File: yamlFile(t, "words:\n  list: \"spam, eggs\"\n"), Environ: env()},
			"", []string{`IMCALLBACK_WORDS_LIST (words.list): "spam, eggs" is one value holding a comma: the file reads it as one item, ` +
				`where IMCALLBACK_WORDS_LIST is split at its commas; write the items as a YAML list ([a, b]), or a list of one (["a, b"]) if one is meant`}},
		{"one value without a comma in the file", config.Source{File: yamlFile(t, "words:\n  list: spam\n"), Environ: env()}, "[spam] 120001 1s", nil},
		{"a list item holding a comma in the file", config.Source{File: yamlFile(t, "words:\n  list: [\"spam, eggs\"]\n"), Environ: env()}, "[spam, eggs] 120001 1s", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := config.LoadSection(tt.src, "words", wordsDefaults)
			if len(tt.wantErr) > 0 {
				for _, w := range tt.wantErr {
					if err == nil || !strings.Contains(err.Error(), w) {
						t.Fatalf("error %v, want it to contain %q", err, w)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if g := fmt.Sprint(got.List, got.Code, got.Pause); g != tt.want {
				t.Fatalf("section %s, want %s", g, tt.want)
			}
		})
	}
}

// TestSectionInTheApp runs config.Module with a declared section: the core
// file may hold the section's key, its variables are no unknown ones, the
// module gets its settings, and an invalid section fails the start.
func TestSectionInTheApp(t *testing.T) {
	file := yamlFile(t, "sdkappid: [\"1400000000\"]\nwords:\n  list: [spam]\n")
	var got words
	var cfg *config.Config
	app := fxtest.New(t, fx.NopLogger,
		fx.Supply(config.Source{File: file, Environ: env("IMCALLBACK_WORDS_CODE=120042")}),
		config.Module,
		config.Section("words", wordsDefaults),
		fx.Populate(&got, &cfg),
	)
	app.RequireStart().RequireStop()
	if strings.Join(got.List, ",") != "spam" || got.Code != 120042 {
		t.Fatalf("section %+v", got)
	}
	for _, n := range cfg.Notes() {
		if strings.Contains(n, "IMCALLBACK_WORDS") {
			t.Fatalf("the section's variable reported as unknown: %s", n)
		}
	}

	bad := fx.New(fx.NopLogger,
		fx.Supply(config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_WORDS_CODE=7")}),
		config.Module, config.Section("words", wordsDefaults), fx.Populate(&got))
	if err := bad.Err(); err == nil || !strings.Contains(err.Error(), "IMCALLBACK_WORDS (words): code must be") {
		t.Fatalf("invalid section: %v", err)
	}
}

func TestSectionRendersRedacted(t *testing.T) {
	var infos []config.SectionInfo
	app := fxtest.New(t, fx.NopLogger, config.Section("words", wordsDefaults),
		fx.Invoke(fx.Annotate(func(s []config.SectionInfo) { infos = s }, fx.ParamTags(config.SectionGroup))))
	app.RequireStart().RequireStop()
	if len(infos) != 1 || infos[0].Key != "words" || strings.Join(infos[0].Fields, ",") != "api_key,code,list,pause" {
		t.Fatalf("sections %+v", infos)
	}
	out, err := infos[0].Load(config.Source{Environ: env("IMCALLBACK_WORDS_API_KEY=k-secret")})
	if err != nil || !strings.Contains(out, "words:") || !strings.Contains(out, "[redacted]") ||
		strings.Contains(out, "k-secret") || !strings.Contains(out, "pause: 1s") {
		t.Fatalf("rendered %q %v", out, err)
	}
	if n := config.UnknownEnv([]string{"IMCALLBACK_WORDS_LST=x"}, infos...); len(n) != 1 || !strings.Contains(n[0], "did you mean IMCALLBACK_WORDS_LIST?") {
		t.Fatalf("unknown section variable: %v", n)
	}
	if _, err := config.LoadSection(config.Source{Environ: env()}, "listen", wordsDefaults); err == nil {
		t.Fatal("a section named like a core setting was accepted")
	}
}

// TestSectionSecretNotInErrors: a value of a field tagged secret:"true"
// that does not decode is not quoted in the error, as config check
// never shows it.
func TestSectionSecretNotInErrors(t *testing.T) {
	_, err := config.LoadSection(config.Source{File: yamlFile(t, "words:\n  api_key: [k-secret]\n"), Environ: env()}, "words", wordsDefaults)
	if err == nil || !strings.Contains(err.Error(), "IMCALLBACK_WORDS_API_KEY (words.api_key): the value is a list") ||
		strings.Contains(err.Error(), "k-secret") {
		t.Fatalf("error %v: want the problem without the value", err)
	}
}

// TestSectionKeyDeclaredTwice: two modules declaring one section key (of
// different types, which fx cannot tell apart) would both read the same
// YAML key and variables; the start stops naming the key.
func TestSectionKeyDeclaredTwice(t *testing.T) {
	var got words
	var cfg *config.Config
	app := fx.New(fx.NopLogger,
		fx.Supply(config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_WORDS_APPS=a")}),
		config.Module,
		config.Section("words", wordsDefaults),
		config.Section("words", scope{}),
		fx.Populate(&got, &cfg))
	if err := app.Err(); err == nil || !strings.Contains(err.Error(), `section "words" is declared twice`) {
		t.Fatalf("a section key declared twice: %v", err)
	}
}

// TestSectionSecretWrittenAsAMapIsNotQuoted: a section's secret field
// written as a YAML map made the secret a key, which the unknown-key line
// quoted (words.api_key.k-secret).
func TestSectionSecretWrittenAsAMapIsNotQuoted(t *testing.T) {
	_, err := config.LoadSection(config.Source{File: yamlFile(t, "words:\n  api_key: {k-secret}\n"), Environ: env()}, "words", wordsDefaults)
	if err == nil || !strings.Contains(err.Error(), "IMCALLBACK_WORDS_API_KEY (words.api_key): the value is a map") ||
		strings.Contains(err.Error(), "k-secret") {
		t.Fatalf("error %v: want the problem without the value", err)
	}
}

// TestSectionKeyWrittenTwice: YAML's error about a key written twice names
// a section's own field, and not a key no setting has, which may be a
// secret (a list written in braces, {a, a}, is a mapping of its items).
func TestSectionKeyWrittenTwice(t *testing.T) {
	for _, tt := range []struct{ name, file, want string }{
		{"a field", "words:\n  code: 120001\n  code: 120002\n", `mapping key "code" already defined at line 2`},
		{"a secret in braces", "words:\n  api_key: {k-secret, k-secret}\n", "line 2: mapping key [redacted]"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.LoadSection(config.Source{File: yamlFile(t, tt.file), Environ: env()}, "words", wordsDefaults)
			if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "k-secret") {
				t.Fatalf("error %v: want it to say %q, without the secret", err, tt.want)
			}
		})
	}
}

// retries is a section with a list of durations.
type retries struct {
	Delays []time.Duration `koanf:"delays"`
	Wait   time.Duration   `koanf:"wait"`
}

func (retries) Validate() error { return nil }

// TestSectionRendersAListOfDurationsAsAList: config check and /v1/config
// showed a section's list of durations as one text ('[1s 2m0s]'), which
// the file, copied from that output, refused as no duration; it is a
// YAML list, as the core's backoff, and reads back as it was.
func TestSectionRendersAListOfDurationsAsAList(t *testing.T) {
	def := retries{Delays: []time.Duration{time.Second, 2 * time.Minute}, Wait: 3 * time.Second}
	infos, err := config.DeclaredSections(config.Section("retries", def))
	if err != nil {
		t.Fatal(err)
	}
	out, err := infos[0].Load(config.Source{Environ: env()})
	if err != nil || !strings.Contains(out, "delays:\n        - 1s\n        - 2m0s\n") {
		t.Fatalf("rendered %q, %v; want the delays as a YAML list", out, err)
	}
	got, err := config.LoadSection(config.Source{File: yamlFile(t, out), Environ: env()}, "retries", retries{})
	if err != nil || !slices.Equal(got.Delays, def.Delays) || got.Wait != def.Wait {
		t.Fatalf("the rendered section reads back as %+v, %v; want %+v", got, err, def)
	}
}

// rulesSection is a section with struct fields holding no secret: one, a
// list and a map of them, and a prefix, which writes itself as text.
type rulesSection struct {
	Limits struct {
		MaxJoins int `koanf:"max_joins"`
	} `koanf:"limits"`
	Rules []rule          `koanf:"rules"`
	ByApp map[string]rule `koanf:"by_app"`
	Range netip.Prefix    `koanf:"range"`
}

type rule struct {
	Name   string        `koanf:"name"`
	MaxLen int           `koanf:"max_len"`
	Pause  time.Duration `koanf:"pause"`
}

func (rulesSection) Validate() error { return nil }

// TestSectionRendersNestedKeysAsTheFileWritesThem: config check and
// /v1/config showed the fields of a section's struct fields that hold no
// secret by their Go names in lower case (maxjoins, maxlen), not by their
// keys (max_joins, max_len): copied
// back, the file refused the struct's key as unknown, and an entry of a
// list lost its value without a word. They are written as the file writes
// them, and read back as they were.
func TestSectionRendersNestedKeysAsTheFileWritesThem(t *testing.T) {
	infos, err := config.DeclaredSections(config.Section("mod", rulesSection{}))
	if err != nil {
		t.Fatal(err)
	}
	file := yamlFile(t, "mod:\n  limits: {max_joins: 5}\n  rules: [{name: a, max_len: 3, pause: 2s}]\n"+
		"  by_app: {\"1400000001\": {name: b, max_len: 4}}\n  range: 10.0.0.0/8\n")
	want, err := config.LoadSection(config.Source{File: file, Environ: env()}, "mod", rulesSection{})
	if err != nil {
		t.Fatal(err)
	}
	out, err := infos[0].Load(config.Source{File: file, Environ: env()})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"max_joins: 5", "max_len: 3", "max_len: 4", "pause: 2s", "range: 10.0.0.0/8"} {
		if !strings.Contains(out, s) {
			t.Errorf("rendered section %q does not hold %q", out, s)
		}
	}
	got, err := config.LoadSection(config.Source{File: yamlFile(t, out), Environ: env()}, "mod", rulesSection{})
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("the rendered section %q reads back as %+v, %v; want %+v", out, got, err, want)
	}
}

// TestSectionUnknownKeyOfAnEntry: a misspelt key of an entry of a
// section's list of structs (rules[0].maxlen), or of a value of its map of
// structs (by_app.<key>.maxlen), was no unknown key, and the entry ran
// without its value; it stops the start as one of a struct field does,
// naming the entry.
func TestSectionUnknownKeyOfAnEntry(t *testing.T) {
	tests := []struct{ name, yaml, want string }{
		{"an entry of a list", "mod:\n  rules: [{name: a, maxlen: 3}]\n", "unknown key mod.rules[0].maxlen; did you mean mod.rules[0].max_len?"},
		{"a later entry", "mod:\n  rules:\n    - name: a\n    - {name: b, nmae: c}\n", "unknown key mod.rules[1].nmae; did you mean mod.rules[1].name?"},
		{"a value of a map", "mod:\n  by_app: {\"1400000001\": {name: b, maxlen: 4}}\n", "unknown key mod.by_app.1400000001.maxlen"},
		{"a struct field", "mod:\n  limits: {maxjoins: 5}\n", "unknown key mod.limits.maxjoins"},
		{"a secret written without its key", "mod:\n  rules: [{name: a, s3cr3t-value}]\n", "mod.rules[0] holds a key without a value"},
		{"merged into an entry", "r: &r {nmae: c}\nmod:\n  rules: [{<<: *r, name: a}]\n", "unknown key mod.rules[0].nmae; did you mean mod.rules[0].name?"},
		{"merged into a struct field", "l: &l {maxjoins: 5}\nmod:\n  limits: {<<: *l}\n", "unknown key mod.limits.maxjoins"},
		{"a struct field merged into the section", "d: &d {limits: {maxjoins: 5}}\nmod:\n  <<: *d\n", "unknown key mod.limits.maxjoins"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.LoadSection(config.Source{File: yamlFile(t, tt.yaml), Environ: env()}, "mod", rulesSection{})
			var uk *config.UnknownKeyError
			if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.As(err, &uk) || strings.Contains(err.Error(), "s3cr3t") {
				t.Fatalf("error %v, want one saying %q", err, tt.want)
			}
		})
	}
	// The entries' own keys, and a map's keys, are no unknown keys.
	file := yamlFile(t, "mod:\n  rules: [{name: a, max_len: 3, pause: 1s}]\n  by_app: {\"1400000001\": {name: b}, other: {max_len: 2}}\n")
	if _, err := config.LoadSection(config.Source{File: file, Environ: env()}, "mod", rulesSection{}); err != nil {
		t.Fatal(err)
	}
}

// timingSection is a section whose durations, whole numbers and booleans
// are within a struct field, a map and a list's entries.
type timingSection struct {
	Inner struct {
		Wait time.Duration `koanf:"wait"`
		Size int           `koanf:"size"`
		On   bool          `koanf:"on"`
	} `koanf:"inner"`
	Waits map[string]time.Duration `koanf:"waits"`
	ByApp map[string]struct {
		Wait time.Duration `koanf:"wait"`
	} `koanf:"by_app"`
	Steps []struct {
		Limit struct {
			Size int `koanf:"size"`
		} `koanf:"limit"`
	} `koanf:"steps"`
}

func (timingSection) Validate() error { return nil }

// TestSectionNestedValuesAreReadAsSettings: within a section's struct or
// map field the decoder's own rules applied, not the settings': wait: 30
// was 30ns, size: 1.5 was 1, size: "010" octal 8 and on: 5 true, without a
// word. They are refused, or read, as a setting's value is.
func TestSectionNestedValuesAreReadAsSettings(t *testing.T) {
	tests := []struct{ name, yaml, want string }{
		{"a duration without a unit", "inner: {wait: 30}", "IMCALLBACK_T_INNER (t.inner): inner.wait: 30 needs a unit, e.g. 30s"},
		{"a fraction", "inner: {size: 1.5}", "IMCALLBACK_T_INNER (t.inner): inner.size: 1.5 is not a whole number"},
		{"a number for a boolean", "inner: {on: 5}", "IMCALLBACK_T_INNER (t.inner): inner.on: 5 is not true or false"},
		{"a map's duration", "waits: {x: 30}", "IMCALLBACK_T_WAITS (t.waits): waits.x: 30 needs a unit, e.g. 30s"},
		{"a map's struct", "by_app: {x: {wait: 30}}", "IMCALLBACK_T_BY_APP (t.by_app): by_app.x.wait: 30 needs a unit, e.g. 30s"},
		{"an entry's struct", "steps: [{limit: {size: 1.5}}]", "IMCALLBACK_T_STEPS (t.steps): steps[0].limit.size: 1.5 is not a whole number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.LoadSection(config.Source{File: yamlFile(t, "t:\n  "+tt.yaml+"\n"), Environ: env()}, "t", timingSection{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one saying %q", err, tt.want)
			}
		})
	}
	// A whole number is read in decimal, as a variable's: "010" is 10.
	got, err := config.LoadSection(config.Source{File: yamlFile(t, "t:\n  inner: {size: \"010\", wait: 1m}\n  steps: [{limit: {size: \"010\"}}]\n"),
		Environ: env()}, "t", timingSection{})
	if err != nil || got.Inner.Size != 10 || got.Inner.Wait != time.Minute || len(got.Steps) != 1 || got.Steps[0].Limit.Size != 10 {
		t.Fatalf("section %+v, %v; want the sizes 10", got, err)
	}
}

// TestSectionNestedTextReadAsANumber: a text within a section's struct
// field, a list's entry or a map that YAML reads as a number (name:
// 0123, octal 83) was taken as the text "83" without a word, where a
// section's own text field is refused; it is refused there too, naming
// its path, and a secret's is not shown.
func TestSectionNestedTextReadAsANumber(t *testing.T) {
	tests := []struct{ name, yaml, want string }{
		{"a struct field", "limits: {max_joins: 010}",
			"IMCALLBACK_MOD_LIMITS (mod.limits): limits.max_joins: 010 is read by YAML as the octal number 8, not as 10"},
		{"an entry of a list", "rules: [{name: ok}, {name: 0123}]",
			`IMCALLBACK_MOD_RULES (mod.rules): rules[1].name: "0123" is read by YAML as the number 83`},
		{"a value of a map", "by_app: {\"1400000001\": {name: true}}",
			`IMCALLBACK_MOD_BY_APP (mod.by_app): by_app.1400000001.name: "true" is read by YAML as the boolean true`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.LoadSection(config.Source{File: yamlFile(t, "mod:\n  "+tt.yaml+"\n"), Environ: env()}, "mod", rulesSection{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one saying %q", err, tt.want)
			}
		})
	}
	// A secret's value is not shown.
	_, err := config.LoadSection(config.Source{File: yamlFile(t, "up:\n  upstream: {url: https://u.example, token: 0123}\n"), Environ: env()},
		"up", upstreamSection{})
	if err == nil || !strings.Contains(err.Error(), "upstream.token: the value is read by YAML as a number") || strings.Contains(err.Error(), "0123") {
		t.Fatalf("error %v: want the secret's problem without it", err)
	}
}

// TestSectionMergedTextReadAsANumber: a value merged in with a YAML merge
// key (<<: *defaults, or a list of them) is read as one written in place,
// but the check of a text YAML reads as a number (name: 0123, octal 83)
// did not look past the merge key within a section's struct, map or list
// field, nor into a struct field merged into the section, nor into a
// section merged into the file's top: such a value was taken as the text
// "83" without a word. A merged value the mapping's own key replaces
// (or an earlier merged mapping's) is not read, and not refused.
func TestSectionMergedTextReadAsANumber(t *testing.T) {
	const octal = "IMCALLBACK_MOD_LIMITS (mod.limits): limits.max_joins: 010 is read by YAML as the octal number 8, not as 10"
	refused := []struct{ name, yaml, want string }{
		{"a struct field merged into the section", "d: &d {limits: {max_joins: 010}}\nmod:\n  <<: *d\n", octal},
		{"merged into a struct field", "l: &l {max_joins: 010}\nmod:\n  limits: {<<: *l}\n", octal},
		{"the section merged into the file's top", "<<: {mod: {limits: {max_joins: 010}}}\n", octal},
		{"merged into an entry of a list", "r: &r {name: 0123}\nmod:\n  rules: [{<<: *r, max_len: 3}]\n",
			`IMCALLBACK_MOD_RULES (mod.rules): rules[0].name: "0123" is read by YAML as the number 83`},
		{"merged into a value of a map", "r: &r {name: true}\nmod:\n  by_app: {\"1400000001\": {<<: *r}}\n",
			`IMCALLBACK_MOD_BY_APP (mod.by_app): by_app.1400000001.name: "true" is read by YAML as the boolean true`},
		{"a map's values merged into it", "m: &m {x: {name: 0123}}\nmod:\n  by_app: {<<: *m}\n",
			`IMCALLBACK_MOD_BY_APP (mod.by_app): by_app.x.name: "0123" is read by YAML as the number 83`},
		{"a list of merged mappings", "a: &a {name: 0123}\nb: &b {max_len: 2}\nmod:\n  rules: [{<<: [*b, *a]}]\n",
			`IMCALLBACK_MOD_RULES (mod.rules): rules[0].name: "0123" is read by YAML as the number 83`},
		{"a merge within a merged mapping", "a: &a {name: 0123}\nb: &b {<<: *a, max_len: 2}\nmod:\n  rules: [{<<: *b}]\n",
			`IMCALLBACK_MOD_RULES (mod.rules): rules[0].name: "0123" is read by YAML as the number 83`},
	}
	for _, tt := range refused {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.LoadSection(config.Source{File: yamlFile(t, tt.yaml), Environ: env()}, "mod", rulesSection{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one saying %q", err, tt.want)
			}
		})
	}
	// A secret's value is not shown.
	_, err := config.LoadSection(config.Source{File: yamlFile(t, "u: &u {url: https://u.example, token: 0123}\nup:\n  upstream: {<<: *u}\n"),
		Environ: env()}, "up", upstreamSection{})
	if err == nil || !strings.Contains(err.Error(), "upstream.token: the value is read by YAML as a number") || strings.Contains(err.Error(), "0123") {
		t.Errorf("error %v: want the secret's problem without it", err)
	}
	replaced := []struct{ name, yaml, want string }{
		{"by the entry's own key", "r: &r {name: 0123}\nmod:\n  rules: [{<<: *r, name: ok}]\n", "ok"},
		{"before the merge key", "r: &r {name: 0123}\nmod:\n  rules: [{name: ok, <<: *r}]\n", "ok"},
		{"by an earlier merged mapping", "a: &a {name: 0123}\nb: &b {name: ok}\nmod:\n  rules: [{<<: [*b, *a]}]\n", "ok"},
		{"by a merged mapping's own key", "a: &a {name: 0123}\nb: &b {<<: *a, name: ok}\nmod:\n  rules: [{<<: *b}]\n", "ok"},
	}
	for _, tt := range replaced {
		t.Run("replaced "+tt.name, func(t *testing.T) {
			got, err := config.LoadSection(config.Source{File: yamlFile(t, tt.yaml), Environ: env()}, "mod", rulesSection{})
			if err != nil || len(got.Rules) != 1 || got.Rules[0].Name != tt.want {
				t.Fatalf("section %+v, %v; want the rule named %q", got, err, tt.want)
			}
		})
	}
	for _, tt := range []struct{ name, yaml string }{
		{"by the section's own key", "d: &d {list: [0x10]}\nwords:\n  <<: *d\n  list: [ok]\n"},
		{"a secret, by the section's own key", "d: &d {api_key: 0777, list: [ok]}\nwords:\n  <<: *d\n  api_key: k\n"},
	} {
		t.Run("replaced "+tt.name, func(t *testing.T) {
			got, err := config.LoadSection(config.Source{File: yamlFile(t, tt.yaml), Environ: env()}, "words", wordsDefaults)
			if err != nil || strings.Join(got.List, ",") != "ok" {
				t.Fatalf("section %+v, %v; want the list [ok]", got, err)
			}
		})
	}
}

// TestSectionSecretWrittenAsAKeyIsNotQuoted: in braces, a section's secret
// written without the ':' after its key is a key without a value, which
// the unknown-key line quoted (words.api_key k-secret); it is named by its
// section alone.
func TestSectionSecretWrittenAsAKeyIsNotQuoted(t *testing.T) {
	file := yamlFile(t, "words: {code: 120002, api_key k-secret}\n")
	_, err := config.LoadSection(config.Source{File: file, Environ: env()}, "words", wordsDefaults)
	want := file + ": words holds a key without a value that no setting reads; it is not shown"
	if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "k-secret") {
		t.Fatalf("error %v: want %q, without the value", err, want)
	}
}

// TestSectionThatIsNoMapping: a section's key in the file holding a list
// or a single value (words: [spam, scam], a list meant for one of its
// fields) was no unknown key, and read as no field at all, so the module
// ran on its defaults without a word. It is refused, naming the file and
// the section's keys, and never the value, which may be a secret; an
// empty section is the defaults.
func TestSectionThatIsNoMapping(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       string // "" when it loads
	}{
		{"a list", "words: [spam, scam]\n", "words is a list, not a mapping of its keys (api_key, code, list, pause)"},
		{"a list of entries", "words:\n  - code: 120002\n", "words is a list, not a mapping of its keys"},
		{"a single value", "words: k-secret\n", "words is a single value, not a mapping of its keys"},
		{"a number", "words: 120002\n", "words is a single value, not a mapping of its keys"},
		{"empty", "words:\n", ""},
		{"an empty mapping", "words: {}\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := yamlFile(t, tt.yaml)
			got, err := config.LoadSection(config.Source{File: file, Environ: env()}, "words", wordsDefaults)
			if tt.want == "" {
				if err != nil || got.Code != wordsDefaults.Code {
					t.Fatalf("section %+v, %v; want the defaults", got, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), file+": "+tt.want) || strings.Contains(err.Error(), "k-secret") {
				t.Fatalf("error %v, want %q without the value", err, file+": "+tt.want)
			}
		})
	}
}

// TestSectionVariableInAnyCase: a core setting's variable is read in any
// case after IMCALLBACK_ (IMCALLBACK_allow_cidrs), and so is a section's:
// IMCALLBACK_words_code was neither read nor noted as unknown (UnknownEnv
// takes it for the section's), so its value was dropped without a word.
func TestSectionVariableInAnyCase(t *testing.T) {
	info := config.SectionInfo{Key: "words", Fields: []string{"api_key", "code", "list", "pause"}}
	tests := []struct {
		name    string
		environ []string
		want    string // fmt of List and Code, or a part of the error
	}{
		{"lower case", []string{"IMCALLBACK_words_code=120002"}, "[] 120002"},
		{"mixed case", []string{"IMCALLBACK_Words_List=a,b"}, "[a b] 120001"},
		{"the same value twice", []string{"IMCALLBACK_WORDS_CODE=120002", "IMCALLBACK_words_code=120002"}, "[] 120002"},
		{"two values", []string{"IMCALLBACK_WORDS_CODE=120002", "IMCALLBACK_words_code=120003"},
			"IMCALLBACK_WORDS_CODE (words.code): set more than once with different values, as IMCALLBACK_WORDS_CODE and IMCALLBACK_words_code"},
		{"an empty item", []string{"IMCALLBACK_words_list=a,,b"}, "IMCALLBACK_WORDS_LIST (words.list): item 2 of 3 is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := config.LoadSection(config.Source{Environ: env(tt.environ...)}, "words", wordsDefaults)
			checkLoaded(t, err, tt.want, func() string { return fmt.Sprint(got.List, got.Code) })
		})
	}
	// Set empty, it counts as unset and is noted, as IMCALLBACK_WORDS_CODE= is.
	c, err := config.LoadWith(config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_words_code=")}, info)
	if err != nil {
		t.Fatal(err)
	}
	if notes := c.EmptyEnv(); len(notes) != 1 || !strings.HasPrefix(notes[0], "IMCALLBACK_words_code is set but empty") {
		t.Errorf("empty notes %q, want IMCALLBACK_words_code's", notes)
	}
}

// pointerWords is a section whose Validate has a pointer receiver, so
// only *pointerWords is a Validator: a user passes &pointerWords{…}.
type pointerWords struct {
	List []string `koanf:"list"`
}

func (w *pointerWords) Validate() error { return nil }

// TestSectionOfAPointerFailsTheStart: a section declared with a pointer
// (config.Section("words", &pointerWords{}), what a Validate with a
// pointer receiver leads to) panicked in reflect as the app was built,
// and in LoadSection; it is an error that says to pass a struct value.
func TestSectionOfAPointerFailsTheStart(t *testing.T) {
	const want = `config: section "words": its default is a *config_test.pointerWords, not a struct: ` +
		`pass a struct value, config.Section("words", T{…}), whose Validate has a value receiver`
	var got *pointerWords
	app := fx.New(fx.NopLogger,
		fx.Supply(config.Source{Environ: env("IMCALLBACK_SDKAPPID=1", "IMCALLBACK_WORDS_LIST=spam")}),
		config.Module,
		config.Section("words", &pointerWords{}),
		fx.Populate(&got))
	if err := app.Err(); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("a section of a pointer: %v, want an error saying %q", err, want)
	}
	if _, err := config.LoadSection(config.Source{Environ: env("IMCALLBACK_WORDS_LIST=spam")}, "words", &pointerWords{}); err == nil ||
		!strings.Contains(err.Error(), want) {
		t.Errorf("LoadSection of a pointer: %v, want an error saying %q", err, want)
	}
}

// unexportedWords is a section with a field tagged but not exported (a
// slip of the case), which reflection can neither set nor read.
type unexportedWords struct {
	words []string `koanf:"words"`
	Code  int      `koanf:"code"`
}

func (unexportedWords) Validate() error { return nil }

// TestSectionWithAnUnexportedFieldFailsTheStart: a section's field
// tagged koanf but unexported panicked in reflect ("cannot return value
// obtained from unexported field") as the app was built, naming neither
// the section nor the field; it is an error that names both.
func TestSectionWithAnUnexportedFieldFailsTheStart(t *testing.T) {
	const want = `config: section "words": field words is tagged koanf:"words" but not exported, ` +
		`so it cannot be set: export it (Words), or drop the tag`
	var got unexportedWords
	app := fx.New(fx.NopLogger,
		fx.Supply(config.Source{Environ: env("IMCALLBACK_SDKAPPID=1")}),
		config.Module,
		config.Section("words", unexportedWords{}),
		fx.Populate(&got))
	if err := app.Err(); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("a section with an unexported field: %v, want an error saying %q", err, want)
	}
	if _, err := config.LoadSection(config.Source{Environ: env()}, "words", unexportedWords{}); err == nil ||
		!strings.Contains(err.Error(), want) {
		t.Errorf("LoadSection: %v, want an error saying %q", err, want)
	}
}

// nestedWords is a section with a map field and a struct field, which the
// file writes as mappings of their own keys.
type nestedWords struct {
	Replies map[string]string `koanf:"replies"`
	Limits  struct {
		Max int `koanf:"max"`
	} `koanf:"limits"`
}

func (nestedWords) Validate() error { return nil }

// TestSectionMapAndStructFieldsFromTheFile: a section's field of a map or
// a struct type, written in the file as a mapping, was decoded and yet
// failed the start, each of its keys reported as unknown ("unknown key
// words.replies.hi; did you mean words.replies?"). Its keys are the
// field's; a struct field's key that is none of its own is still unknown.
func TestSectionMapAndStructFieldsFromTheFile(t *testing.T) {
	file := yamlFile(t, "words:\n  replies: {hi: hello, bye: ciao}\n  limits: {max: 3}\n")
	got, err := config.LoadSection(config.Source{File: file, Environ: env()}, "words", nestedWords{})
	if err != nil || got.Replies["hi"] != "hello" || got.Replies["bye"] != "ciao" || got.Limits.Max != 3 {
		t.Fatalf("section %+v, %v; want the file's replies and limits", got, err)
	}
	file = yamlFile(t, "words:\n  limits: {mx: 3}\n")
	_, err = config.LoadSection(config.Source{File: file, Environ: env()}, "words", nestedWords{})
	if want := "unknown key words.limits.mx"; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("a key of limits that is none of its own: %v, want %q", err, want)
	}
}

// defaultsSection is a section whose defaults hold a map, a list and a
// map within a struct field.
type defaultsSection struct {
	Replies map[string]string `koanf:"replies"`
	List    []string          `koanf:"list"`
	Limits  struct {
		Per map[string]int `koanf:"per"`
	} `koanf:"limits"`
}

func (defaultsSection) Validate() error { return nil }

// TestSectionLoadLeavesTheDefaultsAlone: a load of a section decoded
// into the maps of its defaults (the value given to Section, which every
// load of the app reads again): a file's entries were written into them,
// so a later load in the same process (the next test's service, a
// program's second app) had them without any file, and the section
// returned shared its maps and lists with the defaults, so a constructor
// that changed its own (normalising the words) changed every later
// load's. Loads running at once (parallel tests, each starting a
// service with the module) wrote the one map together: a data race, or
// the runtime's fatal "concurrent map writes".
func TestSectionLoadLeavesTheDefaultsAlone(t *testing.T) {
	def := defaultsSection{Replies: map[string]string{"hi": "hello"}, List: []string{"spam"}}
	def.Limits.Per = map[string]int{"a": 1}
	file := yamlFile(t, "mod:\n  replies: {bye: ciao}\n  limits: {per: {b: 2}}\n")
	got, err := config.LoadSection(config.Source{File: file, Environ: env()}, "mod", def)
	if err != nil || got.Replies["bye"] != "ciao" || got.Limits.Per["b"] != 2 {
		t.Fatalf("section %+v, %v; want the file's entries", got, err)
	}
	got.List[0] = "changed"
	got.Replies["hi"] = "changed"
	got.Limits.Per["a"] = 9
	if !reflect.DeepEqual(def.Replies, map[string]string{"hi": "hello"}) || !slices.Equal(def.List, []string{"spam"}) ||
		!reflect.DeepEqual(def.Limits.Per, map[string]int{"a": 1}) {
		t.Fatalf("defaults after a load and a change of its section: %+v, want them as given", def)
	}
	again, err := config.LoadSection(config.Source{Environ: env()}, "mod", def)
	if err != nil || !reflect.DeepEqual(again, def) {
		t.Fatalf("a load without a file: %+v, %v; want the defaults %+v", again, err, def)
	}
	done := make(chan struct{})
	for range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			for range 20 {
				_, _ = config.LoadSection(config.Source{Environ: env()}, "mod", def)
			}
		}()
	}
	for range 4 {
		<-done
	}
}

// TestDeclaredSectionsListsWithoutRunningTheModules: the sections of a
// program's modules are listed before the configuration is loaded (serve,
// config check, the client commands, imcallback.Timeouts) from an app of
// the modules alone, in which none of their invokes may run: those need
// the rest of the service, and they run once, at the real start. A module
// that does not build is the build's own error.
func TestDeclaredSectionsListsWithoutRunningTheModules(t *testing.T) {
	ran := 0
	invoke := fx.Invoke(func() { ran++ })
	tests := []struct {
		name    string
		modules []fx.Option
		want    []string // the keys listed, sorted (fx gives a group in no set order)
		wantErr string
	}{
		{"no module", nil, nil, ""},
		{"two sections and invokes", []fx.Option{
			fx.Module("w", config.Section("words", wordsDefaults), invoke),
			config.Section("scope", scope{}), invoke}, []string{"scope", "words"}, ""},
		{"a type provided twice", []fx.Option{fx.Supply(wordsDefaults), fx.Supply(wordsDefaults), invoke},
			nil, "already provided"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ran = 0
			infos, err := config.DeclaredSections(tt.modules...)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatal(err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("error %v, want one saying %q", err, tt.wantErr)
			}
			var keys []string
			for _, info := range infos {
				keys = append(keys, info.Key)
			}
			slices.Sort(keys)
			if fmt.Sprint(keys) != fmt.Sprint(tt.want) {
				t.Errorf("listed %v, want %v", keys, tt.want)
			}
			if ran != 0 {
				t.Errorf("the modules' invokes ran %d times while their sections were listed", ran)
			}
		})
	}
}

// TestSectionMapAndStructFieldsFromTheEnvironment: a section's field of a
// map or a struct type, or a list of them, is read from the file alone. Its variable was
// taken as a value the decoder could not read, with the decoder's own
// message ("expected type 'map[string]string', got unconvertible type
// 'string'"), and a variable of a struct field's own key
// (IMCALLBACK_WORDS_LIMITS_MAX) was noted as no setting and ignored. Both
// are refused at start, saying to set the field in the file, never
// showing the value; one set empty is unset, as every variable.
func TestSectionMapAndStructFieldsFromTheEnvironment(t *testing.T) {
	const fileOnly = "is read from the configuration file only"
	tests := []struct {
		name string
		vars []string
		want string // "": loads
	}{
		{"a map field", []string{"IMCALLBACK_WORDS_REPLIES=hi:secret-hello"},
			"IMCALLBACK_WORDS_REPLIES (words.replies): " + fileOnly},
		{"a map field in lower case", []string{"IMCALLBACK_WORDS_replies=hi:secret-hello"},
			"IMCALLBACK_WORDS_REPLIES (words.replies): " + fileOnly},
		{"a struct field", []string{"IMCALLBACK_WORDS_LIMITS=secret-3"},
			"IMCALLBACK_WORDS_LIMITS (words.limits): " + fileOnly},
		{"a struct field's own key", []string{"IMCALLBACK_WORDS_LIMITS_MAX=3"},
			"IMCALLBACK_WORDS_LIMITS (words.limits): " + fileOnly},
		{"set empty", []string{"IMCALLBACK_WORDS_REPLIES= ", "IMCALLBACK_WORDS_LIMITS_MAX="}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := config.LoadSection(config.Source{Environ: env(tt.vars...)}, "words", nestedWords{})
			if tt.want == "" {
				if err != nil || len(got.Replies) != 0 || got.Limits.Max != 0 {
					t.Fatalf("section %+v, %v; want the defaults", got, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "secret-") ||
				!strings.Contains(err.Error(), "words:") {
				t.Fatalf("LoadSection: %v; want an error saying %q and where in the file, without the value", err, tt.want)
			}
		})
	}
	// A list of structs (of entries) alike: its variable was read by the
	// decoder, which said "'[0]' expected a map or struct, got "string"".
	_, err := config.LoadSection(config.Source{Environ: env("IMCALLBACK_MOD_RULES=secret-a,b")}, "mod", rulesSection{})
	if err == nil || !strings.Contains(err.Error(), "IMCALLBACK_MOD_RULES (mod.rules): "+fileOnly) ||
		!strings.Contains(err.Error(), "mod: {rules: [{…}]}") || strings.Contains(err.Error(), "secret-") {
		t.Fatalf("LoadSection: %v; want an error saying the list is the file's, without the value", err)
	}
	// A struct that reads itself from text is a variable's, as in the file.
	got, err := config.LoadSection(config.Source{Environ: env("IMCALLBACK_NET_RANGE=10.0.0.0/8")}, "net", prefixSection{})
	if err != nil || got.Range != netip.MustParsePrefix("10.0.0.0/8") {
		t.Errorf("section %+v, %v; want the variable's prefix", got, err)
	}
}

// prefixSection is a section with a struct field that reads itself from text.
type prefixSection struct {
	Range netip.Prefix `koanf:"range"`
}

func (prefixSection) Validate() error { return nil }

// upstreamSection is a section whose secrets are fields of its struct
// fields, one of them a pointer.
type upstreamSection struct {
	Name     string `koanf:"name"`
	Upstream struct {
		URL   string `koanf:"url"`
		Token string `koanf:"token" secret:"true"`
	} `koanf:"upstream"`
	Signer *struct {
		Key string `koanf:"key" secret:"true"`
	} `koanf:"signer"`
}

func (upstreamSection) Validate() error { return nil }

// TestSectionNestedSecretIsRedacted: a field tagged secret:"true" inside a
// section's struct field is a secret too. config check printed it as the
// file wrote it (only the section's own fields were redacted), and a value
// of the struct that did not decode was quoted whole in the error, the
// secret with it.
func TestSectionNestedSecretIsRedacted(t *testing.T) {
	infos, err := config.DeclaredSections(config.Section("up", upstreamSection{}))
	if err != nil || len(infos) != 1 {
		t.Fatalf("sections %v, %v", infos, err)
	}
	file := yamlFile(t, "up:\n  name: edge\n  upstream: {url: https://u.example, token: secret-tok}\n  signer: {key: secret-key}\n")
	out, err := infos[0].Load(config.Source{File: file, Environ: env()})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "secret-") || strings.Count(out, "[redacted]") != 2 ||
		!strings.Contains(out, "https://u.example") || !strings.Contains(out, "edge") {
		t.Errorf("config check shows\n%s\nwant the token and the key redacted, the rest shown", out)
	}
	// A list, or braces for brackets, which make the secret a key of a map.
	for _, value := range []string{"[secret-tok]", "{secret-tok}"} {
		file = yamlFile(t, "up:\n  upstream: {url: https://u.example, token: "+value+"}\n")
		_, err = config.LoadSection(config.Source{File: file, Environ: env()}, "up", upstreamSection{})
		if err == nil || strings.Contains(err.Error(), "secret-") || !strings.Contains(err.Error(), "up.upstream") {
			t.Errorf("token: %s: %v; want an error naming up.upstream without its value", value, err)
		}
	}
}

// camelWords is a section tagged in koanf's camel case, which no variable
// can name: variables are read in any case, a section's keys in lower case.
type camelWords struct {
	DenyCode int `koanf:"DenyCode"`
}

func (camelWords) Validate() error { return nil }

// dashedWords is a section with a key no shell variable can name.
type dashedWords struct {
	Limit int `koanf:"max-limit"`
}

func (dashedWords) Validate() error { return nil }

// TestSectionNamesNoVariableCanSetFailTheStart: a section key or a field
// tag in upper case (MyApp, koanf:"DenyCode") or with a character a
// variable's name cannot hold (my-app, koanf:"max-limit") was taken, and
// its variable IMCALLBACK_MYAPP_DENYCODE then set nothing, noted as "not
// a setting; did you mean IMCALLBACK_MYAPP_DENYCODE?", its own name. It
// fails the start, naming the key or the field and what to write.
func TestSectionNamesNoVariableCanSetFailTheStart(t *testing.T) {
	tests := []struct {
		name    string
		section fx.Option
		load    func() error
		want    string
	}{
		{"key in upper case", config.Section("MyWords", wordsDefaults), func() error {
			_, err := config.LoadSection(config.Source{Environ: env()}, "MyWords", wordsDefaults)
			return err
		}, `config: section key "MyWords" must be a plain word of lower-case letters and digits, as its variables IMCALLBACK_MYWORDS_<FIELD> are read: write "mywords"`},
		{"key with a dash", config.Section("my-words", wordsDefaults), func() error {
			_, err := config.LoadSection(config.Source{Environ: env()}, "my-words", wordsDefaults)
			return err
		}, `config: section key "my-words" must be a plain word of lower-case letters and digits, as its variables IMCALLBACK_MY-WORDS_<FIELD> are read: write "mywords"`},
		{"tag in camel case", config.Section("words", camelWords{}), func() error {
			_, err := config.LoadSection(config.Source{Environ: env()}, "words", camelWords{})
			return err
		}, `config: section "words": field DenyCode is tagged koanf:"DenyCode", which its variable cannot name (a section's keys are lower-case letters, digits and _): tag it koanf:"deny_code"`},
		{"tag with a dash", config.Section("words", dashedWords{}), func() error {
			_, err := config.LoadSection(config.Source{Environ: env()}, "words", dashedWords{})
			return err
		}, `config: section "words": field Limit is tagged koanf:"max-limit", which its variable cannot name (a section's keys are lower-case letters, digits and _): tag it koanf:"max_limit"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := fx.New(fx.NopLogger, fx.Supply(config.Source{Environ: env("IMCALLBACK_SDKAPPID=1")}), config.Module, tt.section,
				fx.Invoke(func(*config.Config) {}))
			if err := app.Err(); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("start error %v, want one saying %q", err, tt.want)
			}
			if err := tt.load(); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("LoadSection: %v, want an error saying %q", err, tt.want)
			}
		})
	}
}

// TestSectionTypeDeclaredTwice: two sections of one struct type, or one
// declared twice (its module wired twice), provide that type twice; the
// listing of the sections failed with dig's root cause alone, "already
// provided by config.Section[...].func2 (section.go:95)", naming neither
// the type nor the cause. It names both.
func TestSectionTypeDeclaredTwice(t *testing.T) {
	for _, tt := range []struct {
		name    string
		modules []fx.Option
	}{
		{"two keys of one type", []fx.Option{config.Section("words", wordsDefaults), config.Section("other", wordsDefaults)}},
		{"one section twice", []fx.Option{config.Section("words", wordsDefaults), config.Section("words", wordsDefaults)}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.DeclaredSections(tt.modules...)
			const want = "two config.Section declarations provide this type (one section declared twice, by a module wired twice say, " +
				"or two sections of one struct type): give each section a struct type of its own, declared once"
			if err == nil || !strings.Contains(err.Error(), "cannot provide config_test.words") || !strings.Contains(err.Error(), want) {
				t.Fatalf("error %v, want one naming config_test.words and saying %q", err, want)
			}
		})
	}
}

// untaggedWords is a section with a field its author forgot to tag.
type untaggedWords struct {
	Words []string
	Code  int `koanf:"code"`
	Note  int `koanf:"-"`
}

func (untaggedWords) Validate() error { return nil }

// TestSectionWithAnUntaggedFieldFailsTheStart: an exported field without
// a koanf tag is read from neither the file nor a variable: its variable
// (IMCALLBACK_WORDS_WORDS) was noted as "not a setting" and the field
// kept its default without a word. The start stops, naming the field and
// the tag to write; koanf:"-" leaves a field out on purpose.
func TestSectionWithAnUntaggedFieldFailsTheStart(t *testing.T) {
	const want = `config: section "words": field Words has no koanf tag, so neither the file nor a variable sets it: ` +
		`tag it koanf:"words", or koanf:"-" to keep it out of the configuration`
	app := fx.New(fx.NopLogger, fx.Supply(config.Source{Environ: env("IMCALLBACK_SDKAPPID=1")}), config.Module,
		config.Section("words", untaggedWords{}), fx.Invoke(func(*config.Config) {}))
	if err := app.Err(); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("start error %v, want one saying %q", err, want)
	}
	if _, err := config.LoadSection(config.Source{Environ: env()}, "words", untaggedWords{}); err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("LoadSection: %v, want an error saying %q", err, want)
	}
}

// codesSection is a module's section with a list of whole numbers, and
// whole numbers of narrower types.
type codesSection struct {
	Codes []int  `koanf:"codes"`
	Code  int    `koanf:"code"`
	Small int8   `koanf:"small"`
	Count uint16 `koanf:"count"`
}

func (codesSection) Validate() error { return nil }

// TestSectionWholeNumbersOfAList: each item of a list of whole numbers is
// read as a single whole number is, in decimal: IMCALLBACK_NUMS_CODES=010
// was octal 8 (and 0x10 hex 16) where IMCALLBACK_NUMS_CODE=010 is 10. A
// number past its field's type names the bound on its side only: "from
// -9223372036854775808" told an operator who wrote too large a number of
// negative values that the setting never takes.
func TestSectionWholeNumbersOfAList(t *testing.T) {
	tests := []struct {
		name    string
		environ []string
		yaml    string
		want    string // fmt of Codes, Code, Small and Count, or a part of the error
	}{
		{"variable", []string{"IMCALLBACK_NUMS_CODES=010, 20", "IMCALLBACK_NUMS_CODE=010"}, "", "[10 20] 10 0 0"},
		{"quoted in the file", nil, "nums:\n  codes: [\"010\", 20]\n  code: \"010\"\n", "[10 20] 10 0 0"},
		{"one value in the file", nil, "nums:\n  codes: 7\n", "[7] 0 0 0"},
		{"the default", nil, "", "[1 2] 0 0 0"},
		{"hex", []string{"IMCALLBACK_NUMS_CODES=5,0x10"}, "", `IMCALLBACK_NUMS_CODES (nums.codes): item #2: "0x10" is not a whole number`},
		{"a fraction", []string{"IMCALLBACK_NUMS_CODES=1.5"}, "", `IMCALLBACK_NUMS_CODES (nums.codes): item #1: "1.5" is not a whole number`},
		{"too large", []string{"IMCALLBACK_NUMS_CODES=99999999999999999999"}, "",
			`IMCALLBACK_NUMS_CODES (nums.codes): item #1: "99999999999999999999" is too large: at most 9223372036854775807`},
		{"too small", []string{"IMCALLBACK_NUMS_CODES=-99999999999999999999"}, "",
			`IMCALLBACK_NUMS_CODES (nums.codes): item #1: "-99999999999999999999" is too small: at least -9223372036854775808`},
		{"past an int8", []string{"IMCALLBACK_NUMS_SMALL=128"}, "", `IMCALLBACK_NUMS_SMALL (nums.small): "128" is too large: at most 127`},
		{"under an int8", []string{"IMCALLBACK_NUMS_SMALL=-129"}, "", `IMCALLBACK_NUMS_SMALL (nums.small): "-129" is too small: at least -128`},
		{"past a uint16", nil, "nums:\n  count: 65536\n", `IMCALLBACK_NUMS_COUNT (nums.count): 65536 is too large: at most 65535`},
		{"a negative unsigned", []string{"IMCALLBACK_NUMS_COUNT=-1"}, "", `IMCALLBACK_NUMS_COUNT (nums.count): "-1" is too small: at least 0`},
		{"narrow types in range", []string{"IMCALLBACK_NUMS_SMALL=-128", "IMCALLBACK_NUMS_COUNT=65535"}, "", "[1 2] 0 -128 65535"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := config.Source{Environ: env(tt.environ...)}
			if tt.yaml != "" {
				src.File = yamlFile(t, tt.yaml)
			}
			got, err := config.LoadSection(src, "nums", codesSection{Codes: []int{1, 2}})
			checkLoaded(t, err, tt.want, func() string { return fmt.Sprint(got.Codes, got.Code, got.Small, got.Count) })
		})
	}
}

// flagsSection is a module's section with a list of booleans.
type flagsSection struct {
	Flags []bool `koanf:"flags"`
}

func (flagsSection) Validate() error { return nil }

// TestSectionBooleansOfAList: each item of a list of booleans is read as
// a single boolean is: the file's [2, ""] was [true, false] where a single
// 2 is refused, as is an item of the variable.
func TestSectionBooleansOfAList(t *testing.T) {
	tests := []struct {
		name, yaml string
		environ    []string
		want       string // fmt of Flags, or a part of the error
	}{
		{"booleans in the file", "b:\n  flags: [true, 0, \"F\"]\n", nil, "[true false false]"},
		{"booleans of the variable", "", []string{"IMCALLBACK_B_FLAGS=true,0,F"}, "[true false false]"},
		{"a number that is none in the file", "b:\n  flags: [true, 2]\n", nil, "IMCALLBACK_B_FLAGS (b.flags): item #2: 2 is not true or false"},
		{"an empty text in the file", "b:\n  flags: [\"\"]\n", nil, `IMCALLBACK_B_FLAGS (b.flags): item #1: "" is not true or false`},
		{"one value that is none in the file", "b:\n  flags: 2\n", nil, "IMCALLBACK_B_FLAGS (b.flags): 2 is not true or false"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := config.Source{Environ: env(tt.environ...)}
			if tt.yaml != "" {
				src.File = yamlFile(t, tt.yaml)
			}
			got, err := config.LoadSection(src, "b", flagsSection{})
			checkLoaded(t, err, tt.want, func() string { return fmt.Sprint(got.Flags) })
		})
	}
}

// checkLoaded checks a section's load against want: a part of the error
// when want names a variable, as "IMCALLBACK_X (x.y): …" does (holds a
// '('), and otherwise the section's values as shown prints them.
func checkLoaded(t *testing.T, err error, want string, shown func() string) {
	t.Helper()
	if strings.Contains(want, "(") {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("error %v, want %q", err, want)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if got := shown(); got != want {
		t.Fatalf("section %s, want %s", got, want)
	}
}

// placeholderSection has secrets of each shape a section may hold.
type placeholderSection struct {
	Name string   `koanf:"name"`
	Key  string   `koanf:"key" secret:"true"`
	Keys []string `koanf:"keys" secret:"true"`
	Up   struct {
		URL   string `koanf:"url"`
		Token string `koanf:"token" secret:"true"`
	} `koanf:"up"`
	Ups    []placeholderUpstream          `koanf:"ups"`
	ByName map[string]placeholderUpstream `koanf:"by_name"`
}

// placeholderUpstream is an entry of placeholderSection's list and map,
// which config check shows redacted whole for its secret.
type placeholderUpstream struct {
	URL   string `koanf:"url"`
	Token string `koanf:"token" secret:"true"`
}

func (placeholderSection) Validate() error { return nil }

// TestSectionPlaceholderIsNoSecret: config check shows a section's fields
// tagged secret:"true" as [redacted]; a section copied from there set that
// placeholder as the secret, which the module then used. It is refused,
// naming the field, as the core settings' secrets are, and a value that
// merely holds it, of a field that is no secret, is taken.
func TestSectionPlaceholderIsNoSecret(t *testing.T) {
	const placeholder = `a secret is "[redacted]", the placeholder config check and /v1/config show in place of a secret`
	tests := []struct {
		name string
		yaml string // "" loads no file
		env  []string
		want []string // each in the error; nil loads
	}{
		{"a secret field", "", []string{"IMCALLBACK_PH_KEY=[redacted]"}, []string{"IMCALLBACK_PH_KEY (ph.key): " + placeholder}},
		{"an item of a secret list", "", []string{"IMCALLBACK_PH_KEYS=k1,[redacted]"}, []string{"IMCALLBACK_PH_KEYS (ph.keys): " + placeholder}},
		{"a secret of a struct field", "ph:\n  up: {url: https://u.example, token: \"[redacted]\"}\n", nil,
			[]string{"IMCALLBACK_PH_UP (ph.up): " + placeholder}},
		{"a field that is no secret", "", []string{"IMCALLBACK_PH_NAME=[redacted]", "IMCALLBACK_PH_KEY=k"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := config.Source{Environ: env(tc.env...)}
			if tc.yaml != "" {
				src.File = yamlFile(t, tc.yaml)
			}
			_, err := config.LoadSection(src, "ph", placeholderSection{})
			if tc.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("loaded, want the placeholder refused")
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q\nwant it to hold %q", err, want)
				}
			}
		})
	}

	// What config check prints, copied back as the file, is refused. A
	// list or a map of entries holding a secret is shown as one
	// placeholder, which was refused as "cannot read the value", not
	// saying that the value was config check's placeholder.
	infos, err := config.DeclaredSections(config.Section("ph", placeholderSection{}))
	if err != nil || len(infos) != 1 {
		t.Fatalf("sections %v, %v", infos, err)
	}
	entries := yamlFile(t, "ph:\n  ups: [{url: https://a.example, token: t1}]\n  by_name: {b: {url: https://b.example, token: t2}}\n")
	out, err := infos[0].Load(config.Source{File: entries, Environ: env("IMCALLBACK_PH_KEY=k3y", "IMCALLBACK_PH_KEYS=k1,k2")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = config.LoadSection(config.Source{File: yamlFile(t, out), Environ: env()}, "ph", placeholderSection{})
	const wholePlaceholder = `is "[redacted]", the placeholder config check and /v1/config show in place of a value holding a secret`
	for _, want := range []string{"IMCALLBACK_PH_KEY (ph.key): " + placeholder, "IMCALLBACK_PH_KEYS (ph.keys): " + placeholder,
		"IMCALLBACK_PH_UPS (ph.ups): " + wholePlaceholder, "IMCALLBACK_PH_BY_NAME (ph.by_name): " + wholePlaceholder} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("config check's\n%s\nloaded back: %v\nwant an error holding %q", out, err, want)
		}
	}
}

// keptSection is a section with fields the load does not decode: one
// tagged koanf:"-", holding a value of the program's to share (a
// counter), and one whose value points back at itself.
type keptSection struct {
	Words []string      `koanf:"words"`
	Seen  *atomic.Int64 `koanf:"-"`
	Ring  *ring         `koanf:"-"`
}

// ring is a value that points back at itself.
type ring struct{ Next *ring }

func (keptSection) Validate() error { return nil }

// TestSectionLoadKeepsTheFieldsItDoesNotDecode: a load copies what it
// decodes into, not the fields it leaves alone (koanf:"-"): copied, a
// section's shared counter was a counter of its own for each load, and a
// value pointing back at itself (a ring, a parent) copied on without end,
// until the stack overflowed and the process died.
func TestSectionLoadKeepsTheFieldsItDoesNotDecode(t *testing.T) {
	r := &ring{}
	r.Next = r
	def := keptSection{Words: []string{"spam"}, Seen: new(atomic.Int64), Ring: r}
	got, err := config.LoadSection(config.Source{Environ: env("IMCALLBACK_KEPT_WORDS=ham")}, "kept", def)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got.Words, []string{"ham"}) || !slices.Equal(def.Words, []string{"spam"}) {
		t.Errorf("words %q, defaults' %q; want [ham], [spam]", got.Words, def.Words)
	}
	if got.Seen != def.Seen || got.Ring != r {
		t.Errorf("the fields tagged koanf:\"-\" are copies, not the defaults' own values")
	}
}

// A program of its own (fx.New with imcallback.Module) builds the *Config
// of config.Module; a section whose struct no constructor takes is still
// the program's configuration, and `serve` refuses it when invalid.
func TestModuleValidatesASectionNoConstructorTakes(t *testing.T) {
	tests := []struct {
		name    string
		file    string
		environ []string
		wantErr string
	}{
		{name: "valid", environ: []string{"IMCALLBACK_SDKAPPID=1", "IMCALLBACK_WORDS_CODE=120042"}},
		{name: "invalid", environ: []string{"IMCALLBACK_SDKAPPID=1", "IMCALLBACK_WORDS_CODE=7"},
			wantErr: "IMCALLBACK_WORDS (words): code must be"},
		{name: "invalid with a core mistake", environ: []string{"IMCALLBACK_SDKAPPID=x", "IMCALLBACK_WORDS_CODE=7"},
			wantErr: "IMCALLBACK_WORDS (words): code must be"},
		{name: "unreadable file", file: "/nonexistent/c.yaml", environ: []string{"IMCALLBACK_WORDS_CODE=7"},
			wantErr: "open /nonexistent/c.yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var cfg *config.Config
			app := fx.New(fx.NopLogger,
				fx.Supply(config.Source{File: tt.file, Environ: env(tt.environ...)}),
				config.Module, config.Section("words", wordsDefaults), fx.Populate(&cfg))
			err := app.Err()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("valid section refused: %v", err)
				}
				return
			}
			if err == nil || strings.Count(err.Error(), tt.wantErr) != 1 {
				t.Fatalf("got %v, want an error with %q once", err, tt.wantErr)
			}
		})
	}
}
