package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/sethvargo/go-envconfig"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/soc-tools/xdr-kafka-connector/internal/testkit"
	"github.com/soc-tools/xdr-kafka-connector/pkg/config"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr/xdrtest"
)

// connRun is the connector running in-process against a testkit Env.
type connRun struct {
	base   string // http://addr of /metrics, /healthz, /readyz
	out    *testkit.LogBuffer
	cancel context.CancelFunc
	done   chan error
	exited bool
}

// startConnector runs the connector as "connector run" would, with the
// tenant and cluster of e, HTTP_ADDR on a free loopback port, fast polls and
// a compressed rate window, plus extra variables.
func startConnector(t *testing.T, e *testkit.Env, extra map[string]string, deps runDeps) *connRun {
	t.Helper()
	env := map[string]string{
		"XDR_BASE_URL": e.BaseURL, "XDR_API_KEY_ID": e.KeyID, "XDR_API_KEY": e.Key,
		"KAFKA_BROKERS": strings.Join(e.Brokers, ","), "KAFKA_PARTITIONS": "3", "KAFKA_REPLICATION_FACTOR": "1",
		"CONNECTOR_NAME": "test", "XDR_TENANT": "sim", "HTTP_ADDR": "127.0.0.1:0",
		"POLL_INTERVAL": "100ms", "LOOKBACK": "1s", "START_FROM": "48h", "XDR_REQUEST_TIMEOUT": "5s",
		"ENRICH_RATE_WINDOW": "100ms", "ENRICH_BULK_RATE_WINDOW": "100ms", "ENRICH_WORKERS": "4", "COMMIT_INTERVAL": "100ms",
		"LOG_LEVEL": "warn", "LOG_FORMAT": "json",
	}
	for k, v := range extra {
		env[k] = v
	}
	cfg, err := config.Load(context.Background(), envconfig.MapLookuper(env))
	if err != nil {
		t.Fatal(err)
	}
	if deps.Getenv == nil {
		deps.Getenv = func(string) (string, bool) { return "", false }
	}
	addr := make(chan string, 1)
	deps.Listening = func(a string) { addr <- a }
	ctx, cancel := context.WithCancel(context.Background())
	r := &connRun{out: &testkit.LogBuffer{}, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- run(ctx, cfg, r.out, r.out, deps) }()
	t.Cleanup(func() {
		if !r.exited {
			cancel()
			<-r.done
		}
	})
	select {
	case a := <-addr:
		r.base = "http://" + a
	case err := <-r.done:
		r.exited = true
		t.Fatalf("connector stopped before serving HTTP: %v\n%s", err, r.out.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("connector did not serve HTTP; output:\n%s", r.out.String())
	}
	return r
}

// stop stops the connector gracefully and requires a clean exit.
func (r *connRun) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		r.exited = true
		if err != nil {
			t.Fatalf("run: %v\n%s", err, r.out.String())
		}
	case <-time.After(40 * time.Second):
		t.Fatalf("connector did not stop; output:\n%s", r.out.String())
	}
}

func (r *connRun) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := http.Get(r.base + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	return resp.StatusCode, string(b)
}

func (r *connRun) scrape(t *testing.T) metrics {
	t.Helper()
	code, body := r.get(t, "/metrics")
	if code != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", code, body)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return metrics{fams: fams, text: body}
}

type metrics struct {
	fams map[string]*dto.MetricFamily
	text string
}

// value sums the series of name whose labels include the label pairs in kv
// (counter, gauge, or a histogram's count); ok is false when none exists.
func (m metrics) value(name string, kv ...string) (sum float64, ok bool) {
	f := m.fams[name]
next:
	for _, s := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range s.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(kv); i += 2 {
			if labels[kv[i]] != kv[i+1] {
				continue next
			}
		}
		ok = true
		switch {
		case s.Counter != nil:
			sum += s.GetCounter().GetValue()
		case s.Gauge != nil:
			sum += s.GetGauge().GetValue()
		case s.Histogram != nil:
			sum += float64(s.GetHistogram().GetSampleCount())
		}
	}
	return sum, ok
}

