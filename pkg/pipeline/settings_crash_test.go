package pipeline

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/soc-tools/xdr-kafka-connector/internal/testkit"
	"github.com/soc-tools/xdr-kafka-connector/pkg/enrich"
	"github.com/soc-tools/xdr-kafka-connector/pkg/record"
	"github.com/soc-tools/xdr-kafka-connector/pkg/source"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr/xdrtest"
)

// commitLog is the crash tests' bookkeeping of the runs' polls and commits: a
// version is owed when a complete poll of a run read it while it was
// visible and that run committed afterwards (a commit read before the crash
// is well after the poll's end). That rule needs no grace: whatever
// the delivery mode, a commit after the poll covers what the poll read.
type commitLog struct {
	mu    sync.Mutex
	polls map[int][][2]int64 // run -> complete polls' start, end (epoch ms)
	last  map[int]int64      // run -> CommittedAt of its last commit; final run: +inf
}

func (l *commitLog) observer(run int) func(source.PollResult, error) {
	return func(r source.PollResult, err error) {
		if err != nil || !r.Complete {
			return
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		l.polls[run] = append(l.polls[run], [2]int64{r.Started.UnixMilli(), r.Started.Add(r.Duration).UnixMilli()})
	}
}

func (l *commitLog) expect(slack int64) func(xdrtest.Version) bool {
	return func(v xdrtest.Version) bool {
		l.mu.Lock()
		defer l.mu.Unlock()
		for run, ps := range l.polls {
			for _, p := range ps {
				if p[0] < v.VisibleAt || (v.SupersededAt != 0 && p[1] >= v.SupersededAt) {
					continue
				}
				if l.last[run] >= p[1]+slack {
					return true
				}
			}
		}
		return false
	}
}

// TestSettingsUnderCrashesLoseNothing crashes the pipeline eight times (once with -short) under
// mutation with settings a user may choose (bulk sizes, ALERTS_LIMIT around
// the tenant's alerts_limit_per_incident, ENRICH_MAX_ATTEMPTS=1, short and
// long polls and lookbacks, both delivery modes) and checks the topics
// against the tenant's truth (crashes' rule of the versions owed), with no
// DLQ record, no duplicate in exactly-once mode and no 429. ALERTS_LIMIT
// below the bulk cap is also TestAlertsLimitBelowBulkCapHoldsForBothEndpoints's.
func TestSettingsUnderCrashesLoseNothing(t *testing.T) {
	type tc struct {
		name        string
		delivery    string
		bulk        string
		bulkSize    int
		alertsLimit int
		capPer      int
		maxAttempts int
		poll, look  time.Duration
		rateWindow  time.Duration
	}
	cases := []tc{
		{"bulk-on/size3/limit25/cap20/attempts1/eos", ExactlyOnce, enrich.BulkOn, 3, 25, 20, 1, 50 * time.Millisecond, time.Second, 60 * time.Millisecond},
		{"bulk-auto/size100/limit21/cap20/alo", AtLeastOnce, enrich.BulkAuto, 100, 21, 20, 6, 50 * time.Millisecond, time.Second, 60 * time.Millisecond},
		{"bulk-off/limit5/alo", AtLeastOnce, enrich.BulkOff, 0, 5, 20, 6, 50 * time.Millisecond, time.Second, 60 * time.Millisecond},
		{"bulk-on/size1/attempts1/tinywindow/eos", ExactlyOnce, enrich.BulkOn, 1, 1000, 20, 1, 50 * time.Millisecond, time.Second, 5 * time.Millisecond},
		{"shortpoll-longlookback/eos", ExactlyOnce, enrich.BulkAuto, 50, 1000, 20, 1, 10 * time.Millisecond, 20 * time.Second, 60 * time.Millisecond},
		{"longpoll-shortlookback/alo", AtLeastOnce, enrich.BulkAuto, 50, 1000, 20, 6, 600 * time.Millisecond, 300 * time.Millisecond, 60 * time.Millisecond},
		{"longpoll-shortlookback/eos", ExactlyOnce, enrich.BulkAuto, 50, 1000, 20, 6, 600 * time.Millisecond, 300 * time.Millisecond, 60 * time.Millisecond},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := testkit.New(t, xdrtest.Config{Seed: 300 + int64(i), Incidents: 120, MaxAlerts: 60, RateWindow: c.rateWindow,
				BulkRateWindow: c.rateWindow, AlertsLimitPerIncident: c.capPer, IndexDelay: 150 * time.Millisecond})
			cfg := testConfig(e, c.rateWindow)
			cfg.Delivery = c.delivery
			cfg.Bulk, cfg.BulkSize, cfg.BulkRateLimit, cfg.BulkRateWindow = c.bulk, c.bulkSize, 10, c.rateWindow
			cfg.AlertsLimit = c.alertsLimit
			cfg.Enrich.MaxAttempts = c.maxAttempts
			cfg.Source.PollInterval, cfg.Source.Lookback = c.poll, c.look
			cfg.CommitInterval = 100 * time.Millisecond
			expect := crashes(t, e, cfg, uint64(50+i))
			o := e.Output()
			skip := map[string]bool{}
			for _, r := range o.DLQ {
				t.Errorf("DLQ record for incident %s@%d: %s", r.IncidentID, r.ModificationTime, r.Value)
				skip[r.IncidentID] = true
			}
			e.Verify(o, c.delivery == ExactlyOnce, expect, skip)
			if c.delivery == ExactlyOnce {
				rounds := map[testkit.Version]int{}
				for _, r := range e.ReadTopic(testkit.Topics.Incidents) {
					if r.Type == record.TypeIncidentEnriched {
						rounds[testkit.Version{ID: r.IncidentID, T: r.ModificationTime}]++
					}
				}
				for v, n := range rounds {
					if n != 1 {
						t.Errorf("enrichment of %s@%d published %d times", v.ID, v.T, n)
					}
				}
			}
			if n, b := e.Sim.Count429(), e.Sim.BulkCount429(); n != 0 || b != 0 {
				t.Errorf("429s: %d single, %d bulk", n, b)
			}
			t.Logf("bulk calls %d, single calls %d", len(e.Sim.BulkCalls()), len(e.Sim.ExtraDataCalls()))
		})
	}
}

