package pipeline

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/soc-tools/xdr-kafka-connector/internal/testkit"
	"github.com/soc-tools/xdr-kafka-connector/pkg/enrich"
	"github.com/soc-tools/xdr-kafka-connector/pkg/offsets"
	"github.com/soc-tools/xdr-kafka-connector/pkg/record"
	"github.com/soc-tools/xdr-kafka-connector/pkg/sink"
	"github.com/soc-tools/xdr-kafka-connector/pkg/source"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
)

// bodyLister serves get_incidents from raw incident objects: each reply is
// the JSON text of the positions asked for, decoded by the real decoder, so
// a hostile object reaches the source exactly as a hostile reply would.
type bodyLister struct{ items [][]byte }

func (l bodyLister) GetIncidents(_ context.Context, req xdr.IncidentsRequest) (*xdr.IncidentsReply, error) {
	from, to := min(req.SearchFrom, len(l.items)), min(req.SearchTo, len(l.items))
	var b bytes.Buffer
	b.WriteString(`{"reply":{"total_count":` + strconv.Itoa(len(l.items)) + `,"incidents":[`)
	for i, it := range l.items[from:to] {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(it)
	}
	b.WriteString(`]}}`)
	return xdr.DecodeIncidentsReply(b.Bytes())
}

// bodyFetcher answers get_incident_extra_data with a raw body.
type bodyFetcher struct{ body []byte }

func (f bodyFetcher) GetIncidentExtraData(context.Context, xdr.ExtraDataRequest) (*xdr.ExtraData, error) {
	return xdr.DecodeExtraData(f.body)
}

var fuzzKafka = sync.OnceValues(func() (*sink.Sink, error) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, testkit.Topics.All()...))
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}, sink.ProducerOpts()...)...)
	if err != nil {
		return nil, err
	}
	if err := sink.EnsureTopics(context.Background(), kadm.NewClient(cl), testkit.Topics, 1, 1); err != nil {
		return nil, err
	}
	return sink.New(cl, testkit.Topics)
})

// checkedPub checks every record handed to the Publisher against the
// schema of its type before passing it on, and keeps the faults.
type checkedPub struct {
	enrich.Publisher
	mu     sync.Mutex
	faults []string
	types  []string
}

func (p *checkedPub) Publish(ctx context.Context, recs []record.Record, done func(error)) error {
	p.mu.Lock()
	for _, r := range recs {
		p.types = append(p.types, r.Type)
		if err := testkit.SchemaError(r.Type, r.Value); err != nil {
			p.faults = append(p.faults, fmt.Sprintf("%v\n%s", err, r.Value))
		}
	}
	p.mu.Unlock()
	return p.Publisher.Publish(ctx, recs, done)
}

