package writeback

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/soc-tools/xdr-kafka-connector/pkg/offsets"
	"github.com/soc-tools/xdr-kafka-connector/pkg/pipeline"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
)

// API is what the applier calls; the process passes the tenant's paced
// client, so write calls and reads share the tenant's request pacing with its
// polls.
type API interface {
	GetIncidents(ctx context.Context, req xdr.IncidentsRequest) (*xdr.IncidentsReply, error)
	UpdateIncident(ctx context.Context, req xdr.UpdateIncidentRequest) (*xdr.UpdateReply, error)
	UpdateAlerts(ctx context.Context, req xdr.UpdateAlertsRequest) (*xdr.UpdateReply, error)
}

// Defaults applied by New to zero Config fields.
const (
	DefaultMaxAttempts  = 5
	DefaultRetryBackoff = time.Second
	// DefaultDedupRetention keeps a command's record a week: far longer
	// than any redelivery or retry of a pipeline.
	DefaultDedupRetention = 7 * 24 * time.Hour
)

// Config configures one tenant's Applier.
type Config struct {
	Connector string // CONNECTOR_NAME: names the applier's records in the offsets topic
	Policy    Policy // the tenant and what it allows
	// Known reports whether a tenant id is one of the process's
	// configuration (every tenant of the tenants file, owned here or not).
	// Nil knows Policy.Tenant only.
	Known func(tenant string) bool
	// ReportsUnknown tells whether this applier answers the commands of
	// tenants Known does not know, rejecting them. It holds for exactly
	// one tenant of a configuration (the first id), so each such command
	// gets one result. Nil: never.
	ReportsUnknown func() bool

	CommandsTopic string // required
	ResultsTopic  string // required
	OffsetsTopic  string // required: the dedup records and the consumer position live there
	// CreateTopics creates the commands and results topics when missing,
	// with Partitions and Replication (-1 or 0: the broker's default).
	CreateTopics bool
	Partitions   int32
	Replication  int16

	// ExactlyOnce writes each command's dedup record, position and result
	// in one transaction; the producer passed to New must then be
	// transactional.
	ExactlyOnce bool
	// ClientOpts are the connection options (seeds, SASL, TLS) of the
	// applier's consumer.
	ClientOpts []kgo.Opt

	// DedupRetention is how long a command's record is kept after it was
	// done: a start deletes (tombstones) older ones, so the offsets topic
	// does not grow with every command ever sent. A command_id sent again
	// after that is a new command. Default DefaultDedupRetention.
	DedupRetention time.Duration

	MaxAttempts   int           // API attempts per command (default 5)
	RetryBackoff  time.Duration // wait after a failure without Retry-After (default 1s)
	MaxRetryAfter time.Duration // cap of a server's Retry-After (default xdr.DefaultMaxRetryAfter)
}

// Option configures optional parts of an Applier.
type Option func(*Applier)

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option {
	return func(a *Applier) {
		if l != nil {
			a.log = l
		}
	}
}

// WithMeterProvider makes the applier count its commands (MetricCommands,
// by outcome: applied, rejected, failed, or duplicate for a command_id
// already done). Default: no metrics. A nil mp is ignored.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(a *Applier) {
		if mp != nil {
			a.mp = mp
		}
	}
}

// WithMetricAttributes adds attrs to every measurement: the tenant.
func WithMetricAttributes(attrs ...attribute.KeyValue) Option {
	return func(a *Applier) { a.metricAttrs = append(a.metricAttrs, attrs...) }
}

// MetricCommands is the counter of WithMeterProvider.
const MetricCommands = "xdr_connector.writeback.commands" // counter{outcome}

// WithStateProducer makes at-least-once mode write the applier's state
// records (its command records, its position, the deletion of expired
// records) in transactions of kcl, a client built with the transactional id
// of the tenant's applier (the exactly-once one: see Config.ExactlyOnce),
// while results keep going through the client given to New, each once the
// records before it are committed. The first transaction, at start-up and
// before the state is read, fences every earlier writer with that id and
// settles its open transaction; from then on a fenced applier's writes are
// refused and Run returns an error wrapping pipeline.ErrFenced. Since a
// command's "started" record is written before its API call, an applier that
// lost its tenant to another (a zombie) makes no more write calls and
// publishes no more results. This is the fencing of the tenant's pipeline
// (pipeline.Config.Fencing) with an id of the applier's own, so that the
// two clients of one process never fence each other. Exactly-once mode
// ignores it: its one transactional client fences already. The caller
// closes kcl after Run. A nil kcl is ignored.
func WithStateProducer(kcl *kgo.Client) Option {
	return func(a *Applier) {
		if kcl != nil && !a.cfg.ExactlyOnce {
			a.w = fencedWriter{txn: kcl, plain: a.kcl}
		}
	}
}