// TestMetricsMatchTheTenantAndReadinessFollowsKafka drains a tenant, checks
// the scraped counters against the simulator's own records and the topics,
// then takes the broker away (every metadata request dropped) and back, and
// watches /readyz follow.
func TestMetricsMatchTheTenantAndReadinessFollowsKafka(t *testing.T) {
	const incidents = 40
	e := testkit.New(t, xdrtest.Config{Seed: 11, Incidents: incidents, MaxAlerts: 10, RateWindow: 100 * time.Millisecond})
	// One get_incident_extra_data call per incident, so that the calls the
	// tenant saw are the ones the metrics count.
	r := startConnector(t, e, map[string]string{"ENRICH_BULK": "off"}, runDeps{PingEvery: time.Millisecond})

	var m metrics
	testkit.WaitFor(t, 60*time.Second, "every incident enriched", func() bool {
		m = r.scrape(t)
		enriched, _ := m.value("xdr_connector_enrich_enriched_total")
		queued, _ := m.value("xdr_connector_enrich_queue_depth")
		return enriched == incidents && queued == 0
	})
	o := e.Output()
	calls := float64(len(e.Sim.ExtraDataCalls()))
	for _, c := range []struct {
		name string
		kv   []string
		want float64
	}{
		{"xdr_connector_incident_versions_total", nil, float64(len(e.Sim.Versions()))},
		{"xdr_connector_enrich_calls_total", nil, calls},
		{"xdr_connector_api_calls_total", []string{"endpoint", "get_incident_extra_data"}, calls},
		{"xdr_connector_api_calls_total", []string{"endpoint", "get_incident_extra_data", "status", "200"}, calls},
		{"xdr_connector_enrich_rate_limited_total", nil, 0},
		{"xdr_connector_enrich_dlq_total", nil, 0},
		{"xdr_connector_records_produced_total", []string{"topic", testkit.Topics.Incidents}, float64(o.Records[testkit.Topics.Incidents])},
		{"xdr_connector_records_produced_total", []string{"topic", testkit.Topics.Alerts}, float64(o.Records[testkit.Topics.Alerts])},
		{"xdr_connector_records_produced_total", []string{"topic", testkit.Topics.Artifacts}, float64(o.Records[testkit.Topics.Artifacts])},
		{"xdr_connector_produce_duration_seconds", []string{"topic", testkit.Topics.Alerts, "outcome", "ok"}, float64(o.Records[testkit.Topics.Alerts])},
		{"xdr_connector_ready", []string{"connector", "test"}, 1},
		{"xdr_connector_tenant_running", []string{"connector", "test", "tenant", "sim"}, 1},
		{"xdr_connector_limiter_budget", []string{"tenant", "sim"}, 10},
		{"xdr_connector_api_calls_total", []string{"tenant", "sim", "endpoint", "get_incident_extra_data"}, calls},
	} {
		if got, _ := m.value(c.name, c.kv...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.kv, got, c.want)
		}
	}
	if calls < incidents {
		t.Errorf("the tenant saw %v extra-data calls for %d incidents", calls, incidents)
	}
	if n, ok := m.value("xdr_connector_api_calls_total", "status", "429"); ok || n != 0 {
		t.Errorf("%v API calls answered 429", n)
	}
	if n := e.Sim.Count429(); n != 0 {
		t.Errorf("the tenant answered 429 %d times", n)
	}
	if n, _ := m.value("xdr_connector_api_calls_total", "endpoint", "get_incidents", "status", "200"); n < 1 {
		t.Error("no get_incidents call counted")
	}
	for _, name := range []string{"xdr_connector_watermark_lag_seconds", "xdr_connector_limiter_wait_seconds_total",
		"xdr_connector_enrich_truncated_total", "xdr_connector_restricted_incidents_total", "xdr_connector_poll_last_success_timestamp_seconds", "xdr_connector_watermark_timestamp_seconds"} {
		if _, ok := m.value(name); !ok {
			t.Errorf("%s is missing", name)
		}
	}

	ready := func(want int) func() bool {
		return func() bool { code, _ := r.get(t, "/readyz"); return code == want }
	}
	testkit.WaitFor(t, 10*time.Second, "/readyz to answer 200", ready(http.StatusOK))
	var down atomic.Bool
	e.Cluster.ControlKey(int16(kmsg.Metadata), func(kmsg.Request) (kmsg.Response, error, bool) {
		e.Cluster.KeepControl()
		if down.Load() {
			return nil, errors.New("broker away"), true
		}
		return nil, nil, false
	})
	down.Store(true)
	testkit.WaitFor(t, 20*time.Second, "/readyz to answer 503 with the broker away", ready(http.StatusServiceUnavailable))
	if _, body := r.get(t, "/readyz"); !strings.Contains(body, "[-] kafka") || !strings.Contains(body, "[+] offsets ok") {
		t.Errorf("/readyz with the broker away:\n%s", body)
	}
	if n, ok := r.scrape(t).value("xdr_connector_ready"); !ok || n != 0 {
		t.Errorf("xdr_connector_ready = %v (present %v) while /readyz answers 503, want 0", n, ok)
	}
	if code, _ := r.get(t, "/healthz"); code != http.StatusOK {
		t.Errorf("/healthz = %d with the broker away, want 200 (alive)", code)
	}
	down.Store(false)
	testkit.WaitFor(t, 20*time.Second, "/readyz to answer 200 with the broker back", ready(http.StatusOK))
	if n, _ := r.scrape(t).value("xdr_connector_ready"); n != 1 {
		t.Errorf("xdr_connector_ready = %v while /readyz answers 200, want 1", n)
	}
	r.stop(t)
}

