package bench

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// Report holds the figures of one run.
type Report struct {
	Config     Config
	Machine    Machine
	Started    time.Time
	Elapsed    time.Duration
	Budget     Budget
	Freshness  Freshness
	Coalescing Coalescing
	Cost       Cost // native records alone
	// CostProfiles is the cost phase again with OUTPUT_PROFILES=native,ocsf,ecs.
	CostProfiles Cost
	// CostProduce is CostProfiles with each reply's records made once and
	// produced again: the part of its cost that is producing alone.
	CostProduce Cost
	Memory      Memory
	Tenants     Tenants // the tenants phase, when Config.Tenants > 0 (then the only one)
	Scale       Scale   // the scale phase, when Config.Scale (then the only one)
	Backfill    Backfill
}

// Result is a row's verdict.
type Result string

// Verdicts. Baseline marks the naive limiter's row: it is held to our
// target to show what it misses, not because it should meet it.
const (
	Pass     Result = "PASS"
	Miss     Result = "MISS"
	Baseline Result = "baseline"
	// Reported marks a figure that has no target of its own: it is shown
	// beside one that has (the cost with every output profile on).
	Reported Result = "reported"
)

// Row is one line of the table.
type Row struct {
	Figure   string
	Measured string
	Target   string
	Result   Result
}

func verdict(ok bool) Result {
	if ok {
		return Pass
	}
	return Miss
}