// WithClock sets the clock of applied_at (default time.Now).
func WithClock(now func() time.Time) Option {
	return func(a *Applier) {
		if now != nil {
			a.now = now
		}
	}
}

// Applier consumes the commands topic for one tenant and applies that
// tenant's commands, each at most once, answering each with one result
// record. It is one tenant's part: the process runs it while it owns the
// tenant, beside the tenant's pipeline.
//
// # Consumption
//
// The applier reads every partition of the commands topic itself (no
// consumer group) from its own position, which it stores in the offsets
// topic under the tenant's key, and skips the commands of other tenants.
// Its position thus moves with the tenant: whichever process owns the
// tenant continues where the last owner stopped, a rebalance of the
// connector's slots neither skips a command nor hands it to two processes
// (a consumer group of the commands topic would balance partitions, which
// hold many tenants, independently of the slots). The price is that every
// owned tenant reads the whole topic; commands are small and few.
//
// # At most once
//
// Before its API call, a command's id is recorded in the offsets topic
// ("started"), and the result is published only after its "done" record.
// A command id found done is a duplicate (redelivered, or sent twice by the
// pipeline): it is skipped without a call or a second result. A command
// found started but not done was interrupted between recording and its
// result (a crash, a kill): an idempotent action (everything but add_comment
// and update_alerts with a comment) is applied again, which changes nothing
// twice; a comment is not, and its result is failed with reason "ambiguous".
// For the same reason a comment is never retried after a failure that
// leaves open whether the API applied it (xdr.WriteUnsettled: a timeout, a
// lost connection, a 5xx); idempotent actions are retried as any call.
//
// In exactly-once mode the "done" record, the position and the result are
// one transaction, and the "started" record a transaction of its own before
// the call; the producer's transactional id fences a previous owner. In
// at-least-once mode WithStateProducer fences in the same way (without it,
// nothing stops a previous owner that still runs).
//
// # Fencing
//
// With a transactional writer (exactly-once, or WithStateProducer), Run's
// first write, before it reads its state, is a transaction that fences every
// earlier applier of the tenant and settles what it left open, so the state
// read is final. A fenced applier's next write fails, and Run returns an error
// wrapping pipeline.ErrFenced: it must stop, not restart.
type Applier struct {
	cfg Config
	api API
	kcl *kgo.Client
	w   writer
	log *slog.Logger
	now func() time.Time

	seen map[string]commandState // command_id -> its last record
	// answered are the records of commands another tenant's applier
	// answered for a tenant this process did not know then (AnsweredBy
	// set), by tenant and command_id: the tenant once added, or the next
	// applier that answers for unknown tenants, skips them.
	answered  map[string]map[string]commandState
	positions map[int32]int64 // next offset to read, per partition
	dirty     bool            // positions moved since last written

	mp          metric.MeterProvider
	metricAttrs []attribute.KeyValue
	commands    metric.Int64Counter

	applied, rejected, failed, duplicates atomic.Int64
	started                               atomic.Bool
}

// Started reports whether Run has loaded its state, deleted expired records
// and begun to read commands. Safe for concurrent use.
func (a *Applier) Started() bool { return a.started.Load() }

