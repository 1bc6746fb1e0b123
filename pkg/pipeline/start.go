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
	p.store = store
	p.startWatermark, p.startEmitted = st.Watermark, st.Emitted
	p.tracker = offsets.NewTracker(st, p.cfg.Source.Lookback.Milliseconds())

	lim := p.cfg.Limiter
	if lim == nil {
		lim, err = enrich.NewLimiter(p.cfg.RateLimit, p.cfg.RateWindow, p.limiterMemory(st, found))
		if err != nil {
			return err
		}
	}
	p.limiter = lim
	ecfg := p.cfg.Enrich
	ecfg.Connector, ecfg.Tenant, ecfg.AlertsLimit = p.cfg.Connector, p.cfg.Tenant, p.cfg.AlertsLimit
	p.enricher, err = enrich.New(ecfg, lim, p.api, p.sink,
		enrich.WithLogger(p.log.With("stage", "enrich")), enrich.WithClock(p.now),
		enrich.WithOnDone(func(it enrich.Item, _ bool) { p.tracker.Settled(it.IncidentID, it.ModificationTime) }))
	if err != nil {
		return err
	}
	for _, pend := range p.tracker.PendingList() {
		p.enricher.Enqueue(itemOf(pend))
	}
	return nil
}

// limiterMemory carries the rate budget across restarts: a clean stop left
// the exact stamps of its last calls; after a crash, the calls made since the
// last commit are unknown, so the first window after start-up is treated as
// spent (every call of the dead process happened before now).
func (p *Pipeline) limiterMemory(st offsets.State, found bool) enrich.LimiterOption {
	switch {
	case !found:
		return enrich.WithHistory(nil)
	case st.Clean:
		stamps := make([]time.Time, len(st.RateLog))
		for i, ms := range st.RateLog {
			stamps[i] = time.UnixMilli(ms)
		}
		return enrich.WithHistory(stamps)
	default:
		p.log.Info("the previous run did not stop cleanly; holding extra-data calls for one rate window in case it spent the budget just before it stopped",
			"window", p.cfg.RateWindow)
		return enrich.WithStartupReserve(p.cfg.RateLimit)
	}
}
