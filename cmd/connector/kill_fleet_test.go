package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/soc-tools/xdr-kafka-connector/internal/testkit"
	"github.com/soc-tools/xdr-kafka-connector/pkg/offsets"
	"github.com/soc-tools/xdr-kafka-connector/pkg/record"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr/xdrtest"
)

// TestSIGKILLWithManyTenantsLosesNothing is the SIGKILL test of a tenants
// file: three simulated tenants in one binary, killed at 10 random points
// (3 with -short) of a mutating run and restarted each time, then stopped
// with SIGTERM. Each process is killed once it has committed for every
// tenant, so that the tenants' changes are polled between kills however long
// a start takes on a loaded machine. Per tenant: no version and no final
// enrichment lost, enrichment in bulk (the default ENRICH_BULK=auto) with no
// 429 from either extra-data endpoint, a clean final state; exactly-once: each version
// and each enrichment round once under read_committed.
//
// At-least-once runs on the binary's embedded broker, which dies with it and
// persists under DATA_DIR. Exactly-once runs on a broker that outlives the
// connector, as a Kafka cluster does: the embedded broker's crash recovery
// can merge a transaction that was open at the kill into its producer's next
// committed one (see docs/OPERATIONS.md), which is a property of that broker,
// not of the connector.
func TestSIGKILLWithManyTenantsLosesNothing(t *testing.T) {
	kills := 10
	if testing.Short() {
		kills = 3
	}
	t.Run("at-least-once", func(t *testing.T) { killFleet(t, "at-least-once", kills, 0, false) })
	t.Run("exactly-once", func(t *testing.T) { killFleet(t, "exactly-once", kills, 1, true) })
}

