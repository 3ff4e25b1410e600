// Package deploy_test checks the deployment kit against the service, since
// no container runtime or cluster runs here: the metrics the dashboard and
// the alert rules read exist, the rules and the dashboard's queries are
// valid PromQL, the manifests' probes, variables and arguments are the
// service's own, and the image builds where a Docker daemon answers.
package deploy_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"go/version"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/imcallback/imcallback/cli"
	"github.com/imcallback/imcallback/config"
	"github.com/imcallback/imcallback/delivery"
	"github.com/imcallback/imcallback/imtest"
	"github.com/imcallback/imcallback/plugins/topicsync"
	"github.com/imcallback/imcallback/server"
)

// metricName finds the service's metric names in PromQL.
var metricName = regexp.MustCompile(`\bimcallback_[a-z0-9_]+`)

// query is one PromQL expression of the alert rules or the dashboard, with
// the labels its result is shown by (an alert's {{ $labels.x }}, a panel
// target's legendFormat {{x}}).
type query struct {
	where, expr string
	shown       []string
}

// queries are the PromQL expressions of the alert rules and the dashboard.
func queries(t *testing.T) []query {
	t.Helper()
	var out []query
	var rules struct {
		Groups []struct {
			Rules []struct {
				Alert, Expr string
				Annotations map[string]string
			}
		}
	}
	readYAML(t, "prometheus/alerts.yml", &rules)
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			var shown []string
			for _, a := range r.Annotations {
				for _, m := range alertLabel.FindAllStringSubmatch(a, -1) {
					shown = append(shown, m[1])
				}
			}
			out = append(out, query{"alert " + r.Alert, r.Expr, shown})
		}
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr, LegendFormat string }
		}
	}
	b, err := os.ReadFile("grafana/imcallback.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("grafana/imcallback.json: %v", err)
	}
	for _, p := range dash.Panels {
		for _, q := range p.Targets {
			var shown []string
			for _, m := range legendLabel.FindAllStringSubmatch(q.LegendFormat, -1) {
				shown = append(shown, m[1])
			}
			out = append(out, query{"panel " + p.Title, q.Expr, shown})
		}
	}
	return out
}

var (
	// alertLabel finds {{ $labels.x }} in an alert's annotations.
	alertLabel = regexp.MustCompile(`\$labels\.([a-zA-Z_][a-zA-Z0-9_]*)`)
	// legendLabel finds {{x}} in a panel target's legend.
	legendLabel = regexp.MustCompile(`\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}`)
	// selectorLabels finds a metric's label matchers: name{a="x",b!~"y"}.
	selectorLabels = regexp.MustCompile(`\b(imcallback_[a-z0-9_]+)\{([^}]*)\}`)
	// matcher finds the matchers of a selector: name, operator and value.
	matcher = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"`)
	// grouping finds the labels of by (…) and without (…).
	grouping = regexp.MustCompile(`\b(?:by|without)\s*\(([^)]*)\)`)
	// counterFunc finds the metric a rate-like function reads.
	counterFunc = regexp.MustCompile(`\b(rate|irate|increase)\(\s*(imcallback_[a-z0-9_]+)`)
	// seriesLine is one sample of the Prometheus text format.
	seriesLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s`)
	// sampleLabel finds the labels of a sample: name and value.
	sampleLabel = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)
)

// targetLabels are the labels Prometheus adds to every scraped series.
var targetLabels = map[string]bool{"job": true, "instance": true}

// exposition is what a scrape of the service holds: each series name with
// the labels its samples carry and the values each label takes, and each
// metric family's type (a histogram's _bucket, _sum and _count series have
// the family's type).
type exposition struct {
	labels map[string]map[string]bool
	values map[string]map[string]map[string]bool
	types  map[string]string
}

func parseExposition(text string) exposition {
	e := exposition{labels: map[string]map[string]bool{}, values: map[string]map[string]map[string]bool{}, types: map[string]string{}}
	family := map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		if f := strings.Fields(line); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			family[f[2]] = f[3]
			continue
		}
		m := seriesLine.FindStringSubmatch(line)
		if m == nil || strings.HasPrefix(line, "#") {
			continue
		}
		if e.labels[m[1]] == nil {
			e.labels[m[1]] = map[string]bool{}
			e.values[m[1]] = map[string]map[string]bool{}
		}
		for _, l := range sampleLabel.FindAllStringSubmatch(m[2], -1) {
			e.labels[m[1]][l[1]] = true
			if e.values[m[1]][l[1]] == nil {
				e.values[m[1]][l[1]] = map[string]bool{}
			}
			e.values[m[1]][l[1]][l[2]] = true
		}
	}
	for name := range e.labels {
		e.types[name] = family[name]
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			if base, ok := strings.CutSuffix(name, suffix); ok && family[base] == "histogram" {
				e.types[name] = "histogram"
			}
		}
	}
	return e
}

// TestReferencedMetricsExist scrapes a running service (durable delivery,
// topic sync, a forward destination, an app on Tencent's address list, TLS) and
// checks that every metric a rule or a panel reads is in its output, with
// the labels the query selects, groups and shows by, and of a type the
// query's functions take: rate and increase read counters (or a histogram's
// series), histogram_quantile a histogram's buckets. A label the query
// matches with = or != must take that value in some series (they all exist
// at 0 from the start): an alert selecting a misspelt outcome never fires.
func TestReferencedMetricsExist(t *testing.T) {
	tencent := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprint(w, `{"ActionStatus":"FAIL","ErrorCode":70001,"ErrorInfo":"test"}`)
	}))
	defer tencent.Close()
	dest := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer dest.Close()
	app := "IMCALLBACK_APP_" + imtest.AppID + "_"
	certFile, keyFile, _ := imtest.SelfSigned(t)
	s := imtest.Start(t, []string{app + "SECRET_KEY=test-key", app + "IPLIST=true", app + "API_BASE=" + tencent.URL,
		"IMCALLBACK_FORWARD_URL=" + dest.URL, "IMCALLBACK_FORWARD_SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
		"IMCALLBACK_FORWARD_MATCH=C2C.*", "IMCALLBACK_TLS_CERT=" + certFile, "IMCALLBACK_TLS_KEY=" + keyFile},
		delivery.Module, topicsync.Module)
	problems, checked := queryProblems(parseExposition(s.Metrics(t)), queries(t))
	for _, p := range problems {
		t.Error(p)
	}
	if checked < 10 {
		t.Errorf("only %d metric references found: the files were not read as expected", checked)
	}
}

// queryProblems says what is wrong with each query that reads a metric
// the exposition lacks, a label none of its metrics carries, a label value
// no series has, or a metric of the wrong type; checked counts the metric
// references read.
func queryProblems(e exposition, qs []query) (problems []string, checked int) {
	errorf := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	for _, q := range qs {
		names := metricName.FindAllString(q.expr, -1)
		has := func(label string) bool {
			if targetLabels[label] {
				return true
			}
			for _, n := range names {
				if e.labels[n][label] {
					return true
				}
			}
			return false
		}
		for _, name := range names {
			checked++
			if _, ok := e.labels[name]; !ok {
				errorf("%s reads %s, which the service does not expose", q.where, name)
			}
		}
		for _, m := range selectorLabels.FindAllStringSubmatch(q.expr, -1) {
			for _, l := range matcher.FindAllStringSubmatch(m[2], -1) {
				name, op, value := l[1], l[2], l[3]
				_, exposed := e.labels[m[1]]
				switch {
				case !exposed || targetLabels[name]:
				case !e.labels[m[1]][name]:
					errorf("%s selects %s by the label %s, which it does not have", q.where, m[1], name)
				case (op == "=" || op == "!=") && !e.values[m[1]][name][value]:
					errorf("%s selects %s by %s%s%q, a value none of its series has (it has %v)",
						q.where, m[1], name, op, value, slices.Sorted(maps.Keys(e.values[m[1]][name])))
				}
			}
		}
		var used []string
		for _, m := range grouping.FindAllStringSubmatch(q.expr, -1) {
			for _, l := range strings.Split(m[1], ",") {
				if l = strings.TrimSpace(l); l != "" {
					used = append(used, l)
				}
			}
		}
		for _, l := range append(used, q.shown...) {
			if !has(l) {
				errorf("%s groups or shows by the label %s, which none of %v has", q.where, l, names)
			}
		}
		for _, m := range counterFunc.FindAllStringSubmatch(q.expr, -1) {
			if typ, ok := e.types[m[2]]; ok && typ != "counter" && typ != "histogram" {
				errorf("%s applies %s to %s, a %s", q.where, m[1], m[2], typ)
			}
		}
		if rest, ok := strings.CutPrefix(strings.TrimSpace(q.expr), "histogram_quantile("); ok {
			for _, n := range metricName.FindAllString(rest, -1) {
				if !strings.HasSuffix(n, "_bucket") || e.types[n] != "histogram" {
					errorf("%s takes a quantile of %s, not a histogram's buckets", q.where, n)
				}
			}
		}
	}
	return problems, checked
}

// TestCheckQueriesFindsMistakes: the checks of TestReferencedMetricsExist
// find a missing metric or label, and a function of the wrong type.
func TestCheckQueriesFindsMistakes(t *testing.T) {
	e := parseExposition(`# TYPE imcallback_x_total counter
imcallback_x_total{command="a",outcome="ok"} 1
# TYPE imcallback_g gauge
imcallback_g{dependency="nats"} 1
# TYPE imcallback_h_seconds histogram
imcallback_h_seconds_bucket{kind="before",le="1"} 1
imcallback_h_seconds_sum{kind="before"} 1
imcallback_h_seconds_count{kind="before"} 1
`)
	good := []query{
		{"counter", `sum by (command) (rate(imcallback_x_total{outcome="ok"}[5m]))`, []string{"command", "instance"}},
		{"histogram", `histogram_quantile(0.99, sum by (le) (rate(imcallback_h_seconds_bucket{kind="before"}[5m])))`, nil},
		{"gauge", `min by (dependency) (imcallback_g{dependency="nats"}) == 0 or up{job=~"imcallback.*"} == 0`, []string{"dependency"}},
	}
	if problems, checked := queryProblems(e, good); len(problems) > 0 || checked != 3 {
		t.Errorf("correct queries: %d references, problems %q", checked, problems)
	}
	for _, bad := range []query{
		{"missing metric", `rate(imcallback_y_total[5m])`, nil},
		{"missing selector label", `rate(imcallback_x_total{reason="x"}[5m])`, nil},
		{"missing label value", `rate(imcallback_x_total{outcome="okay"}[5m])`, nil},
		{"excluding a missing label value", `rate(imcallback_x_total{outcome!="okay"}[5m])`, nil},
		{"missing grouping label", `sum by (reason) (rate(imcallback_x_total[5m]))`, nil},
		{"missing shown label", `rate(imcallback_x_total[5m])`, []string{"destination"}},
		{"rate of a gauge", `rate(imcallback_g[5m])`, nil},
		{"quantile of a counter", `histogram_quantile(0.99, rate(imcallback_x_total[5m]))`, nil},
	} {
		if problems, _ := queryProblems(e, []query{bad}); len(problems) == 0 {
			t.Errorf("%s: %q passed the checks", bad.where, bad.expr)
		}
	}
}

// alertName finds the name of an alert rule.
var alertName = regexp.MustCompile(`\bImcallback[A-Z][A-Za-z]+\b`)

// TestAlertRules: every rule has a name, an expression and a severity, the
// alerts the documentation and the manifests name are rules, and promtool
// (Debian's prometheus package) accepts the file when installed.
func TestAlertRules(t *testing.T) {
	var rules struct {
		Groups []struct {
			Name  string
			Rules []struct {
				Alert, Expr, For string
				Labels           map[string]string
				Annotations      map[string]string
			}
		}
	}
	readYAML(t, "prometheus/alerts.yml", &rules)
	want := []string{"ImcallbackDeadLettersRising", "ImcallbackBeforeCallbacksNearBudget", "ImcallbackRejectionsSpike",
		"ImcallbackNotReady", "ImcallbackAbsent", "ImcallbackAllowlistStale",
		// README: one app without Tencent's list leaves the replica ready.
		"ImcallbackAllowlistMissing",
		// docs/delivery.md: a 503 is a callback IM counts as failed and may never resend.
		"ImcallbackCallbacksUnavailable",
		// docs/delivery.md: a backlog that keeps growing (a pause left on) ends
		// in events dropped at the retention age.
		"ImcallbackDeliveryBacklogGrowing",
		// docs/delivery.md: a dead letter not stored stays in the work
		// stream until the retention drops it.
		"ImcallbackDeadLetterWritesFailing",
		// README: inline delivery answers a failed after-handler 503
		// (outcome="failed"), and loses the event unless IM retries it.
		"ImcallbackInlineHandlersFailing",
		// README: a before-handler that fails, panics or misses its
		// deadline gets the fallback decision (allow by default), counted
		// outcome="fallback" (or "overloaded"), which IM takes as the answer.
		"ImcallbackBeforeCallbacksFallingBack"}
	var names []string
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			names = append(names, r.Alert)
			if r.Expr == "" || r.Labels["severity"] == "" || r.Annotations["summary"] == "" {
				t.Errorf("rule %q lacks an expression, a severity or a summary", r.Alert)
			}
		}
	}
	for _, w := range want {
		if !slices.Contains(names, w) {
			t.Errorf("no rule %s", w)
		}
	}
	docs, _ := filepath.Glob("../docs/*.md")
	manifests, _ := filepath.Glob("kubernetes/*.yaml")
	for _, f := range append(append([]string{"../README.md"}, docs...), manifests...) {
		for _, name := range alertName.FindAllString(readFile(t, f), -1) {
			if name != "ImcallbackSendSeq" && !slices.Contains(names, name) { // send's body field, no alert
				t.Errorf("%s names the alert %s, which prometheus/alerts.yml does not have", f, name)
			}
		}
	}
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool is not installed (apt-get install prometheus): the rules' PromQL was not checked")
	}
	if out, err := exec.Command(promtool, "check", "rules", "prometheus/alerts.yml").CombinedOutput(); err != nil {
		t.Errorf("promtool check rules: %v\n%s", err, out)
	}
	// The rules' unit tests: an alert fires on the series the service
	// exposes, and not on the ones it should ignore.
	if out, err := exec.Command(promtool, "test", "rules", "prometheus/alerts_test.yml").CombinedOutput(); err != nil {
		t.Errorf("promtool test rules: %v\n%s", err, out)
	}
}

// TestDashboardQueriesParse: every query of the dashboard is PromQL that
// promtool (Debian's prometheus package) accepts, as TestAlertRules checks
// the rules'. TestReferencedMetricsExist reads the queries' metric names
// and labels with regular expressions, which pass a query Prometheus
// refuses (an unbalanced parenthesis, a misspelt function or grouping):
// its panel would show an error instead of a graph, and nothing else
// would say so.
func TestDashboardQueriesParse(t *testing.T) {
	var panels []query
	for _, q := range queries(t) {
		if strings.HasPrefix(q.where, "panel ") {
			panels = append(panels, q)
		}
	}
	if len(panels) < 5 {
		t.Fatalf("only %d dashboard queries found: grafana/imcallback.json was not read as expected", len(panels))
	}
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool is not installed (apt-get install prometheus): the dashboard's PromQL was not checked")
	}
	if err := promtoolParses(promtool, t.TempDir(), panels); err != nil {
		t.Error(err)
	}
}

// promtoolParses checks that promtool parses every expression of qs: it
// writes them as the recording rules dashboard:query_<n> (1-based) of a
// rules file in dir and runs promtool check rules on it. The error names
// each query's rule and where it is.
func promtoolParses(promtool, dir string, qs []query) error {
	type rule struct{ Record, Expr string }
	var rules []rule
	var names []string
	for i, q := range qs {
		name := fmt.Sprintf("dashboard:query_%d", i+1)
		rules = append(rules, rule{name, q.expr})
		names = append(names, fmt.Sprintf("%s is %s: %s", name, q.where, q.expr))
	}
	b, err := yaml.Marshal(map[string]any{"groups": []map[string]any{{"name": "dashboard", "rules": rules}}})
	if err != nil {
		return err
	}
	file := filepath.Join(dir, "dashboard_queries.yml")
	if err := os.WriteFile(file, b, 0o600); err != nil {
		return err
	}
	if out, err := exec.Command(promtool, "check", "rules", file).CombinedOutput(); err != nil {
		return fmt.Errorf("promtool check rules on the dashboard's queries: %v\n%s\n%s", err, out, strings.Join(names, "\n"))
	}
	return nil
}

// TestPromtoolParsesFindsMistakes: the check of TestDashboardQueriesParse
// passes a valid query and refuses one Prometheus cannot parse.
func TestPromtoolParsesFindsMistakes(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool is not installed (apt-get install prometheus)")
	}
	good := query{where: "panel good", expr: `sum by (command) (rate(imcallback_x_total{outcome="ok"}[1m]))`}
	if err := promtoolParses(promtool, t.TempDir(), []query{good}); err != nil {
		t.Fatalf("a valid query: %v", err)
	}
	for _, bad := range []query{
		{where: "panel unbalanced", expr: `sum by (command) (rate(imcallback_x_total[1m])`},
		{where: "panel misspelt function", expr: `sum(rat(imcallback_x_total[1m]))`},
		{where: "panel grouping", expr: `sum bye (command) (rate(imcallback_x_total[1m]))`},
	} {
		err := promtoolParses(promtool, t.TempDir(), []query{good, bad})
		if err == nil || !strings.Contains(err.Error(), "dashboard:query_2 is "+bad.where) {
			t.Errorf("%s: %q: error %v, want one naming the query", bad.where, bad.expr, err)
		}
	}
}

// TestAlertRulesHaveUnitTests: every rule of prometheus/alerts.yml has a
// case in prometheus/alerts_test.yml where it fires, so promtool (in
// TestAlertRules) checks its expression against series shaped as the
// service exposes them, and its annotations as they render. A rule without
// one passes promtool check rules however it is written: a wrong label
// matching or a threshold that cannot be crossed never fires.
func TestAlertRulesHaveUnitTests(t *testing.T) {
	var rules struct {
		Groups []struct {
			Rules []struct{ Alert string }
		}
	}
	readYAML(t, "prometheus/alerts.yml", &rules)
	var tests struct {
		RuleFiles []string `yaml:"rule_files"`
		Tests     []struct {
			AlertRuleTest []struct {
				Alertname string
				ExpAlerts []map[string]any `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		}
	}
	readYAML(t, "prometheus/alerts_test.yml", &tests)
	if !slices.Contains(tests.RuleFiles, "alerts.yml") {
		t.Errorf("prometheus/alerts_test.yml reads %v, not alerts.yml", tests.RuleFiles)
	}
	fires := map[string]bool{}
	for _, tc := range tests.Tests {
		for _, a := range tc.AlertRuleTest {
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			}
		}
	}
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			if !fires[r.Alert] {
				t.Errorf("prometheus/alerts_test.yml has no case where %s fires", r.Alert)
			}
		}
	}
}

