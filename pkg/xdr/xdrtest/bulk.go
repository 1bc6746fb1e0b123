package xdrtest

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"time"
)

// EndpointMultipleExtraData is the bulk extra-data endpoint, as used by
// Inject.
const EndpointMultipleExtraData = "get_multiple_incidents_extra_data"

// DefaultAlertsLimitPerIncident is the alerts_limit_per_incident of a tenant
// whose Config leaves it zero: the value seen on real tenants.
const DefaultAlertsLimitPerIncident = 50

// maxBulkIncidents is the largest search_to the bulk endpoint accepts.
const maxBulkIncidents = 100

// BulkCall is one get_multiple_incidents_extra_data request the tenant
// received.
type BulkCall struct {
	Time        time.Time // arrival, by Config.Now
	IncidentIDs []string  // the incident_id_list filter's ids, nil if unreadable
	Status      int       // HTTP status sent; 0 when no reply was sent
}

// BulkCalls returns every get_multiple_incidents_extra_data call received,
// refused ones included, in the order their replies were decided.
func (t *Tenant) BulkCalls() []BulkCall {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.bulkCalls)
}

// BulkCount429 returns how many bulk calls the bulk endpoint's own sliding
// window (BulkRateLimit per BulkRateWindow) refused with 429.
func (t *Tenant) BulkCount429() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.bulk429
}

// SetBulkServed switches the bulk endpoint on or off. Off, the tenant answers
// it as a tenant without the endpoint does, with the API gateway's 404 for
// an unknown path, and logs no call.
func (t *Tenant) SetBulkServed(on bool) { t.noBulk.Store(!on) }

// AlertsLimitPerIncident returns the most alerts one bulk item carries.
func (t *Tenant) AlertsLimitPerIncident() int { return t.cfg.AlertsLimitPerIncident }

func (t *Tenant) recordBulkCall(at time.Time, ids []string, status int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.bulkCalls = append(t.bulkCalls, BulkCall{Time: at, IncidentIDs: ids, Status: status})
}

// admitBulk is admit for the bulk endpoint's own window.
func (t *Tenant) admitBulk(now time.Time) (bool, string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	ok, wait := slide(&t.bulkWindow, now, t.cfg.BulkRateLimit, t.cfg.BulkRateWindow)
	if !ok {
		t.bulk429++
	}
	return ok, wait
}

// slide logs a call arriving at now in a sliding window of at most limit
// calls per window and reports whether it may proceed; for a refused call it
// also returns the Retry-After value, whole seconds until a call would pass.
func slide(log *[]time.Time, now time.Time, limit int, window time.Duration) (bool, string) {
	cutoff := now.Add(-window)
	w := *log
	i := 0
	for i < len(w) && !w[i].After(cutoff) {
		i++
	}
	w = append(w[i:], now)
	*log = w
	if len(w) <= limit {
		return true, ""
	}
	wait := w[len(w)-1-limit].Add(window).Sub(now)
	secs := max(1, int((wait+time.Second-1)/time.Second))
	return false, strconv.Itoa(secs)
}

// peekBulkIDs extracts the incident_id_list filter's ids for the call log.
func peekBulkIDs(body []byte) []string {
	var req bulkRequest
	if decodeRequestData(body, &req) != nil {
		return nil
	}
	ids, _ := req.ids()
	return ids
}

type bulkRequest struct {
	Filters []struct {
		Field    string          `json:"field"`
		Operator string          `json:"operator"`
		Value    json.RawMessage `json:"value"`
	} `json:"filters"`
	SearchFrom int `json:"search_from"`
	SearchTo   int `json:"search_to"`
	Sort       *struct {
		Field   string `json:"field"`
		Keyword string `json:"keyword"`
	} `json:"sort"`
	FieldsToExclude      []string `json:"fields_to_exclude"`
	AlertFieldsToExclude []string `json:"alert_fields_to_exclude"`
	DropNulls            bool     `json:"drop_nulls"`
}

// ids returns the ids of the incident_id_list "in" filter; ok is false when
// there is none or its value is not a list of strings.
func (r bulkRequest) ids() (ids []string, ok bool) {
	for _, f := range r.Filters {
		if f.Field != "incident_id_list" || f.Operator != "in" {
			continue
		}
		if json.Unmarshal(f.Value, &ids) != nil {
			return nil, false
		}
		return ids, true
	}
	return nil, false
}

// multipleExtraData answers get_multiple_incidents_extra_data: the asked
// incidents visible now and readable by the key, oldest first, each exactly
// as get_incident_extra_data would render it but with at most
// AlertsLimitPerIncident alerts (alerts.total_count still counts them all).
// Incidents unknown, not yet visible, restricted or with an injected failure
// are absent.
func (t *Tenant) multipleExtraData(body []byte) reply {
	var req bulkRequest
	if err := decodeRequestData(body, &req); err != nil {
		return badRequest(shapeReply, err.Error())
	}
	ids, ok := req.ids()
	if !ok || len(ids) == 0 {
		return errReply(http.StatusUnprocessableEntity, shapeUnprocessable, 422,
			"Unprocessable Entity", "an incident_id_list filter with operator in and a non-empty list is required")
	}
	if req.SearchTo-req.SearchFrom > maxBulkIncidents || req.SearchFrom < 0 {
		return errReply(http.StatusUnprocessableEntity, shapeUnprocessable, 422,
			"Unprocessable Entity", "search_to - search_from must be at most 100")
	}
	type found struct {
		created int64
		id      string
		item    map[string]any
	}
	var items []found
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			continue
		}
		seen[id] = true
		item, fail := t.extraDataItem(id, t.cfg.AlertsLimitPerIncident)
		if fail != nil {
			continue
		}
		t.mu.Lock()
		created := t.byID[id].creation
		t.mu.Unlock()
		items = append(items, found{created, id, item})
	}
	slices.SortStableFunc(items, func(a, b found) int {
		if a.created != b.created {
			return int(a.created - b.created)
		}
		return 0
	})
	total := len(items)
	if to := req.SearchTo; to > 0 && to-req.SearchFrom < len(items) {
		items = items[min(req.SearchFrom, len(items)):to]
	} else if req.SearchFrom > 0 {
		items = items[min(req.SearchFrom, len(items)):]
	}
	out := make([]any, len(items))
	for i, f := range items {
		out[i] = f.item
	}
	return okReply(map[string]any{
		"total_count":               total,
		"result_count":              len(out),
		"alerts_limit_per_incident": t.cfg.AlertsLimitPerIncident,
		"incidents":                 out,
	})
}
