package pipeline

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/soc-tools/xdr-kafka-connector/internal/testkit"
	"github.com/soc-tools/xdr-kafka-connector/pkg/enrich"
	"github.com/soc-tools/xdr-kafka-connector/pkg/offsets"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr/xdrtest"
)

// Bulk enrichment end to end, in both delivery modes, on a tenant that serves
// get_multiple_incidents_extra_data and on one that does not: every incident
// is enriched in full (Verify checks every alert of incidents above the
// tenant's alerts_limit_per_incident of 20), no endpoint answers 429, and the
// tenant without the endpoint falls back once to single calls.
func TestBulkEndToEnd(t *testing.T) {
	for _, delivery := range []string{AtLeastOnce, ExactlyOnce} {
		for _, served := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/served=%v", delivery, served), func(t *testing.T) {
				e := testkit.New(t, xdrtest.Config{Seed: 17, Incidents: 200, MaxAlerts: 120, RateWindow: 100 * time.Millisecond,
					BulkRateWindow: 100 * time.Millisecond, AlertsLimitPerIncident: 20, NoBulk: !served, IndexDelay: 150 * time.Millisecond})
				cfg := testConfig(e, 100*time.Millisecond)
				cfg.Delivery = delivery
				cfg.Bulk, cfg.BulkRateLimit, cfg.BulkRateWindow = enrich.BulkAuto, 10, 100*time.Millisecond
				fellBack := make(chan error, 4)
				cfg.OnBulkFallback = func(err error) { fellBack <- err }
				var polls testkit.PollLog
				r := start(e, cfg, WithPollObserver(polls.Observer(0)))
				<-r.p.Ready()
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				defer cancel()
				if err := e.Sim.RunMutations(ctx, xdrtest.MutationConfig{Interval: 10 * time.Millisecond, BulkEvery: 30, BulkSize: 120, MinVersionAge: 400 * time.Millisecond, Steps: 80}); err != nil {
					t.Fatal(err)
				}
				testkit.WaitFor(t, 90*time.Second, "the pipeline to drain", func() bool { return drained(r.p, e.Sim) })
				st := r.p.Stats().Enrich
				r.stop(t)
				e.Verify(e.Output(), true, polls.Expect(0), nil)
				if n, b := e.Sim.Count429(), e.Sim.BulkCount429(); n != 0 || b != 0 {
					t.Errorf("429s: %d single, %d bulk", n, b)
				}
				state, found := e.ReadState("test", "sim")
				if !found || !state.Clean || (state.BulkFallbackAt != 0) == served {
					t.Errorf("state after the stop: found %v, clean %v, bulk_fallback_at %d; want it set only when the tenant does not serve bulk",
						found, state.Clean, state.BulkFallbackAt)
				}
				single := len(e.Sim.ExtraDataCalls())
				t.Logf("bulk calls %d, single calls %d, capped %d, absent %d, fell back %v", st.BulkCalls, single, st.Capped, st.Absent, st.BulkFallback)
				if !served {
					if !st.BulkFallback || len(fellBack) != 1 || single < 200 {
						t.Errorf("no fallback: %+v, told %d times, %d single calls", st, len(fellBack), single)
					}
					return
				}
				if st.BulkFallback || st.BulkCalls == 0 || st.Capped == 0 || st.Unasked != 0 {
					t.Errorf("stats %+v", st)
				}
				if bulk := len(e.Sim.BulkCalls()); single >= 200 || bulk == 0 {
					t.Errorf("%d single and %d bulk calls for 200 incidents and their changes", single, bulk)
				}
			})
		}
	}
}

