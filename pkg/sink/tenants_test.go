package sink

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/soc-tools/xdr-kafka-connector/pkg/record"
)

// TestTenantBacklogsNeverBlockAnotherTenantsPublish: while Kafka holds
// every produce request, three tenants with backlogs fill their rooms on one
// shared producer and wait; a fourth tenant's change record is still handed
// over at once, because the producer's buffer (TenantsBuffer) holds every
// tenant's rooms (TenantInFlight). With the single-tenant rooms
// (MaxInFlight) the backlogs fill that buffer and the fourth tenant waits.
func TestTenantBacklogsNeverBlockAnotherTenantsPublish(t *testing.T) {
	for _, tc := range []struct {
		name     string
		inFlight int
		blocked  bool
	}{
		{"tenant rooms", TenantInFlight, false},
		{"single-tenant rooms", MaxInFlight, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, testTopics.All()...))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			release := make(chan struct{})
			c.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
				c.KeepControl()
				c.SleepControl(func() { <-release })
				return nil, nil, false
			})
			defer close(release)
			cl, err := kgo.NewClient(append(append([]kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}, ProducerOpts()...),
				kgo.MaxBufferedRecords(TenantsBuffer(4)))...)
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			sinkOf := func(id string) *Sink {
				s, err := New(cl, testTopics, ForTenant(id), WithInFlight(tc.inFlight))
				if err != nil {
					t.Fatal(err)
				}
				return s
			}
			for _, id := range []string{"hog1", "hog2", "hog3"} {
				s := sinkOf(id)
				go func() {
					_ = s.Publish(ctx, Changes, recs(3000, record.TypeIncidentChange, record.TopicIncidents), func(error) {})
				}()
				go func() {
					_ = s.Publish(ctx, Enrichments, recs(3000, record.TypeAlert, record.TopicAlerts), func(error) {})
				}()
				// Wait until this tenant holds all it can: its rooms are full,
				// or (single-tenant rooms) the producer's buffer is.
				deadline := time.Now().Add(20 * time.Second)
				for s.Outstanding() < int64(min(2*tc.inFlight, 6000)) && cl.BufferedProduceRecords() < int64(TenantsBuffer(4)) {
					if time.Now().After(deadline) {
						t.Fatalf("%s: %d records outstanding, %d buffered", id, s.Outstanding(), cl.BufferedProduceRecords())
					}
					time.Sleep(10 * time.Millisecond)
				}
			}
			quiet := sinkOf("quiet")
			returned := make(chan error, 1)
			go func() {
				returned <- quiet.Publish(ctx, Changes, recs(1, record.TypeIncidentChange, record.TopicIncidents), func(error) {})
			}()
			wait := 20 * time.Second
			if tc.blocked {
				wait = time.Second
			}
			select {
			case err := <-returned:
				if err != nil {
					t.Fatal(err)
				}
				if tc.blocked {
					t.Fatalf("the quiet tenant's Publish returned with %d records buffered, want it to wait", cl.BufferedProduceRecords())
				}
			case <-time.After(wait):
				if !tc.blocked {
					t.Fatalf("the quiet tenant's Publish waited behind %d buffered records of other tenants", cl.BufferedProduceRecords())
				}
			}
		})
	}
}
