// Package testkit is the shared harness of the integration tests: a simulated
// tenant and an in-process Kafka cluster, readers for the topics, schema
// validation of every record read, and checks of the topics against the
// simulator's truth. Only tests import it.
package testkit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/soc-tools/xdr-kafka-connector/pkg/offsets"
	"github.com/soc-tools/xdr-kafka-connector/pkg/record"
	"github.com/soc-tools/xdr-kafka-connector/pkg/sink"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr/xdrtest"
)

// Topics are the default topic names.
var Topics = sink.Topics{Incidents: "xdr.incidents", Alerts: "xdr.alerts", Artifacts: "xdr.artifacts", DLQ: "xdr.dlq"}

// OffsetsTopic is the default offsets topic.
const OffsetsTopic = "xdr.connector.offsets"

// Env is one simulated tenant and one in-process Kafka cluster, both closed
// when the test ends.
type Env struct {
	T       testing.TB
	Sim     *xdrtest.Tenant
	API     *xdr.Client
	BaseURL string
	KeyID   string
	Key     string
	Cluster *kfake.Cluster
	Brokers []string

	kopts   []kfake.Opt
	dataDir string
}

// New starts a tenant with sc (Now defaults to time.Now) and a one-broker
// cluster with kopts.
func New(t testing.TB, sc xdrtest.Config, kopts ...kfake.Opt) *Env {
	t.Helper()
	if sc.Now == nil {
		sc.Now = time.Now
	}
	sim := xdrtest.New(sc)
	base, stop := sim.Start()
	t.Cleanup(stop)
	id, key := sim.Credentials()
	api, err := xdr.New(xdr.Config{BaseURL: base, KeyID: id, Key: xdr.NewSecret(key), Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1), kfake.DefaultNumPartitions(3)}, kopts...)...)
	if err != nil {
		t.Fatal(err)
	}
	e := &Env{T: t, Sim: sim, API: api, BaseURL: base, KeyID: id, Key: key, Cluster: c, Brokers: c.ListenAddrs(), kopts: kopts}
	t.Cleanup(func() { e.Cluster.Close() })
	return e
}

// NewPersistent is New with a broker that keeps its log in a directory, so
// StopKafka and StartKafka can take it away and bring it back.
func NewPersistent(t testing.TB, sc xdrtest.Config) *Env {
	t.Helper()
	dir := t.TempDir()
	e := New(t, sc, kfake.DataDir(dir))
	e.dataDir = dir
	return e
}

// StopKafka shuts the broker down: every connection drops and nothing
// listens on its port until StartKafka.
func (e *Env) StopKafka() { e.Cluster.Close() }

// StartKafka starts the broker again on the same port and data directory.
func (e *Env) StartKafka() {
	e.T.Helper()
	if e.dataDir == "" {
		e.T.Fatal("StartKafka needs an Env from NewPersistent")
	}
	_, port, _ := strings.Cut(e.Brokers[0], ":")
	p, _ := strconv.Atoi(port)
	c, err := kfake.NewCluster(append([]kfake.Opt{kfake.NumBrokers(1), kfake.DefaultNumPartitions(3), kfake.Ports(p)}, e.kopts...)...)
	if err != nil {
		e.T.Fatalf("restarting the broker: %v", err)
	}
	e.Cluster = c
}

// ConnOpts are the connection options for the cluster.
func (e *Env) ConnOpts() []kgo.Opt { return []kgo.Opt{kgo.SeedBrokers(e.Brokers...)} }

// Producer returns a client configured as the connector configures its own,
// plus opts (e.g. kgo.TransactionalID).
func (e *Env) Producer(opts ...kgo.Opt) *kgo.Client {
	e.T.Helper()
	cl, err := kgo.NewClient(append(append(e.ConnOpts(), sink.ProducerOpts()...), opts...)...)
	if err != nil {
		e.T.Fatal(err)
	}
	return cl
}

// Topics lists the cluster's topics.
func (e *Env) Topics() kadm.TopicDetails {
	e.T.Helper()
	cl, err := kgo.NewClient(e.ConnOpts()...)
	if err != nil {
		e.T.Fatal(err)
	}
	defer cl.Close()
	topics, err := kadm.NewClient(cl).ListTopics(context.Background())
	if err != nil {
		e.T.Fatal(err)
	}
	return topics
}

// Record is a record as a consumer sees it; data topics' values are decoded
// into the envelope.
type Record struct {
	record.Envelope
	Key     string
	Type    string // the record-type header
	Topic   string
	Headers map[string]string
	Value   []byte
}

