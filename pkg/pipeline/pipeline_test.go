package pipeline

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/soc-tools/xdr-kafka-connector/internal/testkit"
	"github.com/soc-tools/xdr-kafka-connector/pkg/enrich"
	"github.com/soc-tools/xdr-kafka-connector/pkg/source"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr/xdrtest"
)

func testLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.DiscardHandler)
}

// testConfig is a fast configuration: 10 extra-data calls per rateWindow,
// polls every 50ms, a one-second lookback.
func testConfig(e *testkit.Env, rateWindow time.Duration) Config {
	return Config{
		Connector: "test", Tenant: "sim", Topics: testkit.Topics, Offsets: testkit.OffsetsTopic,
		CreateTopics: true, Partitions: 3, Replication: 1,
		StartFrom: time.Now().Add(-48 * time.Hour).UnixMilli(),
		Source:    source.Config{PollInterval: 50 * time.Millisecond, Lookback: time.Second},
		RateLimit: 10, RateWindow: rateWindow,
		Enrich:         enrich.Config{Workers: 4, MaxAttempts: 6, CallTimeout: 5 * time.Second},
		AlertsLimit:    1000,
		CommitInterval: 50 * time.Millisecond, ShutdownTimeout: 10 * time.Second,
		ClientOpts: e.ConnOpts(),
	}
}

// drained reports whether the pipeline's latest complete poll saw the
// tenant's newest version and nothing is owed or in flight.
func drained(p *Pipeline, sim *xdrtest.Tenant) bool {
	s := p.Stats()
	return s.Started && s.LastPollErr == nil && s.LastPoll.Complete && s.LastPoll.MaxMTime >= testkit.MaxVersion(sim) &&
		s.Offsets.Pending == 0 && s.Offsets.InFlight == 0 && s.QueueDepth == 0
}

type running struct {
	p      *Pipeline
	cancel context.CancelFunc
	done   chan error
	close  func()
}

func start(e *testkit.Env, cfg Config, opts ...Option) *running {
	return startWith(e, e.API, cfg, opts...)
}

// startWith is start reading through api instead of the simulator's client.
func startWith(e *testkit.Env, api API, cfg Config, opts ...Option) *running {
	kcl := e.Producer()
	p, err := New(cfg, api, kcl, append([]Option{WithLogger(testLogger())}, opts...)...)
	if err != nil {
		e.T.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{p: p, cancel: cancel, done: make(chan error, 1), close: func() { p.Close(); kcl.Close() }}
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

// crashTenTimes runs the pipeline while the tenant changes, and crashes it
// at ten random points — sometimes before the offsets are even loaded, mostly
// while polling, producing and enriching — restarting it at once each time,
// as a supervisor would. The eleventh run drains and stops gracefully.
func crashTenTimes(t *testing.T, e *testkit.Env, cfg Config, seed uint64, polls *testkit.PollLog) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	mutations := make(chan error, 1)
	go func() {
		mutations <- e.Sim.RunMutations(ctx, xdrtest.MutationConfig{Interval: 8 * time.Millisecond, BulkEvery: 40, BulkSize: 110, MinVersionAge: 800 * time.Millisecond, Steps: 250})
	}()
	rng := rand.New(rand.NewPCG(seed, seed))
	r := start(e, cfg, WithPollObserver(polls.Observer(0)))
	for i := range 10 {
		time.Sleep(time.Duration(rng.IntN(400)) * time.Millisecond)
		r.crash(t)
		polls.Crashed(i)
		t.Logf("crash %d: %+v", i+1, r.p.Stats().Offsets)
		r = start(e, cfg, WithPollObserver(polls.Observer(i+1)))
	}
	if err := <-mutations; err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 90*time.Second, "the pipeline to drain after the crashes", func() bool { return drained(r.p, e.Sim) })
	r.stop(t)
}

