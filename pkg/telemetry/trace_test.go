package telemetry_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/soc-tools/xdr-kafka-connector/internal/testkit"
	"github.com/soc-tools/xdr-kafka-connector/pkg/enrich"
	"github.com/soc-tools/xdr-kafka-connector/pkg/offsets"
	"github.com/soc-tools/xdr-kafka-connector/pkg/record"
	"github.com/soc-tools/xdr-kafka-connector/pkg/sink"
	"github.com/soc-tools/xdr-kafka-connector/pkg/source"
	"github.com/soc-tools/xdr-kafka-connector/pkg/telemetry"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr/xdrtest"
)

// spans indexes what the in-memory exporter recorded.
type spans struct {
	all  tracetest.SpanStubs
	byID map[trace.SpanID]tracetest.SpanStub
}

func index(all tracetest.SpanStubs) spans {
	s := spans{all: all, byID: map[trace.SpanID]tracetest.SpanStub{}}
	for _, sp := range all {
		s.byID[sp.SpanContext.SpanID()] = sp
	}
	return s
}

func (s spans) named(name string) []tracetest.SpanStub {
	var out []tracetest.SpanStub
	for _, sp := range s.all {
		if sp.Name == name {
			out = append(out, sp)
		}
	}
	return out
}

func (s spans) children(parent tracetest.SpanStub, name string) []tracetest.SpanStub {
	var out []tracetest.SpanStub
	for _, sp := range s.named(name) {
		if sp.Parent.SpanID() == parent.SpanContext.SpanID() && sp.SpanContext.TraceID() == parent.SpanContext.TraceID() {
			out = append(out, sp)
		}
	}
	return out
}

func attr(sp tracetest.SpanStub, key string) (attribute.Value, bool) {
	for _, kv := range sp.Attributes {
		if string(kv.Key) == key {
			return kv.Value, true
		}
	}
	return attribute.Value{}, false
}

// parseTP splits a W3C traceparent.
func parseTP(t *testing.T, tp string) (trace.TraceID, trace.SpanID) {
	t.Helper()
	sc := trace.SpanContextFromContext(telemetry.WithTraceParent(context.Background(), tp))
	if !sc.IsValid() {
		t.Fatalf("invalid traceparent %q", tp)
	}
	return sc.TraceID(), sc.SpanID()
}

