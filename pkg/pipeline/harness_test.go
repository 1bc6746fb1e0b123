package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/soc-tools/xdr-kafka-connector/pkg/enrich"
	"github.com/soc-tools/xdr-kafka-connector/pkg/offsets"
	"github.com/soc-tools/xdr-kafka-connector/pkg/sink"
	"github.com/soc-tools/xdr-kafka-connector/pkg/source"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr/xdrtest"
)

var testTopics = sink.Topics{Incidents: "xdr.incidents", Alerts: "xdr.alerts", Artifacts: "xdr.artifacts", DLQ: "xdr.dlq"}

const offsetsTopic = "xdr.connector.offsets"

// env is one simulated tenant and one in-process Kafka cluster.
type env struct {
	t       *testing.T
	sim     *xdrtest.Tenant
	api     *xdr.Client
	cluster *kfake.Cluster
	brokers []string
}

func newEnv(t *testing.T, sc xdrtest.Config) *env {
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
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DefaultNumPartitions(3))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return &env{t: t, sim: sim, api: api, cluster: c, brokers: c.ListenAddrs()}
}

func (e *env) connOpts() []kgo.Opt { return []kgo.Opt{kgo.SeedBrokers(e.brokers...)} }

func (e *env) producer() *kgo.Client {
	e.t.Helper()
	cl, err := kgo.NewClient(append(e.connOpts(), sink.ProducerOpts()...)...)
	if err != nil {
		e.t.Fatal(err)
	}
	return cl
}

// config returns a fast pipeline configuration: 10 extra-data calls per
// rateWindow, polls every 50ms.
func (e *env) config(rateWindow time.Duration) Config {
	return Config{
		Connector: "test", Tenant: "sim", Topics: testTopics, Offsets: offsetsTopic,
		CreateTopics: true, Partitions: 3, Replication: 1,
		StartFrom: time.Now().Add(-48 * time.Hour).UnixMilli(),
		Source:    source.Config{PollInterval: 50 * time.Millisecond, Lookback: time.Second},
		RateLimit: 10, RateWindow: rateWindow,
		Enrich:         enrich.Config{Workers: 4, MaxAttempts: 6, CallTimeout: 5 * time.Second},
		AlertsLimit:    1000,
		CommitInterval: 50 * time.Millisecond, ShutdownTimeout: 10 * time.Second,
		ClientOpts: e.connOpts(),
	}
}

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.DiscardHandler)
}

// envelope is a record value as a consumer sees it.
type envelope struct {
	sink.Envelope
	key, typ string
	topic    string
}

// readTopic reads a topic from the start to its current end.
func (e *env) readTopic(topic string) []envelope {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(append(e.connOpts(), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))...)
	if err != nil {
		e.t.Fatal(err)
	}
	defer cl.Close()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		e.t.Fatal(err)
	}
	remaining := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			remaining[o.Partition] = o.Offset
		}
	})
	var out []envelope
	for len(remaining) > 0 {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			e.t.Fatalf("reading %s: %v (still waiting for %v)", topic, ctx.Err(), remaining)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if end, ok := remaining[r.Partition]; ok && r.Offset+1 >= end {
				delete(remaining, r.Partition)
			}
			if topic == offsetsTopic {
				out = append(out, envelope{key: string(r.Key), topic: topic, Envelope: sink.Envelope{Data: r.Value}})
				return
			}
			var env envelope
			if err := json.Unmarshal(r.Value, &env.Envelope); err != nil {
				e.t.Fatalf("%s offset %d: value is not JSON: %v", topic, r.Offset, err)
			}
			env.key, env.topic = string(r.Key), topic
			for _, h := range r.Headers {
				if h.Key == sink.HeaderRecordType {
					env.typ = string(h.Value)
				}
			}
			validateRecord(e.t, env.typ, r.Value)
			out = append(out, env)
		})
	}
	return out
}

var (
	schemaOnce sync.Once
	schemas    map[string]*jsonschema.Schema
	schemaErr  error
)

// validateRecord checks a record value against the schema of its type in
// schemas/.
func validateRecord(t *testing.T, typ string, value []byte) {
	t.Helper()
	schemaOnce.Do(func() {
		files := map[string]string{
			sink.TypeIncidentChange: "incident-change", sink.TypeIncidentEnriched: "incident-enriched",
			sink.TypeAlert: "alert", sink.TypeNetworkArtifact: "artifact-network", sink.TypeFileArtifact: "artifact-file",
			sink.TypeDLQ: "dlq", "offsets": "offsets",
		}
		c := jsonschema.NewCompiler()
		schemas = map[string]*jsonschema.Schema{}
		for typ, f := range files {
			p, _ := filepath.Abs(filepath.Join("..", "..", "schemas", f+".schema.json"))
			s, err := c.Compile(p)
			if err != nil {
				schemaErr = fmt.Errorf("compiling %s: %w", p, err)
				return
			}
			schemas[typ] = s
		}
	})
	if schemaErr != nil {
		t.Fatal(schemaErr)
	}
	s, ok := schemas[typ]
	if !ok {
		t.Fatalf("record type %q has no schema", typ)
	}
	v, err := jsonschema.UnmarshalJSON(strings.NewReader(string(value)))
	if err != nil {
		t.Fatalf("%s record is not JSON: %v", typ, err)
	}
	if err := s.Validate(v); err != nil {
		t.Fatalf("%s record does not match its schema: %v\n%s", typ, err, value)
	}
}

// readState returns the committed offsets state of the "test" connector.
func (e *env) readState() offsets.State {
	e.t.Helper()
	cl := e.producer()
	defer cl.Close()
	st, err := offsets.NewStore(cl, offsets.StoreConfig{Topic: offsetsTopic, Connector: "test", Tenant: "sim", ClientOpts: e.connOpts()})
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, found, err := st.Load(ctx)
	if err != nil || !found {
		e.t.Fatalf("loading offsets: found=%v err=%v", found, err)
	}
	for _, r := range e.readTopic(offsetsTopic) {
		if r.Data != nil {
			validateRecord(e.t, "offsets", r.Data)
		}
	}
	return s
}

// waitFor polls cond every 20ms until it holds or the deadline passes.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type versionKey struct {
	id string
	t  int64
}
