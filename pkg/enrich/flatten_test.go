package enrich

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/soc-tools/xdr-kafka-connector/pkg/offsets"
	"github.com/soc-tools/xdr-kafka-connector/pkg/record"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

var testMeta = Meta{Connector: "xdr-connector", Tenant: "acme.xdr.eu", AlertsLimit: 1000, FetchedAt: 1700000999000}

var topicNames = map[record.Topic]string{
	record.TopicIncidents: "incidents", record.TopicAlerts: "alerts",
	record.TopicArtifacts: "artifacts", record.TopicDLQ: "dlq",
}

// Typed-field decoding for fixtures, tolerant in the way the xdr client is;
// the records' data must come from Raw alone, so these only feed keys and
// counts.
func str(m map[string]any, k string) string {
	switch v := m[k].(type) {
	case string:
		return v
	case json.Number:
		return v.String()
	}
	return ""
}

func num(m map[string]any, k string) int64 {
	if v, ok := m[k].(json.Number); ok {
		n, _ := v.Int64()
		return n
	}
	return 0
}

func decodeObj(t testing.TB, raw json.RawMessage) map[string]any {
	t.Helper()
	var m map[string]any
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if raw[0] == '{' {
		if err := d.Decode(&m); err != nil {
			t.Fatalf("decoding fixture object: %v", err)
		}
	}
	return m
}