// New validates cfg and returns an Applier writing through kcl, which must
// be transactional when cfg.ExactlyOnce.
func New(cfg Config, api API, kcl *kgo.Client, opts ...Option) (*Applier, error) {
	switch {
	case cfg.Connector == "" || cfg.Policy.Tenant == "":
		return nil, errors.New("configuring write-back: connector and tenant are required")
	case cfg.CommandsTopic == "" || cfg.ResultsTopic == "" || cfg.OffsetsTopic == "":
		return nil, errors.New("configuring write-back: commands, results and offsets topics are required")
	case api == nil || kcl == nil:
		return nil, errors.New("configuring write-back: an API and a Kafka client are required")
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	if cfg.RetryBackoff <= 0 {
		cfg.RetryBackoff = DefaultRetryBackoff
	}
	if cfg.MaxRetryAfter <= 0 {
		cfg.MaxRetryAfter = xdr.DefaultMaxRetryAfter
	}
	if cfg.DedupRetention <= 0 {
		cfg.DedupRetention = DefaultDedupRetention
	}
	if cfg.Known == nil {
		t := cfg.Policy.Tenant
		cfg.Known = func(id string) bool { return id == t }
	}
	a := &Applier{cfg: cfg, api: api, kcl: kcl, log: slog.New(slog.DiscardHandler), now: time.Now,
		seen: map[string]commandState{}, answered: map[string]map[string]commandState{}, positions: map[int32]int64{}}
	a.w = plainWriter{kcl}
	if cfg.ExactlyOnce {
		a.w = txnWriter{kcl}
	}
	for _, o := range opts {
		o(a)
	}
	a.log = a.log.With("stage", "writeback")
	if a.mp == nil {
		a.mp = metricnoop.NewMeterProvider()
	}
	var err error
	a.commands, err = a.mp.Meter("github.com/soc-tools/xdr-kafka-connector/pkg/writeback").Int64Counter(MetricCommands,
		metric.WithUnit("{command}"), metric.WithDescription("Write-back commands of the tenant, by outcome: applied, rejected, failed, duplicate."))
	if err != nil {
		return nil, fmt.Errorf("configuring write-back: creating metrics: %w", err)
	}
	return a, nil
}

// Counts are the applier's tallies since it started.
type Counts struct{ Applied, Rejected, Failed, Duplicates int64 }

// Counts returns the applier's tallies. Safe for concurrent use.
func (a *Applier) Counts() Counts {
	return Counts{a.applied.Load(), a.rejected.Load(), a.failed.Load(), a.duplicates.Load()}
}

// commandState is the value of a command's record in the offsets topic.
type commandState struct {
	SchemaVersion int    `json:"schema_version"`
	State         string `json:"state"` // started or done
	Outcome       string `json:"outcome,omitempty"`
	Partition     int32  `json:"partition"`
	Offset        int64  `json:"offset"`
	At            int64  `json:"at"` // epoch ms
	// AnsweredBy is the tenant whose applier answered this command for a
	// tenant the process did not know (the record is under the key of
	// the command's tenant); empty when the tenant's own applier did.
	AnsweredBy string `json:"answered_by,omitempty"`
	// Result is the result published after this record (done only), so
	// a redelivery of the very same command record after a crash between
	// the two publishes it again (at-least-once mode).
	Result json.RawMessage `json:"result,omitempty"`
}

// positionValue is the value of the tenant's commands position record.
type positionValue struct {
	SchemaVersion int              `json:"schema_version"`
	Topic         string           `json:"topic"`
	Positions     map[string]int64 `json:"positions"` // partition -> next offset to read
}

// stateKey is the key of the applier's records in the offsets topic: the
// offsets records' key with kinds of its own ("command", "commands"), which
// the tracker skips. Field order is fixed, as compaction needs.
type stateKey struct {
	Connector string `json:"connector"`
	Tenant    string `json:"tenant"`
	Kind      string `json:"kind"`
	CommandID string `json:"command_id,omitempty"`
}

const (
	kindCommand  = "command"
	kindPosition = "commands"
	kindFence    = "fence" // always a tombstone: the content of the fencing transaction
)

func (a *Applier) key(kind, id string) []byte { return a.keyOf(a.cfg.Policy.Tenant, kind, id) }

// keyOf is the key of a record of tenant's commands.
func (a *Applier) keyOf(tenant, kind, id string) []byte {
	b, _ := json.Marshal(stateKey{Connector: a.cfg.Connector, Tenant: tenant, Kind: kind, CommandID: id})
	return b
}

// load reads the applier's records from the offsets topic.
func (a *Applier) load(ctx context.Context) error {
	return offsets.ReadToEnd(ctx, a.kcl, a.cfg.OffsetsTopic, a.cfg.ClientOpts, func(r *kgo.Record) error {
		var k stateKey
		if json.Unmarshal(r.Key, &k) != nil || k.Connector != a.cfg.Connector {
			return nil
		}
		if k.Tenant != a.cfg.Policy.Tenant {
			if k.Kind == kindCommand {
				return a.loadAnswered(k, r)
			}
			return nil
		}
		switch k.Kind {
		case kindCommand:
			if r.Value == nil {
				delete(a.seen, k.CommandID)
				return nil
			}
			var v commandState
			if err := json.Unmarshal(r.Value, &v); err != nil {
				return fmt.Errorf("decoding command record at offset %d: %w", r.Offset, err)
			}
			a.seen[k.CommandID] = v
		case kindPosition:
			var v positionValue
			if r.Value == nil {
				clear(a.positions)
				return nil
			}
			if err := json.Unmarshal(r.Value, &v); err != nil {
				return fmt.Errorf("decoding commands position at offset %d: %w", r.Offset, err)
			}
			if v.Topic != a.cfg.CommandsTopic {
				return nil // the position in a topic no longer read
			}
			clear(a.positions)
			for p, o := range v.Positions {
				if n, err := strconv.ParseInt(p, 10, 32); err == nil {
					a.positions[int32(n)] = o
				}
			}
		}
		return nil
	})
}

// loadAnswered keeps another tenant's command record when an applier
// answered it for that tenant (AnsweredBy), or when the tenant is not
// one of the process's (a removed tenant's done commands), forgetting it
// at its tombstone.
func (a *Applier) loadAnswered(k stateKey, r *kgo.Record) error {
	if r.Value == nil {
		delete(a.answered[k.Tenant], k.CommandID)
		return nil
	}
	var v commandState
	if err := json.Unmarshal(r.Value, &v); err != nil {
		return fmt.Errorf("decoding command record at offset %d: %w", r.Offset, err)
	}
	if v.AnsweredBy == "" && (v.State != "done" || a.cfg.Known(k.Tenant)) {
		// A known tenant's own record is its applier's business; an
		// unknown (removed) tenant's done commands are kept, so that
		// the applier answering for unknown tenants does not answer
		// them again.
		delete(a.answered[k.Tenant], k.CommandID)
		return nil
	}
	if a.answered[k.Tenant] == nil {
		a.answered[k.Tenant] = map[string]commandState{}
	}
	a.answered[k.Tenant][k.CommandID] = v
	return nil
}

// ensureTopics creates the commands and results topics when missing.
func (a *Applier) ensureTopics(ctx context.Context) error {
	if !a.cfg.CreateTopics {
		return nil
	}
	adm := kadm.NewClient(a.kcl)
	if err := offsets.EnsureTopic(ctx, adm, a.cfg.OffsetsTopic, a.cfg.Replication); err != nil {
		return err
	}
	parts := a.cfg.Partitions
	if parts <= 0 {
		parts = -1
	}
	repl := a.cfg.Replication
	if repl <= 0 {
		repl = -1
	}
	for _, t := range []string{a.cfg.CommandsTopic, a.cfg.ResultsTopic} {
		resp, err := adm.CreateTopic(ctx, parts, repl, nil, t)
		if err == nil {
			err = resp.Err
		}
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("creating topic %s: %w", t, err)
		}
	}
	return nil
}