// manifest is the part of a Kubernetes object the checks read.
type manifest struct {
	Kind       string
	Metadata   struct{ Name string }
	StringData map[string]string `yaml:"stringData"`
	Spec       struct {
		Ports []struct {
			Name       string
			TargetPort any `yaml:"targetPort"`
		}
		Template struct {
			Spec struct {
				TerminationGracePeriodSeconds int `yaml:"terminationGracePeriodSeconds"`
				Containers                    []container
			}
		}
	}
}

type container struct {
	Args  []string
	Ports []struct {
		Name          string
		ContainerPort int `yaml:"containerPort"`
	}
	Env []struct {
		Name      string
		Value     string
		ValueFrom struct {
			SecretKeyRef struct{ Name, Key string } `yaml:"secretKeyRef"`
		} `yaml:"valueFrom"`
	}
	ReadinessProbe probe `yaml:"readinessProbe"`
	LivenessProbe  probe `yaml:"livenessProbe"`
	StartupProbe   probe `yaml:"startupProbe"`
}

type probe struct {
	HTTPGet struct {
		Path string
		Port any
	} `yaml:"httpGet"`
	TimeoutSeconds   int `yaml:"timeoutSeconds"`
	PeriodSeconds    int `yaml:"periodSeconds"`
	FailureThreshold int `yaml:"failureThreshold"`
}

// window is how long the kubelet lets the probe fail before it acts:
// periodSeconds (10 by default) × failureThreshold (3 by default).
func (p probe) window() time.Duration {
	period, failures := p.PeriodSeconds, p.FailureThreshold
	if period == 0 {
		period = 10
	}
	if failures == 0 {
		failures = 3
	}
	return time.Duration(period*failures) * time.Second
}

// timeout is how long the kubelet waits for the probe's answer: 1 s
// unless timeoutSeconds says otherwise.
func (p probe) timeout() time.Duration {
	if p.TimeoutSeconds == 0 {
		return time.Second
	}
	return time.Duration(p.TimeoutSeconds) * time.Second
}

// startupProblem says why a startup probe that lets a start run for window
// before /healthz must answer cuts short a start the service allows with
// the settings vars, nil when it does not. The admin listener binds last,
// once the start hooks ran (NATS, the streams, the topic store opened and
// migrated, waiting for another replica's migration lock), all of them
// within IMCALLBACK_START_TIMEOUT (the fx start timeout of cli/root.go, the
// deadline topicsync's open keeps to): the window must outlast it.
func startupProblem(window time.Duration, vars []string) error {
	cfg, err := config.Load(config.Source{Environ: func() []string { return vars }})
	if err != nil {
		return err
	}
	if window <= cfg.StartTimeout {
		return fmt.Errorf("the startup probe gives the start %v before /healthz must answer; with IMCALLBACK_START_TIMEOUT %v a start may take that long",
			window, cfg.StartTimeout)
	}
	return nil
}

// TestStartupProblemFollowsTheStartTimeout: the startup probe's check
// reads the start bound from the settings, so a Deployment that raises
// IMCALLBACK_START_TIMEOUT without its probe fails the kit's test; the
// topic store's open is bounded by the same setting, not by 30 s more.
func TestStartupProblemFollowsTheStartTimeout(t *testing.T) {
	base := []string{"IMCALLBACK_SDKAPPID=1400000000"}
	tests := []struct {
		window  time.Duration
		extra   string
		problem bool
	}{
		{150 * time.Second, "", false},
		{125 * time.Second, "", false},
		{120 * time.Second, "", true},
		{150 * time.Second, "IMCALLBACK_START_TIMEOUT=5m", true},
		{305 * time.Second, "IMCALLBACK_START_TIMEOUT=5m", false},
		{60 * time.Second, "IMCALLBACK_START_TIMEOUT=30s", false},
	}
	for _, tt := range tests {
		vars := base
		if tt.extra != "" {
			vars = append(slices.Clone(base), tt.extra)
		}
		if err := startupProblem(tt.window, vars); (err != nil) != tt.problem {
			t.Errorf("window %v with %q: startupProblem = %v, want a problem: %v", tt.window, tt.extra, err, tt.problem)
		}
	}
}

