package main

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/soc-tools/xdr-kafka-connector/internal/embedded"
	"github.com/soc-tools/xdr-kafka-connector/internal/testkit"
	"github.com/soc-tools/xdr-kafka-connector/pkg/record"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr/xdrtest"
)

// TestSIGKILLAndRestartLoseNothing kills the built binary with SIGKILL at 20
// random points (4 with -short) of a mutating run, restarts it each time,
// then stops it with SIGTERM and checks the topics against the tenant's
// truth. At-least-once: no version and no enrichment lost, on the binary's
// embedded broker persisting under DATA_DIR across the kills. Exactly-once:
// a read_committed reader sees each version and each enrichment round once,
// on a broker that outlives the connector (see TestSIGKILLWithManyTenantsLosesNothing).
// Both: enrichment in bulk (the default ENRICH_BULK=auto), incidents above the
// tenant's alerts_limit_per_incident fetched alone and delivered whole, and no
// 429 from either extra-data endpoint.
func TestSIGKILLAndRestartLoseNothing(t *testing.T) {
	kills := 20
	if testing.Short() {
		kills = 4
	}
	for i, delivery := range []string{"at-least-once", "exactly-once"} {
		t.Run(delivery, func(t *testing.T) { killAndRestart(t, delivery, kills, uint64(i)) })
	}
}