// Run applies commands until ctx ends, then returns nil; it returns an error
// when Kafka fails it (the tenant's supervisor restarts it, and what was
// recorded keeps every command at most once).
func (a *Applier) Run(ctx context.Context) error {
	if err := a.ensureTopics(ctx); err != nil {
		return err
	}
	if err := a.w.fence(ctx, a.fenceRecord()); err != nil {
		return fmt.Errorf("fencing earlier appliers of the tenant: %w", err)
	}
	if err := a.load(ctx); err != nil {
		return fmt.Errorf("loading write-back state: %w", err)
	}
	if err := a.expire(ctx); err != nil {
		return err
	}
	ends, err := kadm.NewClient(a.kcl).ListEndOffsets(ctx, a.cfg.CommandsTopic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return fmt.Errorf("listing partitions of %s: %w", a.cfg.CommandsTopic, err)
	}
	from := map[int32]kgo.Offset{}
	ends.Each(func(o kadm.ListedOffset) {
		if p, ok := a.positions[o.Partition]; ok {
			from[o.Partition] = kgo.NewOffset().At(p)
		} else {
			from[o.Partition] = kgo.NewOffset().AtStart()
		}
	})
	cons, err := kgo.NewClient(append([]kgo.Opt{
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{a.cfg.CommandsTopic: from}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
	}, a.cfg.ClientOpts...)...)
	if err != nil {
		return fmt.Errorf("creating commands consumer: %w", err)
	}
	defer cons.Close()
	a.started.Store(true)
	a.log.Info("applying commands", "topic", a.cfg.CommandsTopic, "known_commands", len(a.seen))
	for {
		fs := cons.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		var ferr error
		fs.EachError(func(t string, p int32, e error) {
			if !errors.Is(e, context.Canceled) {
				ferr = fmt.Errorf("reading %s partition %d: %w", t, p, e)
			}
		})
		if ferr != nil {
			return ferr
		}
		for _, r := range fs.Records() {
			if err := a.handle(ctx, r); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
		}
		if a.dirty {
			if err := a.w.commit(ctx, []*kgo.Record{a.positionRecord()}, nil); err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return fmt.Errorf("writing commands position: %w", err)
			}
			a.dirty = false
		}
	}
}

