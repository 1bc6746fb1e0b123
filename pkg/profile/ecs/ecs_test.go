package ecs_test

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"testing"

	"github.com/soc-tools/xdr-kafka-connector/internal/testkit"
	"github.com/soc-tools/xdr-kafka-connector/pkg/profile"
	"github.com/soc-tools/xdr-kafka-connector/pkg/profile/ecs"
	"github.com/soc-tools/xdr-kafka-connector/pkg/profile/internal/fixtures"
	"github.com/soc-tools/xdr-kafka-connector/pkg/profile/xdrview"
	"github.com/soc-tools/xdr-kafka-connector/pkg/record"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// documents maps every fixture with the mapping functions (fixtures.Map).
func documents(t *testing.T, c fixtures.Case) (labels []string, docs []ecs.Document) {
	t.Helper()
	return fixtures.Map(t, c, fixtures.Mapping[ecs.Document]{Change: ecs.IncidentChange, Enriched: ecs.IncidentEnriched, Alert: ecs.Alert})
}

// ecsProfile is the ECS profile as the connector runs it.
func ecsProfile(t *testing.T) fixtures.Profile {
	set, err := profile.Parse(profile.ECS)
	if err != nil {
		t.Fatal(err)
	}
	return fixtures.Profile{Name: profile.ECS, Change: set.Change, Enriched: set.Enriched}
}

// written maps every fixture as the connector does (fixtures.Written).
func written(t *testing.T, c fixtures.Case) (labels []string, docs [][]byte) {
	t.Helper()
	return fixtures.Written(t, c, ecsProfile(t))
}

func TestGolden(t *testing.T) {
	for _, c := range fixtures.Cases(t) {
		if c.Name == "extra-data-null-sections" {
			continue // its incident has no object: TestNotAnObject
		}
		t.Run(c.Name, func(t *testing.T) { fixtures.GoldenDocs(t, c, ecsProfile(t), *update) })
	}
}

func get(d ecs.Document, path ...string) any {
	var cur any = d
	for _, k := range path {
		m, ok := cur.(ecs.Document)
		if !ok {
			return nil
		}
		cur = m[k]
	}
	return cur
}

