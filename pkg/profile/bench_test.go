package profile

import (
	"encoding/json"
	"fmt"
	"runtime"
	"testing"

	"github.com/soc-tools/xdr-kafka-connector/pkg/enrich"
	"github.com/soc-tools/xdr-kafka-connector/pkg/profile/internal/fixtures"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
)

// bigReply is a 1,000-alert reply: the actors fixture's alerts, repeated
// with distinct ids.
func bigReply(b *testing.B) (*xdr.ExtraData, int64) {
	var base *xdr.ExtraData
	var version int64
	for _, c := range fixtures.Cases(b) {
		if c.Name == "actors" {
			base, version = c.Extra, c.Version
		}
	}
	ed := *base
	ed.Alerts.Data = nil
	for i := range 1000 {
		a := base.Alerts.Data[i%len(base.Alerts.Data)]
		var m map[string]any
		if err := json.Unmarshal(a.Raw, &m); err != nil {
			b.Fatal(err)
		}
		m["alert_id"] = fmt.Sprint(5_000_000 + i)
		a.Raw, _ = json.Marshal(m)
		a.ID = fmt.Sprint(5_000_000 + i)
		ed.Alerts.Data = append(ed.Alerts.Data, a)
	}
	return &ed, version
}

// BenchmarkEnriched maps a 1,000-alert reply to the records of each output
// profile alone, and of both, beside the native ones (the native flattening
// and encoding is the baseline), and reports profile records per second,
// CPU time (of every thread, the collector's too) and heap allocations per
// profile record.
func BenchmarkEnriched(b *testing.B) {
	ed, version := bigReply(b)
	native, _ := enrich.Flatten(fixtures.Meta, version, ed)
	for _, tc := range []struct{ name, profiles string }{
		{"native", ""}, {"ocsf", "ocsf"}, {"ecs", "ecs"}, {"ocsf+ecs", "ocsf,ecs"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			set, _ := Parse(tc.profiles)
			var records int
			var ms0, ms1 runtime.MemStats
			runtime.ReadMemStats(&ms0)
			cpu0 := cpuTime()
			for b.Loop() {
				if tc.profiles == "" {
					recs, _ := enrich.Flatten(fixtures.Meta, version, ed)
					records += len(recs)
					continue
				}
				records += len(set.Enriched(fixtures.Meta, version, ed, native)) - len(native)*boolInt(set.Native())
			}
			cpu := cpuTime() - cpu0
			runtime.ReadMemStats(&ms1)
			b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(records), "cpu-ns/record")
			b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/float64(records), "allocs/record")
		})
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
