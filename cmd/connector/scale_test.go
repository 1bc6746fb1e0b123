package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/soc-tools/xdr-kafka-connector/internal/testkit"
	"github.com/soc-tools/xdr-kafka-connector/pkg/record"
	"github.com/soc-tools/xdr-kafka-connector/pkg/slots"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr/xdrtest"
)

// scaleSession is the group session timeout of the scale-out test.
const scaleSession = 2 * time.Second

// TestScaleOutAndFailOver runs one tenants file of 30 simulated tenants in
// connector processes (the built binary) sharing one broker, under
// mutation with bulk same-millisecond updates: three start one after
// another, one is SIGKILLed, a fourth starts, two get SIGTERM, and the last
// one drains and stops. The mutations begin once the first process has
// polled every tenant. At the end every version of every tenant that a
// process was shown (a get_incidents reply made while it was visible, which
// the process took: testkit.Shown) is in Kafka, and every incident's final
// enrichment; the three shared the tenants evenly
// (max − min ≤ 1); no tenant was served by two processes at once (from the
// simulator's log of calls, each naming its process: a process's calls of a
// tenant begin again only after the group assigned it the tenant's slot);
// and the tenants answered 429 only within a rate window after the unclean
// handover — in fact never.
func TestScaleOutAndFailOver(t *testing.T) {
	scaleOut(t, "at-least-once")
}

// TestScaleOutExactlyOnce is the same run in exactly-once mode, where a
// read_committed reader sees each version once. It is left out of -short.
func TestScaleOutExactlyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("the at-least-once run covers the handovers in -short")
	}
	scaleOut(t, "exactly-once")
}

// replica is one connector process of the test.
type replica struct {
	name string
	p    *proc
	http string
}

// waitEvenly waits, up to within, until the replicas run the tenants ids
// between them, each tenant in one, with max − min ≤ 1.
func waitEvenly(t *testing.T, within time.Duration, what string, ids []string, rs ...*replica) {
	t.Helper()
	testkit.WaitFor(t, within, what, func() bool {
		seen, counts := map[string]int{}, []int{}
		for _, r := range rs {
			run := r.running()
			counts = append(counts, len(run))
			for _, id := range run {
				seen[id]++
			}
		}
		for _, id := range ids {
			if seen[id] != 1 {
				return false
			}
		}
		return slices.Max(counts)-slices.Min(counts) <= 1
	})
}

// freeAddr is a loopback address nothing listens on now.
func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	return ln.Addr().String()
}

// statuses is the replica's GET /tenants: state by tenant; nil if it does
// not answer.
func (r *replica) statuses() map[string]string {
	resp, err := http.Get("http://" + r.http + "/tenants")
	if err != nil {
		return nil
	}
	defer func() { _ = resp.Body.Close() }()
	var list []struct{ ID, State string }
	if json.NewDecoder(resp.Body).Decode(&list) != nil {
		return nil
	}
	out := map[string]string{}
	for _, s := range list {
		out[s.ID] = s.State
	}
	return out
}

func (r *replica) running() []string {
	var out []string
	for id, st := range r.statuses() {
		if st == "running" {
			out = append(out, id)
		}
	}
	return out
}

// assignments are the times the group assigned slots to the replica, by
// slot, from its log.
func (r *replica) assignments() map[int32][]time.Time {
	out := map[int32][]time.Time{}
	for _, line := range strings.Split(r.p.out.String(), "\n") {
		var l struct {
			Time  time.Time `json:"time"`
			Msg   string    `json:"msg"`
			Slots []int32   `json:"slots"`
		}
		if !strings.HasPrefix(line, "{") || json.Unmarshal([]byte(line), &l) != nil || l.Msg != "slots assigned" {
			continue
		}
		for _, s := range l.Slots {
			out[s] = append(out[s], l.Time)
		}
	}
	return out
}