// readyzAnswer is the longest /readyz takes to answer: its checks run
// concurrently, each under their deadline, and the answer waits a grace
// longer for them (server.runChecks).
const readyzAnswer = server.CheckTimeout + server.CheckGrace

// TestKubernetes: the manifests parse; the probes read /readyz and
// /healthz on the admin port; every variable is a setting, and the service
// takes the image's and the Deployment's values, with the example Secret's
// for the keys it reads; the arguments are a command of the binary; the
// Service and the NetworkPolicy keep the admin port private.
func TestKubernetes(t *testing.T) {
	files, err := filepath.Glob("kubernetes/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests: %v", err)
	}
	kinds := map[string]manifest{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		for {
			var m manifest
			err := dec.Decode(&m)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			kinds[m.Kind+"/"+m.Metadata.Name] = m
		}
	}
	for _, k := range []string{"Deployment/imcallback", "Service/imcallback", "PodDisruptionBudget/imcallback",
		"ServiceMonitor/imcallback", "NetworkPolicy/imcallback", "Secret/imcallback", "Kustomization/"} {
		if _, ok := kinds[k]; !ok {
			t.Errorf("no %s", k)
		}
	}
	dep := kinds["Deployment/imcallback"]
	if len(dep.Spec.Template.Spec.Containers) != 1 {
		t.Fatalf("deployment containers: %+v", dep.Spec.Template.Spec.Containers)
	}
	c := dep.Spec.Template.Spec.Containers[0]
	ports := map[string]int{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	admin := dockerEnv(t)["IMCALLBACK_ADMIN_LISTEN"]
	if want := fmt.Sprintf(":%d", ports["admin"]); admin != want {
		t.Errorf("the admin port is %d, the image's IMCALLBACK_ADMIN_LISTEN %q", ports["admin"], admin)
	}
	for name, p := range map[string]probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe, "startup": c.StartupProbe} {
		want := map[string]string{"readiness": "/readyz", "liveness": "/healthz", "startup": "/healthz"}[name]
		if p.HTTPGet.Path != want || p.HTTPGet.Port != "admin" {
			t.Errorf("%s probe %+v, want %s on the admin port", name, p.HTTPGet, want)
		}
	}
	// A check that passes in 1.5 s (a probe append while NATS is slow) is
	// ready for the service; a kubelet that gives up sooner takes the pod,
	// and with one NATS for all replicas every pod, out of the Service.
	if got := c.ReadinessProbe.timeout(); got <= readyzAnswer {
		t.Errorf("the readiness probe waits %v for /readyz, which may take %v to answer ready", got, readyzAnswer)
	}
	var names []string
	environ := envList(dockerEnv(t))
	for _, e := range c.Env {
		names = append(names, e.Name+"="+e.Value)
		value := e.Value
		if ref := e.ValueFrom.SecretKeyRef; ref.Key != "" {
			var ok bool
			if value, ok = kinds["Secret/"+ref.Name].StringData[ref.Key]; !ok {
				t.Errorf("deployment.yaml: %s reads the key %s of the Secret %s, which secret.example.yaml does not have", e.Name, ref.Key, ref.Name)
			}
		}
		environ = append(environ, e.Name+"="+value)
	}
	checkEnv(t, "deployment.yaml", names)
	checkLoads(t, "deployment.yaml with the image's ENV and secret.example.yaml", environ)
	// Without a startup probe the liveness probe restarts a start that is
	// still within the service's own bounds (another replica migrating),
	// and the next start is cut short the same way.
	if err := startupProblem(c.StartupProbe.window(), environ); err != nil {
		t.Errorf("deployment.yaml: %v", err)
	}
	checkArgs(t, "deployment.yaml", c.Args)
	checkGrace(t, "deployment.yaml terminationGracePeriodSeconds", time.Duration(dep.Spec.Template.Spec.TerminationGracePeriodSeconds)*time.Second, names)
	for _, p := range kinds["Service/imcallback"].Spec.Ports {
		if p.TargetPort != "public" {
			t.Errorf("the public Service exposes %v", p.TargetPort)
		}
	}
	for _, f := range []string{"deployment.yaml", "service.yaml", "pdb.yaml", "networkpolicy.yaml", "servicemonitor.yaml"} {
		if !strings.Contains(readFile(t, "kubernetes/kustomization.yaml"), f) {
			t.Errorf("kustomization.yaml lacks %s", f)
		}
	}
}

// serviceLinks are the variables the kubelet gives every container of a
// pod about each Service of its namespace that has a cluster IP, unless the
// pod sets enableServiceLinks: false (kubelet's envvars.FromServices):
// NAME_SERVICE_HOST, NAME_SERVICE_PORT, NAME_SERVICE_PORT_<PORT NAME>, and
// Docker's links, NAME_PORT and NAME_PORT_<port>_<PROTO>[_PROTO|_PORT|_ADDR],
// NAME being the Service's name in upper case with '_' for '-'.
func serviceLinks(files []string) ([]string, error) {
	var out []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		dec := yaml.NewDecoder(bytes.NewReader(b))
		for {
			var m struct {
				Kind     string
				Metadata struct{ Name string }
				Spec     struct {
					ClusterIP string `yaml:"clusterIP"`
					Ports     []struct {
						Name, Protocol string
						Port           int
					}
				}
			}
			if err := dec.Decode(&m); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				return nil, fmt.Errorf("%s: %w", f, err)
			}
			if m.Kind != "Service" || m.Spec.ClusterIP == "None" || len(m.Spec.Ports) == 0 {
				continue // a headless Service has no links
			}
			name := strings.ToUpper(strings.ReplaceAll(m.Metadata.Name, "-", "_"))
			const ip = "10.96.0.10"
			out = append(out, name+"_SERVICE_HOST="+ip, fmt.Sprintf("%s_SERVICE_PORT=%d", name, m.Spec.Ports[0].Port))
			for i, p := range m.Spec.Ports {
				proto := p.Protocol
				if proto == "" {
					proto = "TCP"
				}
				if p.Name != "" {
					out = append(out, fmt.Sprintf("%s_SERVICE_PORT_%s=%d", name, strings.ToUpper(strings.ReplaceAll(p.Name, "-", "_")), p.Port))
				}
				url := fmt.Sprintf("%s://%s:%d", strings.ToLower(proto), ip, p.Port)
				prefix := fmt.Sprintf("%s_PORT_%d_%s", name, p.Port, strings.ToUpper(proto))
				if i == 0 {
					out = append(out, name+"_PORT="+url)
				}
				out = append(out, prefix+"="+url, prefix+"_PROTO="+strings.ToLower(proto),
					fmt.Sprintf("%s_PORT=%d", prefix, p.Port), prefix+"_ADDR="+ip)
			}
		}
	}
	return out, nil
}

// TestDeploymentGetsNoServiceLinks: the kubelet's variables about the
// Service imcallback are named IMCALLBACK_SERVICE_HOST, IMCALLBACK_PORT
// and so on, which the service reads as settings it does not know and
// warns about at every start (8 lines), so the warning that names a
// misspelt setting goes unread among them. The pod turns them off
// (enableServiceLinks: false); the service never reads them.
func TestDeploymentGetsNoServiceLinks(t *testing.T) {
	var dep struct {
		Spec struct {
			Template struct {
				Spec struct {
					EnableServiceLinks *bool `yaml:"enableServiceLinks"`
				}
			}
		}
	}
	readYAML(t, "kubernetes/deployment.yaml", &dep)
	if off := dep.Spec.Template.Spec.EnableServiceLinks; off != nil && !*off {
		return
	}
	files, err := filepath.Glob("kubernetes/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	links, err := serviceLinks(files)
	if err != nil {
		t.Fatal(err)
	}
	for _, note := range config.UnknownEnv(links) {
		t.Errorf("deployment.yaml leaves the Service links on, and the kubelet sets a variable the service warns about at every start: %s", note)
	}
}

// TestServiceLinksAreTheKubelets: serviceLinks names the variables as the
// kubelet does (pkg/kubelet/envvars), for a Service with a cluster IP, and
// none for a headless one.
func TestServiceLinksAreTheKubelets(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "s.yaml")
	manifests := `apiVersion: v1
kind: Service
metadata: {name: my-svc}
spec:
  ports:
    - {name: public, port: 80}
    - {name: udp-port, port: 53, protocol: UDP}
---
apiVersion: v1
kind: Service
metadata: {name: headless}
spec:
  clusterIP: None
  ports:
    - {name: admin, port: 9090}
`
	if err := os.WriteFile(f, []byte(manifests), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := serviceLinks([]string{f})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"MY_SVC_PORT=tcp://10.96.0.10:80",
		"MY_SVC_PORT_53_UDP=udp://10.96.0.10:53",
		"MY_SVC_PORT_53_UDP_ADDR=10.96.0.10",
		"MY_SVC_PORT_53_UDP_PORT=53",
		"MY_SVC_PORT_53_UDP_PROTO=udp",
		"MY_SVC_PORT_80_TCP=tcp://10.96.0.10:80",
		"MY_SVC_PORT_80_TCP_ADDR=10.96.0.10",
		"MY_SVC_PORT_80_TCP_PORT=80",
		"MY_SVC_PORT_80_TCP_PROTO=tcp",
		"MY_SVC_SERVICE_HOST=10.96.0.10",
		"MY_SVC_SERVICE_PORT=80",
		"MY_SVC_SERVICE_PORT_PUBLIC=80",
		"MY_SVC_SERVICE_PORT_UDP_PORT=53",
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("serviceLinks =\n%q\nwant\n%q", got, want)
	}
}

// TestKubernetesLoadsTheAlertRules: the manifests give the Prometheus
// Operator the alert rules as a PrometheusRule, the same groups as
// prometheus/alerts.yml (which promtool checks and tests). The Operator
// loads no rule file: without it, the cluster the ServiceMonitor scrapes
// alerts on nothing, not even ImcallbackAbsent when nothing is scraped.
func TestKubernetesLoadsTheAlertRules(t *testing.T) {
	var want struct{ Groups any }
	readYAML(t, "prometheus/alerts.yml", &want)
	if want.Groups == nil {
		t.Fatal("prometheus/alerts.yml has no groups")
	}
	files, err := filepath.Glob("kubernetes/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, f := range files {
		dec := yaml.NewDecoder(strings.NewReader(readFile(t, f)))
		for {
			var m struct {
				Kind string
				Spec struct{ Groups any }
			}
			if err := dec.Decode(&m); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if m.Kind != "PrometheusRule" {
				continue
			}
			found = append(found, f)
			if !reflect.DeepEqual(m.Spec.Groups, want.Groups) {
				t.Errorf("%s: the PrometheusRule's groups differ from prometheus/alerts.yml's: copy them over", f)
			}
			if name := filepath.Base(f); !strings.Contains(readFile(t, "kubernetes/kustomization.yaml"), name) {
				t.Errorf("kustomization.yaml lacks %s", name)
			}
		}
	}
	if len(found) != 1 {
		t.Errorf("the manifests hold %d PrometheusRules (%v), want one with the rules of prometheus/alerts.yml", len(found), found)
	}
}

