// Package pipeline wires the stages of `connector run` for one tenant:
//
//	source ──change──▶ sink (xdr.incidents)          ──ack──▶ offsets tracker
//	   └────owe──────▶ enrich queue ─▶ limiter ─▶ get_incident_extra_data
//	                        └─flatten─▶ sink (incidents, alerts, artifacts, dlq) ──ack──▶ tracker
//	tracker ──every COMMIT_INTERVAL──▶ offsets topic
//
// The incident's change record is published as soon as the source reads it;
// it never waits for the rate limiter. What the tracker commits only ever
// covers what Kafka acknowledged, so every commit is safe, including the one a
// crash interrupts.
//
// Where each rule lives: the watermark in offsets.Tracker; the paging rules
// in source; the rate limit and its policy in enrich (limiter.go); which
// records a reply becomes in enrich (flatten.go) and how a record is encoded
// in record; the delivery mode in this package's committer (commit.go for
// at-least-once, txn.go for exactly-once), chosen once in New, which builds
// the Kafka clients the mode needs from a ProducerFactory: nothing outside
// this package branches on the mode.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"golang.org/x/sync/errgroup"

	"github.com/soc-tools/xdr-kafka-connector/pkg/enrich"
	"github.com/soc-tools/xdr-kafka-connector/pkg/offsets"
	"github.com/soc-tools/xdr-kafka-connector/pkg/profile"
	"github.com/soc-tools/xdr-kafka-connector/pkg/record"
	"github.com/soc-tools/xdr-kafka-connector/pkg/sink"
	"github.com/soc-tools/xdr-kafka-connector/pkg/source"
	"github.com/soc-tools/xdr-kafka-connector/pkg/telemetry"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
)

// API is what the pipeline needs of the XDR client.
type API interface {
	source.Lister
	enrich.Fetcher
}

// Config holds the pipeline's settings. Zero values take the defaults of the
// stages.
type Config struct {
	Connector string
	Tenant    string
	// MultiTenant marks the records as the tenant's (sink.ForTenant): keys
	// "<tenant>/<key>" and an xdr.tenant header. Off for the env-only
	// single tenant, whose records stay as they always were.
	MultiTenant bool
	Topics      sink.Topics
	Offsets     string // offsets topic
	// Profiles are the output profiles (OUTPUT_PROFILES); the zero value is
	// profile.Default, the native records alone. Topics must name the
	// topics of every profile enabled.
	Profiles profile.Set

	CreateTopics bool  // create missing topics at start
	Partitions   int32 // for created data topics; -1 broker default
	Replication  int16 // for created topics; -1 broker default

	// Delivery is AtLeastOnce (default) or ExactlyOnce. Each mode builds
	// the Kafka clients it needs beyond the pipeline's own (see
	// WithProducers): exactly-once a transactional client with the tenant's
	// id (TransactionalID).
	Delivery string
	// Fencing makes a later owner of the tenant (another process with the
	// same Connector and Tenant) fence this pipeline's writes: at-least-once
	// delivery then writes its offsets in transactions of the tenant's
	// transactional id (see fenced.go); exactly-once fences always.
	Fencing bool

	StartFrom int64 // epoch ms; the watermark of a first start
	Source    source.Config

	RateLimit  int
	RateWindow time.Duration
	Enrich     enrich.Config // Connector and Tenant are filled in from above
	// EnrichBackoff paces retries of failed extra-data calls; nil takes the
	// enricher's default (from 2 s, doubling, up to 2 min).
	EnrichBackoff func() backoff.BackOff
	// Limiter replaces the limiter that start-up restores from the offsets
	// (enrich.Resume); nil is the default.
	Limiter enrich.RateLimiter
	// Bulk is ENRICH_BULK: enrich.BulkAuto, BulkOn or BulkOff. The zero
	// value is off: bulk enrichment needs an API that implements
	// enrich.BulkFetcher, and BulkRateLimit.
	Bulk string
	// BulkSize is ENRICH_BULK_SIZE; 0: xdr.MaxBulkIncidents.
	BulkSize int
	// BulkRateLimit and BulkRateWindow are the budget of bulk calls
	// (ENRICH_BULK_RATE_LIMIT, ENRICH_BULK_RATE_WINDOW), restored like the
	// single endpoint's from the offsets.
	BulkRateLimit  int
	BulkRateWindow time.Duration
	// BulkLimiter replaces the bulk limiter start-up restores; nil is the
	// default.
	BulkLimiter enrich.RateLimiter
	// OnBulkFallback is told, once, that ENRICH_BULK=auto fell back to
	// single calls (enrich.WithBulkFallback).
	OnBulkFallback func(error)
	AlertsLimit    int
	// MaxRecordBytes is KAFKA_MAX_RECORD_BYTES: a larger record goes to the
	// DLQ with an excerpt instead (see record.Oversized). 0: no limit.
	MaxRecordBytes int
	// MaxRetryAfter caps the pause one 429 imposes, on polls and on
	// extra-data calls (XDR_MAX_RETRY_AFTER); 0: xdr.DefaultMaxRetryAfter.
	MaxRetryAfter time.Duration
	// InFlight is the sink's room per class of records (sink.WithInFlight);
	// 0: sink.MaxInFlight.
	InFlight int

	CommitInterval  time.Duration // default 1s
	ShutdownTimeout time.Duration // default 20s: draining in-flight records and the final commit

	// ClientOpts are the Kafka connection options (seeds, SASL, TLS), used
	// for the short-lived reader of the offsets topic.
	ClientOpts []kgo.Opt
}