func scaleOut(t *testing.T, delivery string) {
	n := 30
	steps := 150
	if testing.Short() {
		steps = 90
	}
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("t%02d", i+1)
	}
	fleet := xdrtest.NewFleet(ids, func(i int, _ string) xdrtest.Config {
		return xdrtest.Config{Seed: 500 + int64(i), Incidents: 12, MaxAlerts: 4, RateWindow: 200 * time.Millisecond, IndexDelay: 100 * time.Millisecond}
	})
	log := &xdrtest.CallLog{}
	srv := httptest.NewServer(log.Wrap(fleet))
	defer srv.Close()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.GroupMinSessionTimeout(100*time.Millisecond))
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
	start := func(name string) *replica {
		r := &replica{name: name, http: freeAddr(t)}
		env := map[string]string{
			"TENANTS_FILE": file, "KAFKA_BROKERS": strings.Join(brokers, ","), "DELIVERY": delivery, "CONNECTOR_NAME": "scale",
			"KAFKA_PARTITIONS": "1", "KAFKA_REPLICATION_FACTOR": "1", "HTTP_ADDR": r.http, "HTTP_TENANTS_ENABLED": "true",
			"KAFKA_GROUP_ENABLED": "true", "KAFKA_GROUP_SESSION_TIMEOUT": scaleSession.String(), "KAFKA_GROUP_HEARTBEAT_INTERVAL": "200ms",
			"KAFKA_GROUP_REBALANCE_TIMEOUT": "8s", "SHUTDOWN_TIMEOUT": "5s",
			"POLL_INTERVAL": "100ms", "LOOKBACK": "2s", "START_FROM": "48h", "ENRICH_RATE_WINDOW": "200ms", "ENRICH_BULK_RATE_WINDOW": "200ms", "ENRICH_WORKERS": "2",
			"COMMIT_INTERVAL": "200ms", "XDR_REQUESTS_PER_SECOND": "1000", "LOG_LEVEL": "info", "LOG_FORMAT": "json",
		}
		// Every process has a static member id (unset, it is made of the
		// host name and DATA_DIR); the test's names make the call log read.
		env["KAFKA_GROUP_INSTANCE_ID"] = name
		r.p = startBinary(t, env)
		return r
	}
	evenly := func(what string, rs ...*replica) {
		t.Helper()
		waitEvenly(t, 60*time.Second, what, ids, rs...)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	began := time.Now()
	phase := func(what string) { t.Logf("%6.1fs %s", time.Since(began).Seconds(), what) }
	p1 := start("p1")
	evenly("p1 to run every tenant", p1)
	// A tenant runs once its offsets are loaded, before its first poll: the
	// mutations, which supersede the generated versions within a second,
	// wait until p1 has read every tenant's incidents once.
	testkit.WaitFor(t, 60*time.Second, "p1 to poll every tenant once", func() bool {
		for _, id := range ids {
			if !testkit.Polled(log.Of(id)) {
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
	phase("p2 starts")
	p2 := start("p2")
	evenly("p1 and p2 to share the tenants", p1, p2)
	phase("p3 starts")
	p3 := start("p3")
	evenly("three replicas to share the tenants (max − min ≤ 1)", p1, p2, p3)
	time.Sleep(500 * time.Millisecond)

	phase("SIGKILL p2")
	killedAt := time.Now()
	if code := p2.p.signal(t, syscall.SIGKILL, 10*time.Second); code != -1 {
		t.Fatalf("SIGKILL: exit status %d", code)
	}
	evenly("p1 and p3 to take p2's tenants", p1, p3)
	takenAt := time.Now()
	phase("p4 starts")
	p4 := start("p4")
	evenly("p4 to join", p1, p3, p4)
	for _, r := range []*replica{p1, p3} {
		if code := r.p.signal(t, syscall.SIGTERM, 30*time.Second); code != 0 {
			t.Fatalf("SIGTERM of %s: exit status %d; output:\n%s", r.name, code, r.p.out.String())
		}
	}
	phase("SIGTERM p1 and p3 done")
	evenly("p4 to run every tenant", p4)
	if err := <-mutations; err != nil {
		t.Fatal(err)
	}
	t.Logf("handover after SIGKILL: %s (session timeout %s)", takenAt.Sub(killedAt).Round(100*time.Millisecond), scaleSession)

	drained := func() bool {
		for _, id := range ids {
			st, found, err := loadOffsets(brokers, "scale", id)
			if err != nil || !found || st.Watermark < testkit.MaxVersion(fleet.Tenant(id))-200 || len(st.Pending) > 0 {
				return false
			}
		}
		return true
	}
	phase("draining")
	testkit.WaitFor(t, 120*time.Second, "every tenant to drain", drained)
	time.Sleep(1500 * time.Millisecond)
	testkit.WaitFor(t, 60*time.Second, "every tenant to drain its last versions", drained)
	if code := p4.p.signal(t, syscall.SIGTERM, 30*time.Second); code != 0 {
		t.Fatalf("SIGTERM of p4: exit status %d", code)
	}

	// Every version and every final enrichment is in Kafka.
	changes, enriched := map[string]int{}, map[string]int64{}
	for _, r := range testkit.ReadCommitted(t, brokers, "xdr.incidents") {
		var env record.Envelope
		if err := json.Unmarshal(r.Value, &env); err != nil {
			t.Fatal(err)
		}
		v := fmt.Sprintf("%s/%s@%d", env.Tenant, env.IncidentID, env.ModificationTime)
		switch env.RecordType {
		case record.TypeIncidentChange:
			changes[v]++
		case record.TypeIncidentEnriched:
			k := env.Tenant + "/" + env.IncidentID
			enriched[k] = max(enriched[k], env.ModificationTime)
		}
	}
	exact := delivery == "exactly-once"
	replicas := []*replica{p1, p2, p3, p4}
	var excused []string
	for _, id := range ids {
		tn := fleet.Tenant(id)
		// A new run of the tenant in a process begins with an assignment
		// of its slot there.
		slot := slots.Of(id, slots.DefaultPartitions)
		shown := testkit.Shown(log.Of(id), func(name string, answered, next time.Time) bool {
			r := replicaOf(replicas, name)
			if r == nil {
				return false
			}
			as := r.assignments()[slot]
			return countBefore(as, answered) == countBefore(as, next)
		})
		for _, v := range tn.Versions() {
			if tr, _ := tn.Truth(v.IncidentID); tr.Restricted {
				continue
			}
			switch k := fmt.Sprintf("%s/%s@%d", id, v.IncidentID, v.ModificationTime); {
			case changes[k] == 0 && !shown(v):
				excused = append(excused, fmt.Sprintf("%s/%s@%d (visible %d..%d)", id, v.IncidentID, v.ModificationTime, v.VisibleAt, v.SupersededAt))
			case changes[k] == 0:
				t.Errorf("tenant %s: version %s@%d lost (current for %d ms)", id, v.IncidentID, v.ModificationTime, v.SupersededAt-v.VisibleAt)
			case exact && changes[k] > 1:
				t.Errorf("tenant %s: version %s@%d read %d times with read_committed", id, v.IncidentID, v.ModificationTime, changes[k])
			}
		}
		for _, inc := range tn.IncidentIDs() {
			if tr, _ := tn.Truth(inc); !tr.Restricted && enriched[id+"/"+inc] != tr.ModificationTime {
				t.Errorf("tenant %s incident %s: newest enrichment of version %d, final version %d", id, inc, enriched[id+"/"+inc], tr.ModificationTime)
			}
		}

		// One process at a time: every run of one process's calls of the
		// tenant follows a distinct assignment of its slot to that process,
		// and the previous process's last call was answered before it began.
		used := map[string]int{}
		cs := log.Of(id)
		for i, cr := range cs {
			if i > 0 && cr.Replica == cs[i-1].Replica {
				continue
			}
			if i > 0 && cs[i-1].Replied.After(cr.Arrived) {
				t.Errorf("tenant %s: %s called at %s while %s's call was still being answered", id, cr.Replica, cr.Arrived.Format("15:04:05.000"), cs[i-1].Replica)
			}
			r := replicaOf(replicas, cr.Replica)
			if r == nil {
				t.Fatalf("tenant %s: a call from an unknown process %q", id, cr.Replica)
			}
			as := r.assignments()[slot]
			used[r.name]++
			if countBefore(as, cr.Arrived) < used[r.name] {
				t.Errorf("tenant %s: %s began calling at %s without a new assignment of slot %d (assigned at %v)", id, r.name, cr.Arrived.Format("15:04:05.000"), slot, as)
			}
		}

		// 429s only within a rate window after the unclean handover.
		for _, call := range tn.ExtraDataCalls() {
			if call.Status == http.StatusTooManyRequests && (call.Time.Before(killedAt) || call.Time.After(takenAt.Add(time.Second))) {
				t.Errorf("tenant %s: a 429 at %s, outside the unclean handover", id, call.Time.Format("15:04:05.000"))
			}
		}
		if n := tn.Count429(); n != 0 {
			t.Logf("tenant %s: %d × 429 (all within the unclean handover)", id, n)
		}
	}
	if len(excused) > 0 {
		t.Logf("%d versions were superseded while no process was polling their tenant (or in a reply a stopping run did not take), so none could be published: %v", len(excused), excused[:min(len(excused), 10)])
	}
}

// replicaOf is the replica a User-Agent names: its instance id, or for a
// dynamic member its host name and pid.
func replicaOf(rs []*replica, name string) *replica {
	for _, r := range rs {
		if name == r.name || r.p.cmd.Process != nil && strings.HasSuffix(name, fmt.Sprintf("-%d", r.p.cmd.Process.Pid)) {
			return r
		}
	}
	return nil
}

func countBefore(ts []time.Time, at time.Time) int {
	n := 0
	for _, x := range ts {
		if !x.After(at) {
			n++
		}
	}
	return n
}
