package app

import (
	"context"
	"errors"

	"github.com/soc-tools/xdr-kafka-connector/pkg/enrich"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
)

// The API wrappers pass bulk extra-data calls through, so a tenant's
// pipeline sees an enrich.BulkFetcher whatever wraps its client.
var (
	_ enrich.BulkFetcher = pacedAPI{}
	_ enrich.BulkFetcher = gatedAPI{}
)

// GetMultipleIncidentsExtraData takes a slot of the tenant's pacer like
// every call; the bulk limiter also holds these calls to
// ENRICH_BULK_RATE_LIMIT per ENRICH_BULK_RATE_WINDOW.
func (p pacedAPI) GetMultipleIncidentsExtraData(ctx context.Context, req xdr.MultipleExtraDataRequest) (*xdr.MultipleExtraData, error) {
	return enrich.Paced(ctx, p.lim, func() (*xdr.MultipleExtraData, error) { return p.c.GetMultipleIncidentsExtraData(ctx, req) })
}

// errNoBulk is returned by a gated API whose client cannot make bulk calls.
var errNoBulk = errors.New("this API client makes no get_multiple_incidents_extra_data calls")

// GetMultipleIncidentsExtraData waits for the gate like every other call.
func (g gatedAPI) GetMultipleIncidentsExtraData(ctx context.Context, req xdr.MultipleExtraDataRequest) (*xdr.MultipleExtraData, error) {
	bf, ok := g.api.(enrich.BulkFetcher)
	if !ok {
		return nil, errNoBulk
	}
	if err := g.gate.member.WaitLive(ctx, g.gate.stop); err != nil {
		return nil, err
	}
	return bf.GetMultipleIncidentsExtraData(ctx, req)
}
