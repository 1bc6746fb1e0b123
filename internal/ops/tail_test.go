package ops

import (
	"encoding/json"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/soc-tools/xdr-kafka-connector/pkg/profile"
	"github.com/soc-tools/xdr-kafka-connector/pkg/record"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
)

// TestRecordIncidentReadsScalarsOnce: --incident matches an incident id the
// way the connector reads it (xdr.Text), whether a record carries it as a
// string, an integer or an integral float.
func TestRecordIncidentReadsScalarsOnce(t *testing.T) {
	for _, tc := range []struct{ key, value, want string }{
		{"891", `{"incident_id":"891"}`, "891"},
		{"893", `{"incident_id":893}`, "893"},
		{"893", `{"incident_id":893.0}`, "893"},
		{"894", `{"incident_id":" 894 "}`, "894"},
		{`{"kind":"pending","incident_id":895}`, "", "895"},
		{"896", `{"incident_id":null}`, ""},
		{"897", `{"n":1}`, ""},
	} {
		r := &kgo.Record{Key: []byte(tc.key)}
		if tc.value != "" {
			r.Value = []byte(tc.value)
		}
		if got := recordIncident(r); got != tc.want {
			t.Errorf("recordIncident(key %s, value %s) = %q, want %q", tc.key, tc.value, got, tc.want)
		}
	}
}

// TestTailIncidentMatchesTheProfilesRecords: --incident finds the records of
// an incident in the OCSF and ECS topics too, by the field each profile
// carries the incident id in, for the incident's and its alerts' records.
func TestTailIncidentMatchesTheProfilesRecords(t *testing.T) {
	set, err := profile.Parse("ocsf,ecs")
	if err != nil {
		t.Fatal(err)
	}
	inc := xdr.Incident{ID: "891", ModificationTime: 1700000500000,
		Raw: json.RawMessage(`{"incident_id":"891","modification_time":1700000500000,"status":"new","severity":"high"}`)}
	recs := set.Change(record.Meta{Connector: "xdr-connector", Tenant: "simulated"}, inc, record.Record{})
	topics := map[record.Topic]bool{}
	for _, r := range recs {
		topics[r.Topic] = true
		kr := &kgo.Record{Key: r.Key, Value: r.Value}
		if got := recordIncident(kr); got != "891" {
			t.Errorf("%s record: incident %q, want 891\n%s", r.Topic, got, r.Value)
		}
		if tf := (Tail{Incidents: []string{"892"}}); tf.match(kr) {
			t.Errorf("%s record of 891 matches --incident 892", r.Topic)
		}
	}
	if !topics[record.TopicOCSFIncidents] || !topics[record.TopicECSIncidents] {
		t.Fatalf("records of topics %v, want an OCSF and an ECS one", topics)
	}
	// Alerts: the goldens' records, as the profiles write them.
	for _, v := range []string{
		`{"class_uid":2004,"metadata":{"uid":"4711","correlation_uid":"891"}}`,
		`{"event":{"kind":"alert"},"panw_cortex":{"xdr":{"alert_id":"4711","incident_id":"891"}}}`,
	} {
		if got := recordIncident(&kgo.Record{Key: []byte("4711"), Value: []byte(v)}); got != "891" {
			t.Errorf("alert %s: incident %q, want 891", v, got)
		}
	}
}
