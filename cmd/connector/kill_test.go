package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/soc-tools/xdr-kafka-connector/internal/testkit"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr/xdrtest"
)

// TestSIGKILLAndRestartLoseNothing kills the built binary with SIGKILL at
// random points of a mutating run, restarts it each time, then stops it with
// SIGTERM and checks the topics against the tenant's truth.
func TestSIGKILLAndRestartLoseNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the binary repeatedly")
	}
	e := testkit.New(t, xdrtest.Config{Seed: 21, Incidents: 100, MaxAlerts: 30, RateWindow: 100 * time.Millisecond, IndexDelay: 100 * time.Millisecond})
	env := map[string]string{
		"XDR_BASE_URL": e.BaseURL, "XDR_API_KEY_ID": e.KeyID, "XDR_API_KEY": e.Key,
		"KAFKA_BROKERS": strings.Join(e.Brokers, ","), "KAFKA_PARTITIONS": "3", "KAFKA_REPLICATION_FACTOR": "1",
		"CONNECTOR_NAME": "test", "XDR_TENANT": "sim",
		"POLL_INTERVAL": "100ms", "LOOKBACK": "2s", "START_FROM": "48h",
		"ENRICH_RATE_WINDOW": "100ms", "ENRICH_WORKERS": "4", "COMMIT_INTERVAL": "100ms",
		"LOG_LEVEL": "warn", "LOG_FORMAT": "json",
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	mutations := make(chan error, 1)
	rng := rand.New(rand.NewPCG(7, 7))
	for i := range 4 {
		p := startBinary(t, env)
		if i == 0 {
			// Start changing the tenant once the connector runs, so that it
			// could see every version.
			testkit.WaitFor(t, 30*time.Second, "the first commit", func() bool { _, found := e.ReadState("test", "sim"); return found })
			go func() {
				mutations <- e.Sim.RunMutations(ctx, xdrtest.MutationConfig{Interval: 15 * time.Millisecond, BulkEvery: 50, BulkSize: 120, MinVersionAge: 3 * time.Second, Steps: 250})
			}()
		}
		time.Sleep(time.Duration(300+rng.IntN(1200)) * time.Millisecond)
		defer func(i int, p *proc) {
			_ = os.WriteFile(fmt.Sprintf("/tmp/kill-%d.log", i), []byte(p.out.String()), 0o644)
		}(i, p)
		if code := p.signal(t, syscall.SIGKILL, 10*time.Second); code != -1 {
			t.Fatalf("kill %d: exit status %d, want death by signal; output:\n%s", i+1, code, p.out.String())
		}
	}
	p := startBinary(t, env)
	if err := <-mutations; err != nil {
		t.Fatal(err)
	}
	newest := testkit.MaxVersion(e.Sim)
	testkit.WaitFor(t, 90*time.Second, "the restarted connector to drain", func() bool {
		st, found := e.ReadState("test", "sim")
		return found && st.Watermark >= newest-time.Second.Milliseconds() && len(st.Pending) == 0
	})
	defer func() {
		if t.Failed() {
			t.Logf("final run's output:\n%s", p.out.String())
		}
	}()
	if code := p.signal(t, syscall.SIGTERM, 30*time.Second); code != 0 {
		t.Fatalf("SIGTERM: exit status %d, want 0; output:\n%s", code, p.out.String())
	}
	// Each version stayed visible for at least 3 s; a kill-and-restart takes
	// well under a second, so a correct connector read every one.
	e.Verify(e.Output(), false, func(v xdrtest.Version) bool {
		return v.SupersededAt == 0 || v.SupersededAt-v.VisibleAt >= 2000
	}, nil)
	if n := e.Sim.Count429(); n != 0 {
		t.Errorf("the tenant answered 429 %d times across kills", n)
	}
	if st, _ := e.ReadState("test", "sim"); !st.Clean {
		t.Error("SIGTERM did not leave a clean state")
	}
}
