package xdrtest_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr/xdrtest"
)

// alertIDs lists alert_id of each alert, "" where the key is missing.
func alertIDs(t *testing.T, alerts []any) []string {
	t.Helper()
	out := make([]string, len(alerts))
	for i, a := range alerts {
		m := a.(map[string]any)
		if v, ok := m["alert_id"]; ok {
			s, isStr := v.(string)
			if !isStr || s == "" {
				t.Fatalf("alert_id %v (%T) is not a non-empty string", v, v)
			}
			out[i] = s
		}
	}
	return out
}

func TestExtraData(t *testing.T) {
	tn, _ := newTenant(xdrtest.Config{Seed: 21, Incidents: 40, RateLimit: 1000})
	var id string
	var truth xdrtest.Truth
	for _, cand := range tn.IncidentIDs() {
		if tr, _ := tn.Truth(cand); tr.AlertCount >= 10 && tr.NetworkArtifacts > 0 && tr.FileArtifacts > 0 {
			id, truth = cand, tr
			break
		}
	}
	if id == "" {
		t.Fatal("no incident with 10+ alerts and both artifact kinds")
	}

	t.Run("truncated to alerts_limit with the true total", func(t *testing.T) {
		rep := extra(t, tn, id, 5).reply(t)
		alerts := rep["alerts"].(map[string]any)
		data := asList(alerts["data"])
		if len(data) != 5 {
			t.Fatalf("%d alerts, want 5", len(data))
		}
		if n := num(t, alerts["total_count"]); n != int64(truth.AlertCount) {
			t.Fatalf("total_count %d, want %d", n, truth.AlertCount)
		}
		if got := alertIDs(t, data); !slices.Equal(got, truth.AlertIDs[:5]) {
			t.Errorf("alert ids %v, want %v", got, truth.AlertIDs[:5])
		}
	})

	t.Run("full reply matches Truth", func(t *testing.T) {
		rep := extra(t, tn, id, 0).reply(t)
		inc := rep["incident"].(map[string]any)
		if inc["incident_id"] != id || num(t, inc["modification_time"]) != truth.ModificationTime {
			t.Errorf("incident %v modified %v, want %s at %d", inc["incident_id"], inc["modification_time"], id, truth.ModificationTime)
		}
		if num(t, inc["alert_count"]) != int64(truth.AlertCount) {
			t.Errorf("incident alert_count %v, want %d", inc["alert_count"], truth.AlertCount)
		}
		for _, k := range []string{"is_blocked", "aggregated_score"} {
			if _, ok := inc[k]; !ok {
				t.Errorf("extra-data incident lacks %s", k)
			}
		}
		if got := alertIDs(t, asList(rep["alerts"].(map[string]any)["data"])); !slices.Equal(got, truth.AlertIDs) {
			t.Errorf("alert ids %v, want %v", got, truth.AlertIDs)
		}
		for _, sec := range []struct {
			key  string
			want int
		}{{"network_artifacts", truth.NetworkArtifacts}, {"file_artifacts", truth.FileArtifacts}} {
			m := rep[sec.key].(map[string]any)
			if n := num(t, m["total_count"]); n != int64(sec.want) || len(asList(m["data"])) != sec.want {
				t.Errorf("%s: total %d, %d items, want %d", sec.key, n, len(asList(m["data"])), sec.want)
			}
		}
	})

	t.Run("default limit is 1000", func(t *testing.T) {
		v := tn.AddAlerts(id, 1100)
		tr, _ := tn.Truth(id)
		if tr.AlertCount != truth.AlertCount+1100 || tr.ModificationTime != v.ModificationTime {
			t.Fatalf("after AddAlerts: %d alerts at %d, want %d at %d", tr.AlertCount, tr.ModificationTime, truth.AlertCount+1100, v.ModificationTime)
		}
		rep := extra(t, tn, id, 0).reply(t)
		alerts := rep["alerts"].(map[string]any)
		if n := len(asList(alerts["data"])); n != 1000 {
			t.Errorf("%d alerts without alerts_limit, want 1000", n)
		}
		if n := num(t, alerts["total_count"]); n != int64(tr.AlertCount) {
			t.Errorf("total_count %d, want %d", n, tr.AlertCount)
		}
	})

	t.Run("errors", func(t *testing.T) {
		r := extra(t, tn, "424242", 0)
		if r.status != http.StatusInternalServerError || r.errCode(t) != "500" || !strings.Contains(string(r.body), "424242") {
			t.Errorf("unknown incident: %d %s", r.status, r.body)
		}
		for _, rd := range []any{
			map[string]any{"alerts_limit": 5},
			map[string]any{"incident_id": 12},
			map[string]any{"incident_id": id, "alerts_limit": -1},
		} {
			r := call(t, tn, "get_incident_extra_data", rd)
			if r.status != http.StatusUnprocessableEntity || r.errCode(t) != "422" {
				t.Errorf("%v: %d %s, want 422", rd, r.status, r.body)
			}
		}
		if r := call(t, tn, "get_incident_extra_data", map[string]any{"incident_id": id, "limit": 5}); r.status != http.StatusBadRequest {
			t.Errorf("unknown key: %d, want 400", r.status)
		}
	})

	t.Run("configurable unknown-incident status", func(t *testing.T) {
		tn2, _ := newTenant(xdrtest.Config{Incidents: 1, UnknownIncidentStatus: http.StatusNotFound})
		if r := extra(t, tn2, "1", 0); r.status != http.StatusNotFound {
			t.Errorf("status %d, want 404", r.status)
		}
	})
}

