package xdrtest_test

import (
	"cmp"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr/xdrtest"
)

func TestFilters(t *testing.T) {
	tn, _ := newTenant(xdrtest.Config{Seed: 7, Incidents: 150})
	all := queryAll(t, tn, nil, nil).incidents
	if len(all) != 150 {
		t.Fatalf("unfiltered listing has %d incidents, want 150", len(all))
	}
	mods := make([]int64, len(all))
	for i, inc := range all {
		mods[i] = num(t, inc["modification_time"])
	}
	slices.Sort(mods)
	midMod := mods[len(mods)/2]
	midCreate := num(t, all[len(all)/2]["creation_time"])
	someIDs := []any{ids(all)[3], ids(all)[40], ids(all)[77], "1"}
	oneDesc := all[10]["description"].(string)
	oneID := ids(all)[20]

	str := func(inc map[string]any, k string) string { s, _ := inc[k].(string); return s }
	hasSource := func(inc map[string]any, src string) bool {
		return slices.Contains(asList(inc["incident_sources"]), any(src))
	}

	tests := []struct {
		name    string
		filters []any
		want    func(map[string]any) bool
	}{
		{"modification_time gte", []any{filter("modification_time", "gte", midMod)},
			func(i map[string]any) bool { return num(t, i["modification_time"]) >= midMod }},
		{"modification_time lte", []any{filter("modification_time", "lte", midMod)},
			func(i map[string]any) bool { return num(t, i["modification_time"]) <= midMod }},
		{"creation_time range", []any{filter("creation_time", "gte", midCreate-3_600_000), filter("creation_time", "lte", midCreate)},
			func(i map[string]any) bool {
				c := num(t, i["creation_time"])
				return c >= midCreate-3_600_000 && c <= midCreate
			}},
		{"incident_id_list in", []any{filter("incident_id_list", "in", someIDs)},
			func(i map[string]any) bool { return slices.Contains(someIDs, any(i["incident_id"])) }},
		{"alert_sources in", []any{filter("alert_sources", "in", []string{"XDR BIOC", "PAN NGFW"})},
			func(i map[string]any) bool { return hasSource(i, "XDR BIOC") || hasSource(i, "PAN NGFW") }},
		{"status in", []any{filter("status", "in", []string{"new", "under_investigation"})},
			func(i map[string]any) bool { s := str(i, "status"); return s == "new" || s == "under_investigation" }},
		{"status eq", []any{filter("status", "eq", "new")},
			func(i map[string]any) bool { return str(i, "status") == "new" }},
		{"status neq", []any{filter("status", "neq", "new")},
			func(i map[string]any) bool { return str(i, "status") != "new" }},
		{"description contains, any case", []any{filter("description", "contains", "lsass")},
			func(i map[string]any) bool { return strings.Contains(strings.ToLower(str(i, "description")), "lsass") }},
		{"description in", []any{filter("description", "in", []string{oneDesc})},
			func(i map[string]any) bool { return str(i, "description") == oneDesc }},
		{"starred eq", []any{filter("starred", "eq", true)},
			func(i map[string]any) bool { return i["starred"] == true }},
		{"starred neq", []any{filter("starred", "neq", true)},
			func(i map[string]any) bool { return i["starred"] == false }},
		{"incident_id eq", []any{filter("incident_id", "eq", oneID)},
			func(i map[string]any) bool { return i["incident_id"] == oneID }},
		{"incident_id neq", []any{filter("incident_id", "neq", oneID)},
			func(i map[string]any) bool { return i["incident_id"] != oneID }},
		{"filters are ANDed", []any{
			filter("status", "in", []string{"new", "under_investigation", "resolved_other"}),
			filter("starred", "eq", false),
			filter("modification_time", "gte", midMod),
		}, func(i map[string]any) bool {
			s := str(i, "status")
			return (s == "new" || s == "under_investigation" || s == "resolved_other") &&
				i["starred"] == false && num(t, i["modification_time"]) >= midMod
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var want []string
			for _, inc := range all {
				if tc.want(inc) {
					want = append(want, inc["incident_id"].(string))
				}
			}
			if len(want) == 0 || len(want) == len(all) {
				t.Fatalf("case selects %d of %d incidents: it cannot tell a broken filter from a working one", len(want), len(all))
			}
			got := queryAll(t, tn, tc.filters, nil)
			if !slices.Equal(ids(got.incidents), want) {
				t.Errorf("got %v\nwant %v", ids(got.incidents), want)
			}
			if got.total != len(want) {
				t.Errorf("total_count %d, want %d", got.total, len(want))
			}
		})
	}
}

