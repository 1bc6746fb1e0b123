package telemetry

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
)

// scrape parses what h serves at /metrics.
func scrape(t *testing.T, h http.Handler) map[string]*dto.MetricFamily {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(rec.Body)
	if err != nil {
		t.Fatalf("parsing /metrics: %v", err)
	}
	return fams
}

// value sums the series of family name whose labels include want: counter,
// gauge and untyped values, or a histogram's sample count.
func value(fams map[string]*dto.MetricFamily, name string, want map[string]string) (float64, bool) {
	f, ok := fams[name]
	if !ok {
		return 0, false
	}
	var sum float64
	found := false
next:
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		for k, v := range want {
			if labels[k] != v {
				continue next
			}
		}
		found = true
		switch {
		case m.Counter != nil:
			sum += m.GetCounter().GetValue()
		case m.Gauge != nil:
			sum += m.GetGauge().GetValue()
		case m.Histogram != nil:
			sum += float64(m.GetHistogram().GetSampleCount())
		case m.Untyped != nil:
			sum += m.GetUntyped().GetValue()
		}
	}
	return sum, found
}

func TestPipelineMetricsAsPrometheusSeesThem(t *testing.T) {
	reader, handler, err := NewPrometheus("c1")
	if err != nil {
		t.Fatal(err)
	}
	res := resource.NewSchemaless(attribute.String(AttrConnector, "c1"), attribute.String("service.name", "x"))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader), sdkmetric.WithResource(res), sdkmetric.WithView(MetricViews()...))
	defer func() { _ = mp.Shutdown(context.Background()) }()
	now := time.UnixMilli(1_700_000_100_000)
	snap := Snapshot{
		Started: true, Polls: 7, PollErrors: 2, LastPollSuccess: now.Add(-time.Second), Versions: 42, Restricted: 3,
		Produced: map[string]int64{"xdr.incidents": 84, "xdr.alerts": 300, "xdr.dlq": 1}, Commits: 9,
		QueueDepth: 5, InFlight: 2, EnrichCalls: 44, Retries: 3, RateLimited: 1, Enriched: 40, DLQ: 1, Truncated: 2,
		NotFound: 4, RetryWaiting: 3,
		LimiterUsed: 8, LimiterBudget: 10, LimiterWaited: 1500 * time.Millisecond, LimiterWaiting: 1,
		Watermark: now.Add(-90 * time.Second).UnixMilli(), OffsetsPending: 6,
		Anomalies: map[string]int64{AnomalyOversizedRecord: 2, AnomalyClampedMark: 1, AnomalyPoisonedIncident: 0},
	}
	reg, err := RegisterMetrics(mp.Meter("test"), func() Snapshot { return snap }, func() time.Time { return now }, attribute.String(AttrTenant, "t1"))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = reg.Unregister() }()
	ready := false
	rreg, err := RegisterReadiness(mp.Meter("test"), func(context.Context) bool { return ready })
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rreg.Unregister() }()
	hooks, err := KafkaHooks(KafkaConfig{MeterProvider: mp})
	if err != nil {
		t.Fatal(err)
	}
	lat := hooks[0].(*latencyHook)
	r := &kgo.Record{Topic: "xdr.alerts"}
	lat.OnProduceRecordBuffered(r)
	lat.OnProduceRecordUnbuffered(r, nil)

	fams := scrape(t, handler)
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"xdr_connector_polls_total", nil, 7},
		{"xdr_connector_poll_errors_total", nil, 2},
		{"xdr_connector_poll_last_success_timestamp_seconds", nil, float64(now.Add(-time.Second).Unix())},
		{"xdr_connector_incident_versions_total", nil, 42},
		{"xdr_connector_restricted_incidents_total", nil, 3},
		{"xdr_connector_records_produced_total", map[string]string{"topic": "xdr.alerts"}, 300},
		{"xdr_connector_records_produced_total", map[string]string{"topic": "xdr.dlq"}, 1},
		{"xdr_connector_offsets_commits_total", nil, 9},
		{"xdr_connector_enrich_queue_depth", nil, 5},
		{"xdr_connector_enrich_in_flight", nil, 2},
		{"xdr_connector_enrich_calls_total", nil, 44},
		{"xdr_connector_enrich_retries_total", nil, 3},
		{"xdr_connector_enrich_rate_limited_total", nil, 1},
		{"xdr_connector_enrich_enriched_total", nil, 40},
		{"xdr_connector_enrich_dlq_total", nil, 1},
		{"xdr_connector_enrich_truncated_total", nil, 2},
		{"xdr_connector_enrich_not_found_total", nil, 4},
		{"xdr_connector_enrich_retry_waiting", nil, 3},
		{"xdr_connector_limiter_used", nil, 8},
		{"xdr_connector_limiter_budget", nil, 10},
		{"xdr_connector_limiter_waiting", nil, 1},
		{"xdr_connector_limiter_wait_seconds_total", nil, 1.5},
		{"xdr_connector_watermark_lag_seconds", nil, 90},
		{"xdr_connector_watermark_timestamp_seconds", nil, float64(now.Add(-90 * time.Second).Unix())},
		{"xdr_connector_offsets_pending", nil, 6},
		{"xdr_connector_tenant_running", map[string]string{"tenant": "t1", "connector": "c1"}, 1},
		{"xdr_connector_ready", map[string]string{"connector": "c1"}, 0},
		{"xdr_connector_produce_duration_seconds", map[string]string{"topic": "xdr.alerts", "outcome": "ok"}, 1},
		{"xdr_connector_anomalies_total", map[string]string{"kind": "oversized_record"}, 2},
		{"xdr_connector_anomalies_total", map[string]string{"kind": "clamped_mark"}, 1},
		{"xdr_connector_anomalies_total", map[string]string{"kind": "poisoned_incident"}, 0},
	} {
		got, ok := value(fams, tc.name, tc.labels)
		if !ok || got != tc.want {
			t.Errorf("%s%v = %v (present %v), want %v", tc.name, tc.labels, got, ok, tc.want)
		}
	}
	if _, ok := value(fams, "go_goroutines", map[string]string{"connector": "c1"}); !ok {
		t.Error("the Go runtime collector is missing, or its series lack connector")
	}
	ready = true
	if got, _ := value(scrape(t, handler), "xdr_connector_ready", nil); got != 1 {
		t.Errorf("xdr_connector_ready = %v after the readiness turned true, want 1", got)
	}
	for name, f := range fams {
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
				if strings.HasPrefix(l.GetName(), "otel_scope_") {
					t.Errorf("%s carries %s", name, l.GetName())
				}
			}
			if labels["connector"] != "c1" {
				t.Errorf("%s%v lacks connector=c1", name, labels)
			}
			perTenant := strings.HasPrefix(name, "xdr_connector_") && name != "xdr_connector_ready" && name != "xdr_connector_produce_duration_seconds"
			if perTenant && labels["tenant"] != "t1" {
				t.Errorf("%s%v lacks tenant=t1", name, labels)
			}
		}
	}
}

