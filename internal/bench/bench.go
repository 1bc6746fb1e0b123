// Package bench measures the connector against the physical limits of its
// job and against a naive rate limiter, in one run, and renders the figures
// as one markdown table (`connector bench`).
//
// Every phase runs the connector's own code over real loopback sockets: the
// simulated tenant (pkg/xdr/xdrtest) serves HTTP on 127.0.0.1, and a kfake
// broker runs in a child process (`connector bench --serve-broker`), so the
// CPU time and allocations measured in this process are the connector's
// alone. The phases, in order:
//
//   - budget: a backlog drained through enrich.Limiter + enrich.Enricher with
//     the real xdr client, and, at the same time against an identically
//     configured tenant, through a token bucket (golang.org/x/time/rate,
//     burst n) as the naive baseline;
//   - freshness: the whole pipeline without backlog, from the moment a change
//     becomes visible to the API to Kafka's acknowledgement of its record;
//   - coalescing: the whole pipeline under heavy mutation, extra-data calls
//     per published change;
//   - cost: flatten + encode + produce of 1,000-alert incidents;
//   - memory: the connector binary (`connector run`) in a child process with
//     a backlog of incidents waiting for enrichment, its peak resident set
//     read from /proc;
//   - backfill (not with Config.NoBackfill, as in Quick): one backlog of owed
//     enrichments drained with bulk enrichment
//     (get_multiple_incidents_extra_data) and with single calls, under the
//     same compressed windows: drain time, calls, 429s, completeness.
//
// With Config.Tenants set, the run is the tenants phase alone: `connector
// run` with a tenants file of many simulated tenants (an xdrtest.Fleet), each
// with a backlog, and one quiet tenant; per-tenant budget use, the child's
// memory and CPU, and the quiet tenant's freshness.
//
// With Config.Backfill set, the run is the backfill phase alone.
//
// With Config.Scale set, the run is the scale phase alone: several `connector
// run` processes with one tenants file share the tenants over Kafka group
// membership; one is SIGKILLed. Handover time of its tenants, balance of the
// tenants over the replicas, and no loss.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/soc-tools/xdr-kafka-connector/pkg/profile"
	"github.com/soc-tools/xdr-kafka-connector/pkg/sink"
)

// Config scales a run. Zero values take Default's.
type Config struct {
	// Connector is the path of the connector binary, started as
	// `<Connector> bench --serve-broker` (the Kafka broker) and
	// `<Connector> run` (the memory phase). Required.
	Connector string
	// Name labels the run in the table's heading ("default", "quick", ...).
	Name string

	// RateLimit extra-data calls are allowed per RateWindow, on the tenant
	// and in the limiters (default 10 per 2s: the API's 10 per 60s,
	// compressed so a run takes minutes).
	RateLimit  int
	RateWindow time.Duration
	// BudgetWindows is how many windows the budget phase runs (default 30).
	BudgetWindows int

	// PollInterval is POLL_INTERVAL of the freshness phase (default 2s).
	PollInterval time.Duration
	// FreshFor is how long the tenant changes during the freshness phase
	// (default 60s).
	FreshFor time.Duration
	// ChurnFor is how long the tenant changes heavily during the coalescing
	// phase (default 20s).
	ChurnFor time.Duration
	// CostRecords is how many records the cost phase produces (default 500,000).
	CostRecords int
	// MemoryIncidents is the backlog of the memory phase (default 100,000).
	MemoryIncidents int
	// Compression is KAFKA_COMPRESSION of the cost and memory phases
	// (default sink.DefaultCodec).
	Compression string

	// Tenants, when positive, makes the run the tenants phase alone:
	// `connector run` with a tenants file of Tenants busy tenants, each
	// with TenantsBacklog incidents (default 40), and one quiet tenant.
	Tenants        int
	TenantsBacklog int
	// TenantsWindow is the extra-data window of every tenant of that
	// phase, RateLimit calls each (default 20s: a third of the real 60 s,
	// so 200 tenants make as many calls a second as 600 real ones).
	TenantsWindow time.Duration
	// TenantsPoll is the busy tenants' POLL_INTERVAL (default 30s, the
	// connector's default); the quiet tenant polls every second.
	TenantsPoll time.Duration
	// TenantsCaughtUpFor is how long CPU is measured once the backlogs are
	// drained (default 30s: one busy POLL_INTERVAL).
	TenantsCaughtUpFor time.Duration

	// Scale makes the run the scale phase alone: ScaleReplicas `connector
	// run` processes (default 3, at least 2) with one tenants file of
	// ScaleTenants simulated tenants (default 30) of ScaleIncidents
	// incidents each (default 20), changing all the time, share the
	// tenants over Kafka group membership (KAFKA_GROUP_ENABLED) with a
	// session timeout of ScaleSession (default 6s, the broker's usual
	// minimum); one is SIGKILLed. RateLimit per RateWindow is each
	// tenant's extra-data budget. ScalePoll is POLL_INTERVAL (default 1s);
	// the changes go on for ScaleMutateAfter (default 10s) after the
	// handover.
	Scale            bool
	ScaleTenants     int
	ScaleReplicas    int
	ScaleIncidents   int
	ScaleSession     time.Duration
	ScalePoll        time.Duration
	ScaleMutateAfter time.Duration

	// Backfill makes the run the backfill phase alone. The phase (also part
	// of a full run) drains BackfillIncidents owed enrichments (default
	// 3,000, 1 % of them above the tenant's 50-alert bulk cap) once with
	// ENRICH_BULK=on, to the end or for at most BackfillBulkFor (default
	// 2m), and once with ENRICH_BULK=off for BackfillSingleFor (default
	// 20s), its drain time and calls extrapolated from its rate; both
	// extra-data endpoints allow RateLimit calls per BackfillWindow
	// (default 2s: the real 60 s compressed 30 times). NoBackfill leaves the
	// phase out of a full run (Quick does).
	Backfill          bool
	NoBackfill        bool
	BackfillIncidents int
	BackfillWindow    time.Duration
	BackfillBulkFor   time.Duration
	BackfillSingleFor time.Duration

	// Progress receives one line per phase; nil discards them.
	Progress io.Writer
}