// Rows returns the table's rows, in a fixed order.
func (r *Report) Rows() []Row {
	if r.Config.Scale {
		return r.scaleRows()
	}
	if r.Config.Tenants > 0 {
		return r.tenantRows()
	}
	if r.Config.Backfill {
		return r.backfillRows()
	}
	b, f, c, k, m := r.Budget, r.Freshness, r.Coalescing, r.Cost, r.Memory
	p, q := r.CostProfiles, r.CostProduce
	cpuRatio := float64(p.CPUPerIncident()) / float64(max(k.CPUPerIncident(), 1))
	window := fmt.Sprintf("%d calls / %s", b.Limit, b.Window)
	budgetRow := func(name string, run BudgetRun) (string, string) {
		return name + ", " + window,
			fmt.Sprintf("%.1f %% (%d of %d allowed calls in %d windows), %d × 429; slowest slot reuse %s", 100*run.Use,
				run.Admitted, run.Allowed, b.Windows, run.Refused, secs(run.SlowestReuse))
	}
	oursFig, oursVal := budgetRow("Budget use, our sliding-log limiter", b.Ours)
	if b.OursRetries > 0 {
		oursVal += fmt.Sprintf(" (%d calls retried after a failure)", b.OursRetries)
	}
	naiveFig, naiveVal := budgetRow("Budget use, naive token bucket (burst "+fmt.Sprint(b.Limit)+")", b.Naive)
	naiveResult := Baseline
	if b.Naive.Use >= TargetBudgetUse && b.Naive.Refused == 0 {
		naiveResult = Pass
	}
	freshLimit := f.PollInterval + TargetFreshnessSlack
	rows := []Row{
		{oursFig, oursVal, fmt.Sprintf("≥ %.0f %%, 0 × 429", 100*TargetBudgetUse),
			verdict(b.Ours.Use >= TargetBudgetUse && b.Ours.Refused == 0)},
		{naiveFig, naiveVal, fmt.Sprintf("≥ %.0f %%, 0 × 429", 100*TargetBudgetUse), naiveResult},
		{fmt.Sprintf("Freshness p50, POLL_INTERVAL %s", f.PollInterval),
			fmt.Sprintf("%s (%d of %d versions)", secs(f.P50), f.Samples, f.Versions),
			"≤ POLL_INTERVAL (" + secs(f.PollInterval) + ")", verdict(f.P50 <= f.PollInterval && f.Missing() == 0)},
		{fmt.Sprintf("Freshness p99, POLL_INTERVAL %s", f.PollInterval),
			fmt.Sprintf("%s = %.2f × POLL_INTERVAL (max %s)", secs(f.P99), f.P99Ratio(), secs(f.Max)),
			"≤ POLL_INTERVAL + 1 s (" + secs(freshLimit) + ")", verdict(f.P99 <= freshLimit && f.Missing() == 0)},
		{"Extra-data calls per change, heavy mutation",
			fmt.Sprintf("%.3f (%d calls / %d changes of %d incidents, %d × 429)", c.CallsPerChange(), c.Calls, c.Changes, c.Incidents, c.Refused),
			fmt.Sprintf("≤ %.1f", TargetCallsPerChange), verdict(c.Drained && c.CallsPerChange() <= TargetCallsPerChange && c.Refused == 0)},
		{"Flatten + encode + produce, 1,000-alert incidents",
			fmt.Sprintf("%s records/s per core (%s records/s wall, %s records)", thousands(k.RecordsPerCPUSecond()), thousands(k.RecordsPerSecond()), thousands(float64(k.Records))),
			fmt.Sprintf("≥ %s records/s per core", thousands(TargetRecordsPerCPU)), verdict(k.RecordsPerCPUSecond() >= TargetRecordsPerCPU)},
		{"Flatten + encode + produce, native + OCSF + ECS",
			fmt.Sprintf("%s records/s per core (%s records); %s CPU per 1,000-alert incident = %.2f × native's (%s)", thousands(p.RecordsPerCPUSecond()),
				thousands(float64(p.Records)), p.CPUPerIncident().Round(100*time.Microsecond),
				cpuRatio, k.CPUPerIncident().Round(100*time.Microsecond)),
			fmt.Sprintf("≥ %s records/s per core, ≤ %.0f × native's CPU", thousands(TargetRecordsPerCPU), TargetProfilesCPU),
			verdict(p.RecordsPerCPUSecond() >= TargetRecordsPerCPU && cpuRatio <= TargetProfilesCPU)},
		{"Heap allocations per profile record (OCSF, ECS)",
			fmt.Sprintf("%.2f = %.2f × native's (%.2f)", p.ProfileRecordAllocs(k), p.ProfileRecordAllocs(k)/max(k.AllocsPerRecord(), 1e-9), k.AllocsPerRecord()),
			fmt.Sprintf("≤ %.0f × native's", TargetProfileAllocs), verdict(p.ProfileRecordAllocs(k) <= TargetProfileAllocs*k.AllocsPerRecord())},
		{"CPU per 10k records", fmt.Sprintf("%.3f CPU-s", k.CPUPer10k()),
			fmt.Sprintf("≤ %.3f CPU-s", 10_000.0/TargetRecordsPerCPU), verdict(k.CPUPer10k() <= 10_000.0/TargetRecordsPerCPU)},
		{"Heap allocations per record", fmt.Sprintf("%.2f", k.AllocsPerRecord()),
			fmt.Sprintf("≤ %.0f", TargetAllocsPerRec), verdict(k.AllocsPerRecord() <= TargetAllocsPerRec)},
		{fmt.Sprintf("Resident memory, %s incidents awaiting enrichment", thousands(float64(m.Incidents))),
			fmt.Sprintf("%s peak (VmHWM), %s now (VmRSS)", mib(m.PeakRSS), mib(m.RSS)),
			"≤ " + mib(TargetMemoryBytes) + " peak", verdict(m.PeakRSS <= TargetMemoryBytes)},
	}
	if q.Records > 0 { // measured: beside the row it bounds
		rows = slices.Insert(rows, 7, Row{"Producing alone, native + OCSF + ECS (each reply's records made once)",
			fmt.Sprintf("%s records/s per core; %s CPU per 1,000-alert incident = %.2f × native's with flattening", thousands(q.RecordsPerCPUSecond()),
				q.CPUPerIncident().Round(100*time.Microsecond), float64(q.CPUPerIncident())/float64(max(k.CPUPerIncident(), 1))),
			"none (the bound a cheaper mapping cannot pass)", Reported})
	}
	if r.Config.NoBackfill {
		return rows
	}
	return append(rows, r.backfillRows()...)
}

