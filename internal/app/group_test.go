package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/soc-tools/xdr-kafka-connector/internal/testkit"
	"github.com/soc-tools/xdr-kafka-connector/pkg/config"
	"github.com/soc-tools/xdr-kafka-connector/pkg/pipeline"
	"github.com/soc-tools/xdr-kafka-connector/pkg/record"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr/xdrtest"
)

// groupSettings are fast group settings for a replica named name.
func groupSettings(name string) map[string]string {
	return map[string]string{
		"KAFKA_GROUP_ENABLED": "true", "KAFKA_GROUP_INSTANCE_ID": name,
		"KAFKA_GROUP_SESSION_TIMEOUT": "2s", "KAFKA_GROUP_REBALANCE_TIMEOUT": "5s", "KAFKA_GROUP_HEARTBEAT_INTERVAL": "200ms",
		"SHUTDOWN_TIMEOUT": "3s",
	}
}

func newGroupFleetEnv(t *testing.T, n int) *fleetEnv {
	return newFleetEnv(t, n, 15, kfake.GroupMinSessionTimeout(100*time.Millisecond))
}

// twoReplicas starts replicas a and b over six tenants and waits until
// they share them and each of a's tenants has called the API from a; it
// returns the environment, the tenants, the replicas and a's tenants.
func twoReplicas(t *testing.T) (e *fleetEnv, ids []string, a, b *fleetRun, fromA []string) {
	t.Helper()
	e = newGroupFleetEnv(t, 6)
	ids = e.fleet.IDs()
	a = e.start(groupSettings("a"))
	b = e.start(groupSettings("b"))
	fromA = spread(t, "a and b to share the tenants", ids, a, b)[0]
	waitFor(t, 30*time.Second, "a's tenants to call the API", func() bool {
		for _, id := range fromA {
			if !slices.ContainsFunc(e.calls.Of(id), func(c xdrtest.Request) bool { return c.Replica == "a" }) {
				return false
			}
		}
		return true
	})
	return e, ids, a, b, fromA
}

// everyVersionInKafka waits until every version the simulator served of
// the tenants ids is on xdr.incidents.
func everyVersionInKafka(t *testing.T, e *fleetEnv, ids []string) {
	t.Helper()
	waitFor(t, 30*time.Second, "every version in Kafka", func() bool {
		c := e.consume("xdr.incidents")
		for _, id := range ids {
			for _, v := range e.fleet.Tenant(id).Versions() {
				if c.changes[id][fmt.Sprintf("%s@%d", v.IncidentID, v.ModificationTime)] == 0 {
					return false
				}
			}
		}
		return true
	})
}