func TestBadRequests(t *testing.T) {
	tn, _ := newTenant(xdrtest.Config{Incidents: 5})
	tests := []struct {
		name string
		rd   any
	}{
		{"page of 101", map[string]any{"search_from": 0, "search_to": 101}},
		{"page of 101 deep", map[string]any{"search_from": 500, "search_to": 601}},
		{"search_to before search_from", map[string]any{"search_from": 10, "search_to": 5}},
		{"negative offset", map[string]any{"search_from": -1, "search_to": 10}},
		{"unknown field", map[string]any{"filters": []any{filter("severity", "eq", "high")}}},
		{"misspelt field", map[string]any{"filters": []any{filter("icident_id", "eq", "1")}}},
		{"unknown operator", map[string]any{"filters": []any{filter("status", "like", "new")}}},
		{"operator not for field", map[string]any{"filters": []any{filter("creation_time", "eq", 1)}}},
		{"time as string", map[string]any{"filters": []any{filter("modification_time", "gte", "1700000000000")}}},
		{"time as float", map[string]any{"filters": []any{filter("modification_time", "gte", 1.5)}}},
		{"eq with a list", map[string]any{"filters": []any{filter("status", "eq", []string{"new"})}}},
		{"in with a string", map[string]any{"filters": []any{filter("incident_id_list", "in", "1")}}},
		{"starred as string", map[string]any{"filters": []any{filter("starred", "eq", "true")}}},
		{"null value", map[string]any{"filters": []any{filter("status", "eq", nil)}}},
		{"unknown sort field", map[string]any{"sort": map[string]any{"field": "severity", "keyword": "asc"}}},
		{"unknown sort keyword", map[string]any{"sort": map[string]any{"field": "creation_time", "keyword": "up"}}},
		{"unknown request_data key", map[string]any{"search_form": 0}},
		{"no request_data", []byte(`{"filters":[]}`)},
		{"not JSON", []byte(`{"request_data":`)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := call(t, tn, "get_incidents", tc.rd)
			if r.status != http.StatusBadRequest {
				t.Fatalf("status %d, want 400: %s", r.status, r.body)
			}
			if code := r.errCode(t); code != "400" {
				t.Errorf("err_code %q, want 400", code)
			}
		})
	}
	for _, rd := range []any{
		map[string]any{"search_from": 0, "search_to": 100},
		map[string]any{"search_from": 500, "search_to": 600},
		map[string]any{"search_from": 7},
		map[string]any{},
	} {
		if r := call(t, tn, "get_incidents", rd); r.status != http.StatusOK {
			t.Errorf("%v: status %d: %s", rd, r.status, r.body)
		}
	}
}

func TestSort(t *testing.T) {
	tn, _ := newTenant(xdrtest.Config{Seed: 3, Incidents: 230})
	base := queryAll(t, tn, nil, nil).incidents
	var below, above bool
	for _, inc := range base {
		n := idNum(t, inc)
		below, above = below || n < 1000, above || n >= 1000
	}
	if !below || !above {
		t.Fatal("generated ids do not cross 1000: numeric and string order would agree")
	}
	for _, field := range []string{"creation_time", "incident_id", "modification_time"} {
		for _, kw := range []string{"asc", "desc"} {
			t.Run(field+" "+kw, func(t *testing.T) {
				got := queryAll(t, tn, nil, map[string]any{"field": field, "keyword": kw}).incidents
				if len(got) != len(base) {
					t.Fatalf("%d incidents, want %d", len(got), len(base))
				}
				key := func(inc map[string]any) int64 {
					if field == "incident_id" {
						return idNum(t, inc)
					}
					return num(t, inc[field])
				}
				ties := 0
				for i := 1; i < len(got); i++ {
					a, b := got[i-1], got[i]
					c := cmp.Compare(key(a), key(b))
					if kw == "desc" {
						c = -c
					}
					if c == 0 {
						ties++
						c = cmp.Compare(idNum(t, a), idNum(t, b))
					}
					if c >= 0 {
						t.Fatalf("out of order at %d: %v then %v", i, a["incident_id"], b["incident_id"])
					}
				}
				if field != "incident_id" && ties == 0 {
					t.Errorf("no ties on %s: the tie-break is untested", field)
				}
			})
		}
	}
	// Numeric, not string, order.
	got := queryAll(t, tn, nil, map[string]any{"field": "incident_id", "keyword": "asc"}).incidents
	if slices.IsSorted(ids(got)) {
		t.Error("incident_id asc came back in string order")
	}
}

func TestPaging(t *testing.T) {
	tn, _ := newTenant(xdrtest.Config{Seed: 5, Incidents: 250})
	sort := map[string]any{"field": "incident_id", "keyword": "asc"}
	var seen []string
	for from := 0; from < 300; from += 100 {
		rep := call(t, tn, "get_incidents", map[string]any{"search_from": from, "search_to": from + 100, "sort": sort}).reply(t)
		if n := num(t, rep["total_count"]); n != 250 {
			t.Fatalf("total_count %d, want 250", n)
		}
		page := asList(rep["incidents"])
		wantLen := min(100, 250-from)
		if len(page) != wantLen || num(t, rep["result_count"]) != int64(wantLen) {
			t.Fatalf("page at %d has %d incidents (result_count %v), want %d", from, len(page), rep["result_count"], wantLen)
		}
		for _, inc := range page {
			seen = append(seen, inc.(map[string]any)["incident_id"].(string))
		}
	}
	want := tn.IncidentIDs()
	if !slices.Equal(seen, want) {
		t.Fatalf("pages concatenated differ from the incident list:\n%v\n%v", seen, want)
	}
	// A short window returns exactly that slice.
	rep := call(t, tn, "get_incidents", map[string]any{"search_from": 10, "search_to": 13, "sort": sort}).reply(t)
	if got := ids(toMaps(asList(rep["incidents"]))); !slices.Equal(got, want[10:13]) {
		t.Fatalf("window [10,13) = %v, want %v", got, want[10:13])
	}
}

