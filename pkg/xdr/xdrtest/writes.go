package xdrtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Write endpoints, as used by Inject. update_alerts lives under
// /public_api/v1/alerts/, the others under /public_api/v1/incidents/.
const (
	EndpointUpdateIncident = "update_incident"
	EndpointUpdateAlerts   = "update_alerts"
)

const alertsPrefix = "/public_api/v1/alerts/"

// maxUpdateAlerts is the most alert ids one update_alerts call takes.
const maxUpdateAlerts = 100

// Users returns the mails of the tenant's users: the only mails
// update_incident accepts as assigned_user_mail.
func (t *Tenant) Users() []string {
	out := make([]string, len(analysts))
	for i, a := range analysts {
		out[i] = a[0]
	}
	return out
}

// WriteCall is one update_incident or update_alerts request the tenant
// received and authenticated.
type WriteCall struct {
	Time     time.Time
	Endpoint string
	Body     json.RawMessage // request_data as sent
	Status   int             // HTTP status sent; 0 when the connection was reset
	// Held tells that the update was applied and its reply held
	// (FaultSlow): Status is the reply's, sent late or never.
	Held bool
}

// WriteCalls returns every authenticated write call, in the order their
// replies were decided.
func (t *Tenant) WriteCalls() []WriteCall {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.writes)
}

func (t *Tenant) recordWrite(at time.Time, endpoint string, body []byte, status int) {
	t.addWrite(at, endpoint, body, status, false)
}

func (t *Tenant) recordHeldWrite(at time.Time, endpoint string, body []byte, status int) {
	t.addWrite(at, endpoint, body, status, true)
}

func (t *Tenant) addWrite(at time.Time, endpoint string, body []byte, status int, held bool) {
	var env struct {
		RequestData json.RawMessage `json:"request_data"`
	}
	_ = json.Unmarshal(body, &env)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.writes = append(t.writes, WriteCall{Time: at, Endpoint: endpoint, Body: env.RequestData, Status: status, Held: held})
}

// applyWrite answers a write endpoint.
func (t *Tenant) applyWrite(endpoint string, body []byte) reply {
	if t.cfg.ReadOnly {
		return errReply(http.StatusForbidden, shapeReplyStrCode, 403,
			"Forbidden access. The provided API Key does not have the required RBAC permissions to run this API.",
			"the key's role may not edit incidents or alerts")
	}
	if endpoint == EndpointUpdateAlerts {
		return t.updateAlerts(body)
	}
	return t.updateIncident(body)
}

// alertEdit is what update_alerts changed of one alert; empty fields are
// unchanged.
type alertEdit struct {
	severity, status, comment string
	at                        int64
}

// applyAlertEdit overlays e on a rendered alert.
func applyAlertEdit(m map[string]any, e alertEdit) map[string]any {
	if e.at == 0 {
		return m
	}
	if e.severity != "" {
		m["severity"] = e.severity
	}
	if e.status != "" {
		m["resolution_status"] = e.status
	}
	if e.comment != "" {
		m["resolution_comment"] = e.comment
	}
	m["last_modified_ts"] = e.at
	return m
}

var manualSeverities = []string{"", "low", "medium", "high", "critical"}

// writableStatus reports whether update_incident takes status: new,
// under_investigation or any resolved_ status (tenants differ in which
// resolved_ spellings they know).
func writableStatus(s string) bool {
	return s == "new" || s == "under_investigation" || strings.HasPrefix(s, "resolved_") && len(s) > len("resolved_")
}

