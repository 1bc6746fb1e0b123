package testkit

import (
	"github.com/soc-tools/xdr-kafka-connector/pkg/record"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr/xdrtest"
)

// Version names one incident version.
type Version struct {
	ID string
	T  int64
}

// Output is what the data topics hold, indexed for the checks.
type Output struct {
	Changes  map[Version]int             // incident.change records per version
	Enriched map[string]Record           // newest incident.enriched per incident
	Alerts   map[Version]map[string]bool // (incident, version) -> alert keys
	Network  map[Version]map[string]bool // (incident, version) -> artifact keys
	Files    map[Version]map[string]bool // (incident, version) -> artifact keys
	DLQ      []Record
	Records  map[string]int // records per topic, the offsets topic's included
}

// Output reads every data topic, and the offsets topic, whose records the
// connector writes too: ReadTopic validates each record against its schema
// in schemas/ (offsets.schema.json for the offsets topic).
func (e *Env) Output() Output {
	o := Output{Changes: map[Version]int{}, Enriched: map[string]Record{}, Alerts: map[Version]map[string]bool{},
		Network: map[Version]map[string]bool{}, Files: map[Version]map[string]bool{}, Records: map[string]int{}}
	add := func(m map[Version]map[string]bool, r Record) {
		k := Version{r.IncidentID, r.ModificationTime}
		if m[k] == nil {
			m[k] = map[string]bool{}
		}
		m[k][r.Key] = true
	}
	for _, r := range e.ReadTopic(Topics.Incidents) {
		o.Records[Topics.Incidents]++
		switch r.Type {
		case record.TypeIncidentChange:
			o.Changes[Version{r.IncidentID, r.ModificationTime}]++
		case record.TypeIncidentEnriched:
			if old, ok := o.Enriched[r.IncidentID]; !ok || r.ModificationTime >= old.ModificationTime {
				o.Enriched[r.IncidentID] = r
			}
		default:
			e.T.Fatalf("unexpected record type %q in %s", r.Type, Topics.Incidents)
		}
	}
	for _, r := range e.ReadTopic(Topics.Alerts) {
		o.Records[Topics.Alerts]++
		add(o.Alerts, r)
	}
	for _, r := range e.ReadTopic(Topics.Artifacts) {
		o.Records[Topics.Artifacts]++
		switch r.Type {
		case record.TypeNetworkArtifact:
			add(o.Network, r)
		case record.TypeFileArtifact:
			add(o.Files, r)
		}
	}
	o.DLQ = e.ReadTopic(Topics.DLQ)
	o.Records[Topics.DLQ] = len(o.DLQ)
	o.Records[OffsetsTopic] = len(e.ReadTopic(OffsetsTopic))
	return o
}

// Verify checks the topics against the simulator's truth: every incident
// version for which expect holds (see PollLog.Expect) is in xdr.incidents,
// exactly once when exact is set; no version the tenant never had is; and
// every incident's newest enrichment matches its final state. skip lists
// incidents whose enrichment is expected to be missing (e.g. sent to the DLQ).
//
// It returns how many versions expect excused.
func (e *Env) Verify(o Output, exact bool, expect func(xdrtest.Version) bool, skip map[string]bool) (excused int) {
	t := e.T
	t.Helper()
	truth := map[Version]bool{}
	missing, short := 0, 0
	for _, v := range e.Sim.Versions() {
		k := Version{v.IncidentID, v.ModificationTime}
		truth[k] = true
		if !expect(v) {
			short++
			continue // no poll ran while it was visible
		}
		if tr, _ := e.Sim.Truth(v.IncidentID); tr.Restricted {
			continue
		}
		switch n := o.Changes[k]; {
		case n == 0:
			missing++
			if missing <= 10 {
				t.Errorf("version lost: incident %s modification_time %d (visible %d..%d)", v.IncidentID, v.ModificationTime, v.VisibleAt, v.SupersededAt)
			}
		case exact && n > 1:
			t.Errorf("version %v published %d times", k, n)
		}
	}
	if missing > 0 {
		t.Errorf("%d versions lost in all", missing)
	}
	for k := range o.Changes {
		if !truth[k] {
			t.Errorf("published version %v that the tenant never had", k)
		}
	}
	t.Logf("truth: %d versions (%d never visible during a complete poll); published: %d distinct versions, records per topic %v",
		len(truth), short, len(o.Changes), o.Records)

	for _, id := range e.Sim.IncidentIDs() {
		tr, _ := e.Sim.Truth(id)
		if tr.Restricted || skip[id] {
			continue
		}
		en, ok := o.Enriched[id]
		if !ok {
			t.Errorf("incident %s: never enriched", id)
			continue
		}
		if en.ModificationTime != tr.ModificationTime {
			t.Errorf("incident %s: newest enrichment is of version %d, final version is %d", id, en.ModificationTime, tr.ModificationTime)
			continue
		}
		k := Version{id, tr.ModificationTime}
		info := en.Enrichment
		if info == nil || info.AlertsTotalCount != tr.AlertCount || info.NetworkArtifactsTotalCount != tr.NetworkArtifacts || info.FileArtifactsTotalCount != tr.FileArtifacts {
			t.Errorf("incident %s: enrichment %+v, truth %+v", id, info, tr)
			continue
		}
		if want := min(tr.AlertCount, info.AlertsLimit); len(o.Alerts[k]) != want {
			t.Errorf("incident %s: %d distinct alert records for the final version, want %d", id, len(o.Alerts[k]), want)
		}
		if info.AlertsTruncated != (tr.AlertCount > info.AlertsLimit) {
			t.Errorf("incident %s: alerts_truncated=%v with %d alerts and limit %d", id, info.AlertsTruncated, tr.AlertCount, info.AlertsLimit)
		}
		if tr.AlertCount <= info.AlertsLimit {
			for _, a := range tr.AlertIDs {
				if a != "" && !o.Alerts[k][a] {
					t.Errorf("incident %s: alert %s missing", id, a)
					break
				}
			}
		}
		if got := len(o.Network[k]); got != tr.NetworkArtifacts {
			t.Errorf("incident %s: %d network artifact records, want %d", id, got, tr.NetworkArtifacts)
		}
		if got := len(o.Files[k]); got != tr.FileArtifacts {
			t.Errorf("incident %s: %d file artifact records, want %d", id, got, tr.FileArtifacts)
		}
	}
	return short
}
