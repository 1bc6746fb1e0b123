package profile

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/soc-tools/xdr-kafka-connector/pkg/enrich"
	"github.com/soc-tools/xdr-kafka-connector/pkg/profile/internal/fixtures"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
)

// BenchmarkEnriched maps a 1,000-alert reply (the actors fixture's alerts,
// repeated with distinct ids) to its OCSF and ECS records, beside the
// native ones, and reports profile records per second.
func BenchmarkEnriched(b *testing.B) {
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
	set, _ := Parse("ocsf,ecs")
	native, _ := enrich.Flatten(fixtures.Meta, version, &ed)
	var records int
	for b.Loop() {
		records += len(set.Enriched(fixtures.Meta, version, &ed, native))
	}
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
}
