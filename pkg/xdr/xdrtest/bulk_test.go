package xdrtest_test

import (
	"encoding/json"
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr/xdrtest"
)

func bulkBody(ids ...string) map[string]any {
	return map[string]any{
		"filters":   []any{map[string]any{"field": "incident_id_list", "operator": "in", "value": ids}},
		"search_to": len(ids), "sort": map[string]any{"field": "creation_time", "keyword": "asc"},
	}
}

// Each bulk item is the single endpoint's reply for the incident, with at
// most alerts_limit_per_incident alerts; unknown and restricted incidents are
// absent; the endpoint has its own sliding window; switched off it answers
// 404 as a tenant without it.
func TestMultipleExtraData(t *testing.T) {
	tn, clk := newTenant(xdrtest.Config{Seed: 5, Incidents: 40, RestrictedFraction: 0.2, AlertsLimitPerIncident: 3,
		BulkRateLimit: 2, BulkRateWindow: time.Minute, RateLimit: 1000})
	var ids, restricted []string
	for _, id := range tn.IncidentIDs() {
		if tr, _ := tn.Truth(id); tr.Restricted {
			restricted = append(restricted, id)
		} else {
			ids = append(ids, id)
		}
	}
	if len(restricted) == 0 {
		t.Fatal("no restricted incident generated")
	}
	ask := append([]string{"999999", restricted[0]}, ids[len(ids)-5:]...)
	ask = append(ask, ids[0])
	rep := call(t, tn, xdrtest.EndpointMultipleExtraData, bulkBody(ask...)).reply(t)
	if n, _ := rep["alerts_limit_per_incident"].(json.Number).Int64(); n != 3 {
		t.Errorf("alerts_limit_per_incident %v", rep["alerts_limit_per_incident"])
	}
	items := rep["incidents"].([]any)
	if len(items) != 6 {
		t.Fatalf("%d items, want the 6 readable ones", len(items))
	}
	var last int64
	capped := 0
	for _, it := range items {
		m := it.(map[string]any)
		inc := m["incident"].(map[string]any)
		id := inc["incident_id"].(string)
		created, _ := inc["creation_time"].(json.Number).Int64()
		if created < last {
			t.Errorf("items not sorted by creation_time")
		}
		last = created
		single := call(t, tn, xdrtest.EndpointExtraData, map[string]any{"incident_id": id, "alerts_limit": 3}).reply(t)
		if !reflect.DeepEqual(single, m) {
			t.Errorf("incident %s: bulk item differs from the single reply with alerts_limit 3", id)
		}
		alerts := m["alerts"].(map[string]any)
		total, _ := alerts["total_count"].(json.Number).Int64()
		if n := len(alerts["data"].([]any)); n > 3 || int64(n) < min(total, 3) {
			t.Errorf("incident %s: %d alerts of %d", id, n, total)
		} else if total > 3 {
			capped++
		}
	}
	if capped == 0 {
		t.Error("no incident above the cap in the sample")
	}
	call(t, tn, xdrtest.EndpointMultipleExtraData, bulkBody(ids[1])).reply(t)
	if r := call(t, tn, xdrtest.EndpointMultipleExtraData, bulkBody(ids[0])); r.status != http.StatusTooManyRequests {
		t.Errorf("third bulk call in the window: status %d, want 429", r.status)
	}
	if tn.BulkCount429() != 1 || tn.Count429() != 0 || len(tn.BulkCalls()) != 3 {
		t.Errorf("bulk 429s %d, single 429s %d, bulk calls %d", tn.BulkCount429(), tn.Count429(), len(tn.BulkCalls()))
	}
	if got := tn.BulkCalls()[0].IncidentIDs; !reflect.DeepEqual(got, ask) {
		t.Errorf("logged ids %v", got)
	}
	clk.Add(time.Minute)
	tn.SetBulkServed(false)
	if r := call(t, tn, xdrtest.EndpointMultipleExtraData, bulkBody(ids[0])); r.status != http.StatusNotFound {
		t.Errorf("bulk switched off: status %d, want 404", r.status)
	}
	tn.SetBulkServed(true)
	if r := call(t, tn, xdrtest.EndpointMultipleExtraData, bulkBody(ids[0])); r.status != http.StatusOK {
		t.Errorf("bulk switched on again: status %d", r.status)
	}
}
