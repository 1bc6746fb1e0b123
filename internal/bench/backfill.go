package bench

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/soc-tools/xdr-kafka-connector/pkg/enrich"
	"github.com/soc-tools/xdr-kafka-connector/pkg/offsets"
	"github.com/soc-tools/xdr-kafka-connector/pkg/record"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr/xdrtest"
)

// Backfill holds the figures of the backfill phase: one backlog of owed
// enrichments drained once with ENRICH_BULK=on and once with ENRICH_BULK=off,
// against two identical simulated tenants whose two extra-data endpoints
// each allow Limit calls per Window.
type Backfill struct {
	Backlog  int // incidents owed an enrichment
	AboveCap int // of them, incidents with more alerts than AlertsCap
	Alerts   int // alerts of the whole backlog
	// AlertsCap is the tenant's alerts_limit_per_incident: the most alerts
	// one item of a bulk reply carries.
	AlertsCap int
	Limit     int
	Window    time.Duration
	Bulk      BackfillRun // ENRICH_BULK=on, drained to the end
	Single    BackfillRun // ENRICH_BULK=off, drained for a bounded time
}

// BackfillRun is one drain of the backlog.
type BackfillRun struct {
	// Ran is how long the enricher ran: until the backlog was drained, or
	// the bound of a run that could not drain it in time.
	Ran time.Duration
	// Drained reports whether every incident of the backlog was enriched
	// within Ran.
	Drained bool
	// Enriched is how many incidents of the backlog have their enriched
	// record published; Complete, how many of them with every alert the
	// tenant holds for them (none lost to alerts_limit_per_incident).
	Enriched, Complete int
	// BulkCalls and SingleCalls are the calls each endpoint received,
	// refused ones included; Bulk429 and Single429 the refusals.
	BulkCalls, SingleCalls int
	Bulk429, Single429     int
}

// Calls is the run's API calls, both endpoints.
func (r BackfillRun) Calls() int { return r.BulkCalls + r.SingleCalls }

// Refused is the run's 429s, both endpoints.
func (r BackfillRun) Refused() int { return r.Bulk429 + r.Single429 }

// DrainTime is the time the run took to drain the backlog, or, for a run
// that did not drain it, the time extrapolated from its rate: Ran × backlog
// / enriched. Extrapolated reports which.
func (r BackfillRun) DrainTime(backlog int) (d time.Duration, extrapolated bool) {
	if r.Drained || r.Enriched == 0 {
		return r.Ran, false
	}
	return time.Duration(float64(r.Ran) * float64(backlog) / float64(r.Enriched)), true
}

// CallsToDrain is the calls the run made to drain the backlog, or, for a
// run that did not drain it, extrapolated as DrainTime is.
func (r BackfillRun) CallsToDrain(backlog int) float64 {
	if r.Drained || r.Enriched == 0 {
		return float64(r.Calls())
	}
	return float64(r.Calls()) * float64(backlog) / float64(r.Enriched)
}

// Allowed is the most calls one endpoint could have made in the run: Limit
// at once, then Limit per Window (a sliding log's ceiling).
func (b Backfill) Allowed(r BackfillRun) int {
	if b.Window <= 0 {
		return 0
	}
	return b.Limit * (1 + int(r.Ran/b.Window))
}

// Speedup is the single run's drain time over the bulk run's.
func (b Backfill) Speedup() float64 {
	bulk, _ := b.Bulk.DrainTime(b.Backlog)
	single, _ := b.Single.DrainTime(b.Backlog)
	if bulk <= 0 {
		return 0
	}
	return float64(single) / float64(bulk)
}

// CallRatio is the single run's calls to drain over the bulk run's.
func (b Backfill) CallRatio() float64 {
	bulk := b.Bulk.CallsToDrain(b.Backlog)
	if bulk <= 0 {
		return 0
	}
	return b.Single.CallsToDrain(b.Backlog) / bulk
}

// backfillAboveCapShare is the share of the backlog with more alerts than the
// tenant's alerts_limit_per_incident: a few, as on a real tenant, where most
// incidents hold a handful of alerts. Each of them costs one
// get_incident_extra_data call beside its share of a bulk call, so it bounds
// the call ratio: 1 / (1/100 + share).
const backfillAboveCapShare = 0.01

// backfillMaxAlerts bounds the alerts of one incident of the phase's tenant:
// above the bulk cap, below ALERTS_LIMIT (1,000), so a single call delivers
// every alert.
const backfillMaxAlerts = 300

