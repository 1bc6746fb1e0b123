package dlq

import (
	"reflect"
	"testing"

	"github.com/soc-tools/xdr-kafka-connector/pkg/enrich"
	"github.com/soc-tools/xdr-kafka-connector/pkg/offsets"
	"github.com/soc-tools/xdr-kafka-connector/pkg/record"
)

func entry(id string, version int64, status int, failedAt int64) Entry {
	return Entry{Connector: "c", Tenant: "t", IncidentID: id, ModificationTime: version,
		Error: record.DLQError{Stage: "enrich", Status: status, FailedAt: failedAt}}
}

func TestClassAndFilter(t *testing.T) {
	publish := Entry{IncidentID: "9", Error: record.DLQError{Stage: record.StagePublish, FailedAt: 1}}
	unmapped := Entry{IncidentID: "9", Error: record.DLQError{Stage: record.StageProfile, FailedAt: 1}}
	gone := entry("7", 5, 500, 1)
	gone.Error.Message = enrich.ErrIncidentNotFound.Error() + ": HTTP 500 from get_incident_extra_data: Incident 7 was not found"
	for _, tc := range []struct {
		e       Entry
		class   string
		classes []string
		ids     []string
		match   bool
	}{
		{entry("1", 5, 403, 1), "403", nil, nil, true},
		{entry("1", 5, 403, 1), "403", []string{"403"}, nil, true},
		{entry("1", 5, 403, 1), "403", []string{"4xx"}, nil, true},
		{entry("1", 5, 403, 1), "403", []string{"5xx", "422"}, nil, false},
		{entry("1", 5, 500, 1), "500", []string{"5xx"}, []string{"1"}, true},
		{entry("1", 5, 500, 1), "500", []string{"5xx"}, []string{"2"}, false},
		{entry("1", 5, 0, 1), ClassNoReply, []string{"no-reply"}, nil, true},
		{entry("1", 5, 0, 1), ClassNoReply, []string{"5xx"}, nil, false},
		{publish, ClassPublish, []string{"publish"}, nil, true},
		{publish, ClassPublish, []string{"4xx"}, nil, false},
		// A profile's mapping is pure: enriching again cannot fix it, so no
		// selection (not even --all) takes it.
		{unmapped, ClassProfile, nil, nil, false},
		{unmapped, ClassProfile, nil, []string{"9"}, false},
		// An incident that no longer exists needs nothing: --all and 5xx
		// leave it, naming its class or its incident takes it.
		{gone, ClassNotFound, nil, nil, false},
		{gone, ClassNotFound, []string{"5xx"}, nil, false},
		{gone, ClassNotFound, []string{"500"}, nil, false},
		{gone, ClassNotFound, []string{"not-found"}, nil, true},
		{gone, ClassNotFound, nil, []string{"7"}, true},
	} {
		if got := tc.e.Class(); got != tc.class {
			t.Errorf("Class(%+v) = %q, want %q", tc.e.Error, got, tc.class)
		}
		if got := (Filter{Incidents: tc.ids, Classes: tc.classes}).Match(tc.e); got != tc.match {
			t.Errorf("Filter{%v %v}.Match(%s) = %v, want %v", tc.ids, tc.classes, tc.class, got, tc.match)
		}
	}
	for c, ok := range map[string]bool{"403": true, "5xx": true, "publish": true, "no-reply": true, "not-found": true, "40": false, "6xx": false, "x": false, "": false} {
		if ValidClass(c) != ok {
			t.Errorf("ValidClass(%q) = %v", c, !ok)
		}
	}
}

func TestPlanAsksOncePerIncidentForWhatNoRedriveCovers(t *testing.T) {
	entries := []Entry{
		entry("1", 100, 403, 10), entry("1", 150, 403, 20), // two failures: the newest wins
		entry("2", 200, 422, 30),                           // not selected by --class 403
		entry("3", 300, 403, 40),                           // redriven already (applied ledger at 40)
		entry("4", 400, 403, 50), entry("4", 450, 403, 70), // ledger at 60: the later failure is new
		entry("5", 500, 403, 80), // a request waits
		entry("6", 600, 403, 90), // owed already at 610
	}
	st := offsets.State{
		Redrives: map[string]offsets.RedriveValue{
			"3": {IncidentID: "3", FailedAt: 40, AppliedAt: 41},
			"4": {IncidentID: "4", FailedAt: 60, AppliedAt: 61},
			"5": {IncidentID: "5", FailedAt: 80},
		},
		Pending: map[string]offsets.Pending{"6": {IncidentID: "6", ModificationTime: 610}},
	}
	reqs, skips := Plan(entries, st, Filter{Classes: []string{"403"}})
	wantReqs := []offsets.RedriveValue{
		{SchemaVersion: 1, IncidentID: "1", ModificationTime: 150, FailedAt: 20},
		{SchemaVersion: 1, IncidentID: "4", ModificationTime: 450, FailedAt: 70},
	}
	if !reflect.DeepEqual(reqs, wantReqs) {
		t.Errorf("requests = %+v, want %+v", reqs, wantReqs)
	}
	wantSkips := []Skip{{"3", SkipRedriven}, {"5", SkipRequested}, {"6", SkipOwed}}
	if !reflect.DeepEqual(skips, wantSkips) {
		t.Errorf("skips = %+v, want %+v", skips, wantSkips)
	}

	// By incident, every class.
	reqs, _ = Plan(entries, st, Filter{Incidents: []string{"2"}})
	if len(reqs) != 1 || reqs[0].IncidentID != "2" || reqs[0].ModificationTime != 200 {
		t.Errorf("--incident 2: %+v", reqs)
	}

	s := Summarize(entries, st)
	want := Summary{Records: 8, Incidents: 6, ByClass: map[string]int{"403": 7, "422": 1}, Outstanding: 4, Waiting: 1, Redriven: 2, NewestFailed: 90, OldestFailed: 10}
	if !reflect.DeepEqual(s, want) {
		t.Errorf("Summarize = %+v, want %+v", s, want)
	}
}

// TestSummaryTellsNotFoundApart: an incident that no longer exists is
// counted apart, not among the incidents to redrive.
func TestSummaryTellsNotFoundApart(t *testing.T) {
	gone := entry("7", 5, 500, 1)
	gone.Error.Message = enrich.ErrIncidentNotFound.Error() + ": Incident 7 was not found"
	s := Summarize([]Entry{gone, entry("8", 5, 403, 1)}, offsets.State{})
	if s.Outstanding != 1 || s.NotFound != 1 || s.ByClass[ClassNotFound] != 1 || s.ByClass["500"] != 0 {
		t.Errorf("summary %+v, want one incident to redrive (the 403) and one not found", s)
	}
}
