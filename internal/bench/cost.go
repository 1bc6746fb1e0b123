package bench

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/soc-tools/xdr-kafka-connector/pkg/enrich"
	"github.com/soc-tools/xdr-kafka-connector/pkg/profile"
	"github.com/soc-tools/xdr-kafka-connector/pkg/record"
	"github.com/soc-tools/xdr-kafka-connector/pkg/sink"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr/xdrtest"
)

// Cost is what flattening, encoding and producing records costs this process.
type Cost struct {
	Profiles  string        // OUTPUT_PROFILES of the run: native, or native,ocsf,ecs
	Incidents int           // extra-data replies flattened (1,000 alerts each)
	Records   int           // records acknowledged by Kafka
	Bytes     int64         // record values produced
	Wall      time.Duration // first Flatten to last acknowledgement
	CPU       time.Duration // user + system CPU time of this process over Wall
	Mallocs   uint64        // heap allocations over Wall
	MadeOnce  bool          // each reply's records made once and produced again: producing alone
}

// RecordsPerSecond is records per wall-clock second.
func (c Cost) RecordsPerSecond() float64 { return float64(c.Records) / c.Wall.Seconds() }

// RecordsPerCPUSecond is records per CPU-second: the throughput one core
// would sustain.
func (c Cost) RecordsPerCPUSecond() float64 { return float64(c.Records) / c.CPU.Seconds() }

// CPUPerIncident is CPU time per extra-data reply turned into records.
func (c Cost) CPUPerIncident() time.Duration { return c.CPU / time.Duration(max(c.Incidents, 1)) }

// CPUPer10k is CPU-seconds per 10,000 records.
func (c Cost) CPUPer10k() float64 { return c.CPU.Seconds() * 10_000 / float64(c.Records) }

// AllocsPerRecord is heap allocations per record.
func (c Cost) AllocsPerRecord() float64 { return float64(c.Mallocs) / float64(c.Records) }

// ProfileRecordAllocs returns the heap allocations per profile record of
// c, a run with output profiles beside native, given native, the run of
// native alone: what c allocated beyond native's allocations for as many
// incidents, over the records beyond native's for as many incidents.
func (c Cost) ProfileRecordAllocs(native Cost) float64 {
	if native.Incidents == 0 || c.Incidents == 0 {
		return 0
	}
	perIncident := float64(native.Mallocs) / float64(native.Incidents)
	recordsPer := float64(native.Records) / float64(native.Incidents)
	extra := float64(c.Records) - recordsPer*float64(c.Incidents)
	if extra <= 0 {
		return 0
	}
	return (float64(c.Mallocs) - perIncident*float64(c.Incidents)) / extra
}

// costSources is how many distinct large incidents the cost phase cycles through.
const costSources = 8

// costAlerts is the alerts of every incident of the cost phase.
const costAlerts = 1000

