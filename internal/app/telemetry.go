package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/contrib/exporters/autoexport"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/embedded"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/soc-tools/xdr-kafka-connector/pkg/config"
	"github.com/soc-tools/xdr-kafka-connector/pkg/drain"
	"github.com/soc-tools/xdr-kafka-connector/pkg/pipeline"
	"github.com/soc-tools/xdr-kafka-connector/pkg/source"
	"github.com/soc-tools/xdr-kafka-connector/pkg/telemetry"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
)

// serviceName is the default OpenTelemetry service.name; OTEL_SERVICE_NAME
// and OTEL_RESOURCE_ATTRIBUTES override it.
const serviceName = "xdr-kafka-connector"

// observability is a run's tracing and metrics: OpenTelemetry providers
// built from the standard OTEL_* variables and HTTP_ADDR. What nothing turns
// on is a no-op provider, which costs nothing.
type observability struct {
	tracerProvider trace.TracerProvider // no-op unless tracing is on
	tracing        bool
	meterProvider  metric.MeterProvider // no-op unless metrics are on
	metering       bool
	metricsHandler http.Handler // Prometheus /metrics; nil without HTTP_ADDR
	shutdowns      []func(context.Context) error
}

// newObservability builds the providers:
//   - tracing is on when OTEL_TRACES_EXPORTER names an exporter other than
//     "none" (otlp, console), or is unset while an OTLP endpoint
//     (OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is;
//     the exporter is autoexport's, the sampler OTEL_TRACES_SAMPLER's (the
//     SDK reads it), and spans are batched. deps.SpanExporter, when set,
//     replaces all of that with a synchronous exporter (tests).
//   - metrics are served for Prometheus when HTTP_ADDR is set, and pushed
//     when OTEL_METRICS_EXPORTER names an exporter other than "none" or
//     "prometheus" (which /metrics already is), or is unset while an OTLP
//     endpoint is.
//   - OTEL_SDK_DISABLED=true turns both off.
//
// The resource is service.name=xdr-kafka-connector and service.version,
// overridden by OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES.
func newObservability(ctx context.Context, cfg *config.Config, deps Deps, log *slog.Logger) (*observability, error) {
	o := &observability{tracerProvider: tracenoop.NewTracerProvider(), meterProvider: metricnoop.NewMeterProvider()}
	env := func(k string) string {
		v, _ := deps.Getenv(k)
		return strings.ToLower(strings.TrimSpace(v))
	}
	if env("OTEL_SDK_DISABLED") == "true" && deps.SpanExporter == nil {
		if cfg.HTTPAddr != "" {
			log.Warn("OTEL_SDK_DISABLED=true: /metrics serves no connector metrics")
			_, h, err := telemetry.NewPrometheus(cfg.ConnectorName)
			if err != nil {
				return nil, err
			}
			o.metricsHandler = h
		}
		return o, nil
	}
	// connector comes last, so it is CONNECTOR_NAME whatever
	// OTEL_RESOURCE_ATTRIBUTES says: /metrics labels every series with it.
	res, err := resource.New(ctx,
		resource.WithAttributes(attribute.String("service.name", serviceName), attribute.String("service.version", deps.Version)),
		resource.WithFromEnv(), resource.WithTelemetrySDK(),
		resource.WithAttributes(attribute.String(telemetry.AttrConnector, cfg.ConnectorName)))
	if err != nil {
		return nil, fmt.Errorf("building the OpenTelemetry resource: %w", err)
	}
	otlpEndpoint := func(signal string) bool {
		return env("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || env("OTEL_EXPORTER_OTLP_"+signal+"_ENDPOINT") != ""
	}

	var topts []sdktrace.TracerProviderOption
	switch v := env("OTEL_TRACES_EXPORTER"); {
	case deps.SpanExporter != nil:
		topts = append(topts, sdktrace.WithSyncer(telemetry.ScrubbingExporter(deps.SpanExporter, xdr.ScrubSecrets)))
	case v == "none", v == "" && !otlpEndpoint("TRACES"):
	default:
		exp, err := autoexport.NewSpanExporter(ctx)
		if err != nil {
			return nil, &ConfigError{fmt.Errorf("OTEL_TRACES_EXPORTER: %w", err)}
		}
		topts = append(topts, sdktrace.WithBatcher(telemetry.ScrubbingExporter(exp, xdr.ScrubSecrets)))
	}
	if len(topts) > 0 {
		tp := sdktrace.NewTracerProvider(append(topts, sdktrace.WithResource(res))...)
		o.tracerProvider, o.tracing = tp, true
		o.shutdowns = append(o.shutdowns, tp.Shutdown)
	}

	var mopts []sdkmetric.Option
	if cfg.HTTPAddr != "" {
		r, h, err := telemetry.NewPrometheus(cfg.ConnectorName)
		if err != nil {
			return nil, err
		}
		mopts = append(mopts, sdkmetric.WithReader(r))
		o.metricsHandler = h
	}
	switch v := env("OTEL_METRICS_EXPORTER"); {
	case v == "prometheus":
		if cfg.HTTPAddr == "" {
			log.Warn("OTEL_METRICS_EXPORTER=prometheus: set HTTP_ADDR to serve /metrics")
		}
	case v == "none", v == "" && !otlpEndpoint("METRICS"):
	default:
		r, err := autoexport.NewMetricReader(ctx)
		if err != nil {
			return nil, &ConfigError{fmt.Errorf("OTEL_METRICS_EXPORTER: %w", err)}
		}
		mopts = append(mopts, sdkmetric.WithReader(r))
	}
	if len(mopts) > 0 {
		mopts = append(mopts, sdkmetric.WithView(telemetry.MetricViews()...))
		mp := sdkmetric.NewMeterProvider(append(mopts, sdkmetric.WithResource(res))...)
		o.meterProvider, o.metering = mp, true
		o.shutdowns = append(o.shutdowns, mp.Shutdown)
	}
	log.Debug("observability", "tracing", o.tracing, "metrics", o.metering, "prometheus", o.metricsHandler != nil)
	return o, nil
}

// shutdown flushes and stops the providers, for at most 5 seconds.
func (o *observability) shutdown(ctx context.Context, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	var errs []error
	for _, f := range o.shutdowns {
		errs = append(errs, f(ctx))
	}
	if err := errors.Join(errs...); err != nil {
		log.Warn("flushing telemetry failed; some spans or metrics were not exported", "err", err)
	}
}

// apiOptions instrument the XDR client.
func (o *observability) apiOptions() []xdr.Option {
	return []xdr.Option{xdr.WithTracerProvider(o.tracerProvider), xdr.WithMeterProvider(o.meterProvider)}
}

// kafkaOpts instrument the producer client: a traced publish span and a
// traceparent header per data record, produce latency and broker metrics.
func (o *observability) kafkaOpts(cfg *config.Config) ([]kgo.Opt, error) {
	kc := telemetry.KafkaConfig{UntracedTopics: []string{cfg.TopicOffsets}}
	if o.tracing {
		kc.TracerProvider = o.tracerProvider
	}
	if o.metering {
		kc.MeterProvider = o.meterProvider
	}
	hooks, err := telemetry.KafkaHooks(kc)
	if err != nil {
		return nil, fmt.Errorf("instrumenting the Kafka client: %w", err)
	}
	if len(hooks) == 0 {
		return nil, nil
	}
	return []kgo.Opt{kgo.WithHooks(hooks...)}, nil
}

// pollWatch observes the pipeline's polls for readiness and metrics.
type pollWatch struct {
	health *telemetry.Health // single-tenant mode: polls feed readiness; nil otherwise
	errors atomic.Int64
	lastOK atomic.Int64 // end of the last successful poll, epoch ms
}

func (w *pollWatch) observe(r source.PollResult, err error) {
	if err != nil {
		w.errors.Add(1)
	}
	if err == nil {
		w.lastOK.Store(r.Started.Add(r.Duration).UnixMilli())
	}
	if w.health != nil {
		w.health.PollDone(r.Started.Add(r.Duration), err)
	}
}

// newHealth builds the readiness checks: offsets loaded, Kafka answering a
// ping, and a successful poll within three poll intervals plus one request
// timeout.
//
// With polls false (a tenants file), readiness follows Kafka alone: one
// failing tenant must not take the process out of service.
func newHealth(cfg *config.Config, started func() bool, kcl *kgo.Client, pingEvery time.Duration, polls bool) (*telemetry.Health, error) {
	stale := 3*cfg.PollInterval + cfg.XDRTimeout
	if !polls {
		stale = 0
	}
	return telemetry.NewHealth(telemetry.HealthConfig{
		Started:   started,
		Ping:      kcl.Ping,
		PingEvery: pingEvery,
		PollStale: stale,
	})
}

// meterScope names the meter of the pipeline and readiness instruments.
const meterScope = "github.com/soc-tools/xdr-kafka-connector/internal/app"

// registerPipelineMetrics exposes p's figures as observable instruments,
// every series labelled tenant=<id> (the one tenant of an env-only
// configuration too).
func (o *observability) registerPipelineMetrics(p *pipeline.Pipeline, w *pollWatch, queue *drain.Tracker, tenant string) (metric.Registration, error) {
	m := o.meterProvider.Meter(meterScope)
	attr := attribute.String(telemetry.AttrTenant, tenant)
	reg, err := telemetry.RegisterMetrics(m, func() telemetry.Snapshot { return snapshotOf(p.Stats(), w) }, nil, attr)
	if err != nil {
		return nil, err
	}
	eta, err := registerQueueETA(m, func() (drain.Estimate, bool) {
		s := p.Stats()
		if !s.Started {
			return drain.Estimate{}, false
		}
		return queue.Sample(time.Now(), s.QueueDepth, s.Enrich.Capacity), true
	}, attr)
	if err != nil {
		_ = reg.Unregister()
		return nil, err
	}
	return registrations{all: []metric.Registration{reg, eta}}, nil
}

// metricQueueETA is when the tenant's enrichment queue empties at its
// measured net drain rate (drain.Estimate), in seconds: 0 when it is
// empty, no value while it is measured, grows or holds steady.
const metricQueueETA = "xdr_connector.enrich.queue_eta"

// registerQueueETA exposes estimate, called at each collection (ok false:
// no value, the tenant has not started), as metricQueueETA.
func registerQueueETA(m metric.Meter, estimate func() (drain.Estimate, bool), attr attribute.KeyValue) (metric.Registration, error) {
	g, err := m.Float64ObservableGauge(metricQueueETA, metric.WithUnit("s"),
		metric.WithDescription("Seconds until the enrichment queue empties at its measured net drain rate; 0 when empty, no value while measuring, growing or steady."))
	if err != nil {
		return nil, err
	}
	return m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		est, ok := estimate()
		switch {
		case !ok:
		case est.Trend == drain.Empty:
			o.ObserveFloat64(g, 0, metric.WithAttributes(attr))
		case est.Trend == drain.Draining:
			o.ObserveFloat64(g, est.ETA.Seconds(), metric.WithAttributes(attr))
		}
		return nil
	}, g)
}

