// Package sink publishes keyed records to Kafka with franz-go: an idempotent
// producer with acks=all (franz-go's defaults) and compression, one topic per
// logical output.
package sink

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/soc-tools/xdr-kafka-connector/pkg/record"
)

// Class names an in-flight room: what a Publish may wait for.
type Class uint8

const (
	// Changes is the room of incident change records, which the API will
	// not show again and which must keep flowing while enrichment waits.
	Changes Class = iota
	// Enrichments is the room of everything else: enriched incidents,
	// alerts, artifacts and DLQ records, which can always be fetched again.
	Enrichments
)

// Topics maps each logical output to a Kafka topic name (record.Topics,
// where the roles are listed once).
type Topics = record.Topics

// MaxInFlight bounds the records of each Class that a Sink has handed to the producer and Kafka has not
// acknowledged yet; Publish waits for room beyond it. Changes have their own
// room so that, while Kafka is away, enrichment records (which can always be
// fetched again) fill theirs and stop the enricher, while the source keeps
// capturing incident versions that the API will not show again. Both rooms
// together stay below the client's MaxBufferedRecords, so kgo.Produce itself
// never blocks.
const MaxInFlight = 8192

// TenantInFlight is the room of each Class of one tenant's Sink in a
// process that runs many (WithInFlight): small enough that hundreds of
// tenants sharing one producer stay within its buffer (TenantsBuffer), so a
// tenant with a deep backlog never makes another tenant's Produce wait.
const TenantInFlight = 1024

// TenantsBuffer is the MaxBufferedRecords of a producer shared by up to
// tenants Sinks built WithInFlight(TenantInFlight): both rooms of every one
// of them, and slack.
func TenantsBuffer(tenants int) int { return 2*TenantInFlight*max(tenants, 1) + 1024 }

// ProducerOpts are the producer settings the connector relies on, to be added
// to the connection options when the client is built: acks from every in-sync
// replica, idempotence (franz-go's default, kept), the default codec
// (DefaultCodec, see Compression), and a record buffer larger than
// MaxInFlight.
func ProducerOpts() []kgo.Opt {
	compression, _ := Compression(DefaultCodec)
	return []kgo.Opt{
		kgo.RequiredAcks(kgo.AllISRAcks()),
		compression,
		kgo.MaxBufferedRecords(2*MaxInFlight + 1024),
	}
}

// Codecs are the compression codecs a producer may use for its batches
// (KAFKA_COMPRESSION). Every Kafka consumer since 2.1 reads each of them;
// none changes a record's key, value or headers.
var Codecs = []string{"zstd", "lz4", "snappy", "gzip", "none"}

// DefaultCodec is the codec of ProducerOpts.
const DefaultCodec = "zstd"

// Compression returns the option that makes a producer compress its batches
// with codec, one of Codecs, added after ProducerOpts to replace the
// default. Each codec falls back to none, which only a broker older than
// the codec needs; zstd falls back to lz4 first.
//
// zstd runs at its fastest level: on the connector's records it compresses
// 1.2 to 1.8 times faster than the default level for a ratio 0.2 to 3 % lower
// (BenchmarkZstdLevels in internal/bench). Compression is the largest part
// of producing a record's CPU: lz4 takes about half of zstd's CPU on the
// same records and leaves about half as many bytes again on the brokers
// (BenchmarkLZ4; docs/BENCHMARKS.md).
func Compression(codec string) (kgo.Opt, error) {
	var first []kgo.CompressionCodec
	switch codec {
	case "zstd":
		first = []kgo.CompressionCodec{kgo.ZstdCompression().WithLevel(int(zstd.SpeedFastest)), kgo.Lz4Compression()}
	case "lz4":
		first = []kgo.CompressionCodec{kgo.Lz4Compression()}
	case "snappy":
		first = []kgo.CompressionCodec{kgo.SnappyCompression()}
	case "gzip":
		first = []kgo.CompressionCodec{kgo.GzipCompression()}
	case "none":
	default:
		return nil, fmt.Errorf("unknown compression codec %q (one of %s)", codec, strings.Join(Codecs, ", "))
	}
	return kgo.ProducerBatchCompression(append(first, kgo.NoCompression())...), nil
}

