// Package explain says in words why the XDR API refused a call and what to
// change: one text per HTTP status, in the two forms the connector shows
// it — the one line of a failed tenant (GET /tenants, the logs) and the
// reason and fix of `connector check`, and of `connector run` when it
// refuses to start on the first call.
package explain

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
)

// KeyRefused ends the Reason of a 401 to a standard key.
const KeyRefused = "; the tenant does not accept this key"

// status is what one HTTP status of the API means: Line, the one line of a
// failed tenant (empty: "the API answered HTTP <status>"), and why, the
// words check appends to the status and the API's message, with fix.
type status struct{ line, why, fix string }

// statuses are the API's statuses worth a word of their own. A 401 to an
// advanced key is AdvancedAuth's entry.
var statuses = map[int]status{
	http.StatusUnauthorized: {"the API rejected the key (401): check api_key_id, the key and auth_mode (standard or advanced)", KeyRefused,
		"check XDR_API_KEY_ID (the key's numeric id) and XDR_API_KEY (or XDR_API_KEY_FILE), that the key is not expired or revoked, and set XDR_AUTH_MODE=advanced if it is an advanced key"},
	http.StatusPaymentRequired: {"the tenant has no licence for the API (402)", "; the tenant lacks the licence for this API",
		"ask the tenant's administrator for the Cortex XDR / Xpanse licence that includes the public API"},
	http.StatusForbidden: {"the key's role lacks a permission (403): grant it incident read access", "; the key's role lacks a permission",
		"give the API key a role that may view incidents and alerts (the role needs incident view permission), or use another key"},
	http.StatusNotFound: {"", "; this URL does not serve the API",
		"set XDR_BASE_URL to the API URL of the tenant, https://api-<tenant-fqdn> (Settings > API Keys > Copy API URL)"},
	http.StatusBadRequest: {"", "; the tenant rejected the request",
		"check FILTER_STATUSES, FILTER_STARRED and FILTER_ALERT_SOURCES; without filters, a 400 here means XDR_BASE_URL points at something other than the API"},
	http.StatusTooManyRequests: {"", "; the tenant is rate-limiting this key",
		"another client is using this key's budget; wait a minute and check again, and give each connector its own key"},
}

// advancedUnauthorized is a 401 to an advanced key.
var advancedUnauthorized = status{why: "; with an advanced key this is most often clock skew",
	fix: "advanced keys sign the current time: sync this host's clock (NTP) with the tenant's; then check XDR_API_KEY_ID and XDR_API_KEY, and that the key is an advanced key (a standard key needs XDR_AUTH_MODE=standard)"}

// serverError is a 5xx.
var serverError = status{why: "; the tenant is unreachable or failing", fix: "retry in a few minutes; if it persists, check the tenant's status and XDR_BASE_URL"}

func of(ae *xdr.APIError) (status, bool) {
	switch s := ae.Status; {
	case s == http.StatusUnauthorized && ae.AdvancedAuth:
		st := advancedUnauthorized
		st.line = statuses[s].line
		return st, true
	case s == http.StatusUnprocessableEntity:
		return statuses[http.StatusBadRequest], true
	case s >= 500:
		return serverError, true
	}
	st, ok := statuses[ae.Status]
	return st, ok
}

// Line is the one line of a tenant that failed with ae: what the status
// means, and what to do when it says.
func Line(ae *xdr.APIError) string {
	if st, _ := of(ae); st.line != "" {
		return st.line
	}
	return fmt.Sprintf("the API answered HTTP %d", ae.Status)
}

// Call explains a failed call of endpoint by its *xdr.APIError: the status,
// the API's message (or the status text) and its extra detail, what it
// means, and what to change. ok is false for an error that is not an
// *xdr.APIError.
func Call(err error, endpoint string) (reason, fix string, ok bool) {
	ae, ok := errors.AsType[*xdr.APIError](err)
	if !ok {
		return "", "", false
	}
	reason = fmt.Sprintf("HTTP %d from %s", ae.Status, endpoint)
	msg := ae.Message
	if msg == "" {
		msg = http.StatusText(ae.Status)
	}
	if msg != "" {
		reason += ": " + msg
	}
	if ae.Extra != "" {
		reason += " (" + ae.Extra + ")"
	}
	if st, known := of(ae); known {
		return reason + st.why, st.fix, true
	}
	return reason, "check XDR_BASE_URL and the key", true
}