// TestDeploymentIsHardened: the pod runs as the image's non-root user on a
// read-only root filesystem, with a writable volume at the data directory
// (the allowlist cache, the embedded stores), without a service account
// token (the service never calls the Kubernetes API: a mounted token only
// serves whoever takes over the process), and GOMEMLIMIT below the
// container's memory limit, so the collector works harder before the
// kernel kills the container.
func TestDeploymentIsHardened(t *testing.T) {
	var dep struct {
		Spec struct {
			Template struct {
				Spec struct {
					AutomountServiceAccountToken *bool `yaml:"automountServiceAccountToken"`
					SecurityContext              struct {
						RunAsNonRoot bool `yaml:"runAsNonRoot"`
						RunAsUser    int  `yaml:"runAsUser"`
						FSGroup      int  `yaml:"fsGroup"`
					} `yaml:"securityContext"`
					Containers []struct {
						Env []struct {
							Name, Value string
						}
						Resources struct {
							Requests, Limits map[string]string
						}
						SecurityContext struct {
							AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
							ReadOnlyRootFilesystem   bool  `yaml:"readOnlyRootFilesystem"`
							Capabilities             struct {
								Drop []string
							}
						} `yaml:"securityContext"`
						VolumeMounts []struct {
							Name      string
							MountPath string `yaml:"mountPath"`
						} `yaml:"volumeMounts"`
					}
					Volumes []struct{ Name string }
				}
			}
		}
	}
	readYAML(t, "kubernetes/deployment.yaml", &dep)
	pod := dep.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("deployment containers: %d", len(pod.Containers))
	}
	c := pod.Containers[0]
	user := regexp.MustCompile(`(?m)^USER (\d+):`).FindStringSubmatch(readFile(t, "Dockerfile"))
	if user == nil {
		t.Fatal("the Dockerfile has no USER uid:gid")
	}
	if uid, _ := strconv.Atoi(user[1]); !pod.SecurityContext.RunAsNonRoot || pod.SecurityContext.RunAsUser != uid || pod.SecurityContext.FSGroup == 0 {
		t.Errorf("pod securityContext %+v, want runAsNonRoot, runAsUser %d (the image's USER) and an fsGroup for the data volume", pod.SecurityContext, uid)
	}
	if mount := pod.AutomountServiceAccountToken; mount == nil || *mount {
		t.Errorf("the pod mounts a service account token (automountServiceAccountToken not false); the service never uses one")
	}
	sc := c.SecurityContext
	if escalation := sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation; !sc.ReadOnlyRootFilesystem || escalation || !slices.Contains(sc.Capabilities.Drop, "ALL") {
		t.Errorf("container securityContext: readOnlyRootFilesystem %v, privilege escalation %v, capabilities dropped %v; "+
			"want a read-only root filesystem, no privilege escalation, every capability dropped", sc.ReadOnlyRootFilesystem, escalation, sc.Capabilities.Drop)
	}
	env := dockerEnv(t)
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	dataDir := env["IMCALLBACK_DATA_DIR"]
	var volume string
	for _, m := range c.VolumeMounts {
		if m.MountPath == dataDir {
			volume = m.Name
		}
	}
	if volume == "" || !slices.ContainsFunc(pod.Volumes, func(v struct{ Name string }) bool { return v.Name == volume }) {
		t.Errorf("no volume is mounted at IMCALLBACK_DATA_DIR %q: on a read-only root nothing could be written there", dataDir)
	}
	limit, err := quantity(c.Resources.Limits["memory"])
	if err != nil {
		t.Fatalf("resources.limits.memory: %v", err)
	}
	if request, err := quantity(c.Resources.Requests["memory"]); err != nil || request > limit {
		t.Errorf("resources.requests.memory %q: %v, above the limit %d", c.Resources.Requests["memory"], err, limit)
	}
	soft := int64(128 << 20) // the binary's own limit unless GOMEMLIMIT is set (cli.defaultMemoryLimit)
	if v, ok := env["GOMEMLIMIT"]; ok {
		if soft, err = quantity(v); err != nil {
			t.Fatalf("GOMEMLIMIT: %v", err)
		}
	}
	if soft >= limit {
		t.Errorf("the soft memory limit (%d bytes) is not below the container's (%d): the container is killed before the collector works harder", soft, limit)
	}
}

// credentialSettings are the settings whose values carry a credential,
// those config.Config.Redacted hides: the tokens, the store DSN's password,
// the NATS URLs' user, password or token, a forward destination's secret
// and URL. An app's tokens and secret key (IMCALLBACK_APP_<id>_TOKENS,
// _SECRET_KEY) are matched by credentialVar.
var credentialSettings = []string{"tokens", "admin_token", "store_dsn", "nats_url", "forward_secret", "forward_url"}

// credentialVar reports whether the variable name carries a credential.
func credentialVar(name string) bool {
	for _, key := range credentialSettings {
		if name == config.EnvName(key) {
			return true
		}
	}
	return strings.HasPrefix(name, "IMCALLBACK_APP_") && (strings.HasSuffix(name, "_TOKENS") || strings.HasSuffix(name, "_SECRET_KEY"))
}

// TestDeploymentKeepsCredentialsInTheSecret: every variable of the
// Deployment that carries a credential comes from the Secret, never from a
// value written in deployment.yaml, which is committed and shown by
// kubectl describe. IMCALLBACK_NATS_URL is one: a production NATS needs
// authentication (whoever reaches it reads the stored callbacks and adds
// events the handlers run, without a signature), and its user and
// password, or token, are part of the URL.
func TestDeploymentKeepsCredentialsInTheSecret(t *testing.T) {
	var names []string
	for _, key := range credentialSettings {
		names = append(names, config.EnvName(key)+"=x")
	}
	for _, note := range config.UnknownEnv(names) {
		t.Errorf("credentialSettings: %s", note)
	}
	var dep struct {
		Spec struct {
			Template struct {
				Spec struct {
					Containers []container
				}
			}
		}
	}
	readYAML(t, "kubernetes/deployment.yaml", &dep)
	if len(dep.Spec.Template.Spec.Containers) == 0 {
		t.Fatal("deployment.yaml has no container")
	}
	fromSecret := 0
	for _, c := range dep.Spec.Template.Spec.Containers {
		for _, e := range c.Env {
			switch {
			case !credentialVar(e.Name):
			case e.ValueFrom.SecretKeyRef.Key == "":
				t.Errorf("deployment.yaml writes %s, which carries a credential, as a plain value: read it from the Secret (secretKeyRef)", e.Name)
			default:
				fromSecret++
			}
		}
	}
	if fromSecret == 0 {
		t.Error("deployment.yaml reads no credential from the Secret: the check read nothing")
	}
}

// quantity reads a byte size as Kubernetes (512Mi) or GOMEMLIMIT (400MiB)
// writes it: a number with an optional binary suffix.
func quantity(s string) (int64, error) {
	m := regexp.MustCompile(`^(\d+)(Ki|Mi|Gi|KiB|MiB|GiB|B)?$`).FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("%q is not a byte size this test reads", s)
	}
	n, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil {
		return 0, err
	}
	shift := map[string]int{"": 0, "B": 0, "Ki": 10, "KiB": 10, "Mi": 20, "MiB": 20, "Gi": 30, "GiB": 30}[m[2]]
	return n << shift, nil
}

// TestImageAndUnit: the Dockerfile runs the binary's serve as a non-root
// user with the data dir as a volume; the systemd unit runs a real command
// with real settings; compose's variables are settings too, which the
// service takes with the image's, and compose runs the replicas without
// privileges on a read-only root filesystem, as the Deployment does.
func TestImageAndUnit(t *testing.T) {
	df := readFile(t, "Dockerfile")
	for _, want := range []string{"CGO_ENABLED=0", "USER 65532", "VOLUME /data", "EXPOSE 8080 9090", `ENTRYPOINT ["/usr/local/bin/imcallback"]`} {
		if !strings.Contains(df, want) {
			t.Errorf("Dockerfile lacks %q", want)
		}
	}
	cmd := regexp.MustCompile(`(?m)^CMD (\[.*\])$`).FindStringSubmatch(df)
	var args []string
	if cmd == nil || json.Unmarshal([]byte(cmd[1]), &args) != nil {
		t.Fatalf("Dockerfile CMD not found")
	}
	checkArgs(t, "Dockerfile", args)
	// The health check runs the binary itself (no shell in the image).
	health := regexp.MustCompile(`(?m)^HEALTHCHECK .*\\\n\s*CMD (\[.*\])$`).FindStringSubmatch(df)
	var probe []string
	if health == nil || json.Unmarshal([]byte(health[1]), &probe) != nil || len(probe) < 2 || probe[0] != "/usr/local/bin/imcallback" {
		t.Errorf("the Dockerfile has no HEALTHCHECK running /usr/local/bin/imcallback (exec form)")
	} else {
		checkArgs(t, "Dockerfile HEALTHCHECK", probe[1:])
	}
	var env []string
	for k, v := range dockerEnv(t) {
		env = append(env, k+"="+v)
	}
	checkEnv(t, "Dockerfile", env)

	unit := readFile(t, "systemd/imcallback.service")
	exec := regexp.MustCompile(`(?m)^ExecStart=/usr/local/bin/imcallback (.*)$`).FindStringSubmatch(unit)
	if exec == nil {
		t.Fatal("the unit has no ExecStart of /usr/local/bin/imcallback")
	}
	checkArgs(t, "imcallback.service", strings.Fields(exec[1]))
	var unitEnv []string
	for _, m := range regexp.MustCompile(`(?m)^Environment=(\S+)$`).FindAllStringSubmatch(unit, -1) {
		unitEnv = append(unitEnv, m[1])
	}
	checkEnv(t, "imcallback.service", unitEnv)
	// The EnvironmentFile holds what the unit's comment says: the app and its tokens.
	checkLoads(t, "imcallback.service", append(slices.Clone(unitEnv), "IMCALLBACK_SDKAPPID=1400000000", "IMCALLBACK_TOKENS="+operatorValue))
	stopSec := regexp.MustCompile(`(?m)^TimeoutStopSec=(\d+)$`).FindStringSubmatch(unit)
	if stopSec == nil {
		t.Fatal("the unit sets no TimeoutStopSec")
	}
	sec, _ := strconv.Atoi(stopSec[1])
	checkGrace(t, "imcallback.service TimeoutStopSec", time.Duration(sec)*time.Second, unitEnv)
	for _, want := range []string{"NoNewPrivileges=yes", "ProtectSystem=strict", "DynamicUser=yes"} {
		if !strings.Contains(unit, want) {
			t.Errorf("the unit lacks %s", want)
		}
	}

	var compose struct {
		XImcallback struct {
			Environment     map[string]string
			StopGracePeriod string   `yaml:"stop_grace_period"`
			ReadOnly        bool     `yaml:"read_only"`
			CapDrop         []string `yaml:"cap_drop"`
			SecurityOpt     []string `yaml:"security_opt"`
		} `yaml:"x-imcallback"`
		Services map[string]any
	}
	readYAML(t, "compose.yaml", &compose)
	var cenv []string
	for k, v := range compose.XImcallback.Environment {
		cenv = append(cenv, k+"="+v)
	}
	checkEnv(t, "compose.yaml", cenv)
	environ := envList(dockerEnv(t))
	for k, v := range compose.XImcallback.Environment {
		environ = append(environ, k+"="+composeValue(v))
	}
	checkLoads(t, "compose.yaml with the image's ENV", environ)
	if x := compose.XImcallback; !x.ReadOnly || !slices.Contains(x.CapDrop, "ALL") || !slices.Contains(x.SecurityOpt, "no-new-privileges:true") {
		t.Errorf("compose.yaml's replicas: read_only %v, cap_drop %v, security_opt %v; want a read-only root filesystem, "+
			"every capability dropped and no-new-privileges:true, as the Deployment's securityContext", x.ReadOnly, x.CapDrop, x.SecurityOpt)
	}
	grace, err := time.ParseDuration(compose.XImcallback.StopGracePeriod)
	if err != nil {
		t.Errorf("compose.yaml stop_grace_period: %v", err)
	}
	checkGrace(t, "compose.yaml stop_grace_period", grace, cenv)
	for _, svc := range []string{"postgres", "nats-1", "nats-2", "nats-3", "imcallback-1", "imcallback-2", "prometheus", "grafana"} {
		if _, ok := compose.Services[svc]; !ok {
			t.Errorf("compose.yaml has no service %s", svc)
		}
	}
}