// registrations unregisters several registrations as one.
type registrations struct {
	embedded.Registration
	all []metric.Registration
}

func (rs registrations) Unregister() error {
	var errs []error
	for _, r := range rs.all {
		errs = append(errs, r.Unregister())
	}
	return errors.Join(errs...)
}

// MetricTenantFailed is the gauge of the fleet's failed tenants: 1 with
// the failure's class as label reason (one of the Failure* constants) while
// a tenant is failed and retried with backoff, else 0 without reason, for
// every tenant running here (or failed, moved, disabled).
const MetricTenantFailed = "xdr_connector.tenant.failed"

// attrReason labels MetricTenantFailed with the failure's class.
const attrReason = "reason"

// registerFleetMetrics exposes the failed gauge of f's tenants.
func (o *observability) registerFleetMetrics(f *fleet) (metric.Registration, error) {
	m := o.meterProvider.Meter(meterScope)
	failed, err := m.Int64ObservableGauge(MetricTenantFailed,
		metric.WithDescription("1 while the tenant is failed and retried with backoff, with the failure's class as label reason; else 0."))
	if err != nil {
		return nil, err
	}
	return m.RegisterCallback(func(_ context.Context, ob metric.Observer) error {
		f.mu.Lock()
		slots := make([]*slot, 0, len(f.slots))
		for _, s := range f.slots {
			slots = append(slots, s)
		}
		f.mu.Unlock()
		for _, s := range slots {
			s.mu.Lock()
			id, state, class := s.status.ID, s.status.State, s.class
			s.mu.Unlock()
			if state == StateFailed {
				ob.ObserveInt64(failed, 1, metric.WithAttributes(attribute.String(telemetry.AttrTenant, id), attribute.String(attrReason, class)))
				continue
			}
			ob.ObserveInt64(failed, 0, metric.WithAttributes(attribute.String(telemetry.AttrTenant, id)))
		}
		return nil
	}, failed)
}

