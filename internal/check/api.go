package check

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/soc-tools/xdr-kafka-connector/internal/app"
	"github.com/soc-tools/xdr-kafka-connector/internal/explain"
	"github.com/soc-tools/xdr-kafka-connector/pkg/config"
	"github.com/soc-tools/xdr-kafka-connector/pkg/enrich"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
)

// apiProbe is the outcome of the one get_incidents call by which `check`,
// and `run` before it starts anything, find out whether the tenant accepts
// the key.
type apiProbe struct {
	total       int    // incidents matching the filters, when err is nil
	firstID     string // the id of the incident the reply carried, if any
	err         error  // the call's error; nil when the tenant answered
	reason, fix string // set with err: what went wrong and what to change
}

// probeAPI calls get_incidents once for one incident with the tenant's
// filters. A standard key refused with a 401 is tried once more as an
// advanced key, which signs and so never sends the key itself: when the
// tenant accepts it so, the fix is XDR_AUTH_MODE=advanced. An advanced key is
// never sent as a standard one, which would put it on the wire.
func probeAPI(ctx context.Context, t app.Tenant, api *xdr.Client, cfg *config.Config, timeout time.Duration, version string) apiProbe {
	call := func(c *xdr.Client) (*xdr.IncidentsReply, error) {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		return c.GetIncidents(ctx, xdr.IncidentsRequest{SearchFrom: 0, SearchTo: 1, Filters: t.Filters()})
	}
	reply, err := call(api)
	if err == nil {
		p := apiProbe{total: reply.TotalCount}
		if len(reply.Incidents) > 0 {
			p.firstID = reply.Incidents[0].ID
		}
		return p
	}
	p := apiProbe{err: err}
	p.reason, p.fix = apiFailure(err, cfg, timeout)
	if ae, ok := errors.AsType[*xdr.APIError](err); ok && ae.Status == http.StatusUnauthorized && t.API.AuthMode != xdr.AuthAdvanced {
		alt := t
		alt.API.AuthMode = xdr.AuthAdvanced
		if c, cerr := alt.APIClient(version); cerr == nil {
			if _, aerr := call(c); aerr == nil {
				p.reason = strings.TrimSuffix(p.reason, explain.KeyRefused) + "; the tenant accepts this key only as an advanced key"
				p.fix = "set XDR_AUTH_MODE=advanced: the key is an advanced key, which signs each request"
			}
		}
	}
	return p
}

// noIncidentID is the id a bulk probe asks for when get_incidents returned no
// incident: incident ids are positive numbers, so the tenant answers with no
// item, and the call still tells whether the endpoint is served.
const noIncidentID = "0"

// checkBulk says which way the tenant's enrichments will be fetched, after
// one get_multiple_incidents_extra_data call for id (the incident
// get_incidents returned, or noIncidentID) unless ENRICH_BULK=off:
// "bulk", "single calls" when the tenant does not serve the endpoint and
// ENRICH_BULK=auto (a failure with ENRICH_BULK=on, which never falls back),
// or "off". Any other failure of the call is reported and fails nothing: run
// finds out on its first batch.
func checkBulk(ctx context.Context, r *report, name string, t app.Tenant, api *xdr.Client, id string, timeout time.Duration) {
	name += " enrichment"
	mode, _ := enrich.ParseBulkMode(t.EnrichBulk)
	size := t.EnrichBulkSize
	if size <= 0 {
		size = xdr.MaxBulkIncidents
	}
	if mode == enrich.BulkOff {
		r.pass(name, "off: one get_incident_extra_data call per incident (ENRICH_BULK=off)")
		return
	}
	if id == "" {
		id = noIncidentID
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	reply, err := api.GetMultipleIncidentsExtraData(ctx, xdr.MultipleExtraDataRequest{IncidentIDs: []string{id}})
	switch {
	case err == nil:
		limit := "reply does not say its alerts_limit_per_incident"
		if reply.AlertsLimitPerIncident > 0 {
			limit = fmt.Sprintf("alerts_limit_per_incident %d: incidents with more alerts are fetched alone", reply.AlertsLimitPerIncident)
		}
		r.pass(name, fmt.Sprintf("bulk: get_multiple_incidents_extra_data answered (ENRICH_BULK=%s; up to %d incidents a call; the tenant's %s)", mode, size, limit))
	case xdr.EndpointNotServed(err) && mode == enrich.BulkOn:
		r.fail(name, "ENRICH_BULK=on, and the tenant does not serve get_multiple_incidents_extra_data: "+err.Error(),
			"set ENRICH_BULK=auto (falls back to single calls) or off")
	case xdr.EndpointNotServed(err):
		r.pass(name, "single calls: the tenant does not serve get_multiple_incidents_extra_data (ENRICH_BULK=auto falls back)")
	default:
		r.skip(name, fmt.Sprintf("ENRICH_BULK=%s: could not tell whether the tenant serves get_multiple_incidents_extra_data (%v); run tries it, and with auto falls back if it does not", mode, err))
	}
}

// APIKey is run's first step against a real tenant: one get_incidents
// call, before the embedded broker, the topics or anything else starts, so
// a refused key or a wrong URL fails at once with check's advice. A failure
// that retrying may fix (a timeout, a 5xx, a 429) is only logged: polling
// retries it.
func APIKey(ctx context.Context, cfg *config.Config, version string, warn func(msg string, args ...any)) error {
	t := app.TenantOf(cfg)
	api, err := t.APIClient(version)
	if err != nil {
		return fmt.Errorf("%w: %w", config.ErrUsage, err)
	}
	p := probeAPI(ctx, t, api, cfg, min(cfg.XDRTimeout, 10*time.Second), version)
	switch {
	case p.err == nil:
		return nil
	case ctx.Err() != nil:
		return nil // interrupted: run stops by itself
	case xdr.Retryable(p.err):
		warn("the first get_incidents call failed; polling retries it", "err", p.err)
		return nil
	}
	return fmt.Errorf("the tenant refused the first API call: %s\n  fix: %s\n  (\"connector check\" checks the key, Kafka and the topics without starting anything)", p.reason, p.fix)
}
