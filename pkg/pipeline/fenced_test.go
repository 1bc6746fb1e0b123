package pipeline

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/soc-tools/xdr-kafka-connector/internal/testkit"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr/xdrtest"
)

// TestAtLeastOnceOffsetsFenceTheEarlierOwner runs two at-least-once
// pipelines of one tenant with Fencing, each writing its offsets through a
// transactional client of the tenant's id that it builds itself, as two
// processes would when the second takes the tenant over from a first that
// has not noticed: the second's start fences the first, whose next commit is
// refused and stops it; nothing is lost, and a late write by the first is
// refused too.
func TestAtLeastOnceOffsetsFenceTheEarlierOwner(t *testing.T) {
	e := testkit.New(t, xdrtest.Config{Seed: 15, Incidents: 40, MaxAlerts: 10, RateWindow: 50 * time.Millisecond})
	cfg := testConfig(e, 50*time.Millisecond)
	cfg.Fencing = true

	first := start(e, cfg)
	<-first.p.Ready()
	testkit.WaitFor(t, 30*time.Second, "a first commit", func() bool { return first.p.Stats().Commits > 0 })

	second := start(e, cfg)
	<-second.p.Ready()
	select {
	case err := <-first.done:
		if !errors.Is(err, ErrFenced) {
			t.Fatalf("the first pipeline stopped with %v, want ErrFenced", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the first pipeline still runs after the second fenced it")
	}

	// A zombie's late write of the tenant's offsets is refused.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	firstTxn := first.p.commit.(*atLeastOnce).txn
	if err := transactOnce(ctx, firstTxn, []*kgo.Record{second.p.store.FenceRecord()}, nil); !errors.Is(err, ErrFenced) {
		t.Fatalf("a late offsets write of the fenced client: %v, want ErrFenced", err)
	}
	first.close()
	first.cancel()

	testkit.WaitFor(t, 60*time.Second, "the second pipeline to drain", func() bool { return drained(second.p, e.Sim) })
	second.stop(t)
	if st, found := e.ReadState(cfg.Connector, cfg.Tenant); !found || !st.Clean {
		t.Fatalf("state after the second's stop: found %v, clean %v", found, st.Clean)
	}
	e.Verify(e.Output(), false, func(xdrtest.Version) bool { return true }, nil)
}
