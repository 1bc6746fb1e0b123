package bench

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"

	"github.com/soc-tools/xdr-kafka-connector/pkg/enrich"
	"github.com/soc-tools/xdr-kafka-connector/pkg/offsets"
	"github.com/soc-tools/xdr-kafka-connector/pkg/record"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr/xdrtest"
)

// BudgetRun is what one limiter achieved against the tenant's strict
// sliding window while draining a backlog, as the tenant logged it, over the
// measured interval: BudgetWindows windows from the first call.
type BudgetRun struct {
	Calls    int // get_incident_extra_data calls the tenant received in the interval
	Admitted int // of which answered without 429
	Refused  int // of which answered 429 by the sliding window
	Allowed  int // the most a strict sliding window admits in the interval: n per window
	// Use is Admitted / Allowed: the share of the budget spent on calls
	// that did work.
	Use float64
	// SlowestReuse is the longest time between an admitted call and the
	// n-th admitted call after it: a window plus the slowest call's latency
	// for a limiter that keeps every slot busy.
	SlowestReuse time.Duration
}

// Budget compares our limiter with the naive token bucket.
type Budget struct {
	Limit   int
	Window  time.Duration
	Windows int // measured
	Backlog int
	Ours    BudgetRun // enrich.Limiter + enrich.Enricher
	// OursRetries counts our calls repeated after a failure other than
	// 429 (a reset connection, a timeout): each holds a slot through its
	// backoff, so a non-zero count explains a dip in Ours.Use.
	OursRetries uint64
	Naive       BudgetRun // rate.Limiter(n per window, burst n), 429s retried through it
}

// budgetWorkers is the number of concurrent callers on both sides: the
// connector's default ENRICH_WORKERS.
const budgetWorkers = enrich.DefaultWorkers

// runBudget drains the same backlog through both limiters at the same time,
// each against its own tenant built from the same Config (a shared tenant
// would mix their calls in one window), for BudgetWindows windows.
func runBudget(ctx context.Context, cfg Config) (Budget, error) {
	n, w := cfg.RateLimit, cfg.RateWindow
	b := Budget{Limit: n, Window: w, Windows: cfg.BudgetWindows, Backlog: n * (cfg.BudgetWindows + 5)}
	simCfg := xdrtest.Config{Seed: 11, Incidents: b.Backlog, MaxAlerts: 50, RateLimit: n, RateWindow: w}
	// Run half a window longer than measured, so the interval is whole
	// however late the first call comes.
	run := cfg.RateWindow*time.Duration(cfg.BudgetWindows) + cfg.RateWindow/2

	ours, naive := xdrtest.New(simCfg), xdrtest.New(simCfg)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error {
		var err error
		b.OursRetries, err = drainOurs(gctx, ours, n, w, run)
		return err
	})
	g.Go(func() error { return drainNaive(gctx, naive, n, w, run) })
	if err := g.Wait(); err != nil {
		return b, err
	}
	b.Ours = budgetUse(ours.ExtraDataCalls(), n, w, cfg.BudgetWindows)
	b.Naive = budgetUse(naive.ExtraDataCalls(), n, w, cfg.BudgetWindows)
	if b.Ours.Calls == 0 || b.Naive.Calls == 0 {
		return b, fmt.Errorf("no extra-data calls reached the tenant (ours %d, naive %d)", b.Ours.Calls, b.Naive.Calls)
	}
	return b, nil
}

// budgetUse derives a BudgetRun from a tenant's call log, counting the calls
// that arrived in [first call, first call + windows × w).
func budgetUse(calls []xdrtest.Call, n int, w time.Duration, windows int) BudgetRun {
	r := BudgetRun{Allowed: n * windows}
	if len(calls) == 0 {
		return r
	}
	slices.SortFunc(calls, func(a, b xdrtest.Call) int { return a.Time.Compare(b.Time) })
	end := calls[0].Time.Add(w * time.Duration(windows))
	var admitted []time.Time
	for _, c := range calls {
		if !c.Time.Before(end) {
			break
		}
		r.Calls++
		if c.Status == http.StatusTooManyRequests {
			r.Refused++
			continue
		}
		r.Admitted++
		admitted = append(admitted, c.Time)
	}
	for i := n; i < len(admitted); i++ {
		r.SlowestReuse = max(r.SlowestReuse, admitted[i].Sub(admitted[i-n]))
	}
	r.Use = float64(r.Admitted) / float64(r.Allowed)
	return r
}

// newSimClient starts sim on loopback and returns a client for it and the
// function that stops the server.
func newSimClient(sim *xdrtest.Tenant) (*xdr.Client, string, func(), error) {
	base, stop := sim.Start()
	id, key := sim.Credentials()
	api, err := xdr.New(xdr.Config{BaseURL: base, KeyID: id, Key: xdr.NewSecret(key), Timeout: 10 * time.Second})
	if err != nil {
		stop()
		return nil, "", nil, fmt.Errorf("creating the API client: %w", err)
	}
	return api, base, stop, nil
}

// discardPublisher acknowledges every record at once: the budget phase
// measures calls, not Kafka.
type discardPublisher struct{}

func (discardPublisher) Publish(_ context.Context, _ []record.Record, done func(error)) error {
	go done(nil)
	return nil
}

// drainOurs runs the connector's enrichment stage over the whole tenant for
// d and returns its retry count.
func drainOurs(ctx context.Context, sim *xdrtest.Tenant, n int, w, d time.Duration) (retries uint64, err error) {
	api, _, stop, err := newSimClient(sim)
	if err != nil {
		return 0, err
	}
	defer stop()
	lim, err := enrich.NewLimiter(n, w)
	if err != nil {
		return 0, err
	}
	e, err := enrich.New(enrich.Config{Connector: "bench", Workers: budgetWorkers}, lim, api, discardPublisher{})
	if err != nil {
		return 0, err
	}
	for _, id := range sim.IncidentIDs() {
		e.Enqueue(offsets.Pending{IncidentID: id, ModificationTime: 1, Severity: "low"})
	}
	rctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	if err := e.Run(rctx); err != nil {
		return 0, fmt.Errorf("running the enricher: %w", err)
	}
	return e.Stats().Retries, ctx.Err()
}

// drainNaive is the baseline: the same client and worker count behind a
// token bucket of rate n per window and burst n, the usual reading of "10
// requests per minute". A call refused with 429 is retried through the
// bucket; other failures drop the incident.
func drainNaive(ctx context.Context, sim *xdrtest.Tenant, n int, w, d time.Duration) error {
	api, _, stop, err := newSimClient(sim)
	if err != nil {
		return err
	}
	defer stop()
	bucket := rate.NewLimiter(rate.Every(w/time.Duration(n)), n)
	rctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	ids := make(chan string, len(sim.IncidentIDs()))
	for _, id := range sim.IncidentIDs() {
		ids <- id
	}
	close(ids)
	var wg sync.WaitGroup
	for range budgetWorkers {
		wg.Go(func() {
			for id := range ids {
				for {
					if bucket.Wait(rctx) != nil {
						return
					}
					_, err := api.GetIncidentExtraData(rctx, xdr.ExtraDataRequest{IncidentID: id, AlertsLimit: xdr.DefaultAlertsLimit})
					if ae, ok := errors.AsType[*xdr.APIError](err); !ok || ae.Status != http.StatusTooManyRequests {
						break
					}
				}
			}
		})
	}
	wg.Wait()
	return ctx.Err()
}
