package bench

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/soc-tools/xdr-kafka-connector/pkg/pipeline"
	"github.com/soc-tools/xdr-kafka-connector/pkg/source"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr/xdrtest"
)

// Coalescing counts extra-data calls against published changes when
// incidents change much faster than the rate budget allows enrichments.
type Coalescing struct {
	Changes   int64 // incident versions published (incident.change records)
	Calls     int   // get_incident_extra_data calls the tenant received
	Refused   int   // of which 429
	Enriched  uint64
	Incidents int // incidents at the end of the phase
	Drained   bool
}

// CallsPerChange is Calls / Changes.
func (c Coalescing) CallsPerChange() float64 {
	if c.Changes == 0 {
		return 0
	}
	return float64(c.Calls) / float64(c.Changes)
}

// churnPoll is POLL_INTERVAL of the coalescing phase.
const churnPoll = 500 * time.Millisecond

// runCoalescing changes a small tenant about 50 times a second (a bulk
// update of every incident every 50 steps) for ChurnFor, then stops the
// changes and lets the pipeline read the last versions and drain its queue,
// so every published change has had its chance of an enrichment; only then
// are calls and changes counted.
func runCoalescing(ctx context.Context, cfg Config, brokerAddr string) (Coalescing, error) {
	var c Coalescing
	simCfg := xdrtest.Config{Seed: 13, Incidents: 40, MaxAlerts: 30, RateLimit: cfg.RateLimit, RateWindow: cfg.RateWindow}
	sim := xdrtest.New(simCfg)

	var mu sync.Mutex
	var lastPollStart time.Time
	observe := func(r source.PollResult, err error) {
		if err == nil && r.Complete {
			mu.Lock()
			lastPollStart = r.Started
			mu.Unlock()
		}
	}
	rp, err := startPipeline(ctx, sim, brokerAddr, "churn", simCfg, churnPoll, time.Now().UnixMilli(),
		pipeline.WithPollObserver(observe))
	if err != nil {
		return c, err
	}
	stopMut := runMutations(ctx, sim, xdrtest.MutationConfig{Interval: 20 * time.Millisecond, BulkEvery: 50, BulkSize: 1000})
	sleep(ctx, cfg.ChurnFor)
	_ = stopMut()
	stopped := time.Now()
	c.Incidents = len(sim.IncidentIDs())

	// Drained: a complete poll started after the last change, and every
	// enrichment owed is settled. The queue holds at most one entry per
	// incident, so draining takes at most Incidents / RateLimit windows.
	drainFor := time.Duration(c.Incidents/cfg.RateLimit+3)*cfg.RateWindow + 2*churnPoll + 10*time.Second
	c.Drained = waitUntil(ctx, drainFor, func() bool {
		mu.Lock()
		polled := lastPollStart.After(stopped)
		mu.Unlock()
		s := rp.p.Stats()
		return polled && s.QueueDepth == 0 && s.Enrich.InFlight == 0 && s.Offsets.Pending == 0
	})
	s := rp.p.Stats()
	if err := rp.stop(); err != nil {
		return c, fmt.Errorf("running the pipeline: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return c, err
	}
	c.Changes, c.Calls, c.Refused, c.Enriched = s.Versions, len(sim.ExtraDataCalls()), sim.Count429(), s.Enrich.Enriched
	if c.Changes == 0 {
		return c, fmt.Errorf("no change published")
	}
	return c, nil
}