// TestAdminPortStaysPrivate: the admin port (metrics, the event log,
// replay, the console) is reachable from inside only: compose publishes no
// replica's admin port on the host, and every NetworkPolicy rule that
// admits any source names its ports, the admin port not among them (a rule
// without ports admits them all).
func TestAdminPortStaysPrivate(t *testing.T) {
	_, admin, err := net.SplitHostPort(dockerEnv(t)["IMCALLBACK_ADMIN_LISTEN"])
	if err != nil || admin == "" {
		t.Fatalf("the image's IMCALLBACK_ADMIN_LISTEN: %v", err)
	}
	var compose struct {
		Services map[string]struct {
			Image string
			Ports []any
		}
	}
	readYAML(t, "compose.yaml", &compose)
	replicas := 0
	for name, svc := range compose.Services {
		if svc.Image != "imcallback:local" {
			continue
		}
		replicas++
		for _, p := range svc.Ports {
			if target := publishedTarget(p); target == admin || target == "" {
				t.Errorf("compose.yaml: %s publishes %v, the admin port %s (or a port this test does not read)", name, p, admin)
			}
		}
	}
	if replicas == 0 {
		t.Error("compose.yaml runs no service of the image imcallback:local")
	}
	var policy struct {
		Spec struct {
			Ingress []struct {
				From  []any
				Ports []struct{ Port any }
			}
		}
	}
	readYAML(t, "kubernetes/networkpolicy.yaml", &policy)
	if len(policy.Spec.Ingress) == 0 {
		t.Error("networkpolicy.yaml admits nothing: not even the public port")
	}
	for i, rule := range policy.Spec.Ingress {
		if len(rule.From) > 0 {
			continue
		}
		if len(rule.Ports) == 0 {
			t.Errorf("networkpolicy.yaml: ingress rule %d admits every source on every port, the admin port %s too", i, admin)
		}
		for _, p := range rule.Ports {
			if port := fmt.Sprint(p.Port); port == admin || port == "admin" {
				t.Errorf("networkpolicy.yaml: ingress rule %d admits every source on the admin port %s", i, port)
			}
		}
	}
}

// publishedTarget is the container port of a compose ports entry: the last
// part of "[ip:]host:container[/proto]", or a long entry's target; "" when
// the entry is neither.
func publishedTarget(p any) string {
	switch p := p.(type) {
	case string:
		p, _, _ = strings.Cut(p, "/")
		return p[strings.LastIndex(p, ":")+1:]
	case int:
		return strconv.Itoa(p)
	case map[string]any:
		if target, ok := p["target"]; ok {
			return fmt.Sprint(target)
		}
	}
	return ""
}

// TestDataDirIsWritable: where the root filesystem is read-only, the data
// directory is not: the image makes it its user's, and the unit's
// ProtectSystem=strict leaves it writable through StateDirectory (or
// ReadWritePaths). Else the first write there (the embedded stores, the
// allowlist cache) fails and the service does not start.
func TestDataDirIsWritable(t *testing.T) {
	df := readFile(t, "Dockerfile")
	dataDir := dockerEnv(t)["IMCALLBACK_DATA_DIR"]
	user := regexp.MustCompile(`(?m)^USER (\d+):(\d+)$`).FindStringSubmatch(df)
	if user == nil {
		t.Fatal("the Dockerfile has no USER uid:gid")
	}
	owned := regexp.MustCompile(`(?m)^COPY --from=\S+ --chown=` + user[1] + `:` + user[2] + ` \S+ ` + regexp.QuoteMeta(dataDir) + `$`)
	if !owned.MatchString(df) {
		t.Errorf("the Dockerfile does not give %s to its USER %s:%s (COPY --chown): a new volume there is root's, and the service cannot write it", dataDir, user[1], user[2])
	}

	unit := readFile(t, "systemd/imcallback.service")
	dir := regexp.MustCompile(`(?m)^Environment=IMCALLBACK_DATA_DIR=(\S+)$`).FindStringSubmatch(unit)
	if dir == nil {
		t.Fatal("the unit sets no IMCALLBACK_DATA_DIR")
	}
	if problem := unitWriteProblem(unit, dir[1]); problem != "" {
		t.Error(problem)
	}
}

// unitWriteProblem says why the service of unit cannot write dir, "" when
// it can: with ProtectSystem=strict only StateDirectory's (under /var/lib),
// CacheDirectory's, LogsDirectory's, RuntimeDirectory's and ReadWritePaths'
// directories are writable.
func unitWriteProblem(unit, dir string) string {
	if !regexp.MustCompile(`(?m)^ProtectSystem=strict$`).MatchString(unit) {
		return ""
	}
	roots := map[string]string{"StateDirectory": "/var/lib/", "CacheDirectory": "/var/cache/", "LogsDirectory": "/var/log/", "RuntimeDirectory": "/run/", "ReadWritePaths": ""}
	for _, m := range regexp.MustCompile(`(?m)^(\w+)=(.*)$`).FindAllStringSubmatch(unit, -1) {
		root, ok := roots[m[1]]
		if !ok {
			continue
		}
		for _, d := range strings.Fields(m[2]) {
			d = root + strings.TrimLeft(d, "-+")
			if dir == d || strings.HasPrefix(dir, strings.TrimSuffix(d, "/")+"/") {
				return ""
			}
		}
	}
	return fmt.Sprintf("the unit has ProtectSystem=strict but neither StateDirectory= nor ReadWritePaths= covers IMCALLBACK_DATA_DIR %s: the service cannot write it", dir)
}

// TestUnitWriteProblemFindsMistakes: the unit check finds a data directory
// ProtectSystem=strict leaves read-only.
func TestUnitWriteProblemFindsMistakes(t *testing.T) {
	tests := []struct {
		unit, dir string
		problem   bool
	}{
		{"ProtectSystem=strict\nStateDirectory=imcallback\n", "/var/lib/imcallback", false},
		{"ProtectSystem=strict\nStateDirectory=imcallback\n", "/var/lib/imcallback/data", false},
		{"ProtectSystem=strict\nReadWritePaths=/srv/imcallback\n", "/srv/imcallback", false},
		{"ProtectSystem=full\n", "/srv/imcallback", false},
		{"ProtectSystem=strict\n", "/var/lib/imcallback", true},
		{"ProtectSystem=strict\nStateDirectory=imcallback\n", "/var/lib/imcallback2", true},
		{"ProtectSystem=strict\nStateDirectory=imcallback\n", "/srv/imcallback", true},
	}
	for _, tt := range tests {
		if got := unitWriteProblem(tt.unit, tt.dir); (got != "") != tt.problem {
			t.Errorf("unitWriteProblem(%q, %q) = %q, want a problem: %v", tt.unit, tt.dir, got, tt.problem)
		}
	}
}

// TestUnitVerifies: systemd-analyze verify (systemd's own check, where it
// is installed) finds nothing to say of the unit, nor of it with the
// commented lines it shows for TLS (#LoadCredential=…) uncommented.
// systemd ignores a key it does not know and a value it cannot read with a
// warning alone and runs the unit anyway: a misspelt hardening line
// (ProtectSytem=, a bad SystemCallFilter= group) would leave the service
// without it, and the checks above, which read the lines they look for,
// would not notice.
func TestUnitVerifies(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed (Debian's systemd package): the unit was not verified")
	}
	unit := readFile(t, "systemd/imcallback.service")
	tls := regexp.MustCompile(`(?m)^#([A-Z][A-Za-z]*=)`).ReplaceAllString(unit, "$1")
	if tls == unit {
		t.Error("the unit's comment shows no commented lines (#LoadCredential=…) to verify")
	}
	for name, text := range map[string]string{"imcallback.service": unit, "imcallback.service with its commented lines": tls} {
		problems, err := unitProblems(analyze, t.TempDir(), text)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range problems {
			t.Errorf("%s: systemd-analyze verify: %s", name, p)
		}
	}
}

// unitProblems runs systemd-analyze verify on unit, written to dir as
// imcallback.service with its ExecStart's binary replaced by an
// executable file there (the binary is not installed where the tests
// run), and returns the lines it prints about the unit: a key systemd does
// not know, a value it cannot read, a command it cannot run.
func unitProblems(analyze, dir, unit string) ([]string, error) {
	bin := filepath.Join(dir, "imcallback")
	if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
		return nil, err
	}
	unit = regexp.MustCompile(`(?m)^ExecStart=/usr/local/bin/imcallback\b`).ReplaceAllLiteralString(unit, "ExecStart="+bin)
	file := filepath.Join(dir, "imcallback.service")
	if err := os.WriteFile(file, []byte(unit), 0o644); err != nil {
		return nil, err
	}
	out, err := exec.Command(analyze, "verify", "--man=no", file).CombinedOutput()
	var problems []string
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "imcallback.service") {
			problems = append(problems, line)
		}
	}
	if err != nil && len(problems) == 0 {
		return nil, fmt.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
	if err != nil {
		problems = append(problems, err.Error())
	}
	return problems, nil
}

// TestUnitProblemsFindsMistakes: the check of TestUnitVerifies passes a
// valid unit and reports a misspelt key and a value systemd cannot read,
// which systemd-analyze verify only warns about (its exit status is 0).
func TestUnitProblemsFindsMistakes(t *testing.T) {
	analyze, err := exec.LookPath("systemd-analyze")
	if err != nil {
		t.Skip("systemd-analyze is not installed (Debian's systemd package)")
	}
	good := "[Service]\nExecStart=/usr/local/bin/imcallback serve\nProtectSystem=strict\nRestartSec=2\n"
	if problems, err := unitProblems(analyze, t.TempDir(), good); err != nil || len(problems) > 0 {
		t.Fatalf("a valid unit: problems %q, error %v", problems, err)
	}
	for _, bad := range []string{
		"[Service]\nExecStart=/usr/local/bin/imcallback serve\nProtectSytem=strict\n",
		"[Service]\nExecStart=/usr/local/bin/imcallback serve\nRestartSec=2x\n",
		"[Service]\nExecStart=/usr/local/bin/imcallback serve\nSystemCallFilter=~@privilegd\n",
	} {
		if problems, err := unitProblems(analyze, t.TempDir(), bad); err != nil || len(problems) == 0 {
			t.Errorf("%q: problems %q, error %v; want the mistake reported", bad, problems, err)
		}
	}
}

