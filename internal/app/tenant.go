package app

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kslog"
	"go.opentelemetry.io/otel/attribute"

	"github.com/soc-tools/xdr-kafka-connector/pkg/config"
	"github.com/soc-tools/xdr-kafka-connector/pkg/drain"
	"github.com/soc-tools/xdr-kafka-connector/pkg/enrich"
	"github.com/soc-tools/xdr-kafka-connector/pkg/pipeline"
	"github.com/soc-tools/xdr-kafka-connector/pkg/profile"
	"github.com/soc-tools/xdr-kafka-connector/pkg/record"
	"github.com/soc-tools/xdr-kafka-connector/pkg/sink"
	"github.com/soc-tools/xdr-kafka-connector/pkg/source"
	"github.com/soc-tools/xdr-kafka-connector/pkg/telemetry"
	"github.com/soc-tools/xdr-kafka-connector/pkg/writeback"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
)

// Tenant is what differs between the tenants of one process: its resolved
// settings (config.Tenant, whose ID labels the offsets key, records and the
// transactional id), and what TenantFrom derives from them for its pipeline.
type Tenant struct {
	config.Tenant
	API            xdr.Config // the XDR client's settings (its UserAgent is set by the process)
	StartWatermark int64      // epoch ms: the watermark of a first start (StartFrom, parsed)
	// EnrichMaxAttempts is the process's ENRICH_MAX_ATTEMPTS, which a
	// tenants file does not set.
	EnrichMaxAttempts int
}

// TenantOf is the one tenant of an env-only configuration.
func TenantOf(cfg *config.Config) Tenant { return TenantFrom(cfg, config.EnvTenant(cfg)) }

// TenantFrom is tenant c under the process-wide settings of cfg (the
// attempts per enrichment, which a tenants file does not set).
func TenantFrom(cfg *config.Config, c config.Tenant) Tenant {
	startFrom, _ := config.ParseStartFrom(c.StartFrom, time.Now()) // validated
	return Tenant{
		Tenant: c,
		API: xdr.Config{
			BaseURL:  c.BaseURL,
			KeyID:    c.APIKeyID,
			Key:      c.APIKey,
			AuthMode: xdr.AuthMode(c.AuthMode),
			Timeout:  c.RequestTimeout,
		},
		StartWatermark:    startFrom,
		EnrichMaxAttempts: cfg.EnrichMaxAttempts,
	}
}

// TenantName labels the offsets key: XDR_TENANT, else the base URL's host
// (config.Config.EnvTenantID).
func TenantName(cfg *config.Config) string { return cfg.EnvTenantID() }

// Filters are the server-side filters of the tenant's polls.
func (t Tenant) Filters() []xdr.Filter {
	var filters []xdr.Filter
	if len(t.FilterStatuses) > 0 {
		filters = append(filters, xdr.StatusIn(t.FilterStatuses...))
	}
	if t.FilterStarred != "" {
		filters = append(filters, xdr.Starred(t.FilterStarred == "true"))
	}
	if len(t.FilterAlertSources) > 0 {
		filters = append(filters, xdr.AlertSourcesIn(t.FilterAlertSources...))
	}
	return filters
}

// APIClient returns the tenant's XDR client, with opts (instrumentation).
func (t Tenant) APIClient(version string, opts ...xdr.Option) (*xdr.Client, error) {
	c := t.API
	c.UserAgent = "xdr-kafka-connector/" + version
	return xdr.New(c, opts...)
}