func TestRateWindowEdge(t *testing.T) {
	const window = 200 * time.Millisecond
	tn, clk := newTenant(xdrtest.Config{Incidents: 3, RateLimit: 10, RateWindow: window})
	id := tn.IncidentIDs()[0]
	start := clk.Now()
	at := func(d time.Duration) int {
		t.Helper()
		clk.Add(start.Add(d).Sub(clk.Now()))
		return extra(t, tn, id, 1).status
	}
	for i := range 10 { // 0, 20, ..., 180 ms
		if st := at(time.Duration(i) * 20 * time.Millisecond); st != http.StatusOK {
			t.Fatalf("call %d: %d", i, st)
		}
	}
	// At 200 ms the call at 0 has left (now-window, now]: 9 remain.
	if st := at(200 * time.Millisecond); st != http.StatusOK {
		t.Fatalf("call at the window edge: %d, want 200", st)
	}
	// A second call at 200 ms finds 10 in the window.
	if st := at(200 * time.Millisecond); st != http.StatusTooManyRequests {
		t.Fatalf("11th call inside the window: %d, want 429", st)
	}
	if n := tn.Count429(); n != 1 {
		t.Errorf("Count429 = %d, want 1", n)
	}
}

func TestRateWindowRefusedCallsCount(t *testing.T) {
	const window = 200 * time.Millisecond
	tn, clk := newTenant(xdrtest.Config{Incidents: 3, RateLimit: 10, RateWindow: window})
	id := tn.IncidentIDs()[0]
	start := clk.Now()
	at := func(d time.Duration) result {
		t.Helper()
		clk.Add(start.Add(d).Sub(clk.Now()))
		return extra(t, tn, id, 1)
	}
	for i := range 10 {
		if r := at(time.Duration(i) * 20 * time.Millisecond); r.status != http.StatusOK {
			t.Fatalf("call %d: %d", i, r.status)
		}
	}
	r := at(199 * time.Millisecond)
	if r.status != http.StatusTooManyRequests {
		t.Fatalf("11th call at 199ms: %d, want 429", r.status)
	}
	if r.errCode(t) != "429" || !strings.Contains(string(r.body), "Exceeded 10 requests in a 0.2-second window") {
		t.Errorf("429 body %s", r.body)
	}
	if ra := r.header.Get("Retry-After"); ra != "1" {
		t.Errorf("Retry-After %q, want 1", ra)
	}
	// Without counting the refused call, 200 ms would hold 9 calls and pass.
	if r := at(200 * time.Millisecond); r.status != http.StatusTooManyRequests {
		t.Fatalf("call at 200ms: %d, want 429 because the refused call counts", r.status)
	}
	// At 220 ms: 40..180 (8) + 199 + 200 = 10, refused; at 260 ms:
	// 80..180 (6) + 199 + 200 + 220 = 9, admitted.
	if r := at(220 * time.Millisecond); r.status != http.StatusTooManyRequests {
		t.Fatalf("call at 220ms: %d, want 429", r.status)
	}
	if r := at(260 * time.Millisecond); r.status != http.StatusOK {
		t.Fatalf("call at 260ms: %d, want 200", r.status)
	}
	if n := tn.Count429(); n != 3 {
		t.Errorf("Count429 = %d, want 3", n)
	}
	calls := tn.ExtraDataCalls()
	if len(calls) != 14 {
		t.Fatalf("%d calls recorded, want 14", len(calls))
	}
	wantStatus := []int{200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 429, 429, 429, 200}
	for i, c := range calls {
		if c.Status != wantStatus[i] || c.IncidentID != id {
			t.Errorf("call %d = %+v, want status %d for %s", i, c, wantStatus[i], id)
		}
	}
	if got := calls[10].Time.Sub(start); got != 199*time.Millisecond {
		t.Errorf("call 10 recorded at +%v, want +199ms", got)
	}
}