// Pipeline is one connector instance for one tenant.
type Pipeline struct {
	cfg  Config
	api  API
	kcl  *kgo.Client
	log  *slog.Logger
	now  func() time.Time
	hard context.CancelFunc

	abandonMu sync.Mutex
	abandoned bool

	commit  committer // the delivery mode, chosen once in New
	produce ProducerFactory
	closed  sync.Once
	sink    *sink.Sink
	store   *offsets.Store
	tracker *offsets.Tracker

	enricher *enrich.Enricher
	limiter  enrich.RateLimiter
	bulkLim  enrich.RateLimiter // nil when bulk enrichment is off
	ready    chan struct{}

	// bulkFellBackAt is when this run's enricher fell back from bulk to
	// single calls (epoch ms, 0 until then); every commit after it records
	// it in the state (offsets.Delta.BulkFallbackAt).
	bulkFellBackAt atomic.Int64

	startWatermark int64
	startEmitted   map[string]int64
	observers      []func(source.PollResult, error)
	onAcked        func(xdr.Incident, time.Time)
	tp             trace.TracerProvider

	statsMu  sync.Mutex
	lastPoll source.PollResult
	lastErr  error
	polls    int64
	restrict int64
	commits  int64
	versions int64
	// event classes of hostile replies and oversized records
	oversized int64 // change records dead-lettered for their size
	future    int64 // incidents seen stamped in the future
	clamped   int64 // polls whose mark was held at the clock
	untrusted int64 // total_count values that were missing or contradicted the rows
	dropped   int64 // incidents without id or modification_time
	poisoned  int64 // incidents the client could not decode
	echoes    int64 // echoes of the API key replaced in get_incidents replies
}

// Option configures a Pipeline.
type Option func(*Pipeline)

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(p *Pipeline) { p.log = l } }

// WithPollObserver registers a callback run after every poll (for metrics and
// tests), from the source's goroutine; it must not block.
func WithPollObserver(f func(source.PollResult, error)) Option {
	return func(p *Pipeline) { p.observers = append(p.observers, f) }
}

// WithChangeAcked registers a callback run when Kafka acknowledged the change
// record of an incident version (for freshness measurements), from a producer
// goroutine; it must not block.
func WithChangeAcked(f func(inc xdr.Incident, at time.Time)) Option {
	return func(p *Pipeline) { p.onAcked = f }
}

// WithTracerProvider makes the source and the enricher record spans: a poll
// span whose context the change records carry, and an enrichment span per
// incident under the trace of the change that queued it.
func WithTracerProvider(tp trace.TracerProvider) Option { return func(p *Pipeline) { p.tp = tp } }

