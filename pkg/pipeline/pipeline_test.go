package pipeline

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/soc-tools/xdr-kafka-connector/pkg/sink"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr/xdrtest"
)

// output is what the data topics hold, indexed for the checks.
type output struct {
	changes  map[versionKey]int             // incident.change records per version
	enriched map[string]envelope            // newest incident.enriched per incident
	alerts   map[versionKey]map[string]bool // (incident, version) -> alert keys
	network  map[versionKey]map[string]bool
	files    map[versionKey]map[string]bool
	dlq      []envelope
}

func (e *env) output() output {
	o := output{changes: map[versionKey]int{}, enriched: map[string]envelope{}, alerts: map[versionKey]map[string]bool{},
		network: map[versionKey]map[string]bool{}, files: map[versionKey]map[string]bool{}}
	add := func(m map[versionKey]map[string]bool, r envelope) {
		k := versionKey{r.IncidentID, r.ModificationTime}
		if m[k] == nil {
			m[k] = map[string]bool{}
		}
		m[k][r.key] = true
	}
	for _, r := range e.readTopic(testTopics.Incidents) {
		switch r.typ {
		case sink.TypeIncidentChange:
			o.changes[versionKey{r.IncidentID, r.ModificationTime}]++
		case sink.TypeIncidentEnriched:
			if old, ok := o.enriched[r.IncidentID]; !ok || r.ModificationTime >= old.ModificationTime {
				o.enriched[r.IncidentID] = r
			}
		default:
			e.t.Fatalf("unexpected record type %q in %s", r.typ, testTopics.Incidents)
		}
	}
	for _, r := range e.readTopic(testTopics.Alerts) {
		add(o.alerts, r)
	}
	for _, r := range e.readTopic(testTopics.Artifacts) {
		switch r.typ {
		case sink.TypeNetworkArtifact:
			add(o.network, r)
		case sink.TypeFileArtifact:
			add(o.files, r)
		}
	}
	o.dlq = e.readTopic(testTopics.DLQ)
	return o
}

