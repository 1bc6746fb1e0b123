package sink

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/soc-tools/xdr-kafka-connector/pkg/record"
)

var testTopics = Topics{Incidents: "i", Alerts: "a", Artifacts: "r", DLQ: "d"}

func newSink(t *testing.T, opts ...Option) (*Sink, *kgo.Client) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, testTopics.All()...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}, ProducerOpts()...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	s, err := New(cl, testTopics, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s, cl
}

func recs(n int, typ string, topic record.Topic) []record.Record {
	out := make([]record.Record, n)
	for i := range out {
		out[i] = record.Record{Topic: topic, Type: typ, Key: []byte{byte(i)}, Value: []byte(`{}`)}
	}
	return out
}

func TestPublishCallsDoneOnceWhenAllAreAcknowledged(t *testing.T) {
	s, cl := newSink(t)
	var calls atomic.Int32
	done := make(chan error, 2)
	if err := s.Publish(context.Background(), Enrichments, recs(25, record.TypeAlert, record.TopicAlerts), func(err error) { calls.Add(1); done <- err }); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := cl.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := calls.Load(); n != 1 {
		t.Fatalf("done called %d times", n)
	}
	if got := s.Produced()["a"]; got != 25 {
		t.Fatalf("produced %d, want 25", got)
	}
	if s.Outstanding() != 0 {
		t.Fatalf("%d outstanding after the acknowledgement", s.Outstanding())
	}
	// Every record carries its type and the schema version.
	fetch, err := kgo.NewClient(kgo.SeedBrokers(cl.OptValue(kgo.SeedBrokers).([]string)...), kgo.ConsumeTopics("a"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer fetch.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r := fetch.PollFetches(ctx).Records()[0]
	if len(r.Headers) != 2 || r.Headers[0].Key != record.HeaderRecordType || string(r.Headers[0].Value) != record.TypeAlert || string(r.Headers[1].Value) != "1" {
		t.Fatalf("headers %+v", r.Headers)
	}
}

func TestCancelledWaitSettlesTheRest(t *testing.T) {
	s, _ := newSink(t, Batching()) // batching: nothing drains the room by itself
	// Fill the enrichment room.
	if err := s.Publish(context.Background(), Enrichments, recs(MaxInFlight, record.TypeAlert, record.TopicAlerts), func(error) {}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	var got error
	calls := 0
	err := s.Publish(ctx, Enrichments, recs(3, record.TypeAlert, record.TopicAlerts), func(err error) { calls++; got = err })
	if !errors.Is(err, context.DeadlineExceeded) || calls != 1 || !errors.Is(got, context.DeadlineExceeded) {
		t.Fatalf("Publish = %v, done called %d times with %v; want the deadline once", err, calls, got)
	}
	// Change records have their own room: a full enrichment room does not
	// stop them.
	ok := make(chan error, 1)
	if err := s.Publish(context.Background(), Changes, recs(1, record.TypeIncidentChange, record.TopicIncidents), func(err error) { ok <- err }); err != nil {
		t.Fatalf("change record blocked behind enrichment records: %v", err)
	}
	if b := s.TakeBatch(); b.Len() != MaxInFlight+1 {
		t.Fatalf("batch holds %d records, want %d", b.Len(), MaxInFlight+1)
	} else {
		b.Settle(nil)
	}
	if err := <-ok; err != nil {
		t.Fatal(err)
	}
}

func TestBatchingKeepsOnePublishInOneBatch(t *testing.T) {
	s, _ := newSink(t, Batching())
	settled := 0
	if err := s.Publish(context.Background(), Enrichments, recs(10, record.TypeAlert, record.TopicAlerts), func(err error) {
		if err != nil {
			t.Error(err)
		}
		settled++
	}); err != nil {
		t.Fatal(err)
	}
	b := s.TakeBatch()
	if b.Len() != 10 {
		t.Fatalf("batch of %d, want all 10 records of the publish", b.Len())
	}
	krs, ctxs := b.Records()
	krs2, _ := b.Records()
	if len(krs) != 10 || len(ctxs) != 10 || krs[0] == krs2[0] || krs[3].Topic != "a" {
		t.Fatal("Records must build fresh franz-go records for each attempt")
	}
	if settled != 0 {
		t.Fatal("done called before the batch was settled")
	}
	b.Settle(nil)
	if settled != 1 || s.Outstanding() != 0 || s.Produced()["a"] != 10 {
		t.Fatalf("after Settle: done %d times, %d outstanding, produced %v", settled, s.Outstanding(), s.Produced())
	}
	if s.TakeBatch().Len() != 0 {
		t.Fatal("a batch was handed out twice")
	}
}

// TestConcurrentOversizedPublishesNeverDeadlock: publishes in batching mode
// that each need more than half the room take it all at once or wait, so two
// (or eight) of them can never each hold part of it and wait for the rest
// forever. Each round is bounded: a publish that has not got its room after
// 20 s fails the test instead of hanging it.
func TestConcurrentOversizedPublishesNeverDeadlock(t *testing.T) {
	s, _ := newSink(t, Batching())
	for _, n := range []int{2, 8} {
		for round := range 5 {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			// The committer: what exactly-once delivery does every interval.
			stop := make(chan struct{})
			committed := make(chan struct{})
			go func() {
				defer close(committed)
				for {
					select {
					case <-stop:
						s.TakeBatch().Settle(nil)
						return
					case <-s.BatchFull():
					case <-time.After(5 * time.Millisecond):
					}
					s.TakeBatch().Settle(nil)
				}
			}()
			errs := make(chan error, n)
			var settled atomic.Int64
			for i := range n {
				size := MaxInFlight/2 + 1 + i*97 // each more than half the room; some more than all of it
				if i%3 == 2 {
					size = MaxInFlight + 10
				}
				go func() {
					errs <- s.Publish(ctx, Enrichments, recs(size, record.TypeAlert, record.TopicAlerts), func(err error) {
						if err == nil {
							settled.Add(1)
						}
					})
				}()
			}
			for range n {
				if err := <-errs; err != nil {
					t.Fatalf("%d publishes, round %d: %v (room in use %d)", n, round, err, s.room.inUse())
				}
			}
			close(stop)
			<-committed
			cancel()
			if got := settled.Load(); got != int64(n) {
				t.Fatalf("%d publishes, round %d: %d settled", n, round, got)
			}
			if used := s.room.inUse(); used != 0 {
				t.Fatalf("round %d left %d places taken", round, used)
			}
		}
	}
}