// TestDockerBuildImageHasTheModulesGo: the Dockerfile's build stage runs
// a Go release that go.mod's go line admits. The golang images set
// GOTOOLCHAIN=local, so an older Go refuses the module ("go.mod requires
// go >= …") instead of fetching a newer one; a tag of the minor release
// alone (golang:1.26) names whichever 1.26.x the builder has pulled, an
// older one included, and a go line raised without the Dockerfile fails
// every build.
func TestDockerBuildImageHasTheModulesGo(t *testing.T) {
	from := regexp.MustCompile(`(?m)^FROM golang:(\d+\.\d+(?:\.\d+)?)\S* AS build$`).FindStringSubmatch(readFile(t, "Dockerfile"))
	if from == nil {
		t.Fatal("the Dockerfile has no build stage FROM golang:<version>… AS build")
	}
	want := regexp.MustCompile(`(?m)^go (\S+)$`).FindStringSubmatch(readFile(t, "../go.mod"))
	if want == nil {
		t.Fatal("go.mod has no go line")
	}
	if version.Compare("go"+from[1], "go"+want[1]) < 0 {
		t.Errorf("the Dockerfile builds with golang:%s, which may be older than go.mod's go %s: the image's Go (GOTOOLCHAIN=local) would refuse the module", from[1], want[1])
	}
}

// TestDockerBuild builds the image where a Docker daemon answers.
func TestDockerBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds an image; skipped with -short")
	}
	docker, err := exec.LookPath("docker")
	if err != nil || exec.Command(docker, "info").Run() != nil {
		t.Skip("no Docker daemon answers here (docker info): the image was not built")
	}
	out, err := dockerBuild(docker).CombinedOutput()
	if err != nil {
		t.Fatalf("docker build: %v\n%s", err, out)
	}
}

// dockerBuild is the image's build as TestDockerBuild runs it: the
// Dockerfile's own command, run from the repository root (docker reads a
// relative -f from the current directory, which is deploy/ for the test).
func dockerBuild(docker string) *exec.Cmd {
	cmd := exec.Command(docker, "build", "-f", "deploy/Dockerfile", "-t", "imcallback:test", ".")
	cmd.Dir = ".."
	return cmd
}

// TestDockerBuildNamesTheKit: the build TestDockerBuild runs names this
// Dockerfile and the repository root as its context, each read from the
// directory the command runs in, as docker reads a relative -f (from the
// current directory, not from the context). Checked without a daemon, so
// a wrong path fails here and not only where a daemon answers.
func TestDockerBuildNamesTheKit(t *testing.T) {
	cmd := dockerBuild("docker")
	args := cmd.Args[1:]
	if len(args) == 0 || args[0] != "build" {
		t.Fatalf("dockerBuild runs %q, not docker build", args)
	}
	var file string
	if i := slices.Index(args, "-f"); i >= 0 && i+1 < len(args) {
		file = args[i+1]
	}
	context := args[len(args)-1]
	if file == "" || strings.HasPrefix(context, "-") {
		t.Fatalf("dockerBuild runs %q: want -f FILE and the context last", args)
	}
	if !filepath.IsAbs(file) {
		file = filepath.Join(cmd.Dir, file)
	}
	if !filepath.IsAbs(context) {
		context = filepath.Join(cmd.Dir, context)
	}
	got, err := os.ReadFile(file)
	if err != nil || string(got) != readFile(t, "Dockerfile") {
		t.Errorf("dockerBuild reads the Dockerfile %s (from %q), not deploy/Dockerfile: %v", file, cmd.Dir, err)
	}
	if mod, err := os.ReadFile(filepath.Join(context, "go.mod")); err != nil || !bytes.HasPrefix(mod, []byte("module github.com/imcallback/imcallback\n")) {
		t.Errorf("dockerBuild's context %s (from %q) is not the repository root: %v", context, cmd.Dir, err)
	}
}

// checkEnv fails t for each IMCALLBACK_ variable of vars that is not a setting.
func checkEnv(t *testing.T, where string, vars []string) {
	t.Helper()
	if len(vars) == 0 {
		t.Errorf("%s sets no variables", where)
	}
	for _, note := range config.UnknownEnv(vars) {
		t.Errorf("%s: %s", where, note)
	}
}

// operatorValue stands for a secret the operator supplies (a token).
const operatorValue = "set-by-the-operator"

// checkLoads fails t unless the service takes vars ("NAME=value"), the
// whole environment a kit file gives it: checkEnv's names alone pass a
// value the service refuses (a malformed duration, a proxy network too
// broad, replicas without IMCALLBACK_NATS_URL) or a file-only setting
// (IMCALLBACK_APPS), each of which stops every start. It refuses too a
// default that starts but is unsafe (trustProblem).
func checkLoads(t *testing.T, where string, vars []string) {
	t.Helper()
	if err := loadProblem(vars); err != nil {
		t.Errorf("%s: %v", where, err)
	}
}

// loadProblem is why the configuration does not load from vars, or is
// unsafe as a kit's default (trustProblem), nil when it is neither.
func loadProblem(vars []string) error {
	c, err := config.Load(config.Source{Environ: func() []string { return vars }})
	if err != nil {
		return fmt.Errorf("the service refuses these settings: %w", err)
	}
	return trustProblem(c.TrustedProxies)
}

// privateNetworks are the networks pods, containers and hosts take their
// addresses from: RFC 1918's, the shared address space of RFC 6598 (some
// pod networks), link-local, and IPv6's unique local and link-local.
var privateNetworks = []netip.Prefix{
	netip.MustParsePrefix("10.0.0.0/8"),
	netip.MustParsePrefix("172.16.0.0/12"),
	netip.MustParsePrefix("192.168.0.0/16"),
	netip.MustParsePrefix("100.64.0.0/10"),
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("fc00::/7"),
	netip.MustParsePrefix("fe80::/10"),
}

// trustProblem refuses trusted proxies a kit file sets by default that
// hold a whole private network, or an IPv4 /8: every pod or container
// there (a cluster's whole pod network) could write an allowed address
// into its own X-Forwarded-For and pass the allowlist. Which proxy is in
// front is the operator's to name; a kit trusts none until then.
func trustProblem(proxies []string) error {
	nets, err := config.ParseTrustedProxies(proxies)
	if err != nil {
		return err
	}
	for i, n := range nets {
		for _, p := range privateNetworks {
			if n.Bits() <= p.Bits() && n.Contains(p.Addr()) {
				return fmt.Errorf("IMCALLBACK_TRUSTED_PROXIES trusts %s by default, which holds the whole private network %s (a pod or container network): any client there could forge its source and pass the allowlist; leave it out and say in a comment what to set", proxies[i], p)
			}
		}
		if n.Addr().Is4() && n.Bits() <= 8 {
			return fmt.Errorf("IMCALLBACK_TRUSTED_PROXIES trusts %s by default, a whole /8: any client there could forge its source and pass the allowlist; leave it out and say in a comment what to set", proxies[i])
		}
	}
	return nil
}

// TestCheckLoadsFindsMistakes: checkLoads refuses what checkEnv passes but
// the service does not start with, or should not by default (a proxy
// network that holds a pod network), and passes a proxy the operator named.
func TestCheckLoadsFindsMistakes(t *testing.T) {
	base := []string{"IMCALLBACK_SDKAPPID=1400000000", "IMCALLBACK_ADMIN_LISTEN=:9090", "IMCALLBACK_ADMIN_TOKEN=" + operatorValue}
	if err := loadProblem(base); err != nil {
		t.Fatalf("base settings: %v", err)
	}
	for _, bad := range []string{
		"IMCALLBACK_APPS=1400000001",           // file-only: in the environment, IMCALLBACK_APP_<id>_<KEY>
		"IMCALLBACK_SHUTDOWN_TIMEOUT=10",       // no unit
		"IMCALLBACK_TRUSTED_PROXIES=0.0.0.0/0", // every client could forge its address
		"IMCALLBACK_STREAM_REPLICAS=3",         // above 1 needs IMCALLBACK_NATS_URL
		// Every pod of a cluster's network could forge its address: the
		// kit trusts no proxy until the operator names one.
		"IMCALLBACK_TRUSTED_PROXIES=10.0.0.0/8",
		"IMCALLBACK_TRUSTED_PROXIES=11.0.0.0/8",
		"IMCALLBACK_TRUSTED_PROXIES=172.16.0.0/12",
		"IMCALLBACK_TRUSTED_PROXIES=192.168.0.0/16",
		"IMCALLBACK_TRUSTED_PROXIES=100.64.0.0/10",
		"IMCALLBACK_TRUSTED_PROXIES=fd00::/7",
		"IMCALLBACK_TRUSTED_PROXIES=192.0.2.7,172.16.0.0/12",
	} {
		vars := append(slices.Clone(base), bad)
		if notes := config.UnknownEnv(vars); len(notes) > 0 {
			t.Errorf("%s: checkEnv already refuses it (%v); the case shows nothing", bad, notes)
		}
		if loadProblem(vars) == nil {
			t.Errorf("%s passed checkLoads", bad)
		}
	}
	for _, good := range []string{
		"IMCALLBACK_TRUSTED_PROXIES=10.20.30.40",
		"IMCALLBACK_TRUSTED_PROXIES=10.20.30.0/24,192.168.7.1",
		"IMCALLBACK_TRUSTED_PROXIES=fd12:3456::/64",
	} {
		if err := loadProblem(append(slices.Clone(base), good)); err != nil {
			t.Errorf("%s: checkLoads refuses it: %v", good, err)
		}
	}
}

// composeVar is a variable compose substitutes: ${NAME}, ${NAME:-default}
// or ${NAME:?message}.
var composeVar = regexp.MustCompile(`\$\{[A-Za-z_][A-Za-z0-9_]*(?::?([-?])([^}]*))?\}`)

// composeValue is a compose value as the container gets it: a default
// where the file gives one, else what the operator supplies.
func composeValue(v string) string {
	return composeVar.ReplaceAllStringFunc(v, func(m string) string {
		if p := composeVar.FindStringSubmatch(m); p[1] == "-" {
			return p[2]
		}
		return operatorValue
	})
}

// envList is env as "NAME=value" lines.
func envList(env map[string]string) []string {
	var out []string
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	slices.Sort(out)
	return out
}

// checkGrace fails t unless grace outlasts the whole stop of a service with
// vars ("NAME=value"): the shutdown delay, four draining steps of at most
// the shutdown timeout each (workers, each listener, NATS), and the 15 s fx
// leaves for the stores after them.
func checkGrace(t *testing.T, where string, grace time.Duration, vars []string) {
	t.Helper()
	cfg, err := config.Load(config.Source{Dev: true, Environ: func() []string {
		var kept []string // the settings alone: secrets come from elsewhere
		for _, kv := range vars {
			if name, _, _ := strings.Cut(kv, "="); name == "IMCALLBACK_SHUTDOWN_TIMEOUT" || name == "IMCALLBACK_SHUTDOWN_DELAY" {
				kept = append(kept, kv)
			}
		}
		return kept
	}})
	if err != nil {
		t.Fatal(err)
	}
	if need := cfg.ShutdownDelay + 4*cfg.ShutdownTimeout + 15*time.Second; grace < need {
		t.Errorf("%s is %v; the stop can take %v (delay %v + 4 × timeout %v + 15 s)", where, grace, need, cfg.ShutdownDelay, cfg.ShutdownTimeout)
	}
}

