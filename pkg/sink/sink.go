// Package sink publishes keyed records to Kafka with franz-go: an idempotent
// producer with acks=all (franz-go's defaults) and compression, one topic per
// logical output.
package sink

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Topics maps each logical output to a Kafka topic name.
type Topics struct {
	Incidents string
	Alerts    string
	Artifacts string
	DLQ       string
}

// Name returns the Kafka topic of t.
func (ts Topics) Name(t Topic) string {
	switch t {
	case TopicIncidents:
		return ts.Incidents
	case TopicAlerts:
		return ts.Alerts
	case TopicArtifacts:
		return ts.Artifacts
	case TopicDLQ:
		return ts.DLQ
	}
	return ""
}

// All lists the topic names in a fixed order.
func (ts Topics) All() []string { return []string{ts.Incidents, ts.Alerts, ts.Artifacts, ts.DLQ} }

// MaxInFlight bounds the records a Sink has handed to the producer and Kafka
// has not acknowledged yet; Publish waits for room beyond it. It stays below
// the client's MaxBufferedRecords so that kgo.Produce itself never blocks.
const MaxInFlight = 8192

// ProducerOpts are the producer settings the connector relies on, to be added
// to the connection options when the client is built: acks from every in-sync
// replica, idempotence (franz-go's default, kept), zstd then lz4 compression,
// and a record buffer larger than MaxInFlight.
func ProducerOpts() []kgo.Opt {
	return []kgo.Opt{
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchCompression(kgo.ZstdCompression(), kgo.Lz4Compression(), kgo.NoCompression()),
		kgo.MaxBufferedRecords(MaxInFlight + 1024),
	}
}

// Sink publishes records through a franz-go client it does not own.
type Sink struct {
	cl     *kgo.Client
	topics Topics
	hdrVer []byte

	mu       sync.Mutex
	produced map[string]int64 // acknowledged records per topic name

	room        chan struct{} // one token per record in flight
	outstanding atomic.Int64
}

// New returns a Sink writing through cl.
func New(cl *kgo.Client, topics Topics) (*Sink, error) {
	for _, t := range topics.All() {
		if t == "" {
			return nil, errors.New("sink: every topic name is required")
		}
	}
	return &Sink{cl: cl, topics: topics, hdrVer: []byte(strconv.Itoa(SchemaVersion)), produced: map[string]int64{},
		room: make(chan struct{}, MaxInFlight)}, nil
}

// Topics returns the topic names.
func (s *Sink) Topics() Topics { return s.topics }

// Publish hands recs to the producer and returns once they are buffered,
// waiting while MaxInFlight records are unacknowledged. ctx bounds only that
// wait: records already handed over are never failed because ctx ends, so a
// graceful stop can still flush them. done is called exactly once, from a
// producer goroutine (or from Publish, for records it could not hand over
// before ctx ended), when Kafka has acknowledged every record (nil) or when
// any of them failed (the first error). done must not block. Records of one
// key keep their order. The error returned is ctx's, when it ended first.
func (s *Sink) Publish(ctx context.Context, recs []Record, done func(error)) error {
	if len(recs) == 0 {
		done(nil)
		return nil
	}
	var (
		left  atomic.Int64
		errMu sync.Mutex
		first error
	)
	left.Store(int64(len(recs)))
	noCancel := context.WithoutCancel(ctx)
	settle := func(r *kgo.Record, err error) {
		if err != nil {
			errMu.Lock()
			if first == nil {
				first = fmt.Errorf("producing to %s: %w", r.Topic, err)
			}
			errMu.Unlock()
		} else {
			s.mu.Lock()
			s.produced[r.Topic]++
			s.mu.Unlock()
		}
		if left.Add(-1) == 0 {
			errMu.Lock()
			e := first
			errMu.Unlock()
			done(e)
		}
	}
	promise := func(r *kgo.Record, err error) {
		s.outstanding.Add(-1)
		<-s.room
		settle(r, err)
	}
	for i, rec := range recs {
		kr := &kgo.Record{
			Topic: s.topics.Name(rec.Topic),
			Key:   rec.Key,
			Value: rec.Value,
			Headers: []kgo.RecordHeader{
				{Key: HeaderRecordType, Value: []byte(rec.Type)},
				{Key: HeaderSchemaVersion, Value: s.hdrVer},
			},
		}
		select {
		case s.room <- struct{}{}:
		case <-ctx.Done():
			// Fail the rest so done still fires exactly once.
			for _, r := range recs[i:] {
				settle(&kgo.Record{Topic: s.topics.Name(r.Topic)}, ctx.Err())
			}
			return ctx.Err()
		}
		s.outstanding.Add(1)
		s.cl.Produce(noCancel, kr, promise)
	}
	return nil
}

// Produced returns how many records Kafka acknowledged per topic name.
func (s *Sink) Produced() map[string]int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int64, len(s.produced))
	for k, v := range s.produced {
		out[k] = v
	}
	return out
}

// Outstanding returns how many records are buffered or in flight.
func (s *Sink) Outstanding() int64 { return s.outstanding.Load() }

// EnsureTopics creates every data topic that does not exist yet, with the
// given partitions and replication factor (-1 takes the broker defaults).
func EnsureTopics(ctx context.Context, adm *kadm.Client, topics Topics, partitions int32, replication int16) error {
	resps, err := adm.CreateTopics(ctx, partitions, replication, nil, topics.All()...)
	if err != nil {
		return fmt.Errorf("creating topics: %w", err)
	}
	for _, r := range resps.Sorted() {
		if r.Err != nil && !errors.Is(r.Err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("creating topic %s: %w", r.Topic, r.Err)
		}
	}
	return nil
}
