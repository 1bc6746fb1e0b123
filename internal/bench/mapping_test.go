package bench

import (
	"context"
	"testing"

	"github.com/soc-tools/xdr-kafka-connector/pkg/enrich"
	"github.com/soc-tools/xdr-kafka-connector/pkg/profile"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr/xdrtest"
)

// BenchmarkCostMapping maps one 1,000-alert reply of the simulated tenant
// (the cost phase's data, heavier than pkg/profile's fixture) to the
// records of both output profiles, producing excluded: the part of the
// cost phase's "every profile" row that a cheaper mapping can take off.
// It reports CPU time per profile record and per reply.
func BenchmarkCostMapping(b *testing.B) {
	sim := xdrtest.New(xdrtest.Config{Seed: 14, Incidents: 1, MaxAlerts: costAlerts, RateLimit: 1 << 20})
	id := sim.IncidentIDs()[0]
	if tr, _ := sim.Truth(id); tr.AlertCount < costAlerts {
		sim.AddAlerts(id, costAlerts-tr.AlertCount)
	}
	api, _, stop, err := newSimClient(sim)
	if err != nil {
		b.Fatal(err)
	}
	ed, err := api.GetIncidentExtraData(context.Background(), xdr.ExtraDataRequest{IncidentID: id, AlertsLimit: costAlerts})
	stop()
	if err != nil {
		b.Fatal(err)
	}
	meta := enrich.Meta{Connector: "bench-cost", Tenant: "sim", AlertsLimit: costAlerts}
	version := ed.Incident.ModificationTime
	native, _ := enrich.Flatten(meta, version, ed)
	set, err := profile.Parse("native,ocsf,ecs")
	if err != nil {
		b.Fatal(err)
	}
	var records int
	cpu0, _ := rusage()
	for b.Loop() {
		records += len(set.Enriched(meta, version, ed, native)) - len(native)
	}
	cpu1, _ := rusage()
	cpu := cpu1 - cpu0
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(records), "cpu-ns/record")
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N)/1e6, "cpu-ms/reply")
	b.ReportMetric(float64(records)/float64(b.N), "records/reply")
}
