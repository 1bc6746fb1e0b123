package telemetry

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/otlptranslator"
	"go.opentelemetry.io/otel/attribute"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
)

// scopeName is the instrumentation scope of the connector's own instruments.
const scopeName = "github.com/soc-tools/xdr-kafka-connector"

// OpenTelemetry instrument names. The Prometheus exporter follows the
// OpenTelemetry-to-Prometheus compatibility specification: dots become
// underscores, the unit becomes a base-unit suffix ("s" gives _seconds, "By"
// _bytes; annotations such as "{poll}" give none) and counters end in _total:
// "xdr_connector.polls" is scraped as xdr_connector_polls_total,
// MetricProduceDuration as xdr_connector_produce_duration_seconds. A Unix
// time is a gauge named *_timestamp with unit "s", scraped as
// *_timestamp_seconds.
//
// Every series carries connector (CONNECTOR_NAME, from the resource; see
// NewPrometheus); every per-tenant one carries tenant as well.
//
// The XDR API instruments, xdr_connector.api.calls and
// xdr_connector.api.duration, are declared and recorded by the client:
// xdr.MetricCalls and xdr.MetricDuration.
const (
	MetricPolls           = "xdr_connector.polls"                       // counter: polls of get_incidents, failed or not
	MetricPollErrors      = "xdr_connector.poll.errors"                 // counter: polls that ended with an error
	MetricLastPollSuccess = "xdr_connector.poll.last_success_timestamp" // gauge, s: Unix time of the last successful poll
	MetricVersions        = "xdr_connector.incident_versions"           // counter: incident versions published
	MetricRestricted      = "xdr_connector.restricted_incidents"        // counter: restricted incident ids seen
	MetricProduced        = "xdr_connector.records_produced"            // counter{topic}: records Kafka acknowledged
	MetricProduceDuration = "xdr_connector.produce.duration"            // histogram{topic,outcome}, s
	MetricEnrichCalls     = "xdr_connector.enrich.calls"                // counter: get_incident_extra_data calls, every attempt
	MetricEnrichRetries   = "xdr_connector.enrich.retries"              // counter: calls repeated after a retryable failure other than 429
	MetricEnrichRateLimit = "xdr_connector.enrich.rate_limited"         // counter: 429 replies
	MetricEnriched        = "xdr_connector.enrich.enriched"             // counter: enrichments acknowledged by Kafka
	MetricDLQ             = "xdr_connector.enrich.dlq"                  // counter: enrichments dead-lettered (DLQ records acknowledged)
	MetricTruncated       = "xdr_connector.enrich.truncated"            // counter: replies with fewer alerts than the incident has
	MetricNotFound        = "xdr_connector.enrich.not_found"            // counter: enrichments dead-lettered at once: the incident does not exist
	MetricQueueDepth      = "xdr_connector.enrich.queue_depth"          // gauge: incidents waiting for enrichment
	MetricRetryWaiting    = "xdr_connector.enrich.retry_waiting"        // gauge: of those, the ones waiting for a retry's not-before time
	MetricInFlight        = "xdr_connector.enrich.in_flight"            // gauge: enrichments being fetched or published
	MetricLimiterUsed     = "xdr_connector.limiter.used"                // gauge: slots of the sliding window in use
	MetricLimiterBudget   = "xdr_connector.limiter.budget"              // gauge: calls allowed per window
	MetricLimiterWait     = "xdr_connector.limiter.wait"                // counter, s: time enrichment workers spent waiting for a slot
	MetricLimiterWaiting  = "xdr_connector.limiter.waiting"             // gauge: workers waiting for a slot now
	MetricWatermarkLag    = "xdr_connector.watermark.lag"               // gauge, s: now minus the committable watermark
	MetricWatermark       = "xdr_connector.watermark_timestamp"         // gauge, s: the committable watermark as Unix time
	MetricOffsetsPending  = "xdr_connector.offsets.pending"             // gauge: enrichments owed in the offsets state
	MetricCommits         = "xdr_connector.offsets.commits"             // counter: offsets commits written
	MetricTenantRunning   = "xdr_connector.tenant.running"              // gauge: 1 once the tenant's offsets are loaded and its stages run
	MetricReady           = "xdr_connector.ready"                       // gauge, per process: 1 when /readyz answers 200 (RegisterReadiness)
	MetricAnomalies       = "xdr_connector.anomalies"                   // counter{kind}: hostile replies and oversized records, each made harmless (see Anomaly kinds)
	MetricBulkFallback    = "xdr_connector.enrich.bulk_fallback"        // gauge: 1 when ENRICH_BULK=auto fell back to single calls (the tenant does not serve get_multiple_incidents_extra_data)
	MetricBulkCalls       = "xdr_connector.enrich.bulk_calls"           // counter: get_multiple_incidents_extra_data calls
	MetricBulkToSingle    = "xdr_connector.enrich.bulk_to_single"       // counter: incidents fetched alone because bulk could not deliver them whole
	MetricBulkBudgetUsed  = "xdr_connector.limiter.bulk_used"           // gauge: slots of the bulk endpoint's window in use
)

