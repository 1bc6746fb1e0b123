package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

func TestLoggerAddsTraceAndSpanIDsInsideASpan(t *testing.T) {
	var buf bytes.Buffer
	log, err := NewLogger(&buf, "json", "debug")
	if err != nil {
		t.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider()
	ctx, span := tp.Tracer("t").Start(context.Background(), "op")
	log.With("stage", "x").DebugContext(ctx, "inside")
	span.End()
	log.InfoContext(context.Background(), "outside")
	log.Info("no context")

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("want 3 lines, got %q", buf.String())
	}
	var in map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &in); err != nil {
		t.Fatal(err)
	}
	sc := span.SpanContext()
	if in[LogKeyTraceID] != sc.TraceID().String() || in[LogKeySpanID] != sc.SpanID().String() || in["stage"] != "x" {
		t.Errorf("line inside the span = %s, want trace_id %s span_id %s", lines[0], sc.TraceID(), sc.SpanID())
	}
	for _, l := range lines[1:] {
		if strings.Contains(l, LogKeyTraceID) || strings.Contains(l, LogKeySpanID) {
			t.Errorf("line outside any span carries ids: %s", l)
		}
	}
}

func TestLoggerLevelAndFormat(t *testing.T) {
	var buf bytes.Buffer
	log, err := NewLogger(&buf, "text", "warn")
	if err != nil {
		t.Fatal(err)
	}
	log.Info("hidden")
	log.Warn("shown")
	if strings.Contains(buf.String(), "hidden") || !strings.Contains(buf.String(), "level=WARN msg=shown") {
		t.Errorf("text at warn wrote %q", buf.String())
	}
	if _, err := NewLogger(&buf, "xml", "info"); err == nil {
		t.Error("format xml accepted")
	}
	if _, err := NewLogger(&buf, "json", "loud"); err == nil {
		t.Error("level loud accepted")
	}
}

func TestTraceParentRoundTrip(t *testing.T) {
	if got := TraceParent(context.Background()); got != "" {
		t.Errorf("TraceParent outside a span = %q, want empty", got)
	}
	tp := sdktrace.NewTracerProvider()
	ctx, span := tp.Tracer("t").Start(context.Background(), "op")
	defer span.End()
	s := TraceParent(ctx)
	want := "00-" + span.SpanContext().TraceID().String() + "-" + span.SpanContext().SpanID().String() + "-01"
	if s != want {
		t.Fatalf("TraceParent = %q, want %q", s, want)
	}
	_, child := tp.Tracer("t").Start(WithTraceParent(context.Background(), s), "child")
	defer child.End()
	ro := child.(sdktrace.ReadOnlySpan)
	if ro.Parent().SpanID() != span.SpanContext().SpanID() || !ro.Parent().IsRemote() || ro.SpanContext().TraceID() != span.SpanContext().TraceID() {
		t.Errorf("child of the traceparent has parent %v, want remote %v", ro.Parent(), span.SpanContext())
	}
	if ctx := WithTraceParent(context.Background(), "garbage"); TraceParent(ctx) != "" {
		t.Error("an invalid traceparent produced a span context")
	}
}
