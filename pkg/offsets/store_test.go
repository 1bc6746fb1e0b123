package offsets

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

func newStore(t *testing.T) (*Store, *kadm.Client) {
	t.Helper()
	return newStoreFor(t, "c", "t")
}

func newStoreFor(t *testing.T, connector, tenant string) (*Store, *kadm.Client) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	opts := []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	adm := kadm.NewClient(cl)
	if err := EnsureTopic(context.Background(), adm, "offsets", 1); err != nil {
		t.Fatal(err)
	}
	s, err := NewStore(cl, StoreConfig{Topic: "offsets", Connector: connector, Tenant: tenant, ClientOpts: opts})
	if err != nil {
		t.Fatal(err)
	}
	return s, adm
}

// TestCommitScalesWithTheBacklog commits the offsets of a first poll that
// read 100k incidents — their versions and their owed enrichments — and reads
// them back. Kept in one state record, they would exceed Kafka's 1 MB
// message limit and every commit would fail.
func TestCommitScalesWithTheBacklog(t *testing.T) {
	s, _ := newStore(t)
	const n = 100_000
	tr := NewTracker(State{Watermark: 1}, time.Hour.Milliseconds())
	for i := range n {
		id := strconv.Itoa(1_000_000 + i)
		tr.Emitted(id, int64(1000+i))
		tr.Acked(id, int64(1000+i))
		tr.Owe(Pending{IncidentID: id, ModificationTime: int64(1000 + i), Severity: "high", FirstQueued: 5})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := s.Commit(ctx, tr.Snapshot()); err != nil {
		t.Fatalf("committing 100k incidents: %v", err)
	}
	st, found, err := s.Load(ctx)
	if err != nil || !found {
		t.Fatalf("Load: found=%v err=%v", found, err)
	}
	if len(st.Emitted) != n || len(st.Pending) != n || st.Emitted["1000042"] != 1042 {
		t.Fatalf("read back %d versions and %d pending, want %d each", len(st.Emitted), len(st.Pending), n)
	}
	// The next commit writes only what changed.
	tr.Settled("1000042", 1042)
	d := tr.Snapshot()
	if len(d.Marks) != 1 || len(d.Pending) != 1 {
		t.Fatalf("second delta: %d marks, %d pending; want 1 each", len(d.Marks), len(d.Pending))
	}
}

func TestEnsureTopicRefusesANonCompactedTopic(t *testing.T) {
	_, adm := newStore(t)
	del := "delete"
	if _, err := adm.CreateTopic(context.Background(), 1, 1, map[string]*string{"cleanup.policy": &del}, "plain"); err != nil {
		t.Fatal(err)
	}
	if err := EnsureTopic(context.Background(), adm, "plain", 1); !errors.Is(err, ErrNotCompacted) {
		t.Fatalf("EnsureTopic on a delete-policy topic = %v, want ErrNotCompacted", err)
	}
	if err := CheckCompacted(context.Background(), adm, "offsets"); err != nil {
		t.Fatalf("the topic EnsureTopic created is not compacted: %v", err)
	}
}

// TestLoadFindsNamesThatJSONEscapes: keys are written with encoding/json,
// which escapes &, < and >; Load must match them with the same encoder, or a
// connector or tenant named "R&D" would silently start over at every start.
func TestLoadFindsNamesThatJSONEscapes(t *testing.T) {
	for _, name := range []string{"R&D", "<soc>", `q"uote`, "plain"} {
		t.Run(name, func(t *testing.T) {
			s, _ := newStoreFor(t, name, name+"-tenant")
			tr := NewTracker(State{Watermark: 1234}, time.Hour.Milliseconds())
			tr.Emitted("7", 1200)
			tr.Acked("7", 1200)
			tr.Owe(Pending{IncidentID: "7", ModificationTime: 1200, FirstQueued: 5})
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := s.Commit(ctx, tr.Snapshot()); err != nil {
				t.Fatal(err)
			}
			st, found, err := s.Load(ctx)
			if err != nil || !found {
				t.Fatalf("Load: found=%v err=%v; the committed state of %q was not found", found, err, name)
			}
			if st.Watermark != 1234 || st.Emitted["7"] != 1200 || st.Pending["7"].ModificationTime != 1200 {
				t.Fatalf("read back %+v", st)
			}
		})
	}
}

// TestRedriveIsOwedOnceAndKeptAsALedger writes redrive requests as
// `connector redrive` does and follows them through two starts: the first
// owes them (even for a version an enrichment covered, and merged with what
// was owed already) and marks them applied in its first commit; the next
// start does not owe them again, and the applied request stays after the
// enrichment is settled.
func TestRedriveIsOwedOnceAndKeptAsALedger(t *testing.T) {
	s, _ := newStore(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tr := NewTracker(State{Watermark: 1}, time.Hour.Milliseconds())
	tr.Owe(Pending{IncidentID: "5", ModificationTime: 100, FirstQueued: 10})
	tr.Settled("5", 100) // dead-lettered: settled, covered
	tr.Owe(Pending{IncidentID: "6", ModificationTime: 300, Severity: "high", FirstQueued: 20})
	if err := s.Commit(ctx, tr.Snapshot()); err != nil {
		t.Fatal(err)
	}
	for _, v := range []RedriveValue{{IncidentID: "5", ModificationTime: 100, FailedAt: 50, RequestedAt: 1000}, {IncidentID: "6", ModificationTime: 200, FailedAt: 60, RequestedAt: 1000}} {
		if err := s.cl.ProduceSync(ctx, s.RedriveRecord(v)).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	load := func() State {
		t.Helper()
		st, found, err := s.Load(ctx)
		if err != nil || !found {
			t.Fatalf("Load: found=%v err=%v", found, err)
		}
		return st
	}
	st := load()
	if r := st.Redrives["5"]; r.AppliedAt != 0 || r.FailedAt != 50 || r.ModificationTime != 100 {
		t.Fatalf("redrive of 5 read back as %+v", r)
	}
	if _, owed := st.Pending["5"]; owed {
		t.Fatal("Load owes a redrive by itself; only a tracker may")
	}

	tr2 := NewTracker(st, time.Hour.Milliseconds())
	owed := map[string]Pending{}
	for _, p := range tr2.PendingList() {
		owed[p.IncidentID] = p
	}
	if p := owed["5"]; p.ModificationTime != 100 || p.FirstQueued != 1000 {
		t.Errorf("redriven 5 owed as %+v, want version 100 queued at 1000", p)
	}
	if p := owed["6"]; p.ModificationTime != 300 || p.Severity != "high" || p.FirstQueued != 20 {
		t.Errorf("redriven 6 merged as %+v, want what was owed (300, high, 20)", p)
	}
	d := tr2.Snapshot()
	if len(d.Redriven) != 2 || d.Pending["5"] == nil {
		t.Fatalf("first delta after the start: %d redrives, pending 5 %v", len(d.Redriven), d.Pending["5"])
	}
	if err := s.Commit(ctx, d); err != nil {
		t.Fatal(err)
	}
	st = load()
	if st.Redrives["5"].AppliedAt == 0 || st.Redrives["6"].AppliedAt == 0 || st.Pending["5"].ModificationTime != 100 {
		t.Fatalf("after the first commit: redrives %+v, pending 5 %+v", st.Redrives, st.Pending["5"])
	}

	// A second start owes 5 because it is still pending, not because of the
	// request, which it does not write again.
	tr3 := NewTracker(st, time.Hour.Milliseconds())
	tr3.Settled("5", 100)
	d = tr3.Snapshot()
	if len(d.Redriven) != 0 {
		t.Fatalf("a second start redrives again: %+v", d.Redriven)
	}
	if err := s.Commit(ctx, d); err != nil {
		t.Fatal(err)
	}
	st = load()
	if _, ok := st.Pending["5"]; ok || st.Redrives["5"].FailedAt != 50 || st.Redrives["5"].AppliedAt == 0 {
		t.Fatalf("after the enrichment: pending 5 %v, ledger %+v", st.Pending["5"], st.Redrives["5"])
	}
}

// TestLoadTenantsReadsEveryTenantOnce commits two tenants of a connector and
// a third of another, and reads the first two in one pass.
func TestLoadTenantsReadsEveryTenantOnce(t *testing.T) {
	a, _ := newStoreFor(t, "c", "a")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	opts := a.cfg.ClientOpts
	b, _ := NewStore(a.cl, StoreConfig{Topic: "offsets", Connector: "c", Tenant: "b", ClientOpts: opts, Now: func() time.Time { return time.UnixMilli(777) }})
	other, _ := NewStore(a.cl, StoreConfig{Topic: "offsets", Connector: "other", Tenant: "a", ClientOpts: opts})
	for i, s := range []*Store{a, b, other} {
		tr := NewTracker(State{Watermark: int64(100 * (i + 1))}, time.Hour.Milliseconds())
		tr.Owe(Pending{IncidentID: "1", ModificationTime: 5, FirstQueued: int64(i)})
		d := tr.Snapshot()
		d.Clean = i == 1
		if err := s.Commit(ctx, d); err != nil {
			t.Fatal(err)
		}
	}
	got, err := LoadTenants(ctx, a.cl, "offsets", "c", []string{"a", "b", "never"}, opts)
	if err != nil {
		t.Fatal(err)
	}
	if l := got["a"]; !l.Found || l.State.Watermark != 100 || l.State.Clean || len(l.State.Pending) != 1 || l.State.CommittedAt == 0 {
		t.Errorf("tenant a: %+v", l)
	}
	if l := got["b"]; !l.Found || l.State.Watermark != 200 || !l.State.Clean || l.State.CommittedAt != 777 {
		t.Errorf("tenant b: %+v", l)
	}
	if l := got["never"]; l.Found || len(l.State.Pending) != 0 {
		t.Errorf("a tenant that never committed: %+v", l)
	}

	// No list: every tenant of the connector that the keys name, and only those.
	all, err := LoadTenants(ctx, a.cl, "offsets", "c", nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 || all["a"].State.Watermark != 100 || !all["b"].State.Clean || !all["a"].Found {
		t.Errorf("every tenant of connector c: %+v", all)
	}
}
