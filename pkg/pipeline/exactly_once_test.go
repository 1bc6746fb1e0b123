package pipeline

import (
	"errors"
	"testing"
	"time"

	"github.com/soc-tools/xdr-kafka-connector/internal/testkit"
	"github.com/soc-tools/xdr-kafka-connector/pkg/record"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr/xdrtest"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestExactlyOnceAcrossCrashes crashes an exactly-once pipeline at random
// points and requires a read_committed consumer to see every incident version
// exactly once and every enrichment round exactly once.
func TestExactlyOnceAcrossCrashes(t *testing.T) {
	e := testkit.New(t, xdrtest.Config{Seed: 13, Incidents: 120, MaxAlerts: 40, RateWindow: 60 * time.Millisecond, IndexDelay: 150 * time.Millisecond})
	cfg := testConfig(e, 60*time.Millisecond)
	cfg.Delivery = ExactlyOnce
	cfg.CommitInterval = 100 * time.Millisecond

	var polls testkit.PollLog
	crashTenTimes(t, e, cfg, 43, &polls)

	// A crashed run's uncommitted transaction is invisible, so a version it
	// read is published by a later run if it is still current then: give
	// crashed runs no grace at all beyond the commit interval.
	e.Verify(e.Output(), true, polls.Expect(cfg.CommitInterval+300*time.Millisecond), nil)

	rounds := map[testkit.Version][]int64{}
	for _, r := range e.ReadTopic(testkit.Topics.Incidents) {
		if r.Type == record.TypeIncidentEnriched {
			k := testkit.Version{ID: r.IncidentID, T: r.ModificationTime}
			rounds[k] = append(rounds[k], r.Enrichment.FetchedAt)
		}
	}
	for v, fetched := range rounds {
		if len(fetched) != 1 {
			t.Errorf("enrichment of %s@%d published %d times (fetched at %v)", v.ID, v.T, len(fetched), fetched)
		}
	}
	if n := e.Sim.Count429(); n != 0 {
		t.Errorf("the tenant answered 429 %d times across restarts", n)
	}
}

// TestSecondInstanceFencesTheFirst starts two exactly-once pipelines with the
// same name: the first must stop with ErrFenced, the second carries on.
func TestSecondInstanceFencesTheFirst(t *testing.T) {
	e := testkit.New(t, xdrtest.Config{Seed: 14, Incidents: 30, MaxAlerts: 10, RateWindow: 50 * time.Millisecond})
	cfg := testConfig(e, 50*time.Millisecond)
	cfg.Delivery = ExactlyOnce
	cfg.CommitInterval = 50 * time.Millisecond

	first := start(e, cfg)
	<-first.p.Ready()
	second := start(e, cfg)
	<-second.p.Ready()

	select {
	case err := <-first.done:
		if !errors.Is(err, ErrFenced) {
			t.Fatalf("first instance stopped with %v, want ErrFenced", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("first instance still running after a second one started")
	}
	first.close()
	first.cancel()
	testkit.WaitFor(t, 60*time.Second, "the second instance to drain", func() bool { return drained(second.p, e.Sim) })
	second.stop(t)
	e.Verify(e.Output(), true, func(xdrtest.Version) bool { return true }, nil)
}

// TestTransactionalIDRefusedIsNotFencing: a broker that refuses the
// transactional id (a missing ACL) stops an exactly-once pipeline at once
// with ErrTxnNotAuthorized, not with ErrFenced ("another instance") and not
// after minutes of retries.
func TestTransactionalIDRefusedIsNotFencing(t *testing.T) {
	e := testkit.New(t, xdrtest.Config{Seed: 15, Incidents: 5, MaxAlerts: 2})
	e.Cluster.ControlKey(int16(kmsg.InitProducerID), func(req kmsg.Request) (kmsg.Response, error, bool) {
		e.Cluster.KeepControl()
		resp := req.(*kmsg.InitProducerIDRequest).ResponseKind().(*kmsg.InitProducerIDResponse)
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		return resp, nil, true
	})
	cfg := testConfig(e, 50*time.Millisecond)
	cfg.Delivery = ExactlyOnce
	r := start(e, cfg)
	defer r.close()
	defer r.cancel()
	select {
	case err := <-r.done:
		if !errors.Is(err, ErrTxnNotAuthorized) || errors.Is(err, ErrFenced) {
			t.Fatalf("Run: %v; want ErrTxnNotAuthorized, not ErrFenced", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("still running 30 s after the broker refused the transactional id")
	}
}