// Default is the configuration of a plain `connector bench`: about 6
// minutes on two cores.
func Default() Config {
	return Config{Name: "default", RateLimit: 10, RateWindow: 2 * time.Second, BudgetWindows: 30,
		PollInterval: 2 * time.Second, FreshFor: 60 * time.Second, ChurnFor: 20 * time.Second,
		CostRecords: 500_000, MemoryIncidents: 100_000}
}

// Quick is the configuration of `connector bench --quick`: about a minute
// and a half on two cores, most of it the memory phase, whose 100k-incident
// backlog it keeps.
func Quick() Config {
	return Config{Name: "quick", RateLimit: 10, RateWindow: 2 * time.Second, BudgetWindows: 10,
		PollInterval: time.Second, FreshFor: 12 * time.Second, ChurnFor: 8 * time.Second,
		CostRecords: 200_000, MemoryIncidents: 100_000, NoBackfill: true}
}

func (c Config) withDefaults() Config {
	d := Default()
	if c.Name == "" {
		c.Name = d.Name
	}
	positive(&c.RateLimit, d.RateLimit)
	positive(&c.RateWindow, d.RateWindow)
	positive(&c.BudgetWindows, d.BudgetWindows)
	positive(&c.PollInterval, d.PollInterval)
	positive(&c.FreshFor, d.FreshFor)
	positive(&c.ChurnFor, d.ChurnFor)
	positive(&c.CostRecords, d.CostRecords)
	positive(&c.MemoryIncidents, d.MemoryIncidents)
	if c.Compression == "" {
		c.Compression = sink.DefaultCodec
	}
	positive(&c.TenantsBacklog, 40)
	positive(&c.TenantsWindow, 20*time.Second)
	positive(&c.TenantsPoll, 30*time.Second)
	positive(&c.TenantsCaughtUpFor, 30*time.Second)
	positive(&c.ScaleTenants, 30)
	positive(&c.ScaleReplicas, 3)
	positive(&c.ScaleIncidents, 20)
	positive(&c.ScaleSession, 6*time.Second)
	positive(&c.ScalePoll, time.Second)
	positive(&c.ScaleMutateAfter, 10*time.Second)
	positive(&c.BackfillIncidents, 3000)
	positive(&c.BackfillWindow, 2*time.Second)
	positive(&c.BackfillBulkFor, 2*time.Minute)
	positive(&c.BackfillSingleFor, 20*time.Second)
	if c.Progress == nil {
		c.Progress = io.Discard
	}
	return c
}

// positive sets *v to d unless it is above zero.
func positive[T int | time.Duration](v *T, d T) {
	if *v <= 0 {
		*v = d
	}
}

// Targets.
const (
	TargetBudgetUse      = 0.99              // share of the allowed calls made, under a backlog
	TargetFreshnessSlack = time.Second       // p99 freshness may exceed POLL_INTERVAL by this much
	TargetCallsPerChange = 1.0               // extra-data calls per published change, at most
	TargetRecordsPerCPU  = 100_000           // records per CPU-second, at least
	TargetAllocsPerRec   = 10.0              // heap allocations per record, at most
	TargetProfilesCPU    = 3.0               // CPU per incident with every output profile ÷ native alone, at most
	TargetProfileAllocs  = 2.0               // heap allocations per profile record ÷ per native record, at most
	TargetMemoryBytes    = 150 * 1024 * 1024 // peak resident set with the memory backlog, at most
	TargetBackfillFaster = 30.0              // bulk drains a backlog this many times faster than single calls, at least
	TargetBackfillCalls  = 30.0              // ... with this many times fewer calls, at least
)

