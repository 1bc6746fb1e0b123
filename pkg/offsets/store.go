package offsets

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/soc-tools/xdr-kafka-connector/pkg/topicread"
)

// RecordVersion is the schema version of the offsets records; see
// schemas/offsets.schema.json.
const RecordVersion = 1

// ErrNotCompacted means the offsets topic exists without cleanup.policy=compact:
// Kafka would delete the watermark once retention passes.
var ErrNotCompacted = errors.New("offsets topic is not compacted")

// Key is the key of an offsets record. Its JSON encoding is stable (fixed
// field order), as compaction requires.
type Key struct {
	Connector  string `json:"connector"`
	Tenant     string `json:"tenant"`
	Kind       string `json:"kind"` // "state", "pending", "version", "redrive" (or "fence")
	IncidentID string `json:"incident_id,omitempty"`
}

// StateValue is the value of the "state" record. It stays small: what grows
// with the number of incidents lives in "pending" and "version" records.
type StateValue struct {
	SchemaVersion int     `json:"schema_version"`
	Watermark     int64   `json:"watermark"`
	CommittedAt   int64   `json:"committed_at"`
	CleanShutdown bool    `json:"clean_shutdown"`
	RateLog       []int64 `json:"rate_log,omitempty"`
	// BulkRateLog is RateLog for get_multiple_incidents_extra_data, whose
	// budget is its own. Records written before bulk enrichment lack it.
	BulkRateLog []int64 `json:"bulk_rate_log,omitempty"`
	// BulkFallbackAt is when the run that wrote the record, with
	// ENRICH_BULK=auto, found that the tenant does not serve
	// get_multiple_incidents_extra_data and fell back to single calls,
	// epoch ms. Absent when that run did not fall back (bulk, or
	// ENRICH_BULK=off or on), so such records are as they were before it.
	BulkFallbackAt int64 `json:"bulk_fallback_at,omitempty"`
}

// VersionValue is the value of a "version" record: one incident's Mark. A
// tombstone means the incident fell out of the lookback window.
type VersionValue struct {
	SchemaVersion int `json:"schema_version"`
	Mark
}

// PendingValue is the value of a "pending" record; a tombstone (nil value)
// means the enrichment is settled.
type PendingValue struct {
	SchemaVersion int `json:"schema_version"`
	Pending
}

// RedriveValue is the value of a "redrive" record: a request, written by
// `connector redrive`, to enrich an incident again whose enrichment was
// dead-lettered. The tracker of the next start queues it (NewTracker) and
// its first commit writes it back with AppliedAt set, so the record stays as
// the incident's ledger: the DLQ records that failed at or before FailedAt
// were redriven, and only a later failure is redriven again.
type RedriveValue struct {
	SchemaVersion    int    `json:"schema_version"`
	IncidentID       string `json:"incident_id"`
	ModificationTime int64  `json:"modification_time"`    // the newest dead-lettered version it redrives, epoch ms
	FailedAt         int64  `json:"failed_at"`            // failed_at of the newest DLQ record it covers, epoch ms
	RequestedAt      int64  `json:"requested_at"`         // when it was written, epoch ms
	AppliedAt        int64  `json:"applied_at,omitempty"` // when a starting connector queued it, epoch ms; 0 while it waits
}

// StoreConfig names where the state lives.
type StoreConfig struct {
	Topic     string
	Connector string
	Tenant    string
	// ClientOpts are the connection options (seeds, SASL, TLS) used for the
	// short-lived consumer that Load creates.
	ClientOpts []kgo.Opt
	// Now stamps committed_at; default time.Now.
	Now func() time.Time
}

// Store reads and writes the offsets topic for one connector and tenant.
// Commit is not safe for concurrent use; Load may run before it.
type Store struct {
	cfg StoreConfig
	cl  *kgo.Client
}

