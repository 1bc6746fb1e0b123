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
		lim, err = enrich.NewLimiter(p.cfg.RateLimit, p.cfg.RateWindow)
		if err != nil {
			return err
		}
	}
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