// updateIncident applies update_incident to the current version and stamps
// a new one at Now. Unknown incidents are Config.UnknownIncidentStatus like
// get_incident_extra_data; a mail that is no user of the tenant, a pretty
// name without a mail, an unknown manual severity or status, and a
// resolve_comment for a status that is not resolved are 400 with an error
// body, and change nothing.
func (t *Tenant) updateIncident(body []byte) reply {
	var req struct {
		IncidentID json.RawMessage `json:"incident_id"`
		UpdateData struct {
			Mail           *string `json:"assigned_user_mail"`
			PrettyName     *string `json:"assigned_user_pretty_name"`
			ManualSeverity *string `json:"manual_severity"`
			Status         *string `json:"status"`
			ResolveComment *string `json:"resolve_comment"`
			Comment        *struct {
				Action string `json:"comment_action"`
				Value  string `json:"value"`
			} `json:"comment"`
		} `json:"update_data"`
	}
	if err := decodeRequestData(body, &req); err != nil {
		return badRequest(shapeReply, err.Error())
	}
	var id string
	if json.Unmarshal(req.IncidentID, &id) != nil || id == "" {
		return errReply(http.StatusUnprocessableEntity, shapeUnprocessable, 422, "Unprocessable Entity", "incident_id must be a non-empty string")
	}
	u := req.UpdateData
	bad := func(extra string) reply { return badRequest(shapeReply, extra) }
	switch {
	case u.Mail == nil && u.PrettyName == nil && u.ManualSeverity == nil && u.Status == nil && u.ResolveComment == nil && u.Comment == nil:
		return bad("update_data is empty")
	case u.PrettyName != nil && u.Mail == nil:
		return bad("assigned_user_pretty_name requires assigned_user_mail")
	case u.Mail != nil && *u.Mail != "" && !slices.Contains(t.Users(), *u.Mail):
		return errReply(http.StatusBadRequest, shapeReplyList, 400, "Bad Request", fmt.Sprintf("user %s was not found", *u.Mail))
	case u.ManualSeverity != nil && !slices.Contains(manualSeverities, *u.ManualSeverity):
		return bad(fmt.Sprintf("manual_severity %q is not one of low, medium, high, critical", *u.ManualSeverity))
	case u.Status != nil && !writableStatus(*u.Status):
		return bad(fmt.Sprintf("status %q is not a valid incident status", *u.Status))
	case u.Comment != nil && (u.Comment.Action != "add" || strings.TrimSpace(u.Comment.Value) == ""):
		return bad("comment needs comment_action \"add\" and a value")
	}

	t.mu.Lock()
	defer t.mu.Unlock()
	inc := t.byID[id]
	now := t.nowMs()
	if inc == nil || visibleIndex(inc.snaps, now) < 0 {
		st := t.cfg.UnknownIncidentStatus
		return errReply(st, shapeReply, st, apiErrMsg, fmt.Sprintf("Incident %s was not found", id))
	}
	if inc.restricted {
		return errReply(http.StatusForbidden, shapeReplyStrCode, 403,
			"Forbidden access. The provided API Key does not have the required RBAC permissions to run this API.",
			"no permission for incident "+id)
	}
	status := inc.snaps[len(inc.snaps)-1].status
	if u.Status != nil {
		status = *u.Status
	}
	if u.ResolveComment != nil && !isResolved(status) {
		return bad(fmt.Sprintf("resolve_comment applies to resolved statuses only, and the incident's status is %s", status))
	}
	t.stamp(inc, now, now, func(s *snapshot) {
		if u.Mail != nil {
			if *u.Mail == "" {
				s.assigneeMail, s.assigneeName = nil, nil
			} else {
				s.assigneeMail, s.assigneeName = *u.Mail, nil
				for _, a := range analysts {
					if a[0] == *u.Mail {
						s.assigneeName = a[1]
					}
				}
				if u.PrettyName != nil {
					s.assigneeName = *u.PrettyName
				}
			}
		}
		if u.ManualSeverity != nil {
			if *u.ManualSeverity == "" {
				s.manualSeverity = nil
			} else {
				s.manualSeverity = *u.ManualSeverity
			}
		}
		if u.Status != nil && *u.Status != s.status {
			s.status = *u.Status
			s.resolvedAt, s.resolveComment = nil, nil
			if isResolved(s.status) {
				s.resolvedAt = s.mod
			}
		}
		if u.ResolveComment != nil {
			s.resolveComment = *u.ResolveComment
		}
		if u.Comment != nil {
			// Comments show in the incident's notes, newest last.
			if prev, ok := s.notes.(string); ok && prev != "" {
				s.notes = prev + "\n" + u.Comment.Value
			} else {
				s.notes = u.Comment.Value
			}
		}
	})
	return okReply(true)
}

