package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/soc-tools/xdr-kafka-connector/internal/app"
	"github.com/soc-tools/xdr-kafka-connector/pkg/config"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
)

// apiProbe is the outcome of the one get_incidents call by which `check`,
// and `run` before it starts anything, find out whether the tenant accepts
// the key.
type apiProbe struct {
	total       int    // incidents matching the filters, when err is nil
	err         error  // the call's error; nil when the tenant answered
	reason, fix string // set with err: what went wrong and what to change
}

// probeAPI calls get_incidents once for one incident with the tenant's
// filters. A standard key refused with a 401 is tried once more as an
// advanced key, which signs and so never sends the key itself: when the
// tenant accepts it so, the fix is XDR_AUTH_MODE=advanced. An advanced key is
// never sent as a standard one, which would put it on the wire.
func probeAPI(ctx context.Context, t app.Tenant, api *xdr.Client, cfg *config.Config, timeout time.Duration) apiProbe {
	call := func(c *xdr.Client) (*xdr.IncidentsReply, error) {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		return c.GetIncidents(ctx, xdr.IncidentsRequest{SearchFrom: 0, SearchTo: 1, Filters: t.Filters()})
	}
	reply, err := call(api)
	if err == nil {
		return apiProbe{total: reply.TotalCount}
	}
	p := apiProbe{err: err}
	p.reason, p.fix = apiFailure(err, cfg, timeout)
	if ae, ok := errors.AsType[*xdr.APIError](err); ok && ae.Status == http.StatusUnauthorized && t.API.AuthMode != xdr.AuthAdvanced {
		alt := t
		alt.API.AuthMode = xdr.AuthAdvanced
		if c, cerr := alt.APIClient(version); cerr == nil {
			if _, aerr := call(c); aerr == nil {
				p.reason = strings.TrimSuffix(p.reason, keyRefused) + "; the tenant accepts this key only as an advanced key"
				p.fix = "set XDR_AUTH_MODE=advanced: the key is an advanced key, which signs each request"
			}
		}
	}
	return p
}

// checkAPIKey is run's first step against a real tenant: one get_incidents
// call, before the embedded broker, the topics or anything else starts, so
// a refused key or a wrong URL fails at once with check's advice. A failure
// that retrying may fix (a timeout, a 5xx, a 429) is only logged: polling
// retries it.
func checkAPIKey(ctx context.Context, cfg *config.Config, warn func(msg string, args ...any)) error {
	t := app.TenantOf(cfg)
	api, err := t.APIClient(version)
	if err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	p := probeAPI(ctx, t, api, cfg, min(cfg.XDRTimeout, 10*time.Second))
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
