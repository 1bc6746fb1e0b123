package helm_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false,
	"rewrite deploy/prometheus/xdr-connector.rules.yaml from the chart, and the chart's copy of deploy/grafana/xdr-connector.json")

const (
	plainRulesPath     = "../deploy/prometheus/xdr-connector.rules.yaml"
	ruleTestsPath      = "../deploy/prometheus/tests.yaml"
	dashboardPath      = "../deploy/grafana/xdr-connector.json"
	chartDashboardPath = chartDir + "/files/xdr-connector.json"
	operationsPath     = "../docs/OPERATIONS.md"
	observabilityPath  = "../docs/OBSERVABILITY.md"
	// bulkFallbackMetric is the one metric the rules and the dashboard use
	// before the metrics table lists it: it appears with bulk enrichment.
	bulkFallbackMetric = "xdr_connector_enrich_bulk_fallback"
)

// plainRulesHeader opens deploy/prometheus/xdr-connector.rules.yaml.
const plainRulesHeader = `# Alert rules of xdr-kafka-connector, for a Prometheus outside the Helm chart.
# Generated from helm/xdr-kafka-connector/files/prometheus-rules.yaml with the
# chart's default values (prometheusRule.job, .runbookUrl and .thresholds); edit
# that file, then run: cd helm && go test -run TestPlainRulesFileIsTheChartsRules -update
# docs/OBSERVABILITY.md describes each alert; tests.yaml beside this file tests
# them with promtool test rules.
`

// prometheusRule is the part of monitoring.coreos.com/v1 PrometheusRule the
// chart renders; decoding into it rejects any other field.
type prometheusRule struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              ruleFile `json:"spec"`
}

// ruleFile is a Prometheus rules file (and a PrometheusRule's spec) holding
// alerting rules only.
type ruleFile struct {
	Groups []struct {
		Name  string      `json:"name"`
		Rules []alertRule `json:"rules"`
	} `json:"groups"`
}

type alertRule struct {
	Alert       string            `json:"alert"`
	Expr        string            `json:"expr"`
	For         string            `json:"for,omitempty"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
}

func (f *ruleFile) rules() []alertRule {
	var out []alertRule
	for _, g := range f.Groups {
		out = append(out, g.Rules...)
	}
	return out
}

// wantAlerts are the conditions an operator must act on.
var wantAlerts = []string{
	"XDRConnectorDown", "XDRConnectorNotReady", "XDRConnectorTenantNotRunning", "XDRConnectorTenantFailed", "XDRConnectorAPIKeyRejected",
	"XDRConnectorTenantsUnowned", "XDRConnectorPollsFailing", "XDRConnectorWatermarkLag", "XDRConnectorNotCommitting",
	"XDRConnectorEnrichBacklogGrowing", "XDRConnectorEnrichETA", "XDRConnectorRateLimited", "XDRConnectorDLQ",
	"XDRConnectorBulkFallback", "XDRConnectorProduceErrors", "XDRConnectorGroupCutOff", "XDRConnectorTenantRunTwice",
}

// renderPlainRules renders the chart's rules text alone (what the
// PrometheusRule's spec holds) with vals, through a template added to ch.
func renderPlainRules(t *testing.T, ch *chart.Chart, text string) string {
	t.Helper()
	ch.Templates = append(ch.Templates, &chart.File{Name: "templates/plain-rules.txt",
		Data: []byte(`{{ include "xdr-kafka-connector.prometheusRules" . }}`)})
	out, err := renderValues(ch, readValues(t, text))
	if err != nil {
		t.Fatal(err)
	}
	rules, ok := out[chartDir+"/templates/plain-rules.txt"]
	if !ok {
		t.Fatalf("no plain-rules.txt in %v", slices.Sorted(maps.Keys(out)))
	}
	return plainRulesHeader + strings.TrimSpace(rules) + "\n"
}

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// documentedMetrics are the names of docs/OBSERVABILITY.md's metrics tables,
// with the series a histogram adds.
func documentedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	row := regexp.MustCompile("(?m)^\\| `([a-z_:]+)` \\| (counter|gauge|histogram) \\|")
	names := map[string]bool{}
	for _, m := range row.FindAllStringSubmatch(readFile(t, observabilityPath), -1) {
		names[m[1]] = true
		if m[2] == "histogram" {
			for _, s := range []string{"_bucket", "_count", "_sum"} {
				names[m[1]+s] = true
			}
		}
	}
	if len(names) < 30 {
		t.Fatalf("only %d metrics found in %s", len(names), observabilityPath)
	}
	return names
}

var metricToken = regexp.MustCompile(`\b(?:xdr_connector|messaging_kafka)_[a-z_]+\b`)

// checkMetricNames fails on a name in expr that the connector does not export.
func checkMetricNames(t *testing.T, where, expr string, known map[string]bool) {
	t.Helper()
	for _, name := range metricToken.FindAllString(expr, -1) {
		if !known[name] && name != bulkFallbackMetric {
			t.Errorf("%s: %s is not a metric of docs/OBSERVABILITY.md: %s", where, name, expr)
		}
	}
}

// headingAnchors are the anchors GitHub gives the headings of a Markdown file.
func headingAnchors(t *testing.T, name string) map[string]bool {
	t.Helper()
	heading := regexp.MustCompile(`(?m)^#{1,6} (.+)$`)
	anchors := map[string]bool{}
	for _, m := range heading.FindAllStringSubmatch(readFile(t, name), -1) {
		var b strings.Builder
		for _, r := range strings.ToLower(m[1]) {
			switch {
			case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
				b.WriteRune(r)
			case r == ' ':
				b.WriteByte('-')
			}
		}
		anchors[b.String()] = true
	}
	return anchors
}

