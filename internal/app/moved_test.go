package app

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/soc-tools/xdr-kafka-connector/internal/testkit"
	"github.com/soc-tools/xdr-kafka-connector/pkg/pipeline"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr/xdrtest"
)

// hold makes the broker hold the requests of the given keys that match
// (nil: every one) from the first call of the returned start until the test
// ends, as a broker that is gone (or a coordinator that does not answer)
// would; held is told of each request held.
func hold(t *testing.T, c *kfake.Cluster, keys []kmsg.Key, match func(kmsg.Request) bool, held func(kmsg.Key)) (start func()) {
	t.Helper()
	var mu sync.Mutex
	on := false
	wake := make(chan struct{})
	for _, key := range keys {
		c.ControlKey(int16(key), func(req kmsg.Request) (kmsg.Response, error, bool) {
			c.KeepControl()
			mu.Lock()
			h := on && (match == nil || match(req))
			mu.Unlock()
			if h {
				if held != nil {
					held(key)
				}
				c.SleepControl(func() { <-wake })
			}
			return nil, nil, false
		})
	}
	t.Cleanup(func() { close(wake) })
	return func() {
		mu.Lock()
		on = true
		mu.Unlock()
	}
}

// stopWithin stops r and fails unless Run and Close together returned
// within SHUTDOWN_TIMEOUT (shutdown) plus StopMargin, with a second of slack
// for a loaded machine; it returns how long the stop took.
func stopWithin(t *testing.T, r *fleetRun, shutdown time.Duration) time.Duration {
	t.Helper()
	began := time.Now()
	r.stop(t)
	took := time.Since(began)
	if limit := shutdown + StopMargin + time.Second; took > limit {
		t.Errorf("the stop took %s, more than SHUTDOWN_TIMEOUT %s + StopMargin %s", took.Round(time.Millisecond), shutdown, StopMargin)
	}
	return took
}

// TestMovedTenantIsReleasedAndTheStopEndsInTime cuts replica a off from the
// group coordinator (its heartbeats, joins and syncs hang) while it still
// writes: b takes every tenant and fences a's offsets writers. a's member is
// never told that it lost its slots, yet each tenant fenced there is
// released and reported moved — to b, by the coordinator's word — not
// failed, and not retried; the tenants-owned gauge drops to zero while the
// moved one counts them. Then a is stopped, still cut off: the stop ends
// within SHUTDOWN_TIMEOUT plus StopMargin, and a's final statuses still say
// moved.
func TestMovedTenantIsReleasedAndTheStopEndsInTime(t *testing.T) {
	e, ids, a, b, fromA := twoReplicas(t)
	cut := hold(t, e.cluster, []kmsg.Key{kmsg.Heartbeat, kmsg.JoinGroup, kmsg.SyncGroup}, func(req kmsg.Request) bool {
		return testkit.FromGroupMember(req, "a")
	}, nil)
	cut()
	spread(t, "b to run every tenant", ids, b)

	var st map[string]TenantStatus
	waitFor(t, 30*time.Second, "a's tenants to be reported moved", func() bool {
		st = a.tenants(t)
		for _, id := range fromA {
			if st[id].State != StateMoved {
				return false
			}
		}
		return true
	})
	for _, id := range fromA {
		if s := st[id]; !strings.Contains(s.Reason, "moved to b") || !s.NextRetry.IsZero() || s.Failures != 0 {
			t.Errorf("tenant %s on a: %+v, want moved to b, no retry", id, s)
		}
		if len(a.logs.Lines(`"tenant":"`+id+`"`, "tenant failed")) != 0 {
			t.Errorf("tenant %s was logged failed on a", id)
		}
	}
	if n := gauge(t, a, "xdr_connector_tenants_owned"); n != 0 {
		t.Errorf("a's tenants owned gauge %v after its tenants moved", n)
	}
	if n := gauge(t, a, "xdr_connector_tenants_moved"); n != float64(len(fromA)) {
		t.Errorf("a's tenants moved gauge %v, want %d", n, len(fromA))
	}

	took := stopWithin(t, a, 3*time.Second)
	t.Logf("a, cut off from the coordinator with %d moved tenants, stopped in %s", len(fromA), took.Round(time.Millisecond))
	final := map[string]TenantStatus{}
	for _, s := range a.proc.Tenants() {
		final[s.ID] = s
	}
	for _, id := range fromA {
		if final[id].State != StateMoved {
			t.Errorf("tenant %s ended %s on a, want moved", id, final[id].State)
		}
	}
	noOverlap(t, e, ids)
}