// expire deletes the records of commands done more than DedupRetention
// ago.
func (a *Applier) expire(ctx context.Context) error {
	cutoff := a.now().Add(-a.cfg.DedupRetention).UnixMilli()
	var tombs []*kgo.Record
	for id, st := range a.seen {
		if st.State == "done" && st.At < cutoff {
			tombs = append(tombs, &kgo.Record{Topic: a.cfg.OffsetsTopic, Key: a.key(kindCommand, id)})
		}
	}
	for tenant, ids := range a.answered {
		for id, st := range ids {
			if st.At < cutoff {
				tombs = append(tombs, &kgo.Record{Topic: a.cfg.OffsetsTopic, Key: a.keyOf(tenant, kindCommand, id)})
			}
		}
	}
	if len(tombs) == 0 {
		return nil
	}
	if err := a.w.commit(ctx, tombs, nil); err != nil {
		return fmt.Errorf("deleting expired command records: %w", err)
	}
	for _, r := range tombs {
		var k stateKey
		_ = json.Unmarshal(r.Key, &k)
		if k.Tenant == a.cfg.Policy.Tenant {
			delete(a.seen, k.CommandID)
		} else {
			delete(a.answered[k.Tenant], k.CommandID)
		}
	}
	a.log.Info("expired command records deleted", "count", len(tombs))
	return nil
}

// fenceRecord is the tombstone of the fencing transaction at start-up.
func (a *Applier) fenceRecord() *kgo.Record {
	return &kgo.Record{Topic: a.cfg.OffsetsTopic, Key: a.key(kindFence, "")}
}

func (a *Applier) positionRecord() *kgo.Record {
	v := positionValue{SchemaVersion: 1, Topic: a.cfg.CommandsTopic, Positions: map[string]int64{}}
	for p, o := range a.positions {
		v.Positions[strconv.Itoa(int(p))] = o
	}
	b, _ := json.Marshal(v)
	return &kgo.Record{Topic: a.cfg.OffsetsTopic, Key: a.key(kindPosition, ""), Value: b}
}

// answeredRecord is the record of a command of tenant, another than this
// applier's, answered here.
func (a *Applier) answeredRecord(tenant, id string, st commandState) *kgo.Record {
	st.SchemaVersion, st.At, st.AnsweredBy = 1, a.now().UnixMilli(), a.cfg.Policy.Tenant
	b, _ := json.Marshal(st)
	if a.answered[tenant] == nil {
		a.answered[tenant] = map[string]commandState{}
	}
	a.answered[tenant][id] = st
	return &kgo.Record{Topic: a.cfg.OffsetsTopic, Key: a.keyOf(tenant, kindCommand, id), Value: b}
}

func (a *Applier) commandRecord(id string, st commandState) *kgo.Record {
	st.SchemaVersion, st.At = 1, a.now().UnixMilli()
	b, _ := json.Marshal(st)
	a.seen[id] = st
	return &kgo.Record{Topic: a.cfg.OffsetsTopic, Key: a.key(kindCommand, id), Value: b}
}

// handle decides and applies one command record. It returns an error only
// when Kafka fails or ctx ends.
func (a *Applier) handle(ctx context.Context, r *kgo.Record) error {
	keyTenant, _, _ := strings.Cut(string(r.Key), "/")
	cmd, perr := ParseCommand(r.Value)
	if perr != nil {
		cmd = salvage(r.Value)
	}
	tenant := cmd.Tenant
	if perr != nil || tenant == "" {
		tenant = keyTenant
	}
	mine := tenant == a.cfg.Policy.Tenant
	unknown := !mine && a.cfg.ReportsUnknown != nil && !a.cfg.Known(tenant) && a.cfg.ReportsUnknown()
	if !mine && !unknown {
		a.positions[r.Partition], a.dirty = r.Offset+1, true
		return nil
	}
	res := Result{CommandID: cmd.CommandID, Tenant: tenant, IncidentID: cmd.IncidentID, Action: cmd.Action, Outcome: OutcomeRejected}
	switch {
	case perr != nil:
		res.Reason = perr.Error()
	case unknown:
		res.Reason = fmt.Sprintf("unknown tenant: %q is no tenant of this connector", tenant)
	case keyTenant != cmd.Tenant:
		res.Reason = fmt.Sprintf("%s: the record's key names tenant %q, the command %q", ReasonTenant, keyTenant, cmd.Tenant)
	}
	id := cmd.CommandID
	prev, seen := a.seen[id]
	if unknown {
		prev, seen = a.answered[tenant][id]
	}
	// Answered by another applier (the tenant's own before it was
	// removed, the one that answered for unknown tenants before this one,
	// or that one for this tenant before it was added): never answered
	// again.
	by := prev.AnsweredBy
	if by == "" {
		by = tenant // its own applier's record
	}
	answeredElsewhere := seen && by != a.cfg.Policy.Tenant
	if id != "" && seen && prev.State == "done" && !answeredElsewhere && prev.Partition == r.Partition && prev.Offset == r.Offset && prev.Result != nil {
		// This very record again: the run that recorded it done may
		// have stopped before its result was acknowledged.
		a.positions[r.Partition] = r.Offset + 1
		out := &kgo.Record{Topic: a.cfg.ResultsTopic, Key: r.Key, Value: prev.Result}
		if err := a.w.commit(ctx, []*kgo.Record{a.positionRecord()}, []*kgo.Record{out}); err != nil {
			return fmt.Errorf("publishing result of command %s again: %w", id, err)
		}
		a.dirty = false
		return nil
	}
	if id != "" && seen && prev.State == "done" {
		a.duplicates.Add(1)
		a.count(ctx, "duplicate")
		a.log.Info("duplicate command skipped", "command_id", id, "outcome", prev.Outcome)
		a.positions[r.Partition], a.dirty = r.Offset+1, true
		return nil
	}
	if res.Reason == "" {
		if err := a.decideAndApply(ctx, r, cmd, seen, &res); err != nil {
			return err
		}
	}
	return a.finish(ctx, r, id, res)
}