func TestMonitoringIsOptIn(t *testing.T) {
	r := render(t, loadChart(t), readValues(t, requiredValues))
	if r.prometheusRule != nil {
		t.Error("a PrometheusRule is rendered by default")
	}
	for _, cm := range r.configMaps {
		if cm.Labels["grafana_dashboard"] != "" {
			t.Errorf("dashboard ConfigMap %s rendered by default", cm.Name)
		}
	}
}

func TestPrometheusRule(t *testing.T) {
	const runbook = "https://wiki.example.com/xdr/OPERATIONS.md"
	r := render(t, loadChart(t), readValues(t, requiredValues+`
prometheusRule:
  enabled: true
  namespace: monitoring
  labels:
    release: kube-prometheus-stack
  job: prod-xdr-kafka-connector
  runbookUrl: `+runbook+`
  thresholds:
    watermarkLagSeconds: 7200
    enrichEtaWindow: 45m
    dlqMax: 3
`))
	pr := r.prometheusRule
	if pr == nil {
		t.Fatal("no PrometheusRule with prometheusRule.enabled")
	}
	if pr.Name != fullname || pr.Namespace != "monitoring" || pr.Labels["release"] != "kube-prometheus-stack" {
		t.Errorf("PrometheusRule %s/%s labels %v", pr.Namespace, pr.Name, pr.Labels)
	}
	anchors := headingAnchors(t, operationsPath)
	known := documentedMetrics(t)
	byName := map[string]alertRule{}
	for _, rule := range pr.Spec.rules() {
		if _, dup := byName[rule.Alert]; dup {
			t.Errorf("alert %s defined twice", rule.Alert)
		}
		byName[rule.Alert] = rule
		if s := rule.Labels["severity"]; s != "critical" && s != "warning" {
			t.Errorf("%s: severity %q", rule.Alert, s)
		}
		if rule.Annotations["summary"] == "" || rule.Annotations["description"] == "" {
			t.Errorf("%s: no summary or description", rule.Alert)
		}
		anchor, ok := strings.CutPrefix(rule.Annotations["runbook_url"], runbook+"#")
		if !ok || !anchors[anchor] {
			t.Errorf("%s: runbook_url %q is not a section of %s", rule.Alert, rule.Annotations["runbook_url"], operationsPath)
		}
		if strings.Contains(rule.Expr, "{{") || strings.Contains(rule.Expr, "<no value>") {
			t.Errorf("%s: expression not rendered: %s", rule.Alert, rule.Expr)
		}
		checkMetricNames(t, rule.Alert, rule.Expr, known)
	}
	for _, name := range wantAlerts {
		if _, ok := byName[name]; !ok {
			t.Errorf("no alert %s", name)
		}
	}
	if len(byName) != len(wantAlerts) {
		t.Errorf("%d alerts, want %d: update wantAlerts and the docs", len(byName), len(wantAlerts))
	}
	// The values reach the expressions.
	for alert, want := range map[string]string{
		"XDRConnectorWatermarkLag": "xdr_connector_watermark_lag_seconds > 7200",
		"XDRConnectorEnrichETA":    "rate(xdr_connector_enrich_enriched_total[45m])",
		"XDRConnectorDLQ":          "> 3",
		"XDRConnectorDown":         `up{job=~"prod-xdr-kafka-connector"} == 0`,
	} {
		if !strings.Contains(byName[alert].Expr, want) {
			t.Errorf("%s: expression %q lacks %q", alert, byName[alert].Expr, want)
		}
	}
}