// Run runs every phase in order and returns the report. It stops by itself:
// each phase is bounded in time, and Run returns ctx's error if ctx ends
// first. Child processes it started are gone when it returns.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	cfg = cfg.withDefaults()
	if cfg.Connector == "" {
		return nil, errors.New("bench: the connector binary's path is required")
	}
	if cfg.Scale && cfg.ScaleReplicas < 2 {
		return nil, errors.New("bench: the scale phase needs at least 2 replicas")
	}
	rep := &Report{Config: cfg, Machine: ReadMachine(), Started: time.Now()}
	say := func(format string, args ...any) {
		fmt.Fprintf(cfg.Progress, "bench: "+format+"\n", args...)
	}
	backfill := func() error {
		say("backfill: %d incidents owed, %d calls per %s on each extra-data endpoint; ENRICH_BULK=on to the end, then ENRICH_BULK=off for %s (extrapolated)",
			cfg.BackfillIncidents, cfg.RateLimit, cfg.BackfillWindow, cfg.BackfillSingleFor)
		var err error
		if rep.Backfill, err = runBackfill(ctx, cfg); err != nil {
			return fmt.Errorf("backfill phase: %w", err)
		}
		return nil
	}
	if cfg.Backfill {
		// No Kafka: the phase measures calls and enrichments.
		if err := backfill(); err != nil {
			return nil, err
		}
		rep.Elapsed = time.Since(rep.Started)
		return rep, nil
	}

	say("starting a Kafka broker in a child process")
	broker, err := startBroker(ctx, cfg.Connector)
	if err != nil {
		return nil, err
	}
	defer broker.stop()

	if cfg.Scale {
		say("scale: %d replicas of `connector run` sharing %d tenants over group membership, session timeout %s; SIGKILL of one", cfg.ScaleReplicas, cfg.ScaleTenants, cfg.ScaleSession)
		if rep.Scale, err = runScale(ctx, cfg, broker.addr, say); err != nil {
			return nil, fmt.Errorf("scale phase: %w", err)
		}
		rep.Elapsed = time.Since(rep.Started)
		return rep, nil
	}
	if cfg.Tenants > 0 {
		say("tenants: `connector run` with %d tenants of %d incidents each and one quiet tenant, %d calls per %s each", cfg.Tenants, cfg.TenantsBacklog, cfg.RateLimit, cfg.TenantsWindow)
		if rep.Tenants, err = runTenants(ctx, cfg, broker.addr); err != nil {
			return nil, fmt.Errorf("tenants phase: %w", err)
		}
		rep.Elapsed = time.Since(rep.Started)
		return rep, nil
	}
	say("budget: %d windows of %s, %d calls per window, our limiter and a token bucket side by side", cfg.BudgetWindows, cfg.RateWindow, cfg.RateLimit)
	if rep.Budget, err = runBudget(ctx, cfg); err != nil {
		return nil, fmt.Errorf("budget phase: %w", err)
	}
	say("freshness: POLL_INTERVAL %s, changes for %s", cfg.PollInterval, cfg.FreshFor)
	if rep.Freshness, err = runFreshness(ctx, cfg, broker.addr); err != nil {
		return nil, fmt.Errorf("freshness phase: %w", err)
	}
	say("coalescing: heavy changes for %s, then draining the queue", cfg.ChurnFor)
	if rep.Coalescing, err = runCoalescing(ctx, cfg, broker.addr); err != nil {
		return nil, fmt.Errorf("coalescing phase: %w", err)
	}
	say("cost: flatten + encode + produce %d records of 1,000-alert incidents", cfg.CostRecords)
	if rep.Cost, err = runCost(ctx, cfg, broker.addr, profile.Default, false); err != nil {
		return nil, fmt.Errorf("cost phase: %w", err)
	}
	all, _ := profile.Parse(strings.Join(profile.Names, ","))
	say("cost: the same with OUTPUT_PROFILES=%s", all)
	if rep.CostProfiles, err = runCost(ctx, cfg, broker.addr, all, false); err != nil {
		return nil, fmt.Errorf("cost phase, every profile: %w", err)
	}
	say("cost: producing alone, each reply's records made once, OUTPUT_PROFILES=%s", all)
	if rep.CostProduce, err = runCost(ctx, cfg, broker.addr, all, true); err != nil {
		return nil, fmt.Errorf("cost phase, producing alone: %w", err)
	}
	say("memory: `connector run` with %d incidents waiting for enrichment", cfg.MemoryIncidents)
	if rep.Memory, err = runMemory(ctx, cfg, broker.addr); err != nil {
		return nil, fmt.Errorf("memory phase: %w", err)
	}
	if !cfg.NoBackfill {
		if err := backfill(); err != nil {
			return nil, err
		}
	}
	rep.Elapsed = time.Since(rep.Started)
	return rep, nil
}

// Machine describes where a run happened.
type Machine struct {
	CPUs      int
	CPUModel  string
	GoVersion string
	OS, Arch  string
}

// ReadMachine reports the CPU count, the CPU model from /proc/cpuinfo
// ("unknown" where it cannot be read) and the Go version.
func ReadMachine() Machine {
	m := Machine{CPUs: runtime.NumCPU(), CPUModel: "unknown", GoVersion: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.Lines(string(b)) {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	return m
}

func (m Machine) String() string {
	return fmt.Sprintf("%d CPUs, %s, %s %s/%s", m.CPUs, m.CPUModel, m.GoVersion, m.OS, m.Arch)
}