// WithClock sets the clock (default time.Now).
func WithClock(now func() time.Time) Option { return func(p *Pipeline) { p.now = now } }

// WithProducers sets how the delivery mode builds the Kafka clients it needs
// beyond the pipeline's own (default: kgo.NewClient with Config.ClientOpts,
// sink.ProducerOpts() and the mode's options).
func WithProducers(f ProducerFactory) Option { return func(p *Pipeline) { p.produce = f } }

// New returns a pipeline that reads through api and writes through kcl, and
// through the clients its delivery mode builds (see WithProducers). kcl must
// have been built with sink.ProducerOpts() and without a transactional id;
// pipelines may share it, and the caller closes it after Run returns. Close
// releases what New built.
func New(cfg Config, api API, kcl *kgo.Client, opts ...Option) (*Pipeline, error) {
	if cfg.CommitInterval <= 0 {
		cfg.CommitInterval = time.Second
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 20 * time.Second
	}
	if cfg.Connector == "" || cfg.Offsets == "" {
		return nil, errors.New("pipeline: connector name and offsets topic are required")
	}
	if cfg.Profiles == (profile.Set{}) {
		cfg.Profiles = profile.Default
	}
	for _, t := range cfg.Profiles.Topics() {
		if cfg.Topics.Name(t) == "" {
			return nil, fmt.Errorf("pipeline: output profiles %s need a name for the %s topic", cfg.Profiles, t)
		}
	}
	p := &Pipeline{cfg: cfg, api: api, kcl: kcl, log: slog.New(slog.DiscardHandler), now: time.Now, tp: noop.NewTracerProvider(),
		ready: make(chan struct{})}
	for _, o := range opts {
		o(p)
	}
	produce := p.produce
	if produce == nil {
		produce = func(opts ...kgo.Opt) (*kgo.Client, error) {
			return kgo.NewClient(append(append(append([]kgo.Opt{}, cfg.ClientOpts...), sink.ProducerOpts()...), opts...)...)
		}
	}
	commit, sinkOpts, err := newCommitter(p, produce)
	if err != nil {
		return nil, err
	}
	p.commit = commit
	if cfg.MultiTenant {
		sinkOpts = append(sinkOpts, sink.ForTenant(cfg.Tenant))
	}
	if cfg.InFlight > 0 {
		sinkOpts = append(sinkOpts, sink.WithInFlight(cfg.InFlight))
	}
	sk, err := sink.New(kcl, cfg.Topics, sinkOpts...)
	if err != nil {
		p.Close()
		return nil, err
	}
	p.sink = sk
	return p, nil
}

// Close releases the Kafka clients the delivery mode built, aborting a
// transaction a failed run left open. Call it once Run has returned, or
// instead of Run; later calls do nothing.
func (p *Pipeline) Close() { p.closed.Do(p.commit.close) }

// Ready is closed once the offsets are loaded and the stages run.
func (p *Pipeline) Ready() <-chan struct{} { return p.ready }

// abandon stops the pipeline at once, as a crash would: no draining and no
// final commit. Run returns soon after. Records already handed to the client
// may or may not reach Kafka. Tests reach it through export_test.go.
func (p *Pipeline) abandon() {
	p.abandonMu.Lock()
	p.abandoned = true
	hard := p.hard
	p.abandonMu.Unlock()
	if hard != nil {
		hard()
	}
}

func (p *Pipeline) isAbandoned() bool {
	p.abandonMu.Lock()
	defer p.abandonMu.Unlock()
	return p.abandoned
}