// TestPlainRulesFileIsTheChartsRules proves deploy/prometheus's rules are the
// chart's rules with its default values: the file is the rendered text, and
// it decodes to the same rules as the PrometheusRule.
func TestPlainRulesFileIsTheChartsRules(t *testing.T) {
	want := renderPlainRules(t, loadChart(t), requiredValues)
	if *update {
		if err := os.WriteFile(plainRulesPath, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got := readFile(t, plainRulesPath)
	if got != want {
		t.Fatalf("%s differs from the chart's rules with default values; run go test -run %s -update", plainRulesPath, t.Name())
	}
	var plain ruleFile
	if err := strictDecode(got, &plain); err != nil {
		t.Fatalf("%s: %v", plainRulesPath, err)
	}
	r := render(t, loadChart(t), readValues(t, requiredValues+"prometheusRule:\n  enabled: true\n"))
	if r.prometheusRule == nil {
		t.Fatal("no PrometheusRule")
	}
	a, _ := json.Marshal(plain)
	b, _ := json.Marshal(r.prometheusRule.Spec)
	if !bytes.Equal(a, b) {
		t.Errorf("the PrometheusRule's spec differs from %s:\n%s\n%s", plainRulesPath, b, a)
	}
}

// dashboard is the part of a Grafana dashboard the tests read.
type dashboard struct {
	UID        string `json:"uid"`
	Title      string `json:"title"`
	Templating struct {
		List []struct {
			Name string `json:"name"`
		} `json:"list"`
	} `json:"templating"`
	Panels []struct {
		ID      int    `json:"id"`
		Type    string `json:"type"`
		Title   string `json:"title"`
		Desc    string `json:"description"`
		Targets []struct {
			RefID string `json:"refId"`
			Expr  string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
}

func readDashboard(t *testing.T) (string, *dashboard) {
	t.Helper()
	text := readFile(t, dashboardPath)
	var d dashboard
	if err := json.Unmarshal([]byte(text), &d); err != nil {
		t.Fatalf("%s: %v", dashboardPath, err)
	}
	return text, &d
}

func TestDashboard(t *testing.T) {
	text, d := readDashboard(t)
	if *update {
		if err := os.WriteFile(chartDashboardPath, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if readFile(t, chartDashboardPath) != text {
		t.Fatalf("%s is not a copy of %s; run go test -run %s -update", chartDashboardPath, dashboardPath, t.Name())
	}
	if d.UID == "" || d.Title == "" {
		t.Errorf("uid %q title %q", d.UID, d.Title)
	}
	vars := map[string]bool{}
	for _, v := range d.Templating.List {
		vars[v.Name] = true
	}
	for _, v := range []string{"datasource", "connector", "tenant"} {
		if !vars[v] {
			t.Errorf("no template variable %s", v)
		}
	}
	known := documentedMetrics(t)
	titles := map[string]bool{}
	exprs := 0
	for _, p := range d.Panels {
		if titles[p.Title] {
			t.Errorf("two panels titled %q", p.Title)
		}
		titles[p.Title] = true
		if p.Type == "row" {
			continue
		}
		if p.Desc == "" || len(p.Targets) == 0 {
			t.Errorf("panel %q: no description or no query", p.Title)
		}
		for _, q := range p.Targets {
			exprs++
			where := fmt.Sprintf("panel %q query %s", p.Title, q.RefID)
			if !strings.Contains(q.Expr, `connector=~"$connector"`) {
				t.Errorf("%s does not follow $connector: %s", where, q.Expr)
			}
			checkMetricNames(t, where, q.Expr, known)
		}
	}
	if exprs < 20 {
		t.Errorf("only %d queries", exprs)
	}

	r := render(t, loadChart(t), readValues(t, requiredValues+`
grafanaDashboard:
  enabled: true
  namespace: grafana
  annotations:
    grafana_folder: SOC
`))
	var found bool
	for _, cm := range r.configMaps {
		if cm.Labels["grafana_dashboard"] != "1" {
			continue
		}
		found = true
		if cm.Namespace != "grafana" || cm.Annotations["grafana_folder"] != "SOC" {
			t.Errorf("dashboard ConfigMap %s/%s annotations %v", cm.Namespace, cm.Name, cm.Annotations)
		}
		if got := cm.Data["xdr-connector.json"]; got != strings.TrimRight(text, "\n") {
			t.Errorf("the ConfigMap's dashboard differs from %s", dashboardPath)
		}
	}
	if !found {
		t.Fatal("no ConfigMap labelled grafana_dashboard: \"1\" with grafanaDashboard.enabled")
	}
}

// promtool finds the promtool binary. Without it the test is skipped, unless
// XDR_REQUIRE_PROMTOOL is set (.ci/run installs it and sets it).
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("XDR_REQUIRE_PROMTOOL") != "" {
			t.Fatal("promtool not found and XDR_REQUIRE_PROMTOOL is set")
		}
		t.Skip("promtool not installed (Debian package prometheus); .ci/run installs it")
	}
	return p
}

func runPromtool(t *testing.T, bin string, args ...string) {
	t.Helper()
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// TestPromtoolRules checks the plain rules file with promtool check rules and
// runs its unit tests, which must make every alert fire and not fire.
func TestPromtoolRules(t *testing.T) {
	bin := promtool(t)
	runPromtool(t, bin, "check", "rules", plainRulesPath)

	var tests struct {
		Tests []struct {
			Name       string `json:"name"`
			AlertTests []struct {
				Alert     string `json:"alertname"`
				ExpAlerts []any  `json:"exp_alerts"`
			} `json:"alert_rule_test"`
		} `json:"tests"`
	}
	if err := yaml.Unmarshal([]byte(readFile(t, ruleTestsPath)), &tests); err != nil {
		t.Fatal(err)
	}
	fires, quiet := map[string]bool{}, map[string]bool{}
	for _, tc := range tests.Tests {
		for _, at := range tc.AlertTests {
			if len(at.ExpAlerts) > 0 {
				fires[at.Alert] = true
			} else {
				quiet[at.Alert] = true
			}
		}
	}
	var plain ruleFile
	if err := yaml.Unmarshal([]byte(readFile(t, plainRulesPath)), &plain); err != nil {
		t.Fatal(err)
	}
	for _, r := range plain.rules() {
		if !fires[r.Alert] || !quiet[r.Alert] {
			t.Errorf("%s: a test that fires it %v, one where it stays quiet %v; want both", r.Alert, fires[r.Alert], quiet[r.Alert])
		}
	}
	runPromtool(t, bin, "test", "rules", ruleTestsPath)
}

// grafanaVars stand for the dashboard's variables in its queries, so that
// promtool can parse them.
var grafanaVars = strings.NewReplacer("$__rate_interval", "5m", "$__interval", "1m", "$__range", "1h",
	"$connector", ".*", "$tenant", ".*")

// TestPromtoolDashboardQueries wraps every query of the dashboard in a
// recording rule and has promtool check rules parse them.
func TestPromtoolDashboardQueries(t *testing.T) {
	bin := promtool(t)
	_, d := readDashboard(t)
	type record struct {
		Record string `json:"record"`
		Expr   string `json:"expr"`
	}
	var recs []record
	for _, p := range d.Panels {
		for _, q := range p.Targets {
			recs = append(recs, record{Record: fmt.Sprintf("dashboard:panel_%d_%s", p.ID, q.RefID), Expr: grafanaVars.Replace(q.Expr)})
		}
	}
	if len(recs) == 0 {
		t.Fatal("no queries")
	}
	out, err := yaml.Marshal(map[string]any{"groups": []any{map[string]any{"name": "dashboard", "rules": recs}}})
	if err != nil {
		t.Fatal(err)
	}
	name := filepath.Join(t.TempDir(), "dashboard-queries.yaml")
	if err := os.WriteFile(name, out, 0o644); err != nil {
		t.Fatal(err)
	}
	runPromtool(t, bin, "check", "rules", name)
}

// TestAlertJobMatchesTheServiceMonitor: with the default prometheusRule.job,
// XDRConnectorDown watches the job the chart's ServiceMonitor produces (the
// Service's name); Prometheus anchors the regex.
func TestAlertJobMatchesTheServiceMonitor(t *testing.T) {
	r := render(t, loadChart(t), readValuesFile(t, "ci/servicemonitor.yaml"))
	if r.serviceMonitor == nil || r.prometheusRule == nil {
		t.Fatal("ci/servicemonitor.yaml renders no ServiceMonitor or no PrometheusRule")
	}
	jobMatcher := regexp.MustCompile(`up\{job=~"([^"]+)"\}`)
	var down string
	for _, rule := range r.prometheusRule.Spec.rules() {
		if rule.Alert == "XDRConnectorDown" {
			down = rule.Expr
		}
	}
	m := jobMatcher.FindStringSubmatch(down)
	if m == nil {
		t.Fatalf("XDRConnectorDown has no job matcher: %q", down)
	}
	if job := r.service.Name; !regexp.MustCompile("^(?:" + m[1] + ")$").MatchString(job) {
		t.Errorf("job regex %q does not match the ServiceMonitor's job %q", m[1], job)
	}
	if r.prometheusRule.Labels["release"] != "kube-prometheus-stack" {
		t.Errorf("PrometheusRule labels %v", r.prometheusRule.Labels)
	}
}
