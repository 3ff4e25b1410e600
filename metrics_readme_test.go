package imcallback_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/imcallback/imcallback/delivery"
	"github.com/imcallback/imcallback/imtest"
	"github.com/imcallback/imcallback/plugins/topicsync"
)

// documentedMetric is one row of the README's Metrics table.
type documentedMetric struct {
	typ    string
	labels []string
}

var (
	// metricRow is a row of the README's Metrics table: | `name` | type | labels | meaning |.
	metricRow = regexp.MustCompile("^\\| `(imcallback_[a-z0-9_]+)` \\| ([a-z]+) \\|([^|]*)\\|")
	// backticked finds the `label` names of a row's labels cell.
	backticked = regexp.MustCompile("`([a-zA-Z_][a-zA-Z0-9_]*)`")
	// metricMention is a metric named in prose, with its braces if any:
	// imcallback_x_total{command,outcome} or imcallback_x_total{outcome="ok"}.
	metricMention = regexp.MustCompile(`\bimcallback_[a-z0-9_]+(\{[^}]*\})?`)
	// exposedSample is one sample line of the Prometheus text format.
	exposedSample = regexp.MustCompile(`^(imcallback_[a-z0-9_]+)(?:\{(.*)\})?\s`)
	// exposedLabel finds the label names of a sample.
	exposedLabel = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="`)
)

// readmeMetrics reads the README's Metrics table.
func readmeMetrics(t *testing.T) map[string]documentedMetric {
	t.Helper()
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(b), "\n### Metrics\n")
	if !ok {
		t.Fatal("README.md has no ### Metrics section")
	}
	out := map[string]documentedMetric{}
	for _, line := range strings.Split(section, "\n") {
		if strings.HasPrefix(line, "#") {
			break
		}
		m := metricRow.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		if _, dup := out[m[1]]; dup {
			t.Errorf("README.md's Metrics table lists %s twice", m[1])
		}
		var labels []string
		for _, l := range backticked.FindAllStringSubmatch(m[3], -1) {
			labels = append(labels, l[1])
		}
		slices.Sort(labels)
		out[m[1]] = documentedMetric{typ: m[2], labels: labels}
	}
	if len(out) < 10 {
		t.Fatalf("README.md's Metrics table has %d rows: it was not read as expected", len(out))
	}
	return out
}

// exposedMetrics reads a scrape: each imcallback_* family with its type and
// the labels its samples carry (a histogram's le aside).
func exposedMetrics(text string) map[string]documentedMetric {
	types := map[string]string{}
	labels := map[string]map[string]bool{}
	for _, line := range strings.Split(text, "\n") {
		if f := strings.Fields(line); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" && strings.HasPrefix(f[2], "imcallback_") {
			types[f[2]] = f[3]
			labels[f[2]] = map[string]bool{}
			continue
		}
		m := exposedSample.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		family := m[1]
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if base, ok := strings.CutSuffix(family, suffix); ok && types[base] == "histogram" {
				family = base
			}
		}
		for _, l := range exposedLabel.FindAllStringSubmatch(m[2], -1) {
			if l[1] != "le" && labels[family] != nil {
				labels[family][l[1]] = true
			}
		}
	}
	out := map[string]documentedMetric{}
	for name, typ := range types {
		var ls []string
		for l := range labels[name] {
			ls = append(ls, l)
		}
		slices.Sort(ls)
		out[name] = documentedMetric{typ: typ, labels: ls}
	}
	return out
}

// TestREADMEMetricsTableMatchesTheService scrapes a service with every
// metric on (durable delivery, topic sync, a forward destination, an app
// on Tencent's address list) and checks the README's Metrics table against
// it both ways: every exposed imcallback_* metric has a row with its type
// and labels, and every row is exposed. Every metric the README and docs
// name elsewhere is in the table, with the labels it is shown with.
func TestREADMEMetricsTableMatchesTheService(t *testing.T) {
	s := startEveryPart(t)
	exposed := exposedMetrics(s.Metrics(t))
	documented := readmeMetrics(t)
	for _, p := range metricsTableProblems(documented, exposed) {
		t.Error(p)
	}

	files, err := filepath.Glob("docs/*.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range append([]string{"README.md"}, files...) {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range mentionProblems(file, string(b), documented) {
			t.Error(p)
		}
	}
}

