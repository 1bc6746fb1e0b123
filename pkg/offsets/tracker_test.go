package offsets

import (
	"testing"
	"time"
)

func TestWatermarkNeverPassesUnackedVersion(t *testing.T) {
	type step struct {
		op   string // emit, ack, poll
		id   string
		t    int64
		want int64 // watermark after the step
	}
	cases := []struct {
		name  string
		start int64
		steps []step
	}{
		{"poll without emissions moves to the poll's max", 100, []step{
			{"poll", "", 150, 150},
		}},
		{"unacked version holds the watermark", 100, []step{
			{"emit", "a", 120, 100},
			{"emit", "b", 130, 100},
			{"poll", "", 130, 120},
			{"ack", "b", 130, 120},
			{"ack", "a", 120, 130},
		}},
		{"acks out of order", 0, []step{
			{"emit", "a", 10, 0},
			{"emit", "b", 20, 0},
			{"emit", "c", 30, 0},
			{"poll", "", 30, 10},
			{"ack", "c", 30, 10},
			{"ack", "a", 10, 20},
			{"ack", "b", 20, 30},
		}},
		{"a poll never moves the watermark backwards", 500, []step{
			{"poll", "", 400, 500},
		}},
		{"same version emitted twice needs two acks", 0, []step{
			{"emit", "a", 10, 0},
			{"emit", "a", 10, 0},
			{"poll", "", 10, 10},
			{"ack", "a", 10, 10},
			{"emit", "z", 5, 5},
			{"ack", "z", 5, 10},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tr := NewTracker(State{Watermark: tc.start}, 1000)
			for i, s := range tc.steps {
				switch s.op {
				case "emit":
					tr.Emitted(s.id, s.t)
				case "ack":
					tr.Acked(s.id, s.t)
				case "poll":
					tr.Polled(s.t)
				}
				if got := tr.Snapshot().Watermark; got != s.want {
					t.Fatalf("step %d (%s %s %d): watermark %d, want %d", i, s.op, s.id, s.t, got, s.want)
				}
			}
		})
	}
}

func TestMarksKeepOnlyAckedVersionsInsideLookback(t *testing.T) {
	tr := NewTracker(State{Watermark: 0, Emitted: map[string]int64{"old": 1}}, 100)
	tr.Emitted("a", 500)
	tr.Emitted("b", 950)
	tr.Acked("a", 500)
	tr.Polled(1000)
	d := tr.Snapshot()
	// b is unacked: watermark 950, floor 850; a (500) and old (1) are below
	// it, so they are forgotten (deleted), and b is not marked yet.
	if d.Watermark != 950 {
		t.Fatalf("watermark %d, want 950", d.Watermark)
	}
	if len(d.Marks) != 2 || d.Marks["a"] != nil || d.Marks["old"] != nil {
		t.Fatalf("marks %v, want deletions of a and old only", d.Marks)
	}
	tr.Acked("b", 950)
	tr.Settled("b", 960)
	d = tr.Snapshot()
	if len(d.Marks) != 1 || d.Marks["b"] == nil || *d.Marks["b"] != (Mark{Emitted: 950, Enriched: 960}) {
		t.Fatalf("marks %v, want b: 950 emitted, 960 enriched", d.Marks)
	}
	// Only changes are written: an idle snapshot carries no marks.
	if d := tr.Snapshot(); len(d.Marks) != 0 || len(d.Pending) != 0 {
		t.Fatalf("idle snapshot wrote %d marks and %d pending entries", len(d.Marks), len(d.Pending))
	}
	// A failed write is retried.
	tr.Acked("c", 990)
	d = tr.Snapshot()
	tr.Unsnapshot(d)
	if d := tr.Snapshot(); d.Marks["c"] == nil {
		t.Fatal("mark lost after Unsnapshot")
	}
}