// checkArgs fails t unless args are a command line the binary takes: run
// with --help, which parses them and starts nothing.
func checkArgs(t *testing.T, where string, args []string) {
	t.Helper()
	var out bytes.Buffer
	if err := cli.Run(append(slices.Clone(args), "--help"), &out, &out); err != nil || !strings.Contains(out.String(), "Usage:") {
		t.Errorf("%s runs `imcallback %s`, which the binary refuses: %v\n%s", where, strings.Join(args, " "), err, out.String())
		return
	}
	// --help succeeds for a word after a command without subcommands too
	// (taken for its argument, it shows that command's help): the help
	// shown must be the named command's.
	var path []string
	for _, a := range args {
		if strings.HasPrefix(a, "-") {
			break
		}
		path = append(path, a)
	}
	// cli.Run goes by the running binary's name: this test's.
	self := strings.TrimSuffix(filepath.Base(os.Args[0]), ".exe")
	if usage := self + " " + strings.Join(path, " ") + " [flags]"; len(path) > 0 && !strings.Contains(out.String(), usage) {
		t.Errorf("%s runs `imcallback %s`, which names no command of the binary (its help lacks %q)", where, strings.Join(args, " "), usage)
	}
}

// TestDockerEnvIsTheImagesENV: dockerEnv reads the ENV instruction and
// nothing after it: each entry is a variable the image sets, NAME=value.
// The comment under ENV (naming IMCALLBACK_ADMIN_TOKEN, which the image
// does not set) is no setting: read as one, every check of the image's
// environment ran with an empty admin token and words such as "The".
func TestDockerEnvIsTheImagesENV(t *testing.T) {
	name := regexp.MustCompile(`^[A-Z_][A-Z0-9_]*$`)
	env := dockerEnv(t)
	for k, v := range env {
		if !name.MatchString(k) || v == "" {
			t.Errorf("dockerEnv holds %q=%q, which the Dockerfile's ENV does not set", k, v)
		}
	}
	if _, ok := env["IMCALLBACK_ADMIN_TOKEN"]; ok {
		t.Errorf("dockerEnv holds IMCALLBACK_ADMIN_TOKEN, which the image must not set (the operator supplies it)")
	}
	if env["IMCALLBACK_DATA_DIR"] != "/data" || env["IMCALLBACK_ADMIN_LISTEN"] == "" {
		t.Errorf("dockerEnv %v lacks the image's data directory or admin listener", env)
	}
}

// dockerEnv is the Dockerfile's ENV settings: the instruction's lines, as
// Docker reads them, up to the first that does not end in a backslash.
func dockerEnv(t *testing.T) map[string]string {
	t.Helper()
	df := readFile(t, "Dockerfile")
	block := regexp.MustCompile(`(?m)^ENV (?:.*\\\n)*.*$`).FindString(df)
	if block == "" {
		t.Fatal("the Dockerfile has no ENV")
	}
	env := map[string]string{}
	for _, kv := range strings.Fields(strings.ReplaceAll(strings.TrimPrefix(block, "ENV "), "\\", " ")) {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			t.Fatalf("the Dockerfile's ENV holds %q, not NAME=value", kv)
		}
		env[k] = v
	}
	return env
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	if err := yaml.Unmarshal([]byte(readFile(t, path)), v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// TestNATSConfHoldsTheLargestCallback: the compose cluster's max_payload
// holds a body at the default limit with the event's headers; NATS's own
// default (1 MiB) would answer such a callback 413.
func TestNATSConfHoldsTheLargestCallback(t *testing.T) {
	data, err := os.ReadFile("nats/nats.conf")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^max_payload:\s*(\d+)\s*(MB|KB)?\s*$`).FindSubmatch(data)
	if m == nil {
		t.Fatal("nats/nats.conf sets no max_payload")
	}
	var n int64
	fmt.Sscan(string(m[1]), &n)
	switch string(m[2]) { // NATS reads MB and KB as powers of 1024
	case "MB":
		n <<= 20
	case "KB":
		n <<= 10
	}
	if want := config.Default().BodyLimit + 64<<10; n < want {
		t.Errorf("max_payload %d bytes, want at least %d (IMCALLBACK_BODY_LIMIT's default + 64 KiB)", n, want)
	}
}

// TestScrapesCarryNoAdminToken: /metrics answers without the admin token
// (the probes and the scrape are open), so no scrape configuration of the
// kit is handed the token: it opens the event log (callback payloads),
// replay and the delivery pause, none of which Prometheus needs. The
// ServiceMonitor scrapes without one; compose's Prometheus must too, and
// its container must not get IMCALLBACK_ADMIN_TOKEN.
func TestScrapesCarryNoAdminToken(t *testing.T) {
	s := imtest.Start(t, []string{"IMCALLBACK_ADMIN_TOKEN=" + strings.Repeat("t", config.MinAdminToken)})
	resp, err := http.Get(s.AdminURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics without the admin token: %s; the kit's scrapes (the ServiceMonitor's too) would need it", resp.Status)
	}
	var prom struct {
		ScrapeConfigs []map[string]any `yaml:"scrape_configs"`
	}
	readYAML(t, "prometheus/prometheus.yml", &prom)
	if len(prom.ScrapeConfigs) == 0 {
		t.Fatal("prometheus/prometheus.yml has no scrape_configs")
	}
	for _, sc := range prom.ScrapeConfigs {
		for _, key := range []string{"authorization", "bearer_token", "bearer_token_file", "basic_auth", "oauth2"} {
			if _, ok := sc[key]; ok {
				t.Errorf("prometheus/prometheus.yml: job %v sends credentials (%s) to an open /metrics", sc["job_name"], key)
			}
		}
	}
	var compose struct {
		Services map[string]struct {
			Environment map[string]string
			Entrypoint  any
		}
	}
	readYAML(t, "compose.yaml", &compose)
	prometheus, ok := compose.Services["prometheus"]
	if !ok {
		t.Fatal("compose.yaml has no service prometheus")
	}
	if _, ok := prometheus.Environment["IMCALLBACK_ADMIN_TOKEN"]; ok || strings.Contains(fmt.Sprint(prometheus.Entrypoint), "ADMIN_TOKEN") {
		t.Errorf("compose.yaml hands IMCALLBACK_ADMIN_TOKEN to the prometheus service, which scrapes an open /metrics")
	}
	for _, bad := range []string{"bearerTokenSecret", "authorization:", "basicAuth"} {
		if strings.Contains(readFile(t, "kubernetes/servicemonitor.yaml"), bad) {
			t.Errorf("kubernetes/servicemonitor.yaml sends credentials (%s) to an open /metrics", bad)
		}
	}
}

// TestDockerRunGetsAStopTimeoutThatOutlastsTheStop: an image cannot set
// its own stop timeout, and Docker's default, 10 s, kills a container
// mid-drain; the deploy guide and the Dockerfile say which to give
// `docker run`, long enough for the stop under the image's settings.
func TestDockerRunGetsAStopTimeoutThatOutlastsTheStop(t *testing.T) {
	flag := regexp.MustCompile(`docker run --stop-timeout (\d+)`)
	for _, path := range []string{"../docs/deploy.md", "Dockerfile"} {
		m := flag.FindStringSubmatch(readFile(t, path))
		if m == nil {
			t.Errorf("%s does not say which `docker run --stop-timeout` to give", path)
			continue
		}
		sec, _ := strconv.Atoi(m[1])
		checkGrace(t, path+"'s docker run --stop-timeout", time.Duration(sec)*time.Second, envList(dockerEnv(t)))
	}
}

// imageProblem says what makes an image reference a moving one: no tag
// (which is latest) or the tag latest. A digest, or any other tag, names
// one build; "" when ref does.
func imageProblem(ref string) string {
	if strings.Contains(ref, "@sha256:") {
		return ""
	}
	name := ref[strings.LastIndex(ref, "/")+1:]
	i := strings.LastIndex(name, ":")
	switch {
	case i < 0:
		return "has no tag, so it runs whatever latest is at each pull"
	case name[i+1:] == "latest":
		return "runs whatever latest is at each pull"
	}
	return ""
}

func TestImageProblemFindsMovingImages(t *testing.T) {
	for _, c := range []struct {
		ref    string
		moving bool
	}{
		{"imcallback:1.2.3", false},
		{"registry.example.com:5000/imcallback:1.2.3", false},
		{"registry.example.com/imcallback@sha256:" + strings.Repeat("a", 64), false},
		{"nats:2.10-alpine", false},
		{"imcallback", true},
		{"imcallback:latest", true},
		{"registry.example.com:5000/imcallback", true},
		{"ghcr.io/imcallback/imcallback:latest", true},
	} {
		if got := imageProblem(c.ref) != ""; got != c.moving {
			t.Errorf("imageProblem(%q) = %q, want moving %v", c.ref, imageProblem(c.ref), c.moving)
		}
	}
}

// TestImagesArePinned: every image the kit runs names one build. With a
// moving tag (latest, or none) the replicas of one Deployment may run
// different builds (each node pulls when it starts a pod), and a rollback
// pulls the new build again. The Deployment's image is the one
// kustomization.yaml's images entry names, if it has one (kustomize edit
// set image adds it); compose's replicas run the image it builds from the
// checkout.
func TestImagesArePinned(t *testing.T) {
	var dep struct {
		Spec struct {
			Template struct {
				Spec struct {
					Containers, InitContainers []struct{ Name, Image string }
				}
			}
		}
	}
	readYAML(t, "kubernetes/deployment.yaml", &dep)
	var kust struct {
		Images []struct{ Name, NewName, NewTag, Digest string }
	}
	readYAML(t, "kubernetes/kustomization.yaml", &kust)
	pod := dep.Spec.Template.Spec
	for _, c := range append(pod.Containers, pod.InitContainers...) {
		// kustomize matches the image's name without its tag or digest.
		name, _, _ := strings.Cut(c.Image, "@")
		if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
			name = name[:i]
		}
		ref := c.Image
		for _, img := range kust.Images {
			if img.Name != name {
				continue
			}
			suffix := strings.TrimPrefix(c.Image, name)
			if img.NewName != "" {
				name = img.NewName
			}
			switch {
			case img.Digest != "":
				ref = name + "@" + img.Digest
			case img.NewTag != "":
				ref = name + ":" + img.NewTag
			default:
				ref = name + suffix
			}
			break
		}
		if p := imageProblem(ref); p != "" {
			t.Errorf("deployment.yaml: container %s runs %s (with kustomization.yaml's images), which %s", c.Name, ref, p)
		}
	}
	var compose struct {
		Services map[string]struct {
			Image string
			Build any
		}
	}
	readYAML(t, "compose.yaml", &compose)
	for name, svc := range compose.Services {
		if svc.Build != nil {
			continue // built from the checkout by up --build
		}
		if p := imageProblem(svc.Image); p != "" {
			t.Errorf("compose.yaml: %s runs %s, which %s", name, svc.Image, p)
		}
	}
}

// openNATS is what compose.yaml's opening comment and docs/deploy.md say
// while the compose cluster's NATS has no authentication.
const openNATS = "NATS without authentication"

// TestComposeSaysItIsNoProductionTemplate: the compose cluster's NATS runs
// without authentication (whoever reaches it reads the stored callbacks
// and adds events the handlers run, unsigned) and PostgreSQL with the
// password written in compose.yaml. That is a local setup, and both the
// file and docs/deploy.md must say so, or an operator takes the
// "production-shaped" setup for a template; and compose publishes no port
// of either on the host, the one thing that keeps them to compose's own
// network.
func TestComposeSaysItIsNoProductionTemplate(t *testing.T) {
	conf := readFile(t, "nats/nats.conf")
	open := !regexp.MustCompile(`(?m)^\s*(authorization|accounts|operator)\b`).MatchString(conf)
	var header strings.Builder
	for _, line := range strings.Split(readFile(t, "compose.yaml"), "\n") {
		if !strings.HasPrefix(line, "#") {
			break
		}
		header.WriteString(strings.TrimSpace(strings.TrimPrefix(line, "#")) + " ")
	}
	docs := strings.Join(strings.Fields(readFile(t, "../docs/deploy.md")), " ")
	if open {
		for where, text := range map[string]string{"compose.yaml's opening comment": header.String(), "docs/deploy.md": docs} {
			if !strings.Contains(text, openNATS) || !strings.Contains(text, "not a production template") {
				t.Errorf("%s does not say the compose setup runs %s and is not a production template", where, openNATS)
			}
		}
	}
	var compose struct {
		Services map[string]struct {
			Image string
			Ports []any
		}
	}
	readYAML(t, "compose.yaml", &compose)
	for name, svc := range compose.Services {
		if strings.HasPrefix(svc.Image, "nats:") || strings.HasPrefix(svc.Image, "postgres:") {
			if len(svc.Ports) > 0 {
				t.Errorf("compose.yaml: %s publishes %v on the host", name, svc.Ports)
			}
		}
	}
}

// TestComposeStartsTheReplicasOnceTheDatabaseAnswers: a replica with
// IMCALLBACK_STORE_DSN refuses to start while PostgreSQL does not answer
// (the topic store opens and migrates in the start, and exits 1 on
// "connection refused"), and compose's plain depends_on waits for the
// postgres container to be started, not for the database: on the first
// `up`, while the image's entrypoint runs initdb, every replica's start
// failed and was restarted. The replicas wait for the postgres service to
// be healthy, and its health check asks over TCP (pg_isready -h): the
// entrypoint's temporary server of the first start listens on the Unix
// socket alone, where a check without -h finds it ready too early.
func TestComposeStartsTheReplicasOnceTheDatabaseAnswers(t *testing.T) {
	var compose struct {
		Services map[string]struct {
			Image       string
			Environment map[string]string
			DependsOn   any `yaml:"depends_on"`
			Healthcheck struct {
				Test any
			}
		}
	}
	readYAML(t, "compose.yaml", &compose)
	pg, ok := compose.Services["postgres"]
	if !ok {
		t.Fatal("compose.yaml has no service postgres")
	}
	replicas := 0
	for name, svc := range compose.Services {
		if svc.Image != "imcallback:local" || !strings.Contains(svc.Environment["IMCALLBACK_STORE_DSN"], "@postgres:") {
			continue
		}
		replicas++
		condition := ""
		if deps, ok := svc.DependsOn.(map[string]any); ok {
			if dep, ok := deps["postgres"].(map[string]any); ok {
				condition = fmt.Sprint(dep["condition"])
			}
		}
		if condition != "service_healthy" {
			t.Errorf("compose.yaml: %s depends on postgres as %v, not with condition: service_healthy: its start fails while the database does not answer yet", name, svc.DependsOn)
		}
	}
	if replicas == 0 {
		t.Fatal("compose.yaml runs no replica whose IMCALLBACK_STORE_DSN names the postgres service")
	}
	var check []string
	switch test := pg.Healthcheck.Test.(type) {
	case string:
		check = strings.Fields(test)
	case []any:
		for _, a := range test {
			check = append(check, strings.Fields(fmt.Sprint(a))...)
		}
	}
	if !slices.Contains(check, "pg_isready") || !slices.Contains(check, "-h") {
		t.Errorf("compose.yaml: the postgres service's health check is %q; want pg_isready -h <host> (over TCP, as the replicas connect)", check)
	}
}

// TestUnitSaysToKeepTheEnvironmentFilePrivate: the unit's EnvironmentFile
// holds IMCALLBACK_TOKENS and IMCALLBACK_ADMIN_TOKEN, and a file created
// under the usual umask (022) is readable by every local user. systemd
// reads it as root before it runs the dynamic user, so it can be root's
// alone: the unit's opening comment says so, with the command.
func TestUnitSaysToKeepTheEnvironmentFilePrivate(t *testing.T) {
	unit := readFile(t, "systemd/imcallback.service")
	file := regexp.MustCompile(`(?m)^EnvironmentFile=-?(\S+)$`).FindStringSubmatch(unit)
	if file == nil {
		t.Skip("the unit reads no EnvironmentFile")
	}
	var header strings.Builder
	for _, line := range strings.Split(unit, "\n") {
		if !strings.HasPrefix(line, "#") {
			break
		}
		header.WriteString(strings.TrimSpace(strings.TrimPrefix(line, "#")) + " ")
	}
	if want := "chmod 600 " + file[1]; !strings.Contains(header.String(), want) {
		t.Errorf("the unit's opening comment does not say %q: the file holds the tokens", want)
	}
}

// TestUnitsOfflineToolCommandReadsTheServicesSettings: the unit's comment
// shows how to run the --offline tools as its dynamic user. Those tools
// read the settings the service reads (the stream and its subject prefix,
// the body limit that sizes their embedded server's max payload,
// IMCALLBACK_NATS_LISTEN to reach the running service): without the
// unit's EnvironmentFile the command looked at the defaults, not at the
// service's streams as its settings have them.
func TestUnitsOfflineToolCommandReadsTheServicesSettings(t *testing.T) {
	unit := readFile(t, "systemd/imcallback.service")
	var header strings.Builder
	for _, line := range strings.Split(unit, "\n") {
		if !strings.HasPrefix(line, "#") {
			break
		}
		header.WriteString(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(strings.TrimPrefix(line, "#")), `\`)) + " ")
	}
	run := regexp.MustCompile(`systemd-run [^\n]*?--offline`).FindString(header.String())
	if run == "" {
		t.Fatal("the unit's opening comment shows no systemd-run of an --offline tool")
	}
	args := strings.Fields(run)
	if file := regexp.MustCompile(`(?m)^EnvironmentFile=(-?\S+)$`).FindStringSubmatch(unit); file != nil {
		if want := "EnvironmentFile=" + file[1]; !slices.Contains(args, want) {
			t.Errorf("the comment's tool command %q does not read the service's settings: want -p %s", run, want)
		}
	}
	for _, m := range regexp.MustCompile(`(?m)^Environment=(IMCALLBACK_DATA_DIR=\S+)$`).FindAllStringSubmatch(unit, -1) {
		if !slices.Contains(args, m[1]) {
			t.Errorf("the comment's tool command %q does not set %s, as the unit does", run, m[1])
		}
	}
}

// upJob finds the job matchers of the rules' up selectors: up{job=~"re"}
// or up{job="name"}, the operator and the value.
var upJob = regexp.MustCompile(`\bup\{[^}]*\bjob\s*(=~|=)\s*"((?:[^"\\]|\\.)*)"`)