// startEveryPart starts a service with every part on: durable delivery,
// topic sync, a forward destination, an app on Tencent's address list
// (whose fetch fails), and TLS on the public listener.
func startEveryPart(t *testing.T) *imtest.Service {
	t.Helper()
	tencent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, `{"ActionStatus":"FAIL","ErrorCode":70001,"ErrorInfo":"test"}`)
	}))
	t.Cleanup(tencent.Close)
	dest := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	t.Cleanup(dest.Close)
	app := "IMCALLBACK_APP_" + imtest.AppID + "_"
	certFile, keyFile, _ := imtest.SelfSigned(t)
	return imtest.Start(t, []string{app + "SECRET_KEY=test-key", app + "IPLIST=true", app + "API_BASE=" + tencent.URL,
		"IMCALLBACK_FORWARD_URL=" + dest.URL, "IMCALLBACK_FORWARD_SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
		"IMCALLBACK_FORWARD_MATCH=C2C.*", "IMCALLBACK_TLS_CERT=" + certFile, "IMCALLBACK_TLS_KEY=" + keyFile},
		delivery.Module, topicsync.Module)
}

// metricsTableProblems says where the table and the scrape differ.
func metricsTableProblems(documented, exposed map[string]documentedMetric) (problems []string) {
	for name, e := range exposed {
		d, ok := documented[name]
		switch {
		case !ok:
			problems = append(problems, fmt.Sprintf("the service exposes %s (%s, labels %v), which README.md's Metrics table lacks", name, e.typ, e.labels))
		case d.typ != e.typ:
			problems = append(problems, fmt.Sprintf("README.md's Metrics table calls %s a %s; the service exposes a %s", name, d.typ, e.typ))
		case !slices.Equal(d.labels, e.labels):
			problems = append(problems, fmt.Sprintf("README.md's Metrics table gives %s the labels %v; the service's are %v", name, d.labels, e.labels))
		}
	}
	for name := range documented {
		if _, ok := exposed[name]; !ok {
			problems = append(problems, fmt.Sprintf("README.md's Metrics table lists %s, which the service does not expose", name))
		}
	}
	slices.Sort(problems)
	return problems
}

// mentionProblems says which metric a document names that the table lacks,
// or shows with labels it does not have: {a,b} must be its label set,
// {a="x"} selects by a label it has.
func mentionProblems(file, text string, documented map[string]documentedMetric) (problems []string) {
	for _, m := range metricMention.FindAllStringSubmatch(text, -1) {
		name, braces := strings.TrimSuffix(m[0], m[1]), strings.Trim(m[1], "{}")
		d, ok := documented[name]
		if !ok {
			problems = append(problems, fmt.Sprintf("%s names %s, which README.md's Metrics table lacks", file, m[0]))
			continue
		}
		if braces == "" {
			continue
		}
		if !strings.Contains(braces, "=") {
			var labels []string
			for _, l := range strings.Split(braces, ",") {
				labels = append(labels, strings.TrimSpace(l))
			}
			slices.Sort(labels)
			if !slices.Equal(labels, d.labels) {
				problems = append(problems, fmt.Sprintf("%s shows %s; its labels are %v", file, m[0], d.labels))
			}
			continue
		}
		for _, l := range exposedLabel.FindAllStringSubmatch(braces, -1) {
			if !slices.Contains(d.labels, l[1]) {
				problems = append(problems, fmt.Sprintf("%s selects %s by %s, a label it does not have (%v)", file, m[0], l[1], d.labels))
			}
		}
	}
	return problems
}