func change(t *testing.T, raw string) ecs.Document {
	t.Helper()
	r, err := xdr.DecodeIncidentsReply([]byte(`{"reply":{"incidents":[` + raw + `]}}`))
	if err != nil {
		t.Fatal(err)
	}
	d, err := ecs.IncidentChange(fixtures.Meta, r.Incidents[0])
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestIncidentFields covers the incident rules: the constants, severity,
// times, the deterministic id, related.*, threat.* and what stays under
// panw_cortex.xdr.
func TestIncidentFields(t *testing.T) {
	for _, tc := range []struct {
		sev  string
		want any
	}{{"informational", 1}, {"low", 2}, {"medium", 3}, {"High ", 4}, {"critical", 5}, {"unknown", 0}, {"SEV_040_HIGH", 4}, {"weird", nil}} {
		d := change(t, fmt.Sprintf(`{"incident_id":"1","modification_time":5,"severity":%q}`, tc.sev))
		if got := get(d, "event", "severity"); got != tc.want {
			t.Errorf("severity %q: event.severity %v, want %v", tc.sev, got, tc.want)
		}
		if _, kept := get(d, "panw_cortex", "xdr").(map[string]json.RawMessage)["severity"]; kept != (tc.want == nil) {
			t.Errorf("severity %q: kept under panw_cortex.xdr %v", tc.sev, kept)
		}
	}
	raw := `{"incident_id":"891","creation_time":1700000000000,"modification_time":1700000500000,"severity":"high",
		"description":"d","incident_name":"n","xdr_url":"https://x.example/i?caseId=891","tags":"EG:one",
		"hosts":["WS-01:abc","ws-02"],"users":["ACME\\alice","bob"],"mitre_tactics_ids_and_names":["TA0002 - Execution"],
		"mitre_techniques_ids_and_names":"T1059.001 - Command and Scripting Interpreter: PowerShell","notes":null,"starred":"No"}`
	d := change(t, raw)
	for path, want := range map[string]any{
		"@timestamp": "2023-11-14T22:21:40.000Z", "event.created": "2023-11-14T22:13:20.000Z",
		"event.kind": "alert", "event.reason": "d", "message": "n", "event.url": "https://x.example/i?caseId=891",
		"ecs.version": "8.11.0", "threat.framework": "MITRE ATT&CK",
	} {
		if got := get(d, splitPath(path)...); got != want {
			t.Errorf("%s = %v, want %v", path, got, want)
		}
	}
	for path, want := range map[string]string{
		"tags": `["EG:one"]`, "related.hosts": `["ws-01","ws-02"]`, "related.user": `["alice","bob"]`,
		"threat.tactic.id": `["TA0002"]`, "threat.tactic.name": `["Execution"]`, "threat.technique.id": `["T1059.001"]`,
		"event.category": `["malware"]`, "event.type": `["info"]`,
		"panw_cortex.xdr": `{"creation_time":1700000000000,"hosts":["WS-01:abc","ws-02"],"incident_id":"891","modification_time":1700000500000,"starred":"No","users":["ACME\\alice","bob"]}`,
	} {
		got, _ := json.Marshal(get(d, splitPath(path)...))
		if string(got) != want {
			t.Errorf("%s = %s, want %s", path, got, want)
		}
	}
	// The id is a digest of tenant, key and version: the same version maps to
	// the same id, another version or tenant to another.
	id := get(d, "event", "id")
	if again := get(change(t, raw), "event", "id"); again != id {
		t.Errorf("event.id not deterministic: %v then %v", id, again)
	}
	other := get(change(t, `{"incident_id":"891","modification_time":1700000500001}`), "event", "id")
	m := fixtures.Meta
	m.Tenant = "other"
	r, _ := xdr.DecodeIncidentsReply([]byte(`{"reply":{"incidents":[` + raw + `]}}`))
	od, _ := ecs.IncidentChange(m, r.Incidents[0])
	if other == id || get(od, "event", "id") == id {
		t.Errorf("event.id %v shared by another version (%v) or tenant (%v)", id, other, get(od, "event", "id"))
	}
}

// TestAlertFields covers the alert rules: comma-joined IPs and MACs cleaned,
// sentinels dropped, user split, network and process fields.
func TestAlertFields(t *testing.T) {
	inc := xdr.Incident{ID: "9", ModificationTime: 50}
	a := xdr.Alert{ID: "7", Raw: json.RawMessage(`{"alert_id":"7","host_name":"WS-01 ","host_ip":"10.0.0.5, 192.168.1.10,junk","mac":"00:11:22:33:44:55,N/A",
		"user_name":"ACME\\alice","action_local_ip":"10.0.0.5","action_local_port":"5000","action_remote_ip":["8.8.8.8"],"action_remote_port":53,
		"action_country":"UNKNOWN","dns_query_name":"evil.example","image_name":"C:\\Windows\\System32\\cmd.exe","is_whitelisted":"No",
		"detection_timestamp":1700000100000,"severity":"Medium","name":"alert name"}`)}
	d, err := ecs.Alert(fixtures.Meta, 40, inc, a, record.AlertKey(inc.ID, a))
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		"host.hostname": `"WS-01"`, "host.name": `"ws-01"`, "host.ip": `["10.0.0.5","192.168.1.10"]`, "host.mac": `["00-11-22-33-44-55"]`,
		"user.name": `"alice"`, "user.domain": `"ACME"`, "source.ip": `"10.0.0.5"`, "source.port": `5000`,
		"destination.ip": `"8.8.8.8"`, "destination.port": `53`, "destination.geo": `null`, "dns.question.name": `"evil.example"`,
		"process.name": `"cmd.exe"`, "event.severity": `3`, "message": `"alert name"`, "@timestamp": `"2023-11-14T22:15:00.000Z"`,
		"related.ip": `["10.0.0.5","192.168.1.10","8.8.8.8"]`, "related.user": `["alice"]`, "related.hosts": `["ws-01"]`,
		"panw_cortex.xdr": `{"action_country":"UNKNOWN","action_remote_ip":["8.8.8.8"],"alert_id":"7","alert_key":"7","host_ip":"10.0.0.5, 192.168.1.10,junk","incident_id":"9","incident_modification_time":50,"is_whitelisted":"No","mac":"00:11:22:33:44:55,N/A"}`,
	} {
		got, _ := json.Marshal(get(d, splitPath(path)...))
		if string(got) != want {
			t.Errorf("%s = %s, want %s", path, got, want)
		}
	}
}

// TestNotAnObject: an object that is not a JSON object cannot be mapped,
// and says so.
func TestNotAnObject(t *testing.T) {
	if _, err := ecs.IncidentChange(fixtures.Meta, xdr.Incident{ID: "1", Raw: json.RawMessage(`42`)}); !errors.Is(err, xdrview.ErrNotObject) {
		t.Errorf("incident: %v, want ErrNotObject", err)
	}
	if _, err := ecs.Alert(fixtures.Meta, 1, xdr.Incident{ID: "1"}, xdr.Alert{Raw: json.RawMessage(`"x"`)}, "k"); !errors.Is(err, xdrview.ErrNotObject) {
		t.Errorf("alert: %v, want ErrNotObject", err)
	}
}

func splitPath(p string) []string {
	if p == "@timestamp" {
		return []string{p}
	}
	var out []string
	start := 0
	for i := 0; i < len(p); i++ {
		if p[i] == '.' {
			out = append(out, p[start:i])
			start = i + 1
		}
	}
	return append(out, p[start:])
}

