package ocsf_test

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"slices"
	"testing"

	"github.com/soc-tools/xdr-kafka-connector/internal/testkit"
	"github.com/soc-tools/xdr-kafka-connector/pkg/profile"
	"github.com/soc-tools/xdr-kafka-connector/pkg/profile/internal/fixtures"
	"github.com/soc-tools/xdr-kafka-connector/pkg/profile/ocsf"
	"github.com/soc-tools/xdr-kafka-connector/pkg/profile/xdrview"
	"github.com/soc-tools/xdr-kafka-connector/pkg/record"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// events maps every fixture with the mapping functions (fixtures.Map).
func events(t *testing.T, c fixtures.Case) (labels []string, evs []any) {
	t.Helper()
	return fixtures.Map(t, c, fixtures.Mapping[any]{
		Change:   func(m record.Meta, inc xdr.Incident) (any, error) { return ocsf.IncidentChange(m, inc) },
		Enriched: func(m record.Meta, v int64, ed *xdr.ExtraData) (any, error) { return ocsf.IncidentEnriched(m, v, ed) },
		Alert: func(m record.Meta, v int64, inc xdr.Incident, a xdr.Alert, key string) (any, error) {
			return ocsf.Alert(m, v, inc, a, key)
		},
	})
}

// written maps every fixture as the connector does (fixtures.Written).
func written(t *testing.T, c fixtures.Case) (labels []string, docs [][]byte) {
	t.Helper()
	set, err := profile.Parse(profile.OCSF)
	if err != nil {
		t.Fatal(err)
	}
	return fixtures.Written(t, c, fixtures.Profile{Name: profile.OCSF, Change: set.Change, Enriched: set.Enriched})
}

func TestGolden(t *testing.T) {
	for _, c := range fixtures.Cases(t) {
		t.Run(c.Name, func(t *testing.T) {
			set, _ := profile.Parse(profile.OCSF)
			fixtures.GoldenDocs(t, c, fixtures.Profile{Name: profile.OCSF, Change: set.Change, Enriched: set.Enriched}, *update)
		})
	}
}

// TestInvariants checks, for every fixture, what holds whatever the input:
// class, category and type_uid agree, metadata names the product, version
// and tenant, times are the version in epoch ms, and an incident finding has
// findings and an assignee or assignee group.
func TestInvariants(t *testing.T) {
	for _, c := range fixtures.Cases(t) {
		_, evs := events(t, c)
		for _, ev := range evs {
			b, _ := json.Marshal(ev)
			var e map[string]any
			if err := json.Unmarshal(b, &e); err != nil {
				t.Fatal(err)
			}
			class, category, typ, activity := num(e, "class_uid"), num(e, "category_uid"), num(e, "type_uid"), num(e, "activity_id")
			if category != ocsf.CategoryFindings || typ != class*100+activity || activity < 1 || activity > 3 {
				t.Errorf("%s: class %d category %d type %d activity %d", c.Name, class, category, typ, activity)
			}
			md, _ := e["metadata"].(map[string]any)
			product, _ := md["product"].(map[string]any)
			if md["version"] != ocsf.Version || md["tenant_uid"] != fixtures.Meta.Tenant ||
				product["name"] != "Cortex XDR" || product["vendor_name"] != "Palo Alto Networks" {
				t.Errorf("%s: metadata %v", c.Name, md)
			}
			if tm := e["time"].(float64); tm > 1e3 && tm < 1e12 {
				t.Errorf("%s: time %v is not epoch ms", c.Name, tm)
			}
			if class == ocsf.ClassIncidentFinding {
				if l, _ := e["finding_info_list"].([]any); len(l) == 0 {
					t.Errorf("%s: incident finding without findings", c.Name)
				}
				if e["assignee"] == nil && e["assignee_group"] == nil {
					t.Errorf("%s: incident finding without assignee or group", c.Name)
				}
			}
		}
	}
}

func num(m map[string]any, k string) int { f, _ := m[k].(float64); return int(f) }