// Sink publishes records through a franz-go client it does not own.
type Sink struct {
	cl     *kgo.Client
	topics Topics
	hdrVer []byte

	mu       sync.Mutex
	produced map[string]int64 // acknowledged records per topic name

	limit       int   // places of each room (MaxInFlight unless WithInFlight)
	room        *room // enrichment and DLQ records in flight
	changeRoom  *room // incident change records in flight
	outstanding atomic.Int64

	keyPrefix []byte // multi-tenant mode: "<tenant>/" before every key
	tenantHdr []byte // multi-tenant mode: the xdr.tenant header's value

	batching bool
	batchMu  sync.Mutex
	batch    Batch
	full     chan struct{} // signalled when a batch reaches half of MaxInFlight
}

// Option configures a Sink.
type Option func(*Sink)

// Batching makes Publish collect records for TakeBatch instead of producing
// them, for exactly-once delivery: the caller writes each batch in a Kafka
// transaction together with the offsets that cover it.
func Batching() Option { return func(s *Sink) { s.batching = true } }

// WithInFlight sets the room of each Class to n records (default
// MaxInFlight). The client's MaxBufferedRecords must exceed what every Sink
// sharing it may hold at once, or one Sink's records would make another's
// Produce wait.
func WithInFlight(n int) Option {
	return func(s *Sink) {
		if n > 0 {
			s.limit = n
		}
	}
}

// ForTenant marks every record as the tenant's, for processes that run many:
// keys become "<tenant>/<key>" (incident and alert ids collide across
// tenants) and an xdr.tenant header carries the id.
func ForTenant(id string) Option {
	return func(s *Sink) { s.keyPrefix, s.tenantHdr = []byte(id+"/"), []byte(id) }
}

// New returns a Sink writing through cl.
func New(cl *kgo.Client, topics Topics, opts ...Option) (*Sink, error) {
	for _, t := range topics.All() {
		if t == "" {
			return nil, errors.New("sink: every topic name is required")
		}
	}
	s := &Sink{cl: cl, topics: topics, hdrVer: []byte(strconv.Itoa(record.SchemaVersion)), produced: map[string]int64{},
		limit: MaxInFlight, full: make(chan struct{}, 1)}
	for _, o := range opts {
		o(s)
	}
	s.room, s.changeRoom = newRoom(s.limit), newRoom(s.limit)
	return s, nil
}

// Topics returns the topic names.
func (s *Sink) Topics() Topics { return s.topics }

// Publish hands recs to the producer, in the room of class, and returns once they are buffered,
// waiting while a room's worth of records (MaxInFlight, or WithInFlight's)
// are unacknowledged. ctx bounds only that
// wait: records already handed over are never failed because ctx ends, so a
// graceful stop can still flush them. done is called exactly once, from a
// producer goroutine (or from Publish, for records it could not hand over
// before ctx ended), when Kafka has acknowledged every record (nil) or when
// any of them failed (the first error). done must not block. Records of one
// key keep their order. The error returned is ctx's, when it ended first.
func (s *Sink) Publish(ctx context.Context, class Class, recs []record.Record, done func(error)) error {
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
				if Rejected(err) {
					first = fmt.Errorf("producing to %s: %w: %w", r.Topic, record.ErrRejected, err)
				} else {
					first = fmt.Errorf("producing to %s: %w", r.Topic, err)
				}
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
	room := s.room
	if class == Changes {
		room = s.changeRoom
	}
	if s.batching {
		return s.collect(ctx, room, recs, settle)
	}
	promise := func(r *kgo.Record, err error) {
		s.outstanding.Add(-1)
		room.release(1)
		settle(r, err)
	}
	for i, rec := range recs {
		kr := s.record(rec)
		// One place at a time: each is freed by its own acknowledgement,
		// whatever happens to the rest of recs, so this wait always ends.
		if err := room.acquire(ctx, 1); err != nil {
			// Fail the rest so done still fires exactly once.
			for _, r := range recs[i:] {
				settle(&kgo.Record{Topic: s.topics.Name(r.Topic)}, err)
			}
			return err
		}
		s.outstanding.Add(1)
		s.cl.Produce(noCancel, kr, promise)
	}
	return nil
}

func (s *Sink) record(rec record.Record) *kgo.Record {
	r := &kgo.Record{
		Topic: s.topics.Name(rec.Topic),
		Key:   rec.Key,
		Value: rec.Value,
		Headers: []kgo.RecordHeader{
			{Key: record.HeaderRecordType, Value: []byte(rec.Type)},
			{Key: record.HeaderSchemaVersion, Value: s.hdrVer},
		},
	}
	if s.tenantHdr != nil {
		r.Key = append(append(make([]byte, 0, len(s.keyPrefix)+len(rec.Key)), s.keyPrefix...), rec.Key...)
		r.Headers = append(r.Headers, kgo.RecordHeader{Key: record.HeaderTenant, Value: s.tenantHdr})
	}
	return r
}