// NewStore returns a Store that produces through cl (an idempotent producer,
// acks=all).
func NewStore(cl *kgo.Client, cfg StoreConfig) (*Store, error) {
	if cfg.Topic == "" || cfg.Connector == "" {
		return nil, errors.New("offsets: topic and connector are required")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Store{cfg: cfg, cl: cl}, nil
}

func (s *Store) key(kind, id string) []byte {
	b, _ := json.Marshal(Key{Connector: s.cfg.Connector, Tenant: s.cfg.Tenant, Kind: kind, IncidentID: id})
	return b
}

// keyPrefix is what every key of this connector and tenant starts with, cut
// from a key written by the same encoder as key, so the two always agree
// (encoding/json escapes &, < and >; a hand-built prefix would not). It only
// skips other tenants' records cheaply: apply still compares decoded keys.
func (s *Store) keyPrefix() []byte {
	k := s.key("", "")
	return k[:bytes.Index(k, []byte(`"kind":`))]
}

// Commit writes a delta: first the pending and version changes, then — only
// once Kafka has acknowledged those — the state record. A crash between the
// two leaves the older state with newer entries, which is safe: the older
// watermark re-reads versions, the entries say which were already
// published, and owed enrichments are queued again.
func (s *Store) Commit(ctx context.Context, d Delta) error {
	entries, state := s.Records(d)
	if len(entries) > 0 {
		if err := s.cl.ProduceSync(ctx, entries...).FirstErr(); err != nil {
			return fmt.Errorf("writing pending enrichments and versions: %w", err)
		}
	}
	if err := s.cl.ProduceSync(ctx, state).FirstErr(); err != nil {
		return fmt.Errorf("writing state: %w", err)
	}
	return nil
}

// Records encodes a delta as offsets records: the pending and version
// changes (a nil value deletes one) and the state record. Exactly-once
// delivery writes them in the transaction that holds the data they cover.
func (s *Store) Records(d Delta) (entries []*kgo.Record, state *kgo.Record) {
	entries = make([]*kgo.Record, 0, len(d.Pending)+len(d.Marks)+len(d.Redriven))
	for id, p := range d.Pending {
		r := &kgo.Record{Topic: s.cfg.Topic, Key: s.key("pending", id)}
		if p != nil {
			r.Value, _ = json.Marshal(PendingValue{SchemaVersion: RecordVersion, Pending: *p}) // plain struct: cannot fail
		}
		entries = append(entries, r)
	}
	for id, m := range d.Marks {
		r := &kgo.Record{Topic: s.cfg.Topic, Key: s.key("version", id)}
		if m != nil {
			r.Value, _ = json.Marshal(VersionValue{SchemaVersion: RecordVersion, Mark: *m})
		}
		entries = append(entries, r)
	}
	// After the pending records they were folded into: a redrive marked
	// applied is never without the owed enrichment it became.
	for id, rv := range d.Redriven {
		rv.SchemaVersion = RecordVersion
		if rv.AppliedAt == 0 {
			rv.AppliedAt = s.cfg.Now().UnixMilli()
		}
		r := &kgo.Record{Topic: s.cfg.Topic, Key: s.key("redrive", id)}
		r.Value, _ = json.Marshal(rv)
		entries = append(entries, r)
	}
	v, _ := json.Marshal(StateValue{SchemaVersion: RecordVersion, Watermark: d.Watermark,
		CommittedAt: s.cfg.Now().UnixMilli(), CleanShutdown: d.Clean, RateLog: d.RateLog, BulkRateLog: d.BulkRateLog,
		BulkFallbackAt: d.BulkFallbackAt})
	return entries, &kgo.Record{Topic: s.cfg.Topic, Key: s.key("state", ""), Value: v}
}

// RedriveRecord is the record of a redrive request for v.IncidentID (see
// RedriveValue): stamped RequestedAt now when it is 0, never applied.
func (s *Store) RedriveRecord(v RedriveValue) *kgo.Record {
	v.SchemaVersion, v.AppliedAt = RecordVersion, 0
	if v.RequestedAt == 0 {
		v.RequestedAt = s.cfg.Now().UnixMilli()
	}
	b, _ := json.Marshal(v)
	return &kgo.Record{Topic: s.cfg.Topic, Key: s.key("redrive", v.IncidentID), Value: b}
}

// FenceRecord is a tombstone under this connector's "fence" key. Exactly-once
// delivery writes it in a first transaction at start-up: initialising the
// transactional producer fences any older instance and completes its open
// transaction, so the offsets read afterwards are final.
func (s *Store) FenceRecord() *kgo.Record {
	return &kgo.Record{Topic: s.cfg.Topic, Key: s.key("fence", "")}
}

// Load reads the offsets topic to its end and returns this connector's and
// tenant's state; found is false when no state record is there (none was
// ever committed, or it was deleted with a tombstone to start over). Pending
// enrichments and redrive requests are returned either way. It reads
// with read_committed and keeps control records, so transaction markers
// cannot stop it from reaching the end.
func (s *Store) Load(ctx context.Context) (st State, found bool, err error) {
	st = newState()
	prefix := s.keyPrefix()
	err = ReadToEnd(ctx, s.cl, s.cfg.Topic, s.cfg.ClientOpts, func(r *kgo.Record) error {
		if !bytes.HasPrefix(r.Key, prefix) {
			return nil
		}
		_, err := s.apply(&st, r)
		return err
	})
	if err != nil {
		return st, false, err
	}
	return st, st.hasState, nil
}

// Loaded is one tenant's state as LoadTenants read it.
type Loaded struct {
	State State
	Found bool // a live state record is there
}

// LoadTenants reads topic once, to its end, and returns the state of
// connector for each of tenants, as Store.Load would (for the command-line
// tools that report on many tenants at once). cl is any client of the
// cluster (for the end offsets); clientOpts are the connection options of
// the reader it creates. A nil tenants loads every tenant of connector
// that has a record in the topic (its keys name the tenant), for a tool
// that has no list of the tenants.
func LoadTenants(ctx context.Context, cl *kgo.Client, topic, connector string, tenants []string, clientOpts []kgo.Opt) (map[string]Loaded, error) {
	stores := make(map[string]*Store, len(tenants))
	states := make(map[string]*State, len(tenants))
	add := func(t string) {
		stores[t] = &Store{cfg: StoreConfig{Topic: topic, Connector: connector, Tenant: t}}
		st := newState()
		states[t] = &st
	}
	for _, t := range tenants {
		add(t)
	}
	err := ReadToEnd(ctx, cl, topic, clientOpts, func(r *kgo.Record) error {
		var k Key
		if json.Unmarshal(r.Key, &k) != nil || k.Connector != connector {
			return nil
		}
		s, ok := stores[k.Tenant]
		if !ok && tenants == nil {
			add(k.Tenant)
			s, ok = stores[k.Tenant], true
		}
		if !ok {
			return nil
		}
		_, err := s.apply(states[k.Tenant], r)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := make(map[string]Loaded, len(tenants))
	for t, st := range states {
		out[t] = Loaded{State: *st, Found: st.hasState}
	}
	return out, nil
}

func newState() State {
	return State{Emitted: map[string]int64{}, Enriched: map[string]int64{}, Pending: map[string]Pending{}, Redrives: map[string]RedriveValue{}}
}

// ReadToEnd reads every record of topic up to its high watermark at the
// time of the call (topicread.Read) and hands each one, control records excepted, to fn; an
// error from fn stops the reading and is returned. cl is any client of the
// cluster; clientOpts are the connection options of the reader it creates.
// A topic that does not exist is an error wrapping
// kerr.UnknownTopicOrPartition. Reading with
// read_committed to the high watermark waits until every transaction open
// now has ended, so what is read is final. Tenants of one process share the
// offsets topic, and another tenant's open transaction would hold the last
// stable offset below this tenant's last committed one.
func ReadToEnd(ctx context.Context, cl *kgo.Client, topic string, clientOpts []kgo.Opt, fn func(*kgo.Record) error) error {
	return topicread.Read(ctx, cl, topic, clientOpts, topicread.Options{}, fn)
}

// apply folds one record into st and reports whether it was a state or
// pending record of this connector and tenant.
func (s *Store) apply(st *State, r *kgo.Record) (bool, error) {
	var k Key
	if err := json.Unmarshal(r.Key, &k); err != nil || k.Connector != s.cfg.Connector || k.Tenant != s.cfg.Tenant {
		return false, nil // another connector's record, or not ours
	}
	switch k.Kind {
	case "state":
		if r.Value == nil {
			// A deleted state (e.g. to replay from START_FROM): start over,
			// forgetting which versions were published, keeping what is owed.
			*st = State{Emitted: map[string]int64{}, Enriched: map[string]int64{}, Pending: st.Pending, Redrives: st.Redrives}
			return true, nil
		}
		var v StateValue
		if err := json.Unmarshal(r.Value, &v); err != nil {
			return false, fmt.Errorf("decoding state record at offset %d: %w", r.Offset, err)
		}
		if v.SchemaVersion > RecordVersion {
			return false, fmt.Errorf("state record at offset %d has schema version %d; this connector reads up to %d", r.Offset, v.SchemaVersion, RecordVersion)
		}
		st.Watermark, st.CommittedAt = v.Watermark, v.CommittedAt
		st.Clean, st.RateLog, st.BulkRateLog, st.hasState = v.CleanShutdown, v.RateLog, v.BulkRateLog, true
		st.BulkFallbackAt = v.BulkFallbackAt
	case "pending":
		if r.Value == nil {
			delete(st.Pending, k.IncidentID)
			return true, nil
		}
		var v PendingValue
		if err := json.Unmarshal(r.Value, &v); err != nil {
			return false, fmt.Errorf("decoding pending record at offset %d: %w", r.Offset, err)
		}
		st.Pending[k.IncidentID] = v.Pending
	case "version":
		delete(st.Emitted, k.IncidentID)
		delete(st.Enriched, k.IncidentID)
		if r.Value == nil {
			return true, nil
		}
		var v VersionValue
		if err := json.Unmarshal(r.Value, &v); err != nil {
			return false, fmt.Errorf("decoding version record at offset %d: %w", r.Offset, err)
		}
		if v.Emitted > 0 {
			st.Emitted[k.IncidentID] = v.Emitted
		}
		if v.Enriched > 0 {
			st.Enriched[k.IncidentID] = v.Enriched
		}
	case "redrive":
		if r.Value == nil {
			delete(st.Redrives, k.IncidentID)
			return true, nil
		}
		var v RedriveValue
		if err := json.Unmarshal(r.Value, &v); err != nil {
			return false, fmt.Errorf("decoding redrive record at offset %d: %w", r.Offset, err)
		}
		v.IncidentID = k.IncidentID
		st.Redrives[k.IncidentID] = v
	default:
		return false, nil // e.g. the fence record of exactly-once delivery
	}
	return true, nil
}

// EnsureTopic creates the offsets topic with cleanup.policy=compact, or checks
// that an existing one is compacted (ErrNotCompacted otherwise).
func EnsureTopic(ctx context.Context, adm *kadm.Client, topic string, replication int16) error {
	compact := "compact"
	resp, err := adm.CreateTopic(ctx, 1, replication, map[string]*string{"cleanup.policy": &compact}, topic)
	if err == nil {
		err = resp.Err
	}
	if err == nil {
		return nil
	}
	if !errors.Is(err, kerr.TopicAlreadyExists) {
		return fmt.Errorf("creating offsets topic %s: %w", topic, err)
	}
	return CheckCompacted(ctx, adm, topic)
}

// CheckCompacted returns ErrNotCompacted (wrapped) unless topic's
// cleanup.policy includes compact.
func CheckCompacted(ctx context.Context, adm *kadm.Client, topic string) error {
	rcs, err := adm.DescribeTopicConfigs(ctx, topic)
	if err != nil {
		return fmt.Errorf("describing offsets topic %s: %w", topic, err)
	}
	rc, err := rcs.On(topic, nil)
	if err != nil {
		return fmt.Errorf("describing offsets topic %s: %w", topic, err)
	}
	if rc.Err != nil {
		return fmt.Errorf("describing offsets topic %s: %w", topic, rc.Err)
	}
	for _, c := range rc.Configs {
		if c.Key == "cleanup.policy" {
			if c.Value != nil && strings.Contains(*c.Value, "compact") {
				return nil
			}
			v := "<unset>"
			if c.Value != nil {
				v = *c.Value
			}
			return fmt.Errorf("%w: %s has cleanup.policy=%s; set it to compact", ErrNotCompacted, topic, v)
		}
	}
	return fmt.Errorf("%w: %s has no cleanup.policy; set it to compact", ErrNotCompacted, topic)
}
