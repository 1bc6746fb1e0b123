package xdrtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// Call is one get_incident_extra_data request the tenant received.
type Call struct {
	Time       time.Time // arrival, by Config.Now
	IncidentID string    // request_data.incident_id, "" if unreadable
	Status     int       // HTTP status sent; 0 when no reply was sent (FaultReset, or the client left during FaultSlow)
}

const apiErrMsg = "An error occurred while processing XDR public API"

// ExtraDataCalls returns every get_incident_extra_data call received,
// including unauthenticated and refused ones, in the order their replies
// were decided (sort by Time for arrival order under concurrency).
func (t *Tenant) ExtraDataCalls() []Call {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.calls)
}

// Count429 returns how many get_incident_extra_data calls the sliding window
// refused with 429. Replies forced by Inject(..., Fault429, n) are not counted:
// this number measures the client's rate limiter.
func (t *Tenant) Count429() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.count429
}

func (t *Tenant) recordCall(at time.Time, id string, status int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.calls = append(t.calls, Call{Time: at, IncidentID: id, Status: status})
}

// admit logs an authenticated get_incident_extra_data call arriving at now
// in the sliding window and reports whether it may proceed: it may unless
// RateLimit logged calls lie within (now-RateWindow, now]. Every call is
// logged, refused ones included. For a refused call it also returns the
// Retry-After value: whole seconds until a call would be admitted.
func (t *Tenant) admit(now time.Time) (bool, string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	cutoff := now.Add(-t.cfg.RateWindow)
	i := 0
	for i < len(t.window) && !t.window[i].After(cutoff) {
		i++
	}
	t.window = t.window[i:]
	ok := len(t.window) < t.cfg.RateLimit
	t.window = append(t.window, now)
	if ok {
		return true, ""
	}
	// A call at T passes when the RateLimit-th most recent logged call is
	// at or before T-RateWindow.
	wait := t.window[len(t.window)-t.cfg.RateLimit].Add(t.cfg.RateWindow).Sub(now)
	secs := max(1, int((wait+time.Second-1)/time.Second))
	return false, strconv.Itoa(secs)
}

// rateLimitedReply is the 429 reply.
func rateLimitedReply(limit int, window time.Duration, retryAfter string) reply {
	secs := strconv.FormatFloat(window.Seconds(), 'f', -1, 64)
	msg := fmt.Sprintf("Exceeded %d requests in a %s-second window", limit, secs)
	rep := errReply(http.StatusTooManyRequests, shapeReply, 429, msg, "wait "+retryAfter+" seconds and retry your request")
	rep.retryAfter = retryAfter
	return rep
}

// extraData answers get_incident_extra_data from the version visible now.
func (t *Tenant) extraData(body []byte) reply {
	var req struct {
		IncidentID  json.RawMessage `json:"incident_id"`
		AlertsLimit json.RawMessage `json:"alerts_limit"`
	}
	if err := decodeRequestData(body, &req); err != nil {
		return badRequest(shapeReply, err.Error())
	}
	var id string
	if json.Unmarshal(req.IncidentID, &id) != nil || id == "" {
		return errReply(http.StatusUnprocessableEntity, shapeUnprocessable, 422,
			"Unprocessable Entity", "incident_id must be a non-empty string")
	}
	limit := DefaultAlertsLimit
	if !isNull(req.AlertsLimit) {
		var n int
		if json.Unmarshal(req.AlertsLimit, &n) != nil || n < 0 {
			return errReply(http.StatusUnprocessableEntity, shapeUnprocessable, 422,
				"Unprocessable Entity", "alerts_limit must be a non-negative integer")
		}
		if n > 0 {
			limit = n
		}
	}

	item, fail := t.extraDataItem(id, limit)
	if fail != nil {
		return *fail
	}
	return okReply(item)
}

// extraDataItem renders the extra data of incident id as visible now, with
// at most limit alerts: the reply of get_incident_extra_data, and one item
// of get_multiple_incidents_extra_data, which has the same shape. fail is
// the error reply of get_incident_extra_data when there is no item to show:
// an injected failure, an unknown or not yet visible incident, or one the
// key may not read.
func (t *Tenant) extraDataItem(id string, limit int) (item map[string]any, fail *reply) {
	t.mu.Lock()
	if status, ok := t.failures[id]; ok {
		t.mu.Unlock()
		rep := errReply(status, shapeReplyList, status, apiErrMsg, "injected failure for incident "+id)
		return nil, &rep
	}
	inc := t.byID[id]
	i := -1
	if inc != nil {
		i = visibleIndex(inc.snaps, t.nowMs())
	}
	if i < 0 {
		t.mu.Unlock()
		st := t.cfg.UnknownIncidentStatus
		rep := errReply(st, shapeReply, st, apiErrMsg, fmt.Sprintf("Incident %s was not found", id))
		return nil, &rep
	}
	if inc.restricted {
		t.mu.Unlock()
		rep := errReply(http.StatusForbidden, shapeReplyStrCode, 403,
			"Forbidden access. The provided API Key does not have the required RBAC permissions to run this API.",
			"no permission for incident "+id)
		return nil, &rep
	}
	s := &inc.snaps[i]
	incident := renderIncident(inc, s, true)
	alerts, network, files := inc.alerts[:s.alerts], inc.network[:s.network], inc.files[:s.files]
	edits := inc.alertEdits
	t.mu.Unlock()

	// The prefixes above are never written again, so rendering can run
	// without the lock.
	data := make([]any, min(limit, len(alerts)))
	for i := range data {
		data[i] = applyAlertEdit(t.renderAlert(inc, alerts[i]), edits[alerts[i].id])
	}
	netData := make([]any, len(network))
	for i, a := range network {
		netData[i] = t.renderNetworkArtifact(a)
	}
	fileData := make([]any, len(files))
	for i, a := range files {
		fileData[i] = t.renderFileArtifact(a)
	}
	return map[string]any{
		"incident":          incident,
		"alerts":            map[string]any{"total_count": len(alerts), "data": data},
		"network_artifacts": map[string]any{"total_count": len(network), "data": netData},
		"file_artifacts":    map[string]any{"total_count": len(files), "data": fileData},
	}, nil
}

// DefaultAlertsLimit is the alerts_limit applied when a request omits it or
// sends 0.
const DefaultAlertsLimit = 1000
