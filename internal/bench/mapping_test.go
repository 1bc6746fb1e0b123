package bench

import (
	"bytes"
	"encoding/json"
	"slices"
	"testing"

	"github.com/soc-tools/xdr-kafka-connector/pkg/enrich"
	"github.com/soc-tools/xdr-kafka-connector/pkg/profile"
)

// BenchmarkCostMapping maps one 1,000-alert reply of the simulated tenant
// (the cost phase's data, heavier than pkg/profile's fixture) to the
// records of both output profiles, producing excluded: the part of the
// cost phase's "every profile" row that a cheaper mapping can take off.
// It reports CPU time per profile record and per reply, and how many of
// the reply's alerts have the keys of the alert before, in the same order
// (the View then keeps its index).
func BenchmarkCostMapping(b *testing.B) {
	ed, meta := costReply(b)
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
	same := 0
	var before []string
	for _, a := range ed.Alerts.Data {
		keys := topKeys(b, a.Raw)
		if before != nil && slices.Equal(keys, before) {
			same++
		}
		before = keys
	}
	b.ReportMetric(float64(same), "same-shape-alerts")
}

// topKeys returns the keys of a JSON object, in order.
func topKeys(b *testing.B, raw []byte) []string {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.Token(); err != nil { // {
		b.Fatal(err)
	}
	var keys []string
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			b.Fatal(err)
		}
		keys = append(keys, tok.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			b.Fatal(err)
		}
	}
	return keys
}
