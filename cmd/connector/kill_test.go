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
	e := testkit.New(t, xdrtest.Config{Seed: 21 + int64(seed), Incidents: 100, MaxAlerts: 30, RateWindow: 100 * time.Millisecond, IndexDelay: 100 * time.Millisecond})
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
	var cluster *kfake.Cluster
	if exact {
		c, err := kfake.NewCluster(kfake.NumBrokers(1))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		cluster = c
		env["KAFKA_BROKERS"] = strings.Join(c.ListenAddrs(), ",")
	}
	// Point the harness at the binary's embedded broker while it runs.
	follow := func() bool {
		if cluster != nil {
			e.Brokers = cluster.ListenAddrs()
			return true
		}
		b, err := os.ReadFile(filepath.Join(dataDir, "broker.addr"))
		if err != nil || len(b) == 0 {
			return false
		}
		e.Brokers = []string{strings.TrimSpace(string(b))}
		return true
	}
	committed := func() (newest int64, pending int, found bool) {
		if !follow() {
			return 0, 0, false
		}
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

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	mutations := make(chan error, 1)
	rng := rand.New(rand.NewPCG(7, seed))
	for i := range kills {
		p := startBinary(t, env)
		if i == 0 {
			// Change the tenant once the connector runs, so that it could see
			// every version.
			testkit.WaitFor(t, 30*time.Second, "the first commit", func() bool { _, _, found := committed(); return found })
			go func() {
				mutations <- e.Sim.RunMutations(ctx, xdrtest.MutationConfig{Interval: 15 * time.Millisecond, BulkEvery: 50, BulkSize: 120, MinVersionAge: 3 * time.Second, Steps: 60 * kills})
			}()
		}
		time.Sleep(time.Duration(200+rng.IntN(1000)) * time.Millisecond)
		if code := p.signal(t, syscall.SIGKILL, 10*time.Second); code != -1 {
			t.Fatalf("kill %d: exit status %d, want death by signal; output:\n%s", i+1, code, p.out.String())
		}
	}
	p := startBinary(t, env)
	if err := <-mutations; err != nil {
		t.Fatal(err)
	}
	newest := testkit.MaxVersion(e.Sim)
	testkit.WaitFor(t, 120*time.Second, "the restarted connector to drain", func() bool {
		w, pending, found := committed()
		return found && w >= newest-time.Second.Milliseconds() && pending == 0
	})
	if code := p.signal(t, syscall.SIGTERM, 30*time.Second); code != 0 {
		t.Fatalf("SIGTERM: exit status %d, want 0; output:\n%s", code, p.out.String())
	}

	if cluster == nil {
		// Read what the embedded broker persisted.
		c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DataDir(dataDir))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		cluster = c
	}
	e.Brokers = cluster.ListenAddrs()
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
	if st, _ := e.ReadState("test", "sim"); !st.Clean {
		t.Error("SIGTERM did not leave a clean state")
	}
}
