package xdr

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
)

// Filter builders. Each returns a clause that Validate accepts.

// ModifiedSince matches incidents modified at or after ms (epoch milliseconds).
func ModifiedSince(ms int64) Filter {
	return Filter{Field: FieldModificationTime, Operator: OpGTE, Value: ms}
}

// ModifiedUntil matches incidents modified at or before ms (epoch milliseconds).
func ModifiedUntil(ms int64) Filter {
	return Filter{Field: FieldModificationTime, Operator: OpLTE, Value: ms}
}

// CreatedSince matches incidents created at or after ms (epoch milliseconds).
func CreatedSince(ms int64) Filter {
	return Filter{Field: FieldCreationTime, Operator: OpGTE, Value: ms}
}

// CreatedUntil matches incidents created at or before ms (epoch milliseconds).
func CreatedUntil(ms int64) Filter {
	return Filter{Field: FieldCreationTime, Operator: OpLTE, Value: ms}
}

// IncidentIDs matches the listed incident ids.
func IncidentIDs(ids ...string) Filter {
	return Filter{Field: FieldIncidentIDList, Operator: OpIn, Value: slices.Clone(ids)}
}

// StatusIn matches incidents in any of the listed statuses.
func StatusIn(statuses ...string) Filter {
	return Filter{Field: FieldStatus, Operator: OpIn, Value: slices.Clone(statuses)}
}

// AlertSourcesIn matches incidents with alerts from any of the listed sources.
func AlertSourcesIn(sources ...string) Filter {
	return Filter{Field: FieldAlertSources, Operator: OpIn, Value: slices.Clone(sources)}
}

// Starred matches incidents whose starred flag equals starred.
func Starred(starred bool) Filter {
	return Filter{Field: FieldStarred, Operator: OpEq, Value: starred}
}

// valueKind is the shape of value a field/operator pair takes.
type valueKind int

const (
	kindTime valueKind = iota + 1 // integer epoch milliseconds
	kindStrings
	kindString
	kindBool
)

// filterKind is the documented field/operator table of get_incidents: the
// value shape a pair takes, and whether the pair exists at all.
func filterKind(field, op string) (kind valueKind, fieldKnown, pairKnown bool) {
	switch field {
	case FieldModificationTime, FieldCreationTime:
		return pick(op, map[string]valueKind{OpGTE: kindTime, OpLTE: kindTime})
	case FieldIncidentIDList, FieldAlertSources:
		return pick(op, map[string]valueKind{OpIn: kindStrings})
	case FieldIncidentID:
		return pick(op, map[string]valueKind{OpEq: kindString, OpNeq: kindString})
	case FieldDescription:
		return pick(op, map[string]valueKind{OpContains: kindString, OpIn: kindStrings})
	case FieldStatus:
		return pick(op, map[string]valueKind{OpEq: kindString, OpNeq: kindString, OpIn: kindStrings})
	case FieldStarred:
		return pick(op, map[string]valueKind{OpEq: kindBool, OpNeq: kindBool})
	}
	return 0, false, false
}

func pick(op string, ops map[string]valueKind) (valueKind, bool, bool) {
	k, ok := ops[op]
	return k, true, ok
}

// sortable reports whether get_incidents can sort by field.
func sortable(field string) bool {
	switch field {
	case FieldCreationTime, FieldIncidentID, FieldModificationTime:
		return true
	}
	return false
}

// Validate checks r against the documented limits before any I/O: offsets
// must not be negative, SearchTo must not be below SearchFrom, and a page may
// span at most MaxPageSize; each filter must use a documented field/operator
// pair with a value of the right shape (times are integers; lists are non-empty
// lists of strings); the sort field and keyword must be documented ones.
// Errors wrap ErrInvalidRequest.
func (r IncidentsRequest) Validate() error {
	switch {
	case r.SearchFrom < 0 || r.SearchTo < 0:
		return fmt.Errorf("%w: negative offset (search_from %d, search_to %d)", ErrInvalidRequest, r.SearchFrom, r.SearchTo)
	case r.SearchTo < r.SearchFrom:
		return fmt.Errorf("%w: search_to %d is below search_from %d", ErrInvalidRequest, r.SearchTo, r.SearchFrom)
	case r.SearchTo-r.SearchFrom > MaxPageSize:
		return fmt.Errorf("%w: page of %d incidents exceeds the maximum of %d", ErrInvalidRequest, r.SearchTo-r.SearchFrom, MaxPageSize)
	}
	for i, f := range r.Filters {
		if err := f.validate(); err != nil {
			return fmt.Errorf("%w: filter %d: %w", ErrInvalidRequest, i, err)
		}
	}
	if r.Sort != nil {
		if !sortable(r.Sort.Field) {
			return fmt.Errorf("%w: cannot sort by %q (want %s, %s or %s)", ErrInvalidRequest, r.Sort.Field,
				FieldCreationTime, FieldIncidentID, FieldModificationTime)
		}
		if r.Sort.Keyword != SortAsc && r.Sort.Keyword != SortDesc {
			return fmt.Errorf("%w: sort keyword %q is neither %s nor %s", ErrInvalidRequest, r.Sort.Keyword, SortAsc, SortDesc)
		}
	}
	return nil
}

func (f Filter) validate() error {
	kind, fieldKnown, pairKnown := filterKind(f.Field, f.Operator)
	switch {
	case !fieldKnown:
		return fmt.Errorf("unknown field %q", f.Field)
	case !pairKnown:
		return fmt.Errorf("field %q does not take operator %q", f.Field, f.Operator)
	}
	var good bool
	switch kind {
	case kindTime:
		good = isInteger(f.Value)
	case kindString:
		_, good = f.Value.(string)
	case kindBool:
		_, good = f.Value.(bool)
	case kindStrings:
		good = isStringList(f.Value)
	}
	if !good {
		return fmt.Errorf("%s %s takes %s, not %T", f.Field, f.Operator, kind, f.Value)
	}
	return nil
}

func (k valueKind) String() string {
	switch k {
	case kindTime:
		return "an integer (epoch milliseconds)"
	case kindStrings:
		return "a non-empty list of strings"
	case kindString:
		return "a string"
	case kindBool:
		return "a boolean"
	}
	return "nothing"
}

func isInteger(v any) bool {
	switch x := v.(type) {
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		return true
	case float64:
		return x == math.Trunc(x) && !math.IsInf(x, 0)
	case json.Number:
		_, err := x.Int64()
		return err == nil
	}
	return false
}

func isStringList(v any) bool {
	switch x := v.(type) {
	case []string:
		return len(x) > 0
	case []any:
		for _, e := range x {
			if _, ok := e.(string); !ok {
				return false
			}
		}
		return len(x) > 0
	}
	return false
}

// Validate checks r before any I/O: IncidentID must be non-empty and
// AlertsLimit must not be negative (0 means DefaultAlertsLimit). Errors wrap
// ErrInvalidRequest.
func (r ExtraDataRequest) Validate() error {
	if strings.TrimSpace(r.IncidentID) == "" {
		return fmt.Errorf("%w: empty incident_id", ErrInvalidRequest)
	}
	if r.AlertsLimit < 0 {
		return fmt.Errorf("%w: negative alerts_limit %d", ErrInvalidRequest, r.AlertsLimit)
	}
	return nil
}
