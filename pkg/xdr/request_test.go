package xdr_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
)

func TestIncidentsRequestValidate(t *testing.T) {
	f := func(field, op string, v any) xdr.Filter { return xdr.Filter{Field: field, Operator: op, Value: v} }
	valid := []xdr.IncidentsRequest{
		{},
		{SearchFrom: 0, SearchTo: 100},
		{SearchFrom: 9900, SearchTo: 10000},
		{SearchFrom: 5, SearchTo: 5},
		{Filters: []xdr.Filter{
			xdr.ModifiedSince(1), xdr.ModifiedUntil(2), xdr.CreatedSince(3), xdr.CreatedUntil(4),
			xdr.IncidentIDs("1", "2"), xdr.StatusIn("new"), xdr.AlertSourcesIn("XDR Agent"), xdr.Starred(true),
			f(xdr.FieldIncidentID, xdr.OpEq, "891"),
			f(xdr.FieldDescription, xdr.OpContains, "powershell"),
			f(xdr.FieldDescription, xdr.OpIn, []string{"a"}),
			f(xdr.FieldStatus, xdr.OpEq, "new"),
			f(xdr.FieldStatus, xdr.OpNeq, "resolved_other"),
			f(xdr.FieldStarred, xdr.OpNeq, false),
			f(xdr.FieldModificationTime, xdr.OpGTE, 1.577e12),
			f(xdr.FieldModificationTime, xdr.OpLTE, json.Number("1577024425126")),
			f(xdr.FieldIncidentIDList, xdr.OpIn, []any{"1", "2"}),
		}},
		{Sort: &xdr.Sort{Field: xdr.FieldIncidentID, Keyword: xdr.SortDesc}},
	}
	for _, r := range valid {
		if err := r.Validate(); err != nil {
			t.Errorf("%v: %v", r, err)
		}
	}
	invalid := []xdr.IncidentsRequest{
		{SearchFrom: 0, SearchTo: 101},
		{SearchFrom: 100, SearchTo: 201},
		{SearchFrom: -1, SearchTo: 50},
		{SearchFrom: 0, SearchTo: -1},
		{SearchFrom: 10, SearchTo: 5},
		{Filters: []xdr.Filter{f("assignee", xdr.OpEq, "x")}},
		{Filters: []xdr.Filter{f(xdr.FieldModificationTime, xdr.OpEq, 1)}},
		{Filters: []xdr.Filter{f(xdr.FieldModificationTime, xdr.OpIn, []string{"1"})}},
		{Filters: []xdr.Filter{f(xdr.FieldCreationTime, xdr.OpGTE, "1577024425126")}},
		{Filters: []xdr.Filter{f(xdr.FieldCreationTime, xdr.OpGTE, 1.5)}},
		{Filters: []xdr.Filter{f(xdr.FieldIncidentIDList, xdr.OpEq, "1")}},
		{Filters: []xdr.Filter{f(xdr.FieldIncidentIDList, xdr.OpIn, "1")}},
		{Filters: []xdr.Filter{f(xdr.FieldIncidentIDList, xdr.OpIn, []string{})}},
		{Filters: []xdr.Filter{f(xdr.FieldIncidentIDList, xdr.OpIn, []any{"1", 2})}},
		{Filters: []xdr.Filter{f(xdr.FieldDescription, xdr.OpEq, "x")}},
		{Filters: []xdr.Filter{f(xdr.FieldAlertSources, xdr.OpContains, "x")}},
		{Filters: []xdr.Filter{f(xdr.FieldStarred, xdr.OpEq, "true")}},
		{Filters: []xdr.Filter{f(xdr.FieldStarred, xdr.OpIn, []string{"true"})}},
		{Filters: []xdr.Filter{f(xdr.FieldStatus, xdr.OpGTE, "new")}},
		{Filters: []xdr.Filter{f(xdr.FieldStatus, xdr.OpEq, []string{"new"})}},
		{Filters: []xdr.Filter{f(xdr.FieldIncidentID, xdr.OpEq, 891)}},
		{Filters: []xdr.Filter{xdr.ModifiedSince(1), f(xdr.FieldModificationTime, "GTE", 1)}},
		{Sort: &xdr.Sort{Field: "severity", Keyword: xdr.SortAsc}},
		{Sort: &xdr.Sort{Field: xdr.FieldCreationTime, Keyword: "ascending"}},
	}
	for _, r := range invalid {
		if err := r.Validate(); !errors.Is(err, xdr.ErrInvalidRequest) {
			t.Errorf("%v: err = %v, want ErrInvalidRequest", r, err)
		}
	}
}