// TestScrapeJobsMatchTheAlertRules: ImcallbackNotReady and ImcallbackAbsent
// read the scrape's own up series by job name. A scrape job of another
// name leaves them nothing to read: a replica that cannot be scraped pages
// nobody, and ImcallbackAbsent pages from the start, for ever. Every job
// of the kit matches (compose's Prometheus, and the ServiceMonitor's,
// which the Operator names after the Service it selects), and
// docs/deploy.md, which tells an operator without the Operator to scrape
// the pods with a job of their own, says what the job must be called.
func TestScrapeJobsMatchTheAlertRules(t *testing.T) {
	var rules struct {
		Groups []struct {
			Rules []struct{ Alert, Expr string }
		}
	}
	readYAML(t, "prometheus/alerts.yml", &rules)
	type matcher struct {
		text string // as the rule writes it: job=~"imcallback.*"
		re   *regexp.Regexp
	}
	var jobs []matcher
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			for _, m := range upJob.FindAllStringSubmatch(r.Expr, -1) {
				pattern := regexp.QuoteMeta(m[2])
				if m[1] == "=~" {
					pattern = m[2]
				}
				re, err := regexp.Compile(`^(?:` + pattern + `)$`) // Prometheus anchors a label's regex
				if err != nil {
					t.Fatalf("alert %s: job matcher %q: %v", r.Alert, m[2], err)
				}
				text := fmt.Sprintf(`job%s"%s"`, m[1], m[2])
				if !slices.ContainsFunc(jobs, func(j matcher) bool { return j.text == text }) {
					jobs = append(jobs, matcher{text, re})
				}
			}
		}
	}
	if len(jobs) == 0 {
		t.Fatal("no rule of prometheus/alerts.yml reads up{job…}: the check read nothing")
	}
	var names []string // the job names the kit's scrapes give their series
	var prom struct {
		ScrapeConfigs []struct {
			JobName string `yaml:"job_name"`
		} `yaml:"scrape_configs"`
	}
	readYAML(t, "prometheus/prometheus.yml", &prom)
	for _, sc := range prom.ScrapeConfigs {
		names = append(names, "prometheus/prometheus.yml's job "+sc.JobName+"\x00"+sc.JobName)
	}
	// The Operator names a ServiceMonitor's job after the Service it
	// scrapes, or after that Service's label spec.jobLabel names.
	type object struct {
		Kind     string
		Metadata struct {
			Name   string
			Labels map[string]string
		}
		Spec struct {
			JobLabel string `yaml:"jobLabel"`
			Selector struct {
				MatchLabels map[string]string `yaml:"matchLabels"`
			}
		}
	}
	var services, monitors []object
	files, err := filepath.Glob("kubernetes/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		dec := yaml.NewDecoder(strings.NewReader(readFile(t, f)))
		for {
			var o object
			if err := dec.Decode(&o); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			switch o.Kind {
			case "Service":
				services = append(services, o)
			case "ServiceMonitor":
				monitors = append(monitors, o)
			}
		}
	}
	for _, m := range monitors {
		selected := 0
		for _, s := range services {
			matches := len(m.Spec.Selector.MatchLabels) > 0
			for k, v := range m.Spec.Selector.MatchLabels {
				matches = matches && s.Metadata.Labels[k] == v
			}
			if !matches {
				continue
			}
			selected++
			job := s.Metadata.Name
			if v := s.Metadata.Labels[m.Spec.JobLabel]; m.Spec.JobLabel != "" && v != "" {
				job = v
			}
			names = append(names, "the ServiceMonitor "+m.Metadata.Name+"'s job (the Service "+s.Metadata.Name+")\x00"+job)
		}
		if selected == 0 {
			t.Errorf("the ServiceMonitor %s selects no Service of the manifests", m.Metadata.Name)
		}
	}
	if len(names) < 2 {
		t.Fatalf("found the job names %q: want compose's Prometheus's and the ServiceMonitor's", names)
	}
	for _, n := range names {
		where, job, _ := strings.Cut(n, "\x00")
		for _, m := range jobs {
			if !m.re.MatchString(job) {
				t.Errorf("%s is %q, which the alert rules' up{%s} does not select: ImcallbackNotReady and ImcallbackAbsent read nothing of it", where, job, m.text)
			}
		}
	}
	docs := readFile(t, "../docs/deploy.md")
	for _, m := range jobs {
		if !strings.Contains(docs, m.text) {
			t.Errorf("docs/deploy.md does not say that the rules read up{%s}: an operator scraping under a job of their own (without the Operator, or on the systemd unit's host) gets ImcallbackAbsent for ever", m.text)
		}
	}
}
