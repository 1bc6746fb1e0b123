package app

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/embedded"

	"github.com/soc-tools/xdr-kafka-connector/pkg/enrich"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
)

// pacedAPI holds every call to one tenant — polls, extra-data and bulk
// calls, write-back's reads and writes — to XDR_REQUESTS_PER_SECOND in any
// one-second window: the API allows about 10 requests a second per tenant
// across its endpoints. The extra-data calls are also held to their own
// budget by the enrichment's limiters; they take a slot here as well, since
// they count against the tenant's.
//
// The pacer is a sliding log (enrich.Limiter with a one-second window), not
// a token bucket: a bucket of rate r and burst r admits r calls at once and r
// more as it refills within the same second, 2r in one window. A call holds
// its slot from the moment it is sent until one second after its reply (or
// error, or timeout) came back, so no one-second window at the server sees
// more than r calls, whatever the latency. Waiters are served in arrival
// order: a caller that makes one call at a time (the poll loop, the
// write-back applier) waits behind at most one call of each other such
// caller.
type pacedAPI struct {
	c   *xdr.Client
	lim *enrich.Limiter
}

func paced(c *xdr.Client, perSecond int) pacedAPI {
	return pacedAPI{c: c, lim: newPacer(perSecond)}
}

// newPacer returns the limiter of paced: at most perSecond calls (at least
// 1) in any one-second window.
func newPacer(perSecond int) *enrich.Limiter {
	lim, err := enrich.NewLimiter(max(perSecond, 1), time.Second)
	if err != nil {
		panic(err) // unreachable: n ≥ 1 and the window is positive
	}
	return lim
}

func (p pacedAPI) GetIncidents(ctx context.Context, req xdr.IncidentsRequest) (*xdr.IncidentsReply, error) {
	return enrich.Paced(ctx, p.lim, func() (*xdr.IncidentsReply, error) { return p.c.GetIncidents(ctx, req) })
}

func (p pacedAPI) GetIncidentExtraData(ctx context.Context, req xdr.ExtraDataRequest) (*xdr.ExtraData, error) {
	return enrich.Paced(ctx, p.lim, func() (*xdr.ExtraData, error) { return p.c.GetIncidentExtraData(ctx, req) })
}

// tenantTracerProvider adds xdr.tenant to every span its tracers start.
func tenantTracerProvider(tp trace.TracerProvider, id string) trace.TracerProvider {
	return tenantTP{tp: tp, attr: attribute.String("xdr.tenant", id)}
}

type tenantTP struct {
	embedded.TracerProvider
	tp   trace.TracerProvider
	attr attribute.KeyValue
}

func (t tenantTP) Tracer(name string, opts ...trace.TracerOption) trace.Tracer {
	return tenantTracer{tr: t.tp.Tracer(name, opts...), attr: t.attr}
}

type tenantTracer struct {
	embedded.Tracer
	tr   trace.Tracer
	attr attribute.KeyValue
}

func (t tenantTracer) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	return t.tr.Start(ctx, name, append(opts, trace.WithAttributes(t.attr))...)
}