// PipelineConfig is the tenant's pipeline under the process-wide settings of
// cfg; connOpts are the Kafka connection options.
//
// multi is the mode of a tenants file: records carry the tenant in their keys
// and headers, and {tenant} in a data topic's name becomes the tenant's id.
func (t Tenant) PipelineConfig(cfg *config.Config, connOpts []kgo.Opt, multi bool) pipeline.Config {
	id := ""
	if multi {
		id = t.ID
	}
	topics := sink.Topics(cfg.DataTopicsOf(id))
	// cfg was validated: every name is a profile's.
	profiles, _ := profile.Parse(strings.Join(cfg.OutputProfiles, ","))
	inFlight := 0
	if multi {
		inFlight = sink.TenantInFlight
	}
	return pipeline.Config{
		InFlight:        inFlight,
		Connector:       cfg.ConnectorName,
		Tenant:          t.ID,
		MultiTenant:     multi,
		Topics:          topics,
		Profiles:        profiles,
		Offsets:         cfg.TopicOffsets,
		Delivery:        cfg.Delivery,
		CreateTopics:    true,
		Partitions:      int32(cfg.KafkaPartitions),
		Replication:     int16(cfg.KafkaReplication),
		StartFrom:       t.StartWatermark,
		Source:          source.Config{PollInterval: t.PollInterval, Lookback: t.Lookback, Filters: t.Filters()},
		RateLimit:       t.EnrichRateLimit,
		RateWindow:      t.EnrichRateWindow,
		Enrich:          enrich.Config{Workers: t.EnrichWorkers, MaxAttempts: t.EnrichMaxAttempts, CallTimeout: t.API.Timeout},
		AlertsLimit:     t.AlertsLimit,
		Bulk:            t.EnrichBulk,
		BulkSize:        t.EnrichBulkSize,
		BulkRateLimit:   t.EnrichBulkRateLimit,
		BulkRateWindow:  t.EnrichBulkRateWindow,
		MaxRecordBytes:  cfg.KafkaMaxRecordBytes,
		MaxRetryAfter:   cfg.XDRMaxRetryAfter,
		CommitInterval:  cfg.CommitInterval,
		ShutdownTimeout: cfg.ShutdownTimeout,
		ClientOpts:      connOpts,
	}
}

// defaultBatchMaxBytes is franz-go's default ProducerBatchMaxBytes.
const defaultBatchMaxBytes = 1_000_012

// shared are the parts of a process every tenant uses.
type shared struct {
	cfg      *config.Config
	log      *slog.Logger
	connOpts []kgo.Opt
	obs      *observability
	version  string
	stderr   io.Writer
	// kcl is the producer the tenants of a tenants file share (each
	// tenant's delivery mode builds what else it needs); nil otherwise:
	// the one tenant has its own.
	kcl *kgo.Client
	// tenantOpts, when set, adds options to tenant id's pipeline (tests'
	// poll observers; see export_test.go).
	tenantOpts func(id string) []pipeline.Option
	// gate, with group membership, holds the tenant's API calls while the
	// process is cut off from the group coordinator; it also makes an
	// at-least-once tenant write its offsets in fencing transactions.
	gate gate
	// replica names this process in the User-Agent of its API calls, with
	// group membership; "" otherwise.
	replica string
	// replies bounds the reply bytes every tenant's API client holds at
	// once (XDR_REPLY_BUDGET_BYTES), so no number of tenants with large
	// replies can together exhaust the process's memory.
	replies *xdr.ReplyBudget
	// tenantIDs are the configuration's tenants, for write-back; nil: the
	// one tenant being built.
	tenantIDs tenantIDs
}

// tenant is one tenant's running parts: its XDR client, its producer client
// and its pipeline.
type tenant struct {
	id       string
	pipeline *pipeline.Pipeline
	kcl      *kgo.Client // the producer it shares, or its own (ownsKCL); its delivery mode builds what else it needs
	ownsKCL  bool
	polls    *pollWatch
	queue    *drain.Tracker // its enrichment queue's drain estimate, sampled by GET /tenants and the metric
	// writeback applies the tenant's commands; nil when write-back is off.
	writeback *writeback.Applier
	wbKCL     *kgo.Client // the applier's own transactional client (exactly-once, or fenced at-least-once); nil otherwise
}