// Anomaly kinds, the values of the kind attribute of MetricAnomalies. Each
// has one log line; docs/OPERATIONS.md says what it means and what to do.
const (
	AnomalyOversizedRecord  = "oversized_record"  // a record above KAFKA_MAX_RECORD_BYTES went to the DLQ with an excerpt
	AnomalyRejectedRecord   = "rejected_record"   // Kafka refused a record; its enrichment went to the DLQ
	AnomalyFutureIncident   = "future_incident"   // an incident stamped beyond the clock's tolerance was seen
	AnomalyClampedMark      = "clamped_mark"      // a poll's mark was held at the clock because of one
	AnomalyMismatchedReply  = "mismatched_reply"  // extra data answered for another incident (retried)
	AnomalyMalformedReply   = "malformed_reply"   // extra data without the documented shape, e.g. no incident object (retried)
	AnomalyUntrustedCount   = "untrusted_count"   // a total_count was missing or contradicted the rows
	AnomalyDroppedIncident  = "dropped_incident"  // an incident without incident_id or modification_time was skipped
	AnomalyPoisonedIncident = "poisoned_incident" // an incident the client could not decode was skipped
	AnomalyKeyCollision     = "key_collision"     // an object shared its key with an earlier, different one of its reply and took a suffixed key
	AnomalyUnaskedItem      = "unasked_item"      // a bulk extra-data reply held an incident not asked for (never published)
	AnomalyEchoedKey        = "echoed_key"        // a reply echoed the API key into data; it was replaced by [REDACTED] before publishing
)

// Metric attribute keys.
const (
	AttrTopic    = "topic"
	AttrOutcome  = "outcome"
	AttrEndpoint = "endpoint"
	AttrStatus   = "status"
	AttrKind     = "kind"
	// AttrConnector is CONNECTOR_NAME: a resource attribute, which the
	// Prometheus exporter turns into a label of every series.
	AttrConnector = "connector"
	// AttrTenant is the tenant id on every per-tenant series.
	AttrTenant = "tenant"
)