// TestMetricNamesFollowTheConventionsAndTheDocs drains a tenant with
// dead-lettered incidents, scrapes /metrics and checks every series: names
// with base-unit suffixes and no stacked _count_total or _by_total, no
// otel_scope_* labels, connector on every series and tenant on every
// per-tenant one; and docs/OBSERVABILITY.md's metric tables list exactly the
// connector's families and every Kafka client family scraped.
func TestMetricNamesFollowTheConventionsAndTheDocs(t *testing.T) {
	e := testkit.New(t, xdrtest.Config{Seed: 12, Incidents: 12, MaxAlerts: 5, RateWindow: 100 * time.Millisecond})
	e.Sim.FailIncident(e.Sim.IncidentIDs()[0], http.StatusForbidden)
	r := startConnector(t, e, nil, runDeps{})
	var m metrics
	testkit.WaitFor(t, 60*time.Second, "every incident enriched or dead-lettered", func() bool {
		m = r.scrape(t)
		enriched, _ := m.value("xdr_connector_enrich_enriched_total")
		dlq, _ := m.value("xdr_connector_enrich_dlq_total")
		return enriched == 11 && dlq == 1
	})
	r.stop(t)

	// Process-wide series: no tenant. With KAFKA_BROKERS the group is on by
	// default, and its series are the process's.
	processWide := map[string]bool{"xdr_connector_ready": true, "xdr_connector_produce_duration_seconds": true,
		"xdr_connector_group_live": true, "xdr_connector_tenants_owned": true, "xdr_connector_tenants_unowned": true, "xdr_connector_tenants_moved": true}
	for name, f := range m.fams {
		if strings.Contains(name, "_count_total") || strings.Contains(name, "_by_") || strings.HasSuffix(name, "_by_total") {
			t.Errorf("%s: a unit or count tail stacked in the name", name)
		}
		for _, s := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range s.GetLabel() {
				labels[l.GetName()] = l.GetValue()
				if strings.HasPrefix(l.GetName(), "otel_scope_") {
					t.Errorf("%s carries %s=%q", name, l.GetName(), l.GetValue())
				}
			}
			if labels["connector"] != "test" {
				t.Errorf("%s%v lacks connector=test", name, labels)
			}
			if strings.HasPrefix(name, "xdr_connector_") && !processWide[name] && labels["tenant"] != "sim" {
				t.Errorf("%s%v lacks tenant=sim", name, labels)
			}
			if processWide[name] && labels["tenant"] != "" {
				t.Errorf("%s%v is process-wide but carries tenant", name, labels)
			}
		}
	}

	documented := documentedMetrics(t)
	for name := range m.fams {
		switch {
		case strings.HasPrefix(name, "xdr_connector_"), strings.HasPrefix(name, "messaging_kafka_"):
			if !documented[name] {
				t.Errorf("%s is served but docs/OBSERVABILITY.md does not list it", name)
			}
		}
	}
	// Served only with scale-out (KAFKA_GROUP_ENABLED); internal/app's
	// TestGroupSharesTenantsAndHandsThemOver and TestMovedTenantIsReleasedAndTheStopEndsInTime read them.
	scaleOut := map[string]bool{"xdr_connector_tenants_owned": true, "xdr_connector_tenants_unowned": true, "xdr_connector_group_live": true,
		"xdr_connector_tenants_moved": true,
		// Served with write-back on; internal/app's TestWritebackLoop reads it.
		"xdr_connector_writeback_commands_total": true}
	for name := range documented {
		if _, ok := m.fams[name]; !ok && strings.HasPrefix(name, "xdr_connector_") && !scaleOut[name] {
			t.Errorf("docs/OBSERVABILITY.md lists %s, which /metrics does not serve", name)
		}
		if !strings.HasPrefix(name, "xdr_connector_") && !strings.HasPrefix(name, "messaging_kafka_") {
			t.Errorf("docs/OBSERVABILITY.md lists %s, not a metric of the connector or its Kafka client", name)
		}
	}
	for _, name := range []string{"messaging_kafka_produce_bytes_total", "messaging_kafka_write_bytes_total", "messaging_kafka_connects_total"} {
		if _, ok := m.fams[name]; !ok {
			t.Errorf("%s is missing: the Kafka client's metrics are not renamed as documented", name)
		}
	}
}