// TestMetricsTableProblemsFindsMistakes: the comparison names a metric
// missing from either side, a wrong type, wrong labels, and a mention of
// an unknown metric or label.
func TestMetricsTableProblemsFindsMistakes(t *testing.T) {
	exposed := exposedMetrics(`# TYPE imcallback_x_total counter
imcallback_x_total{command="a",outcome="ok"} 1
# TYPE imcallback_h_seconds histogram
imcallback_h_seconds_bucket{kind="before",le="1"} 1
imcallback_h_seconds_sum{kind="before"} 1
imcallback_h_seconds_count{kind="before"} 1
# TYPE go_goroutines gauge
go_goroutines 1
`)
	good := map[string]documentedMetric{
		"imcallback_x_total":   {typ: "counter", labels: []string{"command", "outcome"}},
		"imcallback_h_seconds": {typ: "histogram", labels: []string{"kind"}},
	}
	if p := metricsTableProblems(good, exposed); len(p) != 0 {
		t.Fatalf("a matching table has problems: %v", p)
	}
	if p := mentionProblems("f", "`imcallback_x_total{outcome,command}`, `imcallback_x_total{outcome=\"ok\"}`, imcallback_h_seconds", good); len(p) != 0 {
		t.Fatalf("matching mentions have problems: %v", p)
	}
	tests := []struct {
		name       string
		documented map[string]documentedMetric
		mention    string
	}{
		{name: "missing row", documented: map[string]documentedMetric{"imcallback_h_seconds": good["imcallback_h_seconds"]}},
		{name: "row not exposed", documented: map[string]documentedMetric{"imcallback_x_total": good["imcallback_x_total"],
			"imcallback_h_seconds": good["imcallback_h_seconds"], "imcallback_y_total": {typ: "counter"}}},
		{name: "wrong type", documented: map[string]documentedMetric{"imcallback_x_total": {typ: "gauge", labels: []string{"command", "outcome"}},
			"imcallback_h_seconds": good["imcallback_h_seconds"]}},
		{name: "wrong labels", documented: map[string]documentedMetric{"imcallback_x_total": {typ: "counter", labels: []string{"command"}},
			"imcallback_h_seconds": good["imcallback_h_seconds"]}},
		{name: "mention of an unknown metric", documented: good, mention: "imcallback_z_total"},
		{name: "mention with other labels", documented: good, mention: "imcallback_x_total{command,app}"},
		{name: "selector of an unknown label", documented: good, mention: `imcallback_x_total{reason="x"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := append(metricsTableProblems(tt.documented, exposed), mentionProblems("f", tt.mention, tt.documented)...)
			if len(p) == 0 {
				t.Error("no problem found")
			}
		})
	}
}

// sourceMetric finds a metric's name where the source declares one: the
// Name of a prometheus.*Opts or the first argument of prometheus.NewDesc.
var sourceMetric = regexp.MustCompile(`(?:\bName:\s*|\bNewDesc\(\s*)"(imcallback_[a-z0-9_]+)"`)

// declaredMetrics are the imcallback_* metrics the non-test Go source of
// the module declares, with the files that declare each.
func declaredMetrics(t *testing.T) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if name := d.Name(); path != "." && (strings.HasPrefix(name, ".") || name == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range sourceMetric.FindAllStringSubmatch(string(b), -1) {
			out[m[1]] = append(out[m[1]], path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// undocumentedDeclared says which declared metric the table lacks.
func undocumentedDeclared(declared map[string][]string, documented map[string]documentedMetric) (problems []string) {
	for name, files := range declared {
		if _, ok := documented[name]; !ok {
			problems = append(problems, fmt.Sprintf("%s declares %s, which README.md's Metrics table lacks", strings.Join(files, ", "), name))
		}
	}
	slices.Sort(problems)
	return problems
}

// TestREADMEMetricsTableHasEveryDeclaredMetric: every imcallback_* metric
// the source declares has a row in the README's Metrics table, also one
// the scrape of TestREADMEMetricsTableMatchesTheService cannot see: a
// metric of a part that service does not start, or a vector with no
// series yet.
func TestREADMEMetricsTableHasEveryDeclaredMetric(t *testing.T) {
	declared := declaredMetrics(t)
	if len(declared) < 10 {
		t.Fatalf("the source declares %d imcallback_* metrics: it was not read as expected", len(declared))
	}
	for _, p := range undocumentedDeclared(declared, readmeMetrics(t)) {
		t.Error(p)
	}
}

// TestUndocumentedDeclaredFindsAMissingRow: a declared metric without a
// row is named, with its file; one with a row is not.
func TestUndocumentedDeclaredFindsAMissingRow(t *testing.T) {
	declared := map[string][]string{}
	for _, m := range sourceMetric.FindAllStringSubmatch(`prometheus.CounterOpts{
		Name: "imcallback_x_total",
	}
	prometheus.NewDesc("imcallback_y", "help", nil, nil)`, -1) {
		declared[m[1]] = append(declared[m[1]], "f.go")
	}
	documented := map[string]documentedMetric{"imcallback_x_total": {typ: "counter"}}
	p := undocumentedDeclared(declared, documented)
	if len(p) != 1 || !strings.Contains(p[0], "imcallback_y") || !strings.Contains(p[0], "f.go") {
		t.Fatalf("problems %q, want one naming imcallback_y in f.go", p)
	}
	documented["imcallback_y"] = documentedMetric{typ: "gauge"}
	if p := undocumentedDeclared(declared, documented); len(p) != 0 {
		t.Fatalf("a documented metric has problems: %v", p)
	}
}