// verify checks the topics against the simulator's truth: every incident
// version that stayed visible long enough to be polled is in xdr.incidents
// (exactly once when exact is set), nothing else is, and every incident's
// newest enrichment matches its final state.
func (e *env) verify(o output, exact bool, minVisible time.Duration) {
	t := e.t
	t.Helper()
	truth := map[versionKey]bool{}
	missing, short := 0, 0
	for _, v := range e.sim.Versions() {
		k := versionKey{v.IncidentID, v.ModificationTime}
		truth[k] = true
		if v.SupersededAt != 0 && time.Duration(v.SupersededAt-v.VisibleAt)*time.Millisecond < minVisible {
			short++
			continue // replaced before any poll could see it
		}
		switch n := o.changes[k]; {
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
	for k := range o.changes {
		if !truth[k] {
			t.Errorf("published version %v that the tenant never had", k)
		}
	}
	t.Logf("%d versions in truth (%d replaced before visible long enough), %d distinct published", len(truth), short, len(o.changes))

	for _, id := range e.sim.IncidentIDs() {
		tr, _ := e.sim.Truth(id)
		if tr.Restricted {
			continue
		}
		en, ok := o.enriched[id]
		if !ok {
			t.Errorf("incident %s: never enriched", id)
			continue
		}
		if en.ModificationTime != tr.ModificationTime {
			t.Errorf("incident %s: newest enrichment is of version %d, final version is %d", id, en.ModificationTime, tr.ModificationTime)
			continue
		}
		k := versionKey{id, tr.ModificationTime}
		info := en.Enrichment
		if info == nil || info.AlertsTotalCount != tr.AlertCount || info.NetworkArtifactsTotalCount != tr.NetworkArtifacts || info.FileArtifactsTotalCount != tr.FileArtifacts {
			t.Errorf("incident %s: enrichment %+v, truth %+v", id, info, tr)
			continue
		}
		wantAlerts := min(tr.AlertCount, info.AlertsLimit)
		if got := len(o.alerts[k]); got != wantAlerts {
			t.Errorf("incident %s: %d distinct alert records for the final version, want %d", id, got, wantAlerts)
		}
		if info.AlertsTruncated != (tr.AlertCount > info.AlertsLimit) {
			t.Errorf("incident %s: alerts_truncated=%v with %d alerts and limit %d", id, info.AlertsTruncated, tr.AlertCount, info.AlertsLimit)
		}
		for _, a := range tr.AlertIDs {
			if a != "" && tr.AlertCount <= info.AlertsLimit && !o.alerts[k][a] {
				t.Errorf("incident %s: alert %s missing", id, a)
				break
			}
		}
		if got := len(o.network[k]); got != tr.NetworkArtifacts {
			t.Errorf("incident %s: %d network artifact records, want %d", id, got, tr.NetworkArtifacts)
		}
		if got := len(o.files[k]); got != tr.FileArtifacts {
			t.Errorf("incident %s: %d file artifact records, want %d", id, got, tr.FileArtifacts)
		}
	}
}

func maxVersion(sim *xdrtest.Tenant) int64 {
	var m int64
	for _, v := range sim.Versions() {
		m = max(m, v.ModificationTime)
	}
	return m
}

// drained reports whether the pipeline has read the tenant's newest version
// and owes nothing.
func drained(p *Pipeline, sim *xdrtest.Tenant) bool {
	s := p.Stats()
	return s.Started && s.Offsets.Polled >= maxVersion(sim) && s.Offsets.Pending == 0 && s.Offsets.InFlight == 0 && s.QueueDepth == 0
}

type running struct {
	p      *Pipeline
	cancel context.CancelFunc
	done   chan error
	close  func()
}

func (e *env) start(cfg Config) *running {
	kcl := e.producer()
	p, err := New(cfg, e.api, kcl, WithLogger(testLogger(e.t)))
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{p: p, cancel: cancel, done: make(chan error, 1), close: kcl.Close}
	go func() { r.done <- p.Run(ctx) }()
	return r
}

// stop shuts the pipeline down gracefully and requires a clean exit.
func (r *running) stop(t *testing.T) {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	r.close()
}

// crash abandons the pipeline as a crash would.
func (r *running) crash(t *testing.T) {
	t.Helper()
	r.p.Abandon()
	select {
	case <-r.done:
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after Abandon")
	}
	r.close()
	r.cancel()
}

func TestEndToEndUnderMutation(t *testing.T) {
	e := newEnv(t, xdrtest.Config{Seed: 7, Incidents: 250, MaxAlerts: 150, RateWindow: 100 * time.Millisecond, IndexDelay: 300 * time.Millisecond})
	r := e.start(e.config(100 * time.Millisecond))
	<-r.p.Ready()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// Mutate while the backlog is being read: status changes, new alerts,
	// reassignments, and bulk updates of 150 incidents in one millisecond.
	if err := e.sim.RunMutations(ctx, xdrtest.MutationConfig{Interval: 10 * time.Millisecond, BulkEvery: 30, BulkSize: 150, MinVersionAge: 500 * time.Millisecond, Steps: 120}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 90*time.Second, "the pipeline to drain", func() bool { return drained(r.p, e.sim) })
	r.stop(t)

	o := e.output()
	e.verify(o, true, 200*time.Millisecond)
	if n := e.sim.Count429(); n != 0 {
		t.Errorf("the tenant answered 429 %d times", n)
	}
	if len(o.dlq) != 0 {
		t.Errorf("%d DLQ records without any fault injected", len(o.dlq))
	}

	// The state written at shutdown covers exactly what was acknowledged.
	st := e.readState()
	if want := maxVersion(e.sim); st.Watermark != want {
		t.Errorf("watermark %d after a drained shutdown, want the newest version %d", st.Watermark, want)
	}
	if len(st.Pending) != 0 {
		t.Errorf("%d enrichments still pending after draining", len(st.Pending))
	}
	for id, v := range st.Emitted {
		if o.changes[versionKey{id, v}] == 0 {
			t.Errorf("state says %s@%d was emitted, but it is not in %s", id, v, testTopics.Incidents)
		}
	}
	floor := st.Watermark - time.Second.Milliseconds()
	for k := range o.changes {
		if k.t >= floor && st.Emitted[k.id] < k.t {
			t.Errorf("published %v inside the lookback window is missing from the emitted set", k)
		}
	}
}

func TestCrashAtRandomPointsLosesNothing(t *testing.T) {
	e := newEnv(t, xdrtest.Config{Seed: 11, Incidents: 120, MaxAlerts: 40, RateWindow: 60 * time.Millisecond, IndexDelay: 150 * time.Millisecond})
	cfg := e.config(60 * time.Millisecond)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	mutations := make(chan error, 1)
	go func() {
		mutations <- e.sim.RunMutations(ctx, xdrtest.MutationConfig{Interval: 8 * time.Millisecond, BulkEvery: 40, BulkSize: 110, MinVersionAge: 800 * time.Millisecond, Steps: 250})
	}()
	rng := rand.New(rand.NewPCG(42, 42))
	for i := range 10 {
		r := e.start(cfg)
		// Crash at a random point: sometimes before the offsets are even
		// loaded, mostly while polling, producing and enriching.
		time.Sleep(time.Duration(rng.IntN(400)) * time.Millisecond)
		r.crash(t)
		t.Logf("crash %d: %+v", i+1, r.p.Stats().Offsets)
	}
	if err := <-mutations; err != nil {
		t.Fatal(err)
	}
	r := e.start(cfg)
	waitFor(t, 90*time.Second, "the pipeline to drain after the crashes", func() bool { return drained(r.p, e.sim) })
	r.stop(t)
	e.verify(e.output(), false, 200*time.Millisecond)
	if n := e.sim.Count429(); n != 0 {
		t.Errorf("the tenant answered 429 %d times across restarts", n)
	}
}

func TestShutdownWithBacklogKeepsPendingEnrichments(t *testing.T) {
	// 10 extra-data calls per second: the backlog of 40 cannot drain before
	// the stop.
	e := newEnv(t, xdrtest.Config{Seed: 3, Incidents: 40, MaxAlerts: 20, RateWindow: time.Second})
	cfg := e.config(time.Second)
	r := e.start(cfg)
	waitFor(t, 30*time.Second, "the first poll and some enrichments", func() bool {
		s := r.p.Stats()
		return s.Versions == 40 && s.Enrich.Calls >= 10
	})
	r.stop(t)

	st := e.readState()
	o := e.output()
	if want := maxVersion(e.sim); st.Watermark != want {
		t.Errorf("watermark %d, want %d: every change record was acknowledged", st.Watermark, want)
	}
	for _, id := range e.sim.IncidentIDs() {
		tr, _ := e.sim.Truth(id)
		en, enrichedOK := o.enriched[id]
		done := enrichedOK && en.ModificationTime >= tr.ModificationTime
		if _, pending := st.Pending[id]; pending == done {
			t.Errorf("incident %s: enriched=%v but pending=%v; exactly the unenriched incidents must be pending", id, done, pending)
		}
	}
	if len(st.Pending) == 0 || len(st.Pending) == 40 {
		t.Fatalf("%d pending: the test did not stop mid-backlog", len(st.Pending))
	}

	// A restart owes the same enrichments and finishes them.
	r = e.start(cfg)
	waitFor(t, 60*time.Second, "the restarted pipeline to drain", func() bool { return drained(r.p, e.sim) })
	r.stop(t)
	e.verify(e.output(), false, 0)
}