// documentedMetrics returns the metric names in the first column of the
// tables between the metrics-table markers of docs/OBSERVABILITY.md.
func documentedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "docs", "OBSERVABILITY.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "<!-- metrics-table:start -->")
	body, _, ok2 := strings.Cut(rest, "<!-- metrics-table:end -->")
	if !ok || !ok2 {
		t.Fatal("docs/OBSERVABILITY.md lacks the metrics-table markers")
	}
	names := map[string]bool{}
	for _, line := range strings.Split(body, "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		name, _, _ := strings.Cut(strings.TrimPrefix(line, "| `"), "`")
		if names[name] {
			t.Errorf("docs/OBSERVABILITY.md lists %s twice", name)
		}
		names[name] = true
	}
	if len(names) < 20 {
		t.Fatalf("found only %d metrics in the tables of docs/OBSERVABILITY.md", len(names))
	}
	return names
}

// keptSpans keeps the spans when the run shuts its tracer provider down.
type keptSpans struct{ *tracetest.InMemoryExporter }

func (keptSpans) Shutdown(context.Context) error { return nil }

// TestNoSecretInAnyOutput runs with debug logs, JSON and tracing on, through
// retries, a 429, a malformed page and a dead-lettered incident, and looks
// for the API key in the logs, every span, the metrics and every record.
func TestNoSecretInAnyOutput(t *testing.T) {
	b := make([]byte, 20)
	_, _ = rand.Read(b)
	key := "k3y" + hex.EncodeToString(b)
	const incidents = 15
	e := testkit.New(t, xdrtest.Config{Seed: 13, Incidents: incidents, MaxAlerts: 5, RateWindow: 100 * time.Millisecond, Key: key})
	e.Sim.Inject(xdrtest.EndpointExtraData, xdrtest.FaultServerError, 2)
	e.Sim.Inject(xdrtest.EndpointExtraData, xdrtest.Fault429, 1)
	e.Sim.Inject(xdrtest.EndpointIncidents, xdrtest.FaultMalformedJSON, 1)
	e.Sim.FailIncident(e.Sim.IncidentIDs()[0], http.StatusForbidden)
	exp := keptSpans{tracetest.NewInMemoryExporter()}
	r := startConnector(t, e, map[string]string{"LOG_LEVEL": "debug"}, runDeps{SpanExporter: exp})

	var m metrics
	testkit.WaitFor(t, 60*time.Second, "every incident enriched or dead-lettered", func() bool {
		m = r.scrape(t)
		enriched, _ := m.value("xdr_connector_enrich_enriched_total")
		dlq, _ := m.value("xdr_connector_enrich_dlq_total")
		return enriched+dlq == incidents && dlq == 1
	})
	r.stop(t)

	var all strings.Builder
	all.WriteString(r.out.String())
	all.WriteString(m.text)
	spans := exp.GetSpans()
	for _, s := range spans {
		fmt.Fprintf(&all, "%+v\n", s)
	}
	records := 0
	for _, topic := range append(testkit.Topics.All(), testkit.OffsetsTopic) {
		for _, rec := range e.ReadTopic(topic) {
			records++
			fmt.Fprintf(&all, "%s %v %s\n", rec.Key, rec.Headers, rec.Value)
		}
	}
	out := all.String()
	if strings.Contains(out, key) || strings.Contains(out, key[:12]) {
		i := max(strings.Index(out, key[:12])-200, 0)
		t.Fatalf("the API key leaked:\n%s", out[i:min(i+400, len(out))])
	}
	// The run went through the paths that handle errors and headers.
	if n, _ := m.value("xdr_connector_enrich_rate_limited_total"); n != 1 || len(spans) == 0 || records == 0 {
		t.Errorf("429s %v, spans %d, records %d: the run did not exercise what it should", n, len(spans), records)
	}
	for _, want := range []string{`"level":"DEBUG"`, "rate limited (429)", "giving up on enrichment", "get_incident_extra_data", "traceparent"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in the output: the run did not exercise that path", want)
		}
	}
}
