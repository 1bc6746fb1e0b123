package app

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
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
		calls := e.calls.of(id)
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
	moved := got[1]
	waitFor(t, 30*time.Second, "b's tenants to call the API", func() bool {
		for _, id := range moved {
			if !slices.ContainsFunc(e.calls.of(id), func(c apiCall) bool { return c.Replica == "b" }) {
				return false
			}
		}
		return true
	})
	b.stop(t)
	spread(t, "a to run every tenant again", ids, a)
	for _, id := range moved {
		if st, found := committed(t, e.brokers, "fleet-test", id); !found {
			t.Errorf("tenant %s: no committed state", id)
		} else if a.tenants(t)[id].State != StateRunning {
			t.Errorf("tenant %s: %+v", id, st)
		}
	}
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
	e := newGroupFleetEnv(t, 6)
	ids := e.fleet.IDs()
	a := e.start(groupSettings("a"))
	b := e.start(groupSettings("b"))
	got := spread(t, "a and b to share the tenants", ids, a, b)
	fromA := got[0]
	waitFor(t, 30*time.Second, "a's tenants to call the API", func() bool {
		for _, id := range fromA {
			if !slices.ContainsFunc(e.calls.of(id), func(c apiCall) bool { return c.Replica == "a" }) {
				return false
			}
		}
		return true
	})

	var mu sync.Mutex
	cut := true
	wake := make(chan struct{})
	for _, key := range []kmsg.Key{kmsg.Heartbeat, kmsg.JoinGroup, kmsg.SyncGroup} {
		e.cluster.ControlKey(int16(key), func(req kmsg.Request) (kmsg.Response, error, bool) {
			e.cluster.KeepControl()
			var id *string
			switch r := req.(type) {
			case *kmsg.HeartbeatRequest:
				id = r.InstanceID
			case *kmsg.JoinGroupRequest:
				id = r.InstanceID
			case *kmsg.SyncGroupRequest:
				id = r.InstanceID
			}
			mu.Lock()
			hold := cut && id != nil && *id == "a"
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
	for _, c := range e.calls.of("") {
		if c.Replica == "a" && c.Arrived.After(cutAt.Add(2*time.Second)) {
			t.Errorf("the cut-off replica called the API for %s %s after it was cut off, past the session timeout",
				c.Tenant, c.Arrived.Sub(cutAt).Round(time.Millisecond))
		}
	}
	noOverlap(t, e, ids)

	// a's pipelines kept committing while cut off: the commits after b's
	// fence were refused, so each of its tenants stopped as fenced.
	waitFor(t, 30*time.Second, "a's tenants to report the fence", func() bool {
		for _, id := range fromA {
			if len(a.logs.lines(`"tenant":"`+id+`"`, "PRODUCER_FENCED")) == 0 {
				return false
			}
		}
		return true
	})
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