// decideAndApply fills res for a command of this tenant. interrupted tells
// that a previous run recorded it as started.
func (a *Applier) decideAndApply(ctx context.Context, r *kgo.Record, cmd Command, interrupted bool, res *Result) error {
	var current int64
	var before *xdr.Incident
	if cmd.Validate() == nil && cmd.Action != ActionUpdateAlerts && a.cfg.Policy.Enabled && cmd.Tenant == a.cfg.Policy.Tenant {
		// Read the incident first: for expect_modification_time, to
		// refuse an unknown incident without a write, and to tell its
		// next version from this one after the update.
		inc, status, err := a.read(ctx, cmd.IncidentID)
		switch {
		case ctx.Err() != nil:
			return ctx.Err()
		case err != nil:
			res.Outcome, res.Reason, res.APIStatus = OutcomeFailed, "reading the incident: "+err.Error(), status
			return nil
		case inc == nil:
			res.Reason = fmt.Sprintf("unknown incident: get_incidents shows no incident %s", cmd.IncidentID)
			return nil
		}
		before, current = inc, inc.ModificationTime
	}
	d := Decide(cmd, a.cfg.Policy, current)
	if d.Reject != "" {
		res.Reason = d.Reject
		return nil
	}
	if interrupted && !d.Request.Idempotent {
		res.Outcome = OutcomeFailed
		res.Reason = "ambiguous: a previous run recorded this command and stopped before its result; it may or may not have been applied, and is not applied again"
		return nil
	}
	// Recorded before the call: a crash from here on never applies it twice.
	if err := a.w.commit(ctx, []*kgo.Record{a.commandRecord(cmd.CommandID, commandState{State: "started", Partition: r.Partition, Offset: r.Offset})}, nil); err != nil {
		return fmt.Errorf("recording command %s: %w", cmd.CommandID, err)
	}
	if err := a.apply(ctx, d.Request, res); err != nil {
		return err
	}
	if res.Outcome == OutcomeApplied && before != nil {
		a.observe(ctx, cmd.IncidentID, before.ModificationTime, res)
	}
	return nil
}

// observe reads the incident once, right after its update (one get_incidents
// call filtered by its id, through the same paced API as every call), and
// puts its modification_time in res when that read shows a newer version
// than before: the version the update made, which the poller publishes. A
// read that fails, or still shows the old version (the API's view lags),
// leaves res unobserved (modification_time null, observed false) rather
// than spend more of the tenant's budget or hold up the next command: the
// change still comes back through the poller.
func (a *Applier) observe(ctx context.Context, id string, before int64, res *Result) {
	inc, err := a.readOnce(ctx, id)
	switch {
	case err != nil:
		a.log.Info("the incident's version after the update was not observed", "incident_id", id, "command_id", res.CommandID, "err", err)
	case inc == nil || inc.ModificationTime <= before:
		a.log.Info("the incident's version after the update was not observed: the read still shows the last one", "incident_id", id, "command_id", res.CommandID)
	default:
		mt := inc.ModificationTime
		res.ModificationTime, res.Observed = &mt, true
	}
}