// runBackfill builds the backlog from a tenant's generated incidents (those
// with at most the cap's alerts, and backfillAboveCapShare of the backlog
// above it), then drains it with bulk on to the end, and with bulk off for at
// most singleFor, each against a fresh tenant of the same Config.
func runBackfill(ctx context.Context, cfg Config) (Backfill, error) {
	n, w := cfg.RateLimit, cfg.BackfillWindow
	simCfg := xdrtest.Config{Seed: 23, Incidents: cfg.BackfillIncidents + cfg.BackfillIncidents/10 + 50, MaxAlerts: backfillMaxAlerts,
		RateLimit: n, RateWindow: w, BulkRateLimit: n, BulkRateWindow: w}
	probe := xdrtest.New(simCfg)
	b := Backfill{Backlog: cfg.BackfillIncidents, AlertsCap: probe.AlertsLimitPerIncident(), Limit: n, Window: w}
	wantAbove := max(1, int(float64(b.Backlog)*backfillAboveCapShare+0.5))
	var backlog []string
	want := map[string]int{}
	for _, id := range probe.IncidentIDs() {
		tr, _ := probe.Truth(id)
		above := tr.AlertCount > b.AlertsCap
		if above && b.AboveCap >= wantAbove || !above && len(backlog)-b.AboveCap >= b.Backlog-wantAbove {
			continue
		}
		if above {
			b.AboveCap++
		}
		backlog = append(backlog, id)
		want[id] = tr.AlertCount
		b.Alerts += tr.AlertCount
	}
	if len(backlog) != b.Backlog {
		return b, fmt.Errorf("the tenant generated only %d of %d incidents for the backlog", len(backlog), b.Backlog)
	}
	var err error
	if b.Bulk, err = drainBackfill(ctx, xdrtest.New(simCfg), n, w, enrich.BulkOn, backlog, want, cfg.BackfillBulkFor); err != nil {
		return b, fmt.Errorf("draining with bulk: %w", err)
	}
	if b.Single, err = drainBackfill(ctx, xdrtest.New(simCfg), n, w, enrich.BulkOff, backlog, want, cfg.BackfillSingleFor); err != nil {
		return b, fmt.Errorf("draining with single calls: %w", err)
	}
	return b, nil
}

// drainBackfill runs the enrichment stage in mode over backlog until every
// incident of it has its enriched record, or for at most bound.
func drainBackfill(ctx context.Context, sim *xdrtest.Tenant, n int, w time.Duration, mode string, backlog []string, want map[string]int, bound time.Duration) (BackfillRun, error) {
	var r BackfillRun
	api, _, stop, err := newSimClient(sim)
	if err != nil {
		return r, err
	}
	defer stop()
	lim, err := enrich.NewLimiter(n, w)
	if err != nil {
		return r, err
	}
	bulkLim, err := enrich.NewLimiter(n, w)
	if err != nil {
		return r, err
	}
	rctx, cancel := context.WithTimeout(ctx, bound)
	defer cancel()
	pub := &backfillPublisher{want: want, alerts: map[string]map[string]bool{}, enriched: map[string]bool{}, done: cancel}
	e, err := enrich.New(enrich.Config{Connector: "bench", Workers: budgetWorkers, Bulk: mode}, lim, api, pub, enrich.WithBulk(api, bulkLim))
	if err != nil {
		return r, err
	}
	for _, id := range backlog {
		e.Enqueue(offsets.Pending{IncidentID: id, ModificationTime: 1, Severity: "low"})
	}
	start := time.Now()
	if err := e.Run(rctx); err != nil {
		return r, fmt.Errorf("running the enricher: %w", err)
	}
	r.Ran = time.Since(start)
	if err := ctx.Err(); err != nil {
		return r, err
	}
	pub.mu.Lock()
	r.Enriched, r.Complete = pub.counts()
	pub.mu.Unlock()
	r.Drained = r.Enriched == len(backlog)
	for _, c := range sim.BulkCalls() {
		r.BulkCalls++
		if c.Status == http.StatusTooManyRequests {
			r.Bulk429++
		}
	}
	for _, c := range sim.ExtraDataCalls() {
		r.SingleCalls++
		if c.Status == http.StatusTooManyRequests {
			r.Single429++
		}
	}
	return r, nil
}

// backfillPublisher acknowledges every record at once and keeps, per
// incident of the backlog, whether its enriched record came and the distinct
// alerts published for it; done is called once every incident has both.
type backfillPublisher struct {
	want map[string]int // alerts the tenant holds per incident of the backlog

	mu       sync.Mutex
	alerts   map[string]map[string]bool // incident -> alert record keys
	enriched map[string]bool
	done     func()
}

func (p *backfillPublisher) Publish(_ context.Context, recs []record.Record, ack func(error)) error {
	p.mu.Lock()
	for _, rec := range recs {
		if _, ok := p.want[rec.IncidentID]; !ok {
			continue
		}
		switch rec.Type {
		case record.TypeIncidentEnriched:
			p.enriched[rec.IncidentID] = true
		case record.TypeAlert:
			m := p.alerts[rec.IncidentID]
			if m == nil {
				m = map[string]bool{}
				p.alerts[rec.IncidentID] = m
			}
			m[string(rec.Key)] = true
		}
	}
	var done func()
	if len(p.enriched) == len(p.want) {
		done, p.done = p.done, nil
	}
	p.mu.Unlock()
	go ack(nil)
	if done != nil {
		done()
	}
	return nil
}

// counts returns how many incidents have their enriched record, and how many
// of those have every alert. p.mu must be held.
func (p *backfillPublisher) counts() (enriched, complete int) {
	for id := range p.enriched {
		enriched++
		if len(p.alerts[id]) >= p.want[id] {
			complete++
		}
	}
	return enriched, complete
}
