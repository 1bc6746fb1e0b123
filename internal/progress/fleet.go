package progress

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/soc-tools/xdr-kafka-connector/internal/app"
	"github.com/soc-tools/xdr-kafka-connector/pkg/drain"
)

// fleetTop is how many tenants the display lists, the largest backlogs and
// the failed ones first.
const fleetTop = 8

// StartFleet shows the tenants of a tenants file on out until the
// returned stop is called: a block redrawn in place every 2 s on a terminal
// (on scr, which the logs write through; a total line, then one line per
// tenant for the top fleetTop), otherwise a "progress" log line every 15 s
// with the totals and the top tenants. Each tenant's queue shows when it
// empties at its measured drain rate (see estimateDrain).
func StartFleet(ctx context.Context, statuses func() []app.TenantStatus, out io.Writer, log *slog.Logger, scr *Screen) (stop func()) {
	tty := IsTerminal(out)
	every := logEvery
	if tty {
		every = 2 * time.Second
	}
	if scr == nil {
		scr = NewScreen(out)
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(min(every, 2*time.Second))
		defer t.Stop()
		meters := fleetMeters{}
		next := time.Now().Add(every)
		for {
			var now time.Time
			select {
			case <-ctx.Done():
				scr.end()
				return
			case now = <-t.C:
			}
			ss := statuses()
			est := meters.add(now, ss)
			if now.Before(next) {
				continue
			}
			next = now.Add(every)
			lines := fleetLines(ss, est)
			if tty {
				scr.drawBlock(lines)
				continue
			}
			log.Info("progress", "tenants", lines[0], "top", strings.Join(lines[1:], "; "))
		}
	})
	return func() { cancel(); wg.Wait() }
}

// fleetMeters measures each tenant's queue over the drain window of its rate
// window, and the total over the longest.
type fleetMeters map[string]*drain.Meter

// totalMeter is the fleetMeters key of the total; no tenant id starts with a space.
const totalMeter = " total"

// add samples every tenant's queue depth at now, forgets tenants no longer
// listed, and returns the estimates by tenant id (and totalMeter).
func (m fleetMeters) add(now time.Time, ss []app.TenantStatus) map[string]drain.Estimate {
	out := make(map[string]drain.Estimate, len(ss)+1)
	seen := make(map[string]bool, len(ss))
	total, longest, budget := 0, time.Duration(0), 0.0
	for _, s := range ss {
		seen[s.ID] = true
		rw := time.Duration(s.BudgetWindowSeconds * float64(time.Second))
		longest = max(longest, rw)
		mt := m[s.ID]
		if w, _ := drain.Window(rw); mt == nil || mt.DrainWindow() != w {
			mt = drain.NewMeter(s.BudgetLimit, rw)
			m[s.ID] = mt
		}
		// A tenant that is not running shows no capacity: its budget is
		// unknown then, and the total's too.
		mt.SetBudgetRate(s.EnrichCapacity)
		if budget >= 0 && mt.Budget() > 0 {
			budget += mt.Budget()
		} else {
			budget = -1
		}
		mt.Add(now, s.QueueDepth)
		out[s.ID] = mt.Estimate()
		total += s.QueueDepth
	}
	for id := range m {
		if !seen[id] && id != totalMeter {
			delete(m, id)
		}
	}
	mt := m[totalMeter]
	if w, _ := drain.Window(longest); mt == nil || mt.DrainWindow() != w {
		mt = drain.NewMeter(0, longest)
		m[totalMeter] = mt
	}
	mt.SetBudgetRate(budget)
	mt.Add(now, total)
	out[totalMeter] = mt.Estimate()
	return out
}

// fleetLines renders the totals and the top tenants: failed ones first,
// then by queue depth. drain holds the queue estimates by tenant id and
// totalMeter (missing ones show none).
func fleetLines(ss []app.TenantStatus, est map[string]drain.Estimate) []string {
	states := map[string]int{}
	var versions int64
	queue := 0
	for _, s := range ss {
		states[s.State]++
		versions += s.Versions
		queue += s.QueueDepth
	}
	var parts []string
	for _, st := range []string{app.StateRunning, app.StateStarting, app.StateFailed, app.StateMoved, app.StateDisabled, app.StateStopped} {
		if n := states[st]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, st))
		}
	}
	lines := []string{fmt.Sprintf("tenants %d (%s) | versions %d | enrich queue %d%s", len(ss), strings.Join(parts, ", "), versions, queue,
		est[totalMeter].Note())}
	top := slices.Clone(ss)
	slices.SortStableFunc(top, func(a, b app.TenantStatus) int {
		if fa, fb := a.State == app.StateFailed, b.State == app.StateFailed; fa != fb {
			if fa {
				return -1
			}
			return 1
		}
		return cmp.Compare(b.QueueDepth, a.QueueDepth)
	})
	for _, s := range top[:min(len(top), fleetTop)] {
		line := fmt.Sprintf("  %-16s %-8s versions %d, queue %d%s, budget %d/%d, lag %s",
			s.ID, s.State, s.Versions, s.QueueDepth, est[s.ID].Note(), s.BudgetUsed, s.BudgetLimit,
			time.Duration(s.LagSeconds*float64(time.Second)).Truncate(time.Second))
		if s.Reason != "" {
			line += " | " + s.Reason
		}
		lines = append(lines, line)
	}
	if len(ss) > fleetTop {
		lines = append(lines, fmt.Sprintf("  ... and %d more (GET /tenants lists them all)", len(ss)-fleetTop))
	}
	return lines
}

// PrintFleetSummary writes every tenant's last state when the run ends.
func PrintFleetSummary(out io.Writer, ss []app.TenantStatus) {
	fmt.Fprintf(out, "\nSummary of %d tenants:\n", len(ss))
	for _, s := range ss {
		fmt.Fprintf(out, "  %-16s %-8s versions %d, 429s %d", s.ID, s.State, s.Versions, s.Calls429)
		if s.Reason != "" {
			fmt.Fprintf(out, " | %s", s.Reason)
		}
		fmt.Fprintln(out)
	}
}