// loadExtraData builds an xdr.ExtraData from a get_incident_extra_data reply
// body (the "reply" object), keeping every object's bytes as Raw.
func loadExtraData(t testing.TB, body []byte) *xdr.ExtraData {
	t.Helper()
	type list struct {
		TotalCount int               `json:"total_count"`
		Data       []json.RawMessage `json:"data"`
	}
	var r struct {
		Incident         json.RawMessage `json:"incident"`
		Alerts           list            `json:"alerts"`
		NetworkArtifacts list            `json:"network_artifacts"`
		FileArtifacts    list            `json:"file_artifacts"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatalf("decoding fixture: %v", err)
	}
	im := decodeObj(t, r.Incident)
	ed := &xdr.ExtraData{
		Incident: xdr.Incident{ID: str(im, "incident_id"), CreationTime: num(im, "creation_time"),
			ModificationTime: num(im, "modification_time"), Status: str(im, "status"),
			Severity: strings.ToLower(str(im, "severity")), AlertCount: int(num(im, "alert_count")), Raw: r.Incident},
		Alerts:           xdr.AlertList{TotalCount: r.Alerts.TotalCount},
		NetworkArtifacts: xdr.NetworkArtifactList{TotalCount: r.NetworkArtifacts.TotalCount},
		FileArtifacts:    xdr.FileArtifactList{TotalCount: r.FileArtifacts.TotalCount},
	}
	for _, raw := range r.Alerts.Data {
		m := decodeObj(t, raw)
		ed.Alerts.Data = append(ed.Alerts.Data, xdr.Alert{ID: str(m, "alert_id"), CaseID: str(m, "case_id"),
			Severity: str(m, "severity"), Name: str(m, "name"), Source: str(m, "source"),
			HostName: str(m, "host_name"), DetectionTimestamp: num(m, "detection_timestamp"), Raw: raw})
	}
	for _, raw := range r.NetworkArtifacts.Data {
		a := xdr.NetworkArtifact{Raw: raw}
		if raw[0] == '"' {
			_ = json.Unmarshal(raw, &a.Value)
		} else {
			m := decodeObj(t, raw)
			a.Type, a.Domain, a.RemoteIP, a.RemotePort = str(m, "type"), str(m, "network_domain"), str(m, "network_remote_ip"), int(num(m, "network_remote_port"))
		}
		ed.NetworkArtifacts.Data = append(ed.NetworkArtifacts.Data, a)
	}
	for _, raw := range r.FileArtifacts.Data {
		a := xdr.FileArtifact{Raw: raw}
		if raw[0] == '"' {
			_ = json.Unmarshal(raw, &a.Value)
		} else {
			m := decodeObj(t, raw)
			a.Type, a.SHA256, a.FileName = str(m, "type"), str(m, "file_sha256"), str(m, "file_name")
		}
		ed.FileArtifacts.Data = append(ed.FileArtifacts.Data, a)
	}
	return ed
}

// flattenCases are the fixtures under testdata/flatten, each flattened with
// the given queued version.
var flattenCases = []struct {
	name    string
	version int64
}{
	{"quirky", 1700000400000},    // reply newer than the queued version
	{"truncated", 1700000900000}, // 2 of 5000 alerts
	{"no-alert-id", 1},           // derived alert keys
	{"xpanse-strings", 10},       // bare-string artifacts
	{"empty", 9},                 // queued version newer than the reply
	{"list-fields", 1},           // v2 alerts API shape: fields as lists
	{"colliding-keys", 1},        // objects sharing an own key, and a repeated one
}

func flattenFixture(t testing.TB, name string, version int64) (*xdr.ExtraData, []record.Record, record.EnrichmentInfo) {
	t.Helper()
	body, err := os.ReadFile(filepath.Join("testdata", "flatten", name+".input.json"))
	if err != nil {
		t.Fatal(err)
	}
	ed := loadExtraData(t, body)
	recs, info := Flatten(testMeta, version, ed)
	return ed, recs, info
}

func renderRecords(recs []record.Record) []byte {
	var b bytes.Buffer
	for _, r := range recs {
		fmt.Fprintf(&b, "== topic=%s type=%s key=%s\n%s\n", topicNames[r.Topic], r.Type, r.Key, r.Value)
	}
	return b.Bytes()
}

func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the output (go test -update rewrites it):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

func TestFlattenGolden(t *testing.T) {
	for _, tc := range flattenCases {
		t.Run(tc.name, func(t *testing.T) {
			_, recs, _ := flattenFixture(t, tc.name, tc.version)
			checkGolden(t, filepath.Join("testdata", "flatten", tc.name+".golden"), renderRecords(recs))
		})
	}
}

// TestFlattenRecords checks the contract of every record independently of
// the golden files: topics, types, counts, envelope fields, and data equal
// to the raw bytes.
func TestFlattenRecords(t *testing.T) {
	for _, tc := range flattenCases {
		t.Run(tc.name, func(t *testing.T) {
			ed, recs, info := flattenFixture(t, tc.name, tc.version)
			wantN := 1 + len(ed.Alerts.Data) + len(ed.NetworkArtifacts.Data) + len(ed.FileArtifacts.Data)
			if len(recs) != wantN {
				t.Fatalf("%d records, want %d", len(recs), wantN)
			}
			version := max(tc.version, ed.Incident.ModificationTime)
			var raws []json.RawMessage
			raws = append(raws, ed.Incident.Raw)
			for _, a := range ed.Alerts.Data {
				raws = append(raws, a.Raw)
			}
			for _, a := range ed.NetworkArtifacts.Data {
				raws = append(raws, a.Raw)
			}
			for _, a := range ed.FileArtifacts.Data {
				raws = append(raws, a.Raw)
			}
			keys := map[string]json.RawMessage{} // record key → the data that has it
			want := record.ReplyKeys(ed)
			for i, r := range recs {
				env := decodeEnvelope(t, r.Value)
				if !bytes.Equal(env.Data, raws[i]) {
					t.Errorf("record %d: data changed:\n got %s\nwant %s", i, env.Data, raws[i])
				}
				if env.IncidentID != ed.Incident.ID || env.ModificationTime != version || env.Connector != testMeta.Connector ||
					env.Tenant != testMeta.Tenant || env.SchemaVersion != record.SchemaVersion || env.RecordType != r.Type {
					t.Errorf("record %d: envelope %+v", i, env)
				}
				// One key, one object: a key repeats only for a repeated object.
				if held, ok := keys[r.Topic.String()+"\x00"+string(r.Key)]; ok && !bytes.Equal(record.Canonical(held), record.Canonical(env.Data)) {
					t.Errorf("record %d: key %s of another object", i, r.Key)
				}
				keys[r.Topic.String()+"\x00"+string(r.Key)] = env.Data
				switch {
				case i == 0:
					if r.Topic != record.TopicIncidents || r.Type != record.TypeIncidentEnriched || string(r.Key) != ed.Incident.ID {
						t.Errorf("first record: %v %s %s", r.Topic, r.Type, r.Key)
					}
					if env.Enrichment == nil || *env.Enrichment != info {
						t.Errorf("enrichment = %+v, want %+v", env.Enrichment, info)
					}
				case i <= len(ed.Alerts.Data):
					a := ed.Alerts.Data[i-1]
					if r.Topic != record.TopicAlerts || r.Type != record.TypeAlert || string(r.Key) != want.Alerts[i-1] || env.AlertID != string(r.Key) {
						t.Errorf("alert record %d: %v %s key %s alert_id %s", i, r.Topic, r.Type, r.Key, env.AlertID)
					}
					if own := record.AlertKey(ed.Incident.ID, a); string(r.Key) != own && !strings.HasPrefix(string(r.Key), own+record.CollisionSep) {
						t.Errorf("alert record %d: %v %s key %s alert_id %s", i, r.Topic, r.Type, r.Key, env.AlertID)
					}
				default:
					if r.Topic != record.TopicArtifacts || (r.Type != record.TypeNetworkArtifact && r.Type != record.TypeFileArtifact) {
						t.Errorf("artifact record %d: %v %s", i, r.Topic, r.Type)
					}
				}
			}
			if info.AlertsTruncated != (ed.Alerts.TotalCount > len(ed.Alerts.Data)) || info.AlertsReceived != len(ed.Alerts.Data) ||
				info.AlertsLimit != testMeta.AlertsLimit || info.FetchedAt != testMeta.FetchedAt {
				t.Errorf("info = %+v", info)
			}
		})
	}
}

func decodeEnvelope(t testing.TB, v []byte) record.Envelope {
	t.Helper()
	var env record.Envelope
	d := json.NewDecoder(bytes.NewReader(v))
	d.DisallowUnknownFields()
	if err := d.Decode(&env); err != nil {
		t.Fatalf("record value is not an envelope: %v\n%s", err, v)
	}
	return env
}

func TestFlattenTruncationFlagged(t *testing.T) {
	_, recs, info := flattenFixture(t, "truncated", 0)
	if !info.AlertsTruncated || info.AlertsTotalCount != 5000 || info.AlertsReceived != 2 {
		t.Fatalf("info = %+v", info)
	}
	if !bytes.Contains(recs[0].Value, []byte(`"alerts_truncated":true`)) {
		t.Fatalf("enriched record does not flag truncation: %s", recs[0].Value)
	}
	_, _, info = flattenFixture(t, "quirky", 0)
	if info.AlertsTruncated {
		t.Fatalf("complete reply flagged truncated: %+v", info)
	}
}

func TestChangeRecord(t *testing.T) {
	raw := json.RawMessage(`{"incident_id":"891",  "modification_time":5,"x":"<&>"}`)
	r := ChangeRecord(testMeta, xdr.Incident{ID: "891", ModificationTime: 5, Raw: raw})
	if r.Topic != record.TopicIncidents || r.Type != record.TypeIncidentChange || string(r.Key) != "891" {
		t.Fatalf("record %v %s %s", r.Topic, r.Type, r.Key)
	}
	env := decodeEnvelope(t, r.Value)
	want := record.Envelope{SchemaVersion: record.SchemaVersion, RecordType: record.TypeIncidentChange, Connector: "xdr-connector",
		Tenant: "acme.xdr.eu", IncidentID: "891", ModificationTime: 5, Data: raw}
	if fmt.Sprint(env) != fmt.Sprint(want) || !bytes.Equal(env.Data, raw) {
		t.Fatalf("envelope = %+v\nwant %+v", env, want)
	}
	// No tenant: the field is omitted, as encoding/json's omitempty would.
	r = ChangeRecord(Meta{Connector: "c"}, xdr.Incident{ID: "1", Raw: raw})
	if bytes.Contains(r.Value, []byte(`"tenant"`)) {
		t.Fatalf("empty tenant encoded: %s", r.Value)
	}
}

// dlqCases are the DLQ records the tests produce (also schema-checked).
func dlqCases() []struct {
	name  string
	cause error
	rec   record.Record
} {
	it := offsets.Pending{IncidentID: "42", ModificationTime: 1700000000123, Severity: "high"}
	mk := func(name string, cause error) struct {
		name  string
		cause error
		rec   record.Record
	} {
		return struct {
			name  string
			cause error
			rec   record.Record
		}{name, cause, DLQRecord(testMeta, it, cause, 6, 1700000999999)}
	}
	apiErr := &xdr.APIError{Endpoint: "get_incident_extra_data", Status: 403, Code: "403", Message: "Forbidden \"role\"\n"}
	return []struct {
		name  string
		cause error
		rec   record.Record
	}{
		mk("api", fmt.Errorf("fetching extra data for incident 42: %w", apiErr)),
		mk("plain", errors.New("fetching extra data for incident 42: connection reset")),
		mk("nil", nil),
	}
}

func TestDLQRecord(t *testing.T) {
	for _, tc := range dlqCases() {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.rec
			if r.Topic != record.TopicDLQ || r.Type != record.TypeDLQ || string(r.Key) != "42" {
				t.Fatalf("record %v %s %s", r.Topic, r.Type, r.Key)
			}
			env := decodeEnvelope(t, r.Value)
			if env.IncidentID != "42" || env.ModificationTime != 1700000000123 || env.Error == nil {
				t.Fatalf("envelope %+v", env)
			}
			var data struct {
				IncidentID       string `json:"incident_id"`
				ModificationTime int64  `json:"modification_time"`
			}
			if err := json.Unmarshal(env.Data, &data); err != nil || data.IncidentID != "42" || data.ModificationTime != 1700000000123 {
				t.Fatalf("data %s: %v", env.Data, err)
			}
			e := env.Error
			if e.Stage != DLQStage || e.Attempts != 6 || e.FailedAt != 1700000999999 {
				t.Fatalf("error block %+v", e)
			}
			switch tc.name {
			case "api":
				if e.Status != 403 || e.Code != "403" || e.Message != tc.cause.Error() {
					t.Fatalf("error block %+v", e)
				}
			case "plain":
				if e.Status != 0 || e.Code != "" || e.Message != tc.cause.Error() {
					t.Fatalf("error block %+v", e)
				}
			}
		})
	}
}

// benchExtraData builds an incident with n alerts shaped like the API
// reference's example alert (about 2.4 KB each), 20 network and 20 file
// artifacts.
func benchExtraData(n int) *xdr.ExtraData {
	alert := `{"category":"Malware","project":null,"cloud_provider":null,"resource_sub_type":null,"resource_type":null,"action_country":"UNKNOWN","event_type":"Process Execution","is_whitelisted":false,"mac":"00:50:56:9f:1c:2b","image_name":"C:\\Windows\\System32\\cmd.exe","action_local_ip":"10.0.0.5","action_local_port":"51234","action_external_hostname":null,"action_remote_ip":["203.0.113.7"],"action_remote_port":443,"matching_service_rule_id":null,"starred":false,"external_id":"EXT-%[1]d","severity":"high","matching_status":"UNMATCHABLE","end_match_attempt_ts":null,"local_insert_ts":1700000000000,"last_modified_ts":1700000500000,"case_id":891,"deduplicate_tokens":"c0ffee%[1]d","filter_rule_id":null,"event_id":"EV-%[1]d","event_timestamp":1700000000000,"action_local_ip_v6":null,"action_remote_ip_v6":null,"alert_type":"Unclassified","resolution_status":"STATUS_010_NEW","resolution_comment":null,"dynamic_fields":null,"tags":"DS:PANW/XDR","malicious_urls":null,"asm_alert_categories":null,"last_observed":null,"country_codes":null,"cloud_providers":null,"ipv4_addresses":null,"ipv6_addresses":null,"domain_names":null,"service_ids":null,"website_ids":null,"asset_ids":null,"certificate":null,"port_protocol":null,"port_number":null,"business_unit_hierarchies":null,"attack_surface_rule_name":null,"remediation_guidance":null,"attack_surface_rule_id":null,"asset_identifiers":null,"alert_id":"%[1]d","detection_timestamp":1700000000000,"name":"Behavioral Threat Detected","endpoint_id":"1c9a2f8e0b4d4f0c9d0e1f2a3b4c5d6e","description":"Suspicious process tree: cmd.exe spawned powershell.exe with an encoded command line that downloads and runs a remote payload","host_ip":"10.0.0.5,10.0.0.6","host_name":"DESKTOP-01","source":"XDR Agent","action":"DETECTED","action_pretty":"Detected (Reported)","user_name":"CORP\\alice","events_length":1,"mitre_tactic_id_and_name":"TA0002 - Execution","mitre_technique_id_and_name":"T1059.001 - Command and Scripting Interpreter: PowerShell","cloud_management_status":null}`
	ed := &xdr.ExtraData{
		Incident: xdr.Incident{ID: "891", ModificationTime: 1700000500000,
			Raw: json.RawMessage(`{"incident_id":"891","modification_time":1700000500000,"severity":"high","status":"new","alert_count":` + strconv.Itoa(n) + `}`)},
		Alerts: xdr.AlertList{TotalCount: n},
	}
	for i := range n {
		ed.Alerts.Data = append(ed.Alerts.Data, xdr.Alert{ID: strconv.Itoa(1_000_000 + i), Name: "Behavioral Threat Detected", Source: "XDR Agent",
			HostName: "DESKTOP-01", Severity: "high", Raw: json.RawMessage(fmt.Sprintf(alert, 1_000_000+i))})
	}
	for i := range 20 {
		ed.NetworkArtifacts.Data = append(ed.NetworkArtifacts.Data, xdr.NetworkArtifact{Type: "IP", RemoteIP: fmt.Sprintf("203.0.113.%d", i), RemotePort: 443,
			Raw: json.RawMessage(fmt.Sprintf(`{"type":"IP","network_domain":null,"network_remote_ip":"203.0.113.%d","network_remote_port":443,"network_country":"DE","alert_count":1,"is_manual":false}`, i))})
		ed.FileArtifacts.Data = append(ed.FileArtifacts.Data, xdr.FileArtifact{Type: "HASH", SHA256: fmt.Sprintf("%064x", i), FileName: "x.exe",
			Raw: json.RawMessage(fmt.Sprintf(`{"type":"HASH","file_sha256":"%064x","file_name":"x.exe","is_malicious":false,"alert_count":1}`, i))})
	}
	ed.NetworkArtifacts.TotalCount, ed.FileArtifacts.TotalCount = 20, 20
	return ed
}

// BenchmarkFlattenEncode flattens and encodes a 1,000-alert incident and
// reports records per second and heap allocations per record.
func BenchmarkFlattenEncode(b *testing.B) {
	ed := benchExtraData(1000)
	var records, bytesOut int
	var ms0, ms1 runtime.MemStats
	runtime.ReadMemStats(&ms0)
	for b.Loop() {
		recs, _ := Flatten(testMeta, 0, ed)
		records += len(recs)
		for _, r := range recs {
			bytesOut += len(r.Value)
		}
	}
	runtime.ReadMemStats(&ms1)
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/float64(records), "allocs/record")
	b.ReportMetric(float64(bytesOut)/float64(records), "B/record")
}

// TestFlattenWithXDRDecoder: the fixtures decoded by the xdr client's own
// decoder flatten to exactly the records the golden files hold.
func TestFlattenWithXDRDecoder(t *testing.T) {
	for _, tc := range flattenCases {
		body, err := os.ReadFile(filepath.Join("testdata", "flatten", tc.name+".input.json"))
		if err != nil {
			t.Fatal(err)
		}
		ed, err := xdr.DecodeExtraData(append(append([]byte(`{"reply":`), body...), '}'))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		got, _ := Flatten(testMeta, tc.version, ed)
		_, want, _ := flattenFixture(t, tc.name, tc.version)
		if !bytes.Equal(renderRecords(got), renderRecords(want)) {
			t.Errorf("%s: records from xdr.DecodeExtraData differ:\n%s\n--- want\n%s", tc.name, renderRecords(got), renderRecords(want))
		}
	}
}

// TestFlattenKeepsEveryObjectOfOneKey: a reply with one file under two
// names, two alerts sharing an alert_id and two network artifacts of one
// domain (the shapes of public fixtures) publishes every object under its
// own key, so a compacted topic keeps them all: the first of each keeps the
// key it had alone, the others take a content-derived suffix, the enriched
// record counts them. A re-fetch in another order, in which each first stays
// first, keys every object as before; a repeated object keeps one key.
func TestFlattenKeepsEveryObjectOfOneKey(t *testing.T) {
	ed, recs, info := flattenFixture(t, "colliding-keys", 1)
	if info.KeyCollisions != 3 {
		t.Fatalf("KeyCollisions = %d, want 3", info.KeyCollisions)
	}
	if env := decodeEnvelope(t, recs[0].Value); env.Enrichment == nil || env.Enrichment.KeyCollisions != 3 {
		t.Fatalf("enriched record does not count the collisions: %s", recs[0].Value)
	}
	byData := map[string]string{} // canonical data → key
	byKey := map[string]string{}  // topic and key → canonical data
	for _, r := range recs[1:] {
		data := string(record.Canonical(decodeEnvelope(t, r.Value).Data))
		if k, ok := byData[data]; ok && k != string(r.Key) {
			t.Errorf("one object under two keys, %s and %s", k, r.Key)
		}
		byData[data] = string(r.Key)
		tk := r.Topic.String() + " " + string(r.Key)
		if d, ok := byKey[tk]; ok && d != data {
			t.Errorf("two objects under key %s", r.Key)
		}
		byKey[tk] = data
	}
	if len(byKey) != 7 { // 3 alerts, 2 network artifacts, 2 distinct file artifacts
		t.Errorf("%d keys for 7 distinct objects: %v", len(byKey), byKey)
	}
	id := ed.Incident.ID
	for _, want := range []string{record.AlertKey(id, ed.Alerts.Data[0]), record.NetworkArtifactKey(id, ed.NetworkArtifacts.Data[0]),
		record.FileArtifactKey(id, ed.FileArtifacts.Data[0])} {
		if string(recs[keyIndex(recs, want)].Key) != want {
			t.Errorf("the first object of own key %s lost it", want)
		}
	}

	// The same reply again, the lists reordered (each first still first)
	// and the objects' members re-spaced: every object keeps its key.
	again := *ed
	again.Alerts.Data = []xdr.Alert{ed.Alerts.Data[0], ed.Alerts.Data[2], ed.Alerts.Data[1]}
	again.FileArtifacts.Data = []xdr.FileArtifact{ed.FileArtifacts.Data[2], ed.FileArtifacts.Data[1], ed.FileArtifacts.Data[0]}
	spaced := ed.NetworkArtifacts.Data[1]
	spaced.Raw = json.RawMessage(strings.ReplaceAll(string(spaced.Raw), `,"`, `, "`))
	again.NetworkArtifacts.Data = []xdr.NetworkArtifact{ed.NetworkArtifacts.Data[0], spaced}
	recs2, _ := Flatten(testMeta, 1, &again)
	for _, r := range recs2[1:] {
		data := string(record.Canonical(decodeEnvelope(t, r.Value).Data))
		if byData[data] != string(r.Key) {
			t.Errorf("re-fetched object keyed %s, before %s", r.Key, byData[data])
		}
	}
}

func keyIndex(recs []record.Record, key string) int {
	for i, r := range recs {
		if string(r.Key) == key {
			return i
		}
	}
	return 0
}