// runCost fetches a few 1,000-alert incidents from the tenant once (decoding
// is not measured), then flattens, encodes and produces them round-robin
// through the connector's sink until CostRecords records are acknowledged,
// with the records of every output profile of set (as the enricher builds
// them: the native ones, then each profile's).
// CPU time (getrusage) and allocations (MemStats.Mallocs) are read around
// that loop; the broker runs in another process and is not counted.
//
// With madeOnce, each source reply's records are made once, before the
// warm-up, and then produced again and again: what producing alone costs,
// the bound no cheaper mapping can go below.
func runCost(ctx context.Context, cfg Config, brokerAddr string, set profile.Set, madeOnce bool) (Cost, error) {
	c := Cost{Profiles: set.String(), MadeOnce: madeOnce}
	sim := xdrtest.New(xdrtest.Config{Seed: 14, Incidents: costSources, MaxAlerts: costAlerts, RateLimit: 1 << 20})
	for _, id := range sim.IncidentIDs() {
		if tr, _ := sim.Truth(id); tr.AlertCount < costAlerts {
			sim.AddAlerts(id, costAlerts-tr.AlertCount)
		}
	}
	api, _, stopSim, err := newSimClient(sim)
	if err != nil {
		return c, err
	}
	var eds []*xdr.ExtraData
	for _, id := range sim.IncidentIDs() {
		ed, err := api.GetIncidentExtraData(ctx, xdr.ExtraDataRequest{IncidentID: id, AlertsLimit: costAlerts})
		if err != nil {
			stopSim()
			return c, fmt.Errorf("fetching incident %s: %w", id, err)
		}
		eds = append(eds, ed)
	}
	stopSim()

	compression, err := sink.Compression(cfg.Compression)
	if err != nil {
		return c, err
	}
	kcl, err := kgo.NewClient(append(append([]kgo.Opt{kgo.SeedBrokers(brokerAddr)}, sink.ProducerOpts()...), compression)...)
	if err != nil {
		return c, fmt.Errorf("creating the Kafka client: %w", err)
	}
	defer kcl.Close()
	topics, _ := phaseTopics("cost")
	if set.OCSF() {
		topics.OCSFIncidents, topics.OCSFAlerts = "cost.ocsf.incidents", "cost.ocsf.alerts"
	}
	if set.ECS() {
		topics.ECSIncidents, topics.ECSAlerts = "cost.ecs.incidents", "cost.ecs.alerts"
	}
	if err := sink.EnsureTopics(ctx, kadm.NewClient(kcl), topics, -1, -1); err != nil {
		return c, err
	}
	sk, err := sink.New(kcl, topics)
	if err != nil {
		return c, err
	}
	meta := enrich.Meta{Connector: "bench-cost", Tenant: "sim", AlertsLimit: costAlerts}
	made := make([][]record.Record, len(eds)) // madeOnce: each reply's records
	if madeOnce {
		meta.FetchedAt = time.Now().UnixMilli()
		for i, ed := range eds {
			version := ed.Incident.ModificationTime + int64(i)
			made[i], _ = enrich.Flatten(meta, version, ed)
			if !set.NativeOnly() {
				made[i] = set.Enriched(meta, version, ed, made[i])
			}
		}
	}

	// produce flattens and produces until at least n records are handed
	// over, then waits for every acknowledgement.
	produce := func(ctx context.Context, n int) (incidents, records int, bytes int64, err error) {
		var wg sync.WaitGroup
		var failed atomic.Pointer[error]
		done := func(err error) {
			if err != nil {
				failed.CompareAndSwap(nil, &err)
			}
			wg.Done()
		}
		for i := 0; records < n && failed.Load() == nil; i++ {
			ed := eds[i%len(eds)]
			recs := made[i%len(eds)]
			if recs == nil {
				meta.FetchedAt = time.Now().UnixMilli()
				version := ed.Incident.ModificationTime + int64(i)
				recs, _ = enrich.Flatten(meta, version, ed)
				if !set.NativeOnly() {
					recs = set.Enriched(meta, version, ed, recs)
				}
			}
			wg.Add(1)
			if err := sk.Publish(ctx, sink.Enrichments, recs, done); err != nil {
				wg.Wait()
				return incidents, records, bytes, fmt.Errorf("publishing: %w", err)
			}
			incidents++
			records += len(recs)
			for _, r := range recs {
				bytes += int64(len(r.Value))
			}
		}
		wg.Wait()
		if p := failed.Load(); p != nil {
			return incidents, records, bytes, *p
		}
		return incidents, records, bytes, nil
	}

	pctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	if _, _, _, err := produce(pctx, min(cfg.CostRecords/10, 20_000)); err != nil { // warm-up: connections, metadata, buffers
		return c, err
	}
	runtime.GC()
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	ru0, err := rusage()
	if err != nil {
		return c, err
	}
	start := time.Now()
	c.Incidents, c.Records, c.Bytes, err = produce(pctx, cfg.CostRecords)
	c.Wall = time.Since(start)
	ru1, rerr := rusage()
	runtime.ReadMemStats(&ms1)
	if err = errors.Join(err, rerr); err != nil {
		return c, err
	}
	c.CPU = ru1 - ru0
	c.Mallocs = ms1.Mallocs - ms0.Mallocs
	if c.Records == 0 || c.CPU <= 0 {
		return c, fmt.Errorf("nothing measured (%d records, %s CPU)", c.Records, c.CPU)
	}
	return c, nil
}
