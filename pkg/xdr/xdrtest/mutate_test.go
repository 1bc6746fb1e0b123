package xdrtest_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr/xdrtest"
)

// getOne returns the visible incident id, or nil.
func getOne(t *testing.T, tn http.Handler, id string) map[string]any {
	t.Helper()
	rep := call(t, tn, "get_incidents", map[string]any{"filters": []any{filter("incident_id", "eq", id)}}).reply(t)
	incs := asList(rep["incidents"])
	if len(incs) == 0 {
		return nil
	}
	return incs[0].(map[string]any)
}

func TestIndexDelay(t *testing.T) {
	const delay = 30 * time.Second
	tn, clk := newTenant(xdrtest.Config{Seed: 2, Incidents: 20, IndexDelay: delay})
	id := tn.IncidentIDs()[5]
	before := getOne(t, tn, id)
	if before == nil {
		t.Fatal("old incident not visible")
	}
	oldMod := num(t, before["modification_time"])

	clk.Add(time.Second)
	v := tn.ChangeStatus(id)
	if v.ModificationTime != clk.Now().UnixMilli() || v.VisibleAt != v.ModificationTime+delay.Milliseconds() || v.SupersededAt != 0 {
		t.Fatalf("version %+v at now %d", v, clk.Now().UnixMilli())
	}
	clk.Add(delay - time.Millisecond)
	if got := num(t, getOne(t, tn, id)["modification_time"]); got != oldMod {
		t.Fatalf("change visible %v early: modification_time %d", time.Millisecond, got)
	}
	if got := num(t, extra(t, tn, id, 1).reply(t)["incident"].(map[string]any)["modification_time"]); got != oldMod {
		t.Fatalf("extra data shows the change early: %d", got)
	}
	clk.Add(time.Millisecond)
	after := getOne(t, tn, id)
	if got := num(t, after["modification_time"]); got != v.ModificationTime {
		t.Fatalf("change not visible at T+delay: modification_time %d, want %d", got, v.ModificationTime)
	}
	if after["status"] == before["status"] {
		t.Errorf("status unchanged: %v", after["status"])
	}
	// A query by the old time no longer finds it; by the new one it does.
	rep := call(t, tn, "get_incidents", map[string]any{"filters": []any{
		filter("incident_id", "eq", id), filter("modification_time", "lte", oldMod)}}).reply(t)
	if len(asList(rep["incidents"])) != 0 {
		t.Error("old version still matched after the new one became visible")
	}

	// Versions know when each was superseded.
	vs := tn.Versions()
	var mine []xdrtest.Version
	for _, x := range vs {
		if x.IncidentID == id {
			mine = append(mine, x)
		}
	}
	if len(mine) != 2 || mine[0].SupersededAt != v.VisibleAt || mine[1] != v {
		t.Fatalf("versions of %s: %+v", id, mine)
	}

	// Two changes within the delay: the first is never visible.
	a := tn.Reassign(id)
	b := tn.ChangeStatus(id)
	vs = tn.Versions()
	if got := vs[len(vs)-2]; got.IncidentID != id || got.ModificationTime != a.ModificationTime || got.SupersededAt != b.VisibleAt || got.SupersededAt != got.VisibleAt {
		t.Errorf("superseded-before-visible version %+v (next visible %d)", got, b.VisibleAt)
	}

	// A new incident does not exist until its first version is visible.
	nv := tn.CreateIncident()
	if getOne(t, tn, nv.IncidentID) != nil {
		t.Fatal("new incident visible before IndexDelay")
	}
	if r := extra(t, tn, nv.IncidentID, 1); r.status != http.StatusInternalServerError {
		t.Fatalf("extra data for an unindexed incident: %d", r.status)
	}
	if tr, ok := tn.Truth(nv.IncidentID); !ok || tr.ModificationTime != nv.ModificationTime || tr.AlertCount == 0 {
		t.Fatalf("Truth of new incident: %+v %v", tr, ok)
	}
	clk.Add(delay)
	if getOne(t, tn, nv.IncidentID) == nil {
		t.Fatal("new incident invisible after IndexDelay")
	}
	if r := extra(t, tn, nv.IncidentID, 1); r.status != http.StatusOK {
		t.Fatalf("extra data for the new incident: %d %s", r.status, r.body)
	}
}