func incident(t *testing.T, raw string) *ocsf.IncidentFinding {
	t.Helper()
	r, err := xdr.DecodeIncidentsReply([]byte(`{"reply":{"incidents":[` + raw + `]}}`))
	if err != nil {
		t.Fatal(err)
	}
	f, err := ocsf.IncidentChange(fixtures.Meta, r.Incidents[0])
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestIncidentStatus is the status rule: status_id, verdict_id and the
// activity from the status and the version.
func TestIncidentStatus(t *testing.T) {
	for _, tc := range []struct {
		status                        string
		mod                           int64 // creation is 1000
		statusID, verdictID, activity int
		statusName, verdictName       string
	}{
		{"new", 1000, 1, 0, ocsf.ActivityCreate, "New", "Unknown"},
		{"new", 2000, 1, 0, ocsf.ActivityUpdate, "New", "Unknown"},
		{"under_investigation", 2000, 2, 0, ocsf.ActivityUpdate, "In Progress", "Unknown"},
		{"resolved_true_positive", 2000, 4, 2, ocsf.ActivityClose, "Resolved", "True Positive"},
		{"resolved_threat_handled", 2000, 4, 2, ocsf.ActivityClose, "Resolved", "True Positive"},
		{"resolved_false_positive", 2000, 4, 1, ocsf.ActivityClose, "Resolved", "False Positive"},
		{"resolved_known_issue", 2000, 4, 5, ocsf.ActivityClose, "Resolved", "Benign"},
		{"resolved_security_testing", 2000, 4, 6, ocsf.ActivityClose, "Resolved", "Test"},
		{"resolved_duplicate", 2000, 4, 10, ocsf.ActivityClose, "Resolved", "Duplicate"},
		{"RESOLVED_DUPLICATE_INCIDENT ", 2000, 4, 10, ocsf.ActivityClose, "Resolved", "Duplicate"},
		{"resolved_auto_resolve", 2000, 4, 99, ocsf.ActivityClose, "Resolved", "resolved_auto_resolve"},
		{"resolved_other", 1000, 4, 99, ocsf.ActivityClose, "Resolved", "resolved_other"},
		{"some_future_status", 2000, 99, 99, ocsf.ActivityUpdate, "some_future_status", "some_future_status"},
		{"", 2000, 0, 0, ocsf.ActivityUpdate, "Unknown", "Unknown"},
	} {
		f := incident(t, fmt.Sprintf(`{"incident_id":"1","creation_time":1000,"modification_time":%d,"status":%q}`, tc.mod, tc.status))
		if f.StatusID != tc.statusID || f.VerdictID != tc.verdictID || f.ActivityID != tc.activity ||
			f.Status != tc.statusName || f.Verdict != tc.verdictName || f.TypeUID != 200500+tc.activity {
			t.Errorf("%q at %d: status %d %q verdict %d %q activity %d type %d, want %+v",
				tc.status, tc.mod, f.StatusID, f.Status, f.VerdictID, f.Verdict, f.ActivityID, f.TypeUID, tc)
		}
	}
}

// TestIncidentFields covers the single-field rules: severities, the manual
// severity as priority, the assignee rule, src_url, attacks and what goes
// under unmapped.
func TestIncidentFields(t *testing.T) {
	for _, tc := range []struct {
		sev  string
		id   int
		name string
	}{
		{"informational", 1, "Informational"}, {"low", 2, "Low"}, {"Medium ", 3, "Medium"}, {"HIGH", 4, "High"},
		{"critical", 5, "Critical"}, {"SEV_030_MEDIUM", 3, "Medium"}, {"unknown", 0, "Unknown"}, {"catastrophic", 99, "catastrophic"},
	} {
		f := incident(t, fmt.Sprintf(`{"incident_id":"1","modification_time":5,"severity":%q,"manual_severity":%q}`, tc.sev, tc.sev))
		if f.SeverityID != tc.id || f.Severity != tc.name {
			t.Errorf("severity %q: %d %q, want %d %q", tc.sev, f.SeverityID, f.Severity, tc.id, tc.name)
		}
		wantPrio := map[int]int{1: 1, 2: 1, 3: 2, 4: 3, 5: 4, 0: 0, 99: 99}[tc.id]
		if f.PriorityID != wantPrio {
			t.Errorf("manual severity %q: priority %d, want %d", tc.sev, f.PriorityID, wantPrio)
		}
	}

	f := incident(t, `{"incident_id":"2","modification_time":5,"assigned_user_mail":null,"assigned_user_pretty_name":null,"manual_severity":null}`)
	if f.Assignee != nil || f.AssigneeGroup == nil || f.AssigneeGroup.Name != ocsf.Unassigned || f.PriorityID != 0 {
		t.Errorf("unassigned incident: assignee %+v group %+v priority %d", f.Assignee, f.AssigneeGroup, f.PriorityID)
	}
	f = incident(t, `{"incident_id":"3","modification_time":5,"assigned_user_mail":"jane@acme.example","assigned_user_pretty_name":"Jane Doe ",
		"xdr_url":"https://x.example/incident-view?caseId=3","mitre_tactics_ids_and_names":"TA0002 - Execution",
		"mitre_techniques_ids_and_names":["T1059.001 - Command and Scripting Interpreter: PowerShell","T1046 - Network Service Discovery"],
		"starred":"No","x_undocumented":{"a":[1,2]},"detection_time":null}`)
	if f.Assignee == nil || f.Assignee.EmailAddr != "jane@acme.example" || f.Assignee.Name != "Jane Doe" || f.AssigneeGroup != nil {
		t.Errorf("assignee %+v group %+v", f.Assignee, f.AssigneeGroup)
	}
	if f.SrcURL != "https://x.example/incident-view?caseId=3" {
		t.Errorf("src_url %q", f.SrcURL)
	}
	att, _ := json.Marshal(f.Attacks)
	want := `[{"tactic":{"uid":"TA0002","name":"Execution"}},` +
		`{"technique":{"uid":"T1059","name":"Command and Scripting Interpreter"},"sub_technique":{"uid":"T1059.001","name":"PowerShell"}},` +
		`{"technique":{"uid":"T1046","name":"Network Service Discovery"}}]`
	if string(att) != want {
		t.Errorf("attacks\n got %s\nwant %s", att, want)
	}
	if len(f.Unmapped) != 2 || string(f.Unmapped["starred"]) != `"No"` || string(f.Unmapped["x_undocumented"]) != `{"a":[1,2]}` {
		t.Errorf("unmapped %s (nulls are dropped, mapped fields are not repeated)", mustJSON(f.Unmapped))
	}
}

// TestAlertFields covers the alert rules: action and disposition, finding
// status, device, evidences and the key.
func TestAlertFields(t *testing.T) {
	inc := xdr.Incident{ID: "9", ModificationTime: 50, Status: "under_investigation"}
	for _, tc := range []struct {
		action                string
		actionID, disposition int
	}{
		{"BLOCKED", 2, 2}, {"PREVENTED (BLOCKED)", 2, 2}, {"DETECTED", 3, 15}, {"DETECTED (REPORTED)", 3, 15},
		{"DETECTED (ALLOW)", 1, 15}, {"QUARANTINED", 2, 3}, {"", 0, 0}, {"SOMETHING_NEW", 99, 99},
	} {
		f, err := ocsf.Alert(fixtures.Meta, 40, inc, xdr.Alert{ID: "1", Raw: json.RawMessage(fmt.Sprintf(`{"alert_id":"1","action":%q}`, tc.action))}, "1")
		if err != nil {
			t.Fatal(err)
		}
		if f.ActionID != tc.actionID || f.DispositionID != tc.disposition {
			t.Errorf("action %q: action_id %d disposition_id %d, want %d %d", tc.action, f.ActionID, f.DispositionID, tc.actionID, tc.disposition)
		}
		if f.Time != 50 || f.StatusID != 2 || f.ActivityID != ocsf.ActivityCreate || f.TypeUID != 200401 {
			t.Errorf("time %d status %d activity %d type %d", f.Time, f.StatusID, f.ActivityID, f.TypeUID)
		}
	}
	a := xdr.Alert{Name: "x", Raw: json.RawMessage(`{"name":"x","resolution_status":"STATUS_040_RESOLVED_FALSE_POSITIVE","host_name":"N/A","host_ip":"10.0.0.1,bogus, 10.0.0.2 ","actor_process_image_name":"a.exe"}`)}
	f, err := ocsf.Alert(fixtures.Meta, 40, inc, a, record.AlertKey(inc.ID, a))
	if err != nil {
		t.Fatal(err)
	}
	if f.FindingInfo.UID != record.AlertKey("9", a) || f.Metadata.CorrelUID != "9" {
		t.Errorf("finding uid %q correlation %q: want the alert's record key and the incident id", f.FindingInfo.UID, f.Metadata.CorrelUID)
	}
	if f.StatusID != 3 || f.ActivityID != ocsf.ActivityClose {
		t.Errorf("resolved false positive: status %d activity %d", f.StatusID, f.ActivityID)
	}
	if f.Device == nil || f.Device.Hostname != "" || f.Device.IP != "10.0.0.1" {
		t.Errorf("device %+v: N/A is no host name, the first valid IP is the device's", f.Device)
	}
	// Without a pid or uid the schema has no room for the process: its
	// fields stay under unmapped, its name is an observable.
	if len(f.Evidences) != 0 || string(f.Unmapped["actor_process_image_name"]) != `"a.exe"` {
		t.Errorf("evidences %s unmapped %s", mustJSON(f.Evidences), mustJSON(f.Unmapped))
	}
}

// TestNotAnObject: an object that is not a JSON object cannot be mapped,
// and says so.
func TestNotAnObject(t *testing.T) {
	if _, err := ocsf.IncidentChange(fixtures.Meta, xdr.Incident{ID: "1", Raw: json.RawMessage(`"just a string"`)}); !errors.Is(err, xdrview.ErrNotObject) {
		t.Errorf("incident: %v, want ErrNotObject", err)
	}
	if _, err := ocsf.Alert(fixtures.Meta, 1, xdr.Incident{ID: "1", Raw: json.RawMessage(`{}`)}, xdr.Alert{Raw: json.RawMessage(`[1]`)}, "k"); !errors.Is(err, xdrview.ErrNotObject) {
		t.Errorf("alert: %v, want ErrNotObject", err)
	}
	if _, err := ocsf.IncidentEnriched(fixtures.Meta, 1, &xdr.ExtraData{Incident: xdr.Incident{ID: "1"}}); !errors.Is(err, xdrview.ErrNotObject) {
		t.Errorf("enriched without an incident object: %v, want ErrNotObject", err)
	}
}

func mustJSON(v any) string { b, _ := json.Marshal(v); return string(b) }

// TestSchema validates every event of every fixture against the shipped
// JSON Schema of its class, generated from the OCSF repository, and checks
// that the schema rejects what the class forbids.
func TestSchema(t *testing.T) {
	n := 0
	for _, c := range fixtures.Cases(t) {
		_, docs := written(t, c)
		for _, b := range docs {
			testkit.ValidateOCSF(t, b)
			n++
		}
	}
	if n < 20 {
		t.Fatalf("only %d events validated", n)
	}
	f := incident(t, `{"incident_id":"1","modification_time":5}`)
	good, _ := json.Marshal(f)
	for name, mutate := range map[string]func(map[string]any){
		"unknown status_id":        func(e map[string]any) { e["status_id"] = 7 },
		"attribute not in class":   func(e map[string]any) { e["not_an_ocsf_field"] = 1 },
		"no assignee nor group":    func(e map[string]any) { delete(e, "assignee_group") },
		"no finding_info_list":     func(e map[string]any) { delete(e, "finding_info_list") },
		"wrong type_uid":           func(e map[string]any) { e["type_uid"] = 200401 },
		"time as a string":         func(e map[string]any) { e["time"] = "2024-01-01" },
		"observable of no type":    func(e map[string]any) { e["observables"] = []any{map[string]any{"name": "x", "type_id": 3000}} },
		"metadata without product": func(e map[string]any) { delete(e["metadata"].(map[string]any), "product") },
	} {
		var e map[string]any
		_ = json.Unmarshal(good, &e)
		mutate(e)
		b, _ := json.Marshal(e)
		if _, err := testkit.OCSFError(t, b); err == nil {
			t.Errorf("%s: the schema accepted it", name)
		}
	}
}

// TestAlertListFields covers alerts of the v2 alerts API's shape, where
// fields are lists: a list of one value maps as the value; a list of
// several puts the first where the class holds one value, every value in
// the observables, and the list under unmapped as sent.
func TestAlertListFields(t *testing.T) {
	inc := xdr.Incident{ID: "9", ModificationTime: 50}
	a := xdr.Alert{ID: "7", Raw: json.RawMessage(`{"alert_id":"7","host_name":"WS-01","host_ip":["10.0.0.5"],"mac_addresses":["00:11:22:33:44:55"],
		"user_name":["ACME\\alice","bob@acme.example"],"action_local_ip":["10.0.0.5","fd00::5"],"action_local_port":[5000],"event_id":["2"],
		"actor_process_image_name":["cmd.exe"],"actor_process_os_pid":[4242],"actor_process_instance_id":["P-1"],
		"causality_actor_process_image_name":["explorer.exe"],"causality_actor_causality_id":["C-1"],"severity":["high"],"last_modified_ts":[60]}`)}
	f, err := ocsf.Alert(fixtures.Meta, 40, inc, a, record.AlertKey(inc.ID, a))
	if err != nil {
		t.Fatal(err)
	}
	if f.SeverityID != 4 || f.ActivityID != ocsf.ActivityUpdate || f.FindingInfo.ModifiedTime != 60 {
		t.Errorf("severity %d activity %d modified %d: lists of one value read as the value", f.SeverityID, f.ActivityID, f.FindingInfo.ModifiedTime)
	}
	if f.Device == nil || f.Device.IP != "10.0.0.5" || f.Device.MAC != "00:11:22:33:44:55" {
		t.Errorf("device %s", mustJSON(f.Device))
	}
	if len(f.Evidences) != 1 {
		t.Fatalf("evidences %s", mustJSON(f.Evidences))
	}
	ev := f.Evidences[0]
	for name, got := range map[string]string{
		"process":      mustJSON(ev.Process),
		"src_endpoint": mustJSON(ev.SrcEndpoint),
		"user":         mustJSON(ev.User),
	} {
		want := map[string]string{
			"process":      `{"pid":4242,"uid":"P-1","name":"cmd.exe","file":{"name":"cmd.exe","type_id":1,"type":"Regular File"},"parent_process":{"uid":"C-1","name":"explorer.exe","file":{"name":"explorer.exe","type_id":1,"type":"Regular File"}}}`,
			"src_endpoint": `{"ip":"10.0.0.5","port":5000}`,
			"user":         `{"name":"alice","domain":"ACME"}`,
		}[name]
		if got != want {
			t.Errorf("%s = %s, want %s", name, got, want)
		}
	}
	var obs []string
	for _, o := range f.Observables {
		obs = append(obs, o.Name+"="+o.Value)
	}
	for _, want := range []string{"action_local_ip=fd00::5", "user_name=ACME\\alice", "user_name=bob@acme.example", "actor_process_image_name=cmd.exe"} {
		if !slices.Contains(obs, want) {
			t.Errorf("observables %v lack %s", obs, want)
		}
	}
	if got := mustJSON(f.Unmapped); got != `{"action_local_ip":["10.0.0.5","fd00::5"],"event_id":["2"],"user_name":["ACME\\alice","bob@acme.example"]}` {
		t.Errorf("unmapped %s: the lists of several values, and nothing placed whole", got)
	}
}
