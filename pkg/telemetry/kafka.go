package telemetry

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kotel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/trace"
)

// kotelScope is the instrumentation scope of kotel's meter.
const kotelScope = "github.com/twmb/franz-go/plugin/kotel"

// MetricViews are the views a MeterProvider needs so that kotel's broker
// counters follow the conventions of the Metric constants. kotel names them
// "messaging.kafka.connects.count" (unit "1") and
// "messaging.kafka.write_bytes" (unit "by", which is not UCUM's "By"), which
// Prometheus would scrape as messaging_kafka_connects_count_total and
// messaging_kafka_write_bytes_by_total. The view drops the ".count" and
// "_bytes" tails and declares bytes as "By", so they are scraped as
// messaging_kafka_connects_total and messaging_kafka_write_bytes_total.
func MetricViews() []sdkmetric.View { return []sdkmetric.View{kotelView} }

func kotelView(inst sdkmetric.Instrument) (sdkmetric.Stream, bool) {
	if inst.Scope.Name != kotelScope {
		return sdkmetric.Stream{}, false
	}
	name, unit := strings.TrimSuffix(inst.Name, ".count"), inst.Unit
	switch unit {
	case "by", "By":
		name, unit = strings.TrimSuffix(name, "_bytes"), "By"
	case "1":
		unit = "" // a count: no suffix
	}
	return sdkmetric.Stream{Name: name, Description: inst.Description, Unit: unit}, true
}

// KafkaConfig selects the franz-go instrumentation of KafkaHooks.
type KafkaConfig struct {
	// TracerProvider, when set, traces every produced record with kotel: a
	// "<topic> publish" producer span, child of the span of the context the
	// record was produced with, whose W3C traceparent is written into the
	// record's headers. Nil: no tracing hooks at all.
	TracerProvider trace.TracerProvider
	// UntracedTopics are produced without a span or traceparent header (the
	// offsets topic: its commits belong to no incident's trace).
	UntracedTopics []string
	// MeterProvider, when set, records produce latency per topic
	// (MetricProduceDuration) and kotel's broker metrics
	// (messaging.kafka.*). Nil: no metric hooks.
	MeterProvider metric.MeterProvider
}

// KafkaHooks returns the franz-go hooks of cfg, to be passed with
// kgo.WithHooks when the producer client is built. It returns no hooks when
// cfg enables nothing.
func KafkaHooks(cfg KafkaConfig) ([]kgo.Hook, error) {
	var hooks []kgo.Hook
	if cfg.MeterProvider != nil {
		lat, err := newLatencyHook(cfg.MeterProvider.Meter(scopeName))
		if err != nil {
			return nil, err
		}
		hooks = append(hooks, lat)
		m := kotel.NewMeter(kotel.MeterProvider(cfg.MeterProvider))
		hooks = append(hooks, m)
	}
	if cfg.TracerProvider != nil {
		t := kotel.NewTracer(kotel.TracerProvider(cfg.TracerProvider), kotel.TracerPropagator(Propagator()))
		hooks = append(hooks, topicFilter{t: t, skip: slices.Clone(cfg.UntracedTopics)})
	}
	return hooks, nil
}

// topicFilter runs kotel's produce hooks for every topic but the skipped ones.
type topicFilter struct {
	t    *kotel.Tracer
	skip []string
}

func (f topicFilter) OnProduceRecordBuffered(r *kgo.Record) {
	if !slices.Contains(f.skip, r.Topic) {
		f.t.OnProduceRecordBuffered(r)
	}
}

func (f topicFilter) OnProduceRecordUnbuffered(r *kgo.Record, err error) {
	if !slices.Contains(f.skip, r.Topic) {
		f.t.OnProduceRecordUnbuffered(r, err)
	}
}

// latencyHook measures each record from Produce to its acknowledgement (or
// failure). It keeps the start time in the record's context, so it works
// before or after kotel's hook, which derives its context from the record's.
type latencyHook struct {
	h     metric.Float64Histogram
	attrs sync.Map // topic+outcome -> metric.MeasurementOption
}

type produceStartKey struct{}

func newLatencyHook(m metric.Meter) (*latencyHook, error) {
	h, err := m.Float64Histogram(MetricProduceDuration, metric.WithUnit("s"),
		metric.WithDescription("Time from handing a record to the Kafka client to its acknowledgement or failure, by topic and outcome."),
		metric.WithExplicitBucketBoundaries(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))
	if err != nil {
		return nil, err
	}
	return &latencyHook{h: h}, nil
}

func (l *latencyHook) OnProduceRecordBuffered(r *kgo.Record) {
	ctx := r.Context
	if ctx == nil {
		ctx = context.Background()
	}
	r.Context = context.WithValue(ctx, produceStartKey{}, time.Now())
}

func (l *latencyHook) OnProduceRecordUnbuffered(r *kgo.Record, err error) {
	if r.Context == nil {
		return
	}
	start, ok := r.Context.Value(produceStartKey{}).(time.Time)
	if !ok {
		return
	}
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	key := r.Topic + "\x00" + outcome
	opt, ok := l.attrs.Load(key)
	if !ok {
		opt, _ = l.attrs.LoadOrStore(key, metric.WithAttributeSet(attribute.NewSet(
			attribute.String(AttrTopic, r.Topic), attribute.String(AttrOutcome, outcome))))
	}
	l.h.Record(context.Background(), time.Since(start).Seconds(), opt.(metric.MeasurementOption))
}
