package config_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/imcallback/imcallback/config"
)

// readmeConfigRows reads the README's Configuration table: for each row,
// the variables of its first cell and the defaults of its last, both split
// at " / " where one row documents two settings.
func readmeConfigRows(t *testing.T) [][2][]string {
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
	var rows [][2][]string
	for _, line := range strings.Split(section, "\n") {
		if !strings.HasPrefix(line, "| `IMCALLBACK_") {
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), " | ")
		rows = append(rows, [2][]string{
			strings.Split(strings.TrimSpace(cells[0]), " / "),
			strings.Split(strings.TrimSpace(cells[len(cells)-1]), " / "),
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
// changes nothing. A variable the table names is a setting.
func TestREADMEConfigurationDefaults(t *testing.T) {
	base := []string{"IMCALLBACK_SDKAPPID=1400000000"}
	want, err := config.Load(config.Source{Environ: func() []string { return base }})
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, row := range readmeConfigRows(t) {
		vars, defaults := row[0], row[1]
		for i, v := range vars {
			name := strings.Trim(v, "`")
			if len(vars) > 1 && !strings.HasPrefix(name, "IMCALLBACK_") {
				first := strings.Trim(vars[0], "`") // `IMCALLBACK_FORWARD_URL` / `_SECRET`
				name = first[:strings.LastIndex(first, "_")] + name
			}
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
			if m == nil || strings.HasPrefix(name, "IMCALLBACK_FORWARD_") {
				continue // "none", "empty", "required …": no value to set
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