// Run loads the offsets and runs the stages until ctx is done, then stops
// polling, drains in-flight records for up to ShutdownTimeout, commits what
// Kafka acknowledged and returns nil. It returns an error when a stage fails
// for good (a rejected API key, a record Kafka refused, an unreadable offsets
// topic).
func (p *Pipeline) Run(ctx context.Context) error {
	hardCtx, hard := context.WithCancel(context.WithoutCancel(ctx))
	defer hard()
	p.abandonMu.Lock()
	p.hard = hard
	abandoned := p.abandoned
	p.abandonMu.Unlock()
	if abandoned {
		return nil
	}
	// work ends on a graceful stop or on a crash; hardCtx only on a crash.
	work, stopWork := context.WithCancel(ctx)
	defer stopWork()
	go func() {
		select {
		case <-hardCtx.Done():
			stopWork()
		case <-work.Done():
		}
	}()

	if err := p.start(work); err != nil {
		if p.isAbandoned() || ctx.Err() != nil {
			return nil
		}
		return err
	}
	close(p.ready)

	fatal := make(chan error, 1)
	fail := func(err error) {
		select {
		case fatal <- err:
		default:
		}
		stopWork()
	}

	scfg := p.cfg.Source
	if scfg.MaxRetryAfter == 0 {
		scfg.MaxRetryAfter = p.cfg.MaxRetryAfter
	}
	src, err := source.New(scfg, p.api, source.Start{Watermark: p.startWatermark, Emitted: p.startEmitted},
		p.handleChange(work, fail), source.WithLogger(p.log.With("stage", "source")), source.WithClock(p.now),
		source.WithPollDone(p.pollDone), source.WithTracerProvider(p.tp))
	if err != nil {
		return err
	}

	// stopBy ends SHUTDOWN_TIMEOUT after the work ends (or at a crash): it
	// bounds the draining, the transaction under way and the final commit.
	stopBy, stopNow := context.WithCancel(hardCtx)
	defer stopNow()
	go func() {
		select {
		case <-work.Done():
		case <-hardCtx.Done():
			return
		}
		select {
		case <-time.After(p.cfg.ShutdownTimeout):
			stopNow()
		case <-stopBy.Done():
		}
	}()

	g, gctx := errgroup.WithContext(work)
	g.Go(func() error { return src.Run(gctx) })
	g.Go(func() error { return p.enricher.Run(gctx) })
	g.Go(func() error { return p.commit.loop(gctx, stopBy) })
	err = g.Wait()
	select {
	case ferr := <-fatal:
		err = errors.Join(err, ferr)
	default:
	}
	if p.isAbandoned() {
		return nil
	}
	// Phase two: drain what is in flight, then commit what was acknowledged.
	if errors.Is(err, ErrFenced) {
		return err // the new instance owns the transactional id now
	}
	if cerr := p.commit.finish(stopBy); cerr != nil {
		err = errors.Join(err, cerr)
	}
	return err
}

func (p *Pipeline) handleChange(work context.Context, fail func(error)) source.Handler {
	meta := p.meta()
	return func(ctx context.Context, inc xdr.Incident) error {
		id, t := inc.ID, inc.ModificationTime
		p.tracker.Emitted(id, t)
		pend := offsets.Pending{IncidentID: id, ModificationTime: t, Severity: inc.Severity, FirstQueued: p.now().UnixMilli(),
			TraceParent: telemetry.TraceParent(ctx), AlertCount: inc.AlertCount}
		owed := p.tracker.Owe(pend)
		meta.FetchedAt = p.now().UnixMilli()
		rec := enrich.ChangeRecord(meta, inc)
		if !record.Fits(meta, rec) {
			p.countOversized(ctx, rec)
			rec = record.Oversized(meta, rec, meta.FetchedAt)
		}
		acked := func() {
			p.tracker.Acked(id, t)
			if p.onAcked != nil {
				p.onAcked(inc, p.now())
			}
		}
		recs := []record.Record{rec}
		if !p.cfg.Profiles.NativeOnly() {
			recs = p.cfg.Profiles.Change(meta, inc, rec)
		}
		err := p.sink.Publish(ctx, sink.Changes, recs, func(err error) {
			switch {
			case err == nil:
				acked()
			case work.Err() != nil:
				// Stopping: the version stays in flight, so the watermark
				// stays below it and the next run reads it again.
			case errors.Is(err, record.ErrRejected) && rec.Type != record.TypeDLQ:
				// Kafka refused the record itself: publish its stand-in
				// instead (outside this callback, which must not block).
				p.countOversized(ctx, rec)
				stand := record.Oversized(record.Meta{Connector: meta.Connector, Tenant: meta.Tenant, MaxBytes: meta.MaxBytes}, rec, p.now().UnixMilli())
				go func() {
					if err := p.sink.Publish(ctx, sink.Changes, []record.Record{stand}, func(err error) {
						switch {
						case err == nil:
							acked()
						case work.Err() == nil:
							fail(fmt.Errorf("publishing the stand-in of incident %s version %d: %w", id, t, err))
						}
					}); err != nil && work.Err() == nil {
						fail(err)
					}
				}()
			default:
				fail(fmt.Errorf("publishing incident %s version %d: %w", id, t, err))
			}
		})
		if err != nil {
			return err
		}
		p.statsMu.Lock()
		p.versions++
		p.statsMu.Unlock()
		if owed {
			p.enricher.Enqueue(pend)
		}
		return nil
	}
}

