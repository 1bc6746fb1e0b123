package xdrtest

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// maxPage is the most incidents one get_incidents call may ask for.
const maxPage = 100

// decodeRequestData decodes body's request_data into v, rejecting unknown
// fields so that a client's typo fails loudly.
func decodeRequestData(body []byte, v any) error {
	var env map[string]json.RawMessage
	if err := json.Unmarshal(body, &env); err != nil {
		return fmt.Errorf("decoding body: %w", err)
	}
	rd, ok := env["request_data"]
	if !ok || isNull(rd) {
		return errors.New("request_data is required")
	}
	dec := json.NewDecoder(bytes.NewReader(rd))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("decoding request_data: %w", err)
	}
	return nil
}

func isNull(raw json.RawMessage) bool {
	s := bytes.TrimSpace(raw)
	return len(s) == 0 || string(s) == "null"
}

type filterClause struct {
	Field    string          `json:"field"`
	Operator string          `json:"operator"`
	Value    json.RawMessage `json:"value"`
}

type sortClause struct {
	Field   string `json:"field"`
	Keyword string `json:"keyword"`
}

type incidentsRequest struct {
	Filters    []filterClause `json:"filters"`
	SearchFrom *int           `json:"search_from"`
	SearchTo   *int           `json:"search_to"`
	Sort       *sortClause    `json:"sort"`
}

// row is an incident as a query sees it.
type row struct {
	inc *incident
	s   *snapshot
}

type predicate func(row) bool

// compileFilter turns one clause into a predicate, or explains why the API
// would reject it.
func compileFilter(f filterClause) (predicate, error) {
	if isNull(f.Value) {
		return nil, fmt.Errorf("filter %q: value is required", f.Field)
	}
	badOp := func() (predicate, error) {
		return nil, fmt.Errorf("filter %q: operator %q is not supported for this field", f.Field, f.Operator)
	}
	badValue := func(want string) (predicate, error) {
		return nil, fmt.Errorf("filter %q: value must be %s", f.Field, want)
	}
	strings1 := func() ([]string, bool) {
		var v []string
		return v, json.Unmarshal(f.Value, &v) == nil
	}
	str := func() (string, bool) {
		var v string
		return v, json.Unmarshal(f.Value, &v) == nil
	}
	switch f.Field {
	case "modification_time", "creation_time":
		var v int64
		if json.Unmarshal(f.Value, &v) != nil {
			return badValue("an integer of epoch milliseconds")
		}
		get := func(r row) int64 { return r.inc.creation }
		if f.Field == "modification_time" {
			get = func(r row) int64 { return r.s.mod }
		}
		switch f.Operator {
		case "gte":
			return func(r row) bool { return get(r) >= v }, nil
		case "lte":
			return func(r row) bool { return get(r) <= v }, nil
		}
		return badOp()
	case "incident_id_list", "alert_sources":
		if f.Operator != "in" {
			return badOp()
		}
		list, ok := strings1()
		if !ok {
			return badValue("a list of strings")
		}
		if f.Field == "incident_id_list" {
			return func(r row) bool { return slices.Contains(list, r.inc.id) }, nil
		}
		return func(r row) bool {
			return slices.ContainsFunc(r.inc.sources, func(s string) bool { return slices.Contains(list, s) })
		}, nil
	case "status":
		switch f.Operator {
		case "in":
			list, ok := strings1()
			if !ok {
				return badValue("a list of strings")
			}
			return func(r row) bool { return slices.Contains(list, r.s.status) }, nil
		case "eq", "neq":
			v, ok := str()
			if !ok {
				return badValue("a string")
			}
			eq := f.Operator == "eq"
			return func(r row) bool { return (r.s.status == v) == eq }, nil
		}
		return badOp()
	case "description":
		switch f.Operator {
		case "contains":
			// Documented both as a string and as a list of strings; a list
			// matches when any item is a substring. Case-insensitive.
			var list []string
			if v, ok := str(); ok {
				list = []string{v}
			} else if list, ok = strings1(); !ok {
				return badValue("a string or a list of strings")
			}
			for i := range list {
				list[i] = strings.ToLower(list[i])
			}
			return func(r row) bool {
				d := strings.ToLower(r.inc.description)
				return slices.ContainsFunc(list, func(sub string) bool { return strings.Contains(d, sub) })
			}, nil
		case "in":
			list, ok := strings1()
			if !ok {
				return badValue("a list of strings")
			}
			return func(r row) bool { return slices.Contains(list, r.inc.description) }, nil
		}
		return badOp()
	case "starred":
		if f.Operator != "eq" && f.Operator != "neq" {
			return badOp()
		}
		var v bool
		if json.Unmarshal(f.Value, &v) != nil {
			return badValue("a boolean")
		}
		eq := f.Operator == "eq"
		return func(r row) bool { return (r.s.starred == v) == eq }, nil
	case "incident_id":
		if f.Operator != "eq" && f.Operator != "neq" {
			return badOp()
		}
		v, ok := str()
		if !ok {
			return badValue("a string")
		}
		eq := f.Operator == "eq"
		return func(r row) bool { return (r.inc.id == v) == eq }, nil
	}
	return nil, fmt.Errorf("unsupported filter field %q", f.Field)
}

