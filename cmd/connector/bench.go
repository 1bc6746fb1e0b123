package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/soc-tools/xdr-kafka-connector/internal/bench"
	"github.com/soc-tools/xdr-kafka-connector/pkg/sink"
)

func benchCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	quick := fs.Bool("quick", false, "a shorter run (about 3 minutes instead of about 6)")
	window := fs.Duration("rate-window", 0, "compressed extra-data window of the budget and coalescing phases, 10 calls each (default 2s)")
	poll := fs.Duration("poll-interval", 0, "POLL_INTERVAL of the freshness phase (default 2s, 1s with --quick)")
	records := fs.Int("cost-records", 0, "records produced by the cost phase (default 500000, 200000 with --quick)")
	compression := fs.String("compression", "", "KAFKA_COMPRESSION of the cost and memory phases: zstd (default), lz4, snappy, gzip or none")
	incidents := fs.Int("memory-incidents", 0, "incidents waiting for enrichment in the memory phase (default 100000)")
	tenantsWindow := fs.Duration("tenants-window", 0, "extra-data window of every tenant of the tenants phase, 10 calls each (default 20s)")
	tenants := fs.Int("tenants", 0, "run only the tenants phase: connector run with a tenants file of `N` busy tenants and one quiet one (0 = off)")
	scale := fs.Bool("scale", false, "run only the scale phase: 3 connector run replicas share simulated tenants over Kafka group membership, one is SIGKILLed (handover time, balance, no loss)")
	scaleTenants := fs.Int("scale-tenants", 0, "simulated tenants of the scale phase (default 30)")
	scaleSession := fs.Duration("scale-session-timeout", 0, "KAFKA_GROUP_SESSION_TIMEOUT of the scale phase's replicas (default 6s)")
	backfill := fs.Bool("backfill", false, "run only the backfill phase: one backlog drained with ENRICH_BULK=on and with ENRICH_BULK=off (about 45s; not part of --quick)")
	backfillIncidents := fs.Int("backfill-incidents", 0, "incidents owed an enrichment in the backfill phase (default 3000)")
	backfillWindow := fs.Duration("backfill-window", 0, "window of both extra-data endpoints in the backfill phase, 10 calls each (default 2s)")
	serveBroker := fs.Bool("serve-broker", false, "internal: serve an in-memory Kafka broker until stdin closes (the bench's child process)")
	help := func() {
		fmt.Fprint(stdout, `Usage: connector bench [flags]

Measures the connector against the simulated tenant (loopback HTTP) and an
in-memory Kafka broker (a child process) and prints one markdown table:
budget use of our rate limiter beside a naive token bucket, freshness,
extra-data calls per change, CPU and allocations per record (native, every
output profile, and producing alone), and resident
memory with a large backlog. With --tenants N it runs only the tenants
phase: `+"`connector run`"+` with a tenants file of N simulated tenants with a
backlog and one quiet tenant (per-tenant budget use, memory, CPU caught up,
the quiet tenant's freshness). With --scale it runs only the scale phase:
three `+"`connector run`"+` replicas with one tenants file of simulated tenants
share them over Kafka group membership, one is SIGKILLed (handover time of
its tenants, balance, no loss). With --backfill it runs only the backfill
phase: one backlog drained with bulk enrichment and with single calls. It
stops by itself. Exit status 1 when a figure
misses its target. See docs/BENCHMARKS.md.

Flags:
`)
		printDefaults(fs, stdout)
	}
	if err := parseFlags(fs, args, help); err != nil {
		return err
	}
	if *serveBroker {
		return bench.ServeBroker(ctx, os.Stdin, stdout)
	}
	cfg := bench.Default()
	if *quick {
		cfg = bench.Quick()
	}
	if *window > 0 {
		cfg.RateWindow = *window
	}
	if *poll > 0 {
		cfg.PollInterval = *poll
	}
	if *records > 0 {
		cfg.CostRecords = *records
	}
	if *incidents > 0 {
		cfg.MemoryIncidents = *incidents
	}
	if *compression != "" {
		if _, err := sink.Compression(*compression); err != nil {
			return fmt.Errorf("%w: --compression: %w", errUsage, err)
		}
		cfg.Compression = *compression
		cfg.Name += ", KAFKA_COMPRESSION=" + *compression
	}
	if *tenants < 0 {
		return fmt.Errorf("%w: --tenants must not be negative", errUsage)
	}
	if *scaleTenants < 0 || *scaleSession < 0 {
		return fmt.Errorf("%w: --scale-tenants and --scale-session-timeout must not be negative", errUsage)
	}
	if *backfillIncidents < 0 || *backfillWindow < 0 {
		return fmt.Errorf("%w: --backfill-incidents and --backfill-window must not be negative", errUsage)
	}
	if n := btoi(*scale) + btoi(*tenants > 0) + btoi(*backfill); n > 1 {
		return fmt.Errorf("%w: --scale, --tenants and --backfill are separate runs; choose one", errUsage)
	}
	cfg.BackfillIncidents, cfg.BackfillWindow = *backfillIncidents, *backfillWindow
	if cfg.Backfill = *backfill; cfg.Backfill {
		cfg.Name = "backfill"
	}
	cfg.TenantsWindow = *tenantsWindow
	if cfg.Tenants = *tenants; cfg.Tenants > 0 {
		cfg.Name = fmt.Sprintf("tenants %d", cfg.Tenants)
	}
	if cfg.Scale, cfg.ScaleTenants, cfg.ScaleSession = *scale, *scaleTenants, *scaleSession; cfg.Scale {
		cfg.Name = "scale"
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding the connector binary: %w", err)
	}
	cfg.Connector, cfg.Progress = exe, stderr
	ctx, cancel := context.WithTimeout(ctx, 15*time.Minute)
	defer cancel()
	rep, err := bench.Run(ctx, cfg)
	if err != nil {
		return err
	}
	if err := rep.WriteMarkdown(stdout); err != nil {
		return fmt.Errorf("writing the table: %w", err)
	}
	if !rep.Passed() {
		return errors.New("bench: a figure missed its target")
	}
	return nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
