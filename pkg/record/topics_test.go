package record

import "testing"

// TestEveryRoleHasItsField: each role names its own field of Topics and a
// name of its own; Name reads what Of wrote, and an unknown role has none.
func TestEveryRoleHasItsField(t *testing.T) {
	var ts Topics
	names := map[string]bool{}
	for _, r := range AllTopics() {
		p := ts.Of(r)
		if p == nil || *p != "" {
			t.Fatalf("role %s: field %v already set or missing", r, p)
		}
		*p = "topic-" + r.String()
		if names[r.String()] || r.String() == "unknown" {
			t.Errorf("role %d: name %q", r, r)
		}
		names[r.String()] = true
	}
	for _, r := range AllTopics() {
		if got := ts.Name(r); got != "topic-"+r.String() {
			t.Errorf("role %s reads %q", r, got)
		}
	}
	if len(ts.All()) != len(AllTopics()) {
		t.Errorf("All lists %d topics for %d roles", len(ts.All()), len(AllTopics()))
	}
	unknown := Topic(len(AllTopics()))
	if ts.Of(unknown) != nil || ts.Name(unknown) != "" || unknown.String() != "unknown" {
		t.Error("an unknown role has a field")
	}
}

// Name runs for every record the sink writes: it allocates nothing.
func TestNameAllocatesNothing(t *testing.T) {
	ts := Topics{Incidents: "i", Alerts: "a", ECSAlerts: "e"}
	var got string
	if n := testing.AllocsPerRun(100, func() { got = ts.Name(TopicECSAlerts) }); n != 0 || got != "e" {
		t.Errorf("Name allocates %v times per call (%q)", n, got)
	}
}