// Snapshot is the pipeline's state as the metrics read it at each
// collection. Counters must only grow during a process's life.
type Snapshot struct {
	Started         bool             // offsets loaded, stages running
	Polls           int64            // polls done
	PollErrors      int64            // polls that failed
	LastPollSuccess time.Time        // end of the last successful poll; zero if none
	Versions        int64            // incident versions published
	Restricted      int64            // restricted incident ids seen
	Produced        map[string]int64 // records acknowledged per topic name
	Commits         int64            // offsets commits written

	QueueDepth   int64  // incidents waiting for enrichment
	InFlight     int64  // enrichments being fetched or published
	EnrichCalls  uint64 // get_incident_extra_data calls, every attempt
	Retries      uint64 // calls repeated after a retryable failure other than 429
	RateLimited  uint64 // 429 replies
	Enriched     uint64 // enrichments acknowledged
	DLQ          uint64 // enrichments dead-lettered
	Truncated    uint64 // replies with truncated alert lists
	NotFound     uint64 // enrichments dead-lettered at once: the incident does not exist
	RetryWaiting int64  // queued enrichments waiting for a retry's not-before time

	LimiterUsed    int64         // slots in use in the sliding window
	LimiterBudget  int64         // calls allowed per window
	LimiterWaited  time.Duration // total time spent waiting for a slot
	LimiterWaiting int64         // callers waiting now

	Watermark      int64 // committable watermark, epoch ms; 0 before the offsets are loaded
	OffsetsPending int64 // enrichments owed in the offsets state

	Anomalies map[string]int64 // by Anomaly kind; every kind is reported, 0 included

	BulkFallback   bool   // ENRICH_BULK=auto fell back to single calls
	BulkCalls      uint64 // get_multiple_incidents_extra_data calls
	BulkToSingle   uint64 // incidents fetched alone because bulk could not deliver them whole
	BulkBudgetUsed int64  // slots of the bulk window in use
}

