package pipeline

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/soc-tools/xdr-kafka-connector/internal/testkit"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr/xdrtest"
)

// TestDeliveryBuildsItsOwnClients runs each delivery mode with a plain
// client of the caller's and a factory that records what it builds: only the
// mode decides which Kafka clients a tenant gets — none beyond the caller's
// for plain at-least-once, one transactional offsets writer with Fencing,
// one transactional client for exactly-once, each with the tenant's
// transactional id — and every version still arrives and is committed.
func TestDeliveryBuildsItsOwnClients(t *testing.T) {
	for _, tc := range []struct {
		delivery string
		fencing  bool
		want     int // clients built
	}{
		{AtLeastOnce, false, 0},
		{AtLeastOnce, true, 1},
		{ExactlyOnce, false, 1},
		{ExactlyOnce, true, 1},
	} {
		t.Run(fmt.Sprintf("%s fencing=%v", tc.delivery, tc.fencing), func(t *testing.T) {
			e := testkit.New(t, xdrtest.Config{Seed: 16, Incidents: 15, MaxAlerts: 5, RateWindow: 50 * time.Millisecond})
			cfg := testConfig(e, 50*time.Millisecond)
			cfg.Delivery, cfg.Fencing = tc.delivery, tc.fencing
			var (
				mu    sync.Mutex
				built []*kgo.Client
			)
			factory := func(opts ...kgo.Opt) (*kgo.Client, error) {
				cl := e.Producer(opts...)
				mu.Lock()
				built = append(built, cl)
				mu.Unlock()
				return cl, nil
			}
			r := start(e, cfg, WithProducers(factory))
			testkit.WaitFor(t, 60*time.Second, "the pipeline to drain", func() bool { return drained(r.p, e.Sim) })
			r.stop(t)
			mu.Lock()
			defer mu.Unlock()
			if len(built) != tc.want {
				t.Fatalf("the mode built %d clients, want %d", len(built), tc.want)
			}
			for _, cl := range built {
				if id, _ := cl.OptValue(kgo.TransactionalID).(string); id != TransactionalID(cfg.Connector, cfg.Tenant) {
					t.Errorf("a client built with transactional id %q, want the tenant's", id)
				}
			}
			if st, found := e.ReadState(cfg.Connector, cfg.Tenant); !found || !st.Clean {
				t.Fatalf("state after the stop: found %v, clean %v", found, st.Clean)
			}
			e.Verify(e.Output(), Transactional(tc.delivery), func(xdrtest.Version) bool { return true }, nil)
		})
	}
}
