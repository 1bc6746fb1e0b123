package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
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

// TestThreeProcessesWithDefaultSettingsShareTheTenants starts three
// connector processes (the built binary) as a newcomer would: one
// CONNECTOR_NAME, one tenants file, one DATA_DIR, an external broker, and
// no KAFKA_GROUP_* setting at all. Under mutation, one is SIGKILLed and
// started again at once. Then: every tenant ran in exactly one process; no
// tenant was called by two processes for longer than one poll (the
// simulator's call log names each process by its User-Agent); no 429; every
// version a process was shown (testkit.Shown) and every final enrichment is
// in Kafka; and the restarted process
// had its tenants back within seconds, far below the 45 s session timeout a
// process without a stable member id waits. -short runs fewer tenants and
// mutations.
func TestThreeProcessesWithDefaultSettingsShareTheTenants(t *testing.T) {
	n, steps := 24, 120
	if testing.Short() {
		n, steps = 9, 50
	}
	const poll = 100 * time.Millisecond
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("d%02d", i+1)
	}
	fleet := xdrtest.NewFleet(ids, func(i int, _ string) xdrtest.Config {
		return xdrtest.Config{Seed: 900 + int64(i), Incidents: 10, MaxAlerts: 4, RateWindow: 200 * time.Millisecond, IndexDelay: 100 * time.Millisecond}
	})
	calls := &xdrtest.CallLog{}
	srv := httptest.NewServer(calls.Wrap(fleet))
	defer srv.Close()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	brokers := c.ListenAddrs()
	dir := t.TempDir()
	file := filepath.Join(dir, "tenants.yaml")
	if err := os.WriteFile(file, []byte(fleet.TenantsFile(srv.URL, ids...)), 0o600); err != nil {
		t.Fatal(err)
	}
	dataDir := filepath.Join(dir, "data") // one for all: as started from one directory
	// The group's settings are left at their defaults; GET /tenants, off by
	// default, is turned on because the test reads who runs what from it.
	start := func(name string) *replica {
		r := &replica{name: name, http: freeAddr(t)}
		r.p = startBinary(t, map[string]string{
			"TENANTS_FILE": file, "KAFKA_BROKERS": strings.Join(brokers, ","), "CONNECTOR_NAME": "default", "DATA_DIR": dataDir,
			"KAFKA_PARTITIONS": "1", "KAFKA_REPLICATION_FACTOR": "1", "HTTP_ADDR": r.http,
			"HTTP_TENANTS_ENABLED": "true", "POLL_INTERVAL": poll.String(), "LOOKBACK": "2s", "START_FROM": "48h", "ENRICH_RATE_WINDOW": "200ms", "ENRICH_WORKERS": "2",
			"COMMIT_INTERVAL": "200ms", "XDR_REQUESTS_PER_SECOND": "1000", "LOG_LEVEL": "info", "LOG_FORMAT": "json",
		})
		return r
	}
	evenly := func(what string, within time.Duration, rs ...*replica) {
		t.Helper()
		waitEvenly(t, within, what, ids, rs...)
	}
	memberID := func(r *replica) string {
		t.Helper()
		var id string
		testkit.WaitFor(t, 30*time.Second, r.name+"'s member id in its log", func() bool {
			for _, line := range strings.Split(r.p.out.String(), "\n") {
				var l struct {
					Msg      string `json:"msg"`
					MemberID string `json:"member_id"`
				}
				if json.Unmarshal([]byte(line), &l) == nil && l.MemberID != "" && strings.HasPrefix(l.Msg, "this process's member id") {
					id = l.MemberID
					return true
				}
			}
			return false
		})
		return id
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p1, p2, p3 := start("p1"), start("p2"), start("p3")
	evenly("three processes to share the tenants", 90*time.Second, p1, p2, p3)
	names := map[string]string{memberID(p1): "p1", memberID(p2): "p2", memberID(p3): "p3"}
	if len(names) != 3 {
		t.Fatalf("the three processes' member ids are not distinct: %v", names)
	}
	// A tenant runs before its first poll: the mutations, which supersede
	// the generated versions within a second, wait until every tenant's
	// incidents were read once.
	testkit.WaitFor(t, 60*time.Second, "every tenant to be polled once", func() bool {
		for _, id := range ids {
			if !testkit.Polled(calls.Of(id)) {
				return false
			}
		}
		return true
	})
	mutations := make(chan error, 1)
	go func() {
		mutations <- fleet.RunMutations(ctx, xdrtest.MutationConfig{Interval: 40 * time.Millisecond, BulkEvery: 30, BulkSize: 20,
			MinVersionAge: 6 * time.Second, Steps: steps})
	}()
	time.Sleep(time.Second) // a second of mutations before the kill
	if code := p2.p.signal(t, syscall.SIGKILL, 10*time.Second); code != -1 {
		t.Fatalf("SIGKILL: exit status %d", code)
	}
	restarted := time.Now()
	p2b := start("p2 again")
	evenly("the restarted process to take its tenants back", 60*time.Second, p1, p2b, p3)
	back := time.Since(restarted)
	if id := memberID(p2b); names[id] != "p2" {
		t.Errorf("the restarted process is member %q, want p2's id again (%v)", id, names)
	}
	t.Logf("a killed and restarted process had its tenants back after %s (session timeout 45s)", back.Round(100*time.Millisecond))
	if back > 20*time.Second {
		t.Errorf("the restarted process took %s to get its tenants back: it waited for a session timeout", back.Round(100*time.Millisecond))
	}
	if err := <-mutations; err != nil {
		t.Fatal(err)
	}
	drained := func() bool {
		for _, id := range ids {
			st, found, err := loadOffsets(brokers, "default", id)
			if err != nil || !found || st.Watermark < testkit.MaxVersion(fleet.Tenant(id))-200 || len(st.Pending) > 0 {
				return false
			}
		}
		return true
	}
	testkit.WaitFor(t, 120*time.Second, "every tenant to drain", drained)
	time.Sleep(1500 * time.Millisecond)
	testkit.WaitFor(t, 60*time.Second, "every tenant to drain its last versions", drained)
	for _, r := range []*replica{p1, p2b, p3} {
		if code := r.p.signal(t, syscall.SIGTERM, 60*time.Second); code != 0 {
			t.Fatalf("SIGTERM of %s: exit status %d; output:\n%s", r.name, code, r.p.out.String())
		}
	}

	changes, enriched := map[string]int{}, map[string]int64{}
	for _, r := range testkit.ReadCommitted(t, brokers, "xdr.incidents") {
		var env record.Envelope
		if err := json.Unmarshal(r.Value, &env); err != nil {
			t.Fatal(err)
		}
		switch env.RecordType {
		case record.TypeIncidentChange:
			changes[fmt.Sprintf("%s/%s@%d", env.Tenant, env.IncidentID, env.ModificationTime)]++
		case record.TypeIncidentEnriched:
			k := env.Tenant + "/" + env.IncidentID
			enriched[k] = max(enriched[k], env.ModificationTime)
		}
	}
	for _, id := range ids {
		tn := fleet.Tenant(id)
		// p2's run ended at the kill; its own process runs each other
		// tenant once.
		shown := testkit.Shown(calls.Of(id), func(name string, answered, next time.Time) bool {
			return names[name] != "p2" || !answered.Before(restarted) || next.Before(restarted)
		})
		for _, v := range tn.Versions() {
			if tr, _ := tn.Truth(v.IncidentID); tr.Restricted || !shown(v) {
				continue // restricted, or superseded while no process polled the tenant
			}
			if changes[fmt.Sprintf("%s/%s@%d", id, v.IncidentID, v.ModificationTime)] == 0 {
				t.Errorf("tenant %s: version %s@%d lost", id, v.IncidentID, v.ModificationTime)
			}
		}
		for _, inc := range tn.IncidentIDs() {
			if tr, _ := tn.Truth(inc); !tr.Restricted && enriched[id+"/"+inc] != tr.ModificationTime {
				t.Errorf("tenant %s incident %s: newest enrichment of version %d, final version %d", id, inc, enriched[id+"/"+inc], tr.ModificationTime)
			}
		}
		// One process at a time, give or take one poll: a process's first
		// call of a run comes after the previous process's last call was
		// answered, or less than a poll interval before.
		cs := calls.Of(id)
		for i, cr := range cs {
			if names[cr.Replica] == "" {
				t.Fatalf("tenant %s: a call from %q, not one of the processes %v", id, cr.Replica, names)
			}
			if i > 0 && cr.Replica != cs[i-1].Replica && cs[i-1].Replied.After(cr.Arrived.Add(poll)) {
				t.Errorf("tenant %s: %s called at %s while %s's call was answered only at %s", id, names[cr.Replica],
					cr.Arrived.Format("15:04:05.000"), names[cs[i-1].Replica], cs[i-1].Replied.Format("15:04:05.000"))
			}
		}
		switches := 0
		for i := 1; i < len(cs); i++ {
			if cs[i].Replica != cs[i-1].Replica {
				switches++
			}
		}
		// Start-up moves a tenant at most twice (p1 alone, then p2, then
		// p3 joining); the restarted process comes back under its own id.
		// Two processes serving a tenant at once alternate far more often.
		if switches > 3 {
			t.Errorf("tenant %s: its calls switched %d times between processes", id, switches)
		}
		if n := tn.Count429(); n != 0 {
			t.Errorf("tenant %s: %d × 429", id, n)
		}
		for _, call := range tn.ExtraDataCalls() {
			if call.Status == http.StatusTooManyRequests {
				t.Errorf("tenant %s: a 429 at %s", id, call.Time.Format("15:04:05.000"))
				break
			}
		}
	}
}