// TestIncidentTraceFromPollToKafka assembles the stages as the pipeline does
// — a poll whose Handler publishes each change with the poll's context and
// queues its enrichment with telemetry.TraceParent(ctx), an enricher that
// fetches and publishes — with tracing on, and checks each incident's span
// tree and that every Kafka record's traceparent header names the publish
// span of that record, child of the poll (change records) or of the
// incident's enrichment span, itself in the poll's trace.
func TestIncidentTraceFromPollToKafka(t *testing.T) {
	const incidents = 6
	e := testkit.New(t, xdrtest.Config{Seed: 5, Incidents: incidents, MaxAlerts: 4, RateWindow: 50 * time.Millisecond})
	e.Sim.Inject(xdrtest.EndpointExtraData, xdrtest.FaultServerError, 1) // one retry

	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	api, err := xdr.New(xdr.Config{BaseURL: e.BaseURL, KeyID: e.KeyID, Key: xdr.NewSecret(e.Key)}, xdr.WithTracerProvider(tp))
	if err != nil {
		t.Fatal(err)
	}
	hooks, err := telemetry.KafkaHooks(telemetry.KafkaConfig{TracerProvider: tp, UntracedTopics: []string{testkit.OffsetsTopic}})
	if err != nil {
		t.Fatal(err)
	}
	kcl := e.Producer(kgo.WithHooks(hooks...))
	defer kcl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := sink.EnsureTopics(ctx, kadm.NewClient(kcl), testkit.Topics, 1, 1); err != nil {
		t.Fatal(err)
	}
	if err := offsets.EnsureTopic(ctx, kadm.NewClient(kcl), testkit.OffsetsTopic, 1); err != nil {
		t.Fatal(err)
	}
	sk, err := sink.New(kcl, testkit.Topics)
	if err != nil {
		t.Fatal(err)
	}
	lim, err := enrich.NewLimiter(10, 50*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup // one per change record and per enrichment, until acknowledged
	fail := make(chan error, 2*incidents)
	enr, err := enrich.New(enrich.Config{Connector: "test", Workers: 2}, lim, api, sk.For(sink.Enrichments),
		enrich.WithTracerProvider(tp), enrich.WithOnDone(func(offsets.Pending, bool) { wg.Done() }),
		enrich.WithBackoff(func() backoff.BackOff { return backoff.NewConstantBackOff(10 * time.Millisecond) }))
	if err != nil {
		t.Fatal(err)
	}
	meta := enrich.Meta{Connector: "test"}
	handle := func(ctx context.Context, inc xdr.Incident) error {
		wg.Add(2)
		if err := sk.Publish(ctx, sink.Changes, []record.Record{enrich.ChangeRecord(meta, inc)}, func(err error) {
			if err != nil {
				fail <- err
			}
			wg.Done()
		}); err != nil {
			return err
		}
		enr.Enqueue(offsets.Pending{IncidentID: inc.ID, ModificationTime: inc.ModificationTime, Severity: inc.Severity,
			TraceParent: telemetry.TraceParent(ctx)})
		return nil
	}
	src, err := source.New(source.Config{Lookback: time.Second}, api, source.Start{}, handle, source.WithTracerProvider(tp))
	if err != nil {
		t.Fatal(err)
	}
	res, err := src.Poll(ctx)
	if err != nil || res.Emitted != incidents {
		t.Fatalf("poll: %+v, %v", res, err)
	}
	runCtx, stopEnricher := context.WithCancel(ctx)
	enrDone := make(chan error, 1)
	go func() { enrDone <- enr.Run(runCtx) }()
	waited := make(chan struct{})
	go func() { wg.Wait(); close(waited) }()
	select {
	case <-waited:
	case err := <-fail:
		t.Fatal(err)
	case <-ctx.Done():
		t.Fatalf("enrichments not acknowledged: %+v", enr.Stats())
	}
	stopEnricher()
	if err := <-enrDone; err != nil {
		t.Fatal(err)
	}
	// A record of an untraced topic, produced inside a span, gets neither.
	octx, ospan := tp.Tracer("test").Start(ctx, "commit")
	if err := kcl.ProduceSync(octx, &kgo.Record{Topic: testkit.OffsetsTopic, Key: []byte("k"), Value: []byte("{}")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	ospan.End()

	s := index(exp.GetSpans())
	polls := s.named("poll")
	if len(polls) != 1 || polls[0].Parent.IsValid() {
		t.Fatalf("want one root poll span, got %d", len(polls))
	}
	poll := polls[0]
	if v, _ := attr(poll, "xdr.emitted"); v.AsInt64() != incidents {
		t.Errorf("poll span xdr.emitted = %v, want %d", v.Emit(), incidents)
	}
	pages := s.children(poll, "get_incidents page")
	if len(pages) != res.Pages || len(pages) == 0 {
		t.Errorf("poll has %d page spans, the poll read %d pages", len(pages), res.Pages)
	}
	for _, pg := range pages {
		calls := s.children(pg, xdr.EndpointGetIncidents)
		if len(calls) != 1 || calls[0].SpanKind != trace.SpanKindClient {
			t.Errorf("page span has %d get_incidents client spans, want 1", len(calls))
			continue
		}
		if v, _ := attr(calls[0], "http.response.status_code"); v.AsInt64() != 200 {
			t.Errorf("get_incidents span status %v, want 200", v.Emit())
		}
	}

	// Each incident: its change's publish span under the poll; one
	// enrichment span per attempt under the poll (remote parent), each
	// holding its API call; the last one also the flatten span and the
	// publish spans of its records.
	enrichOf := map[string]tracetest.SpanStub{} // the attempt that enriched
	attemptsOf := map[string][]tracetest.SpanStub{}
	for _, sp := range s.children(poll, "enrich incident") {
		if !sp.Parent.IsRemote() {
			t.Errorf("enrich span's parent is not the remote span context of the traceparent")
		}
		id, _ := attr(sp, "xdr.incident_id")
		attemptsOf[id.AsString()] = append(attemptsOf[id.AsString()], sp)
		if o, _ := attr(sp, "xdr.outcome"); o.AsString() == "enriched" {
			enrichOf[id.AsString()] = sp
		}
	}
	if len(enrichOf) != incidents {
		t.Fatalf("%d incidents have an enriched span under the poll, want %d (%d enrich spans in all)", len(enrichOf), incidents, len(s.named("enrich incident")))
	}
	retried := 0
	for id, spans := range attemptsOf {
		slices.SortFunc(spans, func(a, b tracetest.SpanStub) int { return a.StartTime.Compare(b.StartTime) })
		for i, sp := range spans {
			if calls := s.children(sp, xdr.EndpointGetIncidentExtraData); len(calls) != 1 {
				t.Errorf("incident %s, attempt %d: %d get_incident_extra_data spans under it, want 1", id, i+1, len(calls))
			}
			if n, _ := attr(sp, "xdr.attempts"); n.AsInt64() != int64(i+1) {
				t.Errorf("incident %s: span %d says attempt %v", id, i+1, n.Emit())
			}
			if _, ok := attr(sp, "xdr.limiter_wait_ms"); !ok {
				t.Errorf("incident %s: enrich span has no limiter wait", id)
			}
		}
		last := spans[len(spans)-1]
		if last.SpanContext.SpanID() != enrichOf[id].SpanContext.SpanID() {
			t.Errorf("incident %s: an attempt after the one that enriched it", id)
		}
		if len(s.children(last, "flatten")) != 1 {
			t.Errorf("incident %s: want one flatten span under its enrichment", id)
		}
		if len(spans) == 2 {
			retried++
			first := spans[0]
			if st, _ := attr(first, "http.response.status_code"); st.AsInt64() != 500 {
				t.Errorf("incident %s: first attempt's status %v, want 500", id, st.Emit())
			}
			if o, _ := attr(first, "xdr.outcome"); o.AsString() != "retry" {
				t.Errorf("incident %s: first attempt's outcome %v, want retry", id, o.Emit())
			}
			if len(s.children(first, "flatten")) != 0 {
				t.Errorf("incident %s: the failed attempt has a flatten span", id)
			}
			for i, want := range []string{"[rate limiter slot acquired retry]", "[rate limiter slot acquired]"} {
				var events []string
				for _, ev := range spans[i].Events {
					events = append(events, ev.Name)
				}
				if fmt.Sprint(events) != want {
					t.Errorf("incident %s, attempt %d: enrich span events %v, want %s", id, i+1, events, want)
				}
			}
		}
		if last, _ := attr(last, "http.response.status_code"); last.AsInt64() != 200 {
			t.Errorf("incident %s: enrich span's last status %v, want 200", id, last.Emit())
		}
	}
	if retried != 1 {
		t.Errorf("%d enrichments made two attempts, want 1 (one injected 500)", retried)
	}

	records := 0
	for _, topic := range []string{testkit.Topics.Incidents, testkit.Topics.Alerts, testkit.Topics.Artifacts} {
		for _, r := range e.ReadTopic(topic) {
			records++
			tpHdr, ok := r.Headers["traceparent"]
			if !ok {
				t.Errorf("%s record %s has no traceparent header", topic, r.Key)
				continue
			}
			traceID, spanID := parseTP(t, tpHdr)
			pub, ok := s.byID[spanID]
			if !ok || pub.Name != topic+" publish" || pub.SpanKind != trace.SpanKindProducer || traceID != poll.SpanContext.TraceID() {
				t.Errorf("%s record %s: traceparent %s names no publish span of the poll's trace", topic, r.Key, tpHdr)
				continue
			}
			want := poll.SpanContext.SpanID()
			if r.Type != record.TypeIncidentChange {
				want = enrichOf[r.IncidentID].SpanContext.SpanID()
			}
			if pub.Parent.SpanID() != want {
				t.Errorf("%s %s record of incident %s: publish span's parent %s, want %s", topic, r.Type, r.IncidentID, pub.Parent.SpanID(), want)
			}
		}
	}
	if records < 2*incidents {
		t.Errorf("read %d records, want at least %d", records, 2*incidents)
	}
	cons, err := kgo.NewClient(append(e.ConnOpts(), kgo.ConsumeTopics(testkit.OffsetsTopic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))...)
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	fs := cons.PollRecords(ctx, 1)
	if err := fs.Err0(); err != nil || fs.NumRecords() != 1 {
		t.Fatalf("reading the offsets topic: %d records, %v", fs.NumRecords(), err)
	}
	for _, h := range fs.Records()[0].Headers {
		if h.Key == "traceparent" {
			t.Error("a record of the untraced offsets topic carries a traceparent")
		}
	}
	if n := len(s.named(testkit.OffsetsTopic + " publish")); n != 0 {
		t.Errorf("%d publish spans for the untraced offsets topic", n)
	}
}