func TestBulkUpdate(t *testing.T) {
	tn, clk := newTenant(xdrtest.Config{Seed: 4, Incidents: 160})
	clk.Add(time.Minute)
	vs := tn.BulkUpdate(130)
	if len(vs) != 130 {
		t.Fatalf("%d versions, want 130", len(vs))
	}
	mod := clk.Now().UnixMilli()
	seen := map[string]bool{}
	for _, v := range vs {
		if v.ModificationTime != mod {
			t.Fatalf("version %+v not stamped %d", v, mod)
		}
		if seen[v.IncidentID] {
			t.Fatalf("incident %s updated twice", v.IncidentID)
		}
		seen[v.IncidentID] = true
	}
	got := queryAll(t, tn, []any{filter("modification_time", "gte", mod), filter("modification_time", "lte", mod)},
		map[string]any{"field": "modification_time", "keyword": "asc"})
	if got.total != 130 || len(got.incidents) != 130 {
		t.Fatalf("query of the bulk millisecond: total %d, %d incidents, want 130", got.total, len(got.incidents))
	}
	for _, id := range ids(got.incidents) {
		if !seen[id] {
			t.Errorf("incident %s matched but was not in the bulk update", id)
		}
	}
	if n := len(tn.BulkUpdate(1000)); n != 160 {
		t.Errorf("BulkUpdate(1000) on 160 incidents touched %d", n)
	}
}

func TestMutationsUnknownID(t *testing.T) {
	tn, _ := newTenant(xdrtest.Config{Incidents: 2})
	n := len(tn.Versions())
	for _, v := range []xdrtest.Version{tn.ChangeStatus("nope"), tn.AddAlerts("nope", 3), tn.Reassign("nope")} {
		if v != (xdrtest.Version{}) {
			t.Errorf("mutation of unknown id returned %+v", v)
		}
	}
	if len(tn.Versions()) != n {
		t.Error("mutation of unknown id stamped a version")
	}
	if _, ok := tn.Truth("nope"); ok {
		t.Error("Truth of unknown id reported ok")
	}
}

func TestRunMutations(t *testing.T) {
	const minAge = time.Hour
	cfg := xdrtest.MutationConfig{BulkEvery: 20, BulkSize: 120, MinVersionAge: minAge, Steps: 60}
	run := func() *xdrtest.Tenant {
		tn, _ := newTenant(xdrtest.Config{Seed: 8, Incidents: 200, MaxAlerts: 30})
		if err := tn.RunMutations(context.Background(), cfg); err != nil {
			t.Fatal(err)
		}
		return tn
	}
	tn := run()
	vs := tn.Versions()
	if len(vs) <= 200+60 {
		t.Fatalf("%d versions after 60 steps with bulk updates", len(vs))
	}
	last := map[string]xdrtest.Version{}
	byMod := map[int64]int{}
	for i, v := range vs {
		if prev, ok := last[v.IncidentID]; ok {
			if v.ModificationTime-prev.ModificationTime < minAge.Milliseconds() {
				t.Errorf("version %d of %s only %d ms after the previous one", i, v.IncidentID, v.ModificationTime-prev.ModificationTime)
			}
			if prev.SupersededAt != v.VisibleAt {
				t.Errorf("previous version of %s superseded at %d, want %d", v.IncidentID, prev.SupersededAt, v.VisibleAt)
			}
		}
		if i >= 200 {
			byMod[v.ModificationTime]++
		}
		last[v.IncidentID] = v
	}
	if slices.Max(slicesValues(byMod)) < 101 {
		t.Errorf("no bulk update of more than 100 incidents in one millisecond: %v", byMod)
	}
	for _, id := range tn.IncidentIDs() {
		if tr, _ := tn.Truth(id); tr.AlertCount > 30 {
			t.Errorf("incident %s has %d alerts, MaxAlerts 30", id, tr.AlertCount)
		}
	}
	// Same seed, same steps, same history.
	if other := run().Versions(); !slices.Equal(other, vs) {
		t.Error("two runs with the same seed diverged")
	}
}

func slicesValues(m map[int64]int) []int {
	out := []int{0}
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

func TestRunMutationsStops(t *testing.T) {
	tn, _ := newTenant(xdrtest.Config{Incidents: 5})
	for _, cfg := range []xdrtest.MutationConfig{{}, {Steps: -1}, {Interval: -time.Second, Steps: 1}} {
		if err := tn.RunMutations(context.Background(), cfg); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tn.RunMutations(ctx, xdrtest.MutationConfig{Interval: time.Hour}) }()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("RunMutations after cancel: %v", err)
	}
	if n := len(tn.Versions()); n != 5 {
		t.Errorf("%d versions; cancelled run should not have mutated", n)
	}
}

