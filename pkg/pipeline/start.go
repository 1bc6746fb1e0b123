package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

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
	if p.cfg.Delivery == ExactlyOnce {
		// Fence any older instance and settle its open transaction before
		// reading the offsets, so what is read is final.
		if err := p.transact(ctx, func() ([]*kgo.Record, []context.Context) {
			return []*kgo.Record{store.FenceRecord()}, nil
		}); err != nil {
			return fmt.Errorf("starting exactly-once delivery: %w", err)
		}
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
	eopts := []enrich.Option{
		enrich.WithLogger(p.log), enrich.WithClock(p.now), enrich.WithTracerProvider(p.tp),
		enrich.WithOnDone(func(it enrich.Item, _ bool) { p.tracker.Settled(it.IncidentID, it.ModificationTime) }),
	}
	if p.cfg.EnrichBackoff != nil {
		eopts = append(eopts, enrich.WithBackoff(p.cfg.EnrichBackoff))
	}
	p.enricher, err = enrich.New(ecfg, lim, p.api, coveringPublisher{p}, eopts...)
	if err != nil {
		return err
	}
	for _, pend := range p.tracker.PendingList() {
		p.enricher.Enqueue(itemOf(pend))
	}
	return nil
}

// limiterMemory carries the rate budget across restarts: a clean stop left
// the exact stamps of its last calls. Otherwise — after a crash, or with no
// committed state at all (an attempt that died before its first commit, or
// another puller of the same key being replaced) — the calls made just
// before this start are unknown, so the first window is treated as spent.
func (p *Pipeline) limiterMemory(st offsets.State, found bool) enrich.LimiterOption {
	if found && st.Clean {
		stamps := make([]time.Time, len(st.RateLog))
		for i, ms := range st.RateLog {
			stamps[i] = time.UnixMilli(ms)
		}
		return enrich.WithHistory(stamps)
	}
	if found {
		p.log.Info("the previous run did not stop cleanly; holding extra-data calls for one rate window in case its last calls spent the budget",
			"window", p.cfg.RateWindow)
	} else {
		p.log.Info("first start: holding extra-data calls for one rate window in case another client of this API key spent the budget just before",
			"window", p.cfg.RateWindow)
	}
	return enrich.WithStartupReserve(p.cfg.RateLimit)
}

// coveringPublisher is the enricher's way into the sink: before handing over
// an enrichment it marks the version the reply showed as being covered, so a
// poll that emits that version meanwhile does not queue a second round.
type coveringPublisher struct{ p *Pipeline }

func (c coveringPublisher) Publish(ctx context.Context, recs []sink.Record, done func(error)) error {
	for _, r := range recs {
		if r.Type != sink.TypeIncidentEnriched {
			continue
		}
		var v struct {
			ID string `json:"incident_id"`
			T  int64  `json:"modification_time"`
		}
		if json.Unmarshal(r.Value, &v) == nil {
			c.p.tracker.Covering(v.ID, v.T)
		}
	}
	return c.p.sink.Publish(ctx, recs, done)
}