// orderBy returns the comparison for a sort clause: the field in the given
// direction, ties broken by numeric incident id ascending.
func orderBy(field string, desc bool) func(a, b row) int {
	return func(a, b row) int {
		var c int
		switch field {
		case "modification_time":
			c = cmp.Compare(a.s.mod, b.s.mod)
		case "incident_id":
			c = cmp.Compare(a.inc.num, b.inc.num)
		default:
			c = cmp.Compare(a.inc.creation, b.inc.creation)
		}
		if desc {
			c = -c
		}
		if c != 0 {
			return c
		}
		return cmp.Compare(a.inc.num, b.inc.num)
	}
}

func badRequest(shape errShape, extra string) reply {
	return errReply(http.StatusBadRequest, shape, 400, "Bad Request. Got an invalid JSON.", extra)
}

// getIncidents answers get_incidents from the versions visible now.
func (t *Tenant) getIncidents(body []byte) reply {
	var req incidentsRequest
	if err := decodeRequestData(body, &req); err != nil {
		return badRequest(shapeReply, err.Error())
	}
	preds := make([]predicate, 0, len(req.Filters))
	for _, f := range req.Filters {
		p, err := compileFilter(f)
		if err != nil {
			return badRequest(shapeTopLevel, err.Error())
		}
		preds = append(preds, p)
	}
	from, to := 0, maxPage
	if req.SearchFrom != nil {
		from = *req.SearchFrom
		to = from + maxPage
	}
	if req.SearchTo != nil {
		to = *req.SearchTo
	}
	switch {
	case from < 0 || to < 0:
		return badRequest(shapeReplyList, "search_from and search_to must not be negative")
	case to < from:
		return badRequest(shapeReplyList, "search_to must not be less than search_from")
	case to-from > maxPage:
		return badRequest(shapeReplyList, fmt.Sprintf("search_to - search_from must be at most %d, got %d", maxPage, to-from))
	}
	field, desc := "creation_time", false
	if req.Sort != nil {
		switch req.Sort.Field {
		case "creation_time", "incident_id", "modification_time":
			field = req.Sort.Field
		default:
			return badRequest(shapeTopLevel, fmt.Sprintf("unsupported sort field %q", req.Sort.Field))
		}
		switch strings.ToLower(req.Sort.Keyword) {
		case "asc":
		case "desc":
			desc = true
		default:
			return badRequest(shapeTopLevel, fmt.Sprintf("unsupported sort keyword %q", req.Sort.Keyword))
		}
	}

	t.mu.Lock()
	now := t.nowMs()
	var rows, restricted []row
	for _, inc := range t.incidents {
		i := visibleIndex(inc.snaps, now)
		if i < 0 {
			continue // its first version is not indexed yet
		}
		r := row{inc: inc, s: &inc.snaps[i]}
		if !all(preds, r) {
			continue
		}
		if inc.restricted {
			restricted = append(restricted, r)
		} else {
			rows = append(rows, r)
		}
	}
	order := orderBy(field, desc)
	slices.SortFunc(rows, order)
	slices.SortFunc(restricted, order)
	page := rows[min(from, len(rows)):min(to, len(rows))]
	incidents := make([]any, len(page))
	for i, r := range page {
		incidents[i] = renderIncident(r.inc, r.s, false)
	}
	restrictedIDs := make([]string, len(restricted))
	for i, r := range restricted {
		restrictedIDs[i] = r.inc.id
	}
	t.mu.Unlock()

	total := len(rows)
	if t.cfg.TotalCountCap > 0 {
		total = min(total, t.cfg.TotalCountCap)
	}
	out := map[string]any{
		"total_count":  total,
		"result_count": len(incidents),
		"incidents":    incidents,
	}
	if len(rows) > 0 || len(restricted) > 0 {
		// An empty poll comes back without the key, as observed.
		out["restricted_incident_ids"] = restrictedIDs
	}
	return okReply(out)
}

func all(preds []predicate, r row) bool {
	for _, p := range preds {
		if !p(r) {
			return false
		}
	}
	return true
}
