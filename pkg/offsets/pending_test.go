package offsets

import (
	"encoding/json"
	"testing"
)

func TestPendingMerge(t *testing.T) {
	const tpOld = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	const tpNew = "00-1af7651916cd43dd8448eb211c80319c-c7ad6b7169203331-01"
	for _, tc := range []struct {
		name       string
		old, newer Pending
		want       Pending
	}{
		{"newer version wins its fields",
			Pending{IncidentID: "1", ModificationTime: 10, Severity: "low", FirstQueued: 100, TraceParent: tpOld},
			Pending{IncidentID: "1", ModificationTime: 20, Severity: "high", FirstQueued: 200, TraceParent: tpNew},
			Pending{IncidentID: "1", ModificationTime: 20, Severity: "high", FirstQueued: 100, TraceParent: tpNew}},
		{"a blank severity keeps the earlier one",
			Pending{IncidentID: "1", ModificationTime: 10, Severity: "critical", FirstQueued: 100},
			Pending{IncidentID: "1", ModificationTime: 20, Severity: "  ", FirstQueued: 200},
			Pending{IncidentID: "1", ModificationTime: 20, Severity: "critical", FirstQueued: 100}},
		{"an older version keeps the newer trace",
			Pending{IncidentID: "1", ModificationTime: 30, FirstQueued: 300, TraceParent: tpNew},
			Pending{IncidentID: "1", ModificationTime: 20, FirstQueued: 200, TraceParent: tpOld},
			Pending{IncidentID: "1", ModificationTime: 30, FirstQueued: 200, TraceParent: tpNew}},
		{"no trace keeps the earlier trace",
			Pending{IncidentID: "1", ModificationTime: 10, FirstQueued: 100, TraceParent: tpOld},
			Pending{IncidentID: "1", ModificationTime: 20, FirstQueued: 200},
			Pending{IncidentID: "1", ModificationTime: 20, FirstQueued: 100, TraceParent: tpOld}},
		{"the newest version's alert count",
			Pending{IncidentID: "1", ModificationTime: 10, FirstQueued: 100, AlertCount: 3},
			Pending{IncidentID: "1", ModificationTime: 20, FirstQueued: 200, AlertCount: 70},
			Pending{IncidentID: "1", ModificationTime: 20, FirstQueued: 100, AlertCount: 70}},
		{"an older version or an unknown count keeps the alert count",
			Pending{IncidentID: "1", ModificationTime: 30, FirstQueued: 300, AlertCount: 70},
			Pending{IncidentID: "1", ModificationTime: 20, FirstQueued: 200, AlertCount: 3},
			Pending{IncidentID: "1", ModificationTime: 30, FirstQueued: 200, AlertCount: 70}},
		{"a version without an alert count keeps the earlier one",
			Pending{IncidentID: "1", ModificationTime: 10, FirstQueued: 100, AlertCount: 70},
			Pending{IncidentID: "1", ModificationTime: 20, FirstQueued: 200},
			Pending{IncidentID: "1", ModificationTime: 20, FirstQueued: 100, AlertCount: 70}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.old.Merge(tc.newer); got != tc.want {
				t.Fatalf("Merge =\n %+v\nwant\n %+v", got, tc.want)
			}
		})
	}
}

// TestOweKeepsSeverityOfAnEarlierVersion: the tracker merges by the same rule
// as the queue, so what is committed ranks the incident as the queue does.
func TestOweKeepsSeverityOfAnEarlierVersion(t *testing.T) {
	tr := NewTracker(State{}, 0)
	tr.Owe(Pending{IncidentID: "1", ModificationTime: 10, Severity: "critical", FirstQueued: 100})
	if !tr.Owe(Pending{IncidentID: "1", ModificationTime: 20, FirstQueued: 200}) {
		t.Fatal("a newer version did not raise what is owed")
	}
	got := tr.PendingList()
	if len(got) != 1 || got[0].Severity != "critical" || got[0].ModificationTime != 20 || got[0].FirstQueued != 100 {
		t.Fatalf("owed %+v", got)
	}
}

// The alert count is a routing hint of the running enricher, not state: a
// pending record is written byte for byte as without it.
func TestPendingValueLeavesOutTheAlertCount(t *testing.T) {
	p := Pending{IncidentID: "1", ModificationTime: 20, Severity: "high", FirstQueued: 100}
	without, err := json.Marshal(PendingValue{SchemaVersion: RecordVersion, Pending: p})
	if err != nil {
		t.Fatal(err)
	}
	p.AlertCount = 70
	with, err := json.Marshal(PendingValue{SchemaVersion: RecordVersion, Pending: p})
	if err != nil {
		t.Fatal(err)
	}
	if string(with) != string(without) {
		t.Fatalf("pending value with an alert count %s, without %s", with, without)
	}
}
