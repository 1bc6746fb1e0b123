package xdrtest_test

import (
	"bytes"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/soc-tools/xdr-kafka-connector/internal/clocktest"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr/xdrtest"
)

// TestQuirks checks that generated data carries every quirk listed in
// API-NOTES "Real data quirks", so the connector is tested against them.
func TestQuirks(t *testing.T) {
	tn, clk := newTenant(xdrtest.Config{Seed: 3, Incidents: 200, RateLimit: 1 << 20})
	incs := queryAll(t, tn, nil, nil).incidents
	now := clk.Now().UnixMilli()

	seen := map[string]bool{}
	mark := func(cond bool, quirk string) {
		if cond {
			seen[quirk] = true
		}
	}
	documented := []string{"new", "under_investigation", "resolved_threat_handled", "resolved_known_issue",
		"resolved_false_positive", "resolved_true_positive", "resolved_security_testing", "resolved_other",
		"resolved_duplicate", "resolved_auto"}
	hostRe := regexp.MustCompile(`^[^:\s]+:[0-9a-f]{32}$`)
	small, large := 0, 0
	var stringValues func(v any)
	stringValues = func(v any) {
		switch v := v.(type) {
		case string:
			mark(strings.HasSuffix(v, " "), "trailing space")
			mark(v == "N/A", "N/A")
			mark(v == "UNKNOWN", "UNKNOWN")
		case map[string]any:
			for _, x := range v {
				stringValues(x)
			}
		case []any:
			for _, x := range v {
				stringValues(x)
			}
		}
	}

	for _, inc := range incs {
		if _, ok := inc["incident_id"].(string); !ok {
			t.Fatalf("incident_id %v is not a string", inc["incident_id"])
		}
		if v, ok := inc["detection_time"]; !ok || v != nil {
			t.Errorf("detection_time %v, want present and null", v)
		}
		for _, k := range []string{"assigned_user_mail", "notes", "manual_severity", "manual_score", "resolve_comment", "rule_based_score", "mitre_tactics_ids_and_names"} {
			if v, ok := inc[k]; !ok {
				t.Errorf("incident lacks %s", k)
			} else {
				mark(v == nil, "null "+k)
			}
		}
		if _, ok := inc["tags"].([]any); !ok {
			t.Errorf("incident tags %v is not a list", inc["tags"])
		}
		for _, h := range asList(inc["hosts"]) {
			if !hostRe.MatchString(h.(string)) {
				t.Errorf("host %q is not hostname:<agent id>", h)
			}
		}
		for _, u := range asList(inc["users"]) {
			mark(strings.Contains(u.(string), `\`), `DOMAIN\user`)
		}
		status := inc["status"].(string)
		mark(status == "resolved_duplicate_incident" || status == "resolved_auto_resolve", "drifting status")
		mark(!slices.Contains(documented, status) && status != "resolved_duplicate_incident" && status != "resolved_auto_resolve", "unknown status")
		mark(inc["severity"] == "critical", "critical incident")
		_, custom := inc["x_custom_field"]
		mark(custom, "undocumented field")
		if c, m := num(t, inc["creation_time"]), num(t, inc["modification_time"]); c < now-24*3_600_000 || c > m || m > now {
			t.Errorf("incident %v: creation %d, modification %d outside the last 24 h (now %d)", inc["incident_id"], c, m, now)
		}
		stringValues(inc)

		r := extra(t, tn, inc["incident_id"].(string), 0)
		rep := r.reply(t)
		alerts := rep["alerts"].(map[string]any)
		total := num(t, alerts["total_count"])
		if total <= 20 {
			small++
		}
		if total >= 100 {
			large++
		}
		for _, a := range asList(alerts["data"]) {
			a := a.(map[string]any)
			if id, ok := a["alert_id"]; !ok {
				seen["alert without alert_id"] = true
			} else if _, isStr := id.(string); !isStr {
				t.Fatalf("alert_id %v (%T) is not a string", id, id)
			}
			if cid := num(t, a["case_id"]); strconv.FormatInt(cid, 10) != inc["incident_id"] {
				t.Fatalf("case_id %v for incident %v", a["case_id"], inc["incident_id"])
			}
			if _, ok := a["tags"].(string); !ok {
				t.Fatalf("alert tags %v is not a string", a["tags"])
			}
			mark(a["is_whitelisted"] == false, "is_whitelisted false")
			mark(a["is_whitelisted"] == "No", `is_whitelisted "No"`)
			mark(strings.Contains(a["host_ip"].(string), ","), "comma host_ip")
			mark(strings.Contains(a["mac"].(string), ","), "comma mac")
			mark(a["severity"] == "critical", "critical alert")
			_, custom := a["x_custom_field"]
			mark(custom, "undocumented alert field")
			stringValues(a)
		}
		for _, art := range asList(rep["file_artifacts"].(map[string]any)["data"]) {
			checkKeys(t, art, "file artifact", "type", "file_sha256", "file_name", "file_signature_status",
				"file_signature_vendor_name", "file_wildfire_verdict", "is_malicious", "is_manual", "is_process",
				"alert_count", "low_confidence")
			seen["file artifact"] = true
		}
		for _, art := range asList(rep["network_artifacts"].(map[string]any)["data"]) {
			checkKeys(t, art, "network artifact", "type", "network_domain", "network_remote_ip", "network_remote_port",
				"network_country", "alert_count", "is_manual")
			typ := art.(map[string]any)["type"]
			if typ != "DOMAIN" && typ != "IP" {
				t.Errorf("network artifact type %v", typ)
			}
			seen["network artifact"] = true
		}
	}
	for _, q := range []string{
		"null assigned_user_mail", "null notes", "null manual_severity", "null manual_score", "null resolve_comment",
		"null rule_based_score", "null mitre_tactics_ids_and_names", `DOMAIN\user`, "drifting status", "unknown status",
		"critical incident", "critical alert", "undocumented field", "undocumented alert field", "trailing space", "N/A", "UNKNOWN",
		"alert without alert_id", "is_whitelisted false", `is_whitelisted "No"`, "comma host_ip", "comma mac",
		"file artifact", "network artifact",
	} {
		if !seen[q] {
			t.Errorf("quirk %q never generated", q)
		}
	}
	if small < len(incs)*3/4 || large == 0 {
		t.Errorf("%d incidents with <= 20 alerts, %d with >= 100, of %d", small, large, len(incs))
	}
}

func checkKeys(t *testing.T, v any, what string, keys ...string) {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("%s %v is not an object", what, v)
	}
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			t.Errorf("%s lacks %s", what, k)
		}
	}
}

func TestTruthMarksMissingAlertIDs(t *testing.T) {
	tn, _ := newTenant(xdrtest.Config{Seed: 3, Incidents: 200, RateLimit: 1 << 20})
	for _, id := range tn.IncidentIDs() {
		tr, _ := tn.Truth(id)
		if !slices.Contains(tr.AlertIDs, "") || tr.Restricted {
			continue
		}
		got := alertIDs(t, asList(extra(t, tn, id, 0).reply(t)["alerts"].(map[string]any)["data"]))
		if !slices.Equal(got, tr.AlertIDs) {
			t.Fatalf("alert ids %v, Truth %v", got, tr.AlertIDs)
		}
		return
	}
	t.Fatal("no incident with an alert lacking alert_id")
}

func TestSameSeedSameData(t *testing.T) {
	snapshot := func(seed int64) []byte {
		clk := clocktest.New(clockStart)
		tn := xdrtest.New(xdrtest.Config{Seed: seed, Incidents: 60, RateLimit: 1 << 20, Now: clk.Now})
		var out bytes.Buffer
		dump := func() {
			for from := 0; from < 100; from += 100 {
				out.Write(call(t, tn, "get_incidents", map[string]any{"search_from": from, "search_to": from + 100}).body)
			}
			for _, id := range tn.IncidentIDs()[:8] {
				out.Write(extra(t, tn, id, 0).body)
			}
		}
		dump()
		clk.Add(time.Minute)
		if err := tn.RunMutations(t.Context(), xdrtest.MutationConfig{Steps: 40, BulkEvery: 10, BulkSize: 5}); err != nil {
			t.Fatal(err)
		}
		dump()
		return out.Bytes()
	}
	a, b := snapshot(11), snapshot(11)
	if !bytes.Equal(a, b) {
		t.Fatal("same seed, same clock: different bytes")
	}
	if bytes.Equal(a, snapshot(12)) {
		t.Fatal("different seeds gave the same data")
	}
}