// TestCrashesWithPollAndLookbackOfChoiceLoseNothing crashes the pipeline at random
// points under mutation, with the poll interval and lookback of a user's
// choice, and requires every version that a run read and then committed
// after to be in xdr.incidents (exactly once in exactly-once mode).
func TestCrashesWithPollAndLookbackOfChoiceLoseNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("eight crashes in five settings: run without -short (TestSettingsUnderCrashesLoseNothing covers these settings with -short)")
	}
	cases := []struct {
		name       string
		delivery   string
		poll, look time.Duration
	}{
		{"eos/poll50ms/lookback1s", ExactlyOnce, 50 * time.Millisecond, time.Second},
		{"eos/poll10ms/lookback20s", ExactlyOnce, 10 * time.Millisecond, 20 * time.Second},
		{"eos/poll600ms/lookback300ms", ExactlyOnce, 600 * time.Millisecond, 300 * time.Millisecond},
		{"alo/poll600ms/lookback300ms", AtLeastOnce, 600 * time.Millisecond, 300 * time.Millisecond},
		{"alo/poll10ms/lookback20s", AtLeastOnce, 10 * time.Millisecond, 20 * time.Second},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := testkit.New(t, xdrtest.Config{Seed: 600 + int64(i), Incidents: 120, MaxAlerts: 60, RateWindow: 60 * time.Millisecond,
				BulkRateWindow: 60 * time.Millisecond, AlertsLimitPerIncident: 20, IndexDelay: 150 * time.Millisecond})
			cfg := testConfig(e, 60*time.Millisecond)
			cfg.Delivery = c.delivery
			cfg.BulkRateLimit, cfg.BulkRateWindow = 10, 60*time.Millisecond
			cfg.Source.PollInterval, cfg.Source.Lookback = c.poll, c.look
			cfg.CommitInterval = 100 * time.Millisecond
			expect := crashes(t, e, cfg, uint64(i))
			e.Verify(e.Output(), c.delivery == ExactlyOnce, expect, nil)
		})
	}
}

// crashes runs the pipeline under mutation, crashing it at n random points
// (each run lives 200 ms to 1 s), then drains and stops the last run; it
// returns the rule of the versions owed (commitLog.expect). With -short it
// crashes once and mutates a fifth as long.
func crashes(t *testing.T, e *testkit.Env, cfg Config, seed uint64) func(xdrtest.Version) bool {
	t.Helper()
	log := &commitLog{polls: map[int][][2]int64{}, last: map[int]int64{}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n, steps := 8, 600
	if testing.Short() {
		n, steps = 1, 120
	}
	mutations := make(chan error, 1)
	go func() {
		mutations <- e.Sim.RunMutations(ctx, xdrtest.MutationConfig{Interval: 8 * time.Millisecond, BulkEvery: 40, BulkSize: 110, MinVersionAge: 800 * time.Millisecond, Steps: steps})
	}()
	rng := rand.New(rand.NewPCG(seed, 9))
	r := start(e, cfg, WithPollObserver(log.observer(0)))
	for k := range n {
		time.Sleep(200*time.Millisecond + time.Duration(rng.IntN(800))*time.Millisecond)
		// Read the run's last commit while it lives (a crashed run's
		// open transaction would hold a read_committed reader back
		// until the next run fences it); a commit made between this
		// read and the crash is not counted, which owes fewer versions.
		st, _ := e.ReadState("test", "sim")
		r.crash(t)
		log.mu.Lock()
		log.last[k] = st.CommittedAt
		log.mu.Unlock()
		r = start(e, cfg, WithPollObserver(log.observer(k+1)))
	}
	if err := <-mutations; err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 60*time.Second, "the pipeline to drain", func() bool { return drained(r.p, e.Sim) })
	r.stop(t)
	log.mu.Lock()
	log.last[n] = 1 << 62
	log.mu.Unlock()
	return log.expect(100)
}