// running is the ids of the tenants a replica runs (in state running).
func running(t *testing.T, r *fleetRun) []string {
	var out []string
	for id, s := range r.tenants(t) {
		if s.State == StateRunning {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out
}

// spread waits until the replicas run every tenant of ids between them,
// each tenant in exactly one and each replica at least one, and returns what
// each runs.
func spread(t *testing.T, what string, ids []string, rs ...*fleetRun) [][]string {
	t.Helper()
	var got [][]string
	waitFor(t, 30*time.Second, what, func() bool {
		got = got[:0]
		seen := map[string]int{}
		for _, r := range rs {
			ts := running(t, r)
			if len(ts) == 0 {
				return false
			}
			got = append(got, ts)
			for _, id := range ts {
				seen[id]++
			}
		}
		for _, id := range ids {
			if seen[id] != 1 {
				return false
			}
		}
		return len(seen) == len(ids)
	})
	return got
}

// noOverlap fails if two replicas called the API for one tenant at once:
// per tenant, the calls of one replica must all be answered before the next
// replica's first call arrives.
func noOverlap(t *testing.T, e *fleetEnv, ids []string) {
	t.Helper()
	for _, id := range ids {
		calls := e.calls.Of(id)
		last := map[string]time.Time{} // replica -> its last reply so far
		for i, c := range calls {
			for r, at := range last {
				if r != c.Replica && at.After(c.Arrived) {
					// Another replica's call was still being answered.
					t.Errorf("tenant %s: replica %s called at %s while replica %s's call was answered at %s (call %d of %d)",
						id, c.Replica, c.Arrived.Format("15:04:05.000"), r, at.Format("15:04:05.000"), i, len(calls))
					return
				}
			}
			if c.Replied.After(last[c.Replica]) {
				last[c.Replica] = c.Replied
			}
		}
	}
}

// TestGroupSharesTenantsAndHandsThemOver runs two replicas of one tenants
// file in one group: each tenant runs in exactly one, evenly; when one stops
// the other takes its tenants from a clean commit, without two replicas ever
// calling the API for one tenant at once, and every version reaches Kafka.
func TestGroupSharesTenantsAndHandsThemOver(t *testing.T) {
	e := newGroupFleetEnv(t, 6)
	ids := e.fleet.IDs()
	a := e.start(groupSettings("a"))
	spread(t, "a alone to run every tenant", ids, a)
	b := e.start(groupSettings("b"))
	got := spread(t, "a and b to share the tenants", ids, a, b)
	if d := len(got[0]) - len(got[1]); d > 1 || d < -1 {
		t.Errorf("a runs %v, b runs %v: not even", got[0], got[1])
	}
	for i, r := range []*fleetRun{a, b} {
		if n := gauge(t, r, "xdr_connector_tenants_owned"); n != float64(len(got[i])) {
			t.Errorf("replica %d: tenants owned gauge %v, runs %d", i, n, len(got[i]))
		}
		if n := gauge(t, r, "xdr_connector_group_live"); n != 1 {
			t.Errorf("replica %d: group live gauge %v", i, n)
		}
	}
	moved := got[1]
	waitFor(t, 30*time.Second, "b's tenants to call the API", func() bool {
		for _, id := range moved {
			if !slices.ContainsFunc(e.calls.Of(id), func(c xdrtest.Request) bool { return c.Replica == "b" }) {
				return false
			}
		}
		return true
	})
	b.stop(t)
	// The summary of a stopped replica lists the tenants it ran, although
	// leaving the group revoked their slots.
	if final := b.proc.Tenants(); len(final) != len(moved) {
		t.Errorf("b's final statuses: %+v, want its %d tenants", final, len(moved))
	} else {
		for _, s := range final {
			if s.State != StateStopped {
				t.Errorf("b's tenant %s ended %s, want stopped", s.ID, s.State)
			}
		}
	}
	spread(t, "a to run every tenant again", ids, a)
	for _, id := range moved {
		if st, found := committed(t, e.brokers, "fleet-test", id); !found {
			t.Errorf("tenant %s: no committed state", id)
		} else if a.tenants(t)[id].State != StateRunning {
			t.Errorf("tenant %s: %+v", id, st)
		}
	}
	everyVersionInKafka(t, e, ids)
	noOverlap(t, e, ids)
	for _, id := range ids {
		if n := e.fleet.Tenant(id).Count429(); n != 0 {
			t.Errorf("tenant %s answered 429 %d times across a clean handover", id, n)
		}
	}
}

// TestZombieStopsCallingAndIsFenced cuts replica a off from the group
// coordinator (its heartbeats, joins and syncs hang, as in a network
// partition) while its API calls and its produce requests still work: within
// one session timeout it stops calling the API; b takes every tenant and
// fences a, whose late offset writes are refused; the tenants that moved
// report nobody's ownership at no point, and b's first call of each comes
// after a's last.
func TestZombieStopsCallingAndIsFenced(t *testing.T) {
	e, ids, a, b, fromA := twoReplicas(t)

	var mu sync.Mutex
	cut := true
	wake := make(chan struct{})
	for _, key := range []kmsg.Key{kmsg.Heartbeat, kmsg.JoinGroup, kmsg.SyncGroup} {
		e.cluster.ControlKey(int16(key), func(req kmsg.Request) (kmsg.Response, error, bool) {
			e.cluster.KeepControl()
			mu.Lock()
			hold := cut && testkit.FromGroupMember(req, "a")
			mu.Unlock()
			if hold {
				e.cluster.SleepControl(func() { <-wake })
			}
			return nil, nil, false
		})
	}
	defer func() {
		mu.Lock()
		if cut {
			cut = false
			close(wake)
		}
		mu.Unlock()
	}()
	cutAt := time.Now()
	spread(t, "b to run every tenant", ids, b)
	for _, c := range e.calls.Of("") {
		if c.Replica == "a" && c.Arrived.After(cutAt.Add(2*time.Second)) {
			t.Errorf("the cut-off replica called the API for %s %s after it was cut off, past the session timeout",
				c.Tenant, c.Arrived.Sub(cutAt).Round(time.Millisecond))
		}
	}
	noOverlap(t, e, ids)

	// a's pipelines kept committing while cut off. Each of its tenants ends
	// one of two ways, depending on which comes first: b's fence, after which
	// a's commits are refused and the tenant stops as fenced; or a noticing it
	// was removed from the group, after which it stops the tenant with a
	// final commit that went through before b's fence (b then resumes from
	// it). A commit of a's that is neither refused nor made before the fence
	// does not exist.
	waitFor(t, 30*time.Second, "a's tenants to report the fence or stop on losing their slots", func() bool {
		for _, id := range fromA {
			fenced := len(a.logs.Lines(`"tenant":"`+id+`"`, pipeline.ErrFenced.Error())) > 0
			stopped := len(a.logs.Lines("tenants of lost slots stopped and committed", `"`+id+`"`)) > 0
			if !fenced && !stopped {
				return false
			}
		}
		return true
	})
	for _, id := range fromA {
		if failed := a.logs.Lines(`"tenant":"`+id+`"`, "its final commit failed"); len(failed) > 0 && !strings.Contains(failed[0], pipeline.ErrFenced.Error()) {
			t.Errorf("tenant %s: a's final commit failed other than by the fence: %s", id, failed[0])
		}
	}
	everyVersionInKafka(t, e, ids)
}

// TestActiveStandbyKeepsTheEnvTenantAsItWas runs the environment's one
// tenant (no tenants file) in two replicas of a group: one is active, the
// other stands by and takes over when the first stops; records, keys and
// offsets stay exactly as without a group (no tenant prefix, no header).
func TestActiveStandbyKeepsTheEnvTenantAsItWas(t *testing.T) {
	e := newGroupFleetEnv(t, 1)
	id := e.fleet.IDs()[0]
	keyID, key := e.fleet.Tenant(id).Credentials()
	env := func(name string) map[string]string {
		m := groupSettings(name)
		m["TENANTS_FILE"], m["XDR_BASE_URL"], m["XDR_API_KEY_ID"], m["XDR_API_KEY"] = "", e.fleet.BaseURL(e.root, id), keyID, key
		m["XDR_TENANT"] = "solo"
		return m
	}
	a := e.start(env("a"))
	waitFor(t, 30*time.Second, "a to run the tenant", func() bool { return slices.Equal(running(t, a), []string{"solo"}) })
	b := e.start(env("b"))
	// b joins, and must stand by: once the coordinator describes both as
	// members with their slots, the tenant's slot is a's and b runs nothing.
	owners := settled(t, map[string]*fleetRun{"a": a, "b": b})
	if slot := a.slotOf("solo"); owners[slot] != "a" {
		t.Fatalf("the tenant's slot %d went to %q, want a", slot, owners[slot])
	}
	if got := running(t, b); len(got) != 0 {
		t.Fatalf("the standby runs %v", got)
	}
	waitFor(t, 30*time.Second, "a's first commit", func() bool { _, found := committed(t, e.brokers, "fleet-test", "solo"); return found })
	a.stop(t)
	waitFor(t, 30*time.Second, "b to take over", func() bool { return slices.Equal(running(t, b), []string{"solo"}) })
	waitFor(t, 30*time.Second, "every version in Kafka", func() bool {
		got := map[string]bool{}
		for _, r := range testkit.ReadCommitted(t, e.brokers, "xdr.incidents") {
			for _, h := range r.Headers {
				if h.Key == record.HeaderTenant {
					t.Fatalf("a record of the env tenant has an %s header", record.HeaderTenant)
				}
			}
			if strings.HasPrefix(string(r.Key), "solo/") {
				t.Fatalf("a record key of the env tenant carries the tenant: %q", r.Key)
			}
			var env record.Envelope
			if err := json.Unmarshal(r.Value, &env); err != nil {
				t.Fatal(err)
			}
			if env.Tenant != "solo" {
				t.Fatalf("record of tenant %q", env.Tenant)
			}
			got[fmt.Sprintf("%s@%d", env.IncidentID, env.ModificationTime)] = true
		}
		for _, v := range e.fleet.Tenant(id).Versions() {
			if !got[fmt.Sprintf("%s@%d", v.IncidentID, v.ModificationTime)] {
				return false
			}
		}
		return true
	})
	noOverlap(t, e, []string{id})
	if n := e.fleet.Tenant(id).Count429(); n != 0 {
		t.Errorf("the tenant answered 429 %d times across a clean handover", n)
	}
}

// TestTenantsOfNobodyAreReported runs a replica that cannot join the group
// (its joins are dropped) while Kafka answers it otherwise: nobody owns any
// slot, so after the grace period its /tenants lists every tenant as
// unowned, and it runs none.
func TestTenantsOfNobodyAreReported(t *testing.T) {
	e := newGroupFleetEnv(t, 3)
	e.cluster.ControlKey(int16(kmsg.JoinGroup), func(kmsg.Request) (kmsg.Response, error, bool) {
		e.cluster.KeepControl()
		return nil, errors.New("dropped"), true
	})
	settings := groupSettings("u")
	settings["KAFKA_GROUP_REBALANCE_TIMEOUT"] = "4s" // grace: session + rebalance timeout = 6s
	started := time.Now()
	u := e.start(settings)
	var st map[string]TenantStatus
	waitFor(t, 30*time.Second, "every tenant reported unowned", func() bool {
		st = u.tenants(t)
		for _, id := range e.fleet.IDs() {
			if st[id].State != StateUnowned {
				return false
			}
		}
		return true
	})
	if waited := time.Since(started); waited < 6*time.Second {
		t.Errorf("tenants reported unowned after %s, before the grace period", waited)
	}
	if !strings.Contains(st["t01"].Reason, "slot") {
		t.Errorf("reason %q", st["t01"].Reason)
	}
	if calls := e.calls.Of(""); len(calls) != 0 {
		t.Errorf("a replica that owns nothing called the API %d times", len(calls))
	}
}

// settled waits until the coordinator describes the group as stable with
// exactly the replicas of rs (by instance id) as members, each of which has
// taken in the slots the description gives it, and returns who owns each
// slot.
func settled(t *testing.T, rs map[string]*fleetRun) map[int32]string {
	t.Helper()
	var cfg *config.Config
	for _, r := range rs {
		cfg = r.proc.cfg
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.KafkaBrokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	var owners map[int32]string
	waitFor(t, 30*time.Second, "the replicas to join the group and take in their slots", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		dgs, err := adm.DescribeGroups(ctx, cfg.GroupID())
		if err != nil {
			return false
		}
		g := dgs[cfg.GroupID()]
		if g.Err != nil || g.State != "Stable" || len(g.Members) != len(rs) {
			return false
		}
		owners = map[int32]string{}
		mine := map[string][]int32{}
		for _, m := range g.Members {
			if m.InstanceID == nil || rs[*m.InstanceID] == nil {
				return false
			}
			a, ok := m.Assigned.AsConsumer()
			if !ok {
				return false
			}
			for _, tp := range a.Topics {
				if tp.Topic != cfg.TopicSlots {
					continue
				}
				for _, p := range tp.Partitions {
					owners[p] = *m.InstanceID
					mine[*m.InstanceID] = append(mine[*m.InstanceID], p)
				}
			}
		}
		for name, r := range rs {
			g := r.group()
			if g == nil {
				return false
			}
			want := mine[name]
			slices.Sort(want)
			if !slices.Equal(g.member.Owned(), want) {
				return false
			}
		}
		return true
	})
	return owners
}

// group is the replica's membership; nil until it has joined.
func (r *fleetRun) group() *group {
	r.proc.fleet.mu.Lock()
	defer r.proc.fleet.mu.Unlock()
	return r.proc.fleet.group
}

// slotOf is tenant id's slot in the replica's group.
func (r *fleetRun) slotOf(id string) int32 { return r.group().slotOf(id) }

// gauge is the value of a metric without labels other than the resource's,
// as GET /metrics serves it; -1 when it is absent.
func gauge(t *testing.T, r *fleetRun, name string) float64 {
	t.Helper()
	for _, line := range scrape(t, r) {
		if rest, ok := strings.CutPrefix(line, name); ok && (strings.HasPrefix(rest, " ") || strings.HasPrefix(rest, "{")) {
			f := strings.Fields(rest)
			v, err := strconv.ParseFloat(f[len(f)-1], 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return v
		}
	}
	return -1
}

// TestASecondProcessWithoutTheGroupIsFoundOut runs two processes of one
// CONNECTOR_NAME and one tenants file with the group turned off: the
// second's first offsets commit fences the first's writer of each tenant, and
// the first stops those tenants with an error naming the situation and the
// fix, in its log and in GET /tenants — not silently serving them twice.
// The environment's one tenant (no file) stops its process with that error.
func TestASecondProcessWithoutTheGroupIsFoundOut(t *testing.T) {
	e := newFleetEnv(t, 3, 5)
	ids := e.fleet.IDs()
	off := map[string]string{"KAFKA_GROUP_ENABLED": "false"}
	a := e.start(off)
	waitFor(t, 30*time.Second, "a to run every tenant", func() bool { return len(running(t, a)) == len(ids) })
	b := e.start(off)
	told := map[string]bool{} // a tenant a reported stopped for the second process
	waitFor(t, 60*time.Second, "a to stop every tenant b runs, saying why", func() bool {
		for id, s := range a.tenants(t) {
			if s.State == StateFailed && strings.Contains(s.Reason, "another live process with the same CONNECTOR_NAME") &&
				strings.Contains(s.Reason, "KAFKA_GROUP_ENABLED") {
				told[id] = true
			}
		}
		return len(told) == len(ids)
	})
	if lines := a.logs.Lines("tenant failed", "another live process with the same CONNECTOR_NAME", "CONNECTOR_NAME"); len(lines) < len(ids) {
		t.Errorf("a logged %d failures naming the second process, want one per tenant (%d)", len(lines), len(ids))
	}
	b.stop(t)
	a.stop(t)

	id := ids[0]
	keyID, key := e.fleet.Tenant(id).Credentials()
	env := map[string]string{"KAFKA_GROUP_ENABLED": "false", "TENANTS_FILE": "", "XDR_BASE_URL": e.fleet.BaseURL(e.root, id),
		"XDR_API_KEY_ID": keyID, "XDR_API_KEY": key, "XDR_TENANT": "solo"}
	c := e.start(env)
	waitFor(t, 30*time.Second, "c's first commit", func() bool { _, found := committed(t, e.brokers, "fleet-test", "solo"); return found })
	d := e.start(env)
	select {
	case err := <-c.done:
		if !errors.Is(err, errSecondProcess) || !errors.Is(err, pipeline.ErrFenced) || !strings.Contains(err.Error(), "KAFKA_GROUP_ENABLED") ||
			!strings.Contains(err.Error(), "own CONNECTOR_NAME") || !strings.Contains(err.Error(), "solo") {
			t.Errorf("the fenced env-only process ended with %v", err)
		}
		c.cancel = nil
		c.proc.Close()
	case <-time.After(30 * time.Second):
		t.Fatal("the first env-only process still runs after a second one started")
	}
	d.stop(t)
}