// TestConcurrentUse is for -race: queries, extra data and mutations at once.
func TestConcurrentUse(t *testing.T) {
	tn := xdrtest.New(xdrtest.Config{Seed: 1, Incidents: 60, RateLimit: 1 << 20, MaxAlerts: 300})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := tn.RunMutations(ctx, xdrtest.MutationConfig{Steps: 300, BulkEvery: 50, BulkSize: 20}); err != nil {
			t.Error(err)
		}
	})
	for range 3 {
		wg.Go(func() {
			for i := range 40 {
				ids := tn.IncidentIDs()
				if r := extra(t, tn, ids[i%len(ids)], 50); r.status != http.StatusOK {
					t.Errorf("extra data: %d", r.status)
				}
				if r := call(t, tn, "get_incidents", map[string]any{"sort": map[string]any{"field": "modification_time", "keyword": "desc"}}); r.status != http.StatusOK {
					t.Errorf("get_incidents: %d", r.status)
				}
				tn.Truth(ids[0])
			}
		})
	}
	wg.Wait()
}

// TestReplayRebuildsTheJournaledTenant: a tenant rebuilt by Replay from the
// steps a Journal recorded answers both endpoints byte for byte as the
// original does, and both go on changing alike.
func TestReplayRebuildsTheJournaledTenant(t *testing.T) {
	cfg := xdrtest.Config{Seed: 3, Incidents: 80, MaxAlerts: 40, IndexDelay: 500 * time.Millisecond}
	mcfg := xdrtest.MutationConfig{BulkEvery: 7, BulkSize: 30, MinVersionAge: 2 * time.Second}
	orig, clk := newTenant(cfg)
	generatedAt := clk.Now()
	var steps []time.Time
	mcfg.Steps = 50
	mcfg.Journal = func(step int, at time.Time) error {
		if step != len(steps)+1 {
			t.Fatalf("journaled step %d after %d steps", step, len(steps))
		}
		steps = append(steps, at)
		clk.Add(700 * time.Millisecond) // the next step, later
		return nil
	}
	if err := orig.RunMutations(context.Background(), mcfg); err != nil {
		t.Fatal(err)
	}
	if len(steps) != 50 || len(orig.IncidentIDs()) <= 80 {
		t.Fatalf("%d steps journaled, %d incidents: want 50 steps and some created incidents", len(steps), len(orig.IncidentIDs()))
	}
	clk.Add(time.Minute)
	cfg.Now = clk.Now
	mcfg.Journal = nil
	copyOf, err := xdrtest.Replay(cfg, mcfg, generatedAt, steps)
	if err != nil {
		t.Fatal(err)
	}
	same := func(when string) {
		t.Helper()
		if !slices.Equal(copyOf.IncidentIDs(), orig.IncidentIDs()) || !slices.Equal(copyOf.Versions(), orig.Versions()) {
			t.Fatalf("%s: incidents or versions differ", when)
		}
		a, b := queryAll(t, orig, nil, nil), queryAll(t, copyOf, nil, nil)
		if fmt.Sprint(a) != fmt.Sprint(b) {
			t.Fatalf("%s: get_incidents differs", when)
		}
		for _, id := range orig.IncidentIDs() {
			if x, y := extra(t, orig, id, 0), extra(t, copyOf, id, 0); x.status != y.status || !bytes.Equal(x.body, y.body) {
				t.Fatalf("%s: get_incident_extra_data of %s differs", when, id)
			}
		}
	}
	same("replayed")
	// Both continue from step 51 alike: the mutation RNG was replayed too.
	mcfg.Steps, mcfg.FirstStep = 20, 51
	for _, tn := range []*xdrtest.Tenant{orig, copyOf} {
		if err := tn.RunMutations(context.Background(), mcfg); err != nil {
			t.Fatal(err)
		}
	}
	same("after 20 more steps")

	if _, err := xdrtest.Replay(cfg, mcfg, generatedAt, []time.Time{steps[1], steps[0]}); err == nil {
		t.Error("Replay accepted steps that run backwards")
	}
}

// TestJournalErrorStopsMutations: a step the journal could not record is not
// applied, and RunMutations returns the error.
func TestJournalErrorStopsMutations(t *testing.T) {
	tn, _ := newTenant(xdrtest.Config{Seed: 3, Incidents: 10})
	before := len(tn.Versions())
	errFull := errors.New("disk full")
	err := tn.RunMutations(context.Background(), xdrtest.MutationConfig{Steps: 5, Journal: func(int, time.Time) error { return errFull }})
	if !errors.Is(err, errFull) || len(tn.Versions()) != before {
		t.Fatalf("RunMutations = %v with %d new versions; want the journal's error and none", err, len(tn.Versions())-before)
	}
}