// killFleet runs the kill test. external: the connector writes to a broker
// of the test process (KAFKA_BROKERS) instead of its embedded one.
func killFleet(t *testing.T, delivery string, kills int, seed uint64, external bool) {
	ids := []string{"acme", "globex", "initech"}
	fleet := xdrtest.NewFleet(ids, func(i int, _ string) xdrtest.Config {
		return xdrtest.Config{Seed: 40 + int64(seed)*10 + int64(i), Incidents: 60, MaxAlerts: 10, RateWindow: 100 * time.Millisecond,
			IndexDelay: 100 * time.Millisecond}
	})
	root, stop := fleet.Start()
	defer stop()
	dir := t.TempDir()
	file := filepath.Join(dir, "tenants.yaml")
	if err := os.WriteFile(file, []byte(fleet.TenantsFile(root, ids...)), 0o600); err != nil {
		t.Fatal(err)
	}
	dataDir := filepath.Join(dir, "data")
	env := map[string]string{
		"TENANTS_FILE": file, "DATA_DIR": dataDir, "DELIVERY": delivery, "CONNECTOR_NAME": "test",
		"POLL_INTERVAL": "100ms", "LOOKBACK": "2s", "START_FROM": "48h",
		"ENRICH_RATE_WINDOW": "100ms", "ENRICH_BULK_RATE_WINDOW": "100ms", "ENRICH_WORKERS": "4", "COMMIT_INTERVAL": "100ms",
		"XDR_REQUESTS_PER_SECOND": "1000", "LOG_LEVEL": "warn", "LOG_FORMAT": "json",
	}
	state := func(bs []string, tenant string) (offsets.State, bool) {
		st, found, err := loadOffsets(bs, "test", tenant)
		if err != nil {
			return st, false
		}
		return st, found
	}
	drained := func(bs []string) bool {
		for _, id := range ids {
			st, found := state(bs, id)
			if !found || st.Watermark < testkit.MaxVersion(fleet.Tenant(id))-200 || len(st.Pending) > 0 {
				return false
			}
		}
		return true
	}
	bs := killLoop(t, killSpec{
		env: env, dataDir: dataDir, external: external, kills: kills, rng: rand.New(rand.NewPCG(11, seed)), pause: 300 * time.Millisecond,
		// Kill the process at a random point of its run, not before it
		// runs: each version stays current for 3 s, which covers a kill, a
		// restart and the first poll on an idle machine, but not on a loaded
		// one, where start-up (the group join, the fencing of the previous
		// transactional producer, the offsets' load) can take seconds; killed
		// again and again before its first poll, the connector would miss
		// versions that no process ever ran to see. So every tenant has a
		// commit written at or after the start (the connector's clock is the
		// test's): the process runs every tenant, it has polled, and what it
		// saw is committed.
		ready: func(_ int, started time.Time, bs []string) bool {
			for _, id := range ids {
				if st, found := state(bs, id); bs == nil || !found || st.CommittedAt < started.UnixMilli() {
					return false
				}
			}
			return true
		},
		readyWhat:   func(i int) string { return fmt.Sprintf("every tenant's first commit after start %d", i+1) },
		readyWithin: 60 * time.Second,
		mutate: func(ctx context.Context) error {
			return fleet.RunMutations(ctx, xdrtest.MutationConfig{Interval: 20 * time.Millisecond, BulkEvery: 40, BulkSize: 50,
				MinVersionAge: 3 * time.Second, Steps: 50 * kills})
		},
		// A poll that saw all but the last few milliseconds' versions passes
		// the watermark check too: give the last ones (visible after the
		// indexing delay) a few polls, then check again.
		drained: drained, drainedWhat: "every tenant to drain", settle: 1500 * time.Millisecond,
	})
	changes, rounds, enriched := map[string]int{}, map[string]int{}, map[string]int64{}
	for _, r := range testkit.ReadCommitted(t, bs, "xdr.incidents") {
		var env record.Envelope
		if err := json.Unmarshal(r.Value, &env); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(r.Key), env.Tenant+"/") {
			t.Fatalf("key %q of tenant %q", r.Key, env.Tenant)
		}
		v := fmt.Sprintf("%s/%s@%d", env.Tenant, env.IncidentID, env.ModificationTime)
		switch env.RecordType {
		case record.TypeIncidentChange:
			changes[v]++
		case record.TypeIncidentEnriched:
			rounds[v]++
			k := env.Tenant + "/" + env.IncidentID
			enriched[k] = max(enriched[k], env.ModificationTime)
		}
	}
	exact := delivery == "exactly-once"
	for _, id := range ids {
		tn := fleet.Tenant(id)
		lost := 0
		for _, v := range tn.Versions() {
			// Each version stayed current for at least 3 s; a kill and a
			// restart take well under that.
			if v.SupersededAt != 0 && v.SupersededAt-v.VisibleAt < 2500 {
				continue
			}
			if tr, _ := tn.Truth(v.IncidentID); tr.Restricted {
				continue
			}
			switch n := changes[fmt.Sprintf("%s/%s@%d", id, v.IncidentID, v.ModificationTime)]; {
			case n == 0:
				lost++
			case exact && n > 1:
				t.Errorf("tenant %s: version %s@%d published %d times", id, v.IncidentID, v.ModificationTime, n)
			}
		}
		if lost > 0 {
			t.Errorf("tenant %s: %d versions lost across %d kills", id, lost, kills)
		}
		for _, inc := range tn.IncidentIDs() {
			if tr, _ := tn.Truth(inc); !tr.Restricted && enriched[id+"/"+inc] != tr.ModificationTime {
				st, _ := state(bs, id)
				t.Errorf("tenant %s incident %s: newest enrichment of version %d, final version %d (committed: emitted %d, enriched %d, pending %+v; rounds %v)",
					id, inc, enriched[id+"/"+inc], tr.ModificationTime, st.Emitted[inc], st.Enriched[inc], st.Pending[inc], roundsOf(rounds, id, inc))
				break
			}
		}
		if n := tn.Count429(); n != 0 {
			t.Errorf("tenant %s answered 429 %d times across %d kills", id, n, kills)
		}
		if n := tn.BulkCount429(); n != 0 {
			t.Errorf("tenant %s answered get_multiple_incidents_extra_data with 429 %d times across %d kills", id, n, kills)
		}
		if len(tn.BulkCalls()) == 0 {
			t.Errorf("tenant %s: no get_multiple_incidents_extra_data call: the connectors did not enrich it in bulk", id)
		}
		if st, _ := state(bs, id); !st.Clean {
			t.Errorf("tenant %s: SIGTERM did not leave a clean state", id)
		}
	}
	if exact {
		for v, n := range rounds {
			if n != 1 {
				t.Errorf("enrichment of %s published %d times", v, n)
			}
		}
	}
}

// loadOffsets reads a tenant's committed offsets from brokers.
func loadOffsets(brokers []string, connector, tenant string) (offsets.State, bool, error) {
	if len(brokers) == 0 {
		return offsets.State{}, false, fmt.Errorf("no broker")
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return offsets.State{}, false, err
	}
	defer cl.Close()
	s, err := offsets.NewStore(cl, offsets.StoreConfig{Topic: "xdr.connector.offsets", Connector: connector, Tenant: tenant,
		ClientOpts: []kgo.Opt{kgo.SeedBrokers(brokers...)}})
	if err != nil {
		return offsets.State{}, false, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return s.Load(ctx)
}

func roundsOf(rounds map[string]int, tenant, inc string) []string {
	var out []string
	for v := range rounds {
		if strings.HasPrefix(v, tenant+"/"+inc+"@") {
			out = append(out, v)
		}
	}
	return out
}
