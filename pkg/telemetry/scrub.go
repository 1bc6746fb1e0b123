package telemetry

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// ScrubbingExporter returns an exporter that hands next every span with
// scrub applied to its status description and to the string values of
// its attributes and of its events' attributes: an error recorded on a
// span may be a library's text quoting a secret.
func ScrubbingExporter(next sdktrace.SpanExporter, scrub func(string) string) sdktrace.SpanExporter {
	return scrubbingExporter{next: next, scrub: scrub}
}

type scrubbingExporter struct {
	next  sdktrace.SpanExporter
	scrub func(string) string
}

func (e scrubbingExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	out := spans
	for i, s := range spans {
		if c, changed := e.span(s); changed {
			if &out[0] == &spans[0] {
				out = append([]sdktrace.ReadOnlySpan(nil), spans...)
			}
			out[i] = c
		}
	}
	return e.next.ExportSpans(ctx, out)
}

func (e scrubbingExporter) Shutdown(ctx context.Context) error { return e.next.Shutdown(ctx) }

// span returns s scrubbed, and whether anything changed.
func (e scrubbingExporter) span(s sdktrace.ReadOnlySpan) (sdktrace.ReadOnlySpan, bool) {
	st := s.Status()
	desc := e.scrub(st.Description)
	attrs, attrsChanged := e.attrs(s.Attributes())
	events := s.Events()
	var scrubbed []sdktrace.Event
	for i, ev := range events {
		if as, changed := e.attrs(ev.Attributes); changed {
			if scrubbed == nil {
				scrubbed = append([]sdktrace.Event(nil), events...)
			}
			scrubbed[i].Attributes = as
		}
	}
	if desc == st.Description && !attrsChanged && scrubbed == nil {
		return s, false
	}
	st.Description = desc
	if scrubbed == nil {
		scrubbed = events
	}
	return scrubbedSpan{ReadOnlySpan: s, status: st, attrs: attrs, events: scrubbed}, true
}

// attrs returns as with scrub applied to its string values, and whether
// any changed; as itself when none did.
func (e scrubbingExporter) attrs(as []attribute.KeyValue) ([]attribute.KeyValue, bool) {
	var out []attribute.KeyValue
	for i, kv := range as {
		if kv.Value.Type() != attribute.STRING {
			continue
		}
		if v := e.scrub(kv.Value.AsString()); v != kv.Value.AsString() {
			if out == nil {
				out = append([]attribute.KeyValue(nil), as...)
			}
			out[i] = attribute.String(string(kv.Key), v)
		}
	}
	if out == nil {
		return as, false
	}
	return out, true
}

// scrubbedSpan is a span with its status and attributes replaced.
type scrubbedSpan struct {
	sdktrace.ReadOnlySpan
	status sdktrace.Status
	attrs  []attribute.KeyValue
	events []sdktrace.Event
}

func (s scrubbedSpan) Status() sdktrace.Status          { return s.status }
func (s scrubbedSpan) Attributes() []attribute.KeyValue { return s.attrs }
func (s scrubbedSpan) Events() []sdktrace.Event         { return s.events }
