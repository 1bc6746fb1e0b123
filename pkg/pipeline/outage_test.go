package pipeline

import (
	"context"
	"testing"
	"time"

	"github.com/soc-tools/xdr-kafka-connector/internal/testkit"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr/xdrtest"
)

// TestBrokerOutage takes the broker away for 30 seconds (3 with -short) while
// the tenant keeps changing: the pipeline stays up, loses nothing, and
// catches up within seconds of the broker's return.
func TestBrokerOutage(t *testing.T) {
	outage := 30 * time.Second
	if testing.Short() {
		outage = 3 * time.Second
	}
	for _, delivery := range []string{AtLeastOnce, ExactlyOnce} {
		t.Run(delivery, func(t *testing.T) {
			e := testkit.NewPersistent(t, xdrtest.Config{Seed: 17, Incidents: 80, MaxAlerts: 20, RateWindow: 100 * time.Millisecond, IndexDelay: 100 * time.Millisecond})
			cfg := testConfig(e, 100*time.Millisecond)
			cfg.Delivery = delivery
			cfg.Source.Lookback = 2 * time.Second
			var polls testkit.PollLog
			r := start(e, cfg, WithPollObserver(polls.Observer(0)))
			testkit.WaitFor(t, 30*time.Second, "the backlog to be read", func() bool { return r.p.Stats().Versions >= 80 })

			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			mutations := make(chan error, 1)
			go func() {
				mutations <- e.Sim.RunMutations(ctx, xdrtest.MutationConfig{Interval: 20 * time.Millisecond, BulkEvery: 50, BulkSize: 60, MinVersionAge: 2 * time.Second, Steps: int(outage/(20*time.Millisecond)) + 100})
			}()
			e.StopKafka()
			down, before := time.Now(), polls.Polls()
			// The broker stays away for the whole outage, and the pipeline
			// stays up through it: its source goes on completing polls.
			testkit.WaitFor(t, outage+60*time.Second, "the outage to pass with the source polling", func() bool {
				select {
				case err := <-r.done:
					t.Fatalf("the pipeline stopped during the outage: %v", err)
				default:
				}
				return time.Since(down) >= outage && polls.Polls() >= before+3
			})
			e.StartKafka()
			back := time.Now()
			if err := <-mutations; err != nil {
				t.Fatal(err)
			}
			testkit.WaitFor(t, 60*time.Second, "the pipeline to catch up after the outage", func() bool { return drained(r.p, e.Sim) })
			t.Logf("caught up %s after the broker returned", time.Since(back).Round(100*time.Millisecond))
			r.stop(t)
			// The source keeps polling while Kafka is away (its change
			// records have their own room), so every version, each current
			// for at least 2 s, was seen by some complete poll.
			if excused := e.Verify(e.Output(), delivery == ExactlyOnce, polls.Expect(0), nil); excused != 0 {
				t.Errorf("%d versions were never seen by a complete poll: the source stalled during the outage", excused)
			}
		})
	}
}
