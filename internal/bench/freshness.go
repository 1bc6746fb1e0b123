package bench

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/soc-tools/xdr-kafka-connector/pkg/pipeline"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr/xdrtest"
)

// Freshness is the delay from a change becoming visible to the API to
// Kafka's acknowledgement of its incident.change record.
type Freshness struct {
	PollInterval time.Duration
	IndexDelay   time.Duration // how long after its stamp a change becomes visible
	Versions     int           // versions that became visible during the phase
	Samples      int           // of which Kafka acknowledged a record
	P50, P99     time.Duration
	Max          time.Duration
}

// Missing is the number of versions without an acknowledged record.
func (f Freshness) Missing() int { return f.Versions - f.Samples }

// P99Ratio is p99 / POLL_INTERVAL.
func (f Freshness) P99Ratio() float64 { return f.P99.Seconds() / f.PollInterval.Seconds() }

type versionKey struct {
	id string
	t  int64
}

// runFreshness runs the pipeline, caught up, while the tenant changes a few
// times a second, and times every version from VisibleAt to the
// acknowledgement of its change record (pipeline.WithChangeAcked). The
// enrichment budget is generous (100 per second) so nothing queues; the change
// record never waits for enrichment anyway. Each version stays current for
// at least two poll intervals, so every one is read rather than superseded
// unseen (which would drop the slow samples and flatter the figure).
func runFreshness(ctx context.Context, cfg Config, brokerAddr string) (Freshness, error) {
	const indexDelay = 500 * time.Millisecond
	f := Freshness{PollInterval: cfg.PollInterval, IndexDelay: indexDelay}
	simCfg := xdrtest.Config{Seed: 12, Incidents: 300, MaxAlerts: 30, RateLimit: 100, RateWindow: time.Second, IndexDelay: indexDelay}
	sim := xdrtest.New(simCfg)

	var mu sync.Mutex
	acked := map[versionKey]time.Time{}
	onAcked := func(inc xdr.Incident, at time.Time) {
		mu.Lock()
		defer mu.Unlock()
		k := versionKey{inc.ID, inc.ModificationTime}
		if _, seen := acked[k]; !seen {
			acked[k] = at
		}
	}
	rp, err := startPipeline(ctx, sim, brokerAddr, "fresh", simCfg, cfg.PollInterval, time.Now().UnixMilli(),
		pipeline.WithChangeAcked(onAcked))
	if err != nil {
		return f, err
	}
	from := time.Now().UnixMilli()
	stopMut := runMutations(ctx, sim, xdrtest.MutationConfig{Interval: 100 * time.Millisecond,
		MinVersionAge: 2*cfg.PollInterval + indexDelay})
	sleep(ctx, cfg.FreshFor)
	_ = stopMut()
	until := time.Now().UnixMilli()

	var want []xdrtest.Version
	for _, v := range sim.Versions() {
		if v.VisibleAt >= from && v.VisibleAt <= until+indexDelay.Milliseconds() {
			want = append(want, v)
		}
	}
	all := func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, v := range want {
			if _, ok := acked[versionKey{v.IncidentID, v.ModificationTime}]; !ok {
				return false
			}
		}
		return true
	}
	waitUntil(ctx, 2*cfg.PollInterval+indexDelay+10*time.Second, all)
	if err := rp.stop(); err != nil {
		return f, fmt.Errorf("running the pipeline: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return f, err
	}

	mu.Lock()
	defer mu.Unlock()
	var lat []time.Duration
	for _, v := range want {
		if at, ok := acked[versionKey{v.IncidentID, v.ModificationTime}]; ok {
			lat = append(lat, at.Sub(time.UnixMilli(v.VisibleAt)))
		}
	}
	f.Versions, f.Samples = len(want), len(lat)
	if len(lat) == 0 {
		return f, fmt.Errorf("no change record acknowledged out of %d versions", len(want))
	}
	slices.Sort(lat)
	f.P50, f.P99, f.Max = percentile(lat, 0.50), percentile(lat, 0.99), lat[len(lat)-1]
	return f, nil
}

// percentile returns the nearest-rank q-quantile of sorted xs.
func percentile(sorted []time.Duration, q float64) time.Duration {
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