// registerReadiness exposes h's answer, the one /readyz gives, as
// xdr_connector_ready.
func (o *observability) registerReadiness(h *telemetry.Health) (metric.Registration, error) {
	return telemetry.RegisterReadiness(o.meterProvider.Meter(meterScope), func(ctx context.Context) bool {
		ok, _ := h.Ready(ctx)
		return ok
	})
}

func snapshotOf(s pipeline.Stats, w *pollWatch) telemetry.Snapshot {
	return telemetry.Snapshot{
		Started: s.Started, Polls: s.Polls, PollErrors: w.errors.Load(), LastPollSuccess: w.lastSuccess(),
		Versions: s.Versions, Restricted: s.Restricted, Produced: s.Produced, Commits: s.Commits,
		QueueDepth: int64(s.QueueDepth), InFlight: int64(s.Enrich.InFlight),
		EnrichCalls: s.Enrich.Calls, Retries: s.Enrich.Retries, RateLimited: s.Enrich.RateLimited,
		Enriched: s.Enrich.Enriched, DLQ: s.Enrich.DLQ, Truncated: s.Enrich.Truncated,
		NotFound: s.Enrich.NotFound, RetryWaiting: int64(s.Enrich.Delayed),
		LimiterUsed: int64(s.Enrich.Limiter.InUse), LimiterBudget: int64(s.Enrich.RateLimit),
		LimiterWaited: s.Enrich.Limiter.Waited, LimiterWaiting: int64(s.Enrich.Limiter.Waiting),
		Watermark: s.Offsets.Watermark, OffsetsPending: int64(s.Offsets.Pending),
		Anomalies: map[string]int64{
			telemetry.AnomalyOversizedRecord:  s.Oversized + int64(s.Enrich.Oversized),
			telemetry.AnomalyRejectedRecord:   int64(s.Enrich.Rejected),
			telemetry.AnomalyFutureIncident:   s.Future,
			telemetry.AnomalyClampedMark:      s.Clamped,
			telemetry.AnomalyMismatchedReply:  int64(s.Enrich.Mismatched),
			telemetry.AnomalyMalformedReply:   int64(s.Enrich.Malformed),
			telemetry.AnomalyUntrustedCount:   s.Untrusted,
			telemetry.AnomalyDroppedIncident:  s.Dropped,
			telemetry.AnomalyPoisonedIncident: s.Poisoned,
			telemetry.AnomalyKeyCollision:     int64(s.Enrich.Collisions),
			telemetry.AnomalyUnaskedItem:      int64(s.Enrich.Unasked),
			telemetry.AnomalyEchoedKey:        s.KeyEchoes + int64(s.Enrich.KeyEchoes),
		},
		BulkFallback: s.Enrich.BulkFallback, BulkCalls: s.Enrich.BulkCalls, BulkToSingle: s.Enrich.ToSingle,
		BulkBudgetUsed: int64(s.Enrich.BulkLimiter.InUse),
	}
}

// lastSuccess is the end of the last successful poll; zero before one.
func (w *pollWatch) lastSuccess() time.Time {
	if ms := w.lastOK.Load(); ms > 0 {
		return time.UnixMilli(ms)
	}
	return time.Time{}
}