func killAndRestart(t *testing.T, delivery string, kills int, seed uint64) {
	// ENRICH_BULK is left at its default, auto: enrichment is in bulk, and
	// incidents with more than the tenant's 10 alerts_limit_per_incident
	// are fetched alone.
	e := testkit.New(t, xdrtest.Config{Seed: 21 + int64(seed), Incidents: 100, MaxAlerts: 30, RateWindow: 100 * time.Millisecond, IndexDelay: 100 * time.Millisecond,
		AlertsLimitPerIncident: 10})
	dataDir := t.TempDir()
	env := map[string]string{
		"XDR_BASE_URL": e.BaseURL, "XDR_API_KEY_ID": e.KeyID, "XDR_API_KEY": e.Key,
		"DATA_DIR": dataDir, "DELIVERY": delivery,
		"CONNECTOR_NAME": "test", "XDR_TENANT": "sim",
		"POLL_INTERVAL": "100ms", "LOOKBACK": "2s", "START_FROM": "48h",
		"ENRICH_RATE_WINDOW": "100ms", "ENRICH_BULK_RATE_WINDOW": "100ms", "ENRICH_WORKERS": "4", "COMMIT_INTERVAL": "100ms",
		"LOG_LEVEL": "warn", "LOG_FORMAT": "json",
	}
	exact := delivery == "exactly-once"
	// committed reads the state the binary committed, pointing the harness
	// at brokers, the binary's broker.
	committed := func(brokers []string) (newest int64, pending int, found bool) {
		if len(brokers) == 0 {
			return 0, 0, false
		}
		e.Brokers = brokers
		st, found := e.ReadState("test", "sim")
		// Drained means every current version is committed as emitted (or
		// lies below the lookback floor, hence long acknowledged): a
		// watermark near the newest stamp alone does not say that the last
		// changes were polled, and enrichment may finish before they are.
		for _, id := range e.Sim.IncidentIDs() {
			tr, _ := e.Sim.Truth(id)
			if !tr.Restricted && tr.ModificationTime >= st.Watermark-2*time.Second.Milliseconds() && st.Emitted[id] < tr.ModificationTime {
				return st.Watermark, len(st.Pending), false
			}
		}
		return st.Watermark, len(st.Pending), found
	}
	var newest int64
	e.Brokers = killLoop(t, killSpec{
		env: env, dataDir: dataDir, external: exact, kills: kills, rng: rand.New(rand.NewPCG(7, seed)), pause: 200 * time.Millisecond,
		// Change the tenant once the connector runs, so that it could see
		// every version.
		ready: func(i int, _ time.Time, brokers []string) bool {
			if i > 0 {
				return true
			}
			_, _, found := committed(brokers)
			return found
		},
		readyWhat: func(int) string { return "the first commit" }, readyWithin: 30 * time.Second,
		mutate: func(ctx context.Context) error {
			return e.Sim.RunMutations(ctx, xdrtest.MutationConfig{Interval: 15 * time.Millisecond, BulkEvery: 50, BulkSize: 120, MinVersionAge: 3 * time.Second, Steps: 60 * kills})
		},
		drained: func(brokers []string) bool {
			if newest == 0 {
				newest = testkit.MaxVersion(e.Sim) // once the changes ended
			}
			w, pending, found := committed(brokers)
			return found && w >= newest-time.Second.Milliseconds() && pending == 0
		},
		drainedWhat: "the restarted connector to drain",
	})
	// Each version stayed current for at least 3 s; a kill and restart take
	// well under that, so a correct connector read every one.
	e.Verify(e.Output(), exact, func(v xdrtest.Version) bool {
		return v.SupersededAt == 0 || v.SupersededAt-v.VisibleAt >= 2500
	}, nil)
	if exact {
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
	if n := e.Sim.Count429(); n != 0 {
		t.Errorf("the tenant answered 429 %d times across %d kills", n, kills)
	}
	if n := e.Sim.BulkCount429(); n != 0 {
		t.Errorf("the tenant answered get_multiple_incidents_extra_data with 429 %d times across %d kills", n, kills)
	}
	if len(e.Sim.BulkCalls()) == 0 {
		t.Error("no get_multiple_incidents_extra_data call: the connectors did not enrich in bulk")
	}
	if len(e.Sim.ExtraDataCalls()) == 0 {
		t.Error("no get_incident_extra_data call: no incident above the alerts cap was fetched alone")
	}
	if st, _ := e.ReadState("test", "sim"); !st.Clean {
		t.Error("SIGTERM did not leave a clean state")
	}
}

// killSpec is one SIGKILL test's run of the built binary.
type killSpec struct {
	env      map[string]string // the binary's environment; killLoop adds KAFKA_BROKERS with external
	dataDir  string            // its DATA_DIR
	external bool              // write to a broker of the test process, which outlives the binary, not to its embedded one
	kills    int
	rng      *rand.Rand    // picks each kill's moment
	pause    time.Duration // the least time a process runs once ready; up to 1 s more at random
	// ready says, for start i (from 0) at started, whether the process may
	// be killed; brokers are those it writes to (nil until known).
	ready       func(i int, started time.Time, brokers []string) bool
	readyWhat   func(i int) string
	readyWithin time.Duration
	mutate      func(ctx context.Context) error // changes the tenants, from the first start's ready on
	// drained says, once the last process runs and mutate ended, that it
	// caught up. With settle, it is waited for again after settle (a few
	// polls: the last versions become visible after the indexing delay).
	drained     func(brokers []string) bool
	drainedWhat string
	settle      time.Duration
}

// killLoop starts the binary k.kills times, killing each with SIGKILL at a
// random moment once k.ready, then starts it once more, waits for k.mutate
// to end and k.drained, and stops it with SIGTERM, which must end it with
// status 0. It returns the brokers that hold what the runs wrote: the
// external one, or one opened on what the embedded one persisted.
func killLoop(t *testing.T, k killSpec) []string {
	t.Helper()
	var cluster *kfake.Cluster
	if k.external {
		c, err := kfake.NewCluster(kfake.NumBrokers(1))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		cluster = c
		k.env["KAFKA_BROKERS"] = strings.Join(c.ListenAddrs(), ",")
	}
	brokers := func() []string {
		if cluster != nil {
			return cluster.ListenAddrs()
		}
		b, err := os.ReadFile(filepath.Join(k.dataDir, embedded.AddrFile))
		if err != nil || len(b) == 0 {
			return nil
		}
		return []string{strings.TrimSpace(string(b))}
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	mutations := make(chan error, 1)
	for i := range k.kills {
		started := time.Now()
		p := startBinary(t, k.env)
		testkit.WaitFor(t, k.readyWithin, k.readyWhat(i), func() bool { return k.ready(i, started, brokers()) })
		if i == 0 {
			go func() { mutations <- k.mutate(ctx) }()
		}
		t.Logf("start %d: ready %v after the start", i+1, time.Since(started).Round(time.Millisecond))
		time.Sleep(k.pause + time.Duration(k.rng.IntN(1000))*time.Millisecond)
		if code := p.signal(t, syscall.SIGKILL, 10*time.Second); code != -1 {
			t.Fatalf("kill %d: exit status %d, want death by signal; output:\n%s", i+1, code, p.out.String())
		}
	}
	p := startBinary(t, k.env)
	if err := <-mutations; err != nil {
		t.Fatal(err)
	}
	drained := func() bool { return k.drained(brokers()) }
	testkit.WaitFor(t, 120*time.Second, k.drainedWhat, drained)
	if k.settle > 0 {
		time.Sleep(k.settle)
		testkit.WaitFor(t, 60*time.Second, k.drainedWhat+" (its last versions)", drained)
	}
	if code := p.signal(t, syscall.SIGTERM, 30*time.Second); code != 0 {
		t.Fatalf("SIGTERM: exit status %d, want 0; output:\n%s", code, p.out.String())
	}
	if cluster == nil {
		// Read what the embedded broker persisted.
		c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DataDir(k.dataDir))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(c.Close)
		cluster = c
	}
	return cluster.ListenAddrs()
}
