package telemetry_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"go.opentelemetry.io/otel/trace"

	"github.com/soc-tools/xdr-kafka-connector/pkg/telemetry"
)

// TestScrubbingExporterScrubsWhatASpanCarries: the status description and
// the string attributes of a span and of its events reach the exporter
// scrubbed; a span with nothing to scrub reaches it as it was.
func TestScrubbingExporterScrubsWhatASpanCarries(t *testing.T) {
	const secret = "kafka-password-do-not-export"
	scrub := func(s string) string { return strings.ReplaceAll(s, secret, "[REDACTED]") }
	rec := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(telemetry.ScrubbingExporter(rec, scrub)))
	tr := tp.Tracer("test")

	_, span := tr.Start(context.Background(), "produce", traceAttrs(attribute.String("messaging.destination", "xdr.alerts"), attribute.String("note", "sent "+secret), attribute.Int("n", 3)))
	span.RecordError(errors.New("SASL_AUTHENTICATION_FAILED: invalid credentials: connector " + secret))
	span.SetStatus(codes.Error, "unable to authenticate: "+secret)
	span.End()
	_, clean := tr.Start(context.Background(), "clean")
	clean.SetStatus(codes.Error, "nothing secret")
	clean.End()
	spans := rec.GetSpans() // (a syncer exports each span as it ends; Shutdown would empty rec)
	if len(spans) != 2 {
		t.Fatalf("%d spans exported, want 2", len(spans))
	}
	var texts []string
	s := spans[0]
	texts = append(texts, s.Status.Description)
	for _, kv := range s.Attributes {
		texts = append(texts, kv.Value.Emit())
	}
	for _, ev := range s.Events {
		for _, kv := range ev.Attributes {
			texts = append(texts, kv.Value.Emit())
		}
	}
	all := strings.Join(texts, "\n")
	if strings.Contains(all, secret) {
		t.Errorf("an exported span holds the secret:\n%s", all)
	}
	for _, want := range []string{"unable to authenticate: [REDACTED]", "sent [REDACTED]", "xdr.alerts", "3", "invalid credentials: connector [REDACTED]"} {
		if !strings.Contains(all, want) {
			t.Errorf("the exported span lacks %q:\n%s", want, all)
		}
	}
	if s.Status.Code != codes.Error || len(s.Events) != 1 || s.Events[0].Name != "exception" {
		t.Errorf("status %v, events %+v: the rest of the span must stay", s.Status, s.Events)
	}
	if d := spans[1].Status.Description; d != "nothing secret" {
		t.Errorf("the clean span's status is %q", d)
	}
}

func traceAttrs(kv ...attribute.KeyValue) trace.SpanStartOption { return trace.WithAttributes(kv...) }