// RegisterMetrics registers the pipeline's observable instruments on m; at
// each collection they call read once, from the collecting goroutine, so read
// must be safe for concurrent use and quick. now is the clock of the
// watermark lag (nil: time.Now). Unregister the returned registration when
// the pipeline is gone.
//
// attrs are added to every observation: a tenant's attribute, when a process
// runs many.
func RegisterMetrics(m metric.Meter, read func() Snapshot, now func() time.Time, attrs ...attribute.KeyValue) (metric.Registration, error) {
	if now == nil {
		now = time.Now
	}
	var errs []error
	cnt := func(name, unit, desc string) metric.Int64ObservableCounter {
		c, err := m.Int64ObservableCounter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	gauge := func(name, unit, desc string) metric.Int64ObservableGauge {
		g, err := m.Int64ObservableGauge(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return g
	}
	fgauge := func(name, unit, desc string) metric.Float64ObservableGauge {
		g, err := m.Float64ObservableGauge(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return g
	}
	polls := cnt(MetricPolls, "{poll}", "Polls of get_incidents, failed or not.")
	pollErrs := cnt(MetricPollErrors, "{poll}", "Polls of get_incidents that ended with an error.")
	lastOK := fgauge(MetricLastPollSuccess, "s", "Unix time of the end of the last successful poll; 0 before the first.")
	versions := cnt(MetricVersions, "{version}", "Incident versions (incident_id, modification_time) published to the incidents topic.")
	restricted := cnt(MetricRestricted, "{incident}", "Restricted incident ids get_incidents withheld from this API key.")
	produced := cnt(MetricProduced, "{record}", "Records Kafka acknowledged, by topic.")
	commits := cnt(MetricCommits, "{commit}", "Offsets commits written.")
	calls := cnt(MetricEnrichCalls, "{call}", "get_incident_extra_data calls made, every attempt counted.")
	retries := cnt(MetricEnrichRetries, "{call}", "get_incident_extra_data calls repeated after a retryable failure other than 429.")
	limited := cnt(MetricEnrichRateLimit, "{reply}", "get_incident_extra_data replies with HTTP 429.")
	enriched := cnt(MetricEnriched, "{incident}", "Enrichments whose records Kafka acknowledged.")
	dlq := cnt(MetricDLQ, "{record}", "Enrichments given up whose DLQ record Kafka acknowledged.")
	truncated := cnt(MetricTruncated, "{reply}", "Extra-data replies with fewer alerts than the incident has (alerts_limit reached).")
	notFound := cnt(MetricNotFound, "{incident}", "Enrichments dead-lettered after one call because the API says the incident does not exist (merged or deleted).")
	queue := gauge(MetricQueueDepth, "{incident}", "Incidents waiting for enrichment.")
	retryWaiting := gauge(MetricRetryWaiting, "{incident}", "Incidents waiting in the enrichment queue for a retry's not-before time (counted in queue_depth).")
	inFlight := gauge(MetricInFlight, "{incident}", "Enrichments being fetched or published.")
	used := gauge(MetricLimiterUsed, "{call}", "Slots of the extra-data rate window in use (acquired, or released less than a window ago).")
	budget := gauge(MetricLimiterBudget, "{call}", "Extra-data calls allowed per rate window (ENRICH_RATE_LIMIT).")
	waiting := gauge(MetricLimiterWaiting, "{worker}", "Enrichment workers waiting for a rate-limiter slot.")
	wait, err := m.Float64ObservableCounter(MetricLimiterWait, metric.WithUnit("s"),
		metric.WithDescription("Total time enrichment workers spent waiting for a rate-limiter slot."))
	errs = append(errs, err)
	lag := fgauge(MetricWatermarkLag, "s", "Seconds between now and the committable watermark; 0 before the offsets are loaded.")
	wm := fgauge(MetricWatermark, "s", "The committable watermark (modification_time) as Unix time.")
	pending := gauge(MetricOffsetsPending, "{incident}", "Enrichments owed in the offsets state.")
	running := gauge(MetricTenantRunning, "", "1 once the tenant's offsets are loaded and its stages run, else 0.")
	anomalies := cnt(MetricAnomalies, "{event}", "Hostile replies and oversized records, each made harmless, by kind (see docs/OPERATIONS.md).")
	fallback := gauge(MetricBulkFallback, "", "1 when ENRICH_BULK=auto fell back to one get_incident_extra_data call per incident because the tenant does not serve get_multiple_incidents_extra_data, else 0.")
	bulkCalls := cnt(MetricBulkCalls, "{call}", "get_multiple_incidents_extra_data calls made.")
	toSingle := cnt(MetricBulkToSingle, "{incident}", "Incidents fetched with get_incident_extra_data because bulk could not deliver them whole: absent from a bulk reply, above alerts_limit_per_incident (by the reply, or by the poll's alert_count once a reply told the cap), or their bulk calls failed twice.")
	bulkUsed := gauge(MetricBulkBudgetUsed, "{call}", "Slots of the bulk extra-data rate window in use (ENRICH_BULK_RATE_LIMIT).")
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("creating pipeline instruments: %w", err)
	}

	reg, err := m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		s := read()
		base := metric.WithAttributes(attrs...)
		o.ObserveInt64(polls, s.Polls, base)
		o.ObserveInt64(pollErrs, s.PollErrors, base)
		if !s.LastPollSuccess.IsZero() {
			o.ObserveFloat64(lastOK, float64(s.LastPollSuccess.UnixMilli())/1000, base)
		} else {
			o.ObserveFloat64(lastOK, 0, base)
		}
		o.ObserveInt64(versions, s.Versions, base)
		o.ObserveInt64(restricted, s.Restricted, base)
		for topic, n := range s.Produced {
			o.ObserveInt64(produced, n, base, metric.WithAttributes(topicAttr(topic)))
		}
		o.ObserveInt64(commits, s.Commits, base)
		o.ObserveInt64(calls, int64(s.EnrichCalls), base)
		o.ObserveInt64(retries, int64(s.Retries), base)
		o.ObserveInt64(limited, int64(s.RateLimited), base)
		o.ObserveInt64(enriched, int64(s.Enriched), base)
		o.ObserveInt64(dlq, int64(s.DLQ), base)
		o.ObserveInt64(truncated, int64(s.Truncated), base)
		o.ObserveInt64(notFound, int64(s.NotFound), base)
		o.ObserveInt64(queue, s.QueueDepth, base)
		o.ObserveInt64(retryWaiting, s.RetryWaiting, base)
		o.ObserveInt64(inFlight, s.InFlight, base)
		o.ObserveInt64(used, s.LimiterUsed, base)
		o.ObserveInt64(budget, s.LimiterBudget, base)
		o.ObserveInt64(waiting, s.LimiterWaiting, base)
		o.ObserveFloat64(wait, s.LimiterWaited.Seconds(), base)
		var lagS, wmS float64
		if s.Watermark > 0 {
			wmS = float64(s.Watermark) / 1000
			lagS = max(0, float64(now().UnixMilli()-s.Watermark)/1000)
		}
		o.ObserveFloat64(lag, lagS, base)
		o.ObserveFloat64(wm, wmS, base)
		o.ObserveInt64(pending, s.OffsetsPending, base)
		var r int64
		if s.Started {
			r = 1
		}
		o.ObserveInt64(running, r, base)
		var fb int64
		if s.BulkFallback {
			fb = 1
		}
		o.ObserveInt64(fallback, fb, base)
		o.ObserveInt64(bulkCalls, int64(s.BulkCalls), base)
		o.ObserveInt64(toSingle, int64(s.BulkToSingle), base)
		o.ObserveInt64(bulkUsed, s.BulkBudgetUsed, base)
		for kind, n := range s.Anomalies {
			o.ObserveInt64(anomalies, n, base, metric.WithAttributes(attribute.String(AttrKind, kind)))
		}
		return nil
	}, polls, pollErrs, lastOK, versions, restricted, produced, commits, calls, retries, limited, enriched, dlq,
		truncated, notFound, queue, retryWaiting, inFlight, used, budget, waiting, wait, lag, wm, pending, running, anomalies,
		fallback, bulkCalls, toSingle, bulkUsed)
	if err != nil {
		return nil, fmt.Errorf("registering pipeline metrics: %w", err)
	}
	return reg, nil
}