// crash abandons the pipeline as a crash would: no drain, no final commit.
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
	e := testkit.New(t, xdrtest.Config{Seed: 7, Incidents: 250, MaxAlerts: 150, RateWindow: 100 * time.Millisecond, IndexDelay: 300 * time.Millisecond})
	var polls testkit.PollLog
	r := start(e, testConfig(e, 100*time.Millisecond), WithPollObserver(polls.Observer(0)))
	<-r.p.Ready()

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	// Mutate while the backlog is being read: status changes, new alerts,
	// reassignments, and bulk updates of 150 incidents in one millisecond,
	// each change visible only 300ms after its timestamp.
	if err := e.Sim.RunMutations(ctx, xdrtest.MutationConfig{Interval: 10 * time.Millisecond, BulkEvery: 30, BulkSize: 150, MinVersionAge: 500 * time.Millisecond, Steps: 120}); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 90*time.Second, "the pipeline to drain", func() bool { return drained(r.p, e.Sim) })
	final := r.p.Stats()
	r.stop(t)

	o := e.Output()
	e.Verify(o, true, polls.Expect(0), nil)
	if n := e.Sim.Count429(); n != 0 {
		t.Errorf("the tenant answered 429 %d times", n)
	}
	if len(o.DLQ) != 0 {
		t.Errorf("%d DLQ records without any fault injected", len(o.DLQ))
	}

	// The state written at shutdown covers exactly what was acknowledged:
	// with nothing in flight, the watermark is the last poll's mark.
	st, _ := e.ReadState("test", "sim")
	if want := final.Offsets.Polled; st.Watermark != want || want < final.LastPoll.Mark {
		t.Errorf("watermark %d after a drained shutdown, want the latest poll mark %d", st.Watermark, final.LastPoll.Mark)
	}
	if !st.Clean {
		t.Error("a graceful shutdown did not mark the state clean")
	}
	if len(st.Pending) != 0 {
		t.Errorf("%d enrichments still pending after draining", len(st.Pending))
	}
	for id, v := range st.Emitted {
		if o.Changes[testkit.Version{ID: id, T: v}] == 0 {
			t.Errorf("state says %s@%d was emitted, but it is not in %s", id, v, testkit.Topics.Incidents)
		}
	}
	floor := st.Watermark - time.Second.Milliseconds()
	for k := range o.Changes {
		if k.T >= floor && st.Emitted[k.ID] < k.T {
			t.Errorf("published %v inside the lookback window is missing from the emitted set", k)
		}
	}
}

func TestCrashAtRandomPointsLosesNothing(t *testing.T) {
	e := testkit.New(t, xdrtest.Config{Seed: 11, Incidents: 120, MaxAlerts: 40, RateWindow: 60 * time.Millisecond, IndexDelay: 150 * time.Millisecond})
	cfg := testConfig(e, 60*time.Millisecond)

	var polls testkit.PollLog
	crashTenTimes(t, e, cfg, 42, &polls)
	// A version read by a poll may be lost only if its run crashed within
	// 300ms, before Kafka acknowledged it, and it changed again before the
	// next run polled.
	e.Verify(e.Output(), false, polls.Expect(300*time.Millisecond), nil)
	if n := e.Sim.Count429(); n != 0 {
		t.Errorf("the tenant answered 429 %d times across restarts", n)
	}
}

func TestShutdownWithBacklogKeepsPendingEnrichments(t *testing.T) {
	// 10 extra-data calls per second: the backlog of 40 cannot drain before
	// the stop.
	e := testkit.New(t, xdrtest.Config{Seed: 3, Incidents: 40, MaxAlerts: 20, RateWindow: time.Second})
	cfg := testConfig(e, time.Second)
	var polls testkit.PollLog
	r := start(e, cfg, WithPollObserver(polls.Observer(0)))
	testkit.WaitFor(t, 30*time.Second, "the first poll and some enrichments", func() bool {
		s := r.p.Stats()
		return s.Versions == 40 && s.Enrich.Calls >= 10
	})
	r.stop(t)

	st, _ := e.ReadState("test", "sim")
	o := e.Output()
	if newest := testkit.MaxVersion(e.Sim); st.Watermark > newest || st.Watermark < newest-time.Second.Milliseconds() {
		t.Errorf("watermark %d, want the mark of a poll that saw %d: every change record was acknowledged", st.Watermark, newest)
	}
	for _, id := range e.Sim.IncidentIDs() {
		tr, _ := e.Sim.Truth(id)
		en, enrichedOK := o.Enriched[id]
		done := enrichedOK && en.ModificationTime >= tr.ModificationTime
		if _, pending := st.Pending[id]; pending == done {
			t.Errorf("incident %s: enriched=%v but pending=%v; exactly the unenriched incidents must be pending", id, done, pending)
		}
	}
	if len(st.Pending) == 0 || len(st.Pending) == 40 {
		t.Fatalf("%d pending: the test did not stop mid-backlog", len(st.Pending))
	}

	// A restart owes the same enrichments and finishes them.
	r = start(e, cfg, WithPollObserver(polls.Observer(1)))
	testkit.WaitFor(t, 60*time.Second, "the restarted pipeline to drain", func() bool { return drained(r.p, e.Sim) })
	r.stop(t)
	e.Verify(e.Output(), false, polls.Expect(0), nil)
}
