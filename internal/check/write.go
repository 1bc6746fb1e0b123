package check

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
)

// writeProbe is the update_incident call by which check tells whether a key
// may write without changing anything: incident "0", which no tenant
// numbers, set to status new with a resolve_comment, which the API refuses
// for an open status. A role that may not edit gets 403 before either is
// looked at; one that may gets the refusal of the request itself.
var writeProbe = xdr.UpdateIncidentRequest{IncidentID: "0", Update: xdr.IncidentUpdate{
	Status: ptrTo("new"), ResolveComment: ptrTo("connector check: write permission probe; this request is invalid on purpose"),
}}

func ptrTo(s string) *string { return &s }

// probeWrite reports whether api's key may call the write endpoints.
// writable is false with a reason for a 403; err is any other failure that
// leaves it unknown (the key's read check says more).
func probeWrite(ctx context.Context, api *xdr.Client, timeout time.Duration) (writable bool, detail string, err error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	_, err = api.UpdateIncident(ctx, writeProbe)
	ae, ok := errors.AsType[*xdr.APIError](err)
	switch {
	case err == nil:
		return true, "update_incident accepted an invalid probe: the key may write", nil
	case ok && ae.Status == http.StatusForbidden:
		return false, "update_incident answered 403: the key's role may not edit incidents", nil
	case ok && (ae.Status == http.StatusBadRequest || ae.Status == http.StatusUnprocessableEntity || xdr.IncidentNotFound(err)):
		return true, fmt.Sprintf("update_incident refused the invalid probe with HTTP %d, so the key's role may edit (nothing was changed)", ae.Status), nil
	}
	return false, "", err
}

// checkWrite adds write-back's line to check's report for a tenant with
// write-back on.
func checkWrite(ctx context.Context, r *report, name string, api *xdr.Client, timeout time.Duration) {
	ok, detail, err := probeWrite(ctx, api, timeout)
	switch {
	case err != nil:
		r.fail(name+" write-back", "could not tell whether the key may write: "+err.Error(), "fix what the read check reports, then run check again")
	case ok:
		r.pass(name+" write-back", detail)
	default:
		r.fail(name+" write-back", detail, "give the key a role that may edit incidents and alerts (docs/DEPLOY.md, Write-back), or turn write-back off for this tenant (writeback: off, or WRITEBACK=off)")
	}
}