// countOversized counts and logs an incident change record Kafka would not
// take, which goes to the DLQ with an excerpt instead.
func (p *Pipeline) countOversized(ctx context.Context, rec record.Record) {
	p.statsMu.Lock()
	p.oversized++
	p.statsMu.Unlock()
	p.log.WarnContext(ctx, "an incident change record is larger than KAFKA_MAX_RECORD_BYTES (or Kafka refused it); it goes to the DLQ with an excerpt, and the watermark moves on",
		"incident_id", rec.IncidentID, "modification_time", rec.Version, "record_bytes", record.Size(rec), "limit_bytes", p.cfg.MaxRecordBytes)
}

func (p *Pipeline) meta() enrich.Meta {
	return enrich.Meta{Connector: p.cfg.Connector, Tenant: p.cfg.Tenant, AlertsLimit: p.cfg.AlertsLimit, MaxBytes: p.cfg.MaxRecordBytes}
}

func (p *Pipeline) pollDone(r source.PollResult, err error) {
	if err == nil && r.Complete {
		p.tracker.Polled(r.Mark)
	}
	if len(r.Restricted) > 0 {
		p.log.Warn("get_incidents withheld incidents this API key may not read (restricted_incident_ids); grant the key's role access to publish them",
			"count", len(r.Restricted), "incident_ids", r.Restricted)
	}
	p.statsMu.Lock()
	p.polls++
	p.lastPoll = r
	p.lastErr = err
	p.restrict += int64(len(r.Restricted))
	p.future += int64(r.Future)
	p.untrusted += int64(r.Untrusted)
	p.dropped += int64(r.Dropped)
	p.poisoned += int64(r.Poisoned)
	p.echoes += int64(r.KeyEchoes)
	if r.Clamped {
		p.clamped++
	}
	p.statsMu.Unlock()
	for _, f := range p.observers {
		f(r, err)
	}
	p.log.Debug("poll done", "pages", r.Pages, "seen", r.Seen, "emitted", r.Emitted, "complete", r.Complete, "max_modification_time", r.MaxMTime, "err", err)
}

// snapshot is what a commit writes: the tracker's snapshot with what this
// run knows of its enrichment (a fallback to single calls), and, for the
// final commit of a graceful stop, finalDelta's additions.
func (p *Pipeline) snapshot(final bool) offsets.Delta {
	var d offsets.Delta
	if final {
		d = p.finalDelta()
	} else {
		d = p.tracker.Snapshot()
	}
	d.BulkFallbackAt = p.bulkFellBackAt.Load()
	return d
}

// finalDelta is the snapshot of a graceful stop's last commit: it says the
// stop was clean and carries the limiter's history for the next process
// (enrich.Resume).
func (p *Pipeline) finalDelta() offsets.Delta {
	d := p.tracker.Snapshot()
	d.Clean = true
	for _, s := range p.limiter.History() {
		d.RateLog = append(d.RateLog, s.UnixMilli())
	}
	if p.bulkLim != nil {
		for _, s := range p.bulkLim.History() {
			d.BulkRateLog = append(d.BulkRateLog, s.UnixMilli())
		}
	}
	return d
}

// TransactionalID is the transactional id of exactly-once delivery for a
// connector and tenant: a second instance with the same pair fences the first.
func TransactionalID(connector, tenant string) string {
	return "xdr-kafka-connector/" + connector + "/" + tenant
}