// The bulk endpoint's rate history survives a clean restart as the single
// endpoint's does: the stopping process writes its bulk calls of the last
// window (bulk_rate_log) and the next one starts its bulk limiter from them,
// so its first bulk call waits for the window instead of drawing a 429 from
// the tenant's strict sliding window.
func TestBulkRateHistorySurvivesARestart(t *testing.T) {
	const limit, window = 2, 4 * time.Second
	e := testkit.New(t, xdrtest.Config{Seed: 29, Incidents: 40, MaxAlerts: 10, RateWindow: 100 * time.Millisecond,
		BulkRateLimit: limit, BulkRateWindow: window})
	cfg := testConfig(e, 100*time.Millisecond)
	cfg.Bulk, cfg.BulkSize, cfg.BulkRateLimit, cfg.BulkRateWindow = enrich.BulkOn, 10, limit, window
	bulkOK := func() int {
		n := 0
		for _, c := range e.Sim.BulkCalls() {
			if c.Status == http.StatusOK {
				n++
			}
		}
		return n
	}
	r := start(e, cfg)
	testkit.WaitFor(t, 30*time.Second, "the first process's bulk calls", func() bool { return bulkOK() >= limit })
	r.stop(t)
	st, found := e.ReadState("test", "sim")
	first := len(e.Sim.BulkCalls())
	if !found || !st.Clean || len(st.BulkRateLog) == 0 {
		t.Fatalf("state after a clean stop: found %v, clean %v, bulk_rate_log %v; want the bulk calls of the last window", found, st.Clean, st.BulkRateLog)
	}
	r = start(e, cfg)
	testkit.WaitFor(t, 30*time.Second, "the second process's first bulk call", func() bool { return bulkOK() > first })
	r.stop(t)
	calls := e.Sim.BulkCalls()
	if n := e.Sim.BulkCount429(); n != 0 {
		t.Fatalf("the tenant answered the bulk calls with 429 %d times across the restart", n)
	}
	if gap := calls[first].Time.Sub(calls[first-limit].Time); gap < window {
		t.Errorf("the restarted process's first bulk call came %v after the call %d before it, within the window of %v", gap, limit, window)
	}
}

// A fallback from bulk enrichment is recorded in the state by the run that
// fell back (bulk_fallback_at, for `connector status`): in its commits while
// it runs and in its final one. A restart does not inherit it: the next run
// tries the bulk endpoint again and, finding it served, writes no fallback.
func TestBulkFallbackIsRecordedForItsRun(t *testing.T) {
	e := testkit.New(t, xdrtest.Config{Seed: 31, Incidents: 30, MaxAlerts: 10, RateWindow: 100 * time.Millisecond,
		BulkRateWindow: 100 * time.Millisecond, NoBulk: true})
	cfg := testConfig(e, 100*time.Millisecond)
	cfg.Bulk, cfg.BulkRateLimit, cfg.BulkRateWindow = enrich.BulkAuto, 10, 100*time.Millisecond
	told := make(chan time.Time, 4)
	cfg.OnBulkFallback = func(error) { told <- time.Now() }
	before := time.Now().Truncate(time.Millisecond)
	r := start(e, cfg)
	var at time.Time
	select {
	case at = <-told:
	case <-time.After(60 * time.Second):
		t.Fatal("the pipeline did not fall back from bulk enrichment")
	}
	var st offsets.State
	testkit.WaitFor(t, 30*time.Second, "a commit recording the fallback", func() bool {
		st, _ = e.ReadState("test", "sim")
		return st.BulkFallbackAt != 0
	})
	stamp := st.BulkFallbackAt
	if got := time.UnixMilli(stamp); st.Clean || got.Before(before) || got.After(at) {
		t.Errorf("running state: clean %v, bulk_fallback_at %v; want a running commit's, between the start (%v) and the fallback (%v)",
			st.Clean, got, before, at)
	}
	testkit.WaitFor(t, 60*time.Second, "the pipeline to drain", func() bool { return drained(r.p, e.Sim) })
	r.stop(t)
	if st, _ = e.ReadState("test", "sim"); !st.Clean || st.BulkFallbackAt != stamp {
		t.Errorf("final state: clean %v, bulk_fallback_at %d; want %d", st.Clean, st.BulkFallbackAt, stamp)
	}

	e.Sim.SetBulkServed(true)
	for _, id := range e.Sim.IncidentIDs()[:5] {
		e.Sim.ChangeStatus(id)
	}
	r = start(e, cfg)
	testkit.WaitFor(t, 60*time.Second, "the restarted pipeline's bulk call", func() bool {
		for _, c := range e.Sim.BulkCalls() {
			if c.Status == http.StatusOK {
				return true
			}
		}
		return false
	})
	testkit.WaitFor(t, 60*time.Second, "the restarted pipeline to drain", func() bool { return drained(r.p, e.Sim) })
	r.stop(t)
	if st, _ = e.ReadState("test", "sim"); !st.Clean || st.BulkFallbackAt != 0 || len(told) != 0 {
		t.Errorf("after a restart that found bulk served: clean %v, bulk_fallback_at %d, told %d more times; want no fallback", st.Clean, st.BulkFallbackAt, len(told))
	}
}