// newTenant builds a tenant's clients and pipeline; multi is the mode of a
// tenants file (see Tenant.PipelineConfig): its logs, spans and metrics carry
// the tenant too.
func newTenant(s shared, t Tenant, multi bool) (*tenant, error) {
	log, tp := s.log, s.obs.tracerProvider
	if multi {
		log = log.With("tenant", t.ID)
		tp = tenantTracerProvider(tp, t.ID)
	}
	version := s.version
	if s.replica != "" {
		version += " replica/" + s.replica
	}
	client, err := t.APIClient(version, xdr.WithTracerProvider(tp), xdr.WithMeterProvider(s.obs.meterProvider),
		xdr.WithMetricAttributes(attribute.String(telemetry.AttrTenant, t.ID)), xdr.WithReplyBudget(s.replies))
	if err != nil {
		return nil, &ConfigError{err}
	}
	pa := paced(client, s.cfg.XDRRequestsPerSecond)
	var api pipeline.API = pa
	var writes writeback.API = pa
	if s.gate.member != nil {
		api = gatedAPI{api: api, gate: s.gate}
		writes = gatedWrites{api: pa, gate: s.gate}
	}
	tn := &tenant{kcl: s.kcl, polls: &pollWatch{}, queue: drain.NewTracker(t.EnrichRateWindow)}
	ok := false
	defer func() {
		if !ok {
			tn.close()
		}
	}()
	if tn.kcl == nil {
		if tn.kcl, err = newProducer(s, log); err != nil {
			return nil, err
		}
		tn.ownsKCL = true
	}
	opts := []pipeline.Option{pipeline.WithLogger(log), pipeline.WithTracerProvider(tp), pipeline.WithPollObserver(tn.polls.observe),
		pipeline.WithProducers(func(opts ...kgo.Opt) (*kgo.Client, error) { return newProducer(s, log, opts...) })}
	if s.tenantOpts != nil {
		opts = append(opts, s.tenantOpts(t.ID)...)
	}
	pcfg := t.PipelineConfig(s.cfg, s.connOpts, multi)
	// With the group, a process cut off from it may have lost the tenant
	// without knowing; on an external Kafka, another live process may run
	// it: either way a new owner must fence this one's writes (see
	// secondProcess).
	pcfg.Fencing = s.gate.member != nil || s.cfg.ExternalKafka
	if tn.pipeline, err = pipeline.New(pcfg, api, tn.kcl, opts...); err != nil {
		return nil, err
	}
	if tn.writeback, tn.wbKCL, err = newApplier(s, t, writes, tn.kcl, multi, pcfg.Fencing, log); err != nil {
		return nil, err
	}
	tn.id = t.ID
	ok = true
	return tn, nil
}

// newProducer builds a producer client with the connector's settings plus
// extra (a transactional id): the producer tenants share, and — as each
// tenant's pipeline.ProducerFactory — what its delivery mode needs.
func newProducer(s shared, log *slog.Logger, extra ...kgo.Opt) (*kgo.Client, error) {
	hookOpts, err := s.obs.kafkaOpts(s.cfg)
	if err != nil {
		return nil, err
	}
	producerOpts, err := ProducerOptions(s.cfg)
	if err != nil {
		return nil, err
	}
	opts := append(append(append(append([]kgo.Opt{}, s.connOpts...), producerOpts...), hookOpts...), extra...)
	if n := s.cfg.KafkaMaxRecordBytes + record.HeaderSlack; n > defaultBatchMaxBytes {
		// Let the client send what the limit allows; the broker's
		// max.message.bytes must allow it too.
		opts = append(opts, kgo.ProducerBatchMaxBytes(int32(n)))
	}
	kcl, err := kgo.NewClient(append(opts, kgo.WithLogger(kslog.New(kafkaLogger(s.cfg, log, s.stderr))))...)
	if err != nil {
		return nil, fmt.Errorf("creating Kafka client: %w", err)
	}
	return kcl, nil
}

func (t *tenant) close() {
	if t.pipeline != nil {
		t.pipeline.Close()
	}
	if t.ownsKCL && t.kcl != nil {
		t.kcl.Close()
	}
	if t.wbKCL != nil {
		t.wbKCL.Close()
	}
}

// errSecondProcess marks a tenant stopped because, without the group, another
// live process of the same CONNECTOR_NAME runs it: its first offsets commit
// fenced this process's writer. It wraps pipeline.ErrFenced.
var errSecondProcess = errors.New("another live process with the same CONNECTOR_NAME runs this tenant")

// secondProcessFix says what to do about errSecondProcess.
const secondProcessFix = "let the processes share the tenants in the connector's group (leave KAFKA_GROUP_ENABLED unset, or true, on every process), " +
	"or give each process its own CONNECTOR_NAME"

// secondProcess turns the fencing of a tenant of a process without the group
// into errSecondProcess, naming the tenant, the connector and the fix; other
// errors are returned as they are.
func secondProcess(cfg *config.Config, tenant string, err error) error {
	if !errors.Is(err, pipeline.ErrFenced) {
		return err
	}
	return fmt.Errorf("%w (connector %s, tenant %s): it fenced this process's writer of the tenant's offsets, and this process stops the tenant; %s: %w",
		errSecondProcess, cfg.ConnectorName, tenant, secondProcessFix, err)
}
