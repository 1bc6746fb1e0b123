// Package drain estimates when a tenant's enrichment queue empties, from
// its depth sampled over time: the net drain rate (enrichments done less
// changes arrived) is the least-squares slope of the depth over the last
// few rate windows, bounded by the extra-data budget. The progress display,
// GET /tenants and the enrich_queue_eta metric read the same estimate.
package drain

import (
	"fmt"
	"sync"
	"time"
)

// Window is how far back the drain rate is measured, and minSpan how
// much of it the first estimate needs: several rate windows, since the queue
// drains in bursts of one budget per window, and at least 2 minutes (30 s for
// a first estimate), since changes arrive in bursts too (a bulk update).
func Window(rateWindow time.Duration) (window, minSpan time.Duration) {
	return max(2*time.Minute, 4*rateWindow), max(30*time.Second, 2*rateWindow)
}

// Sample is the enrichment queue's depth at one instant.
type Sample struct {
	At    time.Time
	Depth int
}

// Meter keeps the queue depths of the last window, for From. It is not
// safe for concurrent use: one goroutine samples and estimates.
type Meter struct {
	window, minSpan time.Duration
	budget          float64 // extra-data calls per second the budget allows; 0: unknown
	samples         []Sample
}

// NewMeter returns a meter of the drain window of rateWindow, for a
// budget of limit calls per rateWindow (limit 0: unknown).
func NewMeter(limit int, rateWindow time.Duration) *Meter {
	w, m := Window(rateWindow)
	return &Meter{window: w, minSpan: m, budget: BudgetRate(limit, rateWindow)}
}

// BudgetRate is limit calls per window in calls per second; 0 when either is
// unknown.
func BudgetRate(limit int, window time.Duration) float64 {
	if limit <= 0 || window <= 0 {
		return 0
	}
	return float64(limit) / window.Seconds()
}

// Add records the depth at now and forgets samples older than the window.
func (m *Meter) Add(now time.Time, depth int) {
	m.samples = append(m.samples, Sample{now, depth})
	i := 0
	for i < len(m.samples) && now.Sub(m.samples[i].At) > m.window {
		i++
	}
	m.samples = append(m.samples[:0], m.samples[i:]...)
}

// Estimate is From over the window.
func (m *Meter) Estimate() Estimate { return From(m.samples, m.minSpan, m.budget) }

// DrainWindow is the meter's window (Window of its rate window).
func (m *Meter) DrainWindow() time.Duration { return m.window }

// SetBudget sets the budget the estimate is bounded by: limit calls per
// rateWindow (0: unknown), as NewMeter takes it; the window stays.
func (m *Meter) SetBudget(limit int, rateWindow time.Duration) {
	m.budget = BudgetRate(limit, rateWindow)
}

// SetBudgetRate sets the budget in calls per second (0: unknown).
func (m *Meter) SetBudgetRate(callsPerSecond float64) { m.budget = max(0, callsPerSecond) }

// Budget is the budget in calls per second; 0 when unknown.
func (m *Meter) Budget() float64 { return m.budget }

// Queue trends, as the progress log line names them (enrich_queue_trend).
const (
	Measuring = "measuring" // the samples do not span minSpan yet
	Draining  = "draining"
	Growing   = "growing"
	Steady    = "steady" // neither grows nor drains
	Empty     = "empty"
)

// Estimate says when the enrichment queue empties.
type Estimate struct {
	Trend string        // one of the trend constants; "" when nothing was sampled
	ETA   time.Duration // while draining: the last depth over the net drain rate
	Rate  float64       // net drain rate, incidents per second (negative while growing)
	// Best is the last depth over the budget: the soonest the queue can
	// empty, if no change arrived any more; 0 when the budget is unknown or
	// nothing is queued.
	Best time.Duration
}

// steadyShare is the share of the budget below which a net drain (or
// growth) counts as steady: changes take more than 95 % of the budget, the
// queue swings with their bursts and its depth over such a small rate would
// be an ETA that jumps by the hour with each burst.
const steadyShare = 0.05

