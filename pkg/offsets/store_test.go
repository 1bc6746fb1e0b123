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