// backfillRows are the rows of the backfill phase.
func (r *Report) backfillRows() []Row {
	b := r.Backfill
	bulkT, _ := b.Bulk.DrainTime(b.Backlog)
	singleT, extra := b.Single.DrainTime(b.Backlog)
	how := "measured"
	if extra {
		how = fmt.Sprintf("extrapolated from %s incidents in %s", thousands(float64(b.Single.Enriched)), secs(b.Single.Ran))
	}
	bulkHow := "drained"
	if !b.Bulk.Drained {
		bulkHow = fmt.Sprintf("NOT drained: %s of %s in %s", thousands(float64(b.Bulk.Enriched)), thousands(float64(b.Backlog)), secs(b.Bulk.Ran))
	}
	scope := fmt.Sprintf("%s incidents (%d above the %d-alert bulk cap), %d calls / %s per endpoint",
		thousands(float64(b.Backlog)), b.AboveCap, b.AlertsCap, b.Limit, b.Window)
	use := func(run BackfillRun) string {
		allowed := b.Allowed(run)
		pct := func(c int) float64 { return 100 * float64(c) / float64(max(allowed, 1)) }
		return fmt.Sprintf("get_multiple_incidents_extra_data %d calls = %.1f %%, get_incident_extra_data %d calls = %.1f %% of the %d each allowed in %s",
			run.BulkCalls-run.Bulk429, pct(run.BulkCalls-run.Bulk429), run.SingleCalls-run.Single429, pct(run.SingleCalls-run.Single429), allowed, secs(run.Ran))
	}
	return []Row{
		{"Backfill drain time, " + scope,
			fmt.Sprintf("bulk %s (%s); single calls %s (%s) = %.1f× faster", secs(bulkT), bulkHow, secs(singleT), how, b.Speedup()),
			fmt.Sprintf("bulk ≥ %.0f× faster", TargetBackfillFaster), verdict(b.Bulk.Drained && b.Speedup() >= TargetBackfillFaster)},
		{"Backfill API calls, " + scope,
			fmt.Sprintf("bulk %d (%d get_multiple_incidents_extra_data + %d get_incident_extra_data), %d × 429; single calls %s (%s; %d made), %d × 429 = %.1f× fewer",
				b.Bulk.Calls(), b.Bulk.BulkCalls, b.Bulk.SingleCalls, b.Bulk.Refused(), thousands(b.Single.CallsToDrain(b.Backlog)), how, b.Single.Calls(), b.Single.Refused(), b.CallRatio()),
			fmt.Sprintf("bulk ≥ %.0f× fewer, 0 × 429", TargetBackfillCalls),
			verdict(b.Bulk.Drained && b.CallRatio() >= TargetBackfillCalls && b.Bulk.Refused() == 0 && b.Single.Refused() == 0)},
		{"Backfill budget use, " + scope,
			"bulk: " + use(b.Bulk) + "; single calls: " + use(b.Single),
			"none (reported)", Reported},
		{"Backfill completeness, " + scope,
			fmt.Sprintf("bulk: %s of %s incidents enriched with every alert (%s alerts in all); single calls: %s of the %s enriched",
				thousands(float64(b.Bulk.Complete)), thousands(float64(b.Backlog)), thousands(float64(b.Alerts)), thousands(float64(b.Single.Complete)), thousands(float64(b.Single.Enriched))),
			"every final enrichment complete, no alert lost to the cap",
			verdict(b.Backlog > 0 && b.Bulk.Complete == b.Backlog && b.Single.Complete == b.Single.Enriched)},
	}
}

// tenantRows are the rows of the tenants phase.
func (r *Report) tenantRows() []Row {
	t := r.Tenants
	n := max(t.N, 1)
	memPer := int64(TargetTenantsMemory / TargetTenantsRef)
	corePer := TargetTenantsCores / TargetTenantsRef
	freshLimit := t.QuietPoll + TargetFreshnessSlack
	return []Row{
		{fmt.Sprintf("Budget use per tenant, %d tenants, %d calls / %s each", t.N, t.Limit, t.Window),
			fmt.Sprintf("min %.1f %%, median %.1f %% (windows 2..%d after the first start: %d of %d allowed calls), %d × 429; backlogs of %d drained in %s", 100*t.MinUse, 100*t.MedianUse,
				t.Windows+1, t.Admitted, t.Allowed, t.Refused, t.Backlog, secs(t.Drained)),
			fmt.Sprintf("min ≥ %.0f %%, 0 × 429", 100*TargetBudgetUse), verdict(t.MinUse >= TargetBudgetUse && t.Refused == 0)},
		{fmt.Sprintf("Resident memory, %d tenants draining (VmHWM)", t.N),
			fmt.Sprintf("%s = %s per tenant", mib(t.PeakRSS), mib(t.PeakRSS/int64(n))),
			fmt.Sprintf("≤ %s per tenant (%d tenants in %s)", mib(memPer), TargetTenantsRef, mib(TargetTenantsMemory)), verdict(t.PeakRSS > 0 && t.PeakRSS/int64(n) <= memPer)},
		{fmt.Sprintf("Resident memory, %d tenants caught up (VmRSS)", t.N),
			fmt.Sprintf("%s = %s per tenant", mib(t.RSS), mib(t.RSS/int64(n))),
			fmt.Sprintf("≤ %s per tenant (%d tenants in %s)", mib(memPer), TargetTenantsRef, mib(TargetTenantsMemory)), verdict(t.RSS > 0 && t.RSS/int64(n) <= memPer)},
		{fmt.Sprintf("CPU, %d tenants caught up (POLL_INTERVAL %s)", t.N, t.PollInterval),
			fmt.Sprintf("%.3f cores = %.2f millicores per tenant (%s CPU over %s)", t.Cores(), 1000*t.Cores()/float64(n), secs(t.CPU), secs(t.CaughtUpFor)),
			fmt.Sprintf("≤ %.2f millicores per tenant (%d tenants in %.1f core)", 1000*corePer, TargetTenantsRef, TargetTenantsCores), verdict(t.Cores()/float64(n) <= corePer)},
		{fmt.Sprintf("Freshness p99, quiet tenant while %d drain, its POLL_INTERVAL %s", t.N, t.QuietPoll),
			fmt.Sprintf("%s (p50 %s, max %s; %d of %d versions)", secs(t.FreshP99), secs(t.FreshP50), secs(t.FreshMax), t.Samples, t.Versions),
			"≤ POLL_INTERVAL + 1 s (" + secs(freshLimit) + ")", verdict(t.Samples > 0 && t.Samples == t.Versions && t.FreshP99 <= freshLimit)},
	}
}

