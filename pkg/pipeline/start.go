package pipeline

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/soc-tools/xdr-kafka-connector/pkg/enrich"
	"github.com/soc-tools/xdr-kafka-connector/pkg/offsets"
	"github.com/soc-tools/xdr-kafka-connector/pkg/sink"
)

// start creates missing topics, loads the offsets and builds the tracker and
// the enricher, queueing again every enrichment still owed.
func (p *Pipeline) start(ctx context.Context) error {
	if p.cfg.CreateTopics {
		adm := kadm.NewClient(p.kcl)
		if err := sink.EnsureTopics(ctx, adm, p.cfg.Topics, p.cfg.Partitions, p.cfg.Replication); err != nil {
			return err
		}
		if err := offsets.EnsureTopic(ctx, adm, p.cfg.Offsets, p.cfg.Replication); err != nil {
			return err
		}
	}
	store, err := offsets.NewStore(p.kcl, offsets.StoreConfig{
		Topic: p.cfg.Offsets, Connector: p.cfg.Connector, Tenant: p.cfg.Tenant,
		ClientOpts: p.cfg.ClientOpts, Now: p.now,
	})
	if err != nil {
		return err
	}
	p.store = store
	if err := p.commit.begin(ctx); err != nil {
		return err
	}
	st, found, err := store.Load(ctx)
	if err != nil {
		return fmt.Errorf("loading offsets: %w", err)
	}
	if !found {
		st.Watermark = p.cfg.StartFrom
		p.log.Info("no committed offsets; starting from START_FROM", "watermark", time.UnixMilli(st.Watermark).UTC())
	} else {
		p.log.Info("resuming from committed offsets", "watermark", time.UnixMilli(st.Watermark).UTC(),
			"emitted_in_lookback", len(st.Emitted), "pending_enrichments", len(st.Pending))
	}
	if found && st.BulkFallbackAt != 0 && p.cfg.Bulk == enrich.BulkAuto {
		p.log.Info("the previous run fell back to single extra-data calls (the tenant did not serve get_multiple_incidents_extra_data); this run tries the bulk endpoint again",
			"fell_back_at", time.UnixMilli(st.BulkFallbackAt).UTC())
	}
	p.startWatermark, p.startEmitted = st.Watermark, st.Emitted
	p.tracker = offsets.NewTracker(st, p.cfg.Source.Lookback.Milliseconds())
	if d := p.cfg.Source.FutureTolerance; d > 0 {
		p.tracker.SetFutureTolerance(d)
	}
	if ids := p.tracker.Redriving(); len(ids) > 0 {
		shown := ids
		if len(shown) > maxRedrivesLogged {
			shown = shown[:maxRedrivesLogged]
		}
		p.log.Info("applying redrive requests: each incident is owed an enrichment again", "count", len(ids), "incidents", shown)
	}

	p.limiter = p.cfg.Limiter
	if p.limiter == nil {
		if p.limiter, err = p.resumeLimiter(st, found); err != nil {
			return err
		}
	}
	ecfg := p.cfg.Enrich
	ecfg.Connector, ecfg.Tenant, ecfg.AlertsLimit, ecfg.MaxRecordBytes = p.cfg.Connector, p.cfg.Tenant, p.cfg.AlertsLimit, p.cfg.MaxRecordBytes
	ecfg.Bulk, ecfg.BulkSize = p.cfg.Bulk, p.cfg.BulkSize
	if ecfg.Bulk == "" {
		ecfg.Bulk = enrich.BulkOff
	}
	var bulkOpts []enrich.Option
	if bf, ok := p.api.(enrich.BulkFetcher); ok && ecfg.Bulk != enrich.BulkOff {
		p.bulkLim = p.cfg.BulkLimiter
		if p.bulkLim == nil {
			if p.bulkLim, err = p.resumeBulkLimiter(st, found); err != nil {
				return err
			}
		}
		bulkOpts = append(bulkOpts, enrich.WithBulk(bf, p.bulkLim), enrich.WithBulkFallback(p.bulkFallback))
	}
	eopts := []enrich.Option{
		enrich.WithLogger(p.log), enrich.WithClock(p.now), enrich.WithTracerProvider(p.tp),
		enrich.WithOnDone(func(it offsets.Pending, _ bool) { p.tracker.Settled(it.IncidentID, it.ModificationTime) }),
		enrich.WithCovering(p.tracker.Covering),
	}
	if !p.cfg.Profiles.NativeOnly() {
		eopts = append(eopts, enrich.WithRecords(p.cfg.Profiles.Enriched))
	}
	if p.cfg.EnrichBackoff != nil {
		eopts = append(eopts, enrich.WithBackoff(p.cfg.EnrichBackoff))
	}
	eopts = append(eopts, bulkOpts...)
	p.enricher, err = enrich.New(ecfg, p.limiter, p.api, p.sink.For(sink.Enrichments), eopts...)
	if err != nil {
		return err
	}
	for _, pend := range p.tracker.PendingList() {
		p.enricher.Enqueue(pend)
	}
	return nil
}

// resumeBulkLimiter restores the bulk endpoint's budget from the offsets by
// the same policy as the single endpoint's; state written before bulk
// enrichment has no bulk history and counts as none.
func (p *Pipeline) resumeBulkLimiter(st offsets.State, found bool) (enrich.RateLimiter, error) {
	n, window := p.cfg.BulkRateLimit, p.cfg.BulkRateWindow
	if n <= 0 {
		n = 10
	}
	if window <= 0 {
		window = time.Minute
	}
	var opts []enrich.LimiterOption
	if p.cfg.MaxRetryAfter > 0 {
		opts = append(opts, enrich.WithMaxPause(p.cfg.MaxRetryAfter))
	}
	return enrich.Resume(n, window, found && st.Clean, st.BulkRateLog, opts...)
}

// bulkFallback is told that ENRICH_BULK=auto fell back to single calls. The
// commits from now on record when (offsets.State.BulkFallbackAt), for
// `connector status`.
func (p *Pipeline) bulkFallback(err error) {
	p.bulkFellBackAt.CompareAndSwap(0, p.now().UnixMilli())
	if p.cfg.OnBulkFallback != nil {
		p.cfg.OnBulkFallback(err)
	}
}

// maxRedrivesLogged bounds the incident ids the start-up log line names.
const maxRedrivesLogged = 20

// resumeLimiter restores the rate budget from the offsets (enrich.Resume
// holds the policy) and says which case applies.
func (p *Pipeline) resumeLimiter(st offsets.State, found bool) (enrich.RateLimiter, error) {
	switch {
	case found && st.Clean:
	case found:
		p.log.Info("the previous run did not stop cleanly; holding extra-data calls for one rate window in case its last calls spent the budget",
			"window", p.cfg.RateWindow)
	default:
		p.log.Info("first start: holding extra-data calls for one rate window in case another client of this API key spent the budget just before",
			"window", p.cfg.RateWindow)
	}
	var opts []enrich.LimiterOption
	if p.cfg.MaxRetryAfter > 0 {
		opts = append(opts, enrich.WithMaxPause(p.cfg.MaxRetryAfter))
	}
	return enrich.Resume(p.cfg.RateLimit, p.cfg.RateWindow, found && st.Clean, st.RateLog, opts...)
}