func TestPendingDeltas(t *testing.T) {
	tr := NewTracker(State{Pending: map[string]Pending{"x": {IncidentID: "x", ModificationTime: 5}}}, 100)
	if !tr.Owe(Pending{IncidentID: "a", ModificationTime: 10, FirstQueued: 50}) {
		t.Fatal("first Owe reported nothing new")
	}
	if !tr.Owe(Pending{IncidentID: "a", ModificationTime: 20, FirstQueued: 60}) {
		t.Fatal("Owe of a newer version reported nothing new")
	}
	if tr.Owe(Pending{IncidentID: "a", ModificationTime: 20, FirstQueued: 70}) || tr.Owe(Pending{IncidentID: "x", ModificationTime: 5}) {
		t.Fatal("Owe of a version already owed asked for another enrichment")
	}
	d := tr.Snapshot()
	if p := d.Pending["a"]; p == nil || p.ModificationTime != 20 || p.FirstQueued != 50 {
		t.Fatalf("merged pending = %+v, want newest version 20 and first queued 50", p)
	}
	if _, ok := d.Pending["x"]; ok {
		t.Fatal("unchanged loaded entry written again")
	}
	// Settling an older version keeps a newer one owed.
	tr.Settled("a", 10)
	if d := tr.Snapshot(); len(d.Pending) != 0 {
		t.Fatalf("settling an older version changed pending: %v", d.Pending)
	}
	tr.Settled("a", 20)
	tr.Settled("x", 5)
	d = tr.Snapshot()
	if p, ok := d.Pending["a"]; !ok || p != nil {
		t.Fatalf("settled a: want tombstone, got %v (present %v)", p, ok)
	}
	if p, ok := d.Pending["x"]; !ok || p != nil {
		t.Fatalf("settled x: want tombstone, got %v (present %v)", p, ok)
	}
	// A failed write is retried.
	tr.Owe(Pending{IncidentID: "b", ModificationTime: 1})
	d = tr.Snapshot()
	tr.Unsnapshot(d)
	if d2 := tr.Snapshot(); d2.Pending["b"] == nil {
		t.Fatal("pending change lost after Unsnapshot")
	}
	if n := len(tr.PendingList()); n != 1 {
		t.Fatalf("PendingList has %d entries, want 1", n)
	}
}

func TestEnrichmentAheadOfThePollIsNotRepeated(t *testing.T) {
	tr := NewTracker(State{}, 1000)
	tr.Owe(Pending{IncidentID: "a", ModificationTime: 10})
	// The reply showed version 30, which no poll has emitted yet; while the
	// enrichment is on its way to Kafka, version 30 is not owed again.
	tr.Covering("a", 30)
	if tr.Owe(Pending{IncidentID: "a", ModificationTime: 30}) {
		t.Fatal("version 30 owed again while an enrichment covering it was being produced")
	}
	tr.Settled("a", 30)
	if tr.Owe(Pending{IncidentID: "a", ModificationTime: 30}) {
		t.Fatal("version 30 owed again although an enrichment already covered it")
	}
	if !tr.Owe(Pending{IncidentID: "a", ModificationTime: 31}) {
		t.Fatal("a newer version was not owed")
	}
	tr.Polled(100)
	d := tr.Snapshot()
	if m := d.Marks["a"]; m == nil || m.Enriched != 30 {
		t.Fatalf("snapshot marks = %v, want a enriched through 30", d.Marks)
	}
	// It survives a restart.
	tr2 := NewTracker(State{Watermark: d.Watermark, Enriched: map[string]int64{"a": d.Marks["a"].Enriched}}, 1000)
	if tr2.Owe(Pending{IncidentID: "a", ModificationTime: 30}) {
		t.Fatal("after a restart, version 30 was owed again")
	}
}

// TestCoveredFutureVersionDoesNotHideTheNextChange: an enrichment showed a
// version stamped a day ahead of the clock; the incident's next real change
// carries an older stamp and is owed all the same. A covered version within
// the tolerance still covers older ones. (Before, the day-ahead version
// covered every later change, and none was enriched again.)
func TestCoveredFutureVersionDoesNotHideTheNextChange(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC).UnixMilli()
	day := (24 * time.Hour).Milliseconds()
	tr := NewTracker(State{}, 1000)
	tr.Settled("far", now+day)
	if !tr.Owe(Pending{IncidentID: "far", ModificationTime: now + 5, FirstQueued: now + 10}) {
		t.Fatal("the change after a day-ahead version was not owed")
	}
	tr.Settled("near", now+10_000) // 10 s ahead: a tenant's clock a little fast
	if tr.Owe(Pending{IncidentID: "near", ModificationTime: now + 5_000, FirstQueued: now}) {
		t.Fatal("a version covered by one within the tolerance was owed again")
	}
	tr.SetFutureTolerance(time.Second)
	if !tr.Owe(Pending{IncidentID: "near", ModificationTime: now + 5_000, FirstQueued: now}) {
		t.Fatal("with a 1 s tolerance, a version 10 s ahead still covered an older one")
	}
}