// TestKafkaClientMetricsUseBaseUnits produces through a kfake broker with
// kotel's meter and checks the names its counters are scraped under.
func TestKafkaClientMetricsUseBaseUnits(t *testing.T) {
	reader, handler, err := NewPrometheus("c1")
	if err != nil {
		t.Fatal(err)
	}
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader), sdkmetric.WithView(MetricViews()...))
	defer func() { _ = mp.Shutdown(context.Background()) }()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "t"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	hooks, err := KafkaHooks(KafkaConfig{MeterProvider: mp})
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.WithHooks(hooks...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "t", Value: []byte("v")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// The client counts a produced batch in a hook that may run just after
	// the record's promise: scrape until every counter is there.
	names := []string{"messaging_kafka_connects_total", "messaging_kafka_write_bytes_total", "messaging_kafka_read_bytes_total",
		"messaging_kafka_produce_bytes_total", "messaging_kafka_produce_records_total"}
	var fams map[string]*dto.MetricFamily
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		fams = scrape(t, handler)
		missing := slices.IndexFunc(names, func(name string) bool { n, ok := value(fams, name, nil); return !ok || n <= 0 })
		if missing < 0 || time.Now().After(deadline) {
			break
		}
	}
	for _, name := range names {
		if n, ok := value(fams, name, nil); !ok || n <= 0 {
			t.Errorf("%s = %v (present %v), want > 0", name, n, ok)
		}
	}
	for name := range fams {
		if strings.HasSuffix(name, "_count_total") || strings.HasSuffix(name, "_by_total") {
			t.Errorf("%s: a unit or count tail stacked before _total", name)
		}
	}
}