// ReadTopic reads topic from the start to its current end with
// read_committed, validating every data record against its schema.
func (e *Env) ReadTopic(topic string) []Record {
	e.T.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(append(e.ConnOpts(), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords())...)
	if err != nil {
		e.T.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		e.T.Fatal(err)
	}
	remaining := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			remaining[o.Partition] = o.Offset
		}
	})
	var out []Record
	for len(remaining) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			e.T.Fatalf("reading %s: %v (still waiting for %v)", topic, ctx.Err(), remaining)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if end, ok := remaining[r.Partition]; ok && r.Offset+1 >= end {
				delete(remaining, r.Partition)
			}
			if r.Attrs.IsControl() {
				return
			}
			rec := Record{Key: string(r.Key), Topic: topic, Value: r.Value, Headers: map[string]string{}}
			for _, h := range r.Headers {
				rec.Headers[h.Key] = string(h.Value)
			}
			rec.Type = rec.Headers[record.HeaderRecordType]
			if profile, _, ok := strings.Cut(rec.Type, "."); ok && (profile == "ocsf" || profile == "ecs") {
				checkProfileRecord(e.T, profile, r.Value)
				out = append(out, rec)
				return
			}
			if topic != OffsetsTopic {
				if err := json.Unmarshal(r.Value, &rec.Envelope); err != nil {
					e.T.Fatalf("%s offset %d: value is not JSON: %v", topic, r.Offset, err)
				}
				ValidateRecord(e.T, rec.Type, r.Value)
			} else if r.Value != nil {
				ValidateRecord(e.T, "offsets", r.Value)
			}
			out = append(out, rec)
		})
	}
	return out
}

var (
	schemaOnce sync.Once
	schemas    map[string]*jsonschema.Schema
	schemaErr  error
)

// SchemaDir is the repository's schemas/ directory.
func SchemaDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "schemas")
}

// ValidateRecord checks a record value against the JSON Schema of its record
// type in schemas/ ("offsets" for the offsets topic), failing the test when
// it does not match. It must be called from the test's goroutine.
func ValidateRecord(t testing.TB, typ string, value []byte) {
	t.Helper()
	if err := SchemaError(typ, value); err != nil {
		t.Fatalf("%v\n%s", err, value)
	}
}

// SchemaError is ValidateRecord that returns the mismatch, nil when value
// matches the schema of typ; it is safe for concurrent use (from a
// Publisher's goroutine, say). The schemas are compiled once per test binary.
func SchemaError(typ string, value []byte) error {
	schemaOnce.Do(func() {
		files := map[string]string{
			record.TypeIncidentChange: "incident-change", record.TypeIncidentEnriched: "incident-enriched",
			record.TypeAlert: "alert", record.TypeNetworkArtifact: "artifact-network", record.TypeFileArtifact: "artifact-file",
			record.TypeDLQ: "dlq", "offsets": "offsets", "command": "command", "command-result": "command-result",
		}
		c := jsonschema.NewCompiler()
		schemas = map[string]*jsonschema.Schema{}
		for typ, f := range files {
			p := filepath.Join(SchemaDir(), f+".schema.json")
			s, err := c.Compile(p)
			if err != nil {
				schemaErr = fmt.Errorf("compiling %s: %w", p, err)
				return
			}
			schemas[typ] = s
		}
	})
	if schemaErr != nil {
		return schemaErr
	}
	s, ok := schemas[typ]
	if !ok {
		return fmt.Errorf("record type %q has no schema", typ)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(value))
	if err != nil {
		return fmt.Errorf("%s record is not JSON: %w", typ, err)
	}
	if err := s.Validate(v); err != nil {
		return fmt.Errorf("%s record does not match its schema: %w", typ, err)
	}
	return nil
}

// ReadState loads the committed offsets of a connector and tenant; found is
// false while nothing was committed (or the topic does not exist yet).
func (e *Env) ReadState(connector, tenant string) (offsets.State, bool) {
	e.T.Helper()
	cl := e.Producer()
	defer cl.Close()
	st, err := offsets.NewStore(cl, offsets.StoreConfig{Topic: OffsetsTopic, Connector: connector, Tenant: tenant, ClientOpts: e.ConnOpts()})
	if err != nil {
		e.T.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, found, err := st.Load(ctx)
	if errors.Is(err, kerr.UnknownTopicOrPartition) {
		return s, false
	}
	if err != nil {
		e.T.Fatalf("loading offsets: %v", err)
	}
	return s, found
}

// WaitFor polls cond every 20ms until it holds, failing the test after d.
func WaitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// MaxVersion returns the newest modification_time the tenant ever stamped.
func MaxVersion(sim *xdrtest.Tenant) int64 {
	var m int64
	for _, v := range sim.Versions() {
		m = max(m, v.ModificationTime)
	}
	return m
}

// ReadCommitted reads topic on brokers from its start to its end, with
// read_committed (offsets.ReadToEnd), and returns its records, control
// records excepted.
func ReadCommitted(t testing.TB, brokers []string, topic string) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []*kgo.Record
	if err := offsets.ReadToEnd(ctx, cl, topic, []kgo.Opt{kgo.SeedBrokers(brokers...)}, func(r *kgo.Record) error {
		out = append(out, r)
		return nil
	}); err != nil {
		t.Fatalf("reading %s: %v", topic, err)
	}
	return out
}

// FromGroupMember reports whether req is a heartbeat, join or sync request
// of the group member whose static instance id is instanceID: the requests a
// test holds back or refuses to cut that member off from its coordinator.
func FromGroupMember(req kmsg.Request, instanceID string) bool {
	var id *string
	switch r := req.(type) {
	case *kmsg.HeartbeatRequest:
		id = r.InstanceID
	case *kmsg.JoinGroupRequest:
		id = r.InstanceID
	case *kmsg.SyncGroupRequest:
		id = r.InstanceID
	}
	return id != nil && *id == instanceID
}
