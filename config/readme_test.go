package config_test

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/imcallback/imcallback/config"
)

// configRow is a row of the README's Configuration table: the variables
// of its first cell, its meaning and the defaults of its last cell, the
// variables and defaults split at " / " where one row documents two
// settings.
type configRow struct {
	vars     []string
	meaning  string
	defaults []string
}

// name is the full name of the row's variable i: "`_SECRET`" after
// "`IMCALLBACK_FORWARD_URL`" is IMCALLBACK_FORWARD_SECRET.
func (r configRow) name(i int) string {
	name := strings.Trim(r.vars[i], "`")
	if len(r.vars) > 1 && !strings.HasPrefix(name, "IMCALLBACK_") {
		first := strings.Trim(r.vars[0], "`")
		name = first[:strings.LastIndex(first, "_")] + name
	}
	return name
}

// readmeConfigRows reads the README's Configuration table.
func readmeConfigRows(t *testing.T) []configRow {
	t.Helper()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n## Configuration\n")
	if !ok {
		t.Fatal("README.md has no ## Configuration section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	var rows []configRow
	for _, line := range strings.Split(section, "\n") {
		if !strings.HasPrefix(line, "| `IMCALLBACK_") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), " | ")
		rows = append(rows, configRow{
			vars:     strings.Split(strings.TrimSpace(cells[0]), " / "),
			meaning:  strings.TrimSpace(strings.Join(cells[1:len(cells)-1], " | ")),
			defaults: strings.Split(strings.TrimSpace(cells[len(cells)-1]), " / "),
		})
	}
	if len(rows) == 0 {
		t.Fatal("README.md's Configuration section has no table rows")
	}
	return rows
}

// literal is a README cell holding one value in backticks, e.g. `60s`.
var literal = regexp.MustCompile("^`([^`]*)`$")

// TestREADMEConfigurationDefaults: each default the README's Configuration
// table gives is the service's default: setting the variable to it
// changes nothing, and a default of none (none, empty, off) is a setting
// whose default is empty. A variable the table names is a setting.
func TestREADMEConfigurationDefaults(t *testing.T) {
	base := []string{"IMCALLBACK_SDKAPPID=1400000000"}
	want, err := config.Load(config.Source{Environ: func() []string { return base }})
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, row := range readmeConfigRows(t) {
		vars, defaults := row.vars, row.defaults
		for i := range vars {
			name := row.name(i)
			if strings.Contains(name, "<") || name == "IMCALLBACK_SDKAPPID" {
				continue // a pattern, or the required setting
			}
			if len(config.UnknownEnv([]string{name + "=x"})) > 0 {
				t.Errorf("README's Configuration table names %s, which is no setting", name)
				continue
			}
			def := defaults[0] // one for all, as "off" for the TLS pair
			if len(defaults) == len(vars) {
				def = defaults[i]
			} else if len(defaults) != 1 {
				t.Errorf("README's Configuration row of %s gives %d defaults for %d variables", vars, len(defaults), len(vars))
				break
			}
			m := literal.FindStringSubmatch(strings.TrimSpace(def))
			if m == nil && noDefault.MatchString(def) {
				if v, ok := defaultOf(name); ok && !v.IsZero() {
					t.Errorf("README's Configuration table gives %s the default %q, but it is %v", name, def, v)
				}
				checked++
				continue
			}
			if m == nil || strings.HasPrefix(name, "IMCALLBACK_FORWARD_") {
				continue // "required …": no value to set
			}
			got, err := config.Load(config.Source{Environ: func() []string { return append(base, name+"="+m[1]) }})
			if err != nil {
				t.Errorf("README's default of %s, %q, does not load: %v", name, m[1], err)
				continue
			}
			if got.YAML() != want.YAML() {
				t.Errorf("README's default of %s, %q, is not the default: setting it changes the configuration", name, m[1])
			}
			checked++
		}
	}
	if checked < 20 {
		t.Errorf("only %d defaults checked: the table's format changed?", checked)
	}
}

// noDefault is a default cell of the Configuration table that says the
// setting has none: "none", "none (warns at start)", "empty = all", "off".
var noDefault = regexp.MustCompile(`^(none|empty|off)\b`)

// defaultOf is the default of the setting a variable names, ok false when
// it names no field of config.Config.
func defaultOf(name string) (v reflect.Value, ok bool) {
	key := strings.ToLower(strings.TrimPrefix(name, "IMCALLBACK_"))
	def := reflect.ValueOf(config.Default())
	for i := range def.NumField() {
		if def.Type().Field(i).Tag.Get("koanf") == key {
			return def.Field(i), true
		}
	}
	return reflect.Value{}, false
}

