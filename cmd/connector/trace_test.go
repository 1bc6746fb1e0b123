package main

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/soc-tools/xdr-kafka-connector/internal/testkit"
	"github.com/soc-tools/xdr-kafka-connector/pkg/record"
	"github.com/soc-tools/xdr-kafka-connector/pkg/telemetry"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr/xdrtest"
)

// TestIncidentTraceFromPollToKafka runs the connector with tracing on and
// follows every incident from the poll that read it to its Kafka records:
// the change record's publish span is a child of the poll span; the
// enrichment span is a child of the same poll span (through the traceparent
// the pipeline stored with the owed enrichment) and holds the API call, the
// flatten span and the publish spans of the enrichment records; each
// record's traceparent header names its own publish span.
func TestIncidentTraceFromPollToKafka(t *testing.T) {
	const incidents = 12
	e := testkit.New(t, xdrtest.Config{Seed: 17, Incidents: incidents, MaxAlerts: 3, RateWindow: 100 * time.Millisecond})
	e.Sim.Inject(xdrtest.EndpointExtraData, xdrtest.FaultServerError, 1) // one retry, logged inside its span
	exp := keptSpans{tracetest.NewInMemoryExporter()}
	r := startConnector(t, e, map[string]string{"LOG_LEVEL": "info", "ENRICH_BULK": "off"}, runDeps{SpanExporter: exp}) // each enrich span with its own call
	testkit.WaitFor(t, 60*time.Second, "every incident enriched", func() bool {
		n, _ := r.scrape(t).value("xdr_connector_enrich_enriched_total")
		return n == incidents
	})
	r.stop(t)

	spans := exp.GetSpans()
	byID := map[trace.SpanID]tracetest.SpanStub{}
	for _, s := range spans {
		byID[s.SpanContext.SpanID()] = s
	}
	// publishOf returns the publish span a record's traceparent names.
	publishOf := func(rec testkit.Record) (tracetest.SpanStub, bool) {
		sc := trace.SpanContextFromContext(telemetry.WithTraceParent(t.Context(), rec.Headers["traceparent"]))
		s, ok := byID[sc.SpanID()]
		return s, ok && sc.TraceID() == s.SpanContext.TraceID() && s.Name == rec.Topic+" publish"
	}
	pollOf := map[string]tracetest.SpanStub{} // incident -> the poll that emitted its change
	for _, rec := range e.ReadTopic(testkit.Topics.Incidents) {
		pub, ok := publishOf(rec)
		if !ok {
			t.Fatalf("%s record of incident %s: traceparent %q names no publish span", rec.Type, rec.IncidentID, rec.Headers["traceparent"])
		}
		parent := byID[pub.Parent.SpanID()]
		switch rec.Type {
		case record.TypeIncidentChange:
			if parent.Name != "poll" || parent.Parent.IsValid() {
				t.Errorf("change of incident %s: publish span's parent is %q, want the root poll span", rec.IncidentID, parent.Name)
			}
			pollOf[rec.IncidentID] = parent
		case record.TypeIncidentEnriched:
			if parent.Name != "enrich incident" {
				t.Errorf("enrichment of incident %s: publish span's parent is %q, want the enrich span", rec.IncidentID, parent.Name)
			}
		}
	}
	if len(pollOf) != incidents {
		t.Fatalf("%d incidents have a traced change, want %d", len(pollOf), incidents)
	}
	// One enrich span per attempt; enrichOf holds the one that enriched.
	enrichOf := map[string]tracetest.SpanStub{}
	attemptBySpan := map[string]tracetest.SpanStub{}
	for _, s := range spans {
		if s.Name != "enrich incident" {
			continue
		}
		var id, outcome string
		for _, kv := range s.Attributes {
			switch kv.Key {
			case "xdr.incident_id":
				id = kv.Value.AsString()
			case "xdr.outcome":
				outcome = kv.Value.AsString()
			}
		}
		poll := pollOf[id]
		if s.Parent.SpanID() != poll.SpanContext.SpanID() || s.SpanContext.TraceID() != poll.SpanContext.TraceID() || !s.Parent.IsRemote() {
			t.Errorf("incident %s: enrich span is not a child of the poll that emitted its change", id)
		}
		attemptBySpan[s.SpanContext.SpanID().String()] = s
		if outcome == "enriched" {
			enrichOf[id] = s
		}
	}
	if len(enrichOf) != incidents {
		t.Fatalf("%d incidents have an enrich span that enriched them, want %d", len(enrichOf), incidents)
	}
	children := func(p tracetest.SpanStub) []string {
		var names []string
		for _, s := range spans {
			if s.Parent.SpanID() == p.SpanContext.SpanID() && s.SpanContext.TraceID() == p.SpanContext.TraceID() {
				names = append(names, s.Name)
			}
		}
		sort.Strings(names)
		return names
	}
	for id, s := range enrichOf {
		got := strings.Join(children(s), ",")
		if !strings.HasPrefix(got, "flatten,get_incident_extra_data,") || !strings.Contains(got, testkit.Topics.Incidents+" publish") {
			t.Errorf("incident %s: enrich span's children are %s", id, got)
		}
	}
	// The retry's log line carries the ids of the attempt that failed.
	logged := false
	for _, line := range strings.Split(r.out.String(), "\n") {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) != nil || m["msg"] != "retrying extra-data call later; the worker goes on with the next incident" {
			continue
		}
		id, _ := m["incident_id"].(string)
		spanID, _ := m["span_id"].(string)
		attempt, ok := attemptBySpan[spanID]
		var outcome string
		for _, kv := range attempt.Attributes {
			if kv.Key == "xdr.outcome" {
				outcome = kv.Value.AsString()
			}
		}
		if !ok || outcome != "retry" || m["trace_id"] != enrichOf[id].SpanContext.TraceID().String() {
			t.Errorf("retry log line does not carry the ids of its failed attempt's span: %s", line)
		}
		logged = true
	}
	if !logged {
		t.Error("no retry was logged")
	}
	for _, topic := range []string{testkit.Topics.Alerts, testkit.Topics.Artifacts} {
		for _, rec := range e.ReadTopic(topic) {
			pub, ok := publishOf(rec)
			if !ok || pub.Parent.SpanID() != enrichOf[rec.IncidentID].SpanContext.SpanID() {
				t.Errorf("%s record %s: not published under the enrich span of incident %s", topic, rec.Key, rec.IncidentID)
			}
		}
	}
	if testing.Verbose() {
		// One incident's trace, for docs/OBSERVABILITY.md.
		for id := range enrichOf {
			poll := pollOf[id]
			var b strings.Builder
			var walk func(s tracetest.SpanStub, depth int)
			walk = func(s tracetest.SpanStub, depth int) {
				fmt.Fprintf(&b, "%s%s (%s)\n", strings.Repeat("  ", depth), s.Name, s.EndTime.Sub(s.StartTime).Round(time.Microsecond))
				for _, c := range spans {
					if c.Parent.SpanID() == s.SpanContext.SpanID() && c.SpanContext.TraceID() == s.SpanContext.TraceID() {
						walk(c, depth+1)
					}
				}
			}
			walk(poll, 0)
			t.Logf("trace of incident %s:\n%s", id, b.String())
			break
		}
	}
}