// FuzzHostileReplies drives whole replies through the source and the
// enricher into kfake: a well-formed incident next to a fuzzed one on a
// get_incidents page, then a fuzzed get_incident_extra_data body for the
// well-formed one. Whatever the bytes: no panic, no hang (each stage has a
// deadline), the well-formed incident's version is emitted, the watermark
// stays behind the clock whatever the fuzzed incident's stamp, its
// enrichment settles, as records or as a DLQ record, within the deadline,
// and every record published (the change records of the versions emitted
// among them) matches the schema of its type in schemas/;
// an enrichment that settles as records led by its incident.enriched record.
func FuzzHostileReplies(f *testing.F) {
	deep := strings.Repeat("[", 20000) + strings.Repeat("]", 20000)
	for _, seed := range []struct{ incident, extra string }{
		{`{"incident_id":"2","modification_time":1500,"severity":"high"}`, `{"reply":{"incident":{"incident_id":"1","modification_time":1000},"alerts":{"total_count":1,"data":[{"alert_id":"9"}]}}}`},
		{`{"incident_id":"3","nested":` + deep + `}`, `{"reply":{"incident":{"incident_id":"1","deep":` + deep + `}}}`},
		{"{\"incident_id\":\"4\",\"modification_time\":2000,\"d\":\"\xff\xfe\"}", `{"reply":{"incident":{"incident_id":"777"}}}`},
		{`{"incident_id":"5"}`, `{"reply":{"err_code":500,"err_msg":"boom"}}`},
		{`{"incident_id":"6","modification_time":99999999999999}`, `{"reply":{"incident":null,"alerts":null}}`},
		{`null`, `not json`},
		{`{"incident_id":"7","modification_time":4102444800000}`, `{"reply":{"incident":{"incident_id":"1","modification_time":4102444800000}}}`},
		{`{"incident_id":"8","modification_time":1e13}`, `{"reply":{"incident":{"incident_id":"1","modification_time":1000}}}`},
		{`{}]},"x":{"y":1`, `{"reply":{"incident":{"incident_id":"1"},"alerts":{"total_count":5,"data":[null,"x",1]}}}`},
		// Replies without the incident, or of another endpoint's shape.
		{`{"incident_id":"7","modification_time":1200}`, `{"reply":{}}`},
		{`{"incident_id":"8","modification_time":1200}`, `{"reply":{"incident":null}}`},
		{`{"incident_id":"9","modification_time":1200}`, `{"reply":{"incident":{}}}`},
		{`{"incident_id":"10","modification_time":1200}`, `{"reply":{"incident":{"modification_time":1000},"alerts":{"total_count":1,"data":[{"alert_id":"9"}]}}}`},
		{`{"incident_id":"11","modification_time":1200}`, `{"reply":{"total_count":1,"result_count":1,"incidents":[{"incident_id":"1","modification_time":1000}],"restricted_incident_ids":[]}}`},
		{`{"incident_id":"12","modification_time":1200}`, `{"reply":{"incident":"1","alerts":{"data":{"alert_id":"9"}}}}`},
		// Described fields of other types than documented, published as sent.
		{`{"incident_id":14.5,"modification_time":1200,"severity":5,"starred":"yes","hosts":"h"}`, `{"reply":{"incident":{"incident_id":"1","modification_time":1000,"severity":5,"starred":"yes"}}}`},
		{`{"incident_id":"15","modification_time":1200,"status":{"x":1}}`, `{"reply":{"incident":{"incident_id":"1"},"alerts":[{"alert_id":9.5,"severity":{"x":1},"host_ip":[[1]]}],"network_artifacts":[{"network_remote_port":[]}],"file_artifacts":[{"file_sha256":7}]}}`},
		// Shapes the decoder tolerates, each published whole.
		{`{"incident_id":13,"modification_time":1200}`, `{"reply":{"incident":{"incident_id":1,"modification_time":1000},"alerts":[{"alert_id":9,"case_id":"1"},null],"network_artifacts":{"data":"a.example"},"file_artifacts":{"total_count":2,"data":[{"file_sha256":null},"abc"]}}}`},
	} {
		f.Add([]byte(seed.incident), []byte(seed.extra))
	}
	good := []byte(`{"incident_id":"1","modification_time":1000,"severity":"critical","status":"new"}`)
	f.Fuzz(func(t *testing.T, incident, extra []byte) {
		sk, err := fuzzKafka()
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var seen []offsets.Pending
		src, err := source.New(source.Config{PollInterval: time.Second, Lookback: time.Minute, MaxRetries: 1},
			bodyLister{items: [][]byte{good, incident}}, source.Start{Watermark: 1},
			func(_ context.Context, inc xdr.Incident) error {
				seen = append(seen, offsets.Pending{IncidentID: inc.ID, ModificationTime: inc.ModificationTime, Severity: inc.Severity})
				// The pipeline publishes each version emitted as this record.
				r := enrich.ChangeRecord(enrich.Meta{Connector: "fuzz", Tenant: "t"}, inc)
				if err := testkit.SchemaError(r.Type, r.Value); err != nil {
					t.Errorf("%v\n%s", err, r.Value)
				}
				return nil
			},
			source.WithBackoff(func() backoff.BackOff { return backoff.NewConstantBackOff(time.Millisecond) }))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := src.Poll(ctx); err != nil {
			t.Fatalf("poll failed with a well-formed incident on the page: %v", err)
		}
		if len(seen) == 0 || seen[0].IncidentID != "1" || seen[0].ModificationTime != 1000 {
			t.Fatalf("the well-formed incident's version was not emitted first: %+v", seen)
		}
		// A stamp ahead of the clock never moves the watermark past it:
		// changes stamped in between are yet to come.
		if w := src.Watermark(); w > time.Now().UnixMilli() {
			t.Fatalf("the watermark %d is ahead of the clock after reading %q", w, incident)
		}

		lim, err := enrich.NewLimiter(1000, time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		settled := make(chan bool, 1)
		pub := &checkedPub{Publisher: sk.For(sink.Enrichments)}
		e, err := enrich.New(enrich.Config{Connector: "fuzz", Tenant: "t", Workers: 1, MaxAttempts: 2, MaxRecordBytes: 1 << 20},
			lim, bodyFetcher{extra}, pub,
			enrich.WithBackoff(func() backoff.BackOff { return backoff.NewConstantBackOff(time.Millisecond) }),
			enrich.WithOnDone(func(it offsets.Pending, dlq bool) {
				if it.IncidentID == "1" {
					settled <- dlq
				}
			}))
		if err != nil {
			t.Fatal(err)
		}
		e.Enqueue(seen[0])
		runCtx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- e.Run(runCtx) }()
		var dlq bool
		select {
		case dlq = <-settled:
		case err := <-done:
			t.Fatalf("the enricher stopped before settling the enrichment: %v", err)
		case <-ctx.Done():
			t.Fatal("the enrichment did not settle within 10 s")
		}
		stop()
		if err := <-done; err != nil {
			t.Fatalf("enricher: %v", err)
		}
		pub.mu.Lock()
		defer pub.mu.Unlock()
		for _, fault := range pub.faults {
			t.Error(fault)
		}
		if !dlq && (len(pub.types) == 0 || pub.types[0] != record.TypeIncidentEnriched) {
			t.Errorf("the enrichment settled as records %v, not led by its incident.enriched record", pub.types)
		}
	})
}
