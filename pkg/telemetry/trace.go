package telemetry

import (
	"context"

	"go.opentelemetry.io/otel/propagation"
)

// Propagator is the connector's one context propagator: W3C Trace Context
// (the traceparent header), for Kafka record headers and for the enrichment
// queue.
func Propagator() propagation.TextMapPropagator { return propagation.TraceContext{} }

// TraceParent returns the W3C traceparent of the span ctx carries, or "" when
// it carries no valid span context (tracing off, or outside a span). The
// pipeline stores it with an owed enrichment, so the enrichment joins the
// trace of the change that asked for it even after a restart.
func TraceParent(ctx context.Context) string {
	c := propagation.MapCarrier{}
	propagation.TraceContext{}.Inject(ctx, c)
	return c["traceparent"]
}

// WithTraceParent returns ctx carrying the remote span context of tp, a W3C
// traceparent, so that spans started from it join that trace. An empty or
// invalid tp returns ctx unchanged.
func WithTraceParent(ctx context.Context, tp string) context.Context {
	if tp == "" {
		return ctx
	}
	return propagation.TraceContext{}.Extract(ctx, propagation.MapCarrier{"traceparent": tp})
}