// updateAlerts applies update_alerts: each listed alert the tenant knows
// takes the new severity, resolution status or comment, and the incidents
// they belong to get a new version at Now. Unknown alert ids are skipped;
// the reply lists the ids updated. More than 100 ids, none, or nothing to
// update are 400.
func (t *Tenant) updateAlerts(body []byte) reply {
	var req struct {
		AlertIDs   []json.RawMessage `json:"alert_id_list"`
		UpdateData struct {
			Severity *string `json:"severity"`
			Status   *string `json:"status"`
			Comment  *string `json:"comment"`
		} `json:"update_data"`
	}
	if err := decodeRequestData(body, &req); err != nil {
		return badRequest(shapeReply, err.Error())
	}
	u := req.UpdateData
	switch {
	case len(req.AlertIDs) == 0 || len(req.AlertIDs) > maxUpdateAlerts:
		return badRequest(shapeReply, fmt.Sprintf("alert_id_list must hold 1 to %d ids", maxUpdateAlerts))
	case u.Severity == nil && u.Status == nil && u.Comment == nil:
		return badRequest(shapeReply, "update_data is empty")
	case u.Severity != nil && !slices.Contains(manualSeverities[1:], *u.Severity):
		return badRequest(shapeReply, fmt.Sprintf("severity %q is not one of low, medium, high, critical", *u.Severity))
	}
	want := map[int64]bool{}
	for _, raw := range req.AlertIDs {
		var s string
		if json.Unmarshal(raw, &s) != nil {
			s = strings.TrimSpace(string(raw)) // a number is accepted too
		}
		if n, err := strconv.ParseInt(s, 10, 64); err == nil && n > 0 {
			want[n] = true
		}
	}

	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.nowMs()
	var ids []int64
	for _, inc := range t.incidents {
		if inc.restricted || visibleIndex(inc.snaps, now) < 0 {
			continue
		}
		var hit []int64
		for _, a := range inc.alerts {
			if a.id != 0 && want[a.id] {
				hit = append(hit, a.id)
			}
		}
		if len(hit) == 0 {
			continue
		}
		edits := make(map[int64]alertEdit, len(inc.alertEdits)+len(hit)) // copied: readers render from the old map unlocked
		for k, v := range inc.alertEdits {
			edits[k] = v
		}
		for _, id := range hit {
			e := edits[id]
			if u.Severity != nil {
				e.severity = *u.Severity
			}
			if u.Status != nil {
				e.status = *u.Status
			}
			if u.Comment != nil {
				e.comment = *u.Comment
			}
			e.at = now
			edits[id] = e
			ids = append(ids, id)
		}
		inc.alertEdits = edits
		t.stamp(inc, now, now, func(*snapshot) {})
	}
	slices.Sort(ids)
	updated := make([]string, len(ids))
	for i, id := range ids {
		updated[i] = strconv.FormatInt(id, 10)
	}
	return okReply(map[string]any{"alerts_ids": updated})
}

// paceTenant logs an authenticated call of any endpoint arriving at now in
// the tenant-wide one-second log and reports whether it may proceed: it may
// unless Config.RequestsPerSecond calls lie within (now-1s, now]. Refused
// calls are logged too. RequestsPerSecond 0 admits everything.
func (t *Tenant) paceTenant(now time.Time) bool {
	if t.cfg.RequestsPerSecond <= 0 {
		return true
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	cutoff := now.Add(-time.Second)
	i := 0
	for i < len(t.secondLog) && !t.secondLog[i].After(cutoff) {
		i++
	}
	t.secondLog = t.secondLog[i:]
	ok := len(t.secondLog) < t.cfg.RequestsPerSecond
	t.secondLog = append(t.secondLog, now)
	if !ok {
		t.countPaced429++
	}
	return ok
}

// CountPaced429 returns how many calls, of any endpoint, the tenant-wide
// budget (Config.RequestsPerSecond) refused with 429.
func (t *Tenant) CountPaced429() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.countPaced429
}

// pacedReply is the 429 of the tenant-wide budget.
func pacedReply(perSecond int) reply {
	rep := errReply(http.StatusTooManyRequests, shapeReply, 429,
		fmt.Sprintf("Rate limit exceeded: more than %d requests in one second", perSecond), "wait 1 seconds and retry your request")
	rep.retryAfter = "1"
	return rep
}