func TestRetryAfter(t *testing.T) {
	tn, clk := newTenant(xdrtest.Config{Incidents: 3}) // 10 per 60 s
	id := tn.IncidentIDs()[0]
	for range 10 {
		if st := extra(t, tn, id, 1).status; st != http.StatusOK {
			t.Fatalf("status %d", st)
		}
		clk.Add(time.Second)
	}
	clk.Add(20 * time.Second) // now t0+30s; calls at 0..9 s
	r := extra(t, tn, id, 1)
	if r.status != http.StatusTooManyRequests || !strings.Contains(string(r.body), "Exceeded 10 requests in a 60-second window") {
		t.Fatalf("%d %s", r.status, r.body)
	}
	// Log is 0..9 s plus the refused call at 30 s: the next call passes
	// once the call at 1 s has left the window, at 61 s.
	if ra := r.header.Get("Retry-After"); ra != "31" {
		t.Fatalf("Retry-After %q, want 31", ra)
	}
	clk.Add(30*time.Second + 500*time.Millisecond)
	if st := extra(t, tn, id, 1).status; st != http.StatusTooManyRequests {
		t.Fatalf("call before Retry-After elapsed: %d, want 429", st)
	}
	tn2, clk2 := newTenant(xdrtest.Config{Incidents: 3})
	for range 10 {
		extra(t, tn2, tn2.IncidentIDs()[0], 1)
		clk2.Add(time.Second)
	}
	clk2.Add(20 * time.Second)
	extra(t, tn2, id, 1) // refused at 30 s
	clk2.Add(31 * time.Second)
	if st := extra(t, tn2, tn2.IncidentIDs()[0], 1).status; st != http.StatusOK {
		t.Fatalf("call after Retry-After: %d, want 200", st)
	}
}

func TestRateWindowIgnoresUnauthenticated(t *testing.T) {
	tn, _ := newTenant(xdrtest.Config{Incidents: 3, RateLimit: 3})
	id := tn.IncidentIDs()[0]
	for range 5 {
		r := call(t, tn, "get_incident_extra_data", map[string]any{"incident_id": id}, withHeader("Authorization", "bad"))
		if r.status != http.StatusUnauthorized {
			t.Fatalf("status %d, want 401", r.status)
		}
	}
	for i := range 3 {
		if st := extra(t, tn, id, 1).status; st != http.StatusOK {
			t.Fatalf("authenticated call %d: %d", i, st)
		}
	}
	if st := extra(t, tn, id, 1).status; st != http.StatusTooManyRequests {
		t.Fatalf("4th authenticated call: %d, want 429", st)
	}
	calls := tn.ExtraDataCalls()
	if len(calls) != 9 || calls[0].Status != 401 || calls[8].Status != 429 {
		t.Fatalf("calls %+v", calls)
	}
	// get_incidents is not limited.
	for range 20 {
		if st := call(t, tn, "get_incidents", page).status; st != http.StatusOK {
			t.Fatalf("get_incidents: %d", st)
		}
	}
}