// RegisterReadiness registers MetricReady, the process's readiness as
// /readyz answers it: ready is called at each collection (Health.Ready, whose
// Kafka ping is reused for a while, so scrapes never pile up on the broker).
func RegisterReadiness(m metric.Meter, ready func(context.Context) bool) (metric.Registration, error) {
	g, err := m.Int64ObservableGauge(MetricReady,
		metric.WithDescription("1 when the process is ready (GET /readyz answers 200), else 0."))
	if err != nil {
		return nil, fmt.Errorf("creating the readiness gauge: %w", err)
	}
	reg, err := m.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		var v int64
		if ready(ctx) {
			v = 1
		}
		o.ObserveInt64(g, v)
		return nil
	}, g)
	if err != nil {
		return nil, fmt.Errorf("registering the readiness gauge: %w", err)
	}
	return reg, nil
}

// NewPrometheus returns a metric reader to add to the MeterProvider and the
// HTTP handler that serves what it reads in the Prometheus text format, from
// a private registry that also holds the Go runtime and process collectors.
// Metric names follow the OpenTelemetry-to-Prometheus conventions (see the
// Metric constants and MetricViews); no series carries otel_scope_* labels
// (no two scopes record the same name). The resource's connector attribute
// becomes a label of every OpenTelemetry series, and connector labels the
// Go and process series too.
func NewPrometheus(connector string) (sdkmetric.Reader, http.Handler, error) {
	reg := prometheus.NewRegistry()
	runtime := prometheus.WrapRegistererWith(prometheus.Labels{AttrConnector: connector}, reg)
	if err := runtime.Register(collectors.NewGoCollector()); err != nil {
		return nil, nil, fmt.Errorf("registering the Go collector: %w", err)
	}
	if err := runtime.Register(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})); err != nil {
		return nil, nil, fmt.Errorf("registering the process collector: %w", err)
	}
	exp, err := otelprom.New(otelprom.WithRegisterer(reg),
		otelprom.WithTranslationStrategy(otlptranslator.UnderscoreEscapingWithSuffixes),
		otelprom.WithoutScopeInfo(),
		otelprom.WithResourceAsConstantLabels(attribute.NewAllowKeysFilter(AttrConnector)))
	if err != nil {
		return nil, nil, fmt.Errorf("creating the Prometheus exporter: %w", err)
	}
	return exp, promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), nil
}

func topicAttr(topic string) attribute.KeyValue { return attribute.String(AttrTopic, topic) }