// TestFieldsAreECS checks every field of every fixture's documents against
// the ECS field list of Version shipped in schemas/ecs/fields.csv: each is an
// ECS field or lies under panw_cortex.xdr.
func TestFieldsAreECS(t *testing.T) {
	n := 0
	for _, c := range fixtures.Cases(t) {
		if c.Name == "extra-data-null-sections" {
			continue
		}
		_, docs := written(t, c)
		for _, b := range docs {
			if bad := testkit.CheckECS(t, b); len(bad) > 0 {
				t.Errorf("%s: fields not in ECS %s: %v", c.Name, ecs.Version, bad)
			}
			n++
		}
	}
	if n < 20 {
		t.Fatalf("only %d documents checked", n)
	}
	if bad := testkit.CheckECS(t, []byte(`{"event":{"kind":"alert","not_ecs":1},"panw_cortex":{"xdr":{"anything":{"goes":1}}},"host":{"ip":["10.0.0.1"],"bogus":[1]}}`)); len(bad) != 2 {
		t.Errorf("the check found %v, want event.not_ecs and host.bogus", bad)
	}
}

// TestAlertListFields covers alerts of the v2 alerts API's shape, where
// fields are lists: a list of one value maps as the value; a list of
// several fills the ECS arrays (related.*, host.ip, host.mac) with all of
// them and a single-valued field with the first, and stays under
// panw_cortex.xdr as sent.
func TestAlertListFields(t *testing.T) {
	inc := xdr.Incident{ID: "9", ModificationTime: 50}
	one := xdr.Alert{ID: "7", Raw: json.RawMessage(`{"alert_id":"7","host_name":"WS-01","host_ip":["10.0.0.5"],"mac_addresses":["00:11:22:33:44:55"],
		"user_name":["ACME\\alice"],"action_local_ip":["10.0.0.5"],"action_local_port":[5000],"event_id":["2"],"event_timestamp":[1700000050000],
		"detection_timestamp":1700000100000,"actor_process_image_name":["cmd.exe"],"actor_process_os_pid":[4242],"actor_thread_thread_id":[17],
		"actor_process_image_sha256":["ABCD"],"causality_actor_process_image_name":["explorer.exe"],"action_country":["UNKNOWN"]}`)}
	d, err := ecs.Alert(fixtures.Meta, 40, inc, one, record.AlertKey(inc.ID, one))
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		"@timestamp": `"2023-11-14T22:14:10.000Z"`, "host.ip": `["10.0.0.5"]`, "host.mac": `["00-11-22-33-44-55"]`,
		"user.name": `"alice"`, "user.domain": `"ACME"`, "related.user": `["alice"]`, "source.ip": `"10.0.0.5"`, "source.port": `5000`,
		"process.name": `"cmd.exe"`, "process.pid": `4242`, "process.thread.id": `17`, "process.hash.sha256": `"abcd"`,
		"process.parent.name": `"explorer.exe"`, "related.ip": `["10.0.0.5"]`, "related.hash": `["abcd"]`,
		"panw_cortex.xdr": `{"action_country":["UNKNOWN"],"alert_id":"7","alert_key":"7","event_id":["2"],"event_timestamp":[1700000050000],"host_ip":["10.0.0.5"],"incident_id":"9","incident_modification_time":50,"mac_addresses":["00:11:22:33:44:55"]}`,
	} {
		got, _ := json.Marshal(get(d, splitPath(path)...))
		if string(got) != want {
			t.Errorf("one-element lists: %s = %s, want %s", path, got, want)
		}
	}

	several := xdr.Alert{ID: "8", Raw: json.RawMessage(`{"alert_id":"8","host_ip":["10.0.0.5","10.0.0.6"],"user_name":["N/A","ACME\\alice","bob@acme.example"],
		"action_local_ip":["10.0.0.5","fd00::5"],"actor_process_image_name":["cmd.exe","conhost.exe"],"actor_process_os_pid":[1,2],
		"actor_process_image_md5":["AA","BB"]}`)}
	d, err = ecs.Alert(fixtures.Meta, 40, inc, several, record.AlertKey(inc.ID, several))
	if err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		"host.ip": `["10.0.0.5","10.0.0.6"]`, "user.name": `"alice"`, "related.user": `["alice","bob"]`,
		"source.ip": `"10.0.0.5"`, "related.ip": `["10.0.0.5","10.0.0.6","fd00::5"]`, "process.name": `"cmd.exe"`, "process.pid": `1`,
		"process.hash.md5": `"aa"`, "related.hash": `["aa","bb"]`,
		"panw_cortex.xdr": `{"action_local_ip":["10.0.0.5","fd00::5"],"actor_process_image_md5":["AA","BB"],"actor_process_image_name":["cmd.exe","conhost.exe"],"actor_process_os_pid":[1,2],"alert_id":"8","alert_key":"8","host_ip":["10.0.0.5","10.0.0.6"],"incident_id":"9","incident_modification_time":50,"user_name":["N/A","ACME\\alice","bob@acme.example"]}`,
	} {
		got, _ := json.Marshal(get(d, splitPath(path)...))
		if string(got) != want {
			t.Errorf("several values: %s = %s, want %s", path, got, want)
		}
	}
}