// readOnce returns the incident as one get_incidents call shows it, nil
// when it shows none.
func (a *Applier) readOnce(ctx context.Context, id string) (*xdr.Incident, error) {
	rep, err := a.api.GetIncidents(ctx, xdr.IncidentsRequest{Filters: []xdr.Filter{xdr.IncidentIDs(id)}, SearchTo: 1})
	if err != nil {
		return nil, err
	}
	for i := range rep.Incidents {
		if rep.Incidents[i].ID == id {
			return &rep.Incidents[i], nil
		}
	}
	return nil, nil
}

// read returns the incident as get_incidents shows it, nil when it shows
// none, retrying what is retryable. status is the HTTP status of a failure.
func (a *Applier) read(ctx context.Context, id string) (*xdr.Incident, int, error) {
	for attempt := 1; ; attempt++ {
		inc, err := a.readOnce(ctx, id)
		if err == nil {
			return inc, 0, nil
		}
		if !xdr.Retryable(err) || attempt >= a.cfg.MaxAttempts {
			return nil, statusOf(err), err
		}
		if err := a.wait(ctx, err); err != nil {
			return nil, 0, err
		}
	}
}

// apply calls the API for req under the retry rules of the type comment,
// filling res. It returns an error only when ctx ends.
func (a *Applier) apply(ctx context.Context, req *Request, res *Result) error {
	for attempt := 1; ; attempt++ {
		var rep *xdr.UpdateReply
		var err error
		if req.Alerts != nil {
			rep, err = a.api.UpdateAlerts(ctx, *req.Alerts)
		} else {
			rep, err = a.api.UpdateIncident(ctx, *req.Incident)
		}
		if err == nil {
			res.Outcome, res.Reason, res.APIStatus, res.AppliedAt = OutcomeApplied, "", rep.Status, a.now().UnixMilli()
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		res.APIStatus = statusOf(err)
		switch {
		case xdr.IncidentNotFound(err) || res.APIStatus >= 400 && res.APIStatus < 500 && !xdr.Retryable(err):
			res.Outcome, res.Reason = OutcomeRejected, "api: "+err.Error()
			return nil
		case !xdr.Retryable(err):
			res.Outcome, res.Reason = OutcomeFailed, err.Error()
			return nil
		case xdr.WriteUnsettled(err) && !req.Idempotent:
			res.Outcome = OutcomeFailed
			res.Reason = "ambiguous: " + err.Error() + "; the API may have applied it, and a comment is never sent twice"
			return nil
		case attempt >= a.cfg.MaxAttempts:
			res.Outcome, res.Reason = OutcomeFailed, fmt.Sprintf("retries exhausted after %d attempts: %v", attempt, err)
			return nil
		}
		if err := a.wait(ctx, err); err != nil {
			return err
		}
	}
}

// wait sleeps as xdr.RetryWait says after err.
func (a *Applier) wait(ctx context.Context, err error) error {
	d, capped := xdr.RetryWait(err, a.cfg.RetryBackoff, a.cfg.MaxRetryAfter)
	if capped {
		a.log.Warn("Retry-After cut to XDR_MAX_RETRY_AFTER", "wait", d)
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func statusOf(err error) int {
	if ae, ok := errors.AsType[*xdr.APIError](err); ok {
		return ae.Status
	}
	return 0
}

// finish records the command done, moves the position past it and publishes
// its result: the records in that order (one transaction in exactly-once
// mode).
func (a *Applier) finish(ctx context.Context, r *kgo.Record, id string, res Result) error {
	a.positions[r.Partition] = r.Offset + 1
	b, err := json.Marshal(res)
	if err != nil {
		return fmt.Errorf("encoding result: %w", err)
	}
	var state []*kgo.Record
	switch done := (commandState{State: "done", Outcome: res.Outcome, Partition: r.Partition, Offset: r.Offset, Result: b}); {
	case id == "":
	case res.Tenant != a.cfg.Policy.Tenant:
		// Answered for a tenant the process does not know: recorded
		// under that tenant's key, where its applier looks once it is
		// added, and where the next applier to answer for unknown
		// tenants looks too.
		state = append(state, a.answeredRecord(res.Tenant, id, done))
	default:
		state = append(state, a.commandRecord(id, done))
	}
	state = append(state, a.positionRecord())
	out := &kgo.Record{Topic: a.cfg.ResultsTopic, Key: r.Key, Value: b}
	if err := a.w.commit(ctx, state, []*kgo.Record{out}); err != nil {
		return fmt.Errorf("publishing result of command %s: %w", id, err)
	}
	a.dirty = false
	a.count(ctx, res.Outcome)
	switch res.Outcome {
	case OutcomeApplied:
		a.applied.Add(1)
	case OutcomeRejected:
		a.rejected.Add(1)
	default:
		a.failed.Add(1)
	}
	a.log.Info("command done", "command_id", id, "action", res.Action, "incident_id", res.IncidentID, "outcome", res.Outcome, "reason", res.Reason)
	return nil
}

// writer writes the applier's state records, then its results.
type writer interface {
	// fence makes this writer the only one of the tenant's applier, by
	// writing rec in a transaction; a writer that cannot fence does
	// nothing.
	fence(ctx context.Context, rec *kgo.Record) error
	commit(ctx context.Context, state, results []*kgo.Record) error
}

// plainWriter writes state records and waits for their acks before it
// writes the results: a result is never visible before its dedup record.
// It fences nothing.
type plainWriter struct{ cl *kgo.Client }

func (plainWriter) fence(context.Context, *kgo.Record) error { return nil }

func (w plainWriter) commit(ctx context.Context, state, results []*kgo.Record) error {
	if err := w.cl.ProduceSync(ctx, state...).FirstErr(); err != nil {
		return err
	}
	if len(results) == 0 {
		return nil
	}
	return w.cl.ProduceSync(ctx, results...).FirstErr()
}

// txnWriter writes state and results in one transaction (exactly-once).
type txnWriter struct{ cl *kgo.Client }

func (w txnWriter) fence(ctx context.Context, rec *kgo.Record) error {
	return transact(ctx, w.cl, []*kgo.Record{rec})
}

func (w txnWriter) commit(ctx context.Context, state, results []*kgo.Record) error {
	return transact(ctx, w.cl, append(append([]*kgo.Record{}, state...), results...))
}

// fencedWriter writes state records in a transaction of txn and, once it is
// committed, the results through plain (at-least-once, WithStateProducer).
type fencedWriter struct{ txn, plain *kgo.Client }

func (w fencedWriter) fence(ctx context.Context, rec *kgo.Record) error {
	return transact(ctx, w.txn, []*kgo.Record{rec})
}

func (w fencedWriter) commit(ctx context.Context, state, results []*kgo.Record) error {
	if err := transact(ctx, w.txn, state); err != nil {
		return err
	}
	if len(results) == 0 {
		return nil
	}
	return w.plain.ProduceSync(ctx, results...).FirstErr()
}

// transact writes recs in one transaction of cl. It returns an error
// wrapping pipeline.ErrFenced when a newer client with cl's transactional id
// has fenced cl.
func transact(ctx context.Context, cl *kgo.Client, recs []*kgo.Record) error {
	if err := cl.BeginTransaction(); err != nil {
		// A failed run left its transaction open: abort it, then begin.
		_ = cl.AbortBufferedRecords(ctx)
		if abort := cl.EndTransaction(context.WithoutCancel(ctx), kgo.TryAbort); abort != nil {
			return fenced(fmt.Errorf("aborting an unfinished transaction: %w", abort))
		}
		if err := cl.BeginTransaction(); err != nil {
			return fenced(fmt.Errorf("beginning a transaction: %w", err))
		}
	}
	err := cl.ProduceSync(ctx, recs...).FirstErr()
	end := kgo.TryCommit
	if err != nil {
		end = kgo.TryAbort
		_ = cl.AbortBufferedRecords(context.WithoutCancel(ctx))
	}
	if eerr := cl.EndTransaction(context.WithoutCancel(ctx), end); err == nil {
		err = eerr
	}
	return fenced(err)
}

// fenced wraps err with pipeline.ErrFenced when Kafka refused a write because
// a newer producer with the same transactional id exists.
func fenced(err error) error {
	if pipeline.IsFenced(err) {
		return fmt.Errorf("%w: %w", pipeline.ErrFenced, err)
	}
	return err
}

// salvage reads what it can of a command that fails ParseCommand, for its
// result: the string fields that name it.
func salvage(value []byte) Command {
	var m map[string]any
	_ = json.Unmarshal(value, &m)
	str := func(k string) string { v, _ := m[k].(string); return v }
	return Command{CommandID: str("command_id"), Tenant: str("tenant"), IncidentID: str("incident_id"), Action: str("action")}
}

func (a *Applier) count(ctx context.Context, outcome string) {
	a.commands.Add(context.WithoutCancel(ctx), 1, metric.WithAttributes(append([]attribute.KeyValue{attribute.String("outcome", outcome)}, a.metricAttrs...)...))
}