// Rejected is the one classification of produce errors that no retry can
// fix: Kafka (or the client, before sending) refused the record itself.
// Publish wraps such errors with record.ErrRejected.
func Rejected(err error) bool {
	return errors.Is(err, kerr.MessageTooLarge) || errors.Is(err, kerr.RecordListTooLarge) ||
		errors.Is(err, kerr.InvalidRecord) || errors.Is(err, kerr.InvalidRequiredAcks)
}

// Room is a Sink's Publish bound to one Class.
type Room struct {
	s     *Sink
	class Class
}

// For returns the Publish of class, for a stage that publishes in one room
// only (the enricher publishes in Enrichments).
func (s *Sink) For(class Class) Room { return Room{s, class} }

// Publish is Sink.Publish in the room's class.
func (r Room) Publish(ctx context.Context, recs []record.Record, done func(error)) error {
	return r.s.Publish(ctx, r.class, recs, done)
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

// Drain waits until every record this Sink handed to the producer has been
// acknowledged or failed, or ctx is done (ctx.Err()). Records of other Sinks
// sharing the client are not waited for; franz-go sends buffered records
// without being flushed.
func (s *Sink) Drain(ctx context.Context) error {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for s.outstanding.Load() > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
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

// Batch is what Publish collected in batching mode since the last TakeBatch.
type Batch struct {
	items   []batchItem
	settles []func(*kgo.Record, error)
	sink    *Sink
}

type batchItem struct {
	ctx    context.Context // carries the record's trace context; never cancelled
	rec    record.Record
	settle func(*kgo.Record, error)
	room   *room // the room it holds a place in
}

// Len returns how many records the batch holds.
func (b Batch) Len() int { return len(b.items) }

// Records returns fresh franz-go records for the batch, each with the context
// it was published with (franz-go's tracing hooks read it). Call it once per
// produce attempt: franz-go fills records in as it produces them.
func (b Batch) Records() ([]*kgo.Record, []context.Context) {
	recs := make([]*kgo.Record, len(b.items))
	ctxs := make([]context.Context, len(b.items))
	for i, it := range b.items {
		recs[i], ctxs[i] = b.sink.record(it.rec), it.ctx
	}
	return recs, ctxs
}

// Settle reports the batch's outcome to every Publish that contributed to it
// and frees its room. Call it exactly once.
func (b Batch) Settle(err error) {
	for _, it := range b.items {
		it.room.release(1)
		b.sink.outstanding.Add(-1)
		it.settle(&kgo.Record{Topic: b.sink.topics.Name(it.rec.Topic)}, err)
	}
}

// TakeBatch returns the records collected since the previous call.
func (s *Sink) TakeBatch() Batch {
	s.batchMu.Lock()
	defer s.batchMu.Unlock()
	b := s.batch
	b.sink = s
	s.batch = Batch{}
	return b
}

// BatchFull is signalled when the collected batch reaches half of
// a room, so the caller can write it before Publish has to wait.
func (s *Sink) BatchFull() <-chan struct{} { return s.full }

func (s *Sink) collect(ctx context.Context, room *room, recs []record.Record, settle func(*kgo.Record, error)) error {
	// All records of one Publish enter the same batch, so a transaction never
	// holds part of an enrichment without the offsets that settle it. Their
	// room is taken at once: a batch's places are freed only when the batch
	// is written, so a Publish holding part of its room while waiting for
	// the rest could wait forever.
	if err := room.acquire(ctx, len(recs)); err != nil {
		for _, r := range recs {
			settle(&kgo.Record{Topic: s.topics.Name(r.Topic)}, err)
		}
		return err
	}
	noCancel := context.WithoutCancel(ctx)
	s.batchMu.Lock()
	for _, rec := range recs {
		s.batch.items = append(s.batch.items, batchItem{ctx: noCancel, rec: rec, settle: settle, room: room})
	}
	n := len(s.batch.items)
	s.batchMu.Unlock()
	s.outstanding.Add(int64(len(recs)))
	if n >= s.limit/2 || room.inUse() >= s.limit {
		select {
		case s.full <- struct{}{}:
		default:
		}
	}
	return nil
}