func toMaps(l []any) []map[string]any {
	out := make([]map[string]any, len(l))
	for i, v := range l {
		out[i] = v.(map[string]any)
	}
	return out
}

func TestEmptyPoll(t *testing.T) {
	tn, clk := newTenant(xdrtest.Config{Incidents: 10})
	rep := call(t, tn, "get_incidents", map[string]any{
		"filters": []any{filter("modification_time", "gte", clk.Now().UnixMilli()+1)},
	}).reply(t)
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range rep {
			if !yield(k) {
				return
			}
		}
	})
	if !slices.Equal(keys, []string{"incidents", "result_count", "total_count"}) {
		t.Fatalf("empty poll has keys %v", keys)
	}
	if len(asList(rep["incidents"])) != 0 || rep["incidents"] == nil {
		t.Fatalf("incidents = %v, want []", rep["incidents"])
	}
}

func TestRestricted(t *testing.T) {
	tn, _ := newTenant(xdrtest.Config{Seed: 9, Incidents: 120, RestrictedFraction: 0.3})
	got := queryAll(t, tn, nil, nil)
	if len(got.restricted) == 0 || len(got.incidents) == 0 {
		t.Fatalf("%d restricted, %d visible: want both", len(got.restricted), len(got.incidents))
	}
	for _, id := range ids(got.incidents) {
		if tr, _ := tn.Truth(id); tr.Restricted {
			t.Errorf("restricted incident %s returned in full", id)
		}
	}
	for _, id := range got.restricted {
		if tr, _ := tn.Truth(id); !tr.Restricted {
			t.Errorf("unrestricted incident %s listed as restricted", id)
		}
	}
	if got.total != len(got.incidents) {
		t.Errorf("total_count %d counts restricted incidents (%d visible)", got.total, len(got.incidents))
	}
	union := append(ids(got.incidents), got.restricted...)
	slices.Sort(union)
	all := tn.IncidentIDs()
	slices.Sort(all)
	if !slices.Equal(union, all) {
		t.Fatalf("visible + restricted = %d ids, want all %d", len(union), len(all))
	}

	// Filters apply to restricted incidents too.
	rid, vid := got.restricted[0], ids(got.incidents)[0]
	rep := call(t, tn, "get_incidents", map[string]any{
		"filters": []any{filter("incident_id_list", "in", []string{rid, vid})},
	}).reply(t)
	if r := asList(rep["restricted_incident_ids"]); len(r) != 1 || r[0] != rid {
		t.Errorf("restricted_incident_ids = %v, want [%s]", r, rid)
	}
	if inc := ids(toMaps(asList(rep["incidents"]))); !slices.Equal(inc, []string{vid}) {
		t.Errorf("incidents = %v, want [%s]", inc, vid)
	}

	r := extra(t, tn, rid, 0)
	if r.status != http.StatusForbidden || r.errCode(t) != "403" {
		t.Errorf("extra data for a restricted incident: %d %s", r.status, r.body)
	}
}

func TestTotalCountCap(t *testing.T) {
	tn, _ := newTenant(xdrtest.Config{Incidents: 30, TotalCountCap: 20})
	rep := call(t, tn, "get_incidents", map[string]any{}).reply(t)
	if n := num(t, rep["total_count"]); n != 20 {
		t.Errorf("total_count %d, want the cap 20", n)
	}
	if n := len(asList(rep["incidents"])); n != 30 {
		t.Errorf("%d incidents, want all 30 (the cap only affects total_count)", n)
	}
}

func TestRouting(t *testing.T) {
	tn, _ := newTenant(xdrtest.Config{Incidents: 2})
	for _, path := range []string{"get_incidents", "get_incidents/"} {
		req := mustRequest(t, http.MethodPost, testPath+path, `{"request_data":{}}`)
		if code := serve(tn, req).Code; code != http.StatusOK {
			t.Errorf("POST %s: %d", path, code)
		}
	}
	if code := serve(tn, mustRequest(t, http.MethodGet, testPath+"get_incidents/", "")).Code; code != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d, want 405", code)
	}
	if code := serve(tn, mustRequest(t, http.MethodPost, testPath+"get_alerts/", `{"request_data":{}}`)).Code; code != http.StatusNotFound {
		t.Errorf("unknown endpoint: %d, want 404", code)
	}
	if code := serve(tn, mustRequest(t, http.MethodPost, "/get_incidents/", `{"request_data":{}}`)).Code; code != http.StatusNotFound {
		t.Errorf("path without prefix: %d, want 404", code)
	}
}