// TestREADMEConfigurationNamesEverySetting: every setting that a variable
// sets has a row of the README's Configuration table (apps and forward,
// which only the file holds, have their variables' rows), so a setting
// added to config.Config is documented with its default.
func TestREADMEConfigurationNamesEverySetting(t *testing.T) {
	named := map[string]bool{}
	for _, row := range readmeConfigRows(t) {
		for i := range row.vars {
			named[row.name(i)] = true
		}
	}
	typ := reflect.TypeFor[config.Config]()
	for i := range typ.NumField() {
		key := typ.Field(i).Tag.Get("koanf")
		if key == "" || key == "-" || key == "apps" || key == "forward" {
			continue
		}
		if !named[config.EnvName(key)] {
			t.Errorf("README's Configuration table has no row of %s", config.EnvName(key))
		}
	}
}

// TestREADMEAppsExampleLoads: the README's YAML example of several apps
// is a configuration the service loads, every key of it a setting, and
// each app gets what the example gives it.
func TestREADMEAppsExampleLoads(t *testing.T) {
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var block string
	for _, part := range strings.Split(string(b), "```yaml\n")[1:] {
		body, _, _ := strings.Cut(part, "```")
		if strings.Contains(body, "\napps:\n") {
			block = body
			break
		}
	}
	if block == "" {
		t.Fatal("README.md has no ```yaml block with apps:")
	}
	file := filepath.Join(t.TempDir(), "apps.yaml")
	if err := os.WriteFile(file, []byte(block), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(config.Source{File: file, Environ: func() []string {
		return []string{"IMCALLBACK_SDKAPPID=1400000001,1400000002"}
	}})
	if err != nil {
		t.Fatalf("the README's apps example does not load: %v\n%s", err, block)
	}
	first, ok := cfg.App("1400000001")
	if !ok || len(cfg.Apps) != 2 {
		t.Fatalf("the README's apps example loads %d apps, want its two:\n%s", len(cfg.Apps), block)
	}
	if !first.IPList || first.SecretKey == "" || len(first.AllowCIDRs) == 0 || len(first.Tokens) == 0 {
		t.Errorf("the README's first app loads as %+v: a key of the example was not read", first)
	}
	if len(cfg.Tokens) == 0 {
		t.Errorf("the README's apps example loads no global tokens:\n%s", block)
	}
}

var (
	// boundRange is a range the Configuration table gives a setting:
	// "1 to 1024", "0 to 5m", "1–5".
	boundRange = regexp.MustCompile(`(\d[0-9a-zµ.]*)\s*(?:to|–)\s*(\d[0-9a-zµ.]*)`)
	// boundOneSide is a bound on one side: "at least 1s", "at most 1h".
	boundOneSide = regexp.MustCompile(`at (least|most) (\d[0-9a-zµ.]*)`)
)

// documentedBound is a bound of a setting the Configuration table gives.
type documentedBound struct {
	lo, hi string // "" when there is none on that side
}

// bounds are the bounds a setting's meaning gives (its part of the row).
func bounds(meaning string) documentedBound {
	var b documentedBound
	meaning = strings.ReplaceAll(meaning, "`", "")
	if m := boundRange.FindStringSubmatch(meaning); m != nil {
		b.lo, b.hi = m[1], m[2]
	}
	for _, m := range boundOneSide.FindAllStringSubmatch(meaning, -1) {
		if m[1] == "least" {
			b.lo = m[2]
		} else {
			b.hi = m[2]
		}
	}
	return b
}

// settingType is the Go type of the setting a variable names, nil when
// it names no field of config.Config.
func settingType(name string) reflect.Type {
	key := strings.ToLower(strings.TrimPrefix(name, "IMCALLBACK_"))
	t := reflect.TypeFor[config.Config]()
	for i := range t.NumField() {
		if t.Field(i).Tag.Get("koanf") == key {
			return t.Field(i).Type
		}
	}
	return nil
}

// beyond are the values of a bound and just past it, as the setting's
// type writes them: a whole number ±1, a duration ±1ns. ok is false when
// the setting is neither, or the bound is not of its type (a name's
// length in bytes, say).
func beyond(typ reflect.Type, bound string, up bool) (at, past string, ok bool) {
	step := -1
	if up {
		step = 1
	}
	switch {
	case typ == reflect.TypeFor[time.Duration]():
		if d, err := time.ParseDuration(bound); err == nil {
			return bound, (d + time.Duration(step)).String(), true
		}
	case typ != nil && typ.Kind() >= reflect.Int && typ.Kind() <= reflect.Int64:
		if n, err := strconv.Atoi(bound); err == nil {
			return bound, strconv.Itoa(n + step), true
		}
	}
	return "", "", false
}

// TestREADMEConfigurationBounds: each bound the README's Configuration
// table gives a number or a duration ("at most 1h", "1 to 1024") is the
// service's: the bound loads, and one step past it is refused with an
// error naming the variable. A row of two settings says whose bound it
// is, its meaning split at " / " as its variables are. The table once
// gave "at most 5m" to the read header and the idle timeout together,
// and the idle timeout has none.
func TestREADMEConfigurationBounds(t *testing.T) {
	// A NATS cluster, so that the replicas' bound is the one checked; a
	// duplicate window of an hour, so that the sign window's own bound is
	// (with durable delivery it may be no longer than the duplicate window).
	base := []string{"IMCALLBACK_SDKAPPID=1400000000", "IMCALLBACK_NATS_URL=nats://127.0.0.1:4222", "IMCALLBACK_DEDUP_WINDOW=1h"}
	refused := func(name, value string) bool {
		_, err := config.Load(config.Source{Environ: func() []string { return append(base, name+"="+value) }})
		return err != nil && strings.Contains(err.Error(), name+" (")
	}
	checked := 0
	for _, row := range readmeConfigRows(t) {
		meanings := strings.Split(row.meaning, " / ")
		reported := false
		for i := range row.vars {
			name := row.name(i)
			meaning := row.meaning
			if len(meanings) == len(row.vars) {
				meaning = meanings[i]
			}
			b := bounds(meaning)
			for _, side := range []struct {
				bound string
				up    bool
			}{{b.lo, false}, {b.hi, true}} {
				if side.bound == "" {
					continue
				}
				at, past, ok := beyond(settingType(name), side.bound, side.up)
				if !ok {
					continue
				}
				if len(row.vars) > 1 && len(meanings) != len(row.vars) {
					if !reported {
						t.Errorf("README's Configuration row of %s gives the bound %s without saying whose: split its meaning at \" / \" as its variables are",
							strings.Join(row.vars, " / "), side.bound)
					}
					reported = true
					continue
				}
				if refused(name, at) {
					t.Errorf("README's Configuration table bounds %s by %s, which the service refuses", name, at)
				}
				if !refused(name, past) {
					t.Errorf("README's Configuration table bounds %s by %s, but the service takes %s", name, at, past)
				}
				checked++
			}
		}
	}
	if checked < 10 {
		t.Errorf("only %d bounds checked: the table's format changed?", checked)
	}
}

// docVariable is an IMCALLBACK_* variable a document names.
var docVariable = regexp.MustCompile(`\bIMCALLBACK_[A-Z0-9_]+`)

// notSettings are the IMCALLBACK_* names the documents give that are no
// setting of the service, each with what it is.
var notSettings = map[string]string{
	"IMCALLBACK_DEAD":                   "the dead-letter stream's default name",
	"IMCALLBACK_TOKEN":                  "shown as the mistake imtest refuses, for IMCALLBACK_TOKENS",
	"IMCALLBACK_MODERATION_WORDS":       "the example module's own section",
	"IMCALLBACK_CONFIG":                 "shown as the mistake noted with a hint at --config",
	"IMCALLBACK_APPS_1400000000_TOKENS": "shown as the mistake noted with the app's variable meant",
	"IMCALLBACK_APP_TOKENS":             "shown as the mistake noted with the pattern of the app's variable",
}

// TestDocsNameOnlySettings: every IMCALLBACK_* variable README.md and
// docs/*.md name is one the service reads (or, IMCALLBACK_TEST_*, one
// the tests read), so a renamed or mistyped variable in a document is
// found here rather than by an operator whose setting the service
// ignores. A name ending in _ (IMCALLBACK_APP_<id>_TOKENS) is a pattern.
func TestDocsNameOnlySettings(t *testing.T) {
	checked := 0
	for _, d := range readDocs(t) {
		file, b := d.path, d.text
		for _, name := range docVariable.FindAllString(b, -1) {
			if strings.HasSuffix(name, "_") || strings.HasPrefix(name, "IMCALLBACK_TEST_") || notSettings[name] != "" {
				continue
			}
			checked++
			if notes := config.UnknownEnv([]string{name + "=x"}); len(notes) > 0 {
				t.Errorf("%s names %s, which is no setting: %s", strings.TrimPrefix(file, "../"), name, notes[0])
			}
		}
	}
	if checked < 50 {
		t.Errorf("only %d variables found in the documents: were they read as expected?", checked)
	}
}

// doc is one document the drift tests read: its path from this package
// and its text.
type doc struct{ path, text string }

// readDocs reads README.md and docs/*.md.
func readDocs(t *testing.T) []doc {
	t.Helper()
	files, err := filepath.Glob("../docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	var docs []doc
	for _, file := range append([]string{"../README.md"}, files...) {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		docs = append(docs, doc{file, string(b)})
	}
	return docs
}

// proseDefault is a default the running text of README.md and docs/*.md
// gives beside a variable: "`IMCALLBACK_RETENTION` (default 7 days",
// "`IMCALLBACK_BACKOFF` (default `1s,5s,30s,2m,10m`)".
var proseDefault = regexp.MustCompile("`(IMCALLBACK_[A-Z0-9_]+)` \\(default (`[^`]+`|[^,;)]+)")

// proseBare is a default given as the value alone in parentheses:
// "`IMCALLBACK_MAX_CONNS` (4096)", "`IMCALLBACK_BODY_LIMIT` (1 MiB)", not
// "`IMCALLBACK_SHUTDOWN_TIMEOUT` (10 s in the kit".
var proseBare = regexp.MustCompile("`(IMCALLBACK_[A-Z0-9_]+)` \\((\\d[\\d.]*(?: ?(?:days?|h|minutes?|s|ms|MiB|KiB))?)[),;]")

// proseUnit is a number with a unit as prose writes it: "7 days", "1.5 s", "1 MiB".
var proseUnit = regexp.MustCompile(`^(\d+(?:\.\d+)?) ?(days?|h|minutes?|min|s|seconds?|ms|MiB|KiB)$`)

// proseValue is the value a variable takes for a default as prose gives
// it: its code span's text, or the number with its unit written as a
// duration ("7 days" is 168h, "1.5 s" 1.5s).
func proseValue(v string) string {
	v = strings.TrimSpace(v)
	if strings.HasPrefix(v, "`") {
		return strings.Trim(v, "`")
	}
	m := proseUnit.FindStringSubmatch(v)
	if m == nil {
		return v
	}
	n, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		return v
	}
	unit := map[byte]time.Duration{'d': 24 * time.Hour, 'h': time.Hour, 'm': time.Minute, 's': time.Second}[m[2][0]]
	switch m[2] {
	case "ms":
		unit = time.Millisecond
	case "MiB", "KiB":
		return strconv.FormatInt(int64(n*float64(map[string]int64{"MiB": 1 << 20, "KiB": 1 << 10}[m[2]])), 10)
	}
	return time.Duration(n * float64(unit)).String()
}

// TestDocsProseDefaultsAreTheDefaults: a default README.md or docs/*.md
// give in running text, beside the variable ("`IMCALLBACK_RETENTION`
// (default 7 days", "`IMCALLBACK_MAX_CONNS` (4096)"), is
// the service's default, as the Configuration table's are
// (TestREADMEConfigurationDefaults): setting the variable to it changes
// nothing. The docs/delivery.md and docs/reliability.md a default changed
// in config.Default would otherwise leave stating the old one.
func TestDocsProseDefaultsAreTheDefaults(t *testing.T) {
	base := []string{"IMCALLBACK_SDKAPPID=1400000000"}
	want, err := config.Load(config.Source{Environ: func() []string { return base }})
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, d := range readDocs(t) {
		file := d.path
		text := strings.Join(strings.Fields(d.text), " ") // lines wrap anywhere
		for _, m := range append(proseDefault.FindAllStringSubmatch(text, -1), proseBare.FindAllStringSubmatch(text, -1)...) {
			name, value := m[1], proseValue(m[2])
			if strings.HasPrefix(name, "IMCALLBACK_FORWARD_") || len(config.UnknownEnv([]string{name + "=x"})) > 0 {
				continue // a destination's setting, or no setting (docs_test checks the names)
			}
			checked++
			got, err := config.Load(config.Source{Environ: func() []string { return append(base, name+"="+value) }})
			if err != nil {
				t.Errorf("%s gives %s the default %q (%s), which does not load: %v", file, name, m[2], value, err)
				continue
			}
			if got.YAML() != want.YAML() {
				t.Errorf("%s gives %s the default %q (%s), which is not the default: setting it changes the configuration", file, name, m[2], value)
			}
		}
	}
	if checked < 8 {
		t.Errorf("only %d defaults found in the running text: was it read as expected?", checked)
	}
}

// TestProseValue: the values prose gives are read as the variables take them.
func TestProseValue(t *testing.T) {
	for in, want := range map[string]string{
		"7 days": "168h0m0s", "1.5 s": "1.5s", "60 s": "1m0s", "10 minutes": "10m0s", "1500ms": "1.5s",
		"`1s,5s,30s,2m,10m`": "1s,5s,30s,2m,10m", "allow": "allow", "0": "0", " 1": "1", "1 MiB": "1048576", "4096": "4096",
	} {
		if got := proseValue(in); got != want {
			t.Errorf("proseValue(%q) = %q, want %q", in, got, want)
		}
	}
}