// From estimates, from the queue depths of samples (oldest first),
// when the queue empties. The net drain rate is the least-squares slope of
// depth over time, so it counts the enrichments done and the changes that
// arrived alike, and it smooths the bursts of both; the ETA is the last
// depth over that rate. Until the samples span minSpan it only says
// "measuring". A queue that does not shrink has no ETA: it is "growing" or
// "steady".
//
// With the budget known (budget calls per second, > 0) the estimate is
// bounded: the queue cannot drain faster than the budget, so the ETA is at
// least the last depth over the budget (best), and a net rate within
// steadyShare of the budget either way is "steady", so a draining ETA is
// at most 1/steadyShare times best.
func From(samples []Sample, minSpan time.Duration, budget float64) Estimate {
	if len(samples) == 0 {
		return Estimate{}
	}
	last := samples[len(samples)-1]
	if last.Depth == 0 {
		return Estimate{Trend: Empty}
	}
	if len(samples) < 2 || last.At.Sub(samples[0].At) < minSpan {
		return Estimate{Trend: Measuring}
	}
	var mt, md float64
	for _, s := range samples {
		mt += s.At.Sub(samples[0].At).Seconds()
		md += float64(s.Depth)
	}
	mt, md = mt/float64(len(samples)), md/float64(len(samples))
	var cov, vt float64
	for _, s := range samples {
		dt := s.At.Sub(samples[0].At).Seconds() - mt
		cov += dt * (float64(s.Depth) - md)
		vt += dt * dt
	}
	rate := -cov / vt
	var best time.Duration
	band := 0.0 // |rate| within it is steady
	if budget > 0 {
		rate = min(rate, budget)
		best = max(time.Second, time.Duration(float64(last.Depth)/budget*float64(time.Second)).Round(time.Second))
		band = steadyShare * budget
	}
	switch {
	case rate > band:
		eta := time.Duration(float64(last.Depth) / rate * float64(time.Second))
		return Estimate{Trend: Draining, Rate: rate, ETA: max(best, time.Second, eta.Round(time.Second)), Best: best}
	case rate < -band:
		return Estimate{Trend: Growing, Rate: rate, Best: best}
	default:
		return Estimate{Trend: Steady, Rate: rate, Best: best}
	}
}

// shortDuration renders d to the second below an hour (54s, 12m05s) and to
// the minute above (3h07m).
func shortDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	default:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
}

// Note is what follows the queue depth on screen: "(~54s)" while the
// queue drains, "(growing)", "(steady)", or nothing (empty, or measuring).
func (d Estimate) Note() string {
	switch d.Trend {
	case Draining:
		return " (~" + shortDuration(d.ETA) + ")"
	case Growing, Steady:
		return " (" + d.Trend + ")"
	}
	return ""
}

// Tracker is a Meter safe for concurrent use that is sampled when read:
// each Sample adds the queue's depth at that moment, then estimates. Its
// readers — GET /tenants, a metrics scrape — feed the one meter at whatever
// cadence each has; the estimate, a regression over time, does not depend
// on it.
type Tracker struct {
	rateWindow time.Duration
	mu         sync.Mutex
	m          *Meter
}

// NewTracker returns a tracker of a queue drained under a budget per
// rateWindow (ENRICH_RATE_WINDOW).
func NewTracker(rateWindow time.Duration) *Tracker { return &Tracker{rateWindow: rateWindow} }

// Sample records depth at now, for a capacity of capacity incidents a
// second (enrich.Stats.Capacity; 0: unknown), and returns the estimate.
func (t *Tracker) Sample(now time.Time, depth int, capacity float64) Estimate {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.m == nil {
		t.m = NewMeter(0, t.rateWindow)
	}
	t.m.SetBudgetRate(capacity)
	// Readers take now before the lock: one that lost the race samples at
	// the newest instant, so the samples stay in order.
	if n := len(t.m.samples); n > 0 && now.Before(t.m.samples[n-1].At) {
		now = t.m.samples[n-1].At
	}
	t.m.Add(now, depth)
	return t.m.Estimate()
}