// scaleRows are the rows of the scale phase.
func (r *Report) scaleRows() []Row {
	s := r.Scale
	target := s.HandoverTarget()
	counts := func(cs []int) string {
		out := make([]string, len(cs))
		for i, c := range cs {
			out[i] = fmt.Sprint(c)
		}
		return strings.Join(out, " / ")
	}
	return []Row{
		{fmt.Sprintf("Handover after SIGKILL of 1 of %d replicas, session timeout %s", s.Replicas, s.SessionTimeout),
			fmt.Sprintf("median %s, max %s (SIGKILL → new owner's first successful get_incidents; %d of %d moved tenants), %d × 429",
				secs(s.HandoverP50()), secs(s.HandoverMax()), s.Polled, s.Moved, s.Refused),
			"≤ session timeout + 5 s (" + secs(target) + ")", verdict(s.Moved > 0 && s.Polled == s.Moved && s.HandoverMax() <= target)},
		{fmt.Sprintf("Balance, %d tenants on %d replicas", s.Tenants, s.Replicas),
			fmt.Sprintf("max − min = %d (%s tenants; %s on the %d left after the SIGKILL)", s.Balance(), counts(s.Counts), counts(s.After), len(s.After)),
			fmt.Sprintf("≤ %d", TargetBalance), verdict(len(s.Counts) == s.Replicas && s.Balance() >= 0 && s.Balance() <= TargetBalance)},
		{"No loss across the joins and the SIGKILL",
			fmt.Sprintf("%d of %d versions visible ≥ %s in Kafka (and %d of %d shorter-lived); final enrichment of %d of %d incidents",
				s.Seen, s.Versions, secs(s.LongEnough), s.ShorterSeen, s.Shorter, s.Enriched, s.Incidents),
			"every such version, every final enrichment", verdict(s.Versions > 0 && s.Seen == s.Versions && s.Incidents > 0 && s.Enriched == s.Incidents)},
	}
}

// Passed reports whether every row that has a target met it.
func (r *Report) Passed() bool {
	for _, row := range r.Rows() {
		if row.Result == Miss {
			return false
		}
	}
	return true
}

// WriteMarkdown writes a one-line description of the run and machine, then
// the table.
func (r *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "connector bench (%s), %s; %s; took %s\n\n", r.Config.Name, r.Started.UTC().Format("2006-01-02 15:04 MST"),
		r.Machine, r.Elapsed.Round(time.Second))
	b.WriteString("| figure | measured | target | result |\n|---|---|---|---|\n")
	for _, row := range r.Rows() {
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", row.Figure, row.Measured, row.Target, row.Result)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// secs formats d in seconds with two decimals.
func secs(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }

// mib formats bytes in MiB with one decimal.
func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// thousands formats x rounded to an integer, with commas between thousands.
func thousands(x float64) string {
	s := fmt.Sprintf("%.0f", x)
	var out []byte
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 && s[i-1] != '-' {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	return string(out)
}