// TestStopEndsInTimeWhateverTheTenantsDo stops a replica of a group (a
// dynamic member) whose tenants are in every state a stop can meet: one
// failed and backing off (its key revoked), one fenced by a writer outside
// the group (failed, not moved: the coordinator says its slot is this
// process's), one retrying a tenant that answers 500s, and the others
// draining records that a broker which stopped answering produce requests
// holds; the coordinator does not answer the leave either. Run and Close
// return within SHUTDOWN_TIMEOUT plus StopMargin.
func TestStopEndsInTimeWhateverTheTenantsDo(t *testing.T) {
	e := newGroupFleetEnv(t, 6)
	e.tuning = func(t *Tuning) { t.TenantRetryMin, t.TenantRetryMax = time.Minute, 30*time.Minute }
	ids := e.fleet.IDs()
	revoked, fenced, flaky := ids[0], ids[1], ids[2]
	settings := groupSettings("")
	delete(settings, "KAFKA_GROUP_INSTANCE_ID")
	r := e.start(settings)
	spread(t, "the replica to run every tenant", ids, r)

	e.fleet.Tenant(revoked).SetRevoked(true)
	outsider(t, e.brokers, pipeline.TransactionalID("fleet-test", fenced))
	for _, ep := range []string{xdrtest.EndpointIncidents, xdrtest.EndpointExtraData} {
		e.fleet.Tenant(flaky).Inject(ep, xdrtest.FaultServerError, 1_000_000)
	}
	var st map[string]TenantStatus
	waitFor(t, 30*time.Second, "the revoked and the fenced tenant to be reported failed", func() bool {
		st = r.tenants(t)
		return st[revoked].State == StateFailed && st[fenced].State == StateFailed
	})
	if s := st[fenced]; s.Reason != failureReason(pipeline.ErrFenced) {
		t.Errorf("tenant fenced by a writer outside the group: %+v", s)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		_ = e.fleet.RunMutations(ctx, xdrtest.MutationConfig{Interval: 20 * time.Millisecond})
	}()
	producing := make(chan struct{}, 1)
	gone := hold(t, e.cluster, []kmsg.Key{kmsg.Produce}, nil, func(kmsg.Key) {
		select {
		case producing <- struct{}{}:
		default:
		}
	})
	gone()
	select {
	case <-producing:
	case <-time.After(30 * time.Second):
		t.Fatal("no produce request reached the broker after it stopped answering")
	}
	hold(t, e.cluster, []kmsg.Key{kmsg.LeaveGroup, kmsg.Heartbeat, kmsg.JoinGroup, kmsg.SyncGroup}, nil, nil)()

	took := stopWithin(t, r, 3*time.Second)
	t.Logf("stopped in %s", took.Round(time.Millisecond))
	final := map[string]TenantStatus{}
	for _, s := range r.proc.Tenants() {
		final[s.ID] = s
	}
	if s := final[fenced]; s.State == StateMoved || !strings.Contains(s.LastError, pipeline.ErrFenced.Error()) || s.Failures != 1 {
		t.Errorf("tenant fenced by a writer outside the group ended %+v, want its failure kept, not moved", s)
	}
}

// outsider fences the writers of transactional id txnID, as a process of
// the same connector outside the group would: it commits one transaction
// under that id.
func outsider(t *testing.T, brokers []string, txnID string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.TransactionalID(txnID), kgo.DefaultProduceTopic("outsider"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, "outsider"); err != nil {
		t.Fatal(err)
	}
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("fence")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
}
