package pipeline

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/soc-tools/xdr-kafka-connector/internal/testkit"
	"github.com/soc-tools/xdr-kafka-connector/pkg/enrich"
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
