package app

import (
	"net/http"
	"testing"
	"time"
)

// ENRICH_BULK=auto per tenant: a tenant that does not serve
// get_multiple_incidents_extra_data falls back to single calls and says so
// where an operator looks — GET /tenants (enrich_bulk_fallback), the gauge
// xdr_connector_enrich_bulk_fallback{tenant} and one warning naming it —
// while its neighbour goes on enriching in bulk and reads 0.
func TestBulkFallbackIsShownForItsTenantOnly(t *testing.T) {
	e := newFleetEnv(t, 2, 30)
	served, unserved := "t01", "t02"
	e.fleet.Tenant(unserved).SetBulkServed(false)
	r := e.start(nil)
	waitFor(t, 30*time.Second, unserved+" to fall back and be enriched with single calls, "+served+" in bulk", func() bool {
		ts := r.tenants(t)
		return ts[unserved].BulkFallback && len(e.fleet.Tenant(unserved).ExtraDataCalls()) > 0 && bulkAnswered(e, served)
	})
	ts := r.tenants(t)
	if s := ts[served]; s.BulkFallback || s.Bulk != "auto" || s.BulkBudgetLimit != 10 {
		t.Errorf("%s: enrich_bulk %q, enrich_bulk_fallback %v, bulk_budget_limit %d; want auto, false, 10", served, s.Bulk, s.BulkFallback, s.BulkBudgetLimit)
	}
	if s := ts[unserved]; s.Bulk != "auto" {
		t.Errorf("%s: enrich_bulk %q, want auto", unserved, s.Bulk)
	}
	if v := series(t, r, "xdr_connector_enrich_bulk_fallback", `tenant="`+unserved+`"`); v != 1 {
		t.Errorf("xdr_connector_enrich_bulk_fallback{tenant=%q} = %v, want 1", unserved, v)
	}
	if v := series(t, r, "xdr_connector_enrich_bulk_fallback", `tenant="`+served+`"`); v != 0 {
		t.Errorf("xdr_connector_enrich_bulk_fallback{tenant=%q} = %v, want 0", served, v)
	}
	const said = "does not serve get_multiple_incidents_extra_data"
	if n := len(r.logs.Lines(said, `"tenant":"`+unserved+`"`)); n != 1 {
		t.Errorf("%d warnings that %s %s, want 1:\n%s", n, unserved, said, r.logs.String())
	}
	if n := len(r.logs.Lines(said, `"tenant":"`+served+`"`)); n != 0 {
		t.Errorf("%d warnings that %s %s, want none", n, served, said)
	}
}

// bulkAnswered reports whether tenant id answered a bulk call with 200.
func bulkAnswered(e *fleetEnv, id string) bool {
	for _, c := range e.fleet.Tenant(id).BulkCalls() {
		if c.Status == http.StatusOK {
			return true
		}
	}
	return false
}

// TestBulkFallbackIsTheRunsOwn: GET /tenants shows a fallback for the run
// that fell back (and, once it ended, while the tenant waits to be
// retried), not for the next run, which tries bulk again with its first
// call as the offsets state and the gauge say.
func TestBulkFallbackIsTheRunsOwn(t *testing.T) {
	e := newFleetEnv(t, 1, 30)
	id := e.fleet.IDs()[0]
	e.fleet.Tenant(id).SetBulkServed(false)
	r := e.start(nil)
	waitFor(t, 30*time.Second, id+" to fall back to single calls", func() bool { return r.tenants(t)[id].BulkFallback })

	e.fleet.Tenant(id).SetRevoked(true)
	waitFor(t, 30*time.Second, id+" to fail on its revoked key", func() bool { return r.tenants(t)[id].State == StateFailed })
	if s := r.tenants(t)[id]; !s.BulkFallback {
		t.Errorf("the failed run's fallback is gone while the tenant waits for its retry: %+v", s)
	}
	e.fleet.Tenant(id).SetBulkServed(true)
	e.fleet.Tenant(id).SetRevoked(false)
	waitFor(t, 60*time.Second, id+" to run again", func() bool { return r.tenants(t)[id].State == StateRunning })
	if s := r.tenants(t)[id]; s.BulkFallback {
		t.Errorf("the new run shows the previous run's fallback: %+v", s)
	}
	r.stop(t)
}
