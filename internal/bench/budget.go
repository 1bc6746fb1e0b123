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
	"github.com/soc-tools/xdr-kafka-connector/pkg/sink"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr/xdrtest"
)

// BudgetRun is what one limiter achieved against the tenant's strict
// sliding window while draining a backlog, as the tenant logged it.
type BudgetRun struct {
	Calls    int           // get_incident_extra_data calls the tenant received
	Admitted int           // calls answered without 429
	Refused  int           // calls answered 429 by the sliding window
	Span     time.Duration // first call to last admitted call
	// SlowestReuse is the longest time between an admitted call and the
	// n-th admitted call after it: a window plus the slowest call's latency
	// for a limiter that keeps every slot busy.
	SlowestReuse time.Duration
	// Use is the share of the allowed calls that were admitted: after the
	// first window's n, the window allows n calls per window, so
	// Use = (Admitted - n) / (n × Span / window).
	Use float64
}

// Budget compares our limiter with the naive token bucket.
type Budget struct {
	Limit   int
	Window  time.Duration
	Backlog int
	Ours    BudgetRun // enrich.Limiter + enrich.Enricher
	Naive   BudgetRun // rate.Limiter(n per window, burst n), 429s retried through it
}

// budgetWorkers is the number of concurrent callers on both sides: the
// connector's default ENRICH_WORKERS.
const budgetWorkers = enrich.DefaultWorkers

// runBudget drains the same backlog through both limiters at the same time,
// each against its own tenant built from the same Config (a shared tenant
// would mix their calls in one window), for BudgetWindows windows.
func runBudget(ctx context.Context, cfg Config) (Budget, error) {
	n, w := cfg.RateLimit, cfg.RateWindow
	b := Budget{Limit: n, Window: w, Backlog: n * (cfg.BudgetWindows + 5)}
	simCfg := xdrtest.Config{Seed: 11, Incidents: b.Backlog, MaxAlerts: 50, RateLimit: n, RateWindow: w}
	run := cfg.RateWindow * time.Duration(cfg.BudgetWindows)

	ours, naive := xdrtest.New(simCfg), xdrtest.New(simCfg)
	g, gctx := errgroup.WithContext(ctx)
	g.Go(func() error { return drainOurs(gctx, ours, n, w, run) })
	g.Go(func() error { return drainNaive(gctx, naive, n, w, run) })
	if err := g.Wait(); err != nil {
		return b, err
	}
	b.Ours = budgetUse(ours.ExtraDataCalls(), n, w)
	b.Naive = budgetUse(naive.ExtraDataCalls(), n, w)
	if b.Ours.Calls == 0 || b.Naive.Calls == 0 {
		return b, fmt.Errorf("no extra-data calls reached the tenant (ours %d, naive %d)", b.Ours.Calls, b.Naive.Calls)
	}
	return b, nil
}

// budgetUse derives a BudgetRun from a tenant's call log.
func budgetUse(calls []xdrtest.Call, n int, w time.Duration) BudgetRun {
	slices.SortFunc(calls, func(a, b xdrtest.Call) int { return a.Time.Compare(b.Time) })
	var r BudgetRun
	var admitted []time.Time
	for _, c := range calls {
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
	if r.Admitted > n {
		r.Span = admitted[len(admitted)-1].Sub(calls[0].Time)
		r.Use = float64(r.Admitted-n) / (float64(n) * r.Span.Seconds() / w.Seconds())
	}
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

func (discardPublisher) Publish(_ context.Context, _ []sink.Record, done func(error)) error {
	go done(nil)
	return nil
}

// drainOurs runs the connector's enrichment stage over the whole tenant for d.
func drainOurs(ctx context.Context, sim *xdrtest.Tenant, n int, w, d time.Duration) error {
	api, _, stop, err := newSimClient(sim)
	if err != nil {
		return err
	}
	defer stop()
	lim, err := enrich.NewLimiter(n, w)
	if err != nil {
		return err
	}
	e, err := enrich.New(enrich.Config{Connector: "bench", Workers: budgetWorkers}, lim, api, discardPublisher{})
	if err != nil {
		return err
	}
	for _, id := range sim.IncidentIDs() {
		e.Enqueue(enrich.Item{IncidentID: id, ModificationTime: 1, Severity: "low"})
	}
	rctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	if err := e.Run(rctx); err != nil {
		return fmt.Errorf("running the enricher: %w", err)
	}
	return ctx.Err()
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
