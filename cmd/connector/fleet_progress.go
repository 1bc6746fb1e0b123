package main

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
)

// fleetTop is how many tenants the display lists, the largest backlogs and
// the failed ones first.
const fleetTop = 8

// startFleetProgress shows the tenants of a tenants file on out until the
// returned stop is called: a block redrawn in place every 2 s on a terminal
// (a total line, then one line per tenant for the top fleetTop), otherwise a
// "progress" log line every 15 s with the totals and the top tenants.
func startFleetProgress(ctx context.Context, statuses func() []app.TenantStatus, out io.Writer, log *slog.Logger) (stop func()) {
	tty := isTerminal(out)
	every := logEvery
	if tty {
		every = 2 * time.Second
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		drawn := 0
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			lines := fleetLines(statuses())
			if tty {
				if drawn > 0 {
					fmt.Fprintf(out, "\033[%dA\033[J", drawn)
				}
				fmt.Fprint(out, strings.Join(lines, "\n")+"\n")
				drawn = len(lines)
				continue
			}
			log.Info("progress", "tenants", lines[0], "top", strings.Join(lines[1:], "; "))
		}
	})
	return func() { cancel(); wg.Wait() }
}

// fleetLines renders the totals and the top tenants: failed ones first,
// then by queue depth.
func fleetLines(ss []app.TenantStatus) []string {
	states := map[string]int{}
	var versions int64
	queue := 0
	for _, s := range ss {
		states[s.State]++
		versions += s.Versions
		queue += s.QueueDepth
	}
	var parts []string
	for _, st := range []string{app.StateRunning, app.StateStarting, app.StateFailed, app.StateDisabled, app.StateStopped} {
		if n := states[st]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, st))
		}
	}
	lines := []string{fmt.Sprintf("tenants %d (%s) | versions %d | enrich queue %d", len(ss), strings.Join(parts, ", "), versions, queue)}
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
		line := fmt.Sprintf("  %-16s %-8s versions %d, queue %d, budget %d/%d, lag %s",
			s.ID, s.State, s.Versions, s.QueueDepth, s.BudgetUsed, s.BudgetLimit, time.Duration(s.LagSeconds*float64(time.Second)).Truncate(time.Second))
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

// printFleetSummary writes every tenant's last state when the run ends.
func printFleetSummary(out io.Writer, ss []app.TenantStatus) {
	fmt.Fprintf(out, "\nSummary of %d tenants:\n", len(ss))
	for _, s := range ss {
		fmt.Fprintf(out, "  %-16s %-8s versions %d, 429s %d", s.ID, s.State, s.Versions, s.Calls429)
		if s.Reason != "" {
			fmt.Fprintf(out, " | %s", s.Reason)
		}
		fmt.Fprintln(out)
	}
}
