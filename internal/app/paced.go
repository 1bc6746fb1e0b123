package app

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/embedded"
	"golang.org/x/time/rate"

	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
)

// pacedAPI holds one tenant's get_incidents calls to a rate
// (XDR_REQUESTS_PER_SECOND): the API allows about 10 requests a second per
// tenant across its endpoints, so a deep backlog of pages never draws 429s on
// the extra-data calls, which their own limiter already holds to 10 a minute.
type pacedAPI struct {
	c   *xdr.Client
	lim *rate.Limiter
}

func paced(c *xdr.Client, perSecond int) pacedAPI {
	return pacedAPI{c: c, lim: rate.NewLimiter(rate.Limit(perSecond), perSecond)}
}

func (p pacedAPI) GetIncidents(ctx context.Context, req xdr.IncidentsRequest) (*xdr.IncidentsReply, error) {
	if err := p.lim.Wait(ctx); err != nil {
		return nil, err
	}
	return p.c.GetIncidents(ctx, req)
}

func (p pacedAPI) GetIncidentExtraData(ctx context.Context, req xdr.ExtraDataRequest) (*xdr.ExtraData, error) {
	return p.c.GetIncidentExtraData(ctx, req)
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
